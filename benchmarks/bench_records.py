"""The benchmark of the run records (issue 16): ``bin/<part> run`` with its
records, metrics file and log against APScheduler 3.11, on this machine,
in one run, against one local server.  Linux only (reads /proc).

1. 100 jobs every second for a window (20 s), against a local
   ``http.server`` with Python's default listen backlog (5): calls
   delivered, lateness p50/p99 (when the call reaches the server minus
   the second it was due), CPU per call, peak RSS.  Rows: bin/<part> run
   at concurrency 4 and 10, recording every run in its state directory
   and rewriting its metrics file as a real install does; APScheduler
   3.11 (BackgroundScheduler, interval jobs doing the same http.client
   GET) with thread pools of 4 and 10.  Two rounds, interleaved
   (A B C D, then D C B A), pooled.
   1b (--breakdown): where ``run``'s CPU per call goes (the same window
   with the metrics file off, then the records off too).
2. 40 cron-style ``exec --scheduled`` processes started at once while
   ``run`` records its own 100 jobs: records lost (must be 0).
3. ``fire`` start-up (a plain config with a state directory and a
   metrics file; the package byte-compiled, as installed): wall and CPU
   time per call against ``python -c pass``.

About 4 minutes (8 windows of 20 s plus start-up and stop of each row);
--breakdown adds about 80 s.  Other work on the machine shows in every
row: compare the rows of one run, and CPU per call more than lateness.

APScheduler is no dependency of the package or its tests: give this
script a Python that has it (a separate benchmark venv)::

    python3 -m venv /tmp/bench && /tmp/bench/bin/pip install 'APScheduler>=3.11,<3.12'
    .venv/bin/python benchmarks/bench_records.py --apscheduler-python /tmp/bench/bin/python
"""

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import benchlib as base
from benchlib import HttpServer, merge, percentile, scheduler_row, stop

print = functools.partial(print, flush=True)  # noqa: A001 - progress shows in a log
PYTHON = sys.executable


def make_part(workdir):
    """A bin/<part> script (as zc.recipe.egg writes one) and its config path."""
    config = os.path.join(workdir, "parts", "bench", "clock.json")
    os.makedirs(os.path.dirname(config))
    script = os.path.join(workdir, "bin", "bench")
    os.makedirs(os.path.dirname(script))
    with open(script, "w") as f:
        f.write(
            f"#!{PYTHON}\nimport sys\n"
            "from collective.recipe.clockserver.runner import main\n"
            f"sys.exit(main({config!r}))\n"
        )
    os.chmod(script, 0o755)
    base.BASE.update(
        {
            "backend": "runner",
            "state-directory": os.path.join(workdir, "var", "bench"),
            "metrics-file": os.path.join(workdir, "metrics", "bench.prom"),
        }
    )
    os.makedirs(os.path.join(workdir, "metrics"))
    return script, config


def punctuality(server, script, config, workdir, aps_python, jobs, seconds, rounds=2):
    def runner_row(concurrency, round_):
        prefix = f"/run{concurrency}-{round_}/"
        base.write_runner_config(
            config,
            server.address,
            base.every_second(jobs, prefix),
            concurrency,
        )
        return scheduler_row(
            f"bin/<part> run, concurrency {concurrency}",
            [script, "run"],
            server,
            prefix,
            jobs,
            seconds,
        )

    def aps_row(workers, round_):
        prefix = f"/aps{workers}-{round_}/"
        aps_config = os.path.join(workdir, f"aps-{workers}.json")
        base.write_runner_config(
            aps_config,
            server.address,
            base.every_second(jobs, prefix),
            workers,
        )
        return scheduler_row(
            f"APScheduler 3.11, pool of {workers}",
            [
                aps_python,
                base.__file__,
                "--child-apscheduler",
                aps_config,
                str(workers),
            ],
            server,
            prefix,
            jobs,
            seconds,
        )

    results = {}
    for round_ in range(rounds):
        order = [
            ("run4", lambda r=round_: runner_row(4, r)),
            ("aps4", lambda r=round_: aps_row(4, r)),
            ("run10", lambda r=round_: runner_row(10, r)),
            ("aps10", lambda r=round_: aps_row(10, r)),
        ]
        if round_ % 2:
            order.reverse()
        for key, measure in order:
            print(f"  ... {key}, round {round_ + 1}")
            results.setdefault(key, []).append(measure())
    return [merge(results[key]) for key in ("run4", "aps4", "run10", "aps10")]


def print_punctuality(rows, jobs, seconds):
    print(
        f"1. {jobs} jobs every second, {seconds:.0f} s x 2 rounds, local http.server "
        "(listen backlog 5)"
    )
    header = (
        f"  {'scheduler':<34}{'delivered':>12}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU ms/call':>13}{'RSS MB':>8}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for row in rows:
        print(
            f"  {row['label']:<34}{row['delivered']:>6}/{row['expected']:<5}"
            f"{percentile(row['late'], 0.5):>9.1f}{percentile(row['late'], 0.99):>9.1f}"
            f"{row['cpu_ms_per_call']:>13.3f}{row['rss']:>8.1f}"
        )
    print()


def breakdown(server, script, config, jobs, seconds):
    """Where run's CPU per call goes: the same window without the metrics
    file, then without records either (the rest: the call and its log
    line)."""
    saved = dict(base.BASE)
    rows = []
    try:
        for label, drop in (
            ("call + log line + records + metrics file", ()),
            ("call + log line + records", ("metrics-file",)),
            ("call + log line", ("metrics-file", "state-directory")),
        ):
            for key in drop:
                base.BASE.pop(key, None)
            prefix = f"/parts-{len(drop)}/"
            base.write_runner_config(
                config,
                server.address,
                base.every_second(jobs, prefix),
                10,
            )
            rows.append(
                merge(
                    [
                        scheduler_row(
                            label, [script, "run"], server, prefix, jobs, seconds
                        )
                    ]
                )
            )
    finally:
        base.BASE.clear()
        base.BASE.update(saved)
    print(
        f"1b. Where bin/<part> run's CPU goes (concurrency 10, {jobs} jobs at 1 s, "
        f"{seconds:.0f} s each)"
    )
    print(f"  {'what run does per call':<44}{'CPU ms/call':>13}")
    print("  " + "-" * 57)
    for row in rows:
        print(f"  {row['label']:<44}{row['cpu_ms_per_call']:>13.3f}")
    print()


def lost_records(server, script, config, jobs, execs=40):
    """40 cron-style exec at once beside run: every run recorded?"""
    from collective.recipe.clockserver.runner.records import Records

    base.write_runner_config(
        config,
        server.address,
        base.every_second(jobs, "/lost/"),
        10,
    )
    with open(config) as f:
        data = json.load(f)
    data["entries"] = [{"name": f"cron{n}", "times": "* * * * *"} for n in range(execs)]
    with open(config, "w") as f:
        json.dump(data, f)
    records = Records(data["state-directory"], part=data["part"])
    before = {
        f"cron{n}": (records.read(f"cron{n}") or {"totals": {"ok": 0}})["totals"]["ok"]
        for n in range(execs)
    }
    clock = subprocess.Popen([script, "run"], stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        start = threading.Barrier(execs)
        codes = []

        def one(n):
            start.wait()
            codes.append(
                subprocess.call(
                    [script, "exec", "--scheduled", f"cron{n}", "--", "true"],
                    stderr=subprocess.DEVNULL,
                )
            )

        threads = [threading.Thread(target=one, args=(n,)) for n in range(execs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(2)
    finally:
        stop(clock)
    recorded = sum(
        (records.read(f"cron{n}") or {"totals": {"ok": 0}})["totals"]["ok"]
        - before[f"cron{n}"]
        for n in range(execs)
    )
    ran = codes.count(0)
    print(
        f"2. {execs} cron-style exec at once beside run ({jobs} jobs at 1 s): "
        f"{ran} ran, {recorded} recorded, records lost: {ran - recorded}"
    )
    print()


def startup(server, script, config):
    base.compile_package()  # as installed: byte-compiled
    base.write_runner_config(
        config, server.address, [{"name": "job", "method": "/startup", "period": 60}], 4
    )
    rows = [
        ("python -c pass", [PYTHON, "-c", "pass"]),
        ("bin/<part> fire (the GET, recorded)", [script, "fire", "job"]),
    ]
    rows = [(label, *base.timed(command)) for label, command in rows]
    base_wall = rows[0][1]
    print("3. fire start-up (a local server), median of 40 runs")
    print(f"  {'command':<38}{'wall ms':>9}{'CPU ms':>9}{'wall / python -c pass':>24}")
    print("  " + "-" * 80)
    for label, wall, cpu in rows:
        print(f"  {label:<38}{wall:>9.1f}{cpu:>9.1f}{wall / base_wall:>23.2f}x")
    print()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--apscheduler-python",
        required=True,
        metavar="PYTHON",
        help="a Python with APScheduler 3.11 installed (a venv of its own)",
    )
    parser.add_argument("--jobs", type=int, default=100, help="jobs at 1 s (100)")
    parser.add_argument(
        "--seconds", type=float, default=20, help="each row's window (20 s)"
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also 1b: run's CPU without the metrics file, then without "
        "records (3 more windows)",
    )
    args = parser.parse_args()
    print(
        f"bench_records: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{os.getloadavg()[0]:.1f} (other work on the machine shows in every row)"
    )
    print()
    with tempfile.TemporaryDirectory() as workdir:
        server = HttpServer(workdir)
        try:
            script, config = make_part(workdir)
            rows = punctuality(
                server,
                script,
                config,
                workdir,
                args.apscheduler_python,
                args.jobs,
                args.seconds,
            )
            print_punctuality(rows, args.jobs, args.seconds)
            if args.breakdown:
                breakdown(server, script, config, args.jobs, args.seconds)
            lost_records(server, script, config, args.jobs)
            startup(server, script, config)
        finally:
            server.stop()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
