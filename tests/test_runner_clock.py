"""``bin/<part> run``: the concurrency limit, reload on SIGHUP, the log file.

The server's sleeps give lower bounds (a call that waits for two calls of
0.6 s starts at least 1.2 s late); no test asserts how fast anything is.
"""

import json
import math
import signal
import subprocess
import threading
import time
from urllib.parse import urlsplit

import pytest

from collective.recipe.clockserver.runner.clock import Clock, Observer
from collective.recipe.clockserver.runner.config import load_config
from runnerparts import runner_command, start_clock
from simtime import FakeTime, ListLog


def arrivals(server, path):
    with server.lock:
        return [t for t, p in server.requests if urlsplit(p).path == path]


def write_config(path, address, jobs, **extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            dict(
                {"part": "clock", "address": address, "timeout": 30, "jobs": jobs},
                **extra,
            )
        )
    )
    path.chmod(0o600)
    return str(path)


def wait_for(condition, timeout, what="a condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Run:
    """bin/<part> run as a real process, logging to a file."""

    def __init__(self, tmp_path, config, *options, log_file=True):
        self.log_path = tmp_path / "clock.log"
        self.stderr_path = tmp_path / "stderr"
        args = ["--log-file", str(self.log_path)] if log_file else []
        with open(self.stderr_path, "w") as stderr:
            self.proc = start_clock(config, stderr, *args, *options)

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, signum=signal.SIGTERM):
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=10)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# -- the tick loop in simulated time (simtime.py): exact times, no waiting ----------

T0 = 1_800_000_000 - 1_800_000_000 % 3600  # a top of an hour, as simulated time


class Recorder(Observer):
    def __init__(self, clock):
        self.clock = clock
        self.events = []
        self.lock = threading.Lock()

    def started(self, job, due):
        with self.lock:
            self.events.append(("started", job.name, due, self.clock.time()))

    def finished(self, job, due, outcome):
        with self.lock:
            self.events.append(("finished", job.name, due, outcome.ok))

    def skipped(self, job, due, reason):
        with self.lock:
            self.events.append(("skipped", job.name, due, reason))


def simulated(tmp_path, jobs, until, durations=None, **extra):
    """Run a Clock over ``jobs`` from just before T0 to ``until`` in
    simulated time: (the calls as (name, start), the log, the observer's
    events)."""
    fake = FakeTime(T0 - 0.5)
    calls = []
    log = ListLog()
    observer = Recorder(fake)
    claim = extra.pop("claim", None)
    config = load_config(
        write_config(tmp_path / "clock.json", "http://127.0.0.1:1", jobs, **extra)
    )
    clock = Clock(
        config,
        log=log,
        observer=observer,
        clock=fake,
        call=fake.answer(durations, calls=calls),
        **({"claim": claim} if claim else {}),
    )
    fake.run(clock, until)
    assert fake.most <= config.concurrency
    return calls, log.text, observer.events


def test_concurrency_limits_calls_and_queues_by_due_time(tmp_path):
    # Six jobs due together, 0.6 s each, two slots: three rounds.
    jobs = [{"name": f"j{i}", "method": f"/j{i}", "period": 5} for i in range(6)]
    calls, text, _ = simulated(
        tmp_path,
        jobs,
        T0 + 4,
        concurrency=2,
        durations={f"j{i}": 0.6 for i in range(6)},
    )
    first = dict(reversed(calls))
    # Two by two, in the jobs' order (all were due together).
    rounds = [sorted(first[f"j{i}"] for i in pair) for pair in ((0, 1), (2, 3), (4, 5))]
    assert [round(r[0] - T0, 6) for r in rounds] == [0, 0.6, 1.2]
    assert all(a == b for a, b in rounds)
    # The last two waited two rounds of 0.6 s: over a second late, and say so.
    for name in ("j4", "j5"):
        line = next(
            line for line in text.splitlines() if line.startswith(f"{name}: started ")
        )
        assert line.startswith(f"{name}: started 1.2 s late (due at ")
        assert line.endswith(
            "waited 1.2 s for one of the 2 call slots, the concurrency option)"
        )
    assert not [
        line
        for line in text.splitlines()
        if line.startswith(("j0: started", "j2: started"))
    ]
    assert len(calls) == 6
    assert fake_most(calls, 0.6) == 2  # two in flight at once, never more


def fake_most(calls, duration):
    """The most calls of ``duration`` seconds that overlapped."""
    return max(
        sum(1 for _, other in calls if start <= other < start + duration)
        for _, start in calls
    )


def test_waiting_for_a_slot_until_the_next_tick_gives_way_to_it(tmp_path):
    """One slot: while 'hog' runs (2.6 s), 'tick' (every second) waits; a
    queued call whose next tick comes is not started at all (recorded
    'not started before the next tick') and that tick waits instead; the
    call runs when the slot frees, and 'tick' keeps its schedule."""
    jobs = [
        {"name": "hog", "method": "/hog", "period": 4},
        {"name": "tick", "method": "/tick", "period": 1},
    ]
    calls, text, events = simulated(
        tmp_path, jobs, T0 + 3.5, concurrency=1, durations={"hog": 2.6}
    )
    assert calls[:2] == [("hog", T0), ("tick", T0 + 2.6)]
    assert [
        (name, due - T0, why) for kind, name, due, why in events if kind == "skipped"
    ] == [
        ("tick", 0, "not started before the next tick"),
        ("tick", 1, "not started before the next tick"),
    ]
    assert "tick: the call due at " in text
    assert (
        "waited for a free call slot until the next tick (1.0 s); not calling it"
        in text
    )
    # The tick due at T0 + 2 started at T0 + 2.6 (before T0 + 3); then T0 + 3.
    assert [e for e in events if e[0] == "started" and e[1] == "tick"][0][2] == T0 + 2
    assert calls[2:] == [("tick", T0 + 3)]


def test_claim_is_asked_when_the_slot_frees(tmp_path):
    asked = []

    def claim(job, due):
        asked.append((job.name, due))
        return "claimed by otherhost" if job.name == "second" else None

    jobs = [
        {"name": "first", "method": "/first", "period": 3},
        {"name": "second", "method": "/second", "period": 3},
    ]
    calls, _, events = simulated(
        tmp_path, jobs, T0 + 2, concurrency=1, durations={"first": 1.5}, claim=claim
    )
    # Asked after 'first' gave the slot back (T0 + 1.5), not at the tick.
    assert asked == [("first", T0), ("second", T0)]
    assert events[0] == ("started", "first", T0, T0)
    assert ("skipped", "second", T0, "claimed by otherhost") in events
    assert calls == [("first", T0)]
    [(_, _, _, started)] = [e for e in events if e[0] == "started"]
    assert started == T0


def test_ticks_are_epoch_multiples_and_a_slow_job_skips(tmp_path):
    """The clock's arithmetic over a simulated hour: each job at every
    multiple of its period, the slow one skipping the ticks of its call."""
    jobs = [
        {"name": "fast", "method": "/fast", "period": 60},
        {"name": "slow", "method": "/slow", "period": 60},
        {"name": "hourly", "method": "/hourly", "period": 3600},
    ]
    calls, text, events = simulated(
        tmp_path, jobs, T0 + 3600 - 1, durations={"slow": 150}
    )
    assert [t - T0 for n, t in calls if n == "fast"] == list(range(0, 3600, 60))
    assert [t - T0 for n, t in calls if n == "slow"] == list(range(0, 3600, 180))
    assert [t - T0 for n, t in calls if n == "hourly"] == [0]
    skipped = [due - T0 for kind, name, due, _ in events if kind == "skipped"]
    assert skipped == [t for t in range(0, 3600, 60) if t % 180]
    assert text.count("slow: previous call still running (60.0 s), skipping") == 20
    assert text.count("slow: previous call still running (120.0 s), skipping") == 20


def test_sighup_reloads_the_config(server, tmp_path):
    path = tmp_path / "clock" / "clock.json"
    keep = {"name": "keep", "method": "/keep", "period": 1}
    config = write_config(
        path,
        server.address,
        [keep, {"name": "going", "method": "/going?sleep=1.5", "period": 1}],
    )
    run = Run(tmp_path, config)
    try:
        wait_for(lambda: arrivals(server, "/going"), 10, "the first call of 'going'")
        time.sleep(0.3)  # 'going' is in flight (1.5 s)
        write_config(
            path,
            server.address,
            [keep, {"name": "new", "method": "/new", "period": 1}],
            concurrency=8,
        )
        run.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded the config" in run.log(), 5, "the reload")
        reloaded = time.time()
        wait_for(lambda: len(arrivals(server, "/new")) >= 2, 5, "the new job")
        wait_for(lambda: "going: 200 OK" in run.log(), 5, "the call in flight")
        # A broken file: logged, the running set stays.
        path.write_text('{"address": "http://127.0.0.1:99999", "jobs": []}')
        run.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload failed" in run.log(), 5, "the failed reload")
        count = len(arrivals(server, "/new"))
        wait_for(
            lambda: len(arrivals(server, "/new")) >= count + 2, 5, "ticks after it"
        )
        status = run.stop()
    finally:
        run.kill()
    assert status == 0
    assert run.proc.returncode == 0
    text = run.log()
    assert (
        "reloaded the config: added new; removed going; concurrency 4 -> 8; "
        "going will stop after the call in flight; 1 job(s) unchanged"
    ) in text
    assert 'Clock server for "/new" started (user: Anonymous, period: 1)' in text
    # The call in flight finished after the reload; no call of 'going' after it.
    assert text.index("reloaded the config") < text.index("going: 200 OK")
    assert all(t < reloaded for t in arrivals(server, "/going"))
    # 'keep' kept its schedule: a call every second, before, during and after.
    keep_seconds = [math.floor(t) for t in arrivals(server, "/keep")]
    assert keep_seconds == list(range(keep_seconds[0], keep_seconds[-1] + 1))
    assert (
        "reload failed, still running the 2 job(s) loaded before: " in text
        and "port '99999' outside 1-65535" in text
    )
    assert "Traceback" not in text and run.stderr_path.read_text() == ""


def test_log_file_on_a_full_disk(server, tmp_path):
    config = write_config(
        tmp_path / "clock" / "clock.json",
        server.address,
        [{"name": "tick", "method": "/full", "period": 1}],
    )
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "w") as stderr:
        proc = start_clock(config, stderr, "--log-file", "/dev/full")
    try:
        wait_for(lambda: len(arrivals(server, "/full")) >= 2, 10, "two calls")
        wait_for(lambda: "tick: 200 OK" in stderr_path.read_text(), 5, "a logged call")
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert status == 0
    text = stderr_path.read_text()
    assert (
        text.count(
            "cannot write the log file /dev/full: No space left on device; "
            "logging to standard error until it can"
        )
        == 1
    )
    assert "stopped (SIGTERM)" in text
    assert "Traceback" not in text and "Logging error" not in text


def test_log_file_that_cannot_be_opened(tmp_path):
    config = write_config(tmp_path / "clock" / "clock.json", "http://127.0.0.1:1", [])
    result = subprocess.run(
        runner_command(
            config, "run", "--log-file", str(tmp_path / "no" / "such" / "clock.log")
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "cannot write the log file" in result.stderr
    assert "No such file or directory" in result.stderr


@pytest.mark.parametrize("method, status", [("/ok", 0), ("/missing-port", 1)])
def test_fire_with_standard_error_on_a_full_disk(server, tmp_path, method, status):
    address = server.address if method == "/ok" else "http://127.0.0.1:1"
    config = write_config(
        tmp_path / "clock" / "clock.json",
        address,
        [{"name": "job", "method": method, "period": 60}],
    )
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            runner_command(config, "fire", "-v", "job"),
            stdout=full,
            stderr=full,
            timeout=30,
        )
    assert result.returncode == status  # the call's result, not the disk's


def test_log_file_reopened_after_rotation(server, tmp_path):
    config = write_config(
        tmp_path / "clock" / "clock.json",
        server.address,
        [{"name": "tick", "method": "/rotate", "period": 1}],
    )
    run = Run(tmp_path, config)
    try:
        wait_for(lambda: "tick: 200 OK" in run.log(), 10, "a logged call")
        run.log_path.rename(tmp_path / "clock.log.1")
        wait_for(lambda: "tick: 200 OK" in run.log(), 10, "a call in the new file")
        status = run.stop()
    finally:
        run.kill()
    assert status == 0
    assert "stopped (SIGTERM)" in run.log()
    rotated = (tmp_path / "clock.log.1").read_text()
    assert "Clock server for" in rotated
    assert (
        f"calling {server.address} (timeout 30 s, concurrency 4), 1 job(s)" in rotated
    )


def test_catch_up_call_is_not_reported_as_a_late_start(server, tmp_path, caplog):
    """A catch-up call is due long ago by design; only a call that waited
    for a slot logs its delay."""
    config = load_config(
        write_config(
            tmp_path / "clock.json",
            server.address,
            [{"name": "missed", "method": "/missed", "period": 3600}],
        )
    )
    due = math.floor(time.time() / 3600) * 3600
    clock = Clock(config, catch_up=lambda job: due)
    thread = threading.Thread(target=clock.run)
    with caplog.at_level("INFO", logger="collective.recipe.clockserver.runner"):
        thread.start()
        try:
            wait_for(lambda: "missed: 200 OK" in caplog.text, 10, "the catch-up call")
        finally:
            clock.stop()
            thread.join(10)
    assert len(arrivals(server, "/missed")) == 1
    assert "catching up the tick due at" in caplog.text
    assert "started" not in caplog.text.replace("Clock server", "")


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KB tmpfs (needs root and mount rights; skipped otherwise)."""
    import os

    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    result = subprocess.run(
        [
            "mount",
            "-t",
            "tmpfs",
            "-o",
            "size=64k,nr_inodes=64",
            "tmpfs",
            str(mount_point),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True)


def test_log_file_on_a_disk_that_fills_up_and_frees(server, tmp_path, small_tmpfs):
    config = write_config(
        tmp_path / "clock" / "clock.json",
        server.address,
        [{"name": "tick", "method": "/tmpfs", "period": 1}],
    )
    log_path = small_tmpfs / "clock.log"
    filler = small_tmpfs / "filler"
    filler.touch()
    run = Run(tmp_path, config, "--log-file", str(log_path), log_file=False)
    try:
        wait_for(
            lambda: log_path.exists() and "tick: 200 OK" in log_path.read_text(),
            10,
            "a line in the log file",
        )
        # Fill the disk up, then the log file's last page (tmpfs allocates
        # whole pages), as another writer of that log would.
        for path, block in ((filler, b"x" * 4096), (log_path, b"#\n")):
            with open(path, "ab", buffering=0) as f:
                try:
                    while True:
                        f.write(block)
                except OSError:
                    pass
        wait_for(
            lambda: "tick: 200 OK" in run.stderr_path.read_text(),
            10,
            "a line on standard error",
        )
        filler.unlink()
        wait_for(
            lambda: "writing the log file" in run.stderr_path.read_text(),
            10,
            "the file working again",
        )
        size = log_path.stat().st_size
        wait_for(lambda: log_path.stat().st_size > size, 10, "a new line in the file")
        status = run.stop()
    finally:
        run.kill()
    assert status == 0
    stderr = run.stderr_path.read_text()
    assert (
        stderr.count(
            f"cannot write the log file {log_path}: No space left on device; "
            "logging to standard error until it can"
        )
        == 1
    )
    assert f"writing the log file {log_path} again" in stderr
    assert "Traceback" not in stderr + log_path.read_text()
    assert "stopped (SIGTERM)" in log_path.read_text()
