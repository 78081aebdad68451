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
import threading
import time

from . import ledger, running
from .connection import Connection, store_name  # noqa: F401 (the API)
from .history import (  # noqa: F401 (the API)
    RESULTS,
    RUN_FIELDS,
    RUNNING_FIELDS,
    _last_records,
    _record,
)
from .ledger import KEEP, OUTPUT_LIMIT, tail, valid_name  # noqa: F401 (the API)
from .processes import _boot_id, _my_start, hostname
from .store import Refused, StoreError, Unreadable  # noqa: F401 (the API)

BEGIN_GAP = 1.0  # seconds a call of run goes on before its row is written
ENDS_WAIT = 1.0  # seconds run may hold the ends of calls to write them together
# The longest the store lags behind a run that goes on: a call's row is
# written within two BEGIN_GAPs of its start, its end within ENDS_WAIT (and
# a little) of its end.  status allows for it while run goes on.
HELD_BACK = 2 * BEGIN_GAP + ENDS_WAIT


class Records(Connection):
    """The records of one part; safe across threads and processes.

    ``log(text)`` hears the one-line notes of the store itself (take-over,
    a damaged store moved aside).  Methods raise StoreError (Refused,
    Unreadable) and OSError; the run protocol (runs.py) logs them.
    """

    def __init__(
        self, directory, secrets=(), now=time.time, part=None, log=None, durable=True
    ):
        super().__init__(directory, now, part, log, durable)
        self.secrets = tuple(s for s in secrets if s)
        # What run keeps in memory until its next batch (under _memory):
        self._memory = threading.Lock()
        self._locks = None  # the lock file of the names in progress
        self._held = {}  # token -> (name, LockFile) of runs begun, not ended
        self._soon = {}  # token -> (monotonic, row) of runs begun, not written
        self._later = []  # (name, token, run): ends held back

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
            if sync:
                self._sync()

    def _write(self, change, begins=False):
        """``change(conn)`` in one write transaction, after what run held
        back: when this write fails that is dropped with it (logged by the
        caller), never piled up."""
        with self._lock:
            with self._memory:
                later, self._later = self._later, []
                soon = self._due_begins(begins)
                for row in soon:
                    del self._soon[row[0]]
            if not (later or soon):
                return self._transaction(change)

            def batch_then_change(conn):
                self._batch(conn, later, soon)
                return change(conn)

            return self._transaction(batch_then_change)

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

    # -- runs in progress -------------------------------------------------------

    @property
    def running_lock(self):
        """The file name of the store's running.lock (running.py)."""
        return self.filename + ".running.lock"

    def _lock_file(self):
        if self._locks is None:
            with self._lock:
                self._locks = running.lock_file(
                    self._directory(True), self.directory, self.running_lock
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

    def hold_clock(self):
        """``run`` starts: hold the CLOCK byte until release_clock (False:
        another run of this part goes on on this host)."""
        return self._lock_file().hold(running.CLOCK)

    def release_clock(self):
        self._lock_file().release(running.CLOCK)

    def clock_running(self):
        """Whether a ``run`` of this part goes on on this host (True when the
        lock file cannot be opened: then its records may lag, as far as
        anyone can tell)."""
        try:
            os.stat(
                self.running_lock,
                dir_fd=self._directory(False),
                follow_symlinks=False,
            )
        except FileNotFoundError:
            return False  # no run ever ran here (and status creates nothing)
        except (Refused, OSError):
            return True
        try:
            return self._lock_file().in_use(running.CLOCK)
        except (Refused, OSError):
            return True

    def adopt(self, other):
        """Take over the runs ``other`` (a Records of the config before a
        reload) began and did not end: they end here, and free their names."""
        if other is self:
            return
        other.flush(sync=False, begins=True)  # rows written: they end by token
        with other._memory:
            held, other._held = other._held, {}
        with self._memory:
            self._held.update(held)

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
                    + " WHERE NOT EXISTS (SELECT 1 FROM running WHERE name = ?)",
                    (*values, name),
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
