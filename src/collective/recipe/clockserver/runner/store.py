"""The records' database file: the state directory and its files checked
before they are trusted, the sqlite3 store opened in it (WAL, 5 s busy
timeout), its schema, and a damaged store moved aside.

Trust: the state directory and every file of the store must be owned by
the user running bin/<part> (or root), must not be writable by group or
others, and must not be symlinks.  The directory is opened once
(``O_NOFOLLOW``) and every file we create or read ourselves is opened
relative to that descriptor.  sqlite3 opens its files by path: the
database file is created by us first (relative to the checked directory,
mode 0600), its ``-wal``/``-shm`` files are checked with ``lstat`` before
the open, and the file sqlite opened is compared with ours afterwards.
The window left between the check and sqlite's open can only be used by a
user who may rename the state directory's parent (see the README).
"""

import fcntl
import os
import sqlite3
import stat

TIMEOUT = 5.0  # seconds a write waits for the store's lock, then is dropped
SUFFIXES = ("", "-wal", "-shm")
DAMAGE = ("malformed", "not a database")

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE names (
    name TEXT PRIMARY KEY, first_seen REAL NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    ok INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0, last_success TEXT);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, due REAL, start REAL,
    duration REAL, result TEXT NOT NULL, reason TEXT, http_status INTEGER,
    exit_status INTEGER, host TEXT, by TEXT, scheduled INTEGER NOT NULL DEFAULT 0,
    catch_up INTEGER NOT NULL DEFAULT 0, output TEXT,
    attempts INTEGER NOT NULL DEFAULT 1);
CREATE INDEX runs_by_name ON runs (name, id);
CREATE TABLE running (
    token TEXT PRIMARY KEY, name TEXT NOT NULL, host TEXT, pid INTEGER,
    pid_start INTEGER, boot TEXT, due REAL, start REAL, by TEXT,
    scheduled INTEGER NOT NULL DEFAULT 0, catch_up INTEGER NOT NULL DEFAULT 0);
CREATE INDEX running_by_name ON running (name);
INSERT INTO meta VALUES ('version', '2');
"""


class StoreError(Exception):
    """The records cannot be used; the message is one line saying why."""


class Refused(StoreError):
    """The state directory or a file in it is not to be trusted."""


class Unreadable(StoreError):
    """The records exist but cannot be read (damaged, not permitted...)."""


def damaged(exc):
    """Whether sqlite said the file is damaged (the only case moved aside)."""
    text = str(exc)
    return isinstance(exc, sqlite3.DatabaseError) and any(d in text for d in DAMAGE)


def _problem(st, path, directory=False):
    """Why a file's status makes it untrusted, or None."""
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symlink"
    if directory and not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if not directory and not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    if st.st_uid not in (os.geteuid(), 0):
        return (
            f"{path} is owned by uid {st.st_uid}, not by the user running "
            f"bin/<part> (uid {os.geteuid()}) or root"
        )
    if st.st_mode & 0o022:
        return f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def open_directory(path, create):
    """The checked state directory as a descriptor (created mode 0700 when
    ``create``).  Raises Refused, or OSError/FileNotFoundError."""
    if create:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            os.makedirs(parent, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (40, 20):  # ELOOP, ENOTDIR: a symlink or a file
            st = os.lstat(path)
            raise Refused(
                _problem(st, path, directory=True) or f"{path} is not a directory"
            ) from None
        raise
    problem = _problem(os.fstat(fd), path, directory=True)
    if problem:
        os.close(fd)
        raise Refused(problem)
    return fd


def check_files(dirfd, directory, names):
    """Refuse when any of ``names`` in the directory is untrusted; returns
    the (st_dev, st_ino) of each that exists."""
    found = {}
    for name in names:
        try:
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        problem = _problem(st, name)
        if problem:
            problem = _problem(st, os.path.join(directory, name))
        if problem:
            raise Refused(problem)
        found[name] = (st.st_dev, st.st_ino)
    return found


def create_file(dirfd, directory, name, mode=0o600):
    """Create (or open) ``name`` in the checked directory, never through a
    symlink; returns its descriptor, checked."""
    fd = os.open(
        name,
        os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
        mode,
        dir_fd=dirfd,
    )
    problem = _problem(os.fstat(fd), os.path.join(directory, name))
    if problem:
        os.close(fd)
        raise Refused(problem)
    return fd


def connect(dirfd, directory, filename, create, durable=True):
    """An sqlite3 connection to the store (autocommit; transactions are
    explicit), and the identity of its file.  Raises Refused, Unreadable
    (no store and not ``create``), sqlite3.Error or OSError."""
    found = check_files(dirfd, directory, [filename + s for s in SUFFIXES])
    if filename not in found:
        if not create:
            raise FileNotFoundError(filename)
        os.close(create_file(dirfd, directory, filename))
        found = check_files(dirfd, directory, [filename])
    path = os.path.join(
        os.readlink(f"/proc/self/fd/{dirfd}")
        if os.path.exists(f"/proc/self/fd/{dirfd}")
        else directory,
        filename,
    )
    uri = (
        "file:"
        + path.replace("?", "%3f").replace("#", "%23")
        + ("" if create else "?mode=rw")
    )
    conn = sqlite3.connect(
        uri, timeout=TIMEOUT, isolation_level=None, check_same_thread=False, uri=True
    )
    try:
        st = os.stat(path)
        if (st.st_dev, st.st_ino) != found[filename]:
            raise Refused(f"{path} changed while it was being opened")
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: each commit is on disk when it returns (fire, exec); NORMAL
        # for run, which makes its commits durable with Records.flush().
        conn.execute("PRAGMA synchronous=" + ("FULL" if durable else "NORMAL"))
        check_files(dirfd, directory, [filename + s for s in SUFFIXES])
    except BaseException:
        conn.close()
        raise
    return conn, found[filename]


def ensure_schema(conn, take_over):
    """Create the tables unless they exist; ``take_over(conn)`` runs in the
    same transaction (the JSON records).  Returns what it returned, or None.
    A store of version 1 gets the ``attempts`` column of its runs (1 each)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone():
        if not has_attempts(conn):
            _transaction(conn, _add_attempts)
        return None
    return _transaction(conn, lambda conn: _create(conn, take_over))


def has_attempts(conn):
    """Whether the runs table has its ``attempts`` column (version 2)."""
    return any(row[1] == "attempts" for row in conn.execute("PRAGMA table_info(runs)"))


def _transaction(conn, change):
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = change(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return done


def _create(conn, take_over):
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone():
        return None  # another writer was first
    for statement in SCHEMA.strip().split(";"):
        if statement.strip():
            conn.execute(statement)
    return take_over(conn)


def _add_attempts(conn):
    if not has_attempts(conn):  # another writer may have been first
        conn.execute("ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'version'")


def move_aside(dirfd, directory, filename, identity, now):
    """Move a damaged store (and its -wal/-shm) aside under the store's
    lock file, unless another writer already did (the file is no longer
    ``identity``).  Returns the new name, or None."""
    lock = create_file(dirfd, directory, filename + ".lock")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            st = os.stat(filename, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if (st.st_dev, st.st_ino) != identity:
            return None
        aside = f"{filename}.damaged-{int(now)}"
        for suffix in SUFFIXES:
            try:
                os.rename(
                    filename + suffix,
                    aside + suffix,
                    src_dir_fd=dirfd,
                    dst_dir_fd=dirfd,
                )
            except FileNotFoundError:
                pass
        return aside
    finally:
        os.close(lock)


def moved_aside(dirfd, filename):
    """The damaged stores moved aside and not yet removed."""
    prefix = filename + ".damaged-"
    return sorted(
        name
        for name in os.listdir(dirfd)
        if name.startswith(prefix) and not name.endswith(("-wal", "-shm"))
    )
