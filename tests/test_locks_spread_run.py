"""Two hosts with ``spread`` and a ``lock``, end to end: two real
bin/buildout directories of the same part and ``lock-namespace``, each
running its own ``bin/clock run`` against a real lock service.

Both compute the same offset (``bin/clock list``), every shifted tick is
called exactly once, at the tick plus the offset, and that shifted tick is
the one recorded (``bin/clock status NAME --json``).
"""

import json
import math
import os
import re
import subprocess
import time

import pytest

from buildouts import Buildout, clock_part
from collective.recipe.clockserver.spread import spread_offset
from lockhosts import lock_of, read, records_of, stop, wait_until

pytestmark = pytest.mark.slow  # two bin/buildout runs, waits on the real clock

PERIOD = 4  # seconds: a few ticks of the period job in a short window
SPREAD = 60  # seconds (spread = 1m): the minute job's offset is in [0, 60)
MARGIN = 12  # seconds from choosing the names to the minute job's tick
LATE = 3.0  # seconds a call may start after its tick on a busy machine (< PERIOD)

SITE = clock_part(
    """backend = runner
address = {address}
spread = 1m
timezone = Asia/Kolkata
lock = {url}
{credentials}lock-namespace = {namespace}
jobs =
    /spread/period  {period}s  name={period_name}
    /spread/minute  -  times='* * * * *'  name={minute_name}
"""
)

# The hosts' own zones (neither is the jobs' Asia/Kolkata, +05:30).
HOSTS = (("web1", "UTC"), ("web2", "Asia/Tokyo"))


def job_names(namespace, now):
    """Names for the two jobs whose offsets make the test short and
    telling: the period job's shifts its ticks by half the period or more
    (a call at the unshifted tick would be seen), the minute job's is not
    0 and puts its first shifted tick about MARGIN seconds after ``now``.
    The offset is a hash of namespace, part and job: the test picks a
    name, the recipe computes the offset."""
    period_name = next(
        f"every-{n}"
        for n in range(1000)
        if spread_offset(SPREAD, namespace, "clock", f"every-{n}") % PERIOD
        in (PERIOD // 2, PERIOD // 2 + 1)
    )
    target = int(now + MARGIN) % 60
    minute_name = min(
        (
            f"minute-{n}"
            for n in range(1000)
            if spread_offset(SPREAD, namespace, "clock", f"minute-{n}")
        ),
        key=lambda name: (
            (spread_offset(SPREAD, namespace, "clock", name) - target) % 60
        ),
    )
    return period_name, minute_name


def bin_clock(b, *args, env):
    result = subprocess.run(
        [b.path("bin", "clock"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def schedules(b, env):
    """Per job of ``bin/clock list``: NAME, SCHEDULE, ZONE, NEXT (UTC) and
    THEN (UTC), the columns that do not depend on the host's own zone."""
    result = bin_clock(b, "list", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = re.split(r"\s{2,}", lines[1])
    keep = [header.index(c) for c in ("NAME", "SCHEDULE", "ZONE", "NEXT (UTC)")]
    keep.append(header.index("THEN (UTC)"))
    return {
        cells[0]: tuple(cells[i] for i in keep)
        for cells in (re.split(r"\s{2,}", line) for line in lines[2:])
    }


def same_schedules(hosts):
    """``bin/clock list`` of every host, equal on all (asked again when a
    tick passed between the hosts' answers)."""
    for _ in range(3):
        found = [schedules(b, env) for b, env, _ in hosts.values()]
        if all(listing == found[0] for listing in found):
            return found[0]
    return found


def status_runs(b, name, env):
    """The runs ``bin/clock status NAME --json`` shows."""
    result = bin_clock(b, "status", name, "--json", env=env)
    [info] = json.loads(result.stdout)["names"]
    assert info["name"] == name
    return info["runs"]


@pytest.mark.parametrize("engine_name", ["postgresql", "redis", "zeo"])
def test_two_hosts_with_spread_and_a_lock_call_each_tick_once(
    engine_name, request, server, fake_crontab, tmp_path
):
    namespace = f"spread-{engine_name}-{os.getpid()}"
    lock, _ = lock_of(engine_name, request, namespace)
    period_name, minute_name = job_names(namespace, time.time())
    period_offset = spread_offset(SPREAD, namespace, "clock", period_name) % PERIOD
    minute_offset = spread_offset(SPREAD, namespace, "clock", minute_name)
    secret = "[lock-credentials]\n"
    if lock["user"]:
        secret += f"user = {lock['user']}\n"
    if lock["password"]:
        secret += f"password = {lock['password']}\n"
    text = SITE.format(
        address=server.address.replace("http://", ""),
        url=lock["url"],
        credentials=(
            "lock-credentials = lock-credentials\n" if lock["password"] else ""
        ),
        namespace=namespace,
        period=PERIOD,
        period_name=period_name,
        minute_name=minute_name,
    )
    env = fake_crontab.env(os.environ)
    env.pop("PYTHONPATH", None)
    hosts = {}
    for host, zone in HOSTS:
        b = Buildout(tmp_path / host, env)
        os.makedirs(b.directory)
        b.write("secret.cfg", secret, mode=0o600)
        b.write("buildout.cfg", text)
        hosts[host] = (b, dict(env, TZ=zone), os.path.join(b.directory, "run.log"))
    builds = {host: b.start() for host, (b, _, _) in hosts.items()}
    built = {host: p.communicate(timeout=300)[0] for host, p in builds.items()}
    assert [p.returncode for p in builds.values()] == [0, 0], built

    # The same offset on both hosts, shown by list with the next times.
    listing = same_schedules(hosts)
    assert isinstance(listing, dict), listing
    assert listing[period_name][1] == f"{PERIOD} ({PERIOD}s) +{period_offset}s"
    assert listing[minute_name][1:3] == (f"* * * * * +{minute_offset}s", "Asia/Kolkata")
    for name, period, offset in (
        (period_name, PERIOD, period_offset),
        (minute_name, 60, minute_offset),
    ):
        nexts = [listing[name][3]] + listing[name][4].split(", ")
        assert len(nexts) == 3, listing
        for stamp in nexts:  # 2026-12-02T15:04:07Z
            assert int(stamp[-3:-1]) % period == offset % period, (name, stamp)

    processes = {}
    try:
        for host, (b, host_env, log) in hosts.items():
            with open(log, "w") as stderr:
                processes[host] = subprocess.Popen(
                    [b.path("bin", "clock"), "run"],
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    env=host_env,
                )
        states = [b.path("var", "clock") for b, _, _ in hosts.values()]
        # Both hosts run and have met in the lock (won or lost a claim).
        assert wait_until(
            lambda: all(records_of(state, period_name) for state in states), 60
        ), [read(log) for _, _, log in hosts.values()]
        window_start = time.time()
        # The minute job's first shifted tick after the start, then a
        # little for its call to be recorded; at least three period ticks.
        minute_tick = ((window_start - minute_offset) // 60 + 1) * 60 + minute_offset
        window_end = max(minute_tick, window_start + 3 * PERIOD) + 1
        time.sleep(window_end + 1.5 - time.time())
    finally:
        for process in processes.values():
            stop(process)
    assert [p.returncode for p in processes.values()] == [0, 0]

    calls = list(server.requests)
    for name, period, offset in (
        (period_name, PERIOD, period_offset),
        (minute_name, 60, minute_offset),
    ):
        runs = {
            host: status_runs(b, name, host_env)
            for host, (b, host_env, _) in hosts.items()
        }
        # The recorded tick is the shifted one, on every host.
        ok = {}
        for host, found in runs.items():
            for run in found:
                assert run["due"] % period == offset, (host, run)
                if run["result"] == "ok":
                    ok.setdefault(run["due"], []).append(host)
                    assert run["due"] - 0.05 <= run["start"] < run["due"] + LATE, run
                else:
                    assert run["result"] == "skipped", run
                    assert run["reason"].startswith("claimed by "), run
        # Each tick in the window called by one host, exactly once.
        ticks = [
            due
            for due in range(math.ceil(window_start), int(window_end))
            if due % period == offset
        ]
        assert ticks, (name, window_start, window_end)
        assert [due for due in ticks if due not in ok] == [], (name, sorted(ok))
        assert {due: who for due, who in ok.items() if len(who) > 1} == {}
        # The server saw one call per won tick, each at its shifted tick.
        method = "/spread/period" if name == period_name else "/spread/minute"
        arrived = sorted(t for t, path in calls if path == method)
        assert len(arrived) == len(ok), (arrived, sorted(ok))
        for due, when in zip(sorted(ok), arrived, strict=True):
            assert due - 0.05 <= when < due + LATE, (name, due, when)
    # The hosts met in the lock: a tick's loser recorded it as claimed.
    skipped = {
        host
        for host, (b, host_env, _) in hosts.items()
        for run in status_runs(b, period_name, host_env)
        if run["result"] == "skipped"
    }
    assert skipped, "no host ever found a tick claimed"
    # status NAME shows the shifted tick in its DUE column.
    b, host_env, _ = hosts["web1"]
    table = bin_clock(b, "status", minute_name, env=host_env).stdout
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(minute_tick))
    assert stamp in table, table
    for _, _, log in hosts.values():
        text = read(log)
        assert "Traceback" not in text
        if lock["password"]:
            assert lock["password"] not in text
