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

ROOT_KEY = "collective.recipe.clockserver"
WAIT_TIMEOUT = 1  # seconds a claim waits for a lost connection to come back
FIRST_WAIT = 3  # seconds the first claim waits for the first connection
RETRIES = 5  # conflicts in a row before giving up on one claim

# ZEO logs its reconnection attempts (with tracebacks) itself; the gate
# logs what matters to the user, once per outage.
for _name in ("ZEO", "ZODB", "txn"):
    _logger = logging.getLogger(_name)
    _logger.addHandler(logging.NullHandler())
    _logger.propagate = False


class Lock:
    def __init__(self, url, user=None, password=None, namespace="clock",
                 holder="localhost"):
        require_client("ZEO", "ZEO", "zeo")
        self.url = url
        self.namespace = namespace
        self.holder = holder
        self._storage = None
        self._db = None
        self._conn = None
        self._first_wait = FIRST_WAIT
        self._tm = None
        self._mutex = threading.Lock()

    def _connection(self):
        if self._conn is not None:
            return self._conn
        import transaction
        import ZEO
        import ZODB

        if self._storage is None:
            address = self.url.host if self.url.host.startswith("/") \
                else (self.url.host, self.url.port)
            # Connects in the background, now and after every outage.
            self._storage = ZEO.client(
                address, storage=self.url.database, wait=False,
                wait_timeout=WAIT_TIMEOUT, cache_size=1 << 20)
        if not self._storage.is_connected():
            # Fail at once rather than wait for the server on every tick.
            deadline = time.monotonic() + self._first_wait
            self._first_wait = 0.0
            while not self._storage.is_connected():
                if time.monotonic() >= deadline:
                    raise LockUnavailable(
                        f"no connection to the ZEO server at {self.where} "
                        f"(storage {self.url.database!r})")
                time.sleep(0.05)
        if self._db is None:
            self._db = ZODB.DB(self._storage, pool_size=1)
        self._tm = transaction.TransactionManager()
        self._conn = self._db.open(transaction_manager=self._tm)
        return self._conn

    @property
    def where(self):
        if self.url.host.startswith("/"):
            return self.url.host
        return f"{self.url.host}:{self.url.port}"

    def claim(self, name, tick, keep_seconds):
        from ZODB.POSException import ConflictError, POSError
        from ZEO.Exceptions import ClientDisconnected

        with self._mutex:
            try:
                for _ in range(RETRIES):
                    try:
                        return self._claim(name, tick, keep_seconds)
                    except ConflictError:
                        # Another host committed first (the claim, or the
                        # root of a new storage while we opened it): again.
                        self._abort()
                raise LockUnavailable(f"{RETRIES} write conflicts in a row")
            except (ClientDisconnected, POSError, OSError) as exc:
                # The storage reconnects by itself; the next claim sees it.
                self._abort()
                if isinstance(exc, ClientDisconnected):
                    raise LockUnavailable(
                        f"lost the connection to the ZEO server at {self.where}"
                        + (f" ({error_line(exc)})" if str(exc) else "")) from None
                raise LockUnavailable(error_line(exc)) from None
            except LockUnavailable:
                self._abort()
                raise

    def _claim(self, name, tick, keep_seconds):
        from persistent.mapping import PersistentMapping

        conn = self._connection()
        self._tm.begin()  # sees what other hosts committed
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
            self._tm.abort()
            return False, taken[0]
        now = time.time()
        for old in [t for t, (_, expires) in claims.items() if expires < now]:
            del claims[old]
        claims[tick] = (self.holder, now + keep_seconds)
        txn = self._tm.get()
        txn.note(f"clockserver claim {self.namespace} {name} {tick}")
        self._tm.commit()
        return True, self.holder

    def _abort(self):
        if self._tm is not None:
            try:
                self._tm.abort()
            except Exception:  # disconnected: nothing to undo
                pass

    def _drop(self):
        storage, db = self._storage, self._db
        self._storage = self._db = self._conn = self._tm = None
        for closable in (db, storage):
            if closable is not None:
                try:
                    closable.close()
                except Exception:
                    pass

    def close(self):
        with self._mutex:
            self._abort()
            self._drop()

