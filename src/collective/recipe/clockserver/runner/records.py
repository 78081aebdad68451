"""Run records: the runs of a part's jobs and entries in one sqlite3 store
in the state directory (``<state>/<part>.sqlite``, see store.py).

Per name: its runs (the last 90 days, never fewer than 20), the runs in
progress, its counters by result (never going down), last success,
consecutive failures and when it was first seen.  Every change is one
transaction, so processes that finish at the same moment (cron starting
several entries, ``run`` beside them) never lose a record; a write that
cannot get the store within 5 s raises StoreError (the caller logs it and
the run goes on).  A run in progress names its process (host, pid, the
pid's start time and the boot); when that process is gone the run shows
as ``failed: interrupted``.  While a run goes on its process holds the
name's lock (running.py): that is how run, fire and exec of this host see
each other's runs.  ``run`` keeps its calls' beginnings and ends in memory
and writes them in batches (``begin_soon``, ``finish(later=True)``,
``flush``).  The per-name JSON files of earlier versions are taken over
once, when the store is created.
"""

import os
import re
import sqlite3
import threading
import time

from . import ledger, running, store
from .history import (  # noqa: F401 (the API)
    RESULTS,
    RUN_FIELDS,
    RUNNING_FIELDS,
    _last_records,
    _record,
)
from .ledger import KEEP, OUTPUT_LIMIT, tail, valid_name  # noqa: F401 (the API)
from .processes import _boot_id, _my_start, hostname
from .store import Refused, StoreError, Unreadable

BEGIN_GAP = 1.0  # seconds a call of run goes on before its row is written


def store_name(part):
    """The store's file name: the part's name, made a safe file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", part or "clock").lstrip(".") + ".sqlite"


class Records:
    """The records of one part; safe across threads and processes.

    ``log(text)`` hears the one-line notes of the store itself (take-over,
    a damaged store moved aside).  Methods raise StoreError (Refused,
    Unreadable) and OSError; the run protocol (runs.py) logs them.
    """

    def __init__(
        self, directory, secrets=(), now=time.time, part=None, log=None, durable=True
    ):
        self.directory = directory
        self.secrets = tuple(s for s in secrets if s)
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
        self.durable = durable  # each commit synced; else flush() syncs them
        self._known = set()  # names this connection's store surely has
        self._pending = []
        self._tables = None  # the connection known to have the tables
        self._unsynced = False
        # What run keeps in memory until its next batch (under _memory):
        self._memory = threading.Lock()
        self._locks = None  # the lock file of the names in progress
        self._held = {}  # token -> (name, LockFile) of runs begun, not ended
        self._soon = {}  # token -> (monotonic, row) of runs begun, not written
        self._later = []  # (name, token, run): ends held back

    # -- the connection -------------------------------------------------------

    def close(self):
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            if self._dirfd is not None:
                os.close(self._dirfd)
            self._conn = self._dirfd = self._identity = None
            self._known = set()

    def flush(self, sync=True, begins=False):
        """Write the ends held back and the rows of the calls begun more
        than BEGIN_GAP ago (``begins``: all of them), and put the commits
        made since the last flush on disk (a store opened with
        ``durable=False``: one fsync of the WAL for many runs)."""
        with self._lock:
            with self._memory:
                waiting = self._later or self._due_begins(begins)
            if waiting:
                self._write(lambda conn: None, begins)
            if not sync or not self._unsynced or self._dirfd is None:
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

    def _write(self, change, begins=False):
        """``change(conn)`` in one write transaction, after what run held
        back; a damaged store is moved aside once and a new one begins."""
        with self._lock:
            # What was held back goes first; when this write fails it is
            # dropped with it (logged by the caller), never piled up.
            with self._memory:
                later, self._later = self._later, []
                soon = self._due_begins(begins)
                for row in soon:
                    del self._soon[row[0]]
            for attempt in (1, 2):
                conn = None
                try:
                    conn = self._open(write=True)
                    self._pending = []
                    conn.execute("BEGIN IMMEDIATE")
                    if later or soon:
                        self._batch(conn, later, soon)
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

    def _batch(self, conn, later, soon):
        """run's batch: runs of dead processes reaped, then the rows of the
        calls still going on, then the ends."""
        now = self.now()
        ledger.reap_all(conn, now)
        for row in soon:
            self._name(conn, row[1])
            conn.execute(ledger.INSERT_RUNNING, row)
        for name, token, run in later:
            self._name(conn, name)
            ledger.finish_row(conn, name, token, run, now)

    def _due_begins(self, everything):
        """The rows of run's calls in progress to write now (under _memory)."""
        if not self._soon:
            return []
        old = float("inf") if everything else time.monotonic() - BEGIN_GAP
        return [row for at, row in self._soon.values() if at <= old]

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

    # -- runs in progress -------------------------------------------------------

    def _lock_file(self):
        if self._locks is None:
            with self._lock:
                self._locks = running.lock_file(
                    self._directory(True),
                    self.directory,
                    self.filename + ".running.lock",
                )
        return self._locks

    def _hold(self, name):
        """A new token for a run of ``name``, or None: a run of it goes on
        on this host.  Raises Refused, OSError."""
        locks = self._lock_file()
        if not locks.hold(name):
            return None
        token = os.urandom(12).hex()
        with self._memory:
            self._held[token] = (name, locks)
        return token

    def _release(self, token):
        with self._memory:
            held = self._held.pop(token, None)
        if held is not None:
            held[1].release(held[0])

    def _row(self, token, name, due, by, scheduled, catch_up):
        return (
            token,
            name,
            hostname(),
            os.getpid(),
            _my_start(),
            _boot_id(),
            due,
            self.now(),
            by,
            int(bool(scheduled)),
            int(bool(catch_up)),
        )

    # -- writing ---------------------------------------------------------------

    def _name(self, conn, name):
        if name not in self._known:
            ledger.add_name(conn, name, self.now())
            self._pending.append(name)

    def seen(self, names):
        """Note the first time each name was seen (kept across reinstalls)."""

        def change(conn):
            for name in names:
                self._name(conn, name)

        self._write(change)

    def begin(self, name, due, by, scheduled=False, catch_up=False, record_skip=True):
        """Start a run of ``name`` unless one of this host still runs.

        Returns ``(token, None)``, or ``(None, "still running")`` after
        recording the skip (unless ``record_skip`` is false).
        """
        if not valid_name(name):
            raise ValueError(f"not a usable name: {name!r}")
        token = self._hold(name)
        me = hostname()
        values = token and self._row(token, name, due, by, scheduled, catch_up)

        def change(conn):
            self._name(conn, name)
            # Nothing of this name runs (the usual case): one statement.
            if (
                values
                and conn.execute(
                    ledger.INSERT_RUNNING
                    + " WHERE NOT EXISTS (SELECT 1 FROM running WHERE name = ?2)",
                    values,
                ).rowcount
            ):
                return token
            living = ledger.reap(conn, name, self.now())
            if values and not any(entry["host"] == me for entry in living):
                conn.execute(ledger.INSERT_RUNNING, values)
                return token
            if record_skip:
                ledger.append(
                    conn,
                    name,
                    ledger.skip_run(
                        self.secrets, self.now(), due, "still running", by, scheduled
                    ),
                    self.now(),
                )
            return None

        try:
            got = self._write(change)
        except BaseException:
            self._release(token)
            raise
        if got:
            return got, None
        self._release(token)
        return None, "still running"

    def begin_soon(self, name, due, by, scheduled=False, catch_up=False):
        """``run``: start a run of ``name`` without a write (its row is
        written with a batch once it went on for BEGIN_GAP): the token, or
        False when a run of it goes on on this host (nothing recorded)."""
        if not valid_name(name):
            raise ValueError(f"not a usable name: {name!r}")
        token = self._hold(name)
        if token is None:
            return False
        row = self._row(token, name, due, by, scheduled, catch_up)
        with self._memory:
            self._soon[token] = (time.monotonic(), row)
        return token

    def cancel(self, name, token):
        """Forget a run begun but not called (the claim went elsewhere)."""
        with self._memory:
            unwritten = self._soon.pop(token, None)
        try:
            if unwritten is None:
                self._write(
                    lambda conn: conn.execute(
                        "DELETE FROM running WHERE token = ?", (token,)
                    )
                )
        finally:
            self._release(token)

    def finish(
        self,
        name,
        token,
        result,
        duration,
        reason="",
        http_status=None,
        exit_status=None,
        output=None,
        by=None,
        due=None,
        start=None,
        scheduled=False,
        catch_up=False,
        later=False,
        attempts=1,
    ):
        """Record the end of a run begun with ``begin`` (or one never begun).

        ``later``: hold it back and write it with the next transaction or
        ``flush()`` (``run``: the ends of many calls in one transaction;
        until then the run shows as running, or not at all when it began
        with ``begin_soon`` less than BEGIN_GAP before)."""
        run = ledger.ended_run(
            self.secrets,
            result,
            duration,
            reason,
            http_status,
            exit_status,
            output,
            by,
            due,
            start,
            scheduled,
            catch_up,
            attempts,
        )
        held = token
        with self._memory:
            unwritten = self._soon.pop(token, None) if token else None
        if unwritten is not None:  # its row was never written: none to delete
            row = unwritten[1]
            run.update(due=row[6], start=row[7], by=row[8])
            run.update(scheduled=bool(row[9]), catch_up=bool(row[10]))
            token = None
        if later:
            with self._memory:
                self._later.append((name, token, run))
            self._release(held)
            return
        try:
            self._write(
                lambda conn: (
                    self._name(conn, name),
                    ledger.finish_row(conn, name, token, run, self.now()),
                )
            )
        finally:
            self._release(held)

    def skip(self, name, due, reason, by, scheduled=False):
        """Record a tick that was not called, and why."""

        def change(conn):
            self._name(conn, name)
            run = ledger.skip_run(self.secrets, self.now(), due, reason, by, scheduled)
            ledger.append(conn, name, run, self.now())

        self._write(change)

    def put(self, name, record):
        """Import a whole record as the JSON files of earlier versions held
        it (the take-over; tests write chosen histories with it)."""
        from .takeover import import_record

        self._write(lambda conn: import_record(conn, name, record))

    def _take_over(self, conn):
        from .takeover import take_over

        return take_over(conn, self._dirfd, self.directory, self.log)

    # -- reading ---------------------------------------------------------------

    def read(self, name, runs=None):
        """The record of ``name`` as it stands (dead runs shown as
        interrupted, nothing written), or None when there is none: a dict
        with first_seen, runs (oldest first; the last ``runs`` of them, or
        all kept), running, last_success, consecutive_failures, totals, and
        last_served/last_decisive (the runs that decide the state).
        Raises Unreadable (and Refused)."""
        return self._read(lambda conn: _record(conn, name, runs, self._attempts))

    def read_many(self, names, runs=None):
        """``read`` of each of ``names`` in one go: {name: record or None}."""

        def query(conn):
            if runs == 1:  # the metrics file: three queries for all
                found = _last_records(conn, names, self._attempts)
                return {name: found.get(name) for name in names}
            return {name: _record(conn, name, runs, self._attempts) for name in names}

        found = self._read(query)
        return found if found is not None else dict.fromkeys(names)

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
