"""Replacing a file atomically: readers see the old or the new one, never half."""

import os
import threading


def replace(path, data, mode):
    """Write the bytes ``data`` to ``path`` with ``mode``, through a
    temporary file in the same directory that then replaces it."""
    directory, name = os.path.split(os.path.abspath(path))
    # Unique per process and thread: writers of one file never share it.
    temp = os.path.join(directory, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temp, mode)  # whatever the umask took away
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
