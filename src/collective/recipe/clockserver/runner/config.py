"""The mode-0600 JSON file the recipe writes -> Config (configvalue.py):
reading and checking it.

Whatever the file holds (hand-edited, damaged, odd JSON numbers), loading
gives a Config or raises BadConfig with one line saying what is wrong.
The jobs, entries and lock are the recipe's own model (model.py);
addresses and hosts are checked by the recipe's one validator
(address.py).  No dataclasses: ``fire`` starts once per call from cron.
"""

import json
import os
import stat

from .. import values
from ..model import MAX_PERIOD, Entry, Job, Lock
from .configvalue import (
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    BadConfig,
    Config,
    check_host_port,
    no_control,
    shorten,
    split_address,
)

MAX_FILE = 16 * 1024 * 1024  # bytes; the recipe writes a few KB per 100 jobs
REGENERATE = "; run bin/buildout to write it again"

# No regular expressions: compiling them would cost fire's start-up more
# than the checks themselves.  The rules are the recipe's (values.py).
_has_control = values.has_control


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
        raise BadConfig(f"the number {shorten(text)} is out of range")
    return value


def _int(text):
    if len(text.lstrip("-")) > 18:
        raise BadConfig(f"the number {shorten(text)} is out of range")
    return int(text)


def _one_line(exc):
    return no_control(str(exc))


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


def _number(value, what, kinds, within, expected):
    """``value`` when it is None or a number of ``kinds`` (never a bool)
    for which ``within`` holds; else BadConfig: what ``what`` must be."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds) or not within(value):
        raise BadConfig(f"{what} must be {expected}, not {_show(value)}")
    return value


def _seconds(value, what):
    return _number(
        value,
        what,
        (int, float),
        lambda v: 0 <= v <= MAX_PERIOD,
        "a number of seconds",
    )


def _retries(value, what):
    return _number(
        value, what, int, lambda v: 0 <= v <= 10, "a whole number from 0 to 10"
    )


def _timeout(value, what):
    return _number(
        value,
        what,
        (int, float),
        lambda v: 0 < v <= MAX_TIMEOUT,
        f"a positive number of seconds up to {MAX_TIMEOUT} (365 days)",
    )


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
    return shorten(no_control(text))


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
