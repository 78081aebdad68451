"""States, the plugin line, the table and the metrics text from records
written through the Records API, at chosen moments (no waiting)."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collective.recipe.clockserver.runner import crontimes, metrics, status, statusview
from collective.recipe.clockserver.runner.config import parse_config
from collective.recipe.clockserver.runner.records import Records

HOUR = 3600
T0 = 1_800_000_000 - 1_800_000_000 % 86400  # a UTC midnight


def config(tmp_path, jobs=(), entries=(), backend="runner", **extra):
    data = {
        "part": "clock",
        "address": "127.0.0.1:8080",
        "backend": backend,
        "state-directory": str(tmp_path / "state"),
        "jobs": [dict({"method": "/" + j["name"]}, **j) for j in jobs],
        "entries": list(entries),
    }
    data.update(extra)
    return parse_config(data)


def store(tmp_path, **kwargs):
    return Records(str(tmp_path / "state"), part="clock", **kwargs)


def write(tmp_path, name, first_seen, runs=(), running=()):
    """A record with chosen times, imported as the take-over imports one."""
    totals = {"ok": 0, "failed": 0, "skipped": 0}
    record = {
        "name": name,
        "first_seen": first_seen,
        "runs": [],
        "last_success": None,
        "consecutive_failures": 0,
        "totals": totals,
        "running": list(running),
    }
    for start, result, reason in runs:
        run = {
            "due": start,
            "start": start,
            "duration": 0.5,
            "result": result,
            "reason": reason,
            "http_status": 500 if result == "failed" else 200,
            "exit_status": None,
            "host": "h",
            "by": "run",
            "scheduled": True,
            "catch_up": False,
            "output": None,
        }
        record["runs"].append(run)
        totals[result] += 1
        if result == "ok":
            record["last_success"] = run
            record["consecutive_failures"] = 0
        elif result == "failed":
            record["consecutive_failures"] += 1
    store(tmp_path).put(name, record)


def states(cfg, now):
    infos = status.collect(cfg, now=now)
    return {i["name"]: i["state"] for i in infos}, infos


@pytest.fixture
def utc(monkeypatch):
    """Cron schedules are local time: make it UTC for these tests."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_contract_example_line(tmp_path, utc):
    names = ["backup", "feed", "a", "b", "c", "d"]
    cfg = config(
        tmp_path,
        jobs=[{"name": n, "period": HOUR} for n in names[1:]],
        entries=[{"name": "backup", "times": "37 2 * * *"}],
    )
    now = T0 + 3 * 86400 + 10 * HOUR + 60
    write(tmp_path, "backup", T0, [(T0 + 2 * HOUR + 37 * 60, "ok", "exit status 0")])
    write(tmp_path, "feed", T0, [(now - 60, "failed", "500 Internal Server Error")])
    for n in "abcd":
        write(tmp_path, n, T0, [(now - 60, "ok", "200 OK")])
    found, infos = states(cfg, now)
    assert found == {
        "backup": "overdue",
        "feed": "failing",
        "a": "ok",
        "b": "ok",
        "c": "ok",
        "d": "ok",
    }
    assert (
        statusview.plugin_line(infos)
        == "CLOCK CRITICAL - 1 overdue, 1 failing, 4 ok | overdue=1 failing=1 ok=4"
    )
    assert status.exit_status(infos) == 2
    rows = statusview.table(infos)
    assert rows[0].split()[:2] == ["NAME", "SCHEDULE"] and rows[0].endswith("STATE")
    table = {row.split()[0]: row for row in rows[1:]}
    assert list(table) == ["feed", "a", "b", "c", "d", "backup"]  # jobs, then entries
    backup = table["backup"].split()
    assert backup[:8] == [
        "backup",
        "37",
        "2",
        "*",
        "*",
        "*",
        status.table_time(T0 + 2 * HOUR + 37 * 60).split()[0],
        status.table_time(T0 + 2 * HOUR + 37 * 60).split()[1],
    ]
    assert backup[-1] == "overdue"
    assert " 500 " in table["feed"]


def test_waiting_then_overdue_from_first_seen_and_grace(tmp_path):
    cfg = config(tmp_path, jobs=[{"name": "j", "period": HOUR, "grace": 600}])
    write(tmp_path, "j", T0 + 10)
    assert states(cfg, T0 + 20)[0] == {"j": "waiting"}
    assert states(cfg, T0 + HOUR + 599)[0] == {"j": "waiting"}  # within grace
    found, infos = states(cfg, T0 + HOUR + 601)
    assert found == {"j": "overdue"}
    assert "did not run" in infos[0]["reason"]


def test_while_run_goes_on_its_records_may_lag_held_back(tmp_path):
    # run writes the ends of calls (and the rows of calls going on) a little
    # later, in batches; while a run of the part holds the clock byte,
    # status waits HELD_BACK more before it calls a tick missed.
    import subprocess
    import sys

    cfg = config(tmp_path, jobs=[{"name": "j", "period": HOUR, "grace": 600}])
    write(tmp_path, "j", T0 + 10)
    past_grace = T0 + HOUR + 601
    assert states(cfg, past_grace)[0] == {"j": "overdue"}  # no run: no lag
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from collective.recipe.clockserver.runner.records import Records\n"
            "records = Records(sys.argv[1], part='clock')\n"
            "assert records.hold_clock()\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
            str(tmp_path / "state"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        assert status.HELD_BACK > 1
        assert states(cfg, past_grace)[0] == {"j": "waiting"}
        lagging = T0 + HOUR + 600 + status.HELD_BACK + 1
        assert states(cfg, lagging)[0] == {"j": "overdue"}
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    assert states(cfg, past_grace)[0] == {"j": "overdue"}  # the lock went


def test_default_grace_is_one_interval_at_most_an_hour(tmp_path):
    cfg = config(
        tmp_path,
        jobs=[{"name": "quick", "period": 300}, {"name": "daily", "period": 86400}],
    )
    write(tmp_path, "quick", T0 + 1)
    write(tmp_path, "daily", T0 + 1)
    infos = {i["name"]: i for i in status.collect(cfg, now=T0 + 2)}
    assert infos["quick"]["grace"] == 300
    assert infos["daily"]["grace"] == HOUR
    found, _ = states(cfg, T0 + 86400 + HOUR + 1)
    assert found == {"quick": "overdue", "daily": "overdue"}
    found, _ = states(cfg, T0 + 86400 + HOUR - 1)
    assert found["daily"] == "waiting"


def test_part_grace_applies_when_the_job_has_none(tmp_path):
    cfg = config(tmp_path, jobs=[{"name": "j", "period": HOUR}], grace=60)
    write(tmp_path, "j", T0 + 1)
    assert states(cfg, T0 + HOUR + 61)[0] == {"j": "overdue"}


def test_failing_warning_and_three_in_a_row_critical(tmp_path):
    cfg = config(tmp_path, jobs=[{"name": "j", "period": HOUR}])
    now = T0 + 5 * HOUR + 10
    write(
        tmp_path,
        "j",
        T0,
        [
            (T0 + 3 * HOUR, "ok", ""),
            (T0 + 4 * HOUR, "failed", "x"),
            (T0 + 5 * HOUR, "failed", "x"),
        ],
    )
    found, infos = states(cfg, now)
    assert found == {"j": "failing"} and status.exit_status(infos) == 1
    assert statusview.plugin_line(infos) == "CLOCK WARNING - 1 failing | failing=1"
    write(
        tmp_path,
        "j",
        T0,
        [
            (T0 + 3 * HOUR, "failed", "x"),
            (T0 + 4 * HOUR, "failed", "x"),
            (T0 + 5 * HOUR, "failed", "x"),
        ],
    )
    found, infos = states(cfg, now)
    assert found == {"j": "failing"} and infos[0]["consecutive_failures"] == 3
    assert status.exit_status(infos) == 2
    assert statusview.plugin_line(infos).startswith("CLOCK CRITICAL - 1 failing")


@pytest.mark.parametrize(
    "runs, state",
    [
        pytest.param(
            [
                (T0 + 3 * HOUR, "ok", ""),
                (T0 + 4 * HOUR, "skipped", "claimed by web2"),
                (T0 + 5 * HOUR, "skipped", "claimed by web2"),
            ],
            "ok",
            id="claimed-by-another-host-serves",
        ),
        # Overlap skips serve nothing: overdue once the grace passed.
        pytest.param(
            [
                (T0 + 3 * HOUR, "ok", ""),
                (T0 + 4 * HOUR, "skipped", "still running"),
                (T0 + 5 * HOUR, "skipped", "still running"),
            ],
            "overdue",
            id="still-running-serves-nothing",
        ),
        # An unreachable lock service makes it failing.
        pytest.param(
            [
                (T0 + 4 * HOUR, "ok", ""),
                (T0 + 5 * HOUR, "skipped", "lock service unreachable"),
            ],
            "failing",
            id="lock-service-unreachable-fails",
        ),
    ],
)
def test_only_skips_claimed_by_another_host_serve_a_tick(tmp_path, runs, state):
    cfg = config(tmp_path, jobs=[{"name": "j", "period": HOUR}])
    write(tmp_path, "j", T0, runs)
    assert states(cfg, T0 + 5 * HOUR + 10)[0] == {"j": state}


def test_running_and_running_too_long(tmp_path):
    cfg = config(tmp_path, jobs=[{"name": "j", "period": HOUR, "grace": 60}])
    alive = {
        "host": os.uname().nodename,
        "pid": os.getpid(),
        "pid_start": None,
        "boot": None,
        "token": "t",
        "start": T0 + HOUR,
        "due": T0 + HOUR,
        "by": "run",
    }
    import socket

    alive["host"] = socket.gethostname()
    write(tmp_path, "j", T0, [(T0, "ok", "")], running=[alive])
    assert states(cfg, T0 + HOUR + 30)[0] == {"j": "running"}
    assert states(cfg, T0 + 2 * HOUR + 61)[0] == {"j": "overdue"}


def test_a_dead_process_shows_interrupted(tmp_path):
    import socket
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    entry = {
        "host": socket.gethostname(),
        "pid": gone.pid,
        "pid_start": None,
        "boot": None,
        "token": "t",
        "start": T0 + HOUR,
        "due": T0 + HOUR,
        "by": "run",
    }
    write(tmp_path, "j", T0, running=[entry])
    record = store(tmp_path).read("j")  # shown as interrupted, nothing written
    assert record["running"] == []
    assert record["runs"][0]["result"] == "failed"
    assert record["runs"][0]["reason"] == "interrupted"
    assert record["consecutive_failures"] == 1
    # The next writer records it.
    records = store(tmp_path)
    token, _ = records.begin("j", None, "fire")
    records.finish("j", token, "ok", 0.1)
    record = records.read("j")
    assert [r["reason"] for r in record["runs"]][0] == "interrupted"
    assert record["totals"] == {"ok": 1, "failed": 1, "skipped": 0}


def test_reboot_entries_are_never_overdue(tmp_path):
    cfg = config(tmp_path, entries=[{"name": "boot", "times": "@reboot"}])
    write(tmp_path, "boot", T0)
    found, infos = states(cfg, T0 + 400 * 86400)
    assert found == {"boot": "waiting"}
    assert infos[0]["next_due"] is None
    assert statusview.table(infos)[1].split()[-2] == "-"


def test_zserver_status_covers_entries_only(tmp_path):
    cfg = config(
        tmp_path,
        jobs=[{"name": "j", "period": HOUR}],
        entries=[{"name": "zeopack", "times": "0 1 * * 6"}],
        backend="zserver",
    )
    write(tmp_path, "zeopack", T0)
    found, _ = states(cfg, T0 + 1)
    assert found == {"zeopack": "waiting"}


def test_cron_jobs_use_their_schedule(tmp_path, utc):
    cfg = config(
        tmp_path,
        jobs=[{"name": "j", "period": 900, "times": "*/15 * * * *"}],
        backend="cron",
    )
    write(tmp_path, "j", T0)
    [info] = status.collect(cfg, now=T0 + 60)
    assert info["schedule"] == "*/15 * * * *"
    assert info["next_due"] == crontimes.following("*/15 * * * *", T0 + 60)


def test_no_bar_in_rows_and_metrics_labels_escaped(tmp_path):
    cfg = config(tmp_path, entries=[{"name": "e", "times": "0 3 * * *"}])
    write(tmp_path, "e", T0, [(T0 + 3 * HOUR, "failed", 'a | b "quoted"')])
    infos = status.collect(cfg, now=T0 + 3 * HOUR + 5)
    assert all("|" not in row for row in statusview.table(infos))
    assert all("|" not in line for line in statusview.runs_table(infos[0]))
    text = metrics.metrics_text(cfg, infos)
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["clockserver_consecutive_failures"].samples[0].value == 1
    assert families["clockserver_consecutive_failures"].samples[0].labels == {
        "part": "clock",
        "name": "e",
    }


def test_control_characters_never_reach_the_terminal(tmp_path):
    """A reason or a command's output holding escape sequences shows them
    escaped, one line each, in the table, the reasons and status NAME."""
    cfg = config(tmp_path, entries=[{"name": "e", "times": "0 3 * * *"}])
    records = store(tmp_path)
    records.seen(["e"])
    records.finish(
        "e",
        None,
        "failed",
        0.5,
        reason="bad\x1b[2J news\nnext",
        exit_status=1,
        output=b"one\ttab | bar\n\x1b]0;title\x07two\n",
        by="exec",
        start=T0,
    )
    [info] = status.collect(cfg, now=T0 + 5)
    lines = statusview.reasons([info]) + statusview.runs_table(info)
    assert not [line for line in lines if "\x1b" in line or "\x07" in line]
    assert "e: failing: bad\\x1b[2J news next" in lines
    assert "    one     tab / bar" in lines
    assert "    \\x1b]0;title\\x07two" in lines


def test_result_shows_the_attempts_after_retries(tmp_path):
    """DESIGN "Retries": after retries ``status`` shows the last result with
    ``(N attempts)``, in the table and in status NAME's history (the
    columns widen); one attempt, or none recorded, shows nothing more.
    A record as Records.read() gives it, assessed and shown (no store)."""
    cfg = config(tmp_path, jobs=[{"name": "feed", "period": HOUR}])
    [watch] = status.watched(cfg)

    def run(start, result, http_status, **extra):
        return dict(
            {
                "due": start,
                "start": start,
                "duration": 3.021,
                "result": result,
                "reason": "why",
                "http_status": http_status,
                "exit_status": None,
                "host": "h",
                "by": "run",
                "scheduled": True,
                "catch_up": False,
                "output": None,
            },
            **extra,
        )

    runs = [
        run(T0, "ok", 200),
        run(T0 + HOUR, "ok", 200, attempts=1),
        run(T0 + 2 * HOUR, "ok", 200, attempts=2),
        run(T0 + 3 * HOUR, "failed", 503, attempts=3),
    ]
    record = {
        "name": "feed",
        "first_seen": T0 - 1,
        "runs": runs,
        "last_success": runs[2],
        "consecutive_failures": 1,
        "totals": {"ok": 3, "failed": 1, "skipped": 0},
        "running": [],
    }
    info = status.assess(watch, record, cfg, T0 + 3 * HOUR + 5)
    header, row = statusview.table([info])
    assert row[header.index("RESULT") :].startswith("503 (3 attempts)  3.021s")
    assert header.index("DURATION") == row.index("3.021s")
    history = statusview.runs_table(info)
    start = history.index(next(line for line in history if "RESULT" in line))
    header, *rows = history[start : start + 5]
    results = [line[header.index("RESULT") : header.index("DURATION")] for line in rows]
    assert [cell.rstrip() for cell in results] == [
        "failed (3 attempts)",
        "ok (2 attempts)",
        "ok",
        "ok",
    ]
    assert all(line[header.index("DURATION") :].startswith("3.021s") for line in rows)
    assert statusview.short_result(runs[0]) == "ok"
    assert statusview.short_result(dict(runs[3], attempts=None)) == "503"


@pytest.mark.parametrize(
    "times, previous, following",
    [
        ("*/15 * * * *", 15 * 60 * 4 * 10, 15 * 60 * 4 * 10 + 900),
        ("@hourly", 10 * HOUR, 11 * HOUR),
        ("@daily", 0, 86400),
    ],
)
def test_cron_ticks_in_local_time(times, previous, following, utc):
    now = T0 + 10 * HOUR + 5
    assert crontimes.previous(times, now) == T0 + previous
    assert crontimes.following(times, now) == T0 + following
    assert crontimes.previous(times, T0 + previous) == T0 + previous
    assert crontimes.following(times, T0 + previous) > T0 + previous


@pytest.mark.parametrize("times", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"])
def test_schedules_that_never_come(times):
    assert "never matches" in crontimes.problem(times)


@pytest.mark.parametrize(
    "times", ["0 0 29 2 *", "0 0 31 * *", "@reboot", "@yearly", "0 0 31 2 mon"]
)
def test_schedules_that_come(times):
    assert crontimes.problem(times) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["ok", "failed", "skipped"]), max_size=45))
def test_records_bookkeeping_for_any_sequence_of_results(tmp_path_factory, results):
    records = Records(
        str(tmp_path_factory.mktemp("state")), secrets=("s3cret",), part="clock"
    )
    for number, result in enumerate(results):
        if result == "skipped":
            records.skip("n", number, "claimed by web2", "run")
            continue
        token, skip = records.begin("n", number, "run")
        assert skip is None
        records.finish("n", token, result, 0.1, reason="s3cret %d" % number)
    assert len((records.read("n") or {"runs": []})["runs"]) == len(results)  # all kept
    record = records.read("n", 20)
    if not results:
        assert record is None
        return
    assert record["totals"] == {
        r: results.count(r) for r in ("ok", "failed", "skipped")
    }
    assert len(record["runs"]) == min(len(results), 20)
    assert [r["result"] for r in record["runs"]] == results[-20:]
    decisive = [r for r in results if r != "skipped"]
    trailing = len(decisive) - (
        max(i for i, r in enumerate(decisive) if r == "ok") + 1
        if "ok" in decisive
        else 0
    )
    assert record["consecutive_failures"] == trailing
    if "ok" in results:
        assert record["last_success"]["due"] == max(
            i for i, r in enumerate(results) if r == "ok"
        )
    assert record["running"] == []
    assert all("s3cret" not in (r["reason"] or "") for r in record["runs"])
