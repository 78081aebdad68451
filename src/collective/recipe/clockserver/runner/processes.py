"""Which process a run in progress belongs to, and whether it still runs
(host, pid, the pid's start time, the boot): Linux's /proc."""

import functools
import os
import socket


@functools.lru_cache(maxsize=None)
def hostname():
    """This host's name (read once per process)."""
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
            text = f.read()
    except OSError:
        return None
    try:
        return int(text.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def _my_start():
    return _process_start(os.getpid())


def alive(entry):
    """Whether the process of a run in progress still runs (a run of
    another host cannot be checked and counts as alive)."""
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
