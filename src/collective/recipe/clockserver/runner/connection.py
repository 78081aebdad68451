"""The one sqlite3 connection of a part's records (records.py): the
checked state directory, the store opened (and opened again when its
file was replaced), write transactions in which a damaged store is moved
aside once and a new one begins, reads, the store's lock files.

Errors come out as StoreError (Refused, Unreadable) with one line saying
why; see store.py for the trust checks and the schema.
"""

import os
import re
import sqlite3
import threading
import time

from . import store
from .store import Refused, StoreError, Unreadable


def store_name(part):
    """The store's file name: the part's name, made a safe file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", part or "clock").lstrip(".") + ".sqlite"


class Connection:
    """The connection, safe across threads (one lock); Records builds on it."""

    def __init__(self, directory, now=time.time, part=None, log=None, durable=True):
        self.directory = directory
        self.now = now  # the time source's time() (simulated in tests)
        self.part = part or os.path.basename(os.path.normpath(directory))
        self.filename = store_name(self.part)
        self.path = os.path.join(directory, self.filename)
        self.log = log or (lambda text: None)
        self._lock = threading.RLock()  # the connection
        self._dirfd = None
        self._conn = None
        self._identity = None
        self._writer = False
        self._attempts = False  # the connection's store has runs.attempts
        self.durable = durable  # each commit synced; else _sync() syncs them
        self._known = set()  # names this connection's store surely has
        self._pending = []
        self._tables = None  # the connection known to have the tables
        self._unsynced = False

    def close(self):
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            if self._dirfd is not None:
                os.close(self._dirfd)
            self._conn = self._dirfd = self._identity = None
            self._known = set()

    def _sync(self):
        """Put the commits made since the last sync on disk (a store opened
        with ``durable=False``: one fsync of the WAL for many runs)."""
        with self._lock:
            if not self._unsynced or self._dirfd is None:
                return
            self._unsynced = False
            try:
                fd = os.open(
                    self.filename + "-wal",
                    os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                    dir_fd=self._dirfd,
                )
            except FileNotFoundError:  # checkpointed and gone: on disk
                return
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def make(self):
        """Create the state directory (mode 0700) and the store."""
        self._write(lambda conn: None)

    def _directory(self, create):
        if self._dirfd is None:
            self._dirfd = store.open_directory(self.directory, create=create)
        return self._dirfd

    def _open(self, write):
        """The connection, (re)opened when the store's file changed."""
        if self._dirfd is None:
            self._directory(write)
        else:  # the directory may have been chmod'ed since
            problem = store._problem(os.fstat(self._dirfd), self.directory, True)
            if problem:
                self.close()
                raise Refused(problem)
        if self._conn is not None:
            # Still the file we checked and opened?  (Only this user or root
            # can change the trusted directory: one stat is enough.)
            try:
                st = os.stat(self.filename, dir_fd=self._dirfd, follow_symlinks=False)
                same = (st.st_dev, st.st_ino) == self._identity
            except FileNotFoundError:
                same = False
            if not same:
                self._conn.close()
                self._conn = None
                self._known = set()
        if self._conn is None:
            self._conn, self._identity = store.connect(
                self._dirfd, self.directory, self.filename, write, self.durable
            )
            self._writer = False
            self._tables = None
            self._attempts = store.has_attempts(self._conn)
        if write and not self._writer:
            taken = store.ensure_schema(self._conn, self._take_over)
            self._writer = self._attempts = True
            for name in taken or ():
                try:
                    os.rename(
                        name,
                        name + ".taken-over",
                        src_dir_fd=self._dirfd,
                        dst_dir_fd=self._dirfd,
                    )
                except OSError:
                    pass
        return self._conn

    def _transaction(self, change):
        """``change(conn)`` in one write transaction; a damaged store is
        moved aside once and a new one begins."""
        with self._lock:
            for attempt in (1, 2):
                conn = None
                try:
                    conn = self._open(write=True)
                    self._pending = []
                    conn.execute("BEGIN IMMEDIATE")
                    result = change(conn)
                    conn.execute("COMMIT")
                    self._unsynced = not self.durable
                    self._known.update(self._pending)
                    return result
                except sqlite3.Error as exc:
                    if conn is not None and conn.in_transaction:
                        try:
                            conn.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass
                    if store.damaged(exc) and attempt == 1 and self._dirfd is not None:
                        self._set_aside(exc)
                        continue
                    raise self._error(exc) from None

    def _set_aside(self, exc):
        identity = self._identity
        if identity is None:
            try:
                st = os.stat(self.filename, dir_fd=self._dirfd, follow_symlinks=False)
                identity = (st.st_dev, st.st_ino)
            except OSError:
                identity = None
        if self._conn is not None:
            self._conn.close()
        self._conn = self._identity = None
        self._known = set()
        aside = identity and store.move_aside(
            self._dirfd, self.directory, self.filename, identity, self.now()
        )
        if aside:
            self.log(
                f"the records store {self.path} is damaged ({exc}): moved to "
                f"{os.path.join(self.directory, aside)}, a new one begins"
            )

    def _error(self, exc):
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(
                f"the records store {self.path} stayed locked for "
                f"{store.TIMEOUT:g} s (a stopped process?): record dropped"
            )
        if store.damaged(exc):
            return Unreadable(
                f"the records store {self.path} is damaged ({text}); "
                "the next run moves it aside"
            )
        return StoreError(f"the records store {self.path}: {text}")

    def _read(self, query):
        """``query(conn)`` on the store as it stands; None when there is
        no store yet.  Raises Unreadable, Refused."""
        with self._lock:
            try:
                conn = self._open(write=False)
                if (
                    conn is not self._tables
                    and not conn.execute(
                        "SELECT 1 FROM sqlite_master WHERE name = 'names'"
                    ).fetchone()
                ):
                    return None  # created, its tables not yet
                self._tables = conn  # tables, once there, stay
                return query(conn)
            except FileNotFoundError:
                return None
            except sqlite3.Error as exc:
                error = self._error(exc)
                raise (
                    error if isinstance(error, Unreadable) else Unreadable(str(error))
                ) from None
            except OSError as exc:
                raise Unreadable(
                    f"cannot read the records store {self.path}: {exc.strerror or exc}"
                ) from None

    def _take_over(self, conn):
        from .takeover import take_over

        return take_over(conn, self._dirfd, self.directory, self.log)

    def lock_file(self, what):
        """A descriptor of ``<store>.<what>.lock`` in the checked directory
        (to flock); raises Refused, OSError."""
        with self._lock:
            return store.create_file(
                self._directory(True), self.directory, f"{self.filename}.{what}.lock"
            )

    def damaged_stores(self):
        """The damaged stores moved aside and not yet removed (paths)."""
        with self._lock:
            try:
                return [
                    os.path.join(self.directory, name)
                    for name in store.moved_aside(self._directory(False), self.filename)
                ]
            except FileNotFoundError:
                return []
