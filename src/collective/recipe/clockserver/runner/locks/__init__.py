"""One call per tick across a cluster: claims in a service the hosts share.

Every host asks the lock service to claim ``(namespace, name, tick)``
before it calls; the first claim wins, the others skip the tick.  No
leader, no heartbeat: a host that dies loses at most the tick it claimed.

One module per engine (``postgresql``, ``redis``, ``zeo``), each with a
``Lock`` class behind one small interface::

    lock = open_lock(url, user, password, namespace, host)
    won, holder = lock.claim(name, tick, keep_seconds)  # or LockUnavailable
    lock.close()

An engine imports its client library (psycopg, redis-py, ZEO) only when it
is opened, so bin/<part> stays standard library without ``lock``.
"""

import importlib
import math
import socket
import threading
import time
from urllib.parse import quote

from ...lockurl import (  # noqa: F401  (the names engines and tests import)
    ENGINES,
    FORMS,
    BadLockURL,
    LockURL,
    mask,
    parse_url,
)
from ...model import Lock

KEEP_MIN = 60  # seconds a claim is kept at least (see claim_seconds)
UNREACHABLE = "lock service unreachable"
NOT_STARTED = "not started before the next tick"


class LockUnavailable(Exception):
    """The lock service cannot be reached or refused us; the message says why."""


def require_client(module, label, extra):
    """Import the engine's client library, or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LockUnavailable(
            f"{label} is not installed for this bin/<part>; run bin/buildout "
            f"again (it adds collective.recipe.clockserver[{extra}])"
        ) from None


def display(url):
    """How a lock URL is shown in logs: as written (it holds no password)."""
    return url.text or f"{url.engine}://{quote(url.host, safe='')}"


def open_lock(url, user=None, password=None, namespace="clock", host=None):
    """An engine's Lock for ``url`` (text or LockURL); no connection yet.

    ``host`` is what the others see as the holder of a claim (default: this
    machine's name).  Raise BadLockURL for a bad URL; LockUnavailable when
    the engine's client library is missing.
    """
    if isinstance(url, str):
        url = parse_url(url)
    module = importlib.import_module(f"{__name__}.{url.engine}")
    return module.Lock(
        url,
        user=user,
        password=password,
        namespace=namespace,
        holder=host or socket.gethostname(),
    )


def keep_seconds(interval):
    """How long a claim is kept when only the interval is known: two
    intervals, at least KEEP_MIN (see claim_seconds for a tick's claim)."""
    return max(2 * int(interval), KEEP_MIN)


def schedule_of(job):
    """A job's Schedule (a test's stand-in may have a period only)."""
    found = getattr(job, "schedule", None)
    if found is None:
        from ...schedule import Schedule

        found = Schedule(period=job.period)
    return found


def claim_seconds(schedule, due, now):
    """How long a claim of the tick ``due``, taken at ``now``, is kept:
    until the job's next tick plus half its shortest interval, and at
    least KEEP_MIN.  No host starts a tick's call at or after the next tick
    (NOT_STARTED), and clock skew stays under half the shortest interval:
    so every claim another host can still ask for finds this one."""
    following = schedule.following(due)
    if following is None:
        return KEEP_MIN
    after = schedule.following(following)
    gaps = [
        gap for gap in (following - due, after and after - following) if gap and gap > 0
    ]
    shortest = min(gaps) if gaps else 0
    return max(KEEP_MIN, int(math.ceil(following + shortest / 2.0 - now)))


class ClaimGate:
    """The clock's claim gate: ``gate(job, due)`` -> None or why to skip.

    Thread-safe.  An unreachable service logs an error at once and then at
    most once a minute while it lasts, and one line when it is back.
    """

    REPEAT = 60.0  # seconds between "still unreachable" errors

    def __init__(self, lock, log, url="", now=time.time):
        self.lock = lock
        self.log = log
        self.url = url
        self.now = now  # the clock's time source's time()
        self._mutex = threading.Lock()
        self._down_since = None  # monotonic start of an outage
        self._down_logged = 0.0
        self._down_skipped = 0

    def __call__(self, job, due):
        return self.claim(
            job.name, due, job.period, claim_seconds(schedule_of(job), due, self.now())
        )

    def claim(self, name, due, interval, keep=None):
        """Claim the tick ``due`` of ``name`` for ``keep`` seconds (default:
        from ``interval``); None when this host won."""
        keep = keep_seconds(interval) if keep is None else keep
        try:
            won, holder = self.lock.claim(name, int(due), keep)
        except LockUnavailable as exc:
            self._unreachable(name, due, exc)
            return UNREACHABLE
        except Exception as exc:  # a client library's surprise: never call
            self._unreachable(name, due, f"{type(exc).__name__}: {exc}")
            return UNREACHABLE
        self._reachable()
        if won:
            return None
        self.log.info(
            "%s: the tick due at %s was claimed by %s", name, _utc(due), holder
        )
        return f"claimed by {holder}"

    def _unreachable(self, name, due, reason):
        now = time.monotonic()
        with self._mutex:
            first = self._down_since is None
            if first:
                self._down_since = now
            self._down_skipped += 1
            due_log = first or now - self._down_logged >= self.REPEAT
            if due_log:
                self._down_logged = now
            skipped = self._down_skipped
        if first:
            self.log.error(
                "lock service %s unreachable (%s): not calling %s "
                "for the tick due at %s, nor any tick until it is "
                "back",
                self.url,
                reason,
                name,
                _utc(due),
            )
        elif due_log:
            self.log.error(
                "lock service %s still unreachable (%s): %d tick(s) not called so far",
                self.url,
                reason,
                skipped,
            )

    def _reachable(self):
        if self._down_since is None:
            return
        with self._mutex:
            since, skipped = self._down_since, self._down_skipped
            self._down_since, self._down_skipped = None, 0
        if since is not None:
            self.log.info(
                "lock service %s reachable again after %.0f s; %d "
                "tick(s) were not called",
                self.url,
                time.monotonic() - since,
                skipped,
            )

    def close(self):
        try:
            self.lock.close()
        except Exception:  # closing a broken connection: nothing to save
            pass


class ClusterGate:
    """The claim gate of ``run``: the lock of the config, following reloads.

    ``follow(config)`` (called with each config that SIGHUP loads) opens the
    new lock when ``lock`` changed, so a reload can add, change or remove
    it; raise LockUnavailable when its client library is missing (the
    reload then fails and the old config and lock stay).
    """

    def __init__(self, settings, log, now=time.time):
        self.log = log
        self.now = now
        self.settings = settings = settings and Lock.from_json(settings)
        self.gate = gate_for(settings, log, now) if settings else None

    def __call__(self, job, due):
        gate = self.gate
        return None if gate is None else gate(job, due)

    def follow(self, config):
        self.follow_settings(config.lock)
        return config

    def follow_settings(self, settings):
        settings = settings and Lock.from_json(settings)
        if settings == self.settings:
            return
        new = gate_for(settings, self.log, self.now) if settings else None
        old, self.gate = self.gate, new
        self.log.info("lock: %s -> %s", _describe(self.settings), _describe(settings))
        self.settings = settings
        if old is not None:
            old.close()

    def close(self):
        if self.gate is not None:
            self.gate.close()


def claim_once(settings, name, due, interval, host=None, keep=None):
    """One claim for a cron-started ``fire``/``exec``: ``(None, None)`` to
    go ahead, ``("claimed by HOST", None)``, or ``(UNREACHABLE, why)``.

    ``settings``: the config's model.Lock (or a mapping with its keys)."""
    settings = Lock.from_json(settings)
    try:
        lock = open_lock(
            settings.url, settings.user, settings.password, settings.namespace, host
        )
    except LockUnavailable as exc:  # the client library is missing
        return UNREACHABLE, str(exc)
    try:
        won, holder = lock.claim(
            name, int(due), keep_seconds(interval) if keep is None else keep
        )
    except LockUnavailable as exc:
        return UNREACHABLE, str(exc)
    except Exception as exc:  # a client library's surprise: never call
        return UNREACHABLE, f"{type(exc).__name__}: {exc}"
    finally:
        try:
            lock.close()
        except Exception:
            pass
    return (None, None) if won else (f"claimed by {holder}", None)


def _describe(settings):
    if not settings:
        return "none (one host)"
    return f"{settings.url.text} namespace {settings.namespace}"


def gate_for(settings, log, now=time.time):
    """The claim gate for a config's ``lock`` (a model.Lock, or a mapping
    with its keys: url, user, password, namespace)."""
    settings = Lock.from_json(settings)
    lock = open_lock(settings.url, settings.user, settings.password, settings.namespace)
    return ClaimGate(lock, log, display(settings.url), now)


def _utc(timestamp):
    from ..timefmt import utc

    return utc(timestamp)
