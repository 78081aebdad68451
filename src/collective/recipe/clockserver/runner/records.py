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
as ``failed: interrupted``.  The per-name JSON files of earlier versions
are taken over once, when the store is created.
"""

import json
import os
import re
import sqlite3
import threading
import time

from . import store
from .history import (  # noqa: F401 (the API: takeover.py)
    RESULTS,
    RUN_FIELDS,
    RUNNING_FIELDS,
    _interrupted,
    _record,
    _running,
)
from .processes import _boot_id, _my_start, alive, hostname
from .store import Refused, StoreError, Unreadable
from .text import mask_secrets, one_line

KEEP = 20  # runs always kept per name
KEEP_DAYS = 90  # ...and those of the last 90 days
KEEP_MAX = 10000  # ...but no more than this many per name
PRUNE_EVERY = 64  # prune a name's runs when the new run's id is a multiple
OUTPUT_LIMIT = 2048  # bytes of a command's last output kept in a record
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def valid_name(name):
    return bool(NAME.match(name)) and len(name) <= 200


def store_name(part):
    """The store's file name: the part's name, made a safe file name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", part or "clock").lstrip(".") + ".sqlite"


def tail(data, secrets=(), limit=OUTPUT_LIMIT):
    """The last lines of a command's output, at most ``limit`` bytes, masked."""
    text = mask_secrets(data.decode("utf-8", "replace"), secrets)
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    cut = encoded[-limit:].decode("utf-8", "ignore")
    newline = cut.find("\n")
    if 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1 :]  # whole lines only
    return cut


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
        self._lock = threading.RLock()
        self._dirfd = None
        self._conn = None
        self._identity = None
        self._writer = False
        self.durable = durable  # each commit synced; else flush() syncs them
        self._known = set()  # names this connection's store surely has
        self._pending = []
        self._later = []  # (name, token, run): ends held back (finish(later=True))
        self._tables = None  # the connection known to have the tables
        self._unsynced = False

    # -- the connection -------------------------------------------------------

    def close(self):
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            if self._dirfd is not None:
                os.close(self._dirfd)
            self._conn = self._dirfd = self._identity = None
            self._known = set()

    def flush(self, sync=True):
        """Write the ends held back, and put the commits made since the last
        flush on disk (a store opened with ``durable=False``: one fsync of
        the WAL for many runs)."""
        with self._lock:
            if self._later:
                self._write(lambda conn: None)
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

    def _open(self, write):
        """The connection, (re)opened when the store's file changed."""
        if self._dirfd is None:
            self._dirfd = store.open_directory(self.directory, create=write)
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
        if write and not self._writer:
            taken = store.ensure_schema(self._conn, self._take_over)
            self._writer = True
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

    def _write(self, change):
        """``change(conn)`` in one write transaction; a damaged store is
        moved aside once and a new one begins."""
        with self._lock:
            # The ends held back go first; when this write fails they are
            # dropped with it (logged by the caller), never piled up.
            later, self._later = self._later, []
            for attempt in (1, 2):
                conn = None
                try:
                    conn = self._open(write=True)
                    self._pending = []
                    conn.execute("BEGIN IMMEDIATE")
                    for args in later:
                        self._finish(conn, *args)
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

    # -- writing ---------------------------------------------------------------

    def _name(self, conn, name):
        if name in self._known:
            return
        if not valid_name(name):
            raise ValueError(f"not a usable name: {name!r}")
        conn.execute(
            "INSERT OR IGNORE INTO names (name, first_seen) VALUES (?, ?)",
            (name, self.now()),
        )
        self._pending.append(name)

    def _append(self, conn, name, run):
        """Add a finished run (or skip) to ``name``'s runs and counters."""
        cursor = conn.execute(
            "INSERT INTO runs (name, due, start, duration, result, reason, http_status, "
            "exit_status, host, by, scheduled, catch_up, output) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (name, *(run[key] for key in RUN_FIELDS)),
        )
        result = run["result"]
        if result == "ok":
            conn.execute(
                "UPDATE names SET ok = ok + 1, consecutive_failures = 0, "
                "last_success = ? WHERE name = ?",
                (json.dumps(run, separators=(",", ":")), name),
            )
        elif result == "failed":
            conn.execute(
                "UPDATE names SET failed = failed + 1, consecutive_failures = "
                "consecutive_failures + 1 WHERE name = ?",
                (name,),
            )
        else:
            conn.execute(
                "UPDATE names SET skipped = skipped + 1 WHERE name = ?", (name,)
            )
        if cursor.lastrowid % PRUNE_EVERY == 0:
            self._prune(conn, name)

    def _prune(self, conn, name):
        """Keep the runs of the last 90 days, at least 20, at most KEEP_MAX."""
        nth = "(SELECT id FROM runs WHERE name = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"
        conn.execute(
            f"DELETE FROM runs WHERE name = ?1 AND id <= {nth}", (name, KEEP_MAX)
        )
        conn.execute(
            f"DELETE FROM runs WHERE name = ?1 AND id <= {nth} AND start < ?3",
            (name, KEEP, self.now() - KEEP_DAYS * 86400),
        )

    def _reap(self, conn, name):
        """Turn this host's runs in progress whose process died into
        ``failed: interrupted``; returns those still alive."""
        living = []
        for entry in _running(conn, name):
            if alive(entry):
                living.append(entry)
            else:
                conn.execute("DELETE FROM running WHERE token = ?", (entry["token"],))
                self._append(conn, name, _interrupted(entry))
        return living

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
        token = os.urandom(12).hex()
        now = self.now()
        me = hostname()

        values = (
            token,
            name,
            me,
            os.getpid(),
            _my_start(),
            _boot_id(),
            due,
            now,
            by,
            int(bool(scheduled)),
            int(bool(catch_up)),
        )
        insert = (
            "INSERT INTO running (token, name, host, pid, pid_start, boot, due, "
            "start, by, scheduled, catch_up) SELECT ?,?,?,?,?,?,?,?,?,?,?"
        )

        def change(conn):
            self._name(conn, name)
            # Nothing of this name runs (the usual case): one statement.
            if conn.execute(
                insert + " WHERE NOT EXISTS (SELECT 1 FROM running WHERE name = ?2)",
                values,
            ).rowcount:
                return token
            if any(entry["host"] == me for entry in self._reap(conn, name)):
                if record_skip:
                    self._append(
                        conn, name, self._skip_run(due, "still running", by, scheduled)
                    )
                return None
            conn.execute(insert, values)
            return token

        got = self._write(change)
        return (got, None) if got else (None, "still running")

    def cancel(self, name, token):
        """Forget a run begun but not called (the claim went elsewhere)."""
        self._write(
            lambda conn: conn.execute("DELETE FROM running WHERE token = ?", (token,))
        )

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
    ):
        """Record the end of a run begun with ``begin`` (or one never begun).

        ``later``: hold it back and write it with the next transaction or
        ``flush()`` (``run``: the ends of many calls in one transaction;
        until then the run shows as running)."""
        run = {
            "due": due,
            "start": start,
            "duration": duration,
            "result": result,
            "reason": mask_secrets(one_line(reason), self.secrets),
            "http_status": http_status,
            "exit_status": exit_status,
            "host": hostname(),
            "by": by,
            "scheduled": bool(scheduled),
            "catch_up": bool(catch_up),
            "output": None if output is None else tail(output, self.secrets),
        }

        if later:
            with self._lock:
                self._later.append((name, token, run))
            return
        self._write(lambda conn: self._finish(conn, name, token, run))

    def _finish(self, conn, name, token, run):
        self._name(conn, name)
        if token:
            row = conn.execute(
                "DELETE FROM running WHERE token = ? RETURNING due, "
                "start, by, scheduled, catch_up",
                (token,),
            ).fetchall()
            if row:
                due, start, by, scheduled, catch_up = row[0]
                run.update(
                    due=due,
                    start=start,
                    by=by,
                    scheduled=bool(scheduled),
                    catch_up=bool(catch_up),
                )
        self._append(conn, name, run)

    def skip(self, name, due, reason, by, scheduled=False):
        """Record a tick that was not called, and why."""

        def change(conn):
            self._name(conn, name)
            self._append(conn, name, self._skip_run(due, reason, by, scheduled))

        self._write(change)

    def _skip_run(self, due, reason, by, scheduled):
        return {
            "due": due,
            "start": self.now(),
            "duration": None,
            "result": "skipped",
            "reason": mask_secrets(one_line(reason), self.secrets),
            "http_status": None,
            "exit_status": None,
            "host": hostname(),
            "by": by,
            "scheduled": bool(scheduled),
            "catch_up": False,
            "output": None,
        }

    def put(self, name, record):
        """Import a whole record as the JSON files of earlier versions held
        it (the take-over; tests write chosen histories with it)."""
        from .takeover import import_record

        self._write(lambda conn: import_record(conn, name, record))

    def _take_over(self, conn):
        from .takeover import take_over

        return take_over(conn, self._dirfd, self.directory, self.log)

    def read(self, name, runs=None):
        """The record of ``name`` as it stands (dead runs shown as
        interrupted, nothing written), or None when there is none: a dict
        with first_seen, runs (oldest first; the last ``runs`` of them, or
        all kept), running, last_success, consecutive_failures, totals, and
        last_served/last_decisive (the runs that decide the state).
        Raises Unreadable (and Refused)."""
        return self._read(lambda conn: _record(conn, name, runs))

    def lock_file(self, what):
        """A descriptor of ``<store>.<what>.lock`` in the checked directory
        (to flock); raises Refused, OSError."""
        with self._lock:
            if self._dirfd is None:
                self._dirfd = store.open_directory(self.directory, create=True)
            return store.create_file(
                self._dirfd, self.directory, f"{self.filename}.{what}.lock"
            )

    def damaged_stores(self):
        """The damaged stores moved aside and not yet removed (paths)."""
        with self._lock:
            try:
                if self._dirfd is None:
                    self._dirfd = store.open_directory(self.directory, create=False)
                return [
                    os.path.join(self.directory, name)
                    for name in store.moved_aside(self._dirfd, self.filename)
                ]
            except FileNotFoundError:
                return []
