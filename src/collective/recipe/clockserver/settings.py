"""The part's options -> one Settings value: pure, no buildout; secrets in a second step.

``read(sections, part)`` takes a plain mapping of sections (the part's,
``[buildout]`` with ``directory``, ``bin-directory`` and
``parts-directory``, and the secret sections it names) and returns a
Settings or raises ConfigError.  With ``defer_secrets`` (``bin/buildout
-vv`` prints every section read so far) the credentials, ping URLs and
lock password are only checked to exist; ``read_secrets`` reads them when
installing.  The single options are read in partoptions.py, the
monitoring ones in monitoring.py; runneronly.py refuses on Python 2 what
only bin/<part> uses.  Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

from . import (
    cluster,
    jobtimes,
    monitoring,
    optionnames,
    partoptions,
    runneronly,
    schedule,
)
from . import credentials as creds
from . import jobs as joblib
from . import values as rules
from .address import check_host
from .crontab import block as cronblock
from .crontab import entries as entrylib
from .crontab import store as cronstore
from .crontab.times import validate_times
from .errors import ConfigError
from .partoptions import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT

# bin/<part> runs on Python 3 only; on Python 2 (ZServer sites, zc.buildout
# 2.13) the part writes <clock-server> blocks and plain crontab entries.
PYTHON2 = sys.version_info[0] < 3
ZSERVER_MIN_PERIOD = 30
INCLUDE_FILE = "clock-server.conf"
CONFIG_FILE = "clock.json"
ZSERVER_ON_PYTHON3 = (
    "backend = zserver writes <clock-server> blocks, which only a ZServer "
    "(Python 2) Zope accepts: Zope 2.13, or Zope 4 with wsgi = off. A WSGI "
    "Zope (Zope 5 and later, Plone 6) refuses them and does not start; "
    "there use backend = runner with address = ${client1:http-address}"
)


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
        self.monitored = False  # entries wrapped in bin/<part> exec (enabled or not)
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
    def has_script(self):
        """Whether the part has a bin/<part> (``${part:script}``, DESIGN.md
        Outputs): runner and cron, and zserver whose crontab entries are
        monitored; also with enabled = false, so that what other parts
        say about it stays valid.  Never on Python 2: runneronly.py refuses
        all of these there."""
        return self.backend != "zserver" or self.monitored

    @property
    def needs_script(self):
        """Whether this run writes bin/<part>: it has one and is enabled."""
        return self.enabled and self.has_script

    def outputs(self):
        """The options the recipe sets for other parts to read (DESIGN.md,
        Outputs), as (name, value) pairs; ``script`` only where the part has
        a bin/<part>."""
        pairs = [("location", self.part_dir)]
        if self.has_script:
            pairs.append(("script", self.script))
        pairs.append(("crontab-identifier", self.crontab_identifier))
        if self.crontab_file:
            pairs.append(("crontab-file", self.crontab_file))
        return pairs + [
            ("zope-conf-additional", self.zope_conf_additional),
            ("crontab-entries", "\n".join(self.entries)),
            ("state-directory", self.state_directory),
        ]

    def private_files(self):
        """The mode-0600 files of the part's directory, as (path, text):
        the include file of the blocks, bin/<part>'s config file."""
        found = []
        if self.backend == "zserver" and self.calls and not self.inline:
            found.append((self.include_file, self.blocks))
        if self.needs_script:
            found.append(
                (self.config_file, json.dumps(self.to_json(), indent=2) + "\n")
            )
        return found

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


def read(sections, part, defer_secrets=False, python2=PYTHON2):
    """The options of ``part`` in ``sections`` -> Settings (see the module).

    ``python2``: buildout runs on Python 2, where bin/<part> cannot run
    (the default backend is zserver there, see runneronly.py)."""
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
        runneronly.check_options(options, part)
    given, backend = partoptions.backend(options, part, python2)
    s.backend = backend
    s.warnings.extend(
        optionnames.warning(part, name, guess)
        for name, guess in optionnames.suggestions(options.keys())
    )
    s.enabled = enabled = partoptions.boolean(options, "enabled", True)
    s.inline = partoptions.boolean(options, "inline", False)
    s.timeout = partoptions.timeout(options)
    s.concurrency = partoptions.concurrency(options)
    s.address = partoptions.address(options)
    default_host = options.get("host", "").strip() or None
    if default_host:
        check_host(default_host, "host", default_host)
    # The part's host fills in; times= is checked on every backend
    # (normalised), used by cron.
    parsed = joblib.parse_jobs(options.get("jobs", ""))
    if python2:
        runneronly.check_keys(parsed, part)
    s.jobs = jobs = [
        j.replace(
            host=j.host or default_host,
            times=j.times and validate_times(j.times, "jobs", j.line),
        )
        for j in parsed
    ]
    if jobs and not s.address:
        partoptions.require_address(backend, given, part)
    s.jobs = jobs = jobtimes.calendar(s, options, jobs)
    monitoring.read(s, options, python2)
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
    s.monitored = bool(s.monitor and named)
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
        if s.deferred:
            monitoring.check_pings(s, sections)
        else:
            warnings.extend(monitoring.read_pings(s, sections))
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
        warnings.extend(monitoring.read_pings(s, sections))
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


def _config_times(job, backend):
    """The times bin/<part> evaluates: cron's line, the runner's ``times=``
    (a period and times: the times), none on zserver (it uses the period)."""
    if backend == "cron":
        return schedule.cron_times(job)
    return job.times if backend == "runner" else None
