"""bin/<part> run with ``lock``: real processes, real lock services."""

import os
import signal
import subprocess
import time

import pytest

from lockhosts import (
    clock_command,
    cron_hosts,
    lock_of,
    read,
    records_of,
    run_clock,
    start_run,
    stop,
    wait_until,
    write_config,
)
from lockservices import free_port


@pytest.mark.parametrize("engine_name", ["postgresql", "redis", "zeo"])
def test_service_down_at_start_going_away_and_back(
    engine_name, request, server, tmp_path
):
    """No call while the service is down, no traceback, recovery."""
    lock, service = lock_of(engine_name, request, f"outage-{os.getpid()}")
    method = f"/outage-{engine_name}"
    state = str(tmp_path / "state")
    config = write_config(
        str(tmp_path / "host"),
        server.address,
        [{"name": "tick", "method": method, "period": 1}],
        lock,
        **{"state-directory": state},
    )
    log = str(tmp_path / "run.log")
    calls = lambda: [t for t, path in list(server.requests) if path == method]  # noqa
    service.stop()
    process = start_run(config, log)
    try:
        # Down at start: the clock runs, skips, calls nothing.
        assert wait_until(lambda: read(log).count("unreachable") >= 1), read(log)
        time.sleep(2.5)
        assert calls() == [], read(log)
        assert process.poll() is None
        # Back: calls resume.
        service.start()
        assert wait_until(lambda: len(calls()) >= 2), read(log)
        assert "reachable again after" in read(log)
        # Going away while the clock runs: calls stop.
        service.stop()
        stopped = time.time()
        assert wait_until(lambda: read(log).count("unreachable (") >= 2), read(log)
        time.sleep(2.5)
        # A claim taken just before the stop may still be called (it was won).
        late = [t for t in calls() if t > stopped + 1.0]
        assert late == [], read(log)
        service.start()
        resumed = len(calls())
        assert wait_until(lambda: len(calls()) >= resumed + 2), read(log)
    finally:
        stop(process)
        if service.process is None:
            service.start()
    text = read(log)
    assert "Traceback" not in text
    assert text.count("reachable again after") == 2
    assert process.returncode == 0
    reasons = {
        run["reason"] for run in records_of(state, "tick") if run["result"] == "skipped"
    }
    assert "lock service unreachable" in reasons  # recorded as the contract says
    if lock["password"]:
        assert lock["password"] not in text


def test_run_without_the_client_library_says_so(tmp_path, server):
    config = write_config(
        str(tmp_path),
        server.address,
        [{"name": "tick", "method": "/nolib", "period": 1}],
        {"url": "redis://127.0.0.1:1/0", "namespace": "x"},
    )
    result = run_clock(
        config, "run", before="import sys; sys.modules['redis'] = None; "
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "redis-py is not installed" in lines[0]
    assert "run bin/buildout again" in lines[0]
    assert [p for _, p in server.requests if p == "/nolib"] == []


@pytest.mark.parametrize(
    "lock, problem",
    [
        ({"url": "mysql://db/x"}, "lock: unknown lock service 'mysql'"),
        ({"url": "redis://:pw@cache"}, "lock: the URL holds a password"),
        ("redis://cache", "'lock' must be an object"),
        ({"url": "redis://cache", "password": 5}, "lock: password must be a string"),
    ],
)
def test_damaged_lock_in_the_config_file(tmp_path, lock, problem):
    config = write_config(
        str(tmp_path),
        "http://127.0.0.1:8080",
        [{"name": "tick", "method": "/x", "period": 60}],
        lock,
    )
    result = run_clock(config, "list")
    assert result.returncode == 2
    assert problem in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_reload_adds_and_removes_the_lock(tmp_path, server, redis_server):
    namespace = f"reload-{os.getpid()}"
    jobs = [{"name": "tick", "method": "/reload", "period": 1}]
    lock = {
        "url": redis_server.url(),
        "user": None,
        "password": redis_server.PASSWORD,
        "namespace": namespace,
    }
    config = write_config(str(tmp_path), server.address, jobs, None)
    log = str(tmp_path / "run.log")
    process = start_run(config, log)
    client = redis_server.client()
    keys = lambda: client.keys(f'clockserver:\\["{namespace}"*')  # noqa: E731
    try:
        assert wait_until(lambda: "Clock server for" in read(log)), read(log)
        write_config(str(tmp_path), server.address, jobs, lock)
        process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: len(keys()) >= 2), read(log)
        assert f"lock: none (one host) -> {lock['url']} namespace {namespace}" in read(
            log
        )
        write_config(str(tmp_path), server.address, jobs, None)
        process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "-> none (one host)" in read(log)), read(log)
    finally:
        stop(process)
    text = read(log)
    assert "Traceback" not in text
    assert redis_server.PASSWORD not in text


@pytest.mark.parametrize("engine_name", ["postgresql", "redis", "zeo"])
def test_three_hosts_call_each_tick_once_and_survive_a_kill(
    engine_name, request, server, tmp_path
):
    """Three ``run`` processes, one lock, jobs at 1 s and 2 s; one is
    SIGKILLed half-way: no tick is called twice, every tick is called except
    at most one per job for the killed host."""
    lock, _ = lock_of(engine_name, request, f"three-{engine_name}-{os.getpid()}")
    hosts = {}
    for host in ("web1", "web2", "web3"):
        directory = str(tmp_path / host)
        jobs = [
            {"name": "fast", "method": f"/three/fast?{host}", "period": 1},
            {"name": "slow", "method": f"/three/slow?{host}", "period": 2},
        ]
        state = os.path.join(directory, "state")
        config = write_config(
            directory, server.address, jobs, lock, **{"state-directory": state}
        )
        hosts[host] = (config, state, os.path.join(directory, "run.log"))
    processes = {
        host: start_run(config, log) for host, (config, _, log) in hosts.items()
    }
    try:
        # Every host has connected and claimed (won or lost) a tick.
        assert wait_until(
            lambda: all(records_of(state, "fast") for _, state, _ in hosts.values()), 60
        )
        window_start = time.time()
        time.sleep(4)
        processes["web1"].send_signal(signal.SIGKILL)
        processes["web1"].wait(10)
        time.sleep(4)
        window_end = time.time()
    finally:
        for process in processes.values():
            stop(process)
    calls = [path for _, path in list(server.requests) if path.startswith("/three/")]
    for name, period in (("fast", 1), ("slow", 2)):
        ok = {}
        for host, (_, state, _log) in hosts.items():
            for run in records_of(state, name):
                if run["result"] == "ok":
                    ok.setdefault(run["due"], []).append(host)
                else:
                    # The killed host's run in flight (or ended in its last
                    # 50 ms, not yet written) is found interrupted.
                    reasons = ("claimed by", "still running")
                    if host == "web1":
                        reasons += ("interrupted",)
                    assert run["reason"].startswith(reasons), run
        doubled = {due: who for due, who in ok.items() if len(who) > 1}
        assert doubled == {}
        # The server saw exactly the recorded calls (a killed host may have
        # called without recording).
        made = [path for path in calls if path.startswith(f"/three/{name}?")]
        assert len(made) - len(sum(ok.values(), [])) in (0, 1)
        ticks = range(
            int(window_start // period + 1) * period,
            int(window_end // period) * period,
            period,
        )
        assert len(ticks) >= 6 // period
        lost = [due for due in ticks if due not in ok]
        assert len(lost) <= 1, (name, lost, sorted(ok))
        # Failover happened: the hosts that stayed called after the kill.
        late = {host for due, who in ok.items() if due > window_end - 2 for host in who}
        assert late and "web1" not in late
    for host in ("web2", "web3"):
        reasons = [run["reason"] for run in records_of(hosts[host][1], "fast")]
        assert any(reason.startswith("claimed by ") for reason in reasons)
    for _, _, log in hosts.values():
        text = read(log)
        assert "Traceback" not in text
        if lock["password"]:
            assert lock["password"] not in text


def ticks_served_once(runs, period):
    """The ticks the processes' runs served, each called by exactly one of
    them (the others skipped it as claimed).  Processes started together
    serve one tick, or two when they straddle its boundary: no test waits
    for the top of a minute to pass."""
    by_due = {}
    for run in runs:
        assert run["due"] % period == 0 and run["scheduled"] is True, run
        by_due.setdefault(run["due"], []).append(run)
    assert len(by_due) <= 2 and max(by_due) - min(by_due) <= period, by_due
    for group in by_due.values():
        assert sorted(run["result"] for run in group) == ["ok"] + ["skipped"] * (
            len(group) - 1
        ), group
        assert all(
            run["reason"].startswith("claimed by ")
            for run in group
            if run["result"] == "skipped"
        ), group
    return len(by_due)


@pytest.mark.parametrize("engine_name", ["postgresql", "redis", "zeo"])
def test_cron_started_fire_on_four_hosts_calls_once(
    engine_name, request, server, tmp_path
):
    lock, _ = lock_of(engine_name, request, f"cron-{engine_name}-{os.getpid()}")
    hosts = cron_hosts(tmp_path, server, lock)
    processes = [
        subprocess.Popen(
            clock_command(config, "fire", "--scheduled", "feeds"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for config, _ in hosts
    ]
    results = [(p.wait(60), p.stdout.read(), p.stderr.read()) for p in processes]
    for process in processes:
        process.stdout.close()
        process.stderr.close()
    assert [status for status, _, _ in results] == [0, 0, 0, 0], results
    assert all(out == "" and err == "" for _, out, err in results), results  # silent
    runs = [records_of(state, "feeds") for _, state in hosts]
    assert all(len(found) == 1 for found in runs), runs
    ticks = ticks_served_once([found[0] for found in runs], 3600)
    assert [p for _, p in server.requests if p == "/cron/feeds"] == [
        "/cron/feeds"
    ] * ticks
    # By hand, fire takes no claim: it calls although the tick is taken.
    config, _ = hosts[0]
    by_hand = run_clock(config, "fire", "feeds")
    assert by_hand.returncode == 0, by_hand.stderr
    assert len([p for _, p in server.requests if p == "/cron/feeds"]) == ticks + 1


@pytest.mark.parametrize("engine_name", ["postgresql", "redis", "zeo"])
def test_cron_started_exec_on_four_hosts_runs_once(
    engine_name, request, tmp_path, server
):
    lock, _ = lock_of(engine_name, request, f"exec-{engine_name}-{os.getpid()}")
    hosts = cron_hosts(
        tmp_path, server, lock, entries=[{"name": "backup", "times": "* * * * *"}]
    )
    output = tmp_path / "ran"
    processes = [
        subprocess.Popen(
            clock_command(
                config,
                "exec",
                "--scheduled",
                "backup",
                "--",
                "/bin/sh",
                "-c",
                f"echo ran >> {output}",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for config, _ in hosts
    ]
    statuses = [p.wait(60) for p in processes]
    errors = [p.stderr.read() for p in processes]
    for process in processes:
        process.stdout.close()
        process.stderr.close()
    assert statuses == [0, 0, 0, 0], errors
    assert errors == ["", "", "", ""]
    runs = []
    for _, state in hosts:
        [run] = records_of(state, "backup")
        runs.append(run)
    assert output.read_text() == "ran\n" * ticks_served_once(runs, 60)


def host_with_the_service_down(tmp_path, server, namespace, entry, times="* * * * *"):
    """One cron host whose lock service (Redis on a free port) is down, with
    the job 'feeds' and the crontab entry ``entry``: (config, state)."""
    lock = {
        "url": "redis://127.0.0.1:%d/0" % free_port(),
        "user": None,
        "password": "never-Sh0wn",
        "namespace": namespace,
    }
    [(config, state)] = cron_hosts(
        tmp_path,
        server,
        lock,
        count=1,
        entries=[{"name": entry, "times": times}],
    )
    return config, state


@pytest.mark.parametrize("command", ["fire", "exec"])
def test_cron_started_run_with_the_service_down_exits_75(tmp_path, server, command):
    config, state = host_with_the_service_down(tmp_path, server, "down", "backup")
    marker = tmp_path / "ran"
    argv = (
        ["fire", "--scheduled", "feeds"]
        if command == "fire"
        else ["exec", "--scheduled", "backup", "--", "/bin/sh", "-c", f"touch {marker}"]
    )
    result = run_clock(config, *argv)
    assert result.returncode == 75
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "lock service" in lines[0] and "unreachable" in lines[0]
    assert "never-Sh0wn" not in result.stderr
    assert "Traceback" not in result.stderr
    assert [p for _, p in server.requests if p == "/cron/feeds"] == []
    assert not marker.exists()
    name = "feeds" if command == "fire" else "backup"
    [run] = records_of(state, name)
    assert (run["result"], run["reason"]) == ("skipped", "lock service unreachable")
    status = run_clock(config, "status", name)
    assert "lock service unreachable" in status.stdout


def test_reboot_entries_and_runs_by_hand_take_no_claim(tmp_path, server):
    """No tick to claim: an ``@reboot`` entry started by cron, and ``exec`` or
    ``fire`` by hand, run even with the lock service down (never asked)."""
    config, state = host_with_the_service_down(
        tmp_path, server, "reboot", "warmup", "@reboot"
    )
    marker = tmp_path / "ran"
    runs = [
        ["exec", "--scheduled", "warmup", "--", "/bin/sh", "-c", f"echo x >> {marker}"],
        ["exec", "warmup", "--", "/bin/sh", "-c", f"echo x >> {marker}"],
        ["fire", "feeds"],
    ]
    for argv in runs:
        result = run_clock(config, *argv)
        assert result.returncode == 0, result.stderr
        assert "unreachable" not in result.stderr
    assert marker.read_text() == "x\nx\n"
    assert [p for _, p in server.requests if p == "/cron/feeds"] == ["/cron/feeds"]
    warmup = records_of(state, "warmup")
    assert [(run["result"], run["due"]) for run in warmup] == [
        ("ok", None),
        ("ok", None),
    ]
    assert [run["result"] for run in records_of(state, "feeds")] == ["ok"]
