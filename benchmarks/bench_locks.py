"""What does ``lock`` cost, and what does a failover lose?

Starts real PostgreSQL, Redis and ZEO servers (as the tests do, from
tests/lockservices.py) on loopback ports, then per engine:

1. claim latency: one process claims N fresh ticks (each a win), a second
   process claims the same ticks (each a loss); p50/p99/max in ms;
2. failover: three ``bin/<part> run`` processes share the lock, one job at
   period 1 s against a local HTTP server for a window; one is SIGKILLed in
   the middle.  Calls are put to the whole second they arrived in; a tick
   with no call is lost, a tick with two is doubled.

Usage: python benchmarks/bench_locks.py [--claims 500] [--seconds 20]
       [--engines postgresql,redis,zeo]
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import lockservices  # noqa: E402
from collective.recipe.clockserver.runner.locks import open_lock  # noqa: E402

RUNNER = (
    "import sys; from collective.recipe.clockserver.runner import main; "
    "sys.exit(main(sys.argv[1], sys.argv[2:]))"
)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.arrivals.append(time.time())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency(url, user, password, claims):
    namespace = f"bench-{os.getpid()}-{time.monotonic_ns()}"
    first = open_lock(url, user, password, namespace, "web1")
    second = open_lock(url, user, password, namespace, "web2")
    first.claim("warm-up", 0, 60)
    second.claim("warm-up", 0, 60)
    won, lost = [], []
    for tick in range(1, claims + 1):
        started = time.perf_counter()
        assert first.claim("job", tick, 60)[0]
        won.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        assert not second.claim("job", tick, 60)[0]
        lost.append((time.perf_counter() - started) * 1000)
    first.close()
    second.close()
    return won, lost


def failover(url, user, password, seconds, directory):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.arrivals = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    namespace = f"failover-{os.getpid()}-{time.monotonic_ns()}"
    processes = []
    for host in ("a", "b", "c"):
        config = os.path.join(directory, f"{host}.json")
        with open(config, "w") as f:
            json.dump(
                {
                    "part": "clock",
                    "address": "http://127.0.0.1:%d" % server.server_address[1],
                    "timeout": 5,
                    "jobs": [{"name": "job", "method": "/job", "period": 1}],
                    "lock": {
                        "url": url,
                        "user": user,
                        "password": password,
                        "namespace": namespace,
                    },
                },
                f,
            )
        os.chmod(config, 0o600)
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", RUNNER, config, "run"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    time.sleep(4)  # connections made, first claims done
    start = int(time.time()) + 1
    time.sleep(seconds / 2)
    processes[0].send_signal(signal.SIGKILL)
    time.sleep(seconds / 2)
    end = int(time.time()) - 1
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(20)
    server.shutdown()
    server.server_close()
    counts = {}
    for arrival in server.arrivals:
        counts[int(arrival)] = counts.get(int(arrival), 0) + 1
    ticks = range(start, end)
    lost = sum(1 for tick in ticks if counts.get(tick, 0) == 0)
    doubled = sum(1 for tick in ticks if counts.get(tick, 0) > 1)
    return len(ticks), lost, doubled


def fire_startup(url, user, password, directory, runs=7):
    """Median wall time of a cron-started ``fire --scheduled`` (process
    start, client import, connect, one claim, the call or the skip)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.arrivals = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lock = url and {
        "url": url,
        "user": user,
        "password": password,
        "namespace": f"fire-{os.getpid()}-{time.monotonic_ns()}",
    }
    times = []
    for run in range(runs):
        config = os.path.join(directory, f"fire-{run}.json")
        with open(config, "w") as f:
            json.dump(
                {
                    "part": "clock",
                    "address": "http://127.0.0.1:%d" % server.server_address[1],
                    "timeout": 5,
                    "jobs": [{"name": "job", "method": "/job", "period": 3600}],
                    "state-directory": os.path.join(directory, f"state-{run}"),
                    "lock": lock,
                },
                f,
            )
        os.chmod(config, 0o600)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", RUNNER, config, "fire", "--scheduled", "job"],
            check=True,
        )
        times.append((time.perf_counter() - started) * 1000)
    server.shutdown()
    server.server_close()
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--engines", default="postgresql,redis,zeo")
    args = parser.parse_args()
    engines = args.engines.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for engine in engines:
            if engine == "postgresql":
                service = lockservices.Postgres()
                url, user, password = service.url(), "clock", service.CLOCK_PASSWORD
            elif engine == "redis":
                service = lockservices.Redis(tempfile.mkdtemp(dir=directory))
                url, user, password = service.url(), None, service.PASSWORD
            else:
                service = lockservices.Zeo(tempfile.mkdtemp(dir=directory))
                url, user, password = service.url(), None, None
            try:
                won, lost = latency(url, user, password, args.claims)
                ticks, missed, doubled = failover(
                    url, user, password, args.seconds, tempfile.mkdtemp(dir=directory)
                )
                fire_ms = fire_startup(
                    url, user, password, tempfile.mkdtemp(dir=directory)
                )
            finally:
                service.close()
            rows.append((engine, won, lost, ticks, missed, doubled, fire_ms))
        no_lock_ms = fire_startup(None, None, None, tempfile.mkdtemp(dir=directory))
    print(
        f"claims per engine: {args.claims} won + {args.claims} lost, one "
        f"process each, sequential; failover: 3 run processes, 1 s job, "
        f"{args.seconds} s, one SIGKILLed half-way"
    )
    print(
        f"{'engine':<11} {'won p50':>8} {'won p99':>8} {'lost p50':>9} "
        f"{'lost p99':>9} {'max':>7}   {'ticks':>5} {'lost':>4} {'doubled':>7}"
        f"   {'fire --scheduled':>16}"
    )
    for engine, won, lost, ticks, missed, doubled, fire_ms in rows:
        print(
            f"{engine:<11} {statistics.median(won):>6.2f}ms {percentile(won, 0.99):>6.2f}ms "
            f"{statistics.median(lost):>7.2f}ms {percentile(lost, 0.99):>7.2f}ms "
            f"{max(won + lost):>5.1f}ms   {ticks:>5} {missed:>4} {doubled:>7}"
            f"   {fire_ms:>14.0f}ms"
        )
    print(f"fire --scheduled without lock: {no_lock_ms:.0f} ms (median of 7 processes)")


if __name__ == "__main__":
    main()
