"""The buildout layer: options in, files and crontab entries out."""

import dataclasses
import json
import logging
import os
import sys

import zc.buildout
import zc.buildout.easy_install
from zc.buildout.buildout import bool_option

from . import cluster
from . import credentials as creds
from .address import parse_address
from .crontab import block as cronblock, entries as cronentries, store as cronstore
from .crontab.times import validate_times
from . import jobs as joblib
from . import schedule
from . import settings as monitoring
from .errors import ConfigError

BACKENDS = ("zserver", "runner", "cron")
ZSERVER_MIN_PERIOD = 30
INCLUDE_FILE = "clock-server.conf"
RUNNER_CONFIG = "clock.json"
DEFAULT_TIMEOUT = 300
DEFAULT_CONCURRENCY = 4


def _bool(options, name, default):
    try:
        return bool_option(options, name, default)
    except zc.buildout.UserError:
        raise ConfigError(
            name, options[name], "not a boolean", "Write true or false."
        ) from None


@dataclasses.dataclass
class Settings:
    """Everything the part means, read and checked in ``__init__``."""

    backend: str
    enabled: bool
    calls: list  # [(Job, Credentials)]
    inline: bool
    address: str | None
    timeout: int
    entries: list  # crontab lines
    crontab_file: str | None
    warnings: list
    concurrency: int = DEFAULT_CONCURRENCY
    lock: cluster.LockSettings | None = None  # lock, lock-credentials
    # Run records (settings.py): Monitoring, the named entries, ping URLs.
    monitoring: object = None  # settings.Monitoring
    named_entries: list = dataclasses.field(default_factory=list)
    pings: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def watched(self):
        """The names bin/<part> records: jobs (not on zserver) and entries."""
        jobs = [] if self.backend == "zserver" else [j.name for j, _ in self.calls]
        return jobs + [e.name for e in self.named_entries]

    @property
    def needs_script(self):
        """runner/cron, and zserver whose crontab entries are monitored."""
        return self.enabled and (self.backend != "zserver" or bool(
            self.monitoring.monitor and self.named_entries))


class Recipe:
    """Periodic Zope jobs: ``<clock-server>`` blocks, bin/<part> or cron."""

    def __init__(self, buildout, name, options):
        self.buildout, self.name, self.options = buildout, name, options
        self._credentials_later = None
        self._lock_later = False
        self._pings_later = None
        b = buildout["buildout"]
        self.part_dir = os.path.join(b["parts-directory"], name)
        options["location"] = self.part_dir
        options["script"] = os.path.join(b["bin-directory"], name)
        options["crontab-identifier"] = cronblock.identifier(b["directory"], name)
        options.setdefault("zeopack-command", cronentries.command_path(
            os.path.join(b["bin-directory"], "zeopack")))
        try:
            self.settings = s = self._read()
            options["zope-conf-additional"] = self._zope_conf_additional()
        except ConfigError as e:
            raise zc.buildout.UserError(e.message(name)) from None
        options["crontab-entries"] = "\n".join(s.entries)
        options["state-directory"] = s.monitoring.state_directory
        log = logging.getLogger(name)
        for warning in s.warnings:
            log.warning("Warning: %s", warning)

    def _zope_conf_additional(self):
        """The blocks, the ``%include`` line or nothing; checked with ZConfig."""
        s = self.settings
        self.blocks = ""
        if not (s.enabled and s.backend == "zserver" and s.calls):
            return ""
        from . import zopeconf  # ZConfig: only the zserver backend needs it

        self.blocks = zopeconf.render(s.calls)
        problem = zopeconf.check(self.blocks, s.calls)
        if problem:
            raise ConfigError("jobs", None, problem)
        if not s.inline:
            return "%%include %s" % zopeconf.escape(self.include_file)
        if any(not c.anonymous for _, c in s.calls):
            s.warnings.append(
                "inline = true puts the password into zope.conf and "
                ".installed.cfg; leave inline out to keep it in a mode 0600 "
                "file")
        return self.blocks

    @property
    def include_file(self):
        return os.path.join(self.part_dir, INCLUDE_FILE)

    @property
    def runner_config(self):
        return os.path.join(self.part_dir, RUNNER_CONFIG)

    # -- reading the options -------------------------------------------------

    def _read(self):
        options = self.options
        backend = options.get("backend", "zserver").strip()
        if backend not in BACKENDS:
            raise ConfigError(
                "backend", backend, "unknown backend %r" % backend,
                "Use zserver (<clock-server> blocks, ZServer/Python 2), "
                "runner (bin/%s run, WSGI Zope) or cron (crontab entries "
                "calling bin/%s fire NAME)." % (self.name, self.name),
            )
        enabled = _bool(options, "enabled", True)
        inline = _bool(options, "inline", False)
        timeout = self._timeout()
        concurrency = self._concurrency()
        address = self._address(backend)
        default_host = options.get("host", "").strip() or None
        if default_host:
            joblib.check_host(default_host, "host", default_host)
        # The part's host fills in; times= is checked on every backend
        # (normalised), used by cron.
        jobs = [
            dataclasses.replace(
                j, host=j.host or default_host,
                times=j.times and validate_times(
                    j.times, "jobs", j.line))
            for j in joblib.parse_jobs(options.get("jobs", ""))
        ]
        watch = monitoring.read(options, self.name,
                                self.buildout["buildout"]["directory"], jobs)
        warnings = []
        if enabled and backend == "zserver":
            warnings.extend(
                "job %s runs every %d s; ZServer's clock checks only every "
                "30 s, so periods under 30 s make little sense"
                % (j.name, j.period)
                for j in jobs if j.period < ZSERVER_MIN_PERIOD)
        calls = []
        part_credentials = options.get("credentials", "").strip() or None
        # bin/buildout -vv prints every section read so far: then the
        # secret sections are read when installing (see install).
        later = enabled and dumps_configuration() and not inline
        if later:
            # bin/buildout -vv prints every section read so far: read the
            # credentials when installing (their sections must exist now).
            for section, option, line in self._credential_sections(
                    jobs, part_credentials):
                creds.check_defined(self.buildout, section, option, line)
            self._credentials_later = (jobs, part_credentials, backend)
            calls = [(job, creds.ANONYMOUS) for job in jobs]  # until then
        elif enabled:
            calls = self._credentials(jobs, part_credentials, backend,
                                      warnings)
        entries, named = self._entries(jobs, backend, watch.monitor)  # checked even when disabled
        if not enabled:
            entries, named = [], []
        # A host with enabled = false needs no lock-credentials section, but
        # its lock URL is checked all the same.
        lock = cluster.read(self.buildout, self.name, options, warnings,
                            credentials=enabled and not later)
        self._lock_later = bool(later and lock)
        if not enabled:
            lock = None
        if lock and backend == "zserver" and not entries:
            warnings.append(
                "lock has no effect here: ZServer calls the jobs itself and "
                "the part has no crontab entries to claim")
        crontab_file = options.get("crontab-file", "").strip() or None
        if crontab_file:
            written = crontab_file
            crontab_file = options["crontab-file"] = cronstore.expand_path(
                written, self.buildout["buildout"]["directory"])
            cronstore.check_file(crontab_file, written)
        found = Settings(backend, enabled, calls, inline, address, timeout,
                         entries, crontab_file, warnings, concurrency, lock,
                         monitoring=watch, named_entries=named)
        if enabled and watch.pings_section:
            names = [j.name for j in jobs] + [e.name for e in named]
            if later:  # the URLs are secrets: kept out of -vv's dump too
                monitoring.check_pings_defined(
                    self.buildout, watch.pings_section, names)
                self._pings_later = (watch.pings_section, names)
            else:
                warnings.extend(
                    self._read_pings(found, watch.pings_section, names))
        return found

    def _read_pings(self, settings, section, names):
        """Read the ping URLs into ``settings``; return the warnings."""
        settings.pings = monitoring.read_pings(self.buildout, section, names)
        if settings.backend != "zserver":
            return []
        return ["pings: ZServer calls %s itself; nothing records or pings it"
                % name for name in sorted(settings.pings)
                if name not in settings.watched]

    def _address(self, backend):
        """``address``: checked on every backend (so that switching backend
        finds no surprise), required by runner and cron."""
        text = self.options.get("address", "").strip()
        if text:
            return parse_address(text)
        if backend != "zserver":
            raise ConfigError(
                "address", None,
                "the %s backend needs the address of the Zope instance"
                % backend,
                "Set address = ${instance:http-address} (PORT, HOST:PORT "
                "or http(s)://HOST:PORT).",
            )
        return None

    def _timeout(self):
        text = self.options.get("timeout", str(DEFAULT_TIMEOUT)).strip()
        try:
            return joblib.parse_period(text)
        except ValueError:
            raise ConfigError(
                "timeout", text, "bad timeout %r" % text,
                "Write the seconds a call may take, e.g. timeout = 300 "
                "(units s m h work too: 5m).",
            ) from None

    def _concurrency(self):
        """``concurrency``: checked on every backend, used by runner."""
        text = self.options.get("concurrency", str(DEFAULT_CONCURRENCY)).strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 6
                and int(text) >= 1):
            raise ConfigError(
                "concurrency", text, "bad concurrency %r" % text,
                "Write the most calls in flight at once, a whole number "
                "from 1 to 999999, e.g. concurrency = 4 (the default).",
            )
        return int(text)

    @staticmethod
    def _credential_sections(jobs, part_section):
        """(section, option, line) of every credentials section named."""
        if part_section:
            yield part_section, "credentials", part_section
        for job in jobs:
            if job.credentials:
                yield job.credentials, "jobs", job.line

    def _read_credentials_now(self):
        """Read the credentials that ``bin/buildout -vv`` made us put off."""
        later, self._credentials_later = self._credentials_later, None
        if later is None:
            return
        warnings = []
        try:
            self.settings.calls = self._credentials(*later, warnings)
            self._zope_conf_additional()  # the blocks, now with credentials
            if self._pings_later:
                warnings.extend(
                    self._read_pings(self.settings, *self._pings_later))
            if self._lock_later:
                self.settings.lock = cluster.read(
                    self.buildout, self.name, self.options, warnings)
        except ConfigError as e:
            raise zc.buildout.UserError(e.message(self.name)) from None
        for warning in warnings:
            logging.getLogger(self.name).warning("Warning: %s", warning)

    def _credentials(self, jobs, part_section, backend, warnings):
        """Pair each job with its credentials; collect hygiene warnings."""
        cache = {}
        if part_section:  # read even when every job has its own
            cache[part_section] = creds.read(
                self.buildout, part_section, "credentials", part_section)
        calls = []
        for job in jobs:
            if job.credentials:
                section, option, line = job.credentials, "jobs", job.line
            else:
                section, option, line = part_section, "credentials", \
                    part_section
            if section is None:
                found = creds.ANONYMOUS
            elif section in cache:
                found = cache[section]
            else:
                found = cache[section] = creds.read(
                    self.buildout, section, option, line)
            if backend == "zserver":
                creds.check_zserver_length(found, option, line)
            calls.append((job, found))
        sources = {path for c in cache.values()
                   for path in (c.sources or [c.source]) if path}
        for source in sorted(sources):
            warnings.extend(creds.hygiene_warnings(source))
        return calls

    def _entries(self, jobs, backend, monitor):
        """The crontab lines of this part (no secrets in them), and the
        named entries that ``monitor`` wraps in ``bin/<part> exec``."""
        options = self.options
        entries = []
        script = cronentries.command_path(options["script"])
        for job in jobs:
            if job.times:
                _check_matches(job.times, "jobs", job.line)
            if backend == "cron":
                times = schedule.cron_times(job)
                entries.append("%s %s fire --scheduled %s" % (times, script, job.name))
        zeopack = options.get("zeopack", "").strip()
        zeopack_line = None
        if zeopack:
            zeopack_line = cronentries.entry(
                zeopack, options["zeopack-command"].strip(), "zeopack")
            _check_matches(monitoring.split_entry(zeopack_line)[0], "zeopack", zeopack)
        lines = cronentries.parse_entries(options.get("crontab", ""))
        named = monitoring.name_entries(lines, [j.name for j in jobs], zeopack_line)
        for entry, line in zip(named[1:] if zeopack_line else named, lines):
            _check_matches(entry.times, "crontab", line)
        if monitor:
            entries.extend(monitoring.monitored_line(e, script) for e in named)
        else:
            entries.extend(([zeopack_line] if zeopack_line else []) + lines)
        return entries, named

    # -- installing -----------------------------------------------------------

    def install(self, updating=False):
        try:
            self._read_credentials_now()
            return self._install()
        except Exception as e:
            self._purge_after_failure(e, updating)
            raise

    def update(self):
        return self.install(updating=True)

    def _purge_after_failure(self, error, updating):
        """Buildout removes bin/<part> after a failed install or update and
        forgets the part: take every line of our block(s) out of the
        crontab, so none keeps calling it. Says so in the error."""
        s = self.settings
        if not s.entries:
            return
        ident = self.options["crontab-identifier"]
        try:
            purged = cronstore.purge_from_crontab(ident, s.crontab_file)
        except cronblock.CrontabError as e:
            if not updating:  # nothing of ours was there to clean
                return
            note = (
                "\nThe crontab could not be cleaned either (%s). If it holds "
                "the block %r, remove it by hand: its lines call %s, which "
                "buildout removes after this error." % (
                    e, cronblock.PREPEND % ident, self.options["script"]))
        else:
            if not purged:
                return
            note = ("\nThe block %r was taken out of the crontab, so that "
                    "nothing calls files that buildout removes after this "
                    "error; the next successful run puts it back."
                    % (cronblock.PREPEND % ident))
        if type(error) is zc.buildout.UserError and error.args:
            # Ours: one message. (Subclasses such as MissingSection format
            # their arguments themselves: the note is logged instead.)
            error.args = (str(error) + note,)
        else:
            logging.getLogger(self.name).error(note.strip())

    def _install(self):
        s = self.settings
        created = []
        try:
            if s.needs_script:
                self._state_directory()
            if s.enabled and (s.calls or s.needs_script):
                # Registered at once, so buildout removes them again if the
                # crontab step below fails: no password file is left behind.
                created = self.options.created(*self._write_files())
            if s.entries:
                if s.crontab_file:
                    make_directory(os.path.dirname(s.crontab_file))
                cronstore.update_crontab(
                    self.options["crontab-identifier"], s.entries,
                    s.crontab_file)
        except cronblock.CrontabError as e:
            raise zc.buildout.UserError(
                "[%s] crontab: %s" % (self.name, e)) from None
        return list(created)

    def _state_directory(self):
        """Create the state directory and note when each name was first
        seen; it is not registered, so records outlive the part."""
        from .runner.records import Records

        s = self.settings
        records = Records(s.monitoring.state_directory)
        try:
            records.make()
            records.seen(s.watched)
        except OSError as e:
            raise zc.buildout.UserError(
                "[%s] state-directory: cannot create %s: %s\n    Point "
                "state-directory at a directory this user may write."
                % (self.name, s.monitoring.state_directory,
                   e.strerror or e)) from None
        metrics = s.monitoring.metrics_file
        if metrics and not os.path.isdir(os.path.dirname(metrics)):
            try:
                os.makedirs(os.path.dirname(metrics))
            except OSError as e:
                raise zc.buildout.UserError(
                    "[%s] metrics-file: cannot create the directory of %s: %s"
                    % (self.name, metrics, e.strerror or e)) from None

    def _write_files(self):
        s = self.settings
        if not os.path.isdir(self.part_dir):
            os.makedirs(self.part_dir)
        os.chmod(self.part_dir, 0o700)
        if s.backend == "zserver":
            if s.calls and not s.inline:
                write_private(self.include_file, self.blocks)
            if not s.needs_script:
                return [self.part_dir]
        write_private(self.runner_config, json.dumps(
            runner_config(self.name, s), indent=2) + "\n")
        return [self.part_dir] + self._script()

    def _script(self):
        """bin/<part>, generated with zc.recipe.egg's machinery."""
        import zc.recipe.egg

        egg = zc.recipe.egg.Eggs(
            self.buildout, self.name, {"eggs": script_eggs(self.settings)})
        _, working_set = egg.working_set()
        return zc.buildout.easy_install.scripts(
            [(self.name, "collective.recipe.clockserver.runner", "main")],
            working_set,
            sys.executable,
            self.buildout["buildout"]["bin-directory"],
            arguments=repr(self.runner_config),
        )


def script_eggs(settings):
    """bin/<part>'s working set: the package, with the extra that brings
    the lock service's client library when ``lock`` names one."""
    if settings.lock:
        return "collective.recipe.clockserver[%s]" % settings.lock.extra
    return "collective.recipe.clockserver"


def runner_config(part, settings):
    """What bin/<part> reads: address, timeout and the resolved jobs."""
    config = {
        "part": part,
        "address": settings.address,
        "timeout": settings.timeout,
        "concurrency": settings.concurrency,
        "jobs": [
            {
                "name": job.name,
                "method": job.method,
                "period": job.period,
                "host": job.host,
                "user": None if c.anonymous else c.user,
                "password": None if c.anonymous else c.password,
            }
            for job, c in settings.calls
        ],
    }
    for entry, (job, _) in zip(config["jobs"], settings.calls):
        entry.update(job_monitoring(settings, job))
    config.update(monitoring_config(settings))
    if settings.lock:  # with its password: the file is mode 0600
        config["lock"] = settings.lock.config()
    return config


def monitoring_config(settings):
    """The run-record keys of the runner's config (see runner/config.py)."""
    watch = settings.monitoring
    return {
        "backend": settings.backend,
        "state-directory": watch.state_directory,
        "metrics-file": watch.metrics_file,
        "grace": watch.grace,
        "catch-up": watch.catch_up,
        "entries": [{"name": e.name, "times": e.times}
                    for e in settings.named_entries] if watch.monitor else [],
        "pings": settings.pings,
    }


def job_monitoring(settings, job):
    """Per job: the cron schedule that fires it, grace= and catch-up=."""
    watch = settings.monitoring
    found = {}
    if settings.backend == "cron":
        found["times"] = schedule.cron_times(job)
    if job.name in watch.job_grace:
        found["grace"] = watch.job_grace[job.name]
    if job.name in watch.job_catch_up:
        found["catch-up"] = watch.job_catch_up[job.name]
    return found


def _check_matches(times, option, line):
    """Refuse a cron schedule that never comes (``0 0 31 2 *``)."""
    from .runner.crontimes import problem

    found = problem(times)
    if found:
        raise ConfigError(
            option, line, "the schedule %r %s" % (times, found),
            "Cron would never run it: check the day-of-month against the months "
            "(February has at most 29 days; April, June, September and November 30).")


def dumps_configuration():
    """Whether bin/buildout will print every section read ("Configuration
    data:", at -vv): buildout sets the root logger below DEBUG then."""
    return logging.getLogger().getEffectiveLevel() < logging.DEBUG


def make_directory(path):
    """The directory of ``crontab-file``, created when missing."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise cronblock.CrontabError(
            "cannot create the directory of crontab-file: %s; set crontab-file "
            "to a path in a directory that exists or can be created" % e
        ) from None


def write_private(path, text):
    """Write ``text`` to ``path`` readable by the owner only (mode 0600)."""
    tmp = "%s.tmp%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def uninstall(name, options):
    """Remove this part's crontab block; buildout removes its files."""
    if not options.get("crontab-entries", "").strip():
        return
    path = options.get("crontab-file", "").strip() or None
    ident = options["crontab-identifier"]
    try:
        found = cronstore.remove_from_crontab(ident, path)
    except cronblock.CrontabError as e:
        raise zc.buildout.UserError("[%s] crontab: %s" % (name, e)) from None
    if not found:
        logging.getLogger(name).warning(
            "Warning: the crontab block of %s was already gone", ident)
