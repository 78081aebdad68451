"""The mode-0600 JSON file the recipe writes -> Config (jobs, address, timeout).

Whatever the file holds (hand-edited, damaged, odd JSON numbers), loading
gives a Config or raises BadConfig with one line saying what is wrong.
Addresses and hosts are checked by the recipe's rules (port 1-65535, IPv4
and IPv6 literals, RFC 1123 host names), twinned here on purpose: the
runner imports nothing from the recipe.  Plain classes, not dataclasses:
``fire`` starts once per call from cron and ``dataclasses`` alone would
cost a fifth of its start-up.
"""

import json
import os
import re
import socket
import stat

MAX_PERIOD = 365 * 86400  # as the recipe's jobs.MAX_PERIOD
MAX_TIMEOUT = MAX_PERIOD
DEFAULT_TIMEOUT = 300
DEFAULT_CONCURRENCY = 4
MAX_FILE = 16 * 1024 * 1024  # bytes; the recipe writes a few KB per 100 jobs
REGENERATE = "; run bin/buildout to write it again"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class BadConfig(Exception):
    """The config file is missing or malformed; the message says why."""


class Job:
    """One job: what to call, how often, as whom.  Treat as immutable."""

    __slots__ = ("name", "method", "period", "host", "user", "password")

    def __init__(self, name, method, period, host=None, user=None, password=None):
        self.name = name
        self.method = method  # path from the Zope root, may carry ?query
        self.period = period  # seconds; ticks at epoch multiples
        self.host = host  # Host: header; None = the address's host:port
        self.user = user
        self.password = password

    @property
    def authenticated(self):
        """True when a Basic Authorization header is sent (as ZServer)."""
        return bool(self.user and self.password)

    def _key(self):
        return (self.name, self.method, self.period, self.host, self.user, self.password)

    def __eq__(self, other):
        return isinstance(other, Job) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):  # never the password
        return (f"Job(name={self.name!r}, method={self.method!r}, period={self.period!r}, "
                f"host={self.host!r}, user={self.user!r})")


class Config:
    """The whole file: the part, where to call, the jobs."""

    def __init__(self, part, address, timeout, jobs, concurrency=DEFAULT_CONCURRENCY):
        self.part = part
        self.address = address  # scheme://host:port, checked
        self.timeout = timeout  # seconds a whole call may take
        self.jobs = tuple(jobs)
        self.concurrency = concurrency  # the most calls in flight at once
        self.scheme, self.host, self.port, self.netloc = split_address(address)

    def job(self, name):
        for job in self.jobs:
            if job.name == name:
                return job
        return None

    def __repr__(self):
        return (f"Config(part={self.part!r}, address={self.address!r}, "
                f"timeout={self.timeout!r}, concurrency={self.concurrency!r}, "
                f"jobs={self.jobs!r})")


def load_config(path):
    """Read and check the JSON file the recipe wrote; raise BadConfig."""
    try:
        # O_NONBLOCK: a FIFO put in its place must not block the open.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise BadConfig(f"{path} is not a regular file{REGENERATE}")
            raw = f.read(MAX_FILE + 1)
    except FileNotFoundError:
        raise BadConfig(f"{path} does not exist{REGENERATE}") from None
    except IsADirectoryError:
        raise BadConfig(f"{path} is not a regular file{REGENERATE}") from None
    except OSError as exc:
        raise BadConfig(f"cannot read {path}: {exc.strerror} "
                        "(run it as the user that ran bin/buildout)") from None
    if len(raw) > MAX_FILE:
        raise BadConfig(f"{path} is larger than {MAX_FILE // 1048576} MB{REGENERATE}")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_constant,
                          parse_float=_float, parse_int=_int)
    except BadConfig as exc:
        raise BadConfig(f"{path} is not valid: {exc}{REGENERATE}") from None
    except RecursionError:
        raise BadConfig(f"{path} is not valid: nested too deeply{REGENERATE}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise BadConfig(f"{path} is not valid JSON ({_one_line(exc)}){REGENERATE}") from None
    try:
        return parse_config(data)
    except BadConfig as exc:
        raise BadConfig(f"{path}: {exc}{REGENERATE}") from None


def _constant(name):
    raise BadConfig(f"{name} is not a number JSON allows")


def _float(text):
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BadConfig(f"the number {_shorten(text)} is out of range")
    return value


def _int(text):
    if len(text.lstrip("-")) > 18:
        raise BadConfig(f"the number {_shorten(text)} is out of range")
    return int(text)


def _shorten(text, size=40):
    return text if len(text) <= size else text[:size] + "..."


def _one_line(exc):
    return _CONTROL.sub("?", str(exc))


def parse_config(data):
    """A decoded JSON value -> Config; anything else raises BadConfig."""
    if not isinstance(data, dict):
        raise BadConfig(f"expected a JSON object, not {_kind(data)}")
    address = _get(data, "address", str)
    if "://" not in address:
        address = "http://" + address
    split_address(address)  # raises BadConfig
    timeout = data.get("timeout", DEFAULT_TIMEOUT)
    if (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
            or not 0 < timeout <= MAX_TIMEOUT):
        raise BadConfig(f"timeout must be a positive number of seconds up to "
                        f"{MAX_TIMEOUT} (365 days), not {_show(timeout)}")
    concurrency = data.get("concurrency", DEFAULT_CONCURRENCY)
    if concurrency is None:
        concurrency = DEFAULT_CONCURRENCY
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise BadConfig(f"concurrency must be a whole number of 1 or more, "
                        f"not {_show(concurrency)}")
    raw_jobs = _get(data, "jobs", list)
    jobs = tuple(_parse_job(raw, number) for number, raw in enumerate(raw_jobs, 1))
    seen = set()
    for job in jobs:
        if job.name in seen:
            raise BadConfig(f"job name {job.name!r} is used twice")
        seen.add(job.name)
    part = data.get("part")
    if part is None or part == "":
        part = "clock"
    elif not isinstance(part, str) or _CONTROL.search(part):
        raise BadConfig(f"'part' must be a name, not {_show(part)}")
    return Config(part, address.rstrip("/"), timeout, jobs, concurrency)


def _parse_job(raw, number):
    where = f"job {number}"
    if not isinstance(raw, dict):
        raise BadConfig(f"{where} is not a JSON object but {_kind(raw)}")
    name = _get(raw, "name", str, where)
    if _CONTROL.search(name):
        raise BadConfig(f"{where}: the name {name!r} holds control characters")
    method = _get(raw, "method", str, where)
    if not method.startswith("/") or _CONTROL.search(method):
        raise BadConfig(f"{where}: method {method!r} must start with / "
                        "and hold no control characters")
    period = _get(raw, "period", int, where)
    if not 0 < period <= MAX_PERIOD:
        raise BadConfig(f"{where}: period must be a positive number of seconds "
                        f"up to {MAX_PERIOD} (365 days), not {period}")
    optional = {}
    for key in ("host", "user", "password"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise BadConfig(f"{where}: {key} must be a string or null, not {_kind(value)}")
        optional[key] = value or None
    if optional["host"]:
        problem = check_host_port(optional["host"])
        if problem:
            raise BadConfig(f"{where}: host {optional['host']!r} {problem}")
    for key in ("user", "password"):
        if optional[key] and _CONTROL.search(optional[key]):
            raise BadConfig(f"{where}: the {key} holds control characters")
    return Job(name, method, period, **optional)


def _get(data, key, kind, where=None):
    value = data.get(key)
    if kind is int:
        good = isinstance(value, int) and not isinstance(value, bool)
    else:
        good = isinstance(value, kind) and (kind is not str or value)
    if not good:
        what = {str: "a string", int: "a whole number", list: "a list"}[kind]
        prefix = f"{where}: " if where else ""
        if value is None:
            raise BadConfig(f"{prefix}{key!r} is missing (it must be {what})")
        raise BadConfig(f"{prefix}{key!r} must be {what}, not {_kind(value)}")
    return value


def _kind(value):
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {_show(value)}"
    return {dict: "an object", list: "a list", str: "a string",
            type(None): "null"}.get(type(value), type(value).__name__)


def _show(value):
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return _shorten(_CONTROL.sub("?", text))


# -- addresses and hosts: the recipe's rules (address.py, jobs.py), twinned ------


def split_address(address):
    """``scheme://host[:port]`` -> (scheme, host, port, netloc) or BadConfig.

    ``host`` comes without IPv6 brackets (for connecting), ``netloc`` as
    written (the default ``Host:`` header).
    """
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise BadConfig(f"address {_shorten(address)!r} is not http(s)://HOST:PORT")
    if "@" in rest:  # never repeat it: it may hold a password
        raise BadConfig("the address must not hold a user or password: "
                        "they belong in the credentials section (secret.cfg)")
    netloc = rest[:-1] if rest.endswith("/") else rest
    if any(char in netloc for char in "/?#"):
        raise BadConfig(f"address {_shorten(address)!r} is not http(s)://HOST:PORT")
    problem = check_host_port(netloc)
    if problem:
        raise BadConfig(f"address {_shorten(address)!r}: {problem}")
    host, port = _split_port(netloc)
    port = int(port) if port else (443 if scheme == "https" else 80)
    return scheme, host.strip("[]"), port, netloc


def check_host_port(text):
    """None when ``text`` is HOST or HOST:PORT by the recipe's rules,
    otherwise what is wrong with it."""
    host, port = _split_port(text)
    if port is not None:
        if not (port.isascii() and port.isdigit() and len(port) <= 10
                and 0 < int(port) <= 65535):
            return f"has a port {_shorten(port)!r} outside 1-65535"
    if host.startswith("["):
        if not host.endswith("]") or not _is_ipv6(host[1:-1]):
            return f"has {_shorten(host)!r}, which is not an IPv6 address"
        return None
    if not host:
        return "has no host"
    if not check_host_name(host):
        return (f"has {_shorten(host)!r}, which is neither a host name "
                "nor an IPv4 address")
    return None


def _split_port(text):
    """'h:80' -> ('h', '80'); '[::1]:80' -> ('[::1]', '80'); 'h' -> ('h', None)."""
    if text.startswith("["):
        end = text.find("]")
        if end != -1 and text[end + 1:].startswith(":"):
            return text[:end + 1], text[end + 2:]
        return text, None
    if ":" in text:
        host, _, port = text.rpartition(":")
        return host, port
    return text, None


def check_host_name(host):
    """True for an RFC 1123 host name or a dotted-quad IPv4 address.

    A name whose last label is all digits must be an IPv4 address
    (``999.1.1.1`` and ``1.2.3`` are neither).
    """
    if not host.isascii() or len(host.rstrip(".")) > 253:
        return False
    if _HOST_NAME.match(host) is None:
        return False
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if last.isdigit():
        return _is_ipv4(host)
    return True


def _is_ipv4(text):
    parts = text.split(".")
    return len(parts) == 4 and all(
        part.isdigit() and len(part) <= 3 and int(part) <= 255
        and (part == "0" or not part.startswith("0")) for part in parts)


def _is_ipv6(text):
    if not text.isascii() or "%" in text:
        return False
    try:
        socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
        return False
    return True


def warn_if_exposed(path, config, stream):
    """Warn when a file holding a password is readable by group/others."""
    if not any(job.password for job in config.jobs):
        return
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        return
    if mode & 0o077:
        print(
            f"{config.part}: warning: {path} holds a password and is readable "
            f"by group/others (mode {mode:o}): chmod 600 {path}",
            file=stream,
        )
