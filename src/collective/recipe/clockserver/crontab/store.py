"""Reading and writing the user's crontab or a ``crontab-file``, under its lock.

Unlike z3c.recipe.usercrontab, a failing ``crontab`` command raises
``CrontabError`` (from ``block``): its exit code is never ignored. A
``crontab-file`` must be a regular file or missing: devices, FIFOs,
directories (also behind a symlink) are refused without being opened.

Crontab text is read as bytes and handled as native strings: on Python 3
decoded as UTF-8 with ``surrogateescape``, so that any byte comes back out
unchanged; on Python 2 the bytes as they are. Every read-modify-write
holds the crontab's lock (``lock``). Written for Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

import errno
import os
import stat
import subprocess
import threading

try:
    from shutil import which
except ImportError:  # Python 2

    def which(name):
        """The path of the program ``name`` on PATH, or None."""
        for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
            path = os.path.join(directory or os.curdir, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        return None


from .. import files
from ..errors import ConfigError
from .block import (
    PREPEND,
    CrontabError,
    join_lines,
    purge_blocks,
    remove_block,
    replace_block,
    split_lines,
)
from .lock import CLOEXEC, locked, unlocked

TIMEOUT = 30  # seconds for one run of the crontab command
FILE_FIX = (
    "Set crontab-file to a regular file, or to a path that does not exist "
    "yet (e.g. crontab-file = var/crontab); it was left as it is."
)
BROKEN_FIX = (
    " Fix the crontab by hand (crontab -e, or edit the "
    "crontab-file), then run buildout again. Nothing was written."
)
NATIVE_BYTES = str is bytes  # Python 2


def _decode(data):
    return data if NATIVE_BYTES else data.decode("utf-8", "surrogateescape")


def _encode(text):
    if isinstance(text, bytes):
        return text
    return text.encode("utf-8", "strict" if NATIVE_BYTES else "surrogateescape")


def _crontab_command():
    command = which("crontab")
    if command is None:
        raise CrontabError(
            "no crontab command found on PATH; install cron "
            "(Debian: apt-get install cron) or set crontab-file"
        )
    return command


def _run(args, data=None):
    """Run ``args`` with ``data`` on stdin; return (status, stdout, stderr).

    A watchdog kills the command after TIMEOUT seconds (Python 2's
    ``communicate`` has no timeout).
    """
    env = dict(os.environ, LC_ALL="C")
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
    except OSError as exc:
        raise CrontabError.instead("could not run %s: %s" % (" ".join(args), exc))
    expired = []

    def kill():
        if process.poll() is None:
            expired.append(True)
            try:
                process.kill()
            except OSError:  # it ended just now
                pass

    watchdog = threading.Timer(TIMEOUT, kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        stdout, stderr = process.communicate(data)
    finally:
        watchdog.cancel()
        watchdog.join()  # Python 2: a timer thread left at exit prints errors
    if expired:
        raise CrontabError.instead(
            "%s did not finish within %g seconds" % (" ".join(args), TIMEOUT)
        )
    return process.returncode, stdout, stderr


def _failed(args, status, stderr):
    return CrontabError(
        "%s failed with exit status %d: %s"
        % (" ".join(args), status, _decode(stderr).strip() or "(no error output)")
    )


def _kind(mode):
    """What a non-regular file is, in words."""
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def file_problem(path):
    """Why ``path`` cannot serve as a crontab-file, or None.

    A regular file, a missing one, or a symlink to either is fine (a
    symlink is followed). Nothing is opened: opening a device or a FIFO
    can block or have effects of its own.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        return "%s cannot be used: %s" % (path, exc.strerror or exc)
    if stat.S_ISREG(mode):
        return None
    target = ""
    if os.path.islink(path):
        target = " (a symlink to %s)" % os.path.realpath(path)
    return "%s%s is %s, not a regular file" % (path, target, _kind(mode))


def check_file(path, value=None):
    """Raise ConfigError (option ``crontab-file``) unless ``path`` is a
    regular file or missing; ``value`` is the option as written."""
    problem = file_problem(path)
    if problem:
        raise ConfigError(
            "crontab-file", path if value is None else value, problem, FILE_FIX
        )


def expand_path(value, directory):
    """``crontab-file`` as written -> absolute path: ``~`` is the home
    directory, a relative path is relative to ``directory``."""
    return os.path.normpath(os.path.join(directory, os.path.expanduser(value.strip())))


def _refuse(path):
    problem = file_problem(path)
    if problem:
        raise CrontabError(
            "crontab-file: %s; set crontab-file to a regular file, or to a "
            "path that does not exist yet; it was left as it is" % problem
        )


def read_crontab(path=None):
    """Return the lines of the user's crontab, or of the file ``path``.

    No crontab yet, or no such file, reads as no lines. A ``path`` that is
    not a regular file raises CrontabError and is not opened for long.
    """
    if path is not None:
        return _read_file(path)
    args = [_crontab_command(), "-l"]
    status, stdout, stderr = _run(args)
    if status == 0:
        return split_lines(_decode(stdout))
    if status == 1 and b"no crontab for" in stderr:
        return []
    raise _failed(args, status, stderr)


def _read_file(path):
    _refuse(path)
    try:
        # O_NONBLOCK: should the path turn into a FIFO after the check,
        # the open does not hang; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return []
        raise CrontabError.instead("cannot read crontab-file %s: %s" % (path, exc))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            _refuse(path)
            raise CrontabError("crontab-file %s is not a regular file" % path)
        try:
            return split_lines(_decode(f.read()))
        except (IOError, OSError) as exc:
            raise CrontabError.instead("cannot read crontab-file %s: %s" % (path, exc))


def write_crontab(lines, path=None):
    """Install ``lines`` as the user's crontab, or write them to ``path``.

    The file is replaced atomically and keeps its mode (new files: 0644);
    its directory must exist. A symlink is followed: its target is
    replaced. Anything but a regular file (or a missing one) is refused.
    """
    data = _encode(join_lines(lines))
    if path is None:
        args = [_crontab_command(), "-"]
        status, _, stderr = _run(args, data)
        if status != 0:
            raise _failed(args, status, stderr)
        return
    _refuse(path)
    _write_file(os.path.realpath(path), data)


def _write_file(path, data):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise CrontabError(
            "cannot write crontab-file %s: directory %s does not exist; "
            "create it or change crontab-file" % (path, directory)
        )
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
        mode = 0o644
    try:
        files.replace(path, data, mode)
    except (IOError, OSError) as exc:
        raise CrontabError.instead("cannot write crontab-file %s: %s" % (path, exc))


def _source(path):
    return "the user's crontab" if path is None else "crontab-file %s" % path


def _edit(path, change, fix=""):
    """Apply ``change`` to the crontab's lines under the crontab's lock;
    write only when they differ. Returns whether anything was written.
    """
    lock = locked(path)
    if path is not None and not os.path.isdir(os.path.dirname(os.path.realpath(path))):
        # No directory, no file: nothing to lock; a write says what is wrong.
        lock = unlocked()
    with lock:
        lines = read_crontab(path)
        try:
            new = change(lines)
        except CrontabError as exc:
            raise CrontabError.instead("%s: %s%s" % (_source(path), exc, fix))
        if new == lines:
            return False
        write_crontab(new, path)
        return True


def update_crontab(ident, entries, path=None):
    """Put ``entries`` into the block of ``ident``; return whether it wrote."""
    return _edit(path, lambda lines: replace_block(lines, ident, entries))


def remove_from_crontab(ident, path=None):
    """Remove the block of ``ident``; return whether there was one."""
    return _edit(path, lambda lines: remove_block(lines, ident), BROKEN_FIX)


def purge_from_crontab(ident, path=None):
    """Remove every line of ``ident``'s block(s), broken or not (see
    ``purge_blocks``); return whether anything was removed."""
    return _edit(path, lambda lines: purge_blocks(lines, ident))


def install_crontab(ident, entries, path=None):
    """``update_crontab``, the directory of a ``crontab-file`` created first
    when missing."""
    if path is not None:
        _make_directory(os.path.dirname(path))
    return update_crontab(ident, entries, path)


def _make_directory(path):
    """The directory of ``crontab-file``, created when missing."""
    if os.path.isdir(path):
        return
    try:
        os.makedirs(path)
    except OSError as e:
        if os.path.isdir(path):  # made by another process meanwhile
            return
        raise CrontabError(
            "cannot create the directory of crontab-file: %s; set crontab-file "
            "to a path in a directory that exists or can be created" % e
        )


def purge_after_failure(ident, path, script, updating):
    """After a failed install (or update, ``updating``) of the part whose
    bin/<part> is ``script``: take every line of its block(s) out of the
    crontab, since buildout removes the files they call.  The note for the
    error that says so, or None when there was nothing to say."""
    block = PREPEND % ident
    try:
        purged = purge_from_crontab(ident, path)
    except CrontabError as e:
        if not updating:  # nothing of ours was there to clean
            return None
        return (
            "\nThe crontab could not be cleaned either (%s). If it holds "
            "the block %r, remove it by hand: its lines call %s, which "
            "buildout removes after this error." % (e, block, script)
        )
    if not purged:
        return None
    return (
        "\nThe block %r was taken out of the crontab, so that "
        "nothing calls files that buildout removes after this "
        "error; the next successful run puts it back." % block
    )
