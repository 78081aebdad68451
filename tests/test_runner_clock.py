"""``bin/<part> run``: the concurrency limit, reload on SIGHUP, the log file.

The server's sleeps give lower bounds (a call that waits for two calls of
0.6 s starts at least 1.2 s late); no test asserts how fast anything is.
"""

import json
import math
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest

from collective.recipe.clockserver.runner.clock import Clock, Observer
from collective.recipe.clockserver.runner.config import load_config


def arrivals(server, path):
    with server.lock:
        return [t for t, p in server.requests if urlsplit(p).path == path]


def write_config(path, address, jobs, **extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict({"part": "clock", "address": address, "timeout": 30,
                                     "jobs": jobs}, **extra)))
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
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "collective.recipe.clockserver.runner", config,
                 "run", *args, *options],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, signum=signal.SIGTERM):
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=10)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_concurrency_limits_calls_and_queues_by_due_time(server, tmp_path):
    # Six jobs due together, 0.6 s each, two slots: three rounds.
    jobs = [{"name": f"j{i}", "method": f"/j{i}?sleep=0.6", "period": 5} for i in range(6)]
    config = write_config(tmp_path / "clock" / "clock.json", server.address, jobs,
                          concurrency=2)
    run = Run(tmp_path, config)
    try:
        wait_for(lambda: arrivals(server, "/j5"), 15, "the sixth call")
        wait_for(lambda: "j5: 200 OK" in run.log(), 5, "the sixth call's end")
        status = run.stop()
    finally:
        run.kill()
    assert status == 0
    assert server.most == 2  # never more than two in flight, and two were
    first = {f"/j{i}": arrivals(server, f"/j{i}")[0] for i in range(6)}
    due = math.floor(first["/j0"])
    assert due % 5 == 0
    # Started in the jobs' order (all due together), two by two: each round
    # of two starts after the round before it (within a round the two
    # threads race, so no order is promised there).
    rounds = [[first[f"/j{i}"], first[f"/j{i + 1}"]] for i in (0, 2, 4)]
    for earlier, later in zip(rounds, rounds[1:]):
        assert max(earlier) < min(later)
    assert first["/j4"] - due >= 1.2 and first["/j5"] - due >= 1.2
    text = run.log()
    assert "calling %s (timeout 30 s, concurrency 2), 6 job(s)" % server.address in text
    # The last two waited two rounds of 0.6 s: over a second late, and they say so.
    for name in ("j4", "j5"):
        line = next(line for line in text.splitlines() if f"] {name}: started " in line)
        assert " s late (due at " in line
        assert "for one of the 2 call slots, the concurrency option)" in line
    assert "j0: started" not in text


def test_waiting_for_a_slot_counts_as_in_flight(server, tmp_path):
    """One slot: while 'hog' runs (2.6 s), 'tick' (every second) waits; its
    next ticks are skipped, and the call runs when the slot frees."""
    jobs = [{"name": "hog", "method": "/hog?sleep=2.6", "period": 4},
            {"name": "tick", "method": "/tick", "period": 1}]
    path = tmp_path / "clock" / "clock.json"
    config = write_config(path, server.address, jobs, concurrency=1)
    run = Run(tmp_path, config)
    try:
        wait_for(lambda: arrivals(server, "/hog"), 10, "the hog")
        wait_for(lambda: "hog: 200 OK" in run.log() and "tick: 200 OK" in run.log(), 10,
                 "the end of the hog's call")
        status = run.stop()
    finally:
        run.kill()
    assert status == 0
    assert server.most == 1
    text = run.log()
    assert "tick: previous call still waiting for a free call slot" in text
    hog = arrivals(server, "/hog")[0]
    # The tick due with the hog went after it, at least 2.6 s late, and said so.
    late = [t for t in arrivals(server, "/tick") if t > hog]
    assert late and late[0] - math.floor(hog) >= 2.6
    assert "tick: started 2." in text or "tick: started 3." in text


class Recorder(Observer):
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def started(self, job, due):
        with self.lock:
            self.events.append(("started", job.name, due, time.time()))

    def finished(self, job, due, outcome):
        with self.lock:
            self.events.append(("finished", job.name, due, outcome.ok))

    def skipped(self, job, due, reason):
        with self.lock:
            self.events.append(("skipped", job.name, due, reason))


def test_claim_is_asked_when_the_slot_frees(server, tmp_path):
    jobs = [{"name": "first", "method": "/first?sleep=1.5", "period": 3},
            {"name": "second", "method": "/second", "period": 3}]
    config = load_config(write_config(tmp_path / "clock.json", server.address, jobs,
                                      concurrency=1))
    asked = []

    def claim(job, due):
        asked.append((job.name, due, time.time()))
        return "claimed by otherhost" if job.name == "second" else None

    observer = Recorder()
    clock = Clock(config, observer=observer, claim=claim)
    thread = threading.Thread(target=clock.run)
    thread.start()
    try:
        wait_for(lambda: any(name == "second" for name, *_ in asked), 10, "the claim")
    finally:
        clock.stop()
        thread.join(10)
    name, due, when = next(entry for entry in asked if entry[0] == "second")
    assert when - due >= 1.5  # asked after 'first' gave the slot back, not at the tick
    assert ("skipped", "second", due, "claimed by otherhost") in observer.events
    assert arrivals(server, "/second") == []
    assert ("started", "first") == observer.events[0][:2]


def test_sighup_reloads_the_config(server, tmp_path):
    path = tmp_path / "clock" / "clock.json"
    keep = {"name": "keep", "method": "/keep", "period": 1}
    config = write_config(path, server.address, [
        keep, {"name": "going", "method": "/going?sleep=1.5", "period": 1}])
    run = Run(tmp_path, config)
    try:
        wait_for(lambda: arrivals(server, "/going"), 10, "the first call of 'going'")
        time.sleep(0.3)  # 'going' is in flight (1.5 s)
        write_config(path, server.address, [
            keep, {"name": "new", "method": "/new", "period": 1}], concurrency=8)
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
        wait_for(lambda: len(arrivals(server, "/new")) >= count + 2, 5, "ticks after it")
        status = run.stop()
    finally:
        run.kill()
    assert status == 0
    assert run.proc.returncode == 0
    text = run.log()
    assert ("reloaded the config: added new; removed going; concurrency 4 -> 8; "
            "going will stop after the call in flight; 1 job(s) unchanged") in text
    assert 'Clock server for "/new" started (user: Anonymous, period: 1)' in text
    # The call in flight finished after the reload; no call of 'going' after it.
    assert text.index("reloaded the config") < text.index("going: 200 OK")
    assert all(t < reloaded for t in arrivals(server, "/going"))
    # 'keep' kept its schedule: a call every second, before, during and after.
    keep_seconds = [math.floor(t) for t in arrivals(server, "/keep")]
    assert keep_seconds == list(range(keep_seconds[0], keep_seconds[-1] + 1))
    assert ("reload failed, still running the 2 job(s) loaded before: " in text
            and "port '99999' outside 1-65535" in text)
    assert "Traceback" not in text and run.stderr_path.read_text() == ""


def test_log_file_on_a_full_disk(server, tmp_path):
    config = write_config(tmp_path / "clock" / "clock.json", server.address,
                          [{"name": "tick", "method": "/full", "period": 1}])
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collective.recipe.clockserver.runner", config, "run",
             "--log-file", "/dev/full"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=stderr)
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
    assert text.count("cannot write the log file /dev/full: No space left on device; "
                      "logging to standard error until it can") == 1
    assert "stopped (SIGTERM)" in text
    assert "Traceback" not in text and "Logging error" not in text


def test_log_file_that_cannot_be_opened(tmp_path):
    config = write_config(tmp_path / "clock" / "clock.json", "http://127.0.0.1:1", [])
    result = subprocess.run(
        [sys.executable, "-m", "collective.recipe.clockserver.runner", config, "run",
         "--log-file", str(tmp_path / "no" / "such" / "clock.log")],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "cannot write the log file" in result.stderr
    assert "No such file or directory" in result.stderr


@pytest.mark.parametrize("method, status", [("/ok", 0), ("/missing-port", 1)])
def test_fire_with_standard_error_on_a_full_disk(server, tmp_path, method, status):
    address = server.address if method == "/ok" else "http://127.0.0.1:1"
    config = write_config(tmp_path / "clock" / "clock.json", address,
                          [{"name": "job", "method": method, "period": 60}])
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "collective.recipe.clockserver.runner", config, "fire",
             "-v", "job"], stdout=full, stderr=full, timeout=30)
    assert result.returncode == status  # the call's result, not the disk's


def test_log_file_reopened_after_rotation(server, tmp_path):
    config = write_config(tmp_path / "clock" / "clock.json", server.address,
                          [{"name": "tick", "method": "/rotate", "period": 1}])
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
    assert "Clock server for" in (tmp_path / "clock.log.1").read_text()


def test_catch_up_call_is_not_reported_as_a_late_start(server, tmp_path, caplog):
    """A catch-up call is due long ago by design; only a call that waited
    for a slot logs its delay."""
    config = load_config(write_config(tmp_path / "clock.json", server.address, [
        {"name": "missed", "method": "/missed", "period": 3600}]))
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
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=64", "tmpfs",
                             str(mount_point)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True)


def test_log_file_on_a_disk_that_fills_up_and_frees(server, tmp_path, small_tmpfs):
    config = write_config(tmp_path / "clock" / "clock.json", server.address,
                          [{"name": "tick", "method": "/tmpfs", "period": 1}])
    log_path = small_tmpfs / "clock.log"
    filler = small_tmpfs / "filler"
    filler.touch()
    run = Run(tmp_path, config, "--log-file", str(log_path), log_file=False)
    try:
        wait_for(lambda: log_path.exists() and "tick: 200 OK" in log_path.read_text(), 10,
                 "a line in the log file")
        # Fill the disk up, then the log file's last page (tmpfs allocates
        # whole pages), as another writer of that log would.
        for path, block in ((filler, b"x" * 4096), (log_path, b"#\n")):
            with open(path, "ab", buffering=0) as f:
                try:
                    while True:
                        f.write(block)
                except OSError:
                    pass
        wait_for(lambda: "tick: 200 OK" in run.stderr_path.read_text(), 10,
                 "a line on standard error")
        filler.unlink()
        wait_for(lambda: "writing the log file" in run.stderr_path.read_text(), 10,
                 "the file working again")
        size = log_path.stat().st_size
        wait_for(lambda: log_path.stat().st_size > size, 10, "a new line in the file")
        status = run.stop()
    finally:
        run.kill()
    assert status == 0
    stderr = run.stderr_path.read_text()
    assert stderr.count(f"cannot write the log file {log_path}: No space left on device; "
                        "logging to standard error until it can") == 1
    assert f"writing the log file {log_path} again" in stderr
    assert "Traceback" not in stderr + log_path.read_text()
    assert "stopped (SIGTERM)" in log_path.read_text()
