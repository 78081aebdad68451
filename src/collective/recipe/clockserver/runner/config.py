"""The mode-0600 JSON file the recipe writes -> Config (jobs, address, timeout).

Whatever the file holds (hand-edited, damaged, odd JSON numbers), loading
gives a Config or raises BadConfig with one line saying what is wrong.
The jobs, entries and lock are the recipe's own model (model.py);
addresses and hosts are checked by the recipe's one validator
(address.py).  No dataclasses: ``fire`` starts once per call from cron.
"""

import json
import os
import stat

from .. import address as addresses
from .. import values
from ..model import MAX_PERIOD, Entry, Job, Lock

MAX_TIMEOUT = MAX_PERIOD
DEFAULT_TIMEOUT = 300
DEFAULT_CONCURRENCY = 4
MAX_FILE = 16 * 1024 * 1024  # bytes; the recipe writes a few KB per 100 jobs
REGENERATE = "; run bin/buildout to write it again"

# No regular expressions: compiling them would cost fire's start-up more
# than the checks themselves.  The rules are the recipe's (values.py).
_CONTROL_CHARS = dict.fromkeys((*range(32), *range(127, 160)), "?")
_has_control = values.has_control


def _no_control(text):
    return text.translate(_CONTROL_CHARS)


class BadConfig(Exception):
    """The config file is missing or malformed; the message says why."""


class Config:
    """The whole file: the part, where to call, the jobs."""

    def __init__(
        self,
        part,
        address,
        timeout,
        jobs,
        concurrency=DEFAULT_CONCURRENCY,
        lock=None,
        retries=0,
        **monitoring,
    ):
        self.part = part
        self.address = address  # scheme://host:port, checked; None: zserver
        self.timeout = timeout  # seconds a whole call may take (jobs may say timeout=)
        self.retries = retries  # tries again within a tick (jobs may say retries=)
        self.jobs = tuple(jobs)
        self.concurrency = concurrency  # the most calls in flight at once
        # The cluster lock (model.Lock); None: one host.
        self.lock = lock
        if address is None:
            self.scheme = self.host = self.port = self.netloc = None
        else:
            self.scheme, self.host, self.port, self.netloc = split_address(address)
        # Run records, status, metrics, pings (see runs.py).
        self.backend = monitoring.get("backend", "runner")
        self.state_directory = monitoring.get("state_directory")
        self.metrics_file = monitoring.get("metrics_file")
        self.grace = monitoring.get("grace")  # None: one interval, at most 1h
        self.catch_up = monitoring.get("catch_up", False)
        self.entries = tuple(monitoring.get("entries", ()))
        self.pings = dict(monitoring.get("pings") or {})  # name -> URL (secret)

    def job(self, name):
        for job in self.jobs:
            if job.name == name:
                return job
        return None

    def entry(self, name):
        for entry in self.entries:
            if entry.name == name:
                return entry
        return None

    @property
    def secrets(self):
        """What must never appear in a record or an output tail."""
        found = {job.password for job in self.jobs if job.password}
        from .text import ping_secrets

        for url in self.pings.values():  # the key, not the host or slug
            found.update(ping_secrets(url))
        if self.lock and self.lock.password:
            found.add(self.lock.password)
        return tuple(sorted(s for s in found if len(s) >= 4))

    def __repr__(self):
        return (
            f"Config(part={self.part!r}, address={self.address!r}, "
            f"timeout={self.timeout!r}, concurrency={self.concurrency!r}, "
            f"jobs={self.jobs!r})"
        )


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
        raise BadConfig(
            f"cannot read {path}: {exc.strerror} "
            "(run it as the user that ran bin/buildout)"
        ) from None
    if len(raw) > MAX_FILE:
        raise BadConfig(f"{path} is larger than {MAX_FILE // 1048576} MB{REGENERATE}")
    try:
        data = json.loads(
            raw.decode("utf-8"),
            parse_constant=_constant,
            parse_float=_float,
            parse_int=_int,
        )
    except BadConfig as exc:
        raise BadConfig(f"{path} is not valid: {exc}{REGENERATE}") from None
    except RecursionError:
        raise BadConfig(f"{path} is not valid: nested too deeply{REGENERATE}") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise BadConfig(
            f"{path} is not valid JSON ({_one_line(exc)}){REGENERATE}"
        ) from None
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
    return _no_control(str(exc))


def parse_config(data):
    """A decoded JSON value -> Config; anything else raises BadConfig."""
    if not isinstance(data, dict):
        raise BadConfig(f"expected a JSON object, not {_kind(data)}")
    backend = data.get("backend", "runner")
    if backend not in ("runner", "cron", "zserver"):
        raise BadConfig(f"unknown backend {_show(backend)}")
    if not data.get("address") and (backend == "zserver" or not data.get("jobs")):
        address = None  # no job to call: bin/<part> only records entries
    else:
        address = _get(data, "address", str)
        if "://" not in address:
            address = "http://" + address
        split_address(address)  # raises BadConfig
    timeout = data.get("timeout", DEFAULT_TIMEOUT)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise BadConfig(
            f"timeout must be a positive number of seconds up to "
            f"{MAX_TIMEOUT} (365 days), not {_show(timeout)}"
        )
    concurrency = data.get("concurrency", DEFAULT_CONCURRENCY)
    if concurrency is None:
        concurrency = DEFAULT_CONCURRENCY
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or concurrency < 1
    ):
        raise BadConfig(
            f"concurrency must be a whole number of 1 or more, not {_show(concurrency)}"
        )
    retries = _retries(data.get("retries"), "retries") or 0
    raw_jobs = _get(data, "jobs", list)
    jobs = tuple(_parse_job(raw, number) for number, raw in enumerate(raw_jobs, 1))
    raw_entries = data.get("entries") or []
    if not isinstance(raw_entries, list):
        raise BadConfig(f"'entries' must be a list, not {_kind(raw_entries)}")
    entries = tuple(
        _parse_entry(raw, number) for number, raw in enumerate(raw_entries, 1)
    )
    seen = set()
    for job in jobs + entries:
        if job.name in seen:
            raise BadConfig(f"job name {job.name!r} is used twice")
        seen.add(job.name)
    part = data.get("part")
    if part is None or part == "":
        part = "clock"
    elif not isinstance(part, str) or _has_control(part):
        raise BadConfig(f"'part' must be a name, not {_show(part)}")
    pings = data.get("pings") or {}
    if not isinstance(pings, dict) or not all(
        isinstance(value, str) and not values.ping_url_problem(value)
        for value in pings.values()
    ):
        raise BadConfig("'pings' must map names to http(s) URLs")
    metrics_file = data.get("metrics-file") or None
    if metrics_file is not None and not (
        isinstance(metrics_file, str) and metrics_file.endswith(".prom")
    ):
        raise BadConfig(
            f"'metrics-file' must be a path ending in .prom, not {_show(metrics_file)}"
        )
    state_directory = data.get("state-directory") or None
    if state_directory is not None and not isinstance(state_directory, str):
        raise BadConfig(
            f"'state-directory' must be a path, not {_kind(state_directory)}"
        )
    for key, path in (
        ("state-directory", state_directory),
        ("metrics-file", metrics_file),
    ):
        if path and values.path_problem(path):
            raise BadConfig(f"'{key}' {values.path_problem(path)}")
    return Config(
        part,
        address and address.rstrip("/"),
        timeout,
        jobs,
        concurrency,
        _parse_lock(data, part),
        retries,
        backend=backend,
        state_directory=state_directory,
        metrics_file=metrics_file,
        grace=_seconds(data.get("grace"), "grace"),
        catch_up=data.get("catch-up") is True,
        entries=entries,
        pings=pings,
    )


def _seconds(value, what):
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (0 <= value <= MAX_PERIOD)
    ):
        raise BadConfig(f"{what} must be a number of seconds, not {_show(value)}")
    return value


def _retries(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise BadConfig(
            f"{what} must be a whole number from 0 to 10, not {_show(value)}"
        )
    return value


def _timeout(value, what):
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (0 < value <= MAX_TIMEOUT)
    ):
        raise BadConfig(
            f"{what} must be a positive number of seconds up to "
            f"{MAX_TIMEOUT} (365 days), not {_show(value)}"
        )
    return value


def _zone(value, what):
    """A job's time zone: an IANA name this machine knows."""
    if value is None:
        return None
    from ..zones import zone_problem

    if not isinstance(value, str) or zone_problem(value):
        raise BadConfig(
            f"{what} must be an IANA time zone this machine knows, not {_show(value)}"
        )
    return value


def _parse_entry(raw, number):
    where = f"entry {number}"
    if not isinstance(raw, dict):
        raise BadConfig(f"{where} is not a JSON object but {_kind(raw)}")
    name = _get(raw, "name", str, where)
    times = _get(raw, "times", str, where)
    if _has_control(name) or _has_control(times):
        raise BadConfig(f"{where}: name and times must hold no control characters")
    return Entry.from_json(
        dict(raw, grace=_seconds(raw.get("grace"), f"{where}: grace"))
    )


def _parse_lock(data, part):
    """The ``lock`` object, its URL checked; None when there is none."""
    lock = data.get("lock")
    if lock is None:
        return None
    if not isinstance(lock, dict):
        raise BadConfig(f"'lock' must be an object, not {_kind(lock)}")
    for key in ("url", "user", "password", "namespace"):
        value = lock.get(key)
        if value is not None and not isinstance(value, str):
            raise BadConfig(f"lock: {key} must be a string or null, not {_kind(value)}")
    from ..lockurl import BadLockURL  # standard library only

    try:
        return Lock.from_json(lock, part)
    except BadLockURL as exc:
        raise BadConfig(f"lock: {_one_line(exc.problem)}") from None


def _parse_job(raw, number):
    where = f"job {number}"
    if not isinstance(raw, dict):
        raise BadConfig(f"{where} is not a JSON object but {_kind(raw)}")
    name = _get(raw, "name", str, where)
    if _has_control(name):
        raise BadConfig(f"{where}: the name {name!r} holds control characters")
    method = _get(raw, "method", str, where)
    if not method.startswith("/") or _has_control(method):
        raise BadConfig(
            f"{where}: method {method!r} must start with / "
            "and hold no control characters"
        )
    if raw.get("period") is None and raw.get("times"):
        period = None  # '-': times= alone decides
    else:
        period = _get(raw, "period", int, where)
        if not 0 < period <= MAX_PERIOD:
            raise BadConfig(
                f"{where}: period must be a positive number of seconds "
                f"up to {MAX_PERIOD} (365 days), not {period}"
            )
    optional = {}
    for key in ("host", "user", "password", "times"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise BadConfig(
                f"{where}: {key} must be a string or null, not {_kind(value)}"
            )
        optional[key] = value or None
    if optional["host"]:
        problem = check_host_port(optional["host"])
        if problem:
            raise BadConfig(f"{where}: host {optional['host']!r} {problem}")
    for key in ("user", "password"):
        if optional[key] and _has_control(optional[key]):
            raise BadConfig(f"{where}: the {key} holds control characters")
    if optional["times"] and _has_control(optional["times"]):
        raise BadConfig(f"{where}: times must hold no control characters")
    return Job.from_json(
        dict(
            raw,
            grace=_seconds(raw.get("grace"), f"{where}: grace"),
            offset=_seconds(raw.get("offset"), f"{where}: offset"),
            spread=_seconds(raw.get("spread"), f"{where}: spread"),
            timeout=_timeout(raw.get("timeout"), f"{where}: timeout"),
            retries=_retries(raw.get("retries"), f"{where}: retries"),
            timezone=_zone(raw.get("timezone"), f"{where}: timezone"),
        )
    )


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
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _show(value):
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return _shorten(_no_control(text))


# -- addresses and hosts: the recipe's rules (address.py) ------


def split_address(address):
    """``scheme://host[:port]`` -> (scheme, host, port, netloc) or BadConfig.

    ``host`` comes without IPv6 brackets (for connecting), ``netloc`` as
    written (the default ``Host:`` header).
    """
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise BadConfig(f"address {_shorten(address)!r} is not http(s)://HOST:PORT")
    if "@" in rest:  # never repeat it: it may hold a password
        raise BadConfig(
            "the address must not hold a user or password: "
            "they belong in the credentials section (secret.cfg)"
        )
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
    """None when ``text`` is HOST or HOST:PORT by the recipe's rules
    (address.py), otherwise what is wrong with it."""
    host, port = _split_port(text)
    if port is not None and addresses.port_problem(port):
        return f"has a port {_shorten(port)!r} outside 1-65535"
    if host.startswith("["):
        if addresses.host_problem(host):
            return f"has {_shorten(host)!r}, which is not an IPv6 address"
        return None
    if not host:
        return "has no host"
    if addresses.host_problem(host):
        return (
            f"has {_shorten(host)!r}, which is neither a host name nor an IPv4 address"
        )
    return None


def _split_port(text):
    """'h:80' -> ('h', '80'); '[::1]:80' -> ('[::1]', '80'); 'h' -> ('h', None)."""
    if text.startswith("["):
        end = text.find("]")
        if end != -1 and text[end + 1 :].startswith(":"):
            return text[: end + 1], text[end + 2 :]
        return text, None
    if ":" in text:
        host, _, port = text.rpartition(":")
        return host, port
    return text, None


def warn_if_exposed(path, config, stream):
    """Warn when a file holding a password is readable by group/others."""
    if not any(job.password for job in config.jobs) and not (
        config.lock and config.lock.password
    ):
        return
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        return
    if mode & 0o077:
        try:
            print(
                f"{config.part}: warning: {path} holds a password and is readable "
                f"by group/others (mode {mode:o}): chmod 600 {path}",
                file=stream,
            )
        except (OSError, ValueError):  # a full or closed stderr: not worth a traceback
            pass
