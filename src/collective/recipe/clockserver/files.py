"""Replacing a file atomically and durably: readers see the old or the new
one, never half, and after a crash the one that was there last.

The one writer of the package: the recipe's mode-0600 files (the include
file, bin/<part>'s config, in the part's mode-0700 directory), a
``crontab-file``, the run records and the metrics file.  Python 2.7 and 3
(``%`` formatting, ``os.rename``).
"""

from __future__ import absolute_import

import os
import threading


def replace(path, data, mode):
    """Write the bytes ``data`` to ``path`` with ``mode``: through a
    temporary file in the same directory, flushed to disk, that then
    replaces ``path``; the directory is flushed too, so that the rename
    survives a crash."""
    directory, name = os.path.split(os.path.abspath(path))
    # Unique per process and thread: writers of one file never share it.
    temp = os.path.join(
        directory,
        ".%s.%d.%d.tmp" % (name, os.getpid(), threading.current_thread().ident),
    )
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(temp, mode)  # whatever the umask took away
        os.rename(temp, path)  # atomic on POSIX, over an existing file too
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    sync_directory(directory)


def sync_directory(directory):
    """Flush a directory's entries (a rename in it) to disk; a file system
    that cannot (some network ones) is left as it is."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def private_directory(path):
    """Create the directory ``path`` (and its parents) when missing; mode
    0700 either way."""
    if not os.path.isdir(path):
        os.makedirs(path)
    os.chmod(path, 0o700)


def write_private(path, text):
    """Write ``text`` to ``path`` readable by the owner only (mode 0600)."""
    if not isinstance(text, bytes):  # Python 2: native strings are UTF-8 bytes
        text = text.encode("utf-8")
    replace(path, text, 0o600)
