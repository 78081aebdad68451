"""What only bin/<part> uses, refused where buildout runs on Python 2 (bin/<part> needs Python 3).

On Python 2 (ZServer sites, zc.buildout 2.13) the part writes
``<clock-server>`` blocks and plain crontab entries: an option of
RUNNER_ONLY set to other than its default, or a job key of
RUNNER_ONLY_KEYS, is a ConfigError that says so.  Pure, Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

from . import jobs as joblib
from .errors import ConfigError
from .lockurl import mask
from .partoptions import DEFAULT_TIMEOUT


def _default_timeout(text):
    try:
        return joblib.parse_period(text) == DEFAULT_TIMEOUT
    except ValueError:
        return False


# The options only bin/<part> (Python 3) uses, each with the test of its
# default value (None: any value is a setting).  On Python 2 anything else
# is refused (check_options).  An unknown backend or a bad boolean is
# left to the option's own check.
RUNNER_ONLY = (
    ("backend", lambda text: text not in ("runner", "cron")),
    ("monitor", lambda text: text != "true"),
    ("lock", None),
    ("pings", None),
    ("metrics-file", None),
    ("timezone", None),
    ("spread", lambda text: text == "0"),
    ("retries", lambda text: text == "0"),
    ("timeout", _default_timeout),
    ("grace", None),
    ("catch-up", lambda text: text != "true"),
)
# The job keys only bin/<part> uses: (key, the model.Job attribute, the
# values that mean "not given").
RUNNER_ONLY_KEYS = (
    ("times", "times", (None,)),
    ("grace", "grace", (None,)),
    ("catch-up", "catch_up", (None, False)),
    ("timeout", "timeout", (None,)),
    ("retries", "retries", (None, 0)),
    ("timezone", "timezone", (None,)),
    ("spread", "spread", (None, 0)),
)
PYTHON3_FIX = (
    "This buildout runs on Python 2 (a ZServer site): there the part writes "
    "<clock-server> blocks (backend = zserver, the default) and plain "
    "crontab entries. Leave %s out, or run buildout on Python 3.10+, where "
    "bin/%s runs."
)


def check_options(options, part):
    """Python 2: refuse every option of RUNNER_ONLY set to other than its
    default, saying it needs Python 3."""
    for option, is_default in RUNNER_ONLY:
        text = options.get(option, "").strip()
        if not text or (is_default and is_default(text)):
            continue
        shown = text if option != "lock" else mask(text)
        setting = (
            "%s = %s" % (option, shown)
            if option in ("backend", "monitor", "catch-up")
            else option
        )
        raise ConfigError(
            option,
            shown,
            "%s needs Python 3: only bin/%s uses it, and "
            "bin/%s runs on Python 3.10+" % (setting, part, part),
            PYTHON3_FIX % (option, part),
        )


def check_keys(jobs, part):
    """Python 2: refuse the job keys of RUNNER_ONLY_KEYS."""
    for job in jobs:
        for key, attribute, unset in RUNNER_ONLY_KEYS:
            if getattr(job, attribute, None) in unset:
                continue
            raise ConfigError(
                "jobs",
                job.line,
                "%s= needs Python 3: only bin/%s uses it, "
                "and bin/%s runs on Python 3.10+" % (key, part, part),
                PYTHON3_FIX % ("%s=" % key, part)
                + " ZServer calls a job every PERIOD seconds.",
            )
