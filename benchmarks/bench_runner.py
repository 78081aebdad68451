"""How punctual and how cheap is ``bin/<part> run``?  (Linux: reads /proc.)

Runs the runner as a real process against a local HTTP server:

1. N jobs at period 1 s for a window: tick lateness per request (arrival
   at the server minus the whole second it was due) p50/p99/max, CPU of
   the runner process as % of one core, peak RSS;
2. N jobs at period 3600 s (nothing due): idle CPU and peak RSS.

Usage: python benchmarks/bench_runner.py [--jobs 100] [--seconds 20]
"""

import argparse
import json
import math
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


class Server(threading.Thread):
    """A minimal HTTP/1.0 server on one thread (selectors, no http.server).

    It must stay cheap: with http.server's thread per request and header
    parsing, 100 simultaneous requests queue behind the GIL of this process
    and its own delay would be counted as the runner's lateness.  It records
    the time the first bytes of each request arrive.
    """

    ANSWER = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"

    def __init__(self):
        super().__init__(daemon=True)
        self.arrivals = []
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.listener.setblocking(False)
        self.address = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)

    def run(self):
        pending = {}  # connection -> bytes received so far
        while True:
            for key, _ in self.selector.select():
                if key.fileobj is self.listener:
                    try:
                        conn, _ = self.listener.accept()
                    except BlockingIOError:
                        continue
                    conn.setblocking(False)
                    pending[conn] = b""
                    self.selector.register(conn, selectors.EVENT_READ)
                    continue
                conn = key.fileobj
                data = conn.recv(65536)
                if data and not pending[conn]:
                    self.arrivals.append(time.time())
                pending[conn] += data
                if not data or b"\r\n\r\n" in pending[conn]:
                    if data:
                        conn.sendall(self.ANSWER)
                    self.selector.unregister(conn)
                    del pending[conn]
                    conn.close()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK  # utime + stime


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(address, jobs, period, seconds, workdir):
    """Run the clock; return a dict of figures for the measuring window."""
    part = os.path.join(workdir, f"p{period}")
    os.makedirs(part, exist_ok=True)
    config = os.path.join(part, "clock.json")
    with open(config, "w") as f:
        json.dump({"part": "bench", "address": address, "timeout": 30, "jobs": [
            {"name": f"job{i}", "method": f"/job/{i}", "period": period,
             "host": None, "user": None, "password": None} for i in range(jobs)]}, f)
    os.chmod(config, 0o600)
    log = open(os.path.join(part, "clock.log"), "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "collective.recipe.clockserver.runner", config, "run"],
        stdout=subprocess.DEVNULL, stderr=log)
    try:
        time.sleep(2.5)  # start-up and the first ticks are not measured
        window_start, cpu_start = time.time(), cpu_seconds(proc.pid)
        time.sleep(seconds)
        window_end, cpu_end = time.time(), cpu_seconds(proc.pid)
        rss = peak_rss_mb(proc.pid)
        stop_started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=10)
        stop_took = time.monotonic() - stop_started
    finally:
        proc.kill()
        log.close()
    return {"window": (window_start, window_end), "cpu": cpu_end - cpu_start,
            "seconds": window_end - window_start, "rss": rss,
            "status": status, "stop": stop_took}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()

    server = Server()
    server.start()
    address = server.address

    with tempfile.TemporaryDirectory() as workdir:
        busy = measure(address, args.jobs, 1, args.seconds, workdir)
        start, end = busy["window"]
        seconds = range(math.ceil(start), math.floor(end))  # ticks due in the window
        late = [(t - math.floor(t)) * 1000 for t in server.arrivals
                if math.floor(t) in seconds]
        first = {}  # due second -> lateness of its first request (wake-up precision)
        for t in server.arrivals:
            if math.floor(t) in seconds:
                first[math.floor(t)] = min(first.get(math.floor(t), 1e9),
                                           (t - math.floor(t)) * 1000)
        expected = args.jobs * len(seconds)
        del server.arrivals[:]
        idle = measure(address, args.jobs, 3600, min(args.seconds, 10), workdir)
        idle_calls = len(server.arrivals)

    print(f"bin/<part> run: {args.jobs} jobs, {busy['seconds']:.0f} s window, "
          f"python {sys.version.split()[0]}")
    print(f"  calls received       {len(late)} of {expected} due")
    print(f"  lateness p50         {percentile(late, 0.50):7.1f} ms")
    print(f"  lateness p99         {percentile(late, 0.99):7.1f} ms")
    print(f"  lateness max         {max(late):7.1f} ms")
    print(f"  first call of each tick: p50 {percentile(first.values(), 0.5):.1f} ms, "
          f"max {max(first.values()):.1f} ms (the wake-up; the rest is the fan-out)")
    print()
    print(f"  {'variant':<24}{'CPU % of a core':>16}{'peak RSS MB':>13}"
          f"{'SIGTERM exit':>14}")
    for label, figures in (("period 1 s (busy)", busy),
                           ("period 3600 s (idle)", idle)):
        cpu = 100 * figures["cpu"] / figures["seconds"]
        print(f"  {label:<24}{cpu:>16.2f}{figures['rss']:>13.1f}"
              f"{figures['stop'] * 1000:>10.0f} ms (status {figures['status']})")
    if idle_calls:
        print(f"  (idle variant received {idle_calls} calls: unexpected)")


if __name__ == "__main__":
    main()
