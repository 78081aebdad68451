"""A hand-written bin/<part> config and its state directory, run as real
processes (``python -m collective.recipe.clockserver.runner CONFIG ...``).

Plain helpers, no pytest: conftest.py makes the ``part_factory`` fixture.
"""

import json
import os
import signal
import subprocess
import sys
import time

from collective.recipe.clockserver.runner.records import Records

SECRET = "pa55-Wort-s3cret"


def make_store(state):
    """Create the store in ``state`` and close it at once: a Records left to
    the garbage collector closes its last connection later, and SQLite then
    removes the ``-wal`` and ``-shm`` files (whatever a test put there)."""
    records = Records(state)
    try:
        records.make()
    finally:
        records.close()


def runner_command(config, *argv):
    """``bin/<part> ARGV`` of the config ``config``: the runner as a module."""
    return [sys.executable, "-m", "collective.recipe.clockserver.runner", config, *argv]


def start_clock(config, stderr, *options):
    """``bin/<part> run OPTIONS`` in the background, its stderr to ``stderr``."""
    return subprocess.Popen(
        runner_command(config, "run", *options),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


class Part:
    """A hand-written runner config and its state directory."""

    def __init__(self, tmp_path, address, jobs, **extra):
        self.dir = tmp_path
        self.state = str(tmp_path / "var" / "clock")
        self.config = str(tmp_path / "parts" / "clock" / "clock.json")
        os.makedirs(os.path.dirname(self.config), exist_ok=True)
        data = {
            "part": "clock",
            "address": address,
            "timeout": 5,
            "state-directory": self.state,
            "backend": "runner",
            "jobs": [
                dict({"host": None, "user": "zopeuser", "password": SECRET}, **job)
                for job in jobs
            ],
        }
        data.update(extra)
        with open(self.config, "w") as f:
            json.dump(data, f)
        os.chmod(self.config, 0o600)
        self.processes = []

    def command(self, *args):
        return runner_command(self.config, *args)

    def run(self, *args, timeout=60):
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=timeout
        )

    def start(self):
        process = subprocess.Popen(
            self.command("run"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        return process

    def stop(self, process, sig=signal.SIGTERM):
        process.send_signal(sig)
        out, _ = process.communicate(timeout=30)
        return out

    def status(self, *args):
        result = self.run("status", *args)
        return result

    def states(self):
        result = self.run("status", "--json")
        data = json.loads(result.stdout)
        assert data["exit_status"] == result.returncode
        return {n["name"]: n for n in data["names"]}, result.returncode

    def record(self, name):
        return Records(self.state).read(name)

    def cleanup(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def wait_for(predicate, what, timeout=40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)
