"""Run records in the state directory: one JSON file per job or entry name.

``<state>/<name>.json`` holds the name's last runs (newest last), its
last success, its consecutive failures, its run counters, the runs in
progress and when the name was first seen.  Every change happens under an
exclusive ``flock`` of ``<state>/.locks/<name>.lock`` and is written to a
temporary file that replaces the record atomically, so readers never see
half a record and processes that finish at the same moment (cron starting
several entries, ``run`` beside them) never lose one.

A run in progress names its process (host, pid, the pid's start time and
the boot it belongs to).  When that process is gone, the run shows as
``failed: interrupted``.  Standard library only; never raises for a
damaged record: it is moved aside and a new one begins.
"""

import fcntl
import functools
import json
import os
import re
import socket
import stat
import time

from .. import files
from .text import mask_secrets, one_line

KEEP = 20  # runs kept per name
OUTPUT_LIMIT = 2048  # bytes of a command's last output kept in a record
MAX_RECORD = 4 * 1024 * 1024  # bytes: 20 runs with 2 KB of output each are ~60 KB
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
RESULTS = ("ok", "failed", "skipped")


class Unreadable(Exception):
    """A record exists but cannot be read or parsed; the message says why."""


def valid_name(name):
    return bool(NAME.match(name)) and len(name) <= 200


def hostname():
    return socket.gethostname()


@functools.lru_cache(maxsize=None)
def _boot_id():
    """This boot's id (Linux); it cannot change while the process lives."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def _process_start(pid):
    """The start time of ``pid`` in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def _my_start():
    return _process_start(os.getpid())


def _me():
    return {"host": hostname(), "pid": os.getpid(), "pid_start": _my_start(),
            "boot": _boot_id()}


def alive(entry):
    """Whether the process of a run in progress still runs.

    A run of another host cannot be checked and counts as alive.
    """
    if entry.get("host") != hostname():
        return True
    if entry.get("pid") == os.getpid() and entry.get("pid_start") == _my_start():
        return True  # this very process (run's other calls)
    boot = _boot_id()
    if entry.get("boot") and boot and entry["boot"] != boot:
        return False  # the machine restarted since
    pid = entry.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    started = entry.get("pid_start")
    if started is not None:
        now = _process_start(pid)
        if now is not None and now != started:
            return False  # the pid was reused
    return True


def tail(data, secrets=(), limit=OUTPUT_LIMIT):
    """The last lines of a command's output, at most ``limit`` bytes, masked."""
    text = mask_secrets(data.decode("utf-8", "replace"), secrets)
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    cut = encoded[-limit:].decode("utf-8", "ignore")
    newline = cut.find("\n")
    if 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1:]  # whole lines only
    return cut


def new_record(name, now):
    return {"name": name, "first_seen": now, "runs": [], "last_success": None,
            "consecutive_failures": 0, "totals": dict.fromkeys(RESULTS, 0),
            "running": []}


def reap(record):
    """Turn runs in progress whose process died into ``failed: interrupted``.

    Returns whether anything changed.
    """
    dead = [entry for entry in record["running"] if not alive(entry)]
    for entry in dead:
        record["running"].remove(entry)
        _append(record, {
            "due": entry.get("due"), "start": entry.get("start"), "duration": None,
            "result": "failed", "reason": "interrupted", "http_status": None,
            "exit_status": None, "host": entry.get("host"), "by": entry.get("by"),
            "scheduled": entry.get("scheduled", False),
            "catch_up": entry.get("catch_up", False), "output": None,
        })
    return bool(dead)


def _append(record, run):
    record["runs"].append(run)
    del record["runs"][:-KEEP]
    result = run["result"]
    record["totals"][result] = record["totals"].get(result, 0) + 1
    if result == "ok":
        record["last_success"] = run
        record["consecutive_failures"] = 0
    elif result == "failed":
        record["consecutive_failures"] += 1


class Records:
    """The records of one state directory; safe across threads and processes."""

    def __init__(self, directory, secrets=(), now=time.time):
        self.directory = directory
        self.secrets = tuple(s for s in secrets if s)
        self.now = now  # the time source's time() (simulated in tests)

    def path(self, name):
        return os.path.join(self.directory, name + ".json")

    # -- writing ------------------------------------------------------------

    def make(self):
        """Create the state directory (and its lock directory), mode 0700."""
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(self.directory, ".locks"), mode=0o700, exist_ok=True)

    def _update(self, name, change):
        """Run ``change(record)`` under the name's lock and save the result."""
        if not valid_name(name):
            raise ValueError(f"not a usable name: {name!r}")
        self.make()
        lock_path = os.path.join(self.directory, ".locks", name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            record = self._load_for_update(name)
            changed = reap(record)
            result = change(record)
            if changed or result is not False:
                self._save(name, record)
            return result
        finally:
            os.close(fd)  # releases the lock

    def _load_for_update(self, name):
        path = self.path(name)
        try:
            return self._parse(name, path)
        except FileNotFoundError:
            return new_record(name, self.now())
        except Unreadable:
            # Keep the damaged file for a human; start a new record.
            aside = f"{path}.damaged-{int(self.now())}"
            try:
                os.replace(path, aside)
            except OSError:
                pass
            return new_record(name, self.now())

    def _save(self, name, record):
        # Compact: json's C encoder (indent would take the slow pure-Python
        # one); records are read by bin/<part> status, not by hand.
        data = json.dumps(record, sort_keys=True, separators=(",", ":")).encode("utf-8")
        files.replace(self.path(name), data, 0o600)

    def seen(self, names):
        """Note the first time each name was seen (kept across reinstalls)."""
        for name in names:
            if not os.path.exists(self.path(name)):
                self._update(name, lambda record: None)

    def begin(self, name, due, by, scheduled=False, catch_up=False,
              record_skip=True):
        """Start a run of ``name`` unless one of this host still runs.

        Returns ``(token, None)``, or ``(None, "still running")`` after
        recording the skip (unless ``record_skip`` is false).
        """
        token = os.urandom(12).hex()
        now = self.now()

        def change(record):
            if any(entry.get("host") == hostname() for entry in record["running"]):
                if not record_skip:
                    return False
                _append(record, self._skip_run(due, "still running", by, scheduled))
                return None
            entry = dict(_me(), token=token, due=due, start=now, by=by,
                         scheduled=scheduled, catch_up=catch_up)
            record["running"].append(entry)
            return token

        got = self._update(name, change)
        if got is None or got is False:
            return None, "still running"
        return got, None

    def cancel(self, name, token):
        """Forget a run begun but not called (the claim went elsewhere)."""
        def change(record):
            record["running"] = [e for e in record["running"] if e.get("token") != token]
        self._update(name, change)

    def finish(self, name, token, result, duration, reason="", http_status=None,
               exit_status=None, output=None, by=None, due=None, start=None,
               scheduled=False, catch_up=False):
        """Record the end of a run begun with ``begin`` (or one never begun)."""
        def change(record):
            entry = next((e for e in record["running"] if e.get("token") == token), {})
            if entry:
                record["running"].remove(entry)
            run_start = entry.get("start", start)
            _append(record, {
                "due": entry.get("due", due), "start": run_start,
                "duration": duration, "result": result,
                "reason": mask_secrets(one_line(reason), self.secrets),
                "http_status": http_status, "exit_status": exit_status,
                "host": hostname(), "by": entry.get("by", by),
                "scheduled": entry.get("scheduled", scheduled),
                "catch_up": entry.get("catch_up", catch_up),
                "output": None if output is None else tail(output, self.secrets),
            })
        self._update(name, change)

    def skip(self, name, due, reason, by, scheduled=False):
        """Record a tick that was not called, and why."""
        self._update(name, lambda record: _append(
            record, self._skip_run(due, reason, by, scheduled)))

    def _skip_run(self, due, reason, by, scheduled):
        return {"due": due, "start": self.now(), "duration": None, "result": "skipped",
                "reason": mask_secrets(one_line(reason), self.secrets), "http_status": None,
                "exit_status": None, "host": hostname(), "by": by,
                "scheduled": scheduled, "catch_up": False, "output": None}

    # -- reading ------------------------------------------------------------

    def _parse(self, name, path):
        try:
            # O_NONBLOCK: a FIFO put in a record's place must not hang status.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            with open(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise Unreadable(f"{path} is not a regular file")
                data = f.read(MAX_RECORD + 1)
        except FileNotFoundError:
            raise
        except IsADirectoryError:
            raise Unreadable(f"{path} is not a regular file") from None
        except OSError as exc:
            raise Unreadable(f"cannot read {path}: {exc.strerror}") from None
        if len(data) > MAX_RECORD:
            raise Unreadable(f"{path} is too large to be a record")
        try:
            record = json.loads(data)
        except ValueError as exc:
            raise Unreadable(f"{path} is damaged ({exc})") from None
        problem = _check(record)
        if problem:
            raise Unreadable(f"{path} is damaged ({problem})")
        return record

    def read(self, name):
        """The record of ``name`` as it stands (dead runs shown as
        interrupted, nothing written), or None when there is none.
        Raises Unreadable."""
        try:
            record = self._parse(name, self.path(name))
        except FileNotFoundError:
            return None
        reap(record)
        return record


def _check(record):
    """What is wrong with a parsed record, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    kinds = {"runs": list, "running": list, "totals": dict,
             "consecutive_failures": int, "first_seen": (int, float)}
    for key, kind in kinds.items():
        if not isinstance(record.get(key), kind):
            return f"{key!r} is missing or of the wrong type"
    for run in record["runs"] + record["running"]:
        if not isinstance(run, dict):
            return "a run is not a JSON object"
    if record["runs"] and any(run.get("result") not in RESULTS for run in record["runs"]):
        return "a run has an unknown result"
    return None

