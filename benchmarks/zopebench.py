"""bench_runner.py's figures on a real Zope: the WSGI Zope built by
plone.recipe.zope2instance with a runner part, a visitor's latency while
bursts of jobs hold its threads (site impact), and 100 hourly jobs idle
next to APScheduler.  Linux only (reads /proc)."""

import json
import math
import os
import subprocess
import sys
import time

import benchlib
from benchlib import (
    BASE,
    HERE,
    PYTHON,
    TOP,
    Stamps,
    cpu_seconds,
    peak_rss_mb,
    percentile,
    sleep_until,
    stop,
    write_runner_config,
)

print = __import__("functools").partial(print, flush=True)  # noqa: A001


# -- the pieces of the set-up ------------------------------------------------------------


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
            [PYTHON, benchlib.__file__, "--child-apscheduler", aps_config, "4"],
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
