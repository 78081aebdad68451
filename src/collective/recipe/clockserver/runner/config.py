"""The mode-0600 JSON file the recipe writes -> Config (jobs, address, timeout)."""

import dataclasses
import json
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class BadConfig(Exception):
    """The config file is missing or malformed; the message says why."""


@dataclass(frozen=True)
class Job:
    name: str
    method: str  # path from the Zope root, may carry ?query
    period: int  # seconds; ticks at epoch multiples
    host: str | None = None  # Host: header; None = the address's host:port
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def authenticated(self):
        """True when a Basic Authorization header is sent (as ZServer)."""
        return bool(self.user and self.password)


@dataclass(frozen=True)
class Config:
    part: str
    address: str  # scheme://host:port
    timeout: float
    jobs: tuple
    # The cluster lock (``lock``): url, user, password, namespace; None: one host.
    lock: dict | None = field(default=None, repr=False)

    def job(self, name):
        for job in self.jobs:
            if job.name == name:
                return job
        return None


def load_config(path):
    """Read and check the JSON file the recipe wrote; raise BadConfig."""
    regenerate = "; run bin/buildout to write it again"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise BadConfig(f"{path} does not exist{regenerate}") from None
    except OSError as exc:
        raise BadConfig(f"cannot read {path}: {exc.strerror} "
                        "(run it as the user that ran bin/buildout)") from None
    except ValueError as exc:
        raise BadConfig(f"{path} is not valid JSON ({exc}){regenerate}") from None
    try:
        config = _parse_config(data)
        lock = _parse_lock(data)
        return dataclasses.replace(config, lock=lock) if lock else config
    except BadConfig as exc:
        raise BadConfig(f"{path}: {exc}{regenerate}") from None


def _parse_config(data):
    if not isinstance(data, dict):
        raise BadConfig("expected a JSON object")
    address = _get(data, "address", str)
    if "://" not in address:
        address = "http://" + address
    url = urlsplit(address)
    if "@" in url.netloc:
        raise BadConfig("the address must not hold a user or password: "
                        "they belong in the credentials section (secret.cfg)")
    if url.scheme not in ("http", "https") or not url.hostname or url.path not in ("", "/"):
        raise BadConfig(f"address {address!r} is not http(s)://HOST:PORT")
    try:
        url.port
    except ValueError:
        raise BadConfig(f"address {address!r} has a bad port") from None
    timeout = data.get("timeout", 300)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise BadConfig(f"timeout must be a positive number of seconds, not {timeout!r}")
    raw_jobs = _get(data, "jobs", list)
    jobs = tuple(_parse_job(raw, number) for number, raw in enumerate(raw_jobs, 1))
    names = [job.name for job in jobs]
    for name in names:
        if names.count(name) > 1:
            raise BadConfig(f"job name {name!r} is used twice")
    part = data.get("part") or "clock"
    return Config(str(part), address.rstrip("/"), timeout, jobs)


def _parse_lock(data):
    """The ``lock`` object, its URL checked; None when there is none."""
    lock = data.get("lock")
    if lock is None:
        return None
    if not isinstance(lock, dict):
        raise BadConfig("'lock' is not a JSON object")
    for key in ("url", "user", "password", "namespace"):
        value = lock.get(key)
        if value is not None and not isinstance(value, str):
            raise BadConfig(f"lock: {key} must be a string or null")
    from .locks import BadLockURL, parse_url  # standard library only

    try:
        parse_url(lock.get("url") or "")
    except BadLockURL as exc:
        raise BadConfig(f"lock: {exc.problem}") from None
    return {"url": lock["url"], "user": lock.get("user") or None,
            "password": lock.get("password") or None,
            "namespace": lock.get("namespace") or data.get("part") or "clock"}


def _parse_job(raw, number):
    if not isinstance(raw, dict):
        raise BadConfig(f"job {number} is not a JSON object")
    where = f"job {number}"
    name = _get(raw, "name", str, where)
    method = _get(raw, "method", str, where)
    if not method.startswith("/"):
        raise BadConfig(f"{where}: method {method!r} must start with /")
    period = _get(raw, "period", int, where)
    if isinstance(period, bool) or period <= 0:
        raise BadConfig(f"{where}: period must be a positive number of seconds")
    optional = {}
    for key in ("host", "user", "password"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise BadConfig(f"{where}: {key} must be a string or null")
        optional[key] = value or None
    return Job(name, method, period, **optional)


def _get(data, key, kind, where="the file"):
    value = data.get(key)
    if not isinstance(value, kind) or (kind is str and not value):
        what = {str: "a string", int: "an integer", list: "a list"}[kind]
        raise BadConfig(f"{where}: {key!r} is missing or not {what}")
    return value


def warn_if_exposed(path, config, stream):
    """Warn when a file holding a password is readable by group/others."""
    if not any(job.password for job in config.jobs) and not (
            config.lock and config.lock.get("password")):
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


