"""``zeo://``: a claim is an entry in a small object of a ZEO storage's root.

``root['collective.recipe.clockserver'][namespace][name]`` is a
PersistentMapping ``tick -> (holder, expires)``.  Each claim adds its tick
in a transaction; when two hosts commit the same job's mapping at once,
ZODB's conflict detection lets the first commit win and the other one,
after re-reading, finds the tick taken.  PersistentMapping has no conflict
resolution, so no conflict is ever merged away.  Expired entries are
dropped in the same transaction; the storage still keeps old revisions
until it is packed (``bin/zeopack -S STORAGE``).
"""

import logging
import threading
import time

from ..text import error_line
from . import LockUnavailable, require_client
from .deadline import Deadline

ROOT_KEY = "collective.recipe.clockserver"
WAIT_TIMEOUT = 1  # seconds a claim waits for a lost connection to come back
FIRST_WAIT = 3  # seconds the claims wait for a new storage to connect
CLOSE_WAIT = 2  # seconds close() waits for the storage to close
RETRIES = 5  # conflicts in a row before giving up on one claim

# ZEO logs its reconnection attempts (with tracebacks) itself; the gate
# logs what matters to the user, once per outage.
for _name in ("ZEO", "ZODB", "txn"):
    _logger = logging.getLogger(_name)
    _logger.addHandler(logging.NullHandler())
    _logger.propagate = False


class Lock:
    def __init__(
        self, url, user=None, password=None, namespace="clock", holder="localhost"
    ):
        require_client("ZEO", "ZEO", "zeo")
        self.url = url
        self.namespace = namespace
        self.holder = holder
        self._storage = None
        self._db = None
        self._wait_until = 0.0  # monotonic: a new storage may connect till then
        self._closed = False
        self._mutex = threading.Lock()  # held briefly, never over I/O
        self._opening = threading.Lock()  # one worker opens the DB
        self._deadline = Deadline()  # of each claim (deadline.py)

    def _database(self, attempt):
        """The DB over the storage (a new storage after a cut one)."""
        import ZEO
        import ZODB

        with self._mutex:
            if self._closed:
                raise LockUnavailable("the lock is closed")
            if self._storage is None:
                address = (
                    self.url.host
                    if self.url.host.startswith("/")
                    else (self.url.host, self.url.port)
                )
                # Connects in the background, now and after every outage.
                self._storage = ZEO.client(
                    address,
                    storage=self.url.database,
                    wait=False,
                    wait_timeout=WAIT_TIMEOUT,
                    cache_size=1 << 20,
                )
                self._wait_until = time.monotonic() + FIRST_WAIT
            storage, wait_until = self._storage, self._wait_until
        # A server that stops answering holds every call on the storage:
        # the deadline closes it (its waiting calls fail) and the next
        # claim opens a new one.
        attempt.on_cut(lambda: self._replace(storage))
        # A new storage gets FIRST_WAIT seconds to connect; later, fail at
        # once rather than wait for the server on every tick.
        while not storage.is_connected():
            if time.monotonic() >= wait_until:
                raise LockUnavailable(
                    f"no connection to the ZEO server at {self.where} "
                    f"(storage {self.url.database!r})"
                )
            time.sleep(0.05)
        with self._opening:  # opening reads the root: I/O, so not _mutex
            with self._mutex:
                if self._storage is not storage:  # cut meanwhile
                    raise LockUnavailable("the claim's deadline passed")
                db = self._db
            if db is None:
                db = ZODB.DB(storage, pool_size=4)
                with self._mutex:
                    self._db = db if self._storage is storage else None
            return db

    def _replace(self, storage):
        """Drop ``storage`` (hung); the next claim connects again."""
        with self._mutex:
            if self._storage is not storage:
                return
            db, self._storage, self._db = self._db, None, None
        _close_later(db, storage)

    @property
    def where(self):
        if self.url.host.startswith("/"):
            return self.url.host
        return f"{self.url.host}:{self.url.port}"

    def claim(self, name, tick, keep_seconds):
        """Claim (namespace, name, tick): (True, us) or (False, the holder);
        LockUnavailable after CLAIM_TIMEOUT at most (deadline.py)."""
        return self._deadline.claim(self._attempt, name, tick, keep_seconds)

    def _attempt(self, attempt, name, tick, keep_seconds):
        """One claim on a ZODB connection of its own."""
        import transaction
        from ZEO.Exceptions import ClientDisconnected
        from ZODB.POSException import ConflictError, POSError

        tm = transaction.TransactionManager()
        conn = None
        try:
            for _ in range(RETRIES):
                try:
                    if conn is None:  # opening a new storage writes its root
                        conn = self._database(attempt).open(transaction_manager=tm)
                    return self._claim(conn, tm, name, tick, keep_seconds)
                except ConflictError:
                    # Another host committed first (the claim, or the
                    # root of a new storage while we opened it): again.
                    _abort(tm)
            raise LockUnavailable(f"{RETRIES} write conflicts in a row")
        except (ClientDisconnected, POSError, OSError) as exc:
            # The storage reconnects by itself; the next claim sees it.
            if isinstance(exc, ClientDisconnected):
                raise LockUnavailable(
                    f"lost the connection to the ZEO server at {self.where}"
                    + (f" ({error_line(exc)})" if str(exc) else "")
                ) from None
            raise LockUnavailable(error_line(exc)) from None
        finally:
            _abort(tm)
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # disconnected or closed meanwhile
                    pass

    def _claim(self, conn, tm, name, tick, keep_seconds):
        from persistent.mapping import PersistentMapping

        tm.begin()  # sees what other hosts committed
        root = conn.root()
        sites = root.get(ROOT_KEY)
        if sites is None:
            sites = root[ROOT_KEY] = PersistentMapping()
        jobs = sites.get(self.namespace)
        if jobs is None:
            jobs = sites[self.namespace] = PersistentMapping()
        claims = jobs.get(name)
        if claims is None:
            claims = jobs[name] = PersistentMapping()
        taken = claims.get(tick)
        if taken is not None:
            tm.abort()
            return False, taken[0]
        now = time.time()
        for old in [t for t, (_, expires) in claims.items() if expires < now]:
            del claims[old]
        claims[tick] = (self.holder, now + keep_seconds)
        txn = tm.get()
        txn.note(f"clockserver claim {self.namespace} {name} {tick}")
        tm.commit()
        return True, self.holder

    def close(self):
        with self._mutex:
            self._closed = True
            db, storage = self._db, self._storage
            self._storage = self._db = None
        _close_later(db, storage).join(CLOSE_WAIT)


def _abort(tm):
    try:
        tm.abort()
    except Exception:  # disconnected: nothing to undo
        pass


def _close_later(db, storage):
    """Close in the background: a hung server can hold a close for seconds."""

    def close():
        for closable in (db, storage):
            if closable is not None:
                try:
                    closable.close()
                except Exception:
                    pass

    thread = threading.Thread(target=close, daemon=True, name="zeo close")
    thread.start()
    return thread
