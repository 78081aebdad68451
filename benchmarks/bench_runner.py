"""How punctual, how cheap and how polite is ``bin/<part> run``, next to
APScheduler and cron?  One run prints every table (Linux: reads /proc).

Set-up (once; APScheduler only goes into the development venv, it is no
dependency of the package)::

    tools/venv tests/requirements.txt benchmarks/requirements.txt
    .venv/bin/python benchmarks/bench_runner.py            # about 11 minutes

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
windows, for trying the script out).  --child-cron is the script calling
itself; what both benchmarks share is benchlib.py.
"""

import argparse
import functools
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import benchlib
from benchlib import (
    PYTHON,
    HttpServer,
    merge,
    percentile,
    scheduler_row,
    sleep_until,
    timed,
    write_runner_config,
)
from zopebench import Zope, idle, print_site, site_impact

print = functools.partial(print, flush=True)  # noqa: A001 - progress shows in a log


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


# -- 1. punctuality -----------------------------------------------------------------------


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
                benchlib.every_second(jobs, prefix),
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
                benchlib.every_second(jobs, prefix),
                workers,
            )
            return scheduler_row(
                f"APScheduler 3, {workers} threads",
                [
                    PYTHON,
                    benchlib.__file__,
                    "--child-apscheduler",
                    aps_config,
                    str(workers),
                ],
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


# -- 4. fire start-up ------------------------------------------------------------------------


def startup(script, config, server):
    benchlib.compile_package()  # as installed: byte-compiled
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
        {"--child-cron": child_cron}[sys.argv[1]](*sys.argv[2:])
    else:
        main()
