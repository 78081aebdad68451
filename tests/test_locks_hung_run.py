"""bin/<part> run and a cron-started fire with the lock service frozen.

The service is stopped with SIGSTOP (tests/test_locks_hung.py ``frozen``)
and continued in a ``finally``: the claim ends within CLAIM_TIMEOUT, the
tick is logged and recorded as "lock service unreachable", and the calls
resume on time once the service answers again.
"""

import time

import pytest

from collective.recipe.clockserver.runner.locks.deadline import CLAIM_TIMEOUT
from lockhosts import (
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
from test_locks import unique
from test_locks_hung import SLACK, frozen


@pytest.mark.parametrize("engine_name", ["postgresql", "redis", "zeo"])
def test_run_skips_while_frozen_logs_it_and_calls_on_time_after(
    engine_name, request, server, tmp_path
):
    lock, service = lock_of(engine_name, request, unique("run-frozen"))
    state = str(tmp_path / "state")
    jobs = [
        {"name": f"tick{i}", "method": f"/frozen-{engine_name}-{i}", "period": 2}
        for i in range(3)
    ]
    config = write_config(
        str(tmp_path / "host"),
        server.address,
        jobs,
        lock,
        **{"state-directory": state},
    )
    log = str(tmp_path / "run.log")
    methods = {job["method"] for job in jobs}
    calls = lambda: [t for t, p in list(server.requests) if p in methods]  # noqa
    process = start_run(config, log)
    try:
        assert wait_until(lambda: len(calls()) >= 3), read(log)
        with frozen(service):
            since = time.time()
            assert wait_until(
                lambda: "unreachable (" in read(log), CLAIM_TIMEOUT + 10
            ), read(log)
            time.sleep(CLAIM_TIMEOUT + 1)
            # Claims taken before the freeze may still be called, none after.
            assert [t for t in calls() if t > since + 1.0] == [], read(log)
            assert process.poll() is None
        back = time.time()
        assert wait_until(lambda: len([t for t in calls() if t > back]) >= 3, 20), read(
            log
        )
    finally:
        stop(process)
    text = read(log)
    assert "Traceback" not in text
    assert "no answer within 5 s" in text
    assert "reachable again after" in text
    runs = [run for job in jobs for run in records_of(state, job["name"])]
    assert any(
        run["result"] == "skipped" and run["reason"] == "lock service unreachable"
        for run in runs
    ), runs
    for run in runs:  # called runs start at most one claim's bound after the due time
        if run["result"] not in ("skipped",) and run["start"] > back:
            assert run["start"] - run["due"] < CLAIM_TIMEOUT + SLACK + 2, run
    if lock["password"]:
        assert lock["password"] not in text


@pytest.mark.parametrize("engine_name", ["postgresql", "redis", "zeo"])
def test_cron_started_fire_with_the_service_frozen_exits_75_in_time(
    engine_name, request, server, tmp_path
):
    lock, service = lock_of(engine_name, request, unique("fire-frozen"))
    [(config, state)] = cron_hosts(tmp_path, server, lock, count=1)
    with frozen(service):
        start = time.monotonic()
        result = run_clock(config, "fire", "--scheduled", "feeds")
        took = time.monotonic() - start
    assert result.returncode == 75, result.stderr
    assert took < CLAIM_TIMEOUT + 8, took  # the bound plus a Python start-up
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0], lines
    assert "Traceback" not in result.stderr
    assert [p for _, p in server.requests if p == "/cron/feeds"] == []
    [run] = records_of(state, "feeds")
    assert (run["result"], run["reason"]) == ("skipped", "lock service unreachable")
