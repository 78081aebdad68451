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
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ..text import hide_url_password

ENGINES = {"postgresql": "postgresql", "postgres": "postgresql",
           "redis": "redis", "zeo": "zeo"}
FORMS = ("postgresql://HOST[:PORT]/DB, redis://HOST[:PORT][/DB] or "
         "zeo://HOST:PORT[/STORAGE]")
DEFAULT_PORTS = {"postgresql": 5432, "redis": 6379}
# libpq parameters a postgresql:// URL may carry after '?'.
PG_PARAMETERS = frozenset((
    "host", "hostaddr", "port", "dbname", "user", "passfile", "sslmode",
    "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslcompression",
    "sslnegotiation", "requiressl", "gssencmode", "channel_binding",
    "target_session_attrs", "connect_timeout", "application_name",
    "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "krbsrvname", "service",
))
KEEP_MIN = 60  # seconds a claim is kept at least (and two intervals)
UNREACHABLE = "lock service unreachable"


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


class BadLockURL(ValueError):
    """``lock`` is not a URL we can use: ``problem`` and ``fix`` say why."""

    def __init__(self, problem, fix=""):
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class LockURL:
    engine: str  # postgresql, redis or zeo
    host: str  # a name, an IP address, or a Unix socket path (starts with /)
    port: int | None
    database: str | None  # PostgreSQL database, Redis DB number, ZEO storage
    user: str | None = None  # PostgreSQL/Redis: from the URL (never a password)
    parameters: tuple = field(default=())  # PostgreSQL: libpq key/value pairs
    text: str = ""  # the URL as written (it holds no password)

    def __str__(self):
        return self.text


# The name cluster.py imports; the function is text.hide_url_password.
mask = hide_url_password


def parse_url(text):
    """``lock``'s value -> LockURL; raise BadLockURL saying what is wrong."""
    text = text.strip()
    scheme, sep, rest = text.partition("://")
    engine = ENGINES.get(scheme.lower())
    if not sep or not scheme:
        raise BadLockURL(f"{hide_url_password(text)!r} is not a URL", f"Write {FORMS}.")
    if engine is None:
        raise BadLockURL(f"unknown lock service {scheme!r}",
                         f"Write {FORMS}.")
    if any(c.isspace() for c in text):
        raise BadLockURL("a URL cannot hold white space",
                         "Quote a space in a socket path as %20.")
    try:
        split = urlsplit(text)
    except ValueError as exc:  # e.g. an unclosed [IPv6 address
        raise BadLockURL(f"{hide_url_password(text)!r} is not a URL ({exc})",
                         f"Write {FORMS}.") from None
    netloc = split.netloc
    user = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        if ":" in userinfo:
            raise BadLockURL(
                "the URL holds a password, which would land in .installed.cfg",
                "Remove it from the URL and put user and password into the "
                "lock-credentials section (secret.cfg).")
        user = unquote(userinfo) or None
        if engine == "zeo" and user:
            raise BadLockURL("a zeo:// URL takes no user",
                             "ZEO has no user names; remove the user.")
    host, port = _host_port(netloc)
    query = parse_qsl(split.query, keep_blank_values=True)
    parameters = []
    if engine == "postgresql":
        for key, value in query:
            if key == "password":
                raise BadLockURL(
                    "the URL holds a password, which would land in "
                    ".installed.cfg",
                    "Remove ?password=... and put the password into the "
                    "lock-credentials section (secret.cfg), or into "
                    "~/.pgpass.")
            if key not in PG_PARAMETERS:
                raise BadLockURL(
                    f"unknown PostgreSQL connection parameter {key!r}",
                    "See libpq's connection parameters; the usual ones are "
                    "sslmode and host (a Unix socket directory).")
            if key == "host":
                host = host or value
            elif key == "port":
                port = port or _port(value)
            elif key == "user":
                user = user or value
            else:
                parameters.append((key, value))
    elif query:
        raise BadLockURL(f"a {scheme}:// URL takes no ?parameters",
                         f"Write {FORMS}.")
    if split.fragment:
        raise BadLockURL("a lock URL takes no #fragment", f"Write {FORMS}.")
    if not host:
        raise BadLockURL(
            "the URL names no host",
            f"Write {FORMS}; a Unix socket directory is written "
            "percent-encoded: postgresql://%2Frun%2Fpostgresql/DB.")
    if not host.startswith("/") and not _good_host(host):
        raise BadLockURL(f"bad host {host!r} in the URL",
                         "Write a host name, an IPv4 address or [an IPv6 "
                         "address].")
    if host.startswith("/") and engine == "redis":
        raise BadLockURL("redis:// takes a host, not a socket path",
                         "Write redis://HOST[:PORT][/DB].")
    path = unquote(split.path)
    database = path[1:] if path.startswith("/") else path
    if engine == "postgresql":
        if not database:
            raise BadLockURL("the URL names no database",
                             "Write postgresql://HOST[:PORT]/DB, e.g. the "
                             "RelStorage database.")
        port = port or DEFAULT_PORTS["postgresql"]
    elif engine == "redis":
        database = database or "0"
        if not database.isdigit():
            raise BadLockURL(f"Redis database {database!r} is not a number",
                             "Write redis://HOST[:PORT]/N with N a number, "
                             "or leave /N out for 0.")
        port = port or DEFAULT_PORTS["redis"]
    else:
        if port is None and not host.startswith("/"):
            raise BadLockURL("the URL names no port",
                             "Write zeo://HOST:PORT[/STORAGE] with the ZEO "
                             "server's port, e.g. ${zeoserver:zeo-address}.")
        if "/" in database:
            raise BadLockURL(f"bad storage name {database!r}",
                             "Write zeo://HOST:PORT/STORAGE with the name of "
                             "one storage of the ZEO server.")
        database = database or "1"
    return LockURL(engine, host, port, database, user, tuple(parameters), text)


def _host_port(netloc):
    if netloc.startswith("["):
        host, bracket, rest = netloc[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise BadLockURL(f"bad host {netloc!r} in the URL",
                             "Write an IPv6 address as [::1]:PORT.")
        return host, _port(rest[1:]) if rest else None
    host, colon, port = netloc.rpartition(":")
    if not colon:
        return unquote(netloc), None
    return unquote(host), _port(port)


def _port(text):
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise BadLockURL(f"bad port {text!r} in the URL",
                         "Write a port between 1 and 65535.")
    return int(text)


def _good_host(host):
    if ":" in host:  # IPv6
        try:
            socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            return False
        return True
    labels = host.rstrip(".").split(".")
    return all(0 < len(label) <= 63 and label.replace("-", "").replace("_", "")
               .isalnum() and label.isascii() for label in labels)


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
    return module.Lock(url, user=user, password=password, namespace=namespace,
                       holder=host or socket.gethostname())


def keep_seconds(interval):
    """How long a claim is kept: two intervals of the schedule, at least
    KEEP_MIN, so a host whose clock lags still finds the claim."""
    return max(2 * int(interval), KEEP_MIN)


class ClaimGate:
    """The clock's claim gate: ``gate(job, due)`` -> None or why to skip.

    Thread-safe.  An unreachable service logs an error at once and then at
    most once a minute while it lasts, and one line when it is back.
    """

    REPEAT = 60.0  # seconds between "still unreachable" errors

    def __init__(self, lock, log, url=""):
        self.lock = lock
        self.log = log
        self.url = url
        self._mutex = threading.Lock()
        self._down_since = None  # monotonic start of an outage
        self._down_logged = 0.0
        self._down_skipped = 0

    def __call__(self, job, due):
        return self.claim(job.name, due, job.period)

    def claim(self, name, due, interval):
        """Claim the tick ``due`` of ``name``; None when this host won."""
        try:
            won, holder = self.lock.claim(name, int(due), keep_seconds(interval))
        except LockUnavailable as exc:
            self._unreachable(name, due, exc)
            return UNREACHABLE
        except Exception as exc:  # a client library's surprise: never call
            self._unreachable(name, due, f"{type(exc).__name__}: {exc}")
            return UNREACHABLE
        self._reachable()
        if won:
            return None
        self.log.info("%s: the tick due at %s was claimed by %s", name,
                      _utc(due), holder)
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
            self.log.error("lock service %s unreachable (%s): not calling %s "
                           "for the tick due at %s, nor any tick until it is "
                           "back", self.url, reason, name, _utc(due))
        elif due_log:
            self.log.error("lock service %s still unreachable (%s): %d tick(s) "
                           "not called so far", self.url, reason, skipped)

    def _reachable(self):
        if self._down_since is None:
            return
        with self._mutex:
            since, skipped = self._down_since, self._down_skipped
            self._down_since, self._down_skipped = None, 0
        if since is not None:
            self.log.info("lock service %s reachable again after %.0f s; %d "
                          "tick(s) were not called", self.url,
                          time.monotonic() - since, skipped)

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

    def __init__(self, settings, log):
        self.log = log
        self.settings = settings
        self.gate = gate_for(settings, log) if settings else None

    def __call__(self, job, due):
        gate = self.gate
        return None if gate is None else gate(job, due)

    def follow(self, config):
        self.follow_settings(config.lock)
        return config

    def follow_settings(self, settings):
        if settings == self.settings:
            return
        new = gate_for(settings, self.log) if settings else None
        old, self.gate = self.gate, new
        self.log.info("lock: %s -> %s", _describe(self.settings),
                      _describe(settings))
        self.settings = settings
        if old is not None:
            old.close()

    def close(self):
        if self.gate is not None:
            self.gate.close()


def claim_once(settings, name, due, interval, host=None):
    """One claim for a cron-started ``fire``/``exec``: ``(None, None)`` to
    go ahead, ``("claimed by HOST", None)``, or ``(UNREACHABLE, why)``."""
    try:
        lock = open_lock(parse_url(settings["url"]), settings.get("user"),
                         settings.get("password"), settings.get("namespace")
                         or "clock", host)
    except LockUnavailable as exc:  # the client library is missing
        return UNREACHABLE, str(exc)
    try:
        won, holder = lock.claim(name, int(due), keep_seconds(interval))
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
    return f"{settings['url']} namespace {settings['namespace']}"


def gate_for(settings, log):
    """The claim gate for a config's ``lock`` settings (a dict from the
    JSON file: url, user, password, namespace)."""
    url = parse_url(settings["url"])
    lock = open_lock(url, settings.get("user"), settings.get("password"),
                     settings.get("namespace") or "clock")
    return ClaimGate(lock, log, display(url))


def _utc(timestamp):
    from ..timefmt import utc

    return utc(timestamp)
