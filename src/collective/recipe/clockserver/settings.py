"""The part's options -> one Settings value: pure, no buildout; secrets in a second step.

``read(sections, part)`` takes a plain mapping of sections (the part's,
``[buildout]`` with ``directory``, ``bin-directory`` and
``parts-directory``, and the secret sections it names) and returns a
Settings or raises ConfigError.  With ``defer_secrets`` (``bin/buildout
-vv`` prints every section read so far) the credentials, ping URLs and
lock password are only checked to exist; ``read_secrets`` reads them when
installing.  Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import sys

from . import cluster, jobtimes, optionnames, schedule
from . import credentials as creds
from . import jobs as joblib
from . import pings as pinglib
from . import values as rules
from .address import check_host, parse_address
from .crontab import block as cronblock
from .crontab import entries as entrylib
from .crontab import store as cronstore
from .crontab.times import validate_times
from .errors import ConfigError
from .lockurl import mask

BACKENDS = ("zserver", "runner", "cron")
# bin/<part> runs on Python 3 only; on Python 2 (ZServer sites, zc.buildout
# 2.13) the part writes <clock-server> blocks and plain crontab entries.
PYTHON2 = sys.version_info[0] < 3
ZSERVER_MIN_PERIOD = 30
INCLUDE_FILE = "clock-server.conf"
CONFIG_FILE = "clock.json"
DEFAULT_TIMEOUT = 300
DEFAULT_CONCURRENCY = 4
BOOLEANS = {"true": True, "false": False}
BOOLEAN_FIX = "Write true or false."
_CONCURRENCY = re.compile(r"[0-9]{1,6}\Z")


class Settings(object):
    """Everything the part means, read and checked; see ``read``."""

    def __init__(self, part, directory, bin_directory, parts_directory):
        self.part = part
        self.directory = directory  # the buildout directory
        self.part_dir = os.path.join(parts_directory, part)
        self.script = os.path.join(bin_directory, part)  # bin/<part>
        self.zeopack_command = entrylib.command_path(
            os.path.join(bin_directory, "zeopack")
        )
        self.crontab_identifier = cronblock.identifier(directory, part)
        self.backend = "zserver"
        self.enabled = True
        self.inline = False
        self.address = None  # scheme://host:port
        self.timeout = DEFAULT_TIMEOUT
        self.concurrency = DEFAULT_CONCURRENCY
        self.retries = 0  # the part's retries (jobs may say retries=)
        self.jobs = []  # model.Job, the part's host filled in
        self.part_credentials = None  # the section named by ``credentials``
        self.calls = []  # [(Job, Credentials)]: anonymous until read
        self.entries = []  # the crontab lines (no secrets in them)
        self.named_entries = []  # model.Entry: zeopack and crontab
        self.crontab_file = None
        self.lock = None  # model.Lock
        self.monitor = True
        self.state_directory = None
        self.grace = None  # the part's, in seconds
        self.catch_up = False
        self.metrics_file = None
        self.pings_section = None
        self.pings = {}  # name -> URL (secret)
        self.blocks = ""  # the <clock-server> blocks (zserver)
        self.zope_conf_additional = ""
        self.deferred = False  # secrets still to read (read_secrets)
        self.lock_deferred = False
        self.warnings = []

    def __repr__(self):  # never the secrets
        return "Settings(part=%r, backend=%r, jobs=%r)" % (
            self.part,
            self.backend,
            self.jobs,
        )

    @property
    def include_file(self):
        return os.path.join(self.part_dir, INCLUDE_FILE)

    @property
    def config_file(self):
        """bin/<part>'s config file (mode 0600)."""
        return os.path.join(self.part_dir, CONFIG_FILE)

    @property
    def watched(self):
        """The names bin/<part> records: jobs (not on zserver) and entries."""
        jobs = [] if self.backend == "zserver" else [j.name for j, _ in self.calls]
        return jobs + [e.name for e in self.named_entries]

    @property
    def needs_script(self):
        """runner/cron, and zserver whose crontab entries are monitored."""
        return self.enabled and (
            self.backend != "zserver" or bool(self.monitor and self.named_entries)
        )

    def to_json(self):
        """What bin/<part> reads (runner/config.py): address, timeout, the
        resolved jobs, run records, pings and the lock."""
        jobs = []
        for job, c in self.calls:
            jobs.append(
                job.replace(
                    times=_config_times(job, self.backend),
                    user=None if c.anonymous else c.user,
                    password=None if c.anonymous else c.password,
                ).to_json()
            )
        config = {
            "part": self.part,
            "address": self.address,
            "timeout": self.timeout,
            "concurrency": self.concurrency,
            "retries": self.retries,
            "jobs": jobs,
            "backend": self.backend,
            "state-directory": self.state_directory,
            "metrics-file": self.metrics_file,
            "grace": self.grace,
            "catch-up": self.catch_up,
            "entries": [{"name": e.name, "times": e.times} for e in self.named_entries]
            if self.monitor
            else [],
            "pings": self.pings,
        }
        if self.lock:  # with its password: the file is mode 0600
            config["lock"] = self.lock.to_json()
        return config


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


def read(sections, part, defer_secrets=False, python2=PYTHON2):
    """The options of ``part`` in ``sections`` -> Settings (see the module).

    ``python2``: buildout runs on Python 2, where bin/<part> cannot run
    (the default backend is zserver there, see RUNNER_ONLY)."""
    options = sections[part]
    if rules.has_control(part):  # bin/<part> refuses it in its config file
        raise ConfigError(
            "[%s]" % rules.shown(part),
            None,
            "the part's name holds a control character",
            "Rename the part.",
        )
    b = sections["buildout"]
    s = Settings(part, b["directory"], b["bin-directory"], b["parts-directory"])
    s.zeopack_command = options.get("zeopack-command", s.zeopack_command)
    rules.check_path("zeopack-command", s.zeopack_command)
    if python2:
        check_runner_only(options, part)
    given = options.get("backend", "").strip()
    s.backend = backend = given or ("zserver" if python2 else "runner")
    if backend not in BACKENDS:
        raise ConfigError(
            "backend",
            backend,
            "unknown backend %r" % backend,
            "Use zserver (<clock-server> blocks, ZServer/Python 2), "
            "runner (bin/%s run, WSGI Zope) or cron (crontab entries "
            "calling bin/%s fire NAME)." % (part, part),
        )
    s.warnings.extend(
        optionnames.warning(part, name, guess)
        for name, guess in optionnames.suggestions(options.keys())
    )
    s.enabled = enabled = boolean(options, "enabled", True)
    s.inline = boolean(options, "inline", False)
    s.timeout = _timeout(options)
    s.concurrency = _concurrency(options)
    s.address = _address(options)
    default_host = options.get("host", "").strip() or None
    if default_host:
        check_host(default_host, "host", default_host)
    # The part's host fills in; times= is checked on every backend
    # (normalised), used by cron.
    parsed = joblib.parse_jobs(options.get("jobs", ""))
    if python2:
        check_runner_only_keys(parsed, part)
    s.jobs = jobs = [
        j.replace(
            host=j.host or default_host,
            times=j.times and validate_times(j.times, "jobs", j.line),
        )
        for j in parsed
    ]
    if jobs and not s.address:
        _require_address(backend, given, part)
    s.jobs = jobs = jobtimes.calendar(s, options, jobs)
    _monitoring(s, options, python2)
    warnings = s.warnings
    if enabled and jobs and given == "zserver" and not python2:
        warnings.append(ZSERVER_ON_PYTHON3)
    if enabled and backend == "zserver":
        warnings.extend(
            "job %s runs every %d s; ZServer's clock checks only every "
            "30 s, so periods under 30 s make little sense" % (j.name, j.period)
            for j in jobs
            if j.period and j.period < ZSERVER_MIN_PERIOD
        )
    s.part_credentials = options.get("credentials", "").strip() or None
    s.deferred = enabled and defer_secrets and not s.inline
    if s.deferred:  # the sections must exist now
        for section, option, line in creds.sections_named(jobs, s.part_credentials):
            creds.check_defined(sections, section, option, line)
        s.calls = [(job, creds.ANONYMOUS) for job in jobs]  # until then
    elif enabled:
        s.calls = creds.pair(sections, jobs, s.part_credentials, backend, warnings)
    # Checked even when disabled.
    lines, named = entrylib.read(
        options, jobs, backend, s.monitor, s.script, s.zeopack_command
    )
    if enabled:
        s.entries, s.named_entries = lines, named
    # A host with enabled = false needs no lock-credentials section, but
    # its lock URL is checked all the same.
    lock = cluster.read(
        sections, part, options, warnings, credentials=enabled and not s.deferred
    )
    s.lock_deferred = bool(s.deferred and lock)
    s.lock = lock if enabled else None
    if s.lock and backend == "zserver" and not s.entries:
        warnings.append(
            "lock has no effect here: ZServer calls the jobs itself and "
            "the part has no crontab entries to claim"
        )
    written = options.get("crontab-file", "").strip()
    if written:
        rules.check_path("crontab-file", written)
        s.crontab_file = cronstore.expand_path(written, s.directory)
        cronstore.check_file(s.crontab_file, written)
    if enabled and s.pings_section:
        if s.deferred:  # the URLs are secrets: kept out of -vv's dump too
            pinglib.check_defined(sections, s.pings_section, _names(s))
        else:
            warnings.extend(_read_pings(s, sections))
    s.zope_conf_additional = zope_conf(s)
    return s


def read_secrets(s, sections):
    """Read what ``defer_secrets`` put off into ``s``; return the warnings."""
    if not s.deferred:
        return []
    s.deferred = False
    warnings = []
    s.calls = creds.pair(sections, s.jobs, s.part_credentials, s.backend, warnings)
    zope_conf(s)  # the blocks, now with credentials
    if s.pings_section:
        warnings.extend(_read_pings(s, sections))
    if s.lock_deferred:
        s.lock = cluster.read(sections, s.part, sections[s.part], warnings)
    return warnings


def zope_conf(s):
    """Set ``s.blocks``; return zope-conf-additional: the blocks, the
    ``%include`` line or nothing.  Checked with ZConfig."""
    s.blocks = ""
    if not (s.enabled and s.backend == "zserver" and s.calls):
        return ""
    from . import zopeconf  # ZConfig: only the zserver backend needs it

    s.blocks = zopeconf.render(s.calls)
    problem = zopeconf.check(s.blocks, s.calls)
    if problem:
        raise ConfigError("jobs", None, problem)
    if not s.inline:
        return "%%include %s" % zopeconf.escape(s.include_file)
    if any(not c.anonymous for _, c in s.calls):
        s.warnings.append(
            "inline = true puts the password into zope.conf and "
            ".installed.cfg; leave inline out to keep it in a mode 0600 "
            "file"
        )
    return s.blocks


# -- Python 2: what only bin/<part> uses --------------------------------------------


def _default_timeout(text):
    try:
        return joblib.parse_period(text) == DEFAULT_TIMEOUT
    except ValueError:
        return False


# The options only bin/<part> (Python 3) uses, each with the test of its
# default value (None: any value is a setting).  On Python 2 anything else
# is refused (check_runner_only).  An unknown backend or a bad boolean is
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
ZSERVER_ON_PYTHON3 = (
    "backend = zserver writes <clock-server> blocks, which only a ZServer "
    "(Python 2) Zope accepts: Zope 2.13, or Zope 4 with wsgi = off. A WSGI "
    "Zope (Zope 5 and later, Plone 6) refuses them and does not start; "
    "there use backend = runner with address = ${client1:http-address}"
)


def check_runner_only(options, part):
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


def check_runner_only_keys(jobs, part):
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


# -- single options ---------------------------------------------------------------


def _config_times(job, backend):
    """The times bin/<part> evaluates: cron's line, the runner's ``times=``
    (a period and times: the times), none on zserver (it uses the period)."""
    if backend == "cron":
        return schedule.cron_times(job)
    return job.times if backend == "runner" else None


def _address(options):
    """``address``: checked on every backend (so that switching backend
    finds no surprise); required by runner and cron when there are jobs."""
    text = options.get("address", "").strip()
    return parse_address(text) if text else None


def _require_address(backend, given, part):
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


def _timeout(options):
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


def _concurrency(options):
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


def _monitoring(s, options, python2=False):
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


# -- secrets -------------------------------------------------------------------------


def _names(s):
    return [j.name for j in s.jobs] + [e.name for e in s.named_entries]


def _read_pings(s, sections):
    """Read the ping URLs into ``s``; return the warnings."""
    s.pings = pinglib.read(sections, s.pings_section, _names(s))
    if s.backend != "zserver":
        return []
    return [
        "pings: ZServer calls %s itself; nothing records or pings it" % name
        for name in sorted(s.pings)
        if name not in s.watched
    ]
