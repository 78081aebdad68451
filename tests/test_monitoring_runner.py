"""Run records, status, catch-up, metrics and pings with real bin/<part>
processes (``python -m collective.recipe.clockserver.runner CONFIG ...``)
against local HTTP servers."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

from collective.recipe.clockserver.runner.records import Records
from localserver import free_port as closed_port
from runnerparts import SECRET, make_store, wait_for


def runs(part, name, result=None):
    record = part.record(name)
    found = record["runs"] if record else []
    return [r for r in found if result is None or r["result"] == result]


# -- run: records and status at each step ------------------------------------------


def test_run_records_and_status_at_each_step(server, part_factory):
    part = part_factory(
        server.address,
        [
            {"name": "good", "method": "/good", "period": 1},
            {"name": "broken", "method": "/broken?code=500", "period": 1},
            {"name": "hangs", "method": "/hangs?sleep=30", "period": 2, "grace": 1},
        ],
    )
    # No state directory yet: the records cannot be read.
    result = part.status()
    assert result.returncode == 3
    assert result.stdout.startswith("CLOCK UNKNOWN - ")

    # Installed (bin/buildout notes each name), nothing due yet: waiting.
    Records(part.state).seen(["good", "broken", "hangs"])
    states, code = part.states()
    assert code == 0
    assert {n: s["state"] for n, s in states.items()} == dict.fromkeys(
        ["good", "broken", "hangs"], "waiting"
    )

    process = part.start()
    wait_for(lambda: runs(part, "good", "ok"), "a good run")
    wait_for(lambda: len(runs(part, "broken", "failed")) >= 1, "a failure")
    wait_for(lambda: part.record("hangs")["running"], "the hanging call")

    # 'hangs' runs; on the first failure 'broken' is failing (WARNING or,
    # once it failed 3 times in a row, CRITICAL).
    states, code = part.states()
    assert states["good"]["state"] == "ok"
    assert states["broken"]["state"] == "failing"
    assert states["hangs"]["state"] in ("running", "overdue")
    assert code in (1, 2)

    wait_for(lambda: len(runs(part, "broken", "failed")) >= 3, "3 failures")
    states, code = part.states()
    assert states["broken"]["consecutive_failures"] >= 3
    assert states["broken"]["critical"] is True
    assert code == 2
    # The hanging call skips its next ticks (recorded), then is overdue.
    wait_for(lambda: runs(part, "hangs", "skipped"), "a skipped tick")
    assert runs(part, "hangs", "skipped")[0]["reason"] == "still running"
    wait_for(
        lambda: part.states()[0]["hangs"]["state"] == "overdue",
        "the hanging call to turn overdue",
    )

    text = part.status()
    assert text.returncode == 2
    first, header, *rest = text.stdout.splitlines()
    blank = rest.index("")
    rows, why = rest[:blank], rest[blank + 1 :]
    assert any(
        line.startswith("broken: failing: 500 Internal Server Error") for line in why
    )
    assert any(line.startswith("hangs: overdue: ") for line in why)
    assert all("|" not in line for line in why)
    assert first.startswith("CLOCK CRITICAL - ")
    assert "| " in first and "overdue=1" in first and "failing=1" in first
    assert header.split() == [
        "NAME",
        "SCHEDULE",
        "LAST",
        "RUN",
        "(UTC)",
        "RESULT",
        "DURATION",
        "LAST",
        "SUCCESS",
        "NEXT",
        "DUE",
        "STATE",
    ]
    table = {row.split()[0]: row for row in rows}
    assert table["broken"].split()[-1] == "failing" and " 500 " in table["broken"]
    assert table["hangs"].split()[-1] == "overdue"
    assert table["good"].split()[-1] == "ok"
    assert all("|" not in row for row in rows)

    # SIGTERM: the call in flight is abandoned and shows as interrupted.
    part.stop(process)
    record = part.record("hangs")
    assert record["running"] == []
    assert record["runs"][-1]["result"] == "failed"
    assert record["runs"][-1]["reason"] == "interrupted"
    detail = part.status("hangs")
    assert "interrupted" in detail.stdout
    assert "START (UTC)" in detail.stdout

    # Restart: the records go on from where they were.
    before = part.record("good")["totals"]["ok"]
    process = part.start()
    wait_for(
        lambda: part.record("good")["totals"]["ok"] > before, "a run after restart"
    )
    part.stop(process)
    record = part.record("good")
    assert record["totals"]["ok"] > before
    assert len(record["runs"]) <= 20
    # No secret in any record.
    for name in os.listdir(part.state):
        with open(os.path.join(part.state, name), "rb") as f:
            assert SECRET.encode() not in f.read()


def test_connection_refused_is_failing(part_factory):
    part = part_factory(
        "http://127.0.0.1:%d" % closed_port(),
        [{"name": "refused", "method": "/x", "period": 3600}],
    )
    result = part.run("fire", "refused")
    assert result.returncode == 1
    [run] = runs(part, "refused")
    assert run["result"] == "failed" and "connection refused" in run["reason"]
    assert run["by"] == "fire" and run["due"] is None and run["scheduled"] is False
    status = part.status()
    assert status.returncode == 1
    assert status.stdout.startswith("CLOCK WARNING - 1 failing | failing=1")
    assert status.stdout.splitlines()[2].split()[-1] == "failing"


def test_status_of_a_damaged_store_is_unknown_until_the_moved_file_is_removed(
    server, part_factory
):
    part = part_factory(server.address, [{"name": "j", "method": "/j", "period": 60}])
    assert part.run("fire", "j").returncode == 0
    store = os.path.join(part.state, "clock.sqlite")
    for suffix in ("-wal", "-shm"):
        if os.path.exists(store + suffix):
            os.remove(store + suffix)
    with open(store, "r+b") as f:
        f.write(b"not a database, hand-edited" * 10)
    result = part.status()
    assert result.returncode == 3, result
    assert result.stdout.startswith("CLOCK UNKNOWN - ") and "damaged" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    # The next run moves it aside (one line), runs the job, starts a new store.
    fired = part.run("fire", "j")
    assert fired.returncode == 0, fired.stderr
    assert len(fired.stderr.strip().splitlines()) == 1 and "moved to" in fired.stderr
    [aside] = [
        n
        for n in os.listdir(part.state)
        if n.startswith("clock.sqlite.damaged-") and not n.endswith(("-wal", "-shm"))
    ]
    result = part.status()
    assert result.returncode == 3 and aside in result.stdout
    assert part.record("j")["totals"] == {"ok": 1, "failed": 0, "skipped": 0}
    os.remove(os.path.join(part.state, aside))
    assert part.status().returncode == 0


def test_status_of_a_broken_config_is_unknown(part_factory, tmp_path):
    part = part_factory("http://127.0.0.1:1", [])
    with open(part.config, "w") as f:
        f.write("[]")
    result = part.status()
    assert result.returncode == 3
    assert result.stdout.startswith("CLOCK UNKNOWN - ")
    assert "Traceback" not in result.stdout + result.stderr


def test_status_name_unknown_and_json(server, part_factory):
    part = part_factory(server.address, [{"name": "j", "method": "/j", "period": 60}])
    assert part.run("fire", "j").returncode == 0
    result = part.run("status", "nosuch")
    assert result.returncode == 3 and "nosuch" in result.stdout
    data = json.loads(part.run("status", "j", "--json").stdout)
    assert data["status"] == "OK" and data["summary"].startswith("CLOCK OK - 1 ok")
    [info] = data["names"]
    assert info["name"] == "j" and info["last_run"]["http_status"] == 200
    assert info["last_success"]["result"] == "ok"


def test_fire_refuses_to_overlap_a_running_run(server, part_factory):
    part = part_factory(
        server.address, [{"name": "slow", "method": "/slow?sleep=3", "period": 3600}]
    )
    first = subprocess.Popen(part.command("fire", "slow"))
    part.processes.append(first)
    wait_for(
        lambda: part.record("slow") and part.record("slow")["running"], "the first fire"
    )
    second = part.run("fire", "slow")
    assert second.returncode == 75
    assert second.stderr.strip().endswith("skipped, the previous run is still running")
    assert len(second.stderr.strip().splitlines()) == 1
    assert first.wait(30) == 0
    results = [r["result"] for r in runs(part, "slow")]
    assert results == ["skipped", "ok"]


# -- catch-up ------------------------------------------------------------------------


T0 = 1_800_000_000 - 1_800_000_000 % 3600  # a top of an hour, as simulated time


def simulated_clock(config, start, until, records_now=None):
    """``run`` in this process (the recorder, records and clock of
    bin/<part> run) from ``start`` to ``until`` in simulated time; its log."""
    from collective.recipe.clockserver.runner.clock import Clock
    from collective.recipe.clockserver.runner.recording import ClockRecorder
    from simtime import FakeTime, ListLog

    fake = FakeTime(start)
    log = ListLog()
    recorder = ClockRecorder(config, log, now=fake.time)
    clock = Clock(
        config,
        log=log,
        observer=recorder,
        claim=recorder.gate(),
        catch_up=recorder.catch_up,
        clock=fake,
        call=fake.answer(),
    )
    recorder.start()
    try:
        fake.run(clock, until)
    finally:
        recorder.stop()
    return log.text


def test_catch_up_after_a_stop_across_a_tick(tmp_path):
    """In simulated time: stopped across a tick, the clock calls it once at
    start for a job with catch-up, not for one without."""
    from collective.recipe.clockserver.runner import status, statusview
    from collective.recipe.clockserver.runner.config import parse_config

    period = 3
    config = parse_config(
        {
            "part": "clock",
            "address": "http://127.0.0.1:1",
            "state-directory": str(tmp_path / "state"),
            "jobs": [
                {
                    "name": "eager",
                    "method": "/eager",
                    "period": period,
                    "catch-up": True,
                },
                {"name": "lazy", "method": "/lazy", "period": period},
            ],
        }
    )
    records = Records(config.state_directory, part="clock", now=lambda: T0 - 2)
    records.seen(["eager", "lazy"])  # installed before the first tick
    simulated_clock(config, T0 - 0.5, T0 + 1)  # runs the tick due at T0, stops
    assert [r["due"] for r in runs_of(config, "eager")] == [T0]
    # Stopped across the tick T0 + 3; started again at T0 + 4.5.
    text = simulated_clock(config, T0 + 4.5, T0 + 5)
    caught = [r for r in runs_of(config, "eager") if r.get("catch_up")]
    assert [(r["due"], r["start"], r["result"]) for r in caught] == [
        (T0 + 3, T0 + 4.5, "ok")
    ]
    assert "eager: catching up the tick due at" in text
    assert "lazy: catching up" not in text
    assert [r["due"] for r in runs_of(config, "lazy")] == [T0]
    # At T0 + 5, nothing is overdue; status NAME shows the catch-up.
    [info] = status.collect(config, ["eager"], now=T0 + 5)
    assert info["state"] == "ok"
    assert any("run (catch-up)" in line for line in statusview.runs_table(info))
    # A restart with nothing missed catches nothing up.
    text = simulated_clock(config, T0 + 5.5, T0 + 5.9)
    assert "catching up" not in text


def test_run_skips_ticks_while_a_manual_fire_runs(tmp_path):
    """In simulated time: while a fire of this host runs the name, the
    clock's ticks skip it (recorded, by run), then call it again."""
    from collective.recipe.clockserver.runner.config import parse_config

    config = parse_config(
        {
            "part": "clock",
            "address": "http://127.0.0.1:1",
            "state-directory": str(tmp_path / "state"),
            "jobs": [{"name": "slow", "method": "/slow", "period": 1}],
        }
    )
    records = Records(config.state_directory, part="clock", now=lambda: T0 - 1)
    token, skip = records.begin("slow", None, "fire")  # a fire of this process runs
    assert skip is None
    simulated_clock(config, T0 - 0.5, T0 + 1.5)
    skipped = [r for r in runs_of(config, "slow") if r["by"] == "run"]
    assert [(r["due"], r["result"], r["reason"]) for r in skipped] == [
        (T0, "skipped", "still running"),
        (T0 + 1, "skipped", "still running"),
    ]
    records.finish("slow", token, "ok", 4.0, by="fire")
    simulated_clock(config, T0 + 2.5, T0 + 3.5)
    assert [(r["by"], r["result"]) for r in runs_of(config, "slow")][-2:] == [
        ("fire", "ok"),
        ("run", "ok"),
    ]


def runs_of(config, name):
    return Records(config.state_directory, part="clock").read(name)["runs"]


# -- metrics -----------------------------------------------------------------------


def parse_metrics(path):
    from prometheus_client.parser import text_string_to_metric_families

    with open(path) as f:
        text = f.read()
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample(families, family, **labels):
    found = [
        s
        for s in families[family].samples
        if all(s.labels.get(k) == v for k, v in labels.items())
        and not s.name.endswith("_created")
    ]
    assert len(found) == 1, (family, labels, found)
    return found[0].value


def test_metrics_file_parsed_and_counters_survive_restarts(
    server, part_factory, tmp_path
):
    metrics = str(tmp_path / "textfile" / "clock.prom")
    os.makedirs(os.path.dirname(metrics))
    part = part_factory(
        server.address,
        [
            {"name": "good", "method": "/good", "period": 1},
            {"name": "bad", "method": "/bad?code=500", "period": 1},
        ],
        **{"metrics-file": metrics},
    )
    process = part.start()
    wait_for(lambda: os.path.exists(metrics), "the metrics file")
    wait_for(lambda: len(runs(part, "bad")) >= 2 and runs(part, "good", "ok"), "runs")
    part.stop(process)
    assert stat.S_IMODE(os.stat(metrics).st_mode) == 0o644
    families = parse_metrics(metrics)
    assert set(families) >= {
        "clockserver_last_run_timestamp_seconds",
        "clockserver_last_success_timestamp_seconds",
        "clockserver_last_duration_seconds",
        "clockserver_consecutive_failures",
        "clockserver_next_run_timestamp_seconds",
        "clockserver_overdue",
        "clockserver_runs",
    }
    assert families["clockserver_runs"].type == "counter"
    assert families["clockserver_overdue"].type == "gauge"
    good = part.record("good")
    assert (
        sample(families, "clockserver_runs", name="good", part="clock", result="ok")
        == good["totals"]["ok"]
    )
    assert sample(families, "clockserver_consecutive_failures", name="bad") >= 2
    assert sample(families, "clockserver_overdue", name="good") == 0
    assert (
        sample(families, "clockserver_last_success_timestamp_seconds", name="good")
        == good["last_success"]["start"]
    )
    assert not [
        s
        for s in families["clockserver_last_success_timestamp_seconds"].samples
        if s.labels["name"] == "bad"
    ]
    failed_before = sample(families, "clockserver_runs", name="bad", result="failed")

    # A restart never takes a counter down.
    process = part.start()
    wait_for(
        lambda: part.record("bad")["totals"]["failed"] > failed_before, "more runs"
    )
    part.stop(process)
    families = parse_metrics(metrics)
    assert (
        sample(families, "clockserver_runs", name="bad", result="failed")
        > failed_before
    )
    assert SECRET not in open(metrics).read()


def test_metrics_rewritten_by_fire_and_exec(server, part_factory, tmp_path):
    metrics = str(tmp_path / "clock.prom")
    part = part_factory(
        server.address,
        [{"name": "j", "method": "/j", "period": 60}],
        entries=[{"name": "backup", "times": "0 3 * * *"}],
        **{"metrics-file": metrics},
    )
    assert part.run("fire", "j").returncode == 0
    assert (
        sample(parse_metrics(metrics), "clockserver_runs", name="j", result="ok") == 1
    )
    assert part.run("exec", "backup", "--", "false").returncode == 1
    families = parse_metrics(metrics)
    assert sample(families, "clockserver_runs", name="backup", result="failed") == 1
    assert sample(families, "clockserver_consecutive_failures", name="backup") == 1


# -- pings -------------------------------------------------------------------------


def pinged(server):
    """The paths pinged, in order (the run id's ``rid=`` left out)."""
    return [
        urlsplit(path).path for _, path in server.requests if path.startswith("/ping/")
    ]


def ping_requests(server):
    """The pings as the server saw them: (method, path, rid, body)."""
    return [
        (
            seen["method"],
            urlsplit(seen["path"]).path,
            parse_qs(urlsplit(seen["path"]).query).get("rid", [None])[0],
            seen["body"],
        )
        for seen in server.seen
        if seen["path"].startswith("/ping/")
    ]


def test_pings_in_order_and_none_for_a_skip(server, part_factory):
    pings = {
        "good": server.address + "/ping/aaa-good",
        "bad": server.address + "/ping/bbb-bad",
        "backup": server.address + "/ping/ccc-backup",
    }
    part = part_factory(
        server.address,
        [
            {"name": "good", "method": "/good", "period": 60},
            {"name": "bad", "method": "/bad?code=500", "period": 60},
        ],
        entries=[{"name": "backup", "times": "0 3 * * *"}],
        pings=pings,
    )
    assert part.run("fire", "good").returncode == 0
    assert pinged(server) == ["/ping/aaa-good/start", "/ping/aaa-good"]
    # healthchecks' protocol: POSTs, one run id for the run's pings, the
    # final ping's body the run's reason.
    (m1, _, rid1, body1), (m2, _, rid2, body2) = ping_requests(server)
    assert (m1, m2) == ("POST", "POST")
    assert rid1 == rid2 and len(rid1) == 36, (rid1, rid2)
    assert body1 == b"" and body2.startswith(b"200 OK"), body2
    del server.requests[:]
    del server.seen[:]
    assert part.run("fire", "bad").returncode == 1
    assert pinged(server) == ["/ping/bbb-bad/start", "/ping/bbb-bad/fail"]
    assert ping_requests(server)[1][3].startswith(b"500"), ping_requests(server)
    del server.requests[:]
    del server.seen[:]
    # exec: the exit status is the final ping; the body ends with the output.
    assert (
        part.run("exec", "backup", "--", "sh", "-c", "echo dumped; exit 4").returncode
        == 4
    )
    assert pinged(server) == ["/ping/ccc-backup/start", "/ping/ccc-backup/4"]
    body = ping_requests(server)[1][3]
    assert body.endswith(b"dumped\n"), body

    # A skipped run pings nothing.
    del server.requests[:]
    go = os.path.join(part.state, "go")  # the first run lasts until this exists
    sleeper = subprocess.Popen(
        part.command(
            "exec",
            "backup",
            "--",
            "sh",
            "-c",
            'while [ ! -e "$0" ]; do sleep 0.05; done',
            go,
        )
    )
    part.processes.append(sleeper)
    wait_for(lambda: part.record("backup")["running"], "the running entry")
    assert part.run("exec", "backup", "--", "true").returncode == 75
    open(go, "w").close()
    assert sleeper.wait(30) == 0
    assert pinged(server) == ["/ping/ccc-backup/start", "/ping/ccc-backup/0"]


def test_pings_by_the_clock(server, part_factory):
    pings = {"tick": server.address + "/ping/ddd-tick"}
    part = part_factory(
        server.address, [{"name": "tick", "method": "/tick", "period": 1}], pings=pings
    )
    process = part.start()
    wait_for(lambda: "/ping/ddd-tick" in pinged(server), "a success ping")
    part.stop(process)
    seen = pinged(server)
    assert seen[0] == "/ping/ddd-tick/start"
    assert seen.index("/ping/ddd-tick/start") < seen.index("/ping/ddd-tick")


def test_a_failing_ping_is_logged_and_harmless(server, part_factory):
    dead = "http://127.0.0.1:%d/ping/eee-secret-uuid" % closed_port()
    part = part_factory(
        server.address, [{"name": "j", "method": "/j", "period": 60}], pings={"j": dead}
    )
    result = part.run("fire", "j")
    assert result.returncode == 0
    assert "the start ping failed" in result.stderr
    assert "the success ping failed" in result.stderr
    assert "eee-secret-uuid" not in result.stderr
    assert runs(part, "j", "ok")
    for name in os.listdir(part.state):
        with open(os.path.join(part.state, name), "rb") as f:
            assert b"eee-secret-uuid" not in f.read()


# -- exec ----------------------------------------------------------------------------


def test_exec_records_output_exit_status_and_masks_secrets(part_factory):
    part = part_factory(
        "http://127.0.0.1:1",
        [{"name": "j", "method": "/j", "period": 60}],
        entries=[{"name": "backup", "times": "0 3 * * *"}],
    )
    script = "echo first; echo %s; echo oops >&2; exit 3" % SECRET
    result = part.run("exec", "backup", "--", "sh", "-c", script)
    assert result.returncode == 3
    assert result.stdout == "first\n%s\n" % SECRET  # passed through unchanged
    assert result.stderr == "oops\n"
    [run] = runs(part, "backup")
    assert run["result"] == "failed" and run["exit_status"] == 3
    assert run["reason"] == "exit status 3"
    assert "first" in run["output"] and "oops" in run["output"]
    assert SECRET not in run["output"] and "*****" in run["output"]


def test_exec_keeps_at_most_2kb_of_output(part_factory):
    part = part_factory(
        "http://127.0.0.1:1", [], entries=[{"name": "big", "times": "* * * * *"}]
    )
    result = part.run(
        "exec",
        "big",
        "--",
        sys.executable,
        "-c",
        "for i in range(2000): print('line %d' % i)",
    )
    assert result.returncode == 0
    assert result.stdout.count("\n") == 2000
    [run] = runs(part, "big")
    assert len(run["output"].encode()) <= 2048
    assert run["output"].rstrip().endswith("line 1999")
    assert run["output"].startswith("line ")


def test_exec_of_a_missing_program(part_factory):
    part = part_factory(
        "http://127.0.0.1:1", [], entries=[{"name": "gone", "times": "@daily"}]
    )
    result = part.run("exec", "gone", "--", "/no/such/program")
    assert result.returncode == 127
    assert "cannot run '/no/such/program'" in result.stderr
    [run] = runs(part, "gone")
    assert run["result"] == "failed" and run["exit_status"] == 127


def test_exec_killed_and_interrupted(part_factory):
    part = part_factory(
        "http://127.0.0.1:1", [], entries=[{"name": "long", "times": "@daily"}]
    )
    # SIGTERM is passed on to the command; the run is recorded.
    process = subprocess.Popen(part.command("exec", "long", "--", "sleep", "30"))
    part.processes.append(process)
    wait_for(lambda: part.record("long") and part.record("long")["running"], "the run")
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 128 + signal.SIGTERM
    [run] = runs(part, "long")
    assert run["result"] == "failed" and run["reason"] == "killed by SIGTERM"
    # SIGKILL leaves no time to record: the run shows as interrupted.
    process = subprocess.Popen(part.command("exec", "long", "--", "sleep", "30"))
    part.processes.append(process)
    wait_for(lambda: part.record("long")["running"], "the second run")
    process.kill()
    process.wait(30)
    last = runs(part, "long")[-1]
    assert last["result"] == "failed" and last["reason"] == "interrupted"


def test_exec_stopped_before_its_command_started(tmp_path):
    """A SIGTERM between the recorded begin and the command's start: the
    command does not start, the run ends as killed by SIGTERM."""
    from collective.recipe.clockserver.runner import execute

    marker = tmp_path / "ran"
    with execute.Forwarding() as forwarding:
        os.kill(os.getpid(), signal.SIGTERM)  # caught, kept for the command
        done = execute.run(["touch", str(marker)], "clock", "long", forwarding)
    assert (done.status, done.reason, done.output) == (143, "killed by SIGTERM", b"")
    assert not marker.exists()


def test_many_concurrent_fire_and_exec_lose_no_record(server, part_factory):
    names = ["a", "b", "c"]
    part = part_factory(
        server.address,
        [{"name": "f", "method": "/f", "period": 60}],
        entries=[{"name": n, "times": "* * * * *"} for n in names],
    )
    commands = []
    for i in range(24):
        name = names[i % 3]
        commands.append(
            (name, part.command("exec", name, "--", "sh", "-c", "sleep 0.05"))
        )
    for _ in range(8):
        commands.append(("f", part.command("fire", "f")))
    processes = [
        (name, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for name, cmd in commands
    ]
    codes = {}
    for name, process in processes:
        process.wait(120)
        assert process.returncode in (0, 75), process.stderr.read()
        codes.setdefault(name, []).append(process.returncode)
    for name, got in codes.items():
        record = part.record(name)
        totals = record["totals"]
        # Every process left exactly one record: a run, or a skip for overlap.
        assert totals["ok"] == got.count(0), (name, totals, got)
        assert totals["skipped"] == got.count(75), (name, totals, got)
        assert totals["failed"] == 0
        assert record["running"] == []
    print(
        "concurrent processes:",
        len(processes),
        "skipped for overlap:",
        sum(c.count(75) for c in codes.values()),
    )


def test_run_rewrites_metrics_even_when_nothing_runs(server, tmp_path, monkeypatch):
    """In-process, with the minute shortened: the file is replaced again
    and again although no job is due."""
    import logging

    from collective.recipe.clockserver.runner import recording
    from collective.recipe.clockserver.runner.config import parse_config

    metrics = str(tmp_path / "clock.prom")
    config = parse_config(
        {
            "part": "clock",
            "address": server.address,
            "state-directory": str(tmp_path / "state"),
            "metrics-file": metrics,
            "jobs": [{"name": "weekly", "method": "/w", "period": 604800}],
        }
    )
    monkeypatch.setattr(recording, "METRICS_EVERY", 0.2)
    monkeypatch.setattr(recording, "METRICS_GAP", 0.0)
    recorder = recording.ClockRecorder(config, logging.getLogger("test"))
    recorder.start()
    try:
        seen = set()
        wait_for(
            lambda: seen.add(os.stat(metrics).st_ino) or len(seen) >= 3,
            "three rewrites",
            timeout=20,
        )
    finally:
        recorder.stop()
    families = parse_metrics(metrics)
    assert sample(families, "clockserver_overdue", name="weekly") == 0
    assert sample(families, "clockserver_runs", name="weekly", result="ok") == 0


def test_sighup_reload_records_added_jobs(server, part_factory):
    part = part_factory(server.address, [{"name": "a", "method": "/a", "period": 1}])
    process = part.start()
    wait_for(lambda: runs(part, "a", "ok"), "a run of a")
    with open(part.config) as f:
        data = json.load(f)
    data["jobs"].append(dict(data["jobs"][0], name="b", method="/b"))
    data["pings"] = {"b": server.address + "/ping/fff-b"}
    with open(part.config, "w") as f:
        json.dump(data, f)
    process.send_signal(signal.SIGHUP)
    wait_for(lambda: runs(part, "b", "ok"), "a run of the added job")
    wait_for(lambda: "/ping/fff-b" in pinged(server), "its ping")
    part.stop(process)
    assert part.record("b")["first_seen"] <= runs(part, "b", "ok")[0]["start"]


def test_a_fifo_in_place_of_the_store_does_not_hang(server, part_factory):
    part = part_factory(server.address, [{"name": "j", "method": "/j", "period": 60}])
    make_store(part.state)
    os.remove(os.path.join(part.state, "clock.sqlite"))
    os.mkfifo(os.path.join(part.state, "clock.sqlite"))
    result = part.run("status", timeout=30)
    assert result.returncode == 3
    assert "not a regular file" in result.stdout
    # Not trusted, never moved: the job still runs, unrecorded, one line.
    fired = part.run("fire", "j", timeout=30)
    assert fired.returncode == 0
    assert len(fired.stderr.strip().splitlines()) == 1
    assert "not a regular file" in fired.stderr and "still run" in fired.stderr
    assert any(" /j " in seen["requestline"] for seen in server.seen)


# -- the cluster lock for cron-started fire/exec -----------------------------------------


def test_cron_started_exec_and_fire_claim_their_tick(
    server, part_factory, zeo_server, tmp_path
):
    from collective.recipe.clockserver.runner.locks import claim_once

    lock = {"url": zeo_server.url(), "namespace": "records-%d" % os.getpid()}
    marker = tmp_path / "ran"
    part = part_factory(
        server.address,
        [{"name": "f", "method": "/claimed", "period": 60, "times": "* * * * *"}],
        backend="cron",
        lock=lock,
        entries=[{"name": "backup", "times": "* * * * *"}],
    )
    # Another host has this minute's tick of both names, and the next
    # minute's, should the processes below start in it (no waiting for a
    # minute boundary).
    now = int(time.time()) // 60 * 60
    for due in (now, now + 60):
        assert claim_once(lock, "backup", due, 60, host="web9") == (None, None)
        assert claim_once(lock, "f", due, 60, host="web9") == (None, None)
    result = part.run("exec", "--scheduled", "backup", "--", "touch", str(marker))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert not marker.exists()
    [run] = runs(part, "backup")
    assert (run["result"], run["reason"]) == ("skipped", "claimed by web9")
    assert run["due"] in (now, now + 60)
    result = part.run("fire", "--scheduled", "f")
    assert (result.returncode, result.stderr) == (0, "")
    assert not [p for _, p in server.requests if p == "/claimed"]
    assert runs(part, "f")[0]["reason"] == "claimed by web9"
    # By hand: no claim, the command runs.
    assert part.run("exec", "backup", "--", "touch", str(marker)).returncode == 0
    assert marker.exists()
    # Claimed by another host counts as served: nothing is overdue or failing.
    assert part.status().returncode == 0


def test_cron_started_exec_with_the_lock_service_down(part_factory, tmp_path):
    from lockservices import free_port

    marker = tmp_path / "ran"
    part = part_factory(
        "http://127.0.0.1:1",
        [],
        lock={"url": "zeo://127.0.0.1:%d/1" % free_port()},
        entries=[{"name": "backup", "times": "* * * * *"}],
    )
    result = part.run("exec", "--scheduled", "backup", "--", "touch", str(marker))
    assert result.returncode == 75
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "lock service is unreachable" in lines[0]
    assert not marker.exists()
    [run] = runs(part, "backup")
    assert (run["result"], run["reason"]) == ("skipped", "lock service unreachable")
    status = part.status()
    assert (
        status.returncode == 1
        and "backup: failing: lock service unreachable" in status.stdout
    )
