"""The part's single options read and checked: backend, booleans, paths, address, timeout, concurrency.

Each function takes the part's options (a plain mapping) and returns the
value or raises ConfigError; settings.py puts them into one Settings.
Pure, Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

import os
import re

from . import jobs as joblib
from . import values as rules
from .address import parse_address
from .errors import ConfigError
from .jobs import BOOLEANS

BACKENDS = ("zserver", "runner", "cron")
DEFAULT_TIMEOUT = 300
DEFAULT_CONCURRENCY = 4
BOOLEAN_FIX = "Write true or false."
_CONCURRENCY = re.compile(r"[0-9]{1,6}\Z")


def backend(options, part, python2):
    """``backend``: (what the user gave or "", the backend the part uses);
    the default is zserver where buildout runs on Python 2, else runner."""
    given = options.get("backend", "").strip()
    used = given or ("zserver" if python2 else "runner")
    if used not in BACKENDS:
        raise ConfigError(
            "backend",
            used,
            "unknown backend %r" % used,
            "Use zserver (<clock-server> blocks, ZServer/Python 2), "
            "runner (bin/%s run, WSGI Zope) or cron (crontab entries "
            "calling bin/%s fire NAME)." % (part, part),
        )
    return given, used


def boolean(options, name, default):
    value = options.get(name)
    if value is None:
        return default
    text = value.strip()
    if text not in BOOLEANS:
        raise ConfigError(name, value, "%r is not a boolean" % text, BOOLEAN_FIX)
    return BOOLEANS[text]


def path_option(options, name, directory):
    """A path option: ``~`` expanded, relative to the buildout directory."""
    text = options.get(name, "").strip()
    if not text:
        return None
    rules.check_path(name, text)
    return os.path.normpath(os.path.join(directory, os.path.expanduser(text)))


def address(options):
    """``address``: checked on every backend (so that switching backend
    finds no surprise); required by runner and cron when there are jobs."""
    text = options.get("address", "").strip()
    return parse_address(text) if text else None


def require_address(backend, given, part):
    """runner and cron call the jobs: they need ``address``."""
    if backend == "zserver":
        return
    if not given:  # a part written when zserver was the default
        raise ConfigError(
            "address",
            None,
            "the default backend is now runner (bin/%s run calls the jobs "
            "of a WSGI Zope), and it needs the address of the Zope instance" % part,
            "Set address = ${client1:http-address} (the instance to call), "
            "or backend = zserver to keep writing <clock-server> blocks for "
            "a ZServer (Python 2) Zope.",
        )
    raise ConfigError(
        "address",
        None,
        "the %s backend needs the address of the Zope instance" % backend,
        "Set address = ${instance:http-address} (PORT, HOST:PORT "
        "or http(s)://HOST:PORT).",
    )


def timeout(options):
    text = options.get("timeout", str(DEFAULT_TIMEOUT)).strip()
    try:
        return joblib.parse_period(text)
    except ValueError:
        raise ConfigError(
            "timeout",
            text,
            "bad timeout %r" % text,
            "Write the seconds a call may take, e.g. timeout = 300 "
            "(units s m h work too: 5m).",
        )


def concurrency(options):
    """``concurrency``: checked on every backend, used by runner."""
    text = options.get("concurrency", str(DEFAULT_CONCURRENCY)).strip()
    if not (_CONCURRENCY.match(text) and int(text) >= 1):
        raise ConfigError(
            "concurrency",
            text,
            "bad concurrency %r" % text,
            "Write the most calls in flight at once, a whole number "
            "from 1 to 999999, e.g. concurrency = 4 (the default).",
        )
    return int(text)
