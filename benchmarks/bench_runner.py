"""How punctual, how cheap and how polite is ``bin/<part> run``, next to
APScheduler and cron?  One run prints every table (Linux: reads /proc).

Set-up (once; APScheduler only goes into the development venv, it is no
dependency of the package)::

    tools/venv tests/requirements.txt benchmarks/requirements.txt
    .venv/bin/python benchmarks/bench_runner.py            # about 9 minutes

The run records' own benchmark (issue 16: runner at concurrency 4 and 10
against APScheduler 3.11 pools of 4 and 10, records lost under 40
cron-style exec, fire start-up) is benchmarks/bench_records.py; it
reuses the pieces below.

Everything runs on this machine, in one run, one row after the other:

1. Punctuality: 100 jobs every second for a window (20 s), against
   (a) a local ``http.server`` with Python's default listen backlog (5),
   answering in about a millisecond, and (b) a real WSGI Zope built by
   plone.recipe.zope2instance (its default 2 threads; the job calls
   Zope's root page).  Lateness is when the call reaches the server
   (http.server's handler; for Zope a WSGI filter in front of the
   publisher, benchmarks/bench_stamp.py) minus the second it was due.
   Rows: bin/<part> run at concurrency 4 and unbounded (concurrency =
   number of jobs), APScheduler 3 (BackgroundScheduler, interval jobs
   doing the same http.client GET, a thread pool of 4 and of 100), and
   cron's way: one ``bin/<part> fire`` per call, each started through
   /bin/sh as cron does.  cron cannot fire every second: its row is two
   bursts of 100 calls due together (what cron does at a minute's turn);
   it shows the cost per call.
2. Site impact: the Zope with its default threads, one visitor
   requesting the root page in a loop; visitor latency without a clock,
   then while bursts of 20 jobs fall due in the same second every 10 s
   (each job holds a Zope thread for 20 ms of CPU and 80 ms of waiting),
   at the default concurrency (4) and unbounded.
3. Idle: 100 hourly jobs for 60 s: CPU and RSS (runner and APScheduler).
4. ``fire`` start-up with a plain config: wall and CPU time per call
   against ``python -c pass`` and ``curl`` doing the same GET.

Options: --seconds (punctuality window), --idle-seconds, --quick (short
windows, for trying the script out).  Child modes (--child-...) are the
script calling itself.
"""

import argparse
import functools
import json
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

print = functools.partial(print, flush=True)  # noqa: A001 - progress shows in a log
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
PYTHON = sys.executable


# -- measuring processes ----------------------------------------------------------


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
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def stop(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sleep_until(moment):
    while True:
        left = moment - time.time()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


# -- child: a local http.server with the default backlog ------------------------------


def child_http_server(stamp_file, port_file):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    fd = os.open(stamp_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            os.write(fd, f"{time.time():.6f} {self.path}\n".encode())
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):  # request_queue_size: the default 5
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass

    server = Server(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    signal.signal(
        signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start()
    )
    server.serve_forever()


# -- child: APScheduler 3 doing the runner's work ---------------------------------------


def child_apscheduler(config_path, workers):
    import http.client
    import logging
    from datetime import datetime, timezone

    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    logging.basicConfig(level=logging.ERROR)  # its misfire warnings are not measured
    with open(config_path) as f:
        config = json.load(f)
    host, port = config["address"].split("://")[1].rsplit(":", 1)

    def get(path):
        conn = http.client.HTTPConnection(host, int(port), timeout=config["timeout"])
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
        except OSError:
            pass
        finally:
            conn.close()

    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(int(workers))}
    )
    start = datetime.fromtimestamp(math.ceil(time.time()) + 1, timezone.utc)
    for job in config["jobs"]:
        scheduler.add_job(
            get,
            "interval",
            seconds=job["period"],
            start_date=start,
            args=(job["method"],),
            id=job["name"],
        )
    scheduler.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    done.wait()
    scheduler.shutdown(wait=False)


# -- child: cron's way, one bin/<part> fire per call ---------------------------------


def child_cron(script, names, dues):
    """At each due time start ``script fire NAME`` for every name through
    /bin/sh (as cron does); print the children's CPU and peak RSS."""
    names = names.split(",")
    for due in [float(d) for d in dues.split(",")]:
        sleep_until(due)
        procs = [
            subprocess.Popen(
                ["/bin/sh", "-c", f"{script} fire {name}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name in names
        ]
        for proc in procs:
            proc.wait()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {"cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss / 1024}
        )
    )


# -- the pieces of the set-up ------------------------------------------------------------


class Stamps:
    """A file of ``<time> <path>`` lines that a server appends to."""

    def __init__(self, path):
        self.path = path
        open(path, "w").close()

    def read(self, prefix, start, end):
        found = []
        with open(self.path) as f:
            for line in f:
                stamp, _, path = line.rstrip("\n").partition(" ")
                if path.startswith(prefix) and start <= float(stamp) < end:
                    found.append((float(stamp), path))
        return found


class HttpServer:
    @staticmethod
    def prefix(tag):
        return f"/{tag}/"

    def __init__(self, workdir):
        self.stamps = Stamps(os.path.join(workdir, "http-stamps"))
        port_file = os.path.join(workdir, "http-port")
        self.proc = subprocess.Popen(
            [PYTHON, __file__, "--child-http-server", self.stamps.path, port_file]
        )
        self.pid = self.proc.pid
        while not os.path.exists(port_file):
            time.sleep(0.05)
        with open(port_file) as f:
            self.address = "http://127.0.0.1:" + f.read()

    def stop(self):
        stop(self.proc)


class Zope:
    """The benchmark's Zope: built by buildout with a runner part (bin/bench)."""

    @staticmethod
    def prefix(tag):  # the root page; the query tells the calls apart
        return f"/?job={tag}-"

    def __init__(self, workdir):
        sys.path.insert(0, os.path.join(TOP, "tests"))
        import zopeinstance

        self.zi = zopeinstance
        self.dir = os.path.join(workdir, "zope")
        zopeinstance.build_zope_buildout(
            self.dir,
            """
[bench]
recipe = collective.recipe.clockserver
backend = runner
address = ${instance:http-address}
jobs = / 1h
""",
        )
        wsgi_ini = os.path.join(self.dir, "parts", "instance", "etc", "wsgi.ini")
        with open(wsgi_ini) as f:
            text = f.read()
        # The stamp filter first: it runs when a worker thread takes the request.
        text = text.replace(
            "[pipeline:main]\npipeline =\n",
            "[filter:stamp]\nuse = call:bench_stamp:filter\n\n"
            "[pipeline:main]\npipeline =\n    stamp\n",
        )
        with open(wsgi_ini, "w") as f:
            f.write(text)
        self.threads = next(
            (
                line.split("=")[1].strip()
                for line in text.splitlines()
                if line.startswith("threads")
            ),
            "?",
        )
        self.stamps = Stamps(os.path.join(workdir, "zope-stamps"))
        env = dict(
            os.environ,
            BENCH_STAMP_FILE=self.stamps.path,
            PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""),
        )
        self.instance = zopeinstance.start_instance(self.dir, env=env, timeout=120)
        self.address = self.instance.url
        self.pid = self.instance.pid
        self.script = os.path.join(self.dir, "bin", "bench")
        self.config = os.path.join(self.dir, "parts", "bench", "clock.json")
        with open(self.config) as f:  # runs are recorded as in a real install
            BASE.update(json.load(f))

    def stop(self):
        self.zi.stop_instance(self.instance)


BASE = {}  # the recipe's own clock.json (state directory...): kept in every config


def write_runner_config(path, address, jobs, concurrency, timeout=30):
    with open(path, "w") as f:
        json.dump(
            dict(
                BASE,
                part="bench",
                address=address,
                timeout=timeout,
                concurrency=concurrency,
                jobs=[dict(job, host=None, user=None, password=None) for job in jobs],
            ),
            f,
        )
    os.chmod(path, 0o600)


# -- 1. punctuality -----------------------------------------------------------------------


def scheduler_row(label, command, target, prefix, jobs, seconds):
    """Run a scheduler process for a window; figures from the server's stamps."""
    stamps = target.stamps
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3.2)  # start-up and the first ticks are not measured
        start, cpu_start = time.time(), cpu_seconds(proc.pid)
        server_start = cpu_seconds(target.pid)
        time.sleep(seconds)
        end, cpu_end = time.time(), cpu_seconds(proc.pid)
        server_cpu = cpu_seconds(target.pid) - server_start
        rss = peak_rss_mb(proc.pid)
    finally:
        stop(proc)
    time.sleep(1.5)  # calls in flight land (counted only when due in the window)
    due_seconds = range(math.ceil(start), math.floor(end))
    arrivals = stamps.read(prefix, start - 1, end + 30)
    late, delivered = [], set()
    for stamp, path in arrivals:
        second = math.floor(stamp)
        if second in due_seconds:
            late.append((stamp - second) * 1000)
            delivered.add((second, path))
    return {
        "label": label,
        "late": late,
        "delivered": len(delivered),
        "expected": jobs * len(due_seconds),
        "cpu": cpu_end - cpu_start,
        "seconds": end - start,
        "rss": rss,
        "server_cpu": server_cpu,
    }


def merge(rows):
    """One row from the rounds of one scheduler: pooled calls, summed time."""
    first = rows[0]
    cpu = sum(row["cpu"] for row in rows)
    delivered = sum(row["delivered"] for row in rows)
    return {
        "label": first["label"],
        "late": [ms for row in rows for ms in row["late"]],
        "delivered": delivered,
        "expected": sum(row["expected"] for row in rows),
        "cpu_pct": 100 * cpu / sum(row["seconds"] for row in rows),
        "cpu_ms_per_call": 1000 * cpu / max(1, delivered),
        "rss": max(row["rss"] for row in rows),
        "server_ms_per_call": 1000
        * sum(row["server_cpu"] for row in rows)
        / max(1, delivered),
    }


def cron_row(script, config, address, stamps, prefix, jobs, bursts=2, gap=10):
    write_runner_config(
        config,
        address,
        [
            {"name": f"job{i}", "method": f"{prefix}{i}", "period": 60}
            for i in range(jobs)
        ],
        4,
    )
    first = math.ceil(time.time()) + 2
    dues = [first + gap * n for n in range(bursts)]
    result = subprocess.run(
        [
            PYTHON,
            __file__,
            "--child-cron",
            script,
            ",".join(f"job{i}" for i in range(jobs)),
            ",".join(map(str, dues)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout)
    time.sleep(1)
    # Each burst calls every path once: the k-th call of a path is burst k's,
    # however late it came.
    late, delivered, seen = [], set(), {}
    for stamp, path in sorted(stamps.read(prefix, first - 1, dues[-1] + 600)):
        burst = seen.get(path, 0)
        seen[path] = burst + 1
        if burst < bursts:
            late.append((stamp - dues[burst]) * 1000)
            delivered.add((burst, path))
    window = gap * bursts
    return {
        "label": "cron: bin/<part> fire per call",
        "late": late,
        "delivered": len(delivered),
        "expected": jobs * bursts,
        "cpu_pct": 100 * figures["cpu"] / window,
        "cpu_ms_per_call": 1000 * figures["cpu"] / (jobs * bursts),
        "rss": figures["rss"],
        "note": f"{bursts} bursts of {jobs} calls, CPU % over {window} s",
    }


def punctuality(target, name, script, config, workdir, jobs, seconds, rounds=2):
    """Each scheduler for ``rounds`` windows of ``seconds``, interleaved
    (A B C D, then D C B A) so that load from elsewhere falls on all."""

    def runner_row(concurrency, label, round_):
        def measure():
            prefix = target.prefix(f"p-{name}-run{concurrency}-{round_}")
            write_runner_config(
                config,
                target.address,
                [
                    {"name": f"job{i}", "method": f"{prefix}{i}", "period": 1}
                    for i in range(jobs)
                ],
                concurrency,
            )
            return scheduler_row(label, [script, "run"], target, prefix, jobs, seconds)

        return measure

    def aps_row(workers, round_):
        def measure():
            prefix = target.prefix(f"p-{name}-aps{workers}-{round_}")
            aps_config = os.path.join(workdir, f"aps-{name}-{workers}.json")
            write_runner_config(
                aps_config,
                target.address,
                [
                    {"name": f"job{i}", "method": f"{prefix}{i}", "period": 1}
                    for i in range(jobs)
                ],
                workers,
            )
            return scheduler_row(
                f"APScheduler 3, {workers} threads",
                [PYTHON, __file__, "--child-apscheduler", aps_config, str(workers)],
                target,
                prefix,
                jobs,
                seconds,
            )

        return measure

    results = {}
    for round_ in range(rounds):
        order = [
            ("run4", runner_row(4, "bin/<part> run, concurrency 4", round_)),
            ("aps4", aps_row(4, round_)),
            (
                "run-all",
                runner_row(jobs, f"bin/<part> run, unbounded ({jobs})", round_),
            ),
            ("aps-all", aps_row(jobs, round_)),
        ]
        if round_ % 2:
            order.reverse()
        for key, measure in order:
            results.setdefault(key, []).append(measure())
    rows = [merge(results[key]) for key in ("run4", "run-all", "aps4", "aps-all")]
    rows.append(
        cron_row(
            script,
            config,
            target.address,
            target.stamps,
            target.prefix(f"p-{name}-cron"),
            jobs,
        )
    )
    return rows


def print_punctuality(title, rows):
    print(title)
    header = (
        f"  {'scheduler':<34}{'delivered':>12}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}{'CPU %':>8}{'CPU ms/call':>13}{'RSS MB':>8}"
        f"{'server ms/call':>16}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for row in rows:
        print(
            f"  {row['label']:<34}{row['delivered']:>6}/{row['expected']:<5}"
            f"{percentile(row['late'], 0.5):>9.1f}{percentile(row['late'], 0.99):>9.1f}"
            f"{max(row['late'], default=float('nan')):>9.1f}{row['cpu_pct']:>8.1f}"
            f"{row['cpu_ms_per_call']:>13.2f}{row['rss']:>8.1f}"
            + (
                f"{row['server_ms_per_call']:>16.2f}"
                if "server_ms_per_call" in row
                else f"{'-':>16}"
            )
        )
    for row in rows:
        if row.get("note"):
            print(f"  ({row['label']}: {row['note']})")
    print()


# -- 2. site impact ---------------------------------------------------------------------------


def visitor_loop(zope, until, latencies):
    import http.client

    host, port = zope.address.split("://")[1].rsplit(":", 1)
    while time.time() < until:
        started = time.time()
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
        except OSError:
            continue
        finally:
            conn.close()
        latencies.append((started, (time.time() - started) * 1000))


def read_log_times(path, names):
    """Time each call ended, from the runner's log (asctime has milliseconds)."""
    ends = []
    with open(path) as f:
        for line in f:
            parts = line.split(" ", 4)
            if (
                len(parts) == 5
                and parts[4].split(":")[0] in names
                and line.rstrip().endswith(" s)")
            ):
                stamp = time.mktime(
                    time.strptime(parts[0] + " " + parts[1][:8], "%Y-%m-%d %H:%M:%S")
                )
                ends.append(stamp + int(parts[1][9:12]) / 1000)
    return ends


def site_impact(zope, workdir, seconds, jobs=20, period=10):
    rows = []
    latencies = []
    visitor_loop(zope, time.time() + 3, [])  # warm Zope up
    visitor_loop(zope, time.time() + seconds, latencies)
    rows.append(
        {
            "label": "no clock",
            "all": [ms for _, ms in latencies],
            "burst": [],
            "finish": [],
        }
    )
    for concurrency, label in (
        (4, "bin/<part> run, concurrency 4"),
        (jobs, f"bin/<part> run, unbounded ({jobs})"),
    ):
        prefix = f"/__bench_job__/site-{concurrency}/"
        write_runner_config(
            zope.config,
            zope.address,
            [
                {
                    "name": f"job{i}",
                    "method": f"{prefix}{i}?cpu=20&sleep=80",
                    "period": period,
                }
                for i in range(jobs)
            ],
            concurrency,
        )
        log_path = os.path.join(workdir, f"site-{concurrency}.log")
        # Start between two bursts; visit for whole periods.
        sleep_until(math.floor(time.time() / period) * period + period + 2)
        proc = subprocess.Popen(
            [zope.script, "run", "--log-file", log_path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            start = time.time()
            latencies = []
            visitor_loop(zope, start + seconds, latencies)
        finally:
            stop(proc)
        dues = range(
            math.ceil(start / period) * period, int(start + seconds) - 2, period
        )
        ends = read_log_times(log_path, {f"job{i}" for i in range(jobs)})
        finish = [
            max((e for e in ends if due <= e < due + period), default=float("nan"))
            - due
            for due in dues
        ]
        in_burst = [
            ms
            for began, ms in latencies
            if any(due <= began < due + f for due, f in zip(dues, finish, strict=True))
        ]
        arrivals = zope.stamps.read(prefix, start, start + seconds + 30)
        rows.append(
            {
                "label": label,
                "all": [ms for _, ms in latencies],
                "burst": in_burst,
                "finish": finish,
                "calls": len(arrivals),
                "bursts": len(dues),
            }
        )
    return rows


def print_site(rows, zope, jobs=20, period=10):
    print(
        f"2. Site impact: a real Zope ({zope.threads} threads), one visitor requesting "
        f"its root page in a loop; bursts of {jobs} jobs due together every {period} s, "
        "each holding a Zope thread 20 ms CPU + 80 ms waiting"
    )
    header = (
        f"  {'clock':<34}{'visits':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'in bursts: n':>14}{'p50 ms':>9}{'p99 ms':>9}{'burst done in s':>17}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for row in rows:
        burst = row["burst"]
        finish = ", ".join(f"{f:.1f}" for f in row["finish"]) or "-"
        print(
            f"  {row['label']:<34}{len(row['all']):>8}{percentile(row['all'], 0.5):>9.1f}"
            f"{percentile(row['all'], 0.99):>9.1f}{len(burst):>14}"
            f"{percentile(burst, 0.5):>9.1f}{percentile(burst, 0.99):>9.1f}"
            f"{finish:>17}"
        )
    print()


# -- 3. idle ------------------------------------------------------------------------------------


def idle(script, config, address, workdir, seconds, jobs=100):
    write_runner_config(
        config,
        address,
        [
            {"name": f"job{i}", "method": f"/idle/{i}", "period": 3600}
            for i in range(jobs)
        ],
        4,
    )
    aps_config = os.path.join(workdir, "aps-idle.json")
    write_runner_config(
        aps_config,
        address,
        [
            {"name": f"job{i}", "method": f"/idle/{i}", "period": 3600}
            for i in range(jobs)
        ],
        4,
    )
    procs = {
        "bin/<part> run": subprocess.Popen([script, "run"], stderr=subprocess.DEVNULL),
        "APScheduler 3, 4 threads": subprocess.Popen(
            [PYTHON, __file__, "--child-apscheduler", aps_config, "4"],
            stderr=subprocess.DEVNULL,
        ),
    }
    rows = []
    try:
        time.sleep(3)
        start = {label: cpu_seconds(p.pid) for label, p in procs.items()}
        began = time.time()
        time.sleep(seconds)
        took = time.time() - began
        for label, proc in procs.items():
            rows.append(
                (
                    label,
                    100 * (cpu_seconds(proc.pid) - start[label]) / took,
                    peak_rss_mb(proc.pid),
                )
            )
    finally:
        for proc in procs.values():
            stop(proc)
    print(f"3. Idle: {jobs} hourly jobs, {seconds:.0f} s")
    print(f"  {'scheduler':<34}{'CPU % of a core':>17}{'peak RSS MB':>13}")
    print("  " + "-" * 62)
    for label, cpu, rss in rows:
        print(f"  {label:<34}{cpu:>17.3f}{rss:>13.1f}")
    print()


# -- 4. fire start-up ------------------------------------------------------------------------


def timed(command, runs=40):
    walls, cpus = [], []
    for _ in range(runs):
        began = time.perf_counter()
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        walls.append((time.perf_counter() - began) * 1000)
        cpus.append((usage.ru_utime + usage.ru_stime) * 1000)
        assert proc.returncode == 0, (command, proc.returncode)
    return statistics.median(walls), statistics.median(cpus)


def startup(script, config, server):
    write_runner_config(
        config, server.address, [{"name": "job", "method": "/startup", "period": 60}], 4
    )
    rows = [
        ("python -c pass", [PYTHON, "-c", "pass"]),
        (
            "curl (the same GET)",
            ["curl", "-sf", "-o", "/dev/null", server.address + "/startup"],
        ),
        ("bin/<part> fire (the GET)", [script, "fire", "job"]),
    ]
    rows = [
        (label, *timed(command)) for label, command in rows if shutil.which(command[0])
    ]
    base_wall = rows[0][1]
    print("4. fire start-up (plain config, a local server), median of 40 runs")
    print(f"  {'command':<30}{'wall ms':>9}{'CPU ms':>9}{'wall / python -c pass':>24}")
    print("  " + "-" * 72)
    for label, wall, cpu in rows:
        print(f"  {label:<30}{wall:>9.1f}{cpu:>9.1f}{wall / base_wall:>23.2f}x")
    print()


# -- main ------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--site-seconds", type=float, default=40)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--quick", action="store_true", help="short windows, to try it")
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to skip: http,zope,site,idle,startup",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.site_seconds, args.idle_seconds = 5, 21, 10
    skip = set(args.skip.split(","))

    print(
        f"bench_runner: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{os.getloadavg()[0]:.1f} (other work on the machine shows in every row)"
    )
    print()
    with tempfile.TemporaryDirectory() as workdir:
        server = HttpServer(workdir)
        zope = None
        try:
            zope = Zope(workdir)
            if "http" not in skip:
                rows = punctuality(
                    server,
                    "http",
                    zope.script,
                    zope.config,
                    workdir,
                    args.jobs,
                    args.seconds,
                )
                print_punctuality(
                    f"1a. Punctuality: {args.jobs} jobs every second, {args.seconds:.0f} s, "
                    "local http.server (listen backlog 5, ~1 ms per call)",
                    rows,
                )
            if "zope" not in skip:
                rows = punctuality(
                    zope,
                    "zope",
                    zope.script,
                    zope.config,
                    workdir,
                    args.jobs,
                    args.seconds,
                )
                print_punctuality(
                    f"1b. Punctuality: {args.jobs} jobs every second, {args.seconds:.0f} s, "
                    f"real WSGI Zope ({zope.threads} threads, root page)",
                    rows,
                )
            if "site" not in skip:
                print_site(site_impact(zope, workdir, args.site_seconds), zope)
            if "idle" not in skip:
                idle(
                    zope.script, zope.config, server.address, workdir, args.idle_seconds
                )
            if "startup" not in skip:
                startup(zope.script, zope.config, server)
        finally:
            if zope is not None:
                zope.stop()
            server.stop()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("--child-"):
        child = {
            "--child-http-server": child_http_server,
            "--child-apscheduler": child_apscheduler,
            "--child-cron": child_cron,
        }[sys.argv[1]]
        child(*sys.argv[2:])
    else:
        main()
