"""The ``jobs`` option: one ``METHOD PERIOD [key=value ...]`` per line -> model.Job."""

from __future__ import absolute_import, division, print_function

import re
import shlex

from . import address, values
from .errors import ConfigError
from .model import MAX_PERIOD, Job

UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
KEYS = (
    "name",
    "host",
    "credentials",
    "times",
    "grace",
    "catch-up",
    "timeout",
    "retries",
    "timezone",
    "spread",
)
MAX_RETRIES = 10
TIMEOUT_FIX = (
    "Write the seconds a call may take, e.g. timeout=300 "
    "(units s m h work too: 5m, 1h)."
)
RETRIES_FIX = (
    "Write how often a failed call is tried again within its tick, "
    "a whole number from 0 to 10, e.g. retries=3."
)
SPREAD_FIX = (
    "Write a duration: seconds (600) or with units s m h d w, e.g. 10m, 1h; 0 for none."
)
TIMEZONE_FIX = (
    "Write an IANA time zone name, e.g. Europe/Amsterdam, "
    "America/New_York, UTC (see /usr/share/zoneinfo)."
)
BOOLEANS = {"true": True, "false": False}
GRACE_FIX = (
    "Write how long after a missed tick status calls it overdue: seconds "
    "(600) or with units s m h d w, e.g. 10m, 1h."
)
PERIOD_FIX = (
    "Write the period in seconds (3600) or with units s m h d w, "
    "e.g. 90s, 15m, 1h30m, 1d, 1w."
)
_PERIOD_PART = re.compile(r"([0-9]+)([wdhms])")
_DIGITS = re.compile(r"[0-9]+\Z")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def parse_period(text):
    """``'1h30m'`` -> ``5400``; a plain number is seconds.

    Raises ValueError with the reason when the text is not a whole number
    of seconds from 1 to MAX_PERIOD.
    """
    text = text.strip()
    if _DIGITS.match(text):
        seconds = int(text)
    else:
        parts = _PERIOD_PART.findall(text)
        units = [unit for _, unit in parts]
        if (
            not parts
            or "".join(n + u for n, u in parts) != text
            or len(set(units)) != len(units)
        ):
            raise ValueError("not seconds or a combination of units")
        seconds = sum(int(n) * UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("a period must be more than 0 seconds")
    if seconds > MAX_PERIOD:
        raise ValueError("a period must be at most 365 days")
    return seconds


def derive_name(method):
    """A job name from its method: ``/site/@@view?days=1`` -> ``site-view-days-1``;
    at most values.MAX_NAME characters (a long one ends in a short hash)."""
    name = re.sub(r"[^A-Za-z0-9._]+", "-", method).strip("-._")
    return values.bounded_name(name or "root")


def check_characters(text):
    """Refuse a control character or line separator anywhere in the
    ``jobs`` option (tabs and line ends aside): bin/<part> refuses them in
    a method, and str.splitlines() would break a line at some of them."""
    char = values.stray(text, "\t\n\r")
    if char is None:
        return
    line = next(line for line in text.split("\n") if char in line).strip()
    raise ConfigError(
        "jobs",
        values.shown(line),
        "the line holds the control character %s" % values.char_name(char),
        "Remove it; in a method write such a character percent-encoded "
        "(%%%02X)." % (ord(char) % 256),
    )


def _split(line):
    if not any(c in line for c in "'\"\\"):
        return line.split()  # nothing to unquote: much faster than shlex
    try:
        return shlex.split(line)
    except ValueError as e:
        raise ConfigError(
            "jobs",
            line,
            "cannot split the line: %s" % e,
            "Close the quote, or quote values that contain spaces: times='0 1 * * 6'.",
        )


def parse_line(line):
    """One ``jobs`` line -> (method, period, {key: value}) without names resolved."""
    words = _split(line)
    if len(words) < 2:
        raise ConfigError(
            "jobs",
            line,
            "a job needs a method and a period",
            "Write one job per line: METHOD PERIOD [key=value ...], "
            "e.g. /Plone/@@update-feeds 1h",
        )
    method, period_text, pairs = words[0], words[1], words[2:]
    no_period = period_text == "-"
    if not method.startswith("/"):
        raise ConfigError(
            "jobs",
            line,
            "the method %r is not a path from the Zope root" % method,
            "Start the method with '/', e.g. /%s" % method.lstrip("./"),
        )
    if any(c.isspace() for c in method):
        raise ConfigError(
            "jobs",
            line,
            "the method %r contains white space" % method,
            "Quote-encode spaces in the method as %20.",
        )
    try:
        period = None if no_period else parse_period(period_text)
    except ValueError as e:
        raise ConfigError(
            "jobs", line, "bad period %r: %s" % (period_text, e), PERIOD_FIX
        )
    keys = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in KEYS:
            raise ConfigError(
                "jobs",
                line,
                "unknown job key %r" % (key if sep else pair),
                "Known keys: %s (as key=value)." % ", ".join(k + "=" for k in KEYS),
            )
        if key in keys:
            raise ConfigError(
                "jobs",
                line,
                "the key %s= is given twice" % key,
                "Give each key once.",
            )
        if not value:
            raise ConfigError(
                "jobs",
                line,
                "the key %s= has no value" % key,
                "Give it a value, or leave the key out.",
            )
        keys[key] = value
    if no_period and "times" not in keys:
        raise ConfigError(
            "jobs",
            line,
            "the period is '-' but the job has no times=",
            "Write a period (3600, 1h) or give the schedule: "
            "%s - times='0 3 * * *'." % method,
        )
    if "host" in keys:
        address.check_host(keys["host"], "jobs", line)
    name = keys.get("name")
    if name is not None and not _NAME.match(name):
        raise ConfigError(
            "jobs",
            line,
            "the job name %r is not usable" % name,
            "Use letters, digits, '.', '_' and '-' only, starting with a "
            "letter or digit.",
        )
    if name is not None and values.name_problem(name):
        raise ConfigError(
            "jobs",
            line,
            "the job name '%s...' %s" % (name[:40], values.name_problem(name)),
            "Use a name of at most %d characters." % values.MAX_NAME,
        )
    return method, period, keys


def parse_jobs(text):
    """The whole ``jobs`` option -> list of Job, in the order given.

    Blank lines and lines starting with ``#`` are skipped. Explicit names
    (``name=``) must be unique; a derived name that collides with another
    gets ``-2``, ``-3``, ... appended.
    """
    parsed = []
    check_characters(text or "")
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parsed.append((line,) + parse_line(line))

    taken = {}
    for line, _, _, keys in parsed:
        name = keys.get("name")
        if name is None:
            continue
        if name in taken:
            raise ConfigError(
                "jobs",
                line,
                "duplicate job name %r (also used by: %s)" % (name, taken[name]),
                "Give each job its own name=.",
            )
        taken[name] = line

    jobs = []
    for line, method, period, keys in parsed:
        name = keys.get("name")
        if name is None:
            base = name = derive_name(method)
            counter = 1
            while name in taken:
                counter += 1
                name = values.bounded_name(base, "-%d" % counter)
            taken[name] = line
        jobs.append(
            Job(
                name,
                method,
                period,
                host=keys.get("host"),
                times=keys.get("times"),
                grace=job_grace(keys, line),
                catch_up=job_catch_up(keys, line),
                credentials=keys.get("credentials"),
                line=line,
                timezone=job_timezone(keys, line),
                spread=job_duration(keys, "spread", line),
                timeout=job_duration(keys, "timeout", line),
                retries=job_retries(keys, line),
            )
        )
    return jobs


def grace(text, option, line=None):
    """A ``grace`` (the part's, or a job's ``grace=``) -> seconds."""
    return duration(text, option, "grace", line)


def job_grace(keys, line):
    text = keys.get("grace")
    return None if text is None else grace(text, "jobs", line)


def job_catch_up(keys, line):
    text = keys.get("catch-up")
    if text is None:
        return None
    if text not in BOOLEANS:
        raise ConfigError(
            "jobs",
            line,
            "catch-up=%s is not a boolean" % text,
            "Write catch-up=true or catch-up=false.",
        )
    return BOOLEANS[text]


def duration(text, option, what, line=None):
    """A ``timeout``, ``spread`` or ``grace`` (the part's, or a job's key)
    -> seconds. A spread may be 0 (none); the others may not."""
    text = text.strip()
    if what == "spread" and text == "0":
        return 0
    try:
        return parse_period(text)
    except ValueError as e:
        raise ConfigError(
            option,
            line if line is not None else text,
            "bad %s %r: %s" % (what, text, e),
            {"spread": SPREAD_FIX, "grace": GRACE_FIX}.get(what, TIMEOUT_FIX),
        )


def job_duration(keys, key, line):
    text = keys.get(key)
    return None if text is None else duration(text, "jobs", key, line)


def retries(text, option, line=None):
    """``retries`` (the part's, or a job's ``retries=``) -> 0-10."""
    text = text.strip()
    if not (_DIGITS.match(text) and int(text) <= MAX_RETRIES):
        raise ConfigError(
            option,
            line if line is not None else text,
            "bad retries %r: not a whole number from 0 to %d" % (text, MAX_RETRIES),
            RETRIES_FIX,
        )
    return int(text)


def job_retries(keys, line):
    text = keys.get("retries")
    return None if text is None else retries(text, "jobs", line)


def timezone(text, option, line=None):
    """A ``timezone`` (the part's, or a job's ``timezone=``) -> its name."""
    from .zones import zone_problem

    text = text.strip()
    found = zone_problem(text)
    if found:
        raise ConfigError(
            option,
            line if line is not None else text,
            "bad timezone: %s" % found,
            TIMEZONE_FIX,
        )
    return text


def job_timezone(keys, line):
    text = keys.get("timezone")
    return None if text is None else timezone(text, "jobs", line)
