"""The mode-0600 JSON file the recipe writes -> Config (jobs, address, timeout)."""

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
    times: str | None = None  # cron backend: the crontab schedule that fires it
    grace: float | None = None  # seconds; None: the part's grace
    catch_up: bool | None = None  # None: the part's catch-up

    @property
    def authenticated(self):
        """True when a Basic Authorization header is sent (as ZServer)."""
        return bool(self.user and self.password)


@dataclass(frozen=True)
class Entry:
    """A monitored crontab entry (``exec NAME -- COMMAND``)."""

    name: str
    times: str
    grace: float | None = None


@dataclass(frozen=True)
class Config:
    part: str
    address: str | None  # scheme://host:port; None on zserver without one
    timeout: float
    jobs: tuple
    # Run records and monitoring (see records.py, status.py).
    backend: str = "runner"
    state_directory: str | None = None
    metrics_file: str | None = None
    grace: float | None = None  # None: one interval, at most 1h
    catch_up: bool = False
    entries: tuple = ()
    pings: dict = field(default_factory=dict, repr=False)  # name -> URL (secret)

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
        """What must never appear in a record, a log or an output tail."""
        found = {job.password for job in self.jobs if job.password}
        for url in self.pings.values():
            found.add(url)
            found.add(url.rstrip("/").rsplit("/", 1)[-1])  # the check's key
        return tuple(sorted(s for s in found if len(s) >= 4))


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
        return _parse_config(data)
    except BadConfig as exc:
        raise BadConfig(f"{path}: {exc}{regenerate}") from None


def _parse_config(data):
    if not isinstance(data, dict):
        raise BadConfig("expected a JSON object")
    backend = data.get("backend", "runner")
    if backend not in ("runner", "cron", "zserver"):
        raise BadConfig(f"unknown backend {backend!r}")
    if backend == "zserver" and not data.get("address"):
        address = None
    else:
        address = _parse_address(_get(data, "address", str))
    timeout = data.get("timeout", 300)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise BadConfig(f"timeout must be a positive number of seconds, not {timeout!r}")
    raw_jobs = _get(data, "jobs", list)
    jobs = tuple(_parse_job(raw, number) for number, raw in enumerate(raw_jobs, 1))
    entries = tuple(_parse_entry(raw, number)
                    for number, raw in enumerate(data.get("entries") or [], 1))
    names = [job.name for job in jobs] + [entry.name for entry in entries]
    for name in names:
        if names.count(name) > 1:
            raise BadConfig(f"job name {name!r} is used twice")
    part = data.get("part") or "clock"
    pings = data.get("pings") or {}
    if not isinstance(pings, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.startswith(("http://", "https://"))
            for k, v in pings.items()):
        raise BadConfig("pings must map names to http(s) URLs")
    metrics_file = data.get("metrics-file") or None
    if metrics_file is not None and not (
            isinstance(metrics_file, str) and metrics_file.endswith(".prom")):
        raise BadConfig("metrics-file must be a path ending in .prom")
    return Config(str(part), address, timeout, jobs, backend=backend,
                  state_directory=_optional(data, "state-directory", str),
                  metrics_file=metrics_file,
                  grace=_seconds(data.get("grace"), "grace"),
                  catch_up=bool(data.get("catch-up", False)),
                  entries=entries, pings=dict(pings))


def _optional(data, key, kind):
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        raise BadConfig(f"{key!r} has the wrong type")
    return value


def _seconds(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise BadConfig(f"{what} must be a number of seconds, not {value!r}")
    return value


def _parse_entry(raw, number):
    where = f"entry {number}"
    if not isinstance(raw, dict):
        raise BadConfig(f"{where} is not a JSON object")
    return Entry(_get(raw, "name", str, where), _get(raw, "times", str, where),
                 _seconds(raw.get("grace"), f"{where}: grace"))


def _parse_address(address):
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
    return address.rstrip("/")


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
    for key in ("host", "user", "password", "times"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise BadConfig(f"{where}: {key} must be a string or null")
        optional[key] = value or None
    catch_up = raw.get("catch-up")
    return Job(name, method, period, times=optional.pop("times", None),
               grace=_seconds(raw.get("grace"), f"{where}: grace"),
               catch_up=None if catch_up is None else bool(catch_up), **optional)


def _get(data, key, kind, where="the file"):
    value = data.get(key)
    if not isinstance(value, kind) or (kind is str and not value):
        what = {str: "a string", int: "an integer", list: "a list"}[kind]
        raise BadConfig(f"{where}: {key!r} is missing or not {what}")
    return value


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


