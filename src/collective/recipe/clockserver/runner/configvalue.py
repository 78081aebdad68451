"""The Config value ``bin/<part>`` runs with (the part, where to call, the
jobs, the monitoring), BadConfig, and the address rules it is built with.

config.py loads it from the file the recipe writes; the jobs, entries and
lock are the recipe's own model (model.py); hosts are checked by the
recipe's one validator (address.py).  No dataclasses: ``fire`` starts once
per call from cron.
"""

from .. import address as addresses
from ..model import MAX_PERIOD

MAX_TIMEOUT = MAX_PERIOD
DEFAULT_TIMEOUT = 300
DEFAULT_CONCURRENCY = 4

_CONTROL_CHARS = dict.fromkeys((*range(32), *range(127, 160)), "?")


def no_control(text):
    """``text`` with each control character shown as ``?``."""
    return text.translate(_CONTROL_CHARS)


def shorten(text, size=40):
    """``text``, cut to ``size`` characters with ``...``."""
    return text if len(text) <= size else text[:size] + "..."


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


# -- addresses and hosts: the recipe's rules (address.py) ------


def split_address(address):
    """``scheme://host[:port]`` -> (scheme, host, port, netloc) or BadConfig.

    ``host`` comes without IPv6 brackets (for connecting), ``netloc`` as
    written (the default ``Host:`` header).
    """
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise BadConfig(f"address {shorten(address)!r} is not http(s)://HOST:PORT")
    if "@" in rest:  # never repeat it: it may hold a password
        raise BadConfig(
            "the address must not hold a user or password: "
            "they belong in the credentials section (secret.cfg)"
        )
    netloc = rest[:-1] if rest.endswith("/") else rest
    if any(char in netloc for char in "/?#"):
        raise BadConfig(f"address {shorten(address)!r} is not http(s)://HOST:PORT")
    problem = check_host_port(netloc)
    if problem:
        raise BadConfig(f"address {shorten(address)!r}: {problem}")
    host, port = _split_port(netloc)
    port = int(port) if port else (443 if scheme == "https" else 80)
    return scheme, host.strip("[]"), port, netloc


def check_host_port(text):
    """None when ``text`` is HOST or HOST:PORT by the recipe's rules
    (address.py), otherwise what is wrong with it."""
    host, port = _split_port(text)
    if port is not None and addresses.port_problem(port):
        return f"has a port {shorten(port)!r} outside 1-65535"
    if host.startswith("["):
        if addresses.host_problem(host):
            return f"has {shorten(host)!r}, which is not an IPv6 address"
        return None
    if not host:
        return "has no host"
    if addresses.host_problem(host):
        return (
            f"has {shorten(host)!r}, which is neither a host name nor an IPv4 address"
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
