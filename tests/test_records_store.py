"""The records store's hard cases through a real bin/<part>: JSON records
taken over, a damaged or locked store, an untrusted state directory (as a
real other user), runs in progress, labels, and processes that record at
the same moment.  No test asserts a timing."""

import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import threading
import time

import pytest

from collective.recipe.clockserver.runner.records import Records
from runnerparts import Part, make_store, wait_for

JOB = [{"name": "j", "method": "/j", "period": 60}]


def calls(server, path="/j"):
    return sum(1 for seen in server.seen if f" {path} " in seen["requestline"])


def store_of(part):
    return os.path.join(part.state, "clock.sqlite")


def break_store(part):
    for suffix in ("-wal", "-shm"):
        if os.path.exists(store_of(part) + suffix):
            os.remove(store_of(part) + suffix)
    with open(store_of(part), "r+b") as f:
        f.write(b"\0garbage, not sqlite" * 50)


def old_record(name, ok):
    run = {
        "due": 1e9,
        "start": 1e9,
        "duration": 0.5,
        "result": "ok",
        "reason": "200 OK",
        "http_status": 200,
        "exit_status": None,
        "host": "old",
        "by": "run",
        "scheduled": True,
        "catch_up": False,
        "output": None,
    }
    return {
        "name": name,
        "first_seen": 1e9 - 60,
        "runs": [run],
        "last_success": run,
        "consecutive_failures": 0,
        "totals": {"ok": ok, "failed": 2, "skipped": 1},
        "running": [],
    }


# -- take-over -------------------------------------------------------------------------


def test_json_records_taken_over_once_and_counters_never_go_down(server, part_factory):
    part = part_factory(
        server.address, JOB + [{"name": "k", "method": "/k", "period": 60}]
    )
    os.makedirs(part.state, mode=0o700)
    with open(os.path.join(part.state, "j.json"), "w") as f:
        json.dump(old_record("j", 7), f)
    with open(os.path.join(part.state, "k.json"), "w") as f:
        f.write('{"runs": [')  # hand-edited, cut off
    fired = part.run("fire", "j")
    assert fired.returncode == 0
    [line] = fired.stderr.strip().splitlines()
    assert "k.json" in line and "starts afresh" in line and "Traceback" not in line
    assert part.record("j")["totals"] == {"ok": 8, "failed": 2, "skipped": 1}
    assert part.record("j")["first_seen"] == 1e9 - 60
    assert os.path.exists(os.path.join(part.state, "k.json"))  # stays where it is
    assert not os.path.exists(os.path.join(part.state, "j.json"))
    # Once: a later run neither takes it again nor logs again.
    fired = part.run("fire", "j")
    assert fired.returncode == 0 and fired.stderr == ""
    assert part.record("j")["totals"]["ok"] == 9
    assert part.record("k") is None


# -- damage and locks: jobs are never kept from running --------------------------------


def start_run(part, server):
    before = calls(server)
    process = part.start()
    wait_for(lambda: calls(server) > before, "a call by run")
    out = part.stop(process)
    return out


@pytest.mark.parametrize("how", ["fire", "exec", "run"])
def test_a_damaged_store_never_keeps_a_job_from_running(server, part_factory, how):
    part = part_factory(server.address, [{"name": "j", "method": "/j", "period": 1}])
    assert part.run("exec", "e", "--", "true").returncode == 0  # the store exists
    break_store(part)
    if how == "fire":
        result = part.run("fire", "j")
        assert result.returncode == 0 and calls(server) == 1
        out = result.stderr
    elif how == "exec":
        result = part.run("exec", "e", "--", "sh", "-c", "echo ran")
        assert result.returncode == 0 and result.stdout == "ran\n"
        out = result.stderr
    else:
        out = start_run(part, server)
    assert out.count("moved to") == 1 and "Traceback" not in out
    status = part.status()
    assert status.returncode == 3 and "clock.sqlite.damaged-" in status.stdout


def test_a_store_locked_by_a_stopped_process_drops_the_record_not_the_run(
    server, part_factory
):
    part = part_factory(server.address, JOB)
    assert part.run("fire", "j").returncode == 0
    holder = sqlite3.connect(store_of(part), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # as a process stopped with SIGSTOP holds it
    try:
        result = part.run("fire", "j", timeout=120)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 0 and calls(server) == 2
    assert "stayed locked" in result.stderr and "Traceback" not in result.stderr
    assert part.record("j")["totals"]["ok"] == 1  # that run was not recorded


def test_status_of_an_unreadable_store_is_unknown_not_a_traceback(part_factory):
    part = part_factory("http://127.0.0.1:1", JOB)
    make_store(part.state)
    os.remove(store_of(part))
    os.mkdir(store_of(part))  # a directory in the store's place
    result = part.status()
    assert result.returncode == 3 and result.stdout.startswith("CLOCK UNKNOWN - ")
    assert "Traceback" not in result.stdout + result.stderr


# -- trust -------------------------------------------------------------------------------


def test_a_symlinked_state_directory_is_refused_and_the_job_still_runs(
    server, part_factory, tmp_path
):
    part = part_factory(server.address, [{"name": "j", "method": "/j", "period": 1}])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    os.makedirs(os.path.dirname(part.state))
    os.symlink(elsewhere, part.state)
    for args in (("fire", "j"), ("exec", "j", "--", "true")):
        result = part.run(*args)
        assert result.returncode == 0
        [line] = result.stderr.strip().splitlines()
        assert "is a symlink" in line and "still run" in line
    assert calls(server) == 1
    out = start_run(part, server)  # run too: its calls go on, one line said
    assert calls(server) >= 2 and out.count("is a symlink") == 1, out
    assert os.listdir(elsewhere) == []  # nothing created through it
    result = part.status()
    assert result.returncode == 3 and "is a symlink" in result.stdout


@pytest.mark.parametrize("target", ["", "-wal", "-shm"])
def test_a_symlink_in_place_of_a_store_file_is_never_followed(
    server, part_factory, tmp_path, target
):
    part = part_factory(server.address, JOB)
    make_store(part.state)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(store_of(part) + suffix):
            os.remove(store_of(part) + suffix)
    if not target:
        os.remove(store_of(part))
    victim = tmp_path / "victim"
    os.symlink(victim, store_of(part) + target)
    result = part.run("fire", "j")
    assert result.returncode == 0 and calls(server) == 1
    assert "is a symlink" in result.stderr
    assert not victim.exists()


def test_a_group_writable_state_directory_is_refused(server, part_factory):
    part = part_factory(server.address, JOB)
    make_store(part.state)
    assert oct(os.stat(part.state).st_mode & 0o777) == oct(0o700)
    os.chmod(part.state, 0o770)
    result = part.run("fire", "j")
    assert result.returncode == 0 and calls(server) == 1
    assert "writable by group or others" in result.stderr
    assert part.status().returncode == 3


def other_user():
    """A real user that is not us, made for the attacker's side (root only)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    for name in ("clockzope", "clockattacker"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    if not shutil.which("useradd"):
        pytest.skip("no useradd")
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/bin/false",
            "clockattacker",
        ],
        check=True,
    )
    return pwd.getpwnam("clockattacker")


def as_user(user, code):
    """Run Python ``code`` as ``user`` (a real process of that user)."""

    def drop():
        os.setgid(user.pw_gid)
        os.setgroups([])
        os.setuid(user.pw_uid)

    return subprocess.run(
        ["python3", "-c", code],
        preexec_fn=drop,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_another_users_state_directory_is_refused_never_followed_never_trusted(server):
    attacker = other_user()
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="clock-trust-"))
    os.chmod(base, 0o755)
    part = Part(base, server.address, JOB)
    try:
        assert part.run("fire", "j").returncode == 0
        os.chmod(os.path.dirname(part.state), 0o755)
        # The less trusted user (often the daemon user) owns var/<part> ...
        os.chown(part.state, attacker.pw_uid, attacker.pw_gid)
        for name in os.listdir(part.state):
            os.chown(os.path.join(part.state, name), attacker.pw_uid, attacker.pw_gid)
        victim = base / "root-owned"
        victim.mkdir(mode=0o755)
        # ... forges a success that never happened, and plants a symlink
        # where root would create a file.
        forged = as_user(
            attacker,
            (
                "import sqlite3, os\n"
                f"c = sqlite3.connect({store_of(part)!r}, isolation_level=None)\n"
                "c.execute('UPDATE names SET ok = 99, consecutive_failures = 0')\n"
                "c.close()\n"
                f"p = {store_of(part) + '-wal'!r}\n"
                "os.path.lexists(p) and os.remove(p)\n"
                f"os.symlink({str(victim / 'planted')!r}, p)\n"
            ),
        )
        assert forged.returncode == 0, forged.stderr
        result = part.run("fire", "j")  # as root
        assert result.returncode == 0 and calls(server) == 2
        [line] = result.stderr.strip().splitlines()
        assert f"owned by uid {attacker.pw_uid}" in line
        assert os.listdir(victim) == []
        status = part.status()
        assert status.returncode == 3 and "owned by uid" in status.stdout  # not OK
        # Its files in our own directory are refused too.
        os.chown(part.state, 0, 0)
        result = part.run("fire", "j")
        assert result.returncode == 0 and calls(server) == 3
        assert f"owned by uid {attacker.pw_uid}" in result.stderr
        assert os.listdir(victim) == []
    finally:
        part.cleanup()
        shutil.rmtree(base)


# -- status: running, labels, history --------------------------------------------------


def hourly_tick():
    """The top of this hour, at least 5 s ago (an hourly job's tick)."""
    now = time.time()
    if now % 3600 < 5:
        time.sleep(5 - now % 3600)
        now = time.time()
    return now - now % 3600


@pytest.mark.parametrize(
    "late, due, by, scheduled, state, code",
    [
        # On time (this test process is the run's process: it is alive).
        pytest.param(0.5, True, "run", True, "running", 0, id="on-time-running"),
        pytest.param(3, False, "fire", False, "overdue", 2, id="late-overdue"),
    ],
)
def test_a_run_in_progress_is_running_if_it_started_on_time_else_overdue(
    part_factory, late, due, by, scheduled, state, code
):
    """A run in progress that started on time serves its tick (running);
    one that started late, after grace, does not (overdue)."""
    part = part_factory(
        "http://127.0.0.1:1",
        [{"name": "backup", "method": "/b", "period": 3600, "grace": 1}],
    )
    tick = hourly_tick()
    records = Records(part.state, now=lambda: tick - 7200)
    records.seen(["backup"])
    records.finish(
        "backup", None, "ok", 1.0, by="run", start=tick - 3600, scheduled=True
    )
    Records(part.state, now=lambda: tick + late).begin(
        "backup", tick if due else None, by, scheduled
    )
    names, found = part.states()
    assert names["backup"]["state"] == state and found == code


def test_status_name_labels_each_kind_of_run_and_shows_durations(server, part_factory):
    part = part_factory(server.address, [{"name": "j", "method": "/j", "period": 1}])
    assert part.run("fire", "j").returncode == 0
    assert part.run("fire", "--scheduled", "j").returncode == 0
    assert part.run("exec", "j", "--", "printf", "\\033[2J\\a|done\\n").returncode == 0
    assert part.run("exec", "--scheduled", "j", "--", "true").returncode == 0
    process = part.start()
    wait_for(lambda: len(part.record("j")["runs"]) >= 5, "a run by the clock")
    part.stop(process)
    out = part.status("j").stdout
    for label in ("fire (by hand)", "fire (cron)", "exec (by hand)", "exec (cron)"):
        assert label in out, out
    assert "  run  " in out and "run (cron)" not in out
    assert "duration p50 " in out and ", max " in out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J\\x07/done" in out


def test_status_name_shows_more_than_twenty_runs(part_factory):
    part = part_factory("http://127.0.0.1:1", JOB)
    records = Records(part.state)
    for number in range(30):
        records.finish("j", None, "ok", number / 10, by="fire", start=time.time() - 100)
    out = part.status("j").stdout
    assert "30 run(s) kept" in out
    assert "duration p50 1.400s, max 2.900s" in out


def test_runs_kept_for_90_days_and_never_fewer_than_20(tmp_path):
    day = 86400
    clock = [0.0]
    records = Records(str(tmp_path / "clock"), now=lambda: clock[0])
    for number in range(300):
        clock[0] = number * day
        records.finish("j", None, "ok", 0.1, by="run", start=clock[0])
    runs = records.read("j")["runs"]
    assert 90 <= len(runs) < 90 + 64 + 1  # pruned every 64 runs
    assert min(run["start"] for run in runs) >= (299 - 90 - 64) * day
    assert records.read("j")["totals"]["ok"] == 300
    for number in range(300, 330):  # a name that runs every 100 days keeps 20
        clock[0] = number * 100 * day
        records.finish("k", None, "ok", 0.1, by="run", start=clock[0])
    assert len(records.read("k")["runs"]) >= 20


# -- processes that record at the same moment ------------------------------------------


def test_forty_cron_started_execs_and_run_lose_no_record(server, part_factory):
    part = part_factory(
        server.address,
        [{"name": "j", "method": "/j", "period": 1}],
        entries=[{"name": f"e{n}", "times": "* * * * *"} for n in range(40)],
    )
    process = part.start()
    wait_for(lambda: calls(server) >= 1, "the clock")
    go = threading.Event()
    results = []

    def one(number):
        go.wait()
        results.append(
            part.run(
                "exec", "--scheduled", f"e{number}", "--", "true", timeout=120
            ).returncode
        )

    threads = [threading.Thread(target=one, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(180)
    out = part.stop(process)
    assert results == [0] * 40
    assert "cannot record" not in out
    for number in range(40):
        assert part.record(f"e{number}")["totals"]["ok"] == 1
    clock_runs = part.record("j")["totals"]  # a call cut by SIGTERM: interrupted
    assert clock_runs["ok"] <= calls(server) <= clock_runs["ok"] + clock_runs["failed"]


def test_ends_held_back_by_run_are_written_with_the_next_transaction(tmp_path):
    records = Records(str(tmp_path / "clock"), durable=False)
    token, _ = records.begin("j", 1, "run", True)
    records.finish("j", token, "ok", 0.1, by="run", later=True)
    other = Records(str(tmp_path / "clock"))  # another process's view
    assert other.read("j")["running"] and not other.read("j")["runs"]
    # The next begin of the same name is no overlap: the end goes first.
    token, skip = records.begin("j", 2, "run", True)
    assert skip is None
    assert [run["result"] for run in other.read("j")["runs"]] == ["ok"]
    records.finish("j", token, "failed", 0.1, by="run", later=True)
    records.flush()
    assert other.read("j")["totals"] == {"ok": 1, "failed": 1, "skipped": 0}
    assert other.read("j")["running"] == []


def test_ends_held_back_are_dropped_not_piled_up_when_the_store_is_refused(tmp_path):
    records = Records(str(tmp_path / "clock"), durable=False)
    records.make()
    os.chmod(tmp_path / "clock", 0o777)
    for number in range(50):
        records.finish("j", None, "ok", 0.1, by="run", start=number, later=True)
    with pytest.raises(Exception, match="writable by group or others"):
        records.flush()
    assert records._later == []
    os.chmod(tmp_path / "clock", 0o700)
    records.finish("j", None, "ok", 0.1, by="run", start=60, later=True)
    records.flush()
    assert records.read("j")["totals"]["ok"] == 1


# -- the attempts of each run (a column added to older stores) -------------------------

OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE names (
    name TEXT PRIMARY KEY, first_seen REAL NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    ok INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0, last_success TEXT);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, due REAL, start REAL,
    duration REAL, result TEXT NOT NULL, reason TEXT, http_status INTEGER,
    exit_status INTEGER, host TEXT, by TEXT, scheduled INTEGER NOT NULL DEFAULT 0,
    catch_up INTEGER NOT NULL DEFAULT 0, output TEXT);
CREATE INDEX runs_by_name ON runs (name, id);
CREATE TABLE running (
    token TEXT PRIMARY KEY, name TEXT NOT NULL, host TEXT, pid INTEGER,
    pid_start INTEGER, boot TEXT, due REAL, start REAL, by TEXT,
    scheduled INTEGER NOT NULL DEFAULT 0, catch_up INTEGER NOT NULL DEFAULT 0);
CREATE INDEX running_by_name ON running (name);
INSERT INTO meta VALUES ('version', '1');
INSERT INTO names (name, first_seen, ok) VALUES ('j', 1000, 1);
INSERT INTO runs (name, due, start, duration, result, reason, http_status, host, by)
    VALUES ('j', 1000, 1000, 0.5, 'ok', '200 OK', 200, 'old', 'fire');
"""


def test_a_store_of_version_1_gets_the_attempts_column(server, part_factory):
    part = part_factory(server.address, JOB)
    os.makedirs(part.state, mode=0o700)
    conn = sqlite3.connect(store_of(part))
    conn.executescript(OLD_SCHEMA)
    conn.close()
    os.chmod(store_of(part), 0o600)
    # A reader does not change the store: status reads it as it is.
    [old] = part.record("j")["runs"]
    assert old["attempts"] == 1 and old["host"] == "old"
    assert part.states()[0]["j"]["totals"]["ok"] == 1
    conn = sqlite3.connect(store_of(part))
    assert "attempts" not in [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    conn.close()
    # The first writer adds the column; the old run counts 1 attempt.
    assert part.run("fire", "j").returncode == 0
    conn = sqlite3.connect(store_of(part))
    assert "attempts" in [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    assert conn.execute("SELECT value FROM meta").fetchone() == ("2",)
    conn.close()
    runs = part.record("j")["runs"]
    assert [(run["host"], run["attempts"]) for run in runs][0] == ("old", 1)
    assert runs[-1]["attempts"] == 1 and part.record("j")["totals"]["ok"] == 2


def test_json_records_taken_over_count_one_attempt(part_factory):
    part = part_factory("http://127.0.0.1:1", JOB)
    records = Records(part.state)
    records.put("j", old_record("j", 3))
    [run] = records.read("j")["runs"]
    assert run["attempts"] == 1


def test_read_many_gives_what_read_gives(tmp_path):
    records = Records(str(tmp_path / "clock"))
    records.seen(["a", "b", "c", "d"])
    records.finish("a", None, "ok", 1.0, by="run", start=1, attempts=2)
    records.finish("a", None, "failed", 1.0, by="run", start=2)
    records.skip("a", 3, "claimed by web2", "run")
    records.skip("a", 4, "still running", "run")
    records.finish("b", None, "ok", 1.0, by="fire", start=1)
    records.begin("c", 5, "fire")
    records.finish("d", None, "failed", None, by="run", start=1, reason="x")
    names = ["a", "b", "c", "d", "never"]
    for runs in (1, None):
        assert records.read_many(names, runs) == {
            name: records.read(name, runs) for name in names
        }


def test_a_call_in_flight_across_a_reload_ends_and_frees_its_name(tmp_path):
    """run's begins are written in batches: a SIGHUP while a call is in
    flight hands it to the new config's records, which end it and free
    the name for the next tick."""
    import logging

    from collective.recipe.clockserver.runner.call import Outcome
    from collective.recipe.clockserver.runner.clock import no_claim
    from collective.recipe.clockserver.runner.config import parse_config
    from collective.recipe.clockserver.runner.recording import ClockRecorder

    config = parse_config(
        {
            "part": "clock",
            "address": "http://127.0.0.1:1",
            "state-directory": str(tmp_path / "state"),
            "jobs": [{"name": "j", "method": "/j", "period": 60}],
        }
    )
    recorder = ClockRecorder(config, logging.getLogger("test-reload"))
    [job] = config.jobs
    gate = recorder.gate(no_claim)
    assert gate(job, 60.0) is None
    recorder.started(job, 60.0)
    assert gate(job, 120.0) == "still running"  # the call of 60 goes on
    recorder.reloaded(config)
    recorder.finished(job, 60.0, Outcome(0.1, 200, "OK"))
    assert gate(job, 120.0) is None
    recorder.started(job, 120.0)
    recorder.finished(job, 120.0, Outcome(0.1, 200, "OK"))
    recorder.runs.flush()
    runs = Records(config.state_directory, part="clock").read("j")
    assert [(run["due"], run["result"]) for run in runs["runs"]] == [
        (60.0, "ok"),
        (120.0, "ok"),
    ]
    assert runs["running"] == []


def test_the_clock_byte_follows_run_to_a_new_store_and_goes_at_stop(tmp_path):
    """run holds its store's clock byte (status allows for its batched
    records while it is held); a SIGHUP to another state directory moves
    it there, and stopping lets it go."""
    import logging

    from collective.recipe.clockserver.runner.config import parse_config
    from collective.recipe.clockserver.runner.recording import ClockRecorder

    def config(state):
        return parse_config(
            {
                "part": "clock",
                "address": "http://127.0.0.1:1",
                "state-directory": str(tmp_path / state),
                "jobs": [{"name": "j", "method": "/j", "period": 60}],
            }
        )

    def held(state):
        records = Records(str(tmp_path / state), part="clock")
        try:
            return records.clock_running()
        finally:
            records.close()

    recorder = ClockRecorder(config("one"), logging.getLogger("test-clock-byte"))
    recorder.start()
    try:
        assert held("one")
        recorder.reloaded(config("one"))  # the same store: still held
        assert held("one")
        recorder.reloaded(config("two"))
        assert held("two") and not held("one")
    finally:
        recorder.stop()
    assert not held("two")


def test_fire_and_exec_by_hand_skip_while_run_calls_the_name(server, part_factory):
    """run writes nothing when a call begins: fire and exec see the call
    from the name's lock (running.py), and run's next tick sees theirs."""
    part = part_factory(
        server.address, [{"name": "slow", "method": "/slow?sleep=4", "period": 2}]
    )
    process = part.start()
    wait_for(lambda: calls(server, "/slow?sleep=4") >= 1, "run's call")
    fired = part.run("fire", "slow")
    executed = part.run("exec", "slow", "--", "true")
    out = part.stop(process)
    assert fired.returncode == 75, fired.stderr
    assert fired.stderr.strip().endswith("skipped, the previous run is still running")
    assert executed.returncode == 75, executed.stderr
    skips = [
        run["by"]
        for run in part.record("slow")["runs"]
        if run["result"] == "skipped" and run["reason"] == "still running"
    ]
    assert "fire" in skips and "exec" in skips, (skips, out)


def test_run_skips_its_ticks_while_a_fire_by_hand_calls_the_name(server, part_factory):
    part = part_factory(
        server.address, [{"name": "slow", "method": "/slow?sleep=4", "period": 1}]
    )
    fire = subprocess.Popen(part.command("fire", "slow"))
    part.processes.append(fire)
    wait_for(lambda: calls(server, "/slow?sleep=4") >= 1, "the fire's call")
    process = part.start()
    wait_for(
        lambda: any(
            run["by"] == "run" and run["reason"] == "still running"
            for run in (part.record("slow") or {"runs": []})["runs"]
        ),
        "a tick of run skipped",
    )
    part.stop(process)
    assert fire.wait(30) == 0


def test_a_call_of_run_killed_shows_running_then_interrupted(server, part_factory):
    """The row of a call of run is written once the call went on for a
    second: status shows it running, and after a SIGKILL interrupted."""
    part = part_factory(
        server.address,
        [{"name": "slow", "method": "/slow?sleep=30", "period": 2, "grace": 60}],
    )
    os.makedirs(part.state, mode=0o700)
    Records(part.state).seen(["slow"])
    process = part.start()
    wait_for(lambda: calls(server, "/slow?sleep=30") >= 1, "run's call")
    wait_for(lambda: part.record("slow")["running"], "the row of the call in progress")
    assert part.states()[0]["slow"]["state"] == "running"
    process.kill()
    process.wait(10)
    [run] = [r for r in part.record("slow")["runs"] if r["result"] != "skipped"]
    assert run["result"] == "failed" and run["reason"] == "interrupted"
    assert run["by"] == "run" and run["due"] % 2 == 0
