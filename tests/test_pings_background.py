"""Pings never sit in front of a call or a record (issue 17).

A background sender (pinger.Pinger) sends the start and final pings; a
name's pings go in order; ``fire``/``exec`` wait at most 10 s in total for
theirs before exiting.  Against real servers that hang or trickle
(tests/faultserver.py), with real ``bin/<part> fire``, ``exec`` and ``run``.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from collective.recipe.clockserver.runner import pinger as pinger_module
from collective.recipe.clockserver.runner import pings

RUNNER = (
    "import sys; from collective.recipe.clockserver.runner import main; "
    "sys.exit(main(sys.argv[1], sys.argv[2:]))"
)
SLACK = 3.0  # seconds of scheduling noise on a busy test machine


def write_config(tmp_path, address, ping_url, period=60, **extra):
    path = tmp_path / "clock" / "clock.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "part": "clock",
        "address": address,
        "timeout": 5,
        "jobs": [{"name": "feeds", "method": "/feeds", "period": period}],
        "entries": [{"name": "backup", "times": "0 3 * * *"}],
        "state-directory": str(tmp_path / "state"),
        "pings": {"feeds": ping_url, "backup": ping_url},
    }
    data.update(extra)
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return str(path)


def bin_part(config, *args, timeout=60):
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, config, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result, time.monotonic() - start


# -- the sender ------------------------------------------------------------------


class Config:
    def __init__(self, *names):
        self.pings = {name: "http://ping.invalid/" + name for name in names}


def test_a_names_pings_go_in_order_and_names_do_not_wait_for_each_other(monkeypatch):
    sent = []
    slow = threading.Event()

    def fake_ping(config, name, event, log, timeout=None, rid=None, body=b""):
        if name == "slow":
            slow.wait(5)
        sent.append((name, event))
        return True

    monkeypatch.setattr(pings, "ping", fake_ping)
    lines = []
    pinger = pinger_module.Pinger(lines.append)
    config = Config("slow", "quick")
    pinger.send(config, "slow", "start")
    pinger.send(config, "slow", "success")
    pinger.send(config, "quick", "start")
    pinger.send(config, "quick", "fail")
    deadline = time.monotonic() + 5
    while len(sent) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent == [("quick", "start"), ("quick", "fail")]  # not behind 'slow'
    assert pinger.wait(0.2) == [("slow", "start"), ("slow", "success")]
    slow.set()
    assert pinger.wait(5) == []
    assert sent[2:] == [("slow", "start"), ("slow", "success")]  # final after start
    assert lines == []


def test_pings_waiting_for_a_hung_server_are_bounded(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(pings, "ping", lambda *a, **k: release.wait(5))
    lines = []
    pinger = pinger_module.Pinger(lines.append)
    for _ in range(3 * pinger_module.WAITING_PINGS + 5):
        pinger.send(Config("job"), "job", "start")
    # 100 wait (the first of them in flight), the rest are dropped: one line
    # for the first dropped, then one per 100.
    assert len(lines) == 3
    assert "the start ping was dropped (1 so far): 100 pings of it wait" in lines[0]
    assert "(201 so far)" in lines[2]
    release.set()
    assert pinger.wait(10) == []


# -- bin/<part> fire and exec ------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["hang", "trickle"])
def test_fire_calls_zope_at_once_and_waits_at_most_10_s_for_its_pings(
    tmp_path, faults, server, behaviour
):
    config = write_config(
        tmp_path, server.address, f"{faults.address}/{behaviour}/uuid"
    )
    started = time.time()
    result, took = bin_part(config, "fire", "feeds")
    assert result.returncode == 0, result.stderr
    [called] = [t for t, path in server.requests if path == "/feeds"]
    assert called - started < SLACK  # Zope was called before the start ping ended
    assert pings.TIMEOUT - 1 < took < pings.TIMEOUT + SLACK + 2
    assert "Traceback" not in result.stderr
    assert (
        "the start ping failed (no complete answer within 10 s)" in result.stderr
        or "the start ping was not completed" in result.stderr
    ), result.stderr
    assert (
        "feeds: the success ping was not completed: fire waits at most 10 s in total "
        "for its pings" in result.stderr
    )
    assert "uuid" not in result.stderr  # the URL is a secret
    status, _ = bin_part(config, "status")
    [feeds] = [line for line in status.stdout.splitlines() if line.startswith("feeds ")]
    assert feeds.split()[-1] == "ok" and " ok " in feeds, status.stdout
    assert "CRITICAL" not in status.stdout


def test_fire_sends_the_final_ping_after_the_start_ping(tmp_path, faults, server):
    config = write_config(tmp_path, server.address, f"{faults.address}/slow-ok/uuid")
    result, took = bin_part(config, "fire", "feeds")
    assert result.returncode == 0, result.stderr
    assert [p.split("?")[0] for p in faults.paths] == [
        "/slow-ok/uuid/start",
        "/slow-ok/uuid",
    ]
    assert len({p.split("?rid=")[1] for p in faults.paths}) == 1  # one run id
    assert took < 2 + 2 + SLACK  # two one-second pings, then exit
    assert result.stderr == ""


def test_exec_runs_the_command_at_once_behind_a_hanging_ping(tmp_path, faults, server):
    config = write_config(tmp_path, server.address, f"{faults.address}/hang/uuid")
    stamp = tmp_path / "ran"
    started = time.time()
    result, took = bin_part(
        config,
        "exec",
        "backup",
        "--",
        sys.executable,
        "-c",
        f"import time; open({str(stamp)!r}, 'w').write(str(time.time()))",
    )
    assert result.returncode == 0, result.stderr
    assert float(stamp.read_text()) - started < SLACK
    assert took < pings.TIMEOUT + SLACK + 2
    assert "the fail ping" not in result.stderr


# -- bin/<part> run ---------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["hang", "trickle"])
def test_run_keeps_its_schedule_behind_a_hanging_ping_server(
    tmp_path, faults, server, behaviour
):
    config = write_config(
        tmp_path, server.address, f"{faults.address}/{behaviour}/uuid", period=1
    )
    log = tmp_path / "run.log"
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, config, "run"],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
    )
    try:
        time.sleep(7)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    text = log.read_text()
    calls = [t for t, path in server.requests if path == "/feeds"]
    assert len(calls) >= 5, text  # every second, not one per 10 s ping
    assert "still running" not in text
    assert "Traceback" not in text
    status, _ = bin_part(config, "status")
    assert status.returncode == 0, status.stdout  # OK: not CRITICAL, not failing
    assert status.stdout.startswith("CLOCK OK"), status.stdout
    records = json.loads(bin_part(config, "status", "feeds", "--json")[0].stdout)
    assert "still running" not in json.dumps(records)
    assert os.path.exists(str(tmp_path / "state"))
