"""Which names run on this host right now, known without a write: every
run holds an advisory lock (``fcntl``) on one byte of the store's lock
file ``<store>.running.lock`` while it goes on.

``run``, ``fire`` and ``exec`` take the lock of a name before they call;
a lock held by another process means the previous run of that name still
runs on this host (the overlap skip).  The kernel drops the locks of a
process that dies, so a killed run never holds its name.  Within one
process (``run``'s calls, or a test) a table of the names held answers
instead, since a process never conflicts with its own locks.

``run`` itself holds the byte of CLOCK while it runs: status knows from
it that the records of ``run`` may lag behind its calls (records.HELD_BACK).

POSIX locks belong to the process and the file: closing any descriptor
of the file drops them all.  So each lock file is opened once per process
and kept open (``_files``), and every Records of the same store shares it.
"""

import fcntl
import os
import threading

from . import store

_files = {}  # (directory st_dev, st_ino, file name) -> LockFile
_guard = threading.Lock()
OFFSETS = 1 << 62  # lock offsets stay within a positive off_t


CLOCK = ""  # never a job's name: run holds this one while it runs


def offset_of(name, _cache={}):  # noqa: B006 - a per-process cache on purpose
    """The byte of ``name`` in the lock file: FNV-1a (64 bits) of its
    UTF-8 bytes, so two names of a part practically never share one; the
    byte of CLOCK lies beyond them all."""
    if name == CLOCK:
        return OFFSETS
    found = _cache.get(name)
    if found is None:
        value = 0xCBF29CE484222325
        for byte in name.encode("utf-8"):
            value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        found = _cache[name] = value % OFFSETS
    return found


class LockFile:
    """One store's lock file, open for this process's lifetime."""

    def __init__(self, fd, identity):
        self.fd = fd
        self.identity = identity
        self.held = set()  # names this process holds
        self._lock = threading.Lock()

    def hold(self, name):
        """Take ``name``: False when a run of it goes on (in this process
        or another of this host)."""
        with self._lock:
            if name in self.held:
                return False
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset_of(name))
            except (BlockingIOError, PermissionError):  # EAGAIN / EACCES: held
                return False
            self.held.add(name)
            return True

    def in_use(self, name):
        """Whether a run of ``name`` goes on (in this process or another of
        this host), without taking it."""
        if not self.hold(name):
            return True
        self.release(name)
        return False

    def release(self, name):
        with self._lock:
            if name not in self.held:
                return
            self.held.discard(name)
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, offset_of(name))
            except OSError:  # never: unlocking a lock we hold
                pass


def lock_file(dirfd, directory, filename):
    """The LockFile ``filename`` in the checked directory ``dirfd``, shared
    by the whole process (created mode 0600, never through a symlink);
    raises Refused, OSError."""
    info = os.fstat(dirfd)
    key = (info.st_dev, info.st_ino, filename)
    with _guard:
        found = _files.get(key)
        if found is not None:
            try:
                st = os.stat(filename, dir_fd=dirfd, follow_symlinks=False)
                if (st.st_dev, st.st_ino) == found.identity:
                    return found
            except FileNotFoundError:
                pass
            # Removed or replaced: the old descriptor stays open (closing it
            # would be harmless, but a run may still release through it).
        fd = store.create_file(dirfd, directory, filename)
        st = os.fstat(fd)
        found = _files[key] = LockFile(fd, (st.st_dev, st.st_ino))
        return found
