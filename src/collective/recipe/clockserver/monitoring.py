"""The monitoring options: monitor, catch-up, grace, state-directory, metrics-file, pings.

``read`` checks them into the Settings; the ping URLs are secrets, read by
``read_pings`` with the other secrets.  Pure, Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

import os

from . import jobs as joblib
from . import pings as pinglib
from .errors import ConfigError
from .partoptions import boolean, path_option


def read(s, options, python2=False):
    """``monitor``, ``catch-up``, ``grace``, ``state-directory``,
    ``metrics-file``, ``pings``."""
    part, directory = s.part, s.directory
    # Python 2: nothing runs bin/<part>, so nothing is monitored.
    s.monitor = boolean(options, "monitor", not python2)
    s.catch_up = boolean(options, "catch-up", False)
    if options.get("grace", "").strip():
        s.grace = joblib.grace(options["grace"], "grace")
    state = path_option(options, "state-directory", directory) or os.path.join(
        directory, "var", part
    )
    if os.path.exists(state) and not os.path.isdir(state):
        raise ConfigError(
            "state-directory",
            state,
            "%s exists and is not a directory" % state,
            "Point state-directory at a directory (it is created when missing), "
            "e.g. state-directory = ${buildout:directory}/var/%s." % part,
        )
    s.state_directory = state
    metrics = path_option(options, "metrics-file", directory)
    if metrics is not None:
        if not metrics.endswith(".prom"):
            raise ConfigError(
                "metrics-file",
                options["metrics-file"].strip(),
                "the file name does not end in .prom; node_exporter's textfile "
                "collector reads only *.prom files",
                "Name it e.g. /var/lib/node_exporter/textfile/%s.prom." % part,
            )
        if os.path.isdir(metrics):
            raise ConfigError(
                "metrics-file",
                metrics,
                "%s is a directory" % metrics,
                "Name a file in it, e.g. %s." % os.path.join(metrics, part + ".prom"),
            )
    s.metrics_file = metrics
    s.pings_section = options.get("pings", "").strip() or None


def names(s):
    """The jobs' and the named entries' names: what a ping may be for."""
    return [j.name for j in s.jobs] + [e.name for e in s.named_entries]


def check_pings(s, sections):
    """The ``pings`` section exists (its URLs are read later, as secrets:
    kept out of -vv's dump too)."""
    pinglib.check_defined(sections, s.pings_section, names(s))


def read_pings(s, sections):
    """Read the ping URLs into ``s``; return the warnings."""
    s.pings = pinglib.read(sections, s.pings_section, names(s))
    if s.backend != "zserver":
        return []
    return [
        "pings: ZServer calls %s itself; nothing records or pings it" % name
        for name in sorted(s.pings)
        if name not in s.watched
    ]
