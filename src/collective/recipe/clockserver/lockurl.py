"""The ``lock`` URL, parsed once into a LockURL (engine, host, port, database).

Shared by the recipe (cluster.py checks it at build time) and bin/<part>
(model.Lock.from_json, the engines in runner/locks).  Hosts are checked by
address.py, as the recipe's ``address`` and the runner's config are.  Python
2.7 and 3; it never holds a password (the URL may not carry one).
"""

from __future__ import absolute_import, division, print_function

try:
    from urllib.parse import parse_qsl, unquote, urlsplit
except ImportError:  # Python 2
    from urllib import unquote

    from urlparse import parse_qsl, urlsplit

from .address import host_problem
from .slotvalue import SlotValue

ENGINES = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "redis": "redis",
    "zeo": "zeo",
}
FORMS = (
    "postgresql://HOST[:PORT]/DB, redis://HOST[:PORT][/DB] or zeo://HOST:PORT[/STORAGE]"
)
DEFAULT_PORTS = {"postgresql": 5432, "redis": 6379}
# libpq parameters a postgresql:// URL may carry after '?'.
PG_PARAMETERS = frozenset(
    (
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "passfile",
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "sslcompression",
        "sslnegotiation",
        "requiressl",
        "gssencmode",
        "channel_binding",
        "target_session_attrs",
        "connect_timeout",
        "application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "krbsrvname",
        "service",
    )
)
HOST_FIX = "Write a host name, an IPv4 address or [an IPv6 address]."


class BadLockURL(ValueError):
    """``lock`` is not a URL we can use: ``problem`` and ``fix`` say why."""

    def __init__(self, problem, fix=""):
        super(BadLockURL, self).__init__(problem)
        self.problem = problem
        self.fix = fix


class LockURL(SlotValue):
    """A parsed lock URL; ``text`` is the URL as written (no password)."""

    __slots__ = ("engine", "host", "port", "database", "user", "parameters", "text")

    def __init__(self, engine, host, port, database, user=None, parameters=(), text=""):
        self.engine = engine  # postgresql, redis or zeo
        self.host = host  # a name, an IP address, or a Unix socket path (/...)
        self.port = port
        self.database = database  # PostgreSQL database, Redis DB, ZEO storage
        self.user = user  # PostgreSQL/Redis: from the URL
        self.parameters = tuple(parameters)  # PostgreSQL: libpq key/values
        self.text = text

    def __repr__(self):
        return "LockURL(%r)" % self.text

    def __str__(self):
        return self.text


def mask(text):
    """``text`` with the password of ``scheme://user:password@...`` hidden."""
    scheme, sep, rest = text.partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    if "@" not in netloc:
        return text
    userinfo, _, hostport = netloc.rpartition("@")
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return scheme + sep + userinfo + "@" + hostport + rest[len(netloc) :]


def _refuse(problem, fix="Write %s." % FORMS):
    raise BadLockURL(problem, fix)


def parse_url(text):
    """``lock``'s value -> LockURL; raise BadLockURL saying what is wrong."""
    text = text.strip()
    scheme, sep, rest = text.partition("://")
    engine = ENGINES.get(scheme.lower())
    if not sep or not scheme:
        _refuse("%r is not a URL" % mask(text))
    if engine is None:
        _refuse("unknown lock service %r" % scheme)
    if any(c.isspace() for c in text):
        _refuse(
            "a URL cannot hold white space", "Quote a space in a socket path as %20."
        )
    try:
        split = urlsplit(text)
    except ValueError as exc:  # e.g. an unclosed [IPv6 address
        _refuse("%r is not a URL (%s)" % (mask(text), exc))
    netloc = split.netloc
    user = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        if ":" in userinfo:
            _refuse(
                "the URL holds a password, which would land in .installed.cfg",
                "Remove it from the URL and put user and password into "
                "the lock-credentials section (secret.cfg).",
            )
        user = unquote(userinfo) or None
        if engine == "zeo" and user:
            _refuse(
                "a zeo:// URL takes no user", "ZEO has no user names; remove the user."
            )
    host, port, bracketed = _host_port(netloc)
    query = parse_qsl(split.query, keep_blank_values=True)
    parameters = []
    if engine == "postgresql":
        for key, value in query:
            if key == "password":
                _refuse(
                    "the URL holds a password, which would land in .installed.cfg",
                    "Remove ?password=... and put the password into the "
                    "lock-credentials section (secret.cfg), or into "
                    "~/.pgpass.",
                )
            if key not in PG_PARAMETERS:
                _refuse(
                    "unknown PostgreSQL connection parameter %r" % key,
                    "See libpq's connection parameters; the usual ones "
                    "are sslmode and host (a Unix socket directory).",
                )
            if key == "host":
                host = host or value
            elif key == "port":
                port = port or _port(value)
            elif key == "user":
                user = user or value
            else:
                parameters.append((key, value))
    elif query:
        _refuse("a %s:// URL takes no ?parameters" % scheme)
    if split.fragment:
        _refuse("a lock URL takes no #fragment")
    if not host:
        _refuse(
            "the URL names no host",
            "Write %s; a Unix socket directory is written "
            "percent-encoded: postgresql://%%2Frun%%2Fpostgresql/DB." % FORMS,
        )
    if not host.startswith("/"):
        problem = host_problem("[%s]" % host if bracketed or ":" in host else host)
        if problem:
            _refuse("bad host %r in the URL: %s" % (host, problem), HOST_FIX)
    if host.startswith("/") and engine == "redis":
        _refuse(
            "redis:// takes a host, not a socket path",
            "Write redis://HOST[:PORT][/DB].",
        )
    path = unquote(split.path)
    database = path[1:] if path.startswith("/") else path
    if engine == "postgresql":
        if not database:
            _refuse(
                "the URL names no database",
                "Write postgresql://HOST[:PORT]/DB, e.g. the RelStorage database.",
            )
        port = port or DEFAULT_PORTS["postgresql"]
    elif engine == "redis":
        database = database or "0"
        if not database.isdigit():
            _refuse(
                "Redis database %r is not a number" % database,
                "Write redis://HOST[:PORT]/N with N a number, or leave /N out for 0.",
            )
        port = port or DEFAULT_PORTS["redis"]
    else:
        if port is None and not host.startswith("/"):
            _refuse(
                "the URL names no port",
                "Write zeo://HOST:PORT[/STORAGE] with the ZEO server's "
                "port, e.g. ${zeoserver:zeo-address}.",
            )
        if "/" in database:
            _refuse(
                "bad storage name %r" % database,
                "Write zeo://HOST:PORT/STORAGE with the name of one "
                "storage of the ZEO server.",
            )
        database = database or "1"
    return LockURL(engine, host, port, database, user, parameters, text)


def _host_port(netloc):
    """-> (host, port or None, whether the host was in brackets)."""
    if netloc.startswith("["):
        host, bracket, rest = netloc[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            _refuse(
                "bad host %r in the URL" % netloc,
                "Write an IPv6 address as [::1]:PORT.",
            )
        return host, (_port(rest[1:]) if rest else None), True
    host, colon, port = netloc.rpartition(":")
    if not colon:
        return unquote(netloc), None, False
    return unquote(host), _port(port), False


def _port(text):
    if not (text.isdigit() and len(text) <= 5 and 1 <= int(text) <= 65535):
        _refuse("bad port %r in the URL" % text, "Write a port between 1 and 65535.")
    return int(text)
