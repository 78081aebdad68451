"""The lock of a crontab: one exclusive ``flock`` around each read-modify-write.

Beside a ``crontab-file``, ``.<name>.lock``; for the user's crontab,
``crontab.lock`` in a per-user directory,
``/tmp/collective.recipe.clockserver-<uid>`` (``CLOCKSERVER_LOCK_DIR``
overrides it). Two buildouts that edit one crontab at the same time then
take turns instead of overwriting each other's blocks. Written for Python
2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

import contextlib
import errno
import fcntl
import os
import stat
import time

from .block import CrontabError

LOCK_WAIT = 120  # seconds to wait for another process's crontab edit
LOCK_DIRECTORY = "/tmp/collective.recipe.clockserver-%d"
CLOEXEC = getattr(os, "O_CLOEXEC", 0)  # Python 2: set after the open
monotonic = getattr(time, "monotonic", time.time)


def lock_path(path=None):
    """The lock file that serialises edits of the crontab ``path``.

    A crontab-file: ``.<name>.lock`` beside the file it resolves to (so
    two paths that reach one file through symlinks share one lock). The
    user's crontab: ``crontab.lock`` in the per-user lock directory.
    """
    if path is not None:
        real = os.path.realpath(path)
        directory, name = os.path.split(real)
        return os.path.join(directory, ".%s.lock" % name)
    return os.path.join(_user_lock_directory(), "crontab.lock")


def _user_lock_directory():
    """``CLOCKSERVER_LOCK_DIR``, else /tmp/collective.recipe.clockserver-<uid>.

    Created mode 0700; an existing one must be a real directory owned by
    this user and closed to others (as tmux checks its socket directory),
    so another user cannot plant or hold our lock.
    """
    directory = os.environ.get("CLOCKSERVER_LOCK_DIR") or (LOCK_DIRECTORY % os.getuid())
    try:
        os.mkdir(directory, 0o700)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise CrontabError.instead(
                "cannot create the crontab lock directory %s: %s"
                % (directory, exc.strerror or exc)
            )
    info = os.lstat(directory)
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.getuid()
        or info.st_mode & 0o077
    ):
        raise CrontabError(
            "the crontab lock directory %s is not a directory of yours closed "
            "to others (mode 0700); remove it, or set CLOCKSERVER_LOCK_DIR to "
            "a directory of your own" % directory
        )
    return directory


@contextlib.contextmanager
def locked(path=None, wait=LOCK_WAIT):
    """Hold the exclusive lock of crontab ``path`` (None: the user's).

    The lock file is never removed (removing it would let a third process
    lock a new file while the first still holds the old one). Waits up to
    ``wait`` seconds for another holder, then raises CrontabError.
    """
    name = lock_path(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | CLOEXEC, 0o644)
    except OSError as exc:
        if path is not None and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            # A read-only directory: the crontab-file cannot be replaced
            # there either, so an edit that writes fails anyway and one
            # that only reads needs no lock.
            yield None
            return
        raise CrontabError.instead(
            "cannot open the crontab lock file %s: %s" % (name, exc.strerror or exc)
        )
    try:
        if not CLOEXEC:  # Python 2: no crontab command may inherit it
            fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CrontabError("the crontab lock file %s is not a regular file" % name)
        _wait_for_lock(fd, name, wait)
        yield name
    finally:
        os.close(fd)  # releases the lock


def _wait_for_lock(fd, name, wait):
    deadline = monotonic() + wait
    pause = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except (IOError, OSError) as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise CrontabError.instead(
                    "cannot lock %s: %s" % (name, exc.strerror or exc)
                )
        if monotonic() >= deadline:
            raise CrontabError(
                "another process (another buildout?) has held the lock "
                "%s for more than %g seconds; run buildout again when it "
                "is done" % (name, wait)
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


@contextlib.contextmanager
def unlocked():
    """In place of ``locked`` where there is nothing to lock."""
    yield None
