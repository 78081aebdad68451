"""The buildout layer: options in, files and crontab entries out."""

import dataclasses
import json
import logging
import os
import sys

import zc.buildout
import zc.buildout.easy_install
from zc.buildout.buildout import bool_option

from . import credentials as creds
from .address import parse_address
from . import crontab
from . import jobs as joblib
from . import schedule
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


class Recipe:
    """Periodic Zope jobs: ``<clock-server>`` blocks, bin/<part> or cron."""

    def __init__(self, buildout, name, options):
        self.buildout, self.name, self.options = buildout, name, options
        b = buildout["buildout"]
        self.part_dir = os.path.join(b["parts-directory"], name)
        options["location"] = self.part_dir
        options["script"] = os.path.join(b["bin-directory"], name)
        options["crontab-identifier"] = crontab.identifier(b["directory"], name)
        options.setdefault("zeopack-command", crontab.command_path(
            os.path.join(b["bin-directory"], "zeopack")))
        try:
            self.settings = s = self._read()
            options["zope-conf-additional"] = self._zope_conf_additional()
        except ConfigError as e:
            raise zc.buildout.UserError(e.message(name)) from None
        options["crontab-entries"] = "\n".join(s.entries)
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
                times=j.times and crontab.validate_times(
                    j.times, "jobs", j.line))
            for j in joblib.parse_jobs(options.get("jobs", ""))
        ]
        warnings = []
        if enabled and backend == "zserver":
            warnings.extend(
                "job %s runs every %d s; ZServer's clock checks only every "
                "30 s, so periods under 30 s make little sense"
                % (j.name, j.period)
                for j in jobs if j.period < ZSERVER_MIN_PERIOD)
        calls = []
        part_credentials = options.get("credentials", "").strip() or None
        if enabled:
            calls = self._credentials(jobs, part_credentials, backend,
                                      warnings)
        entries = self._entries(jobs, backend)  # checked even when disabled
        if not enabled:
            entries = []
        crontab_file = options.get("crontab-file", "").strip() or None
        if crontab_file:
            written = crontab_file
            crontab_file = options["crontab-file"] = crontab.expand_path(
                written, self.buildout["buildout"]["directory"])
            crontab.check_file(crontab_file, written)
        return Settings(backend, enabled, calls, inline, address, timeout,
                        entries, crontab_file, warnings, concurrency)

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
        sources = {c.source for c in cache.values() if c.source}
        for source in sorted(sources):
            warnings.extend(creds.hygiene_warnings(source))
        return calls

    def _entries(self, jobs, backend):
        """The crontab lines of this part (no secrets in them)."""
        options = self.options
        entries = []
        if backend == "cron":
            script = crontab.command_path(options["script"])
            for job in jobs:
                times = schedule.cron_times(job)
                entries.append("%s %s fire %s" % (times, script, job.name))
        zeopack = options.get("zeopack", "").strip()
        if zeopack:
            entries.append(crontab.entry(
                zeopack, options["zeopack-command"].strip(), "zeopack"))
        entries.extend(crontab.parse_entries(options.get("crontab", "")))
        return entries

    # -- installing -----------------------------------------------------------

    def install(self, updating=False):
        try:
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
            purged = crontab.purge_from_crontab(ident, s.crontab_file)
        except crontab.CrontabError as e:
            if not updating:  # nothing of ours was there to clean
                return
            note = (
                "\nThe crontab could not be cleaned either (%s). If it holds "
                "the block %r, remove it by hand: its lines call %s, which "
                "buildout removes after this error." % (
                    e, crontab.PREPEND % ident, self.options["script"]))
        else:
            if not purged:
                return
            note = ("\nThe block %r was taken out of the crontab, so that "
                    "nothing calls files that buildout removes after this "
                    "error; the next successful run puts it back."
                    % (crontab.PREPEND % ident))
        if isinstance(error, zc.buildout.UserError) and error.args:
            error.args = (str(error) + note,) + error.args[1:]
        else:
            logging.getLogger(self.name).error(note.strip())

    def _install(self):
        s = self.settings
        created = []
        try:
            if s.enabled and (s.calls or s.backend != "zserver"):
                # Registered at once, so buildout removes them again if the
                # crontab step below fails: no password file is left behind.
                created = self.options.created(*self._write_files())
            if s.entries:
                if s.crontab_file:
                    make_directory(os.path.dirname(s.crontab_file))
                crontab.update_crontab(
                    self.options["crontab-identifier"], s.entries,
                    s.crontab_file)
        except crontab.CrontabError as e:
            raise zc.buildout.UserError(
                "[%s] crontab: %s" % (self.name, e)) from None
        return list(created)

    def _write_files(self):
        s = self.settings
        if not os.path.isdir(self.part_dir):
            os.makedirs(self.part_dir)
        os.chmod(self.part_dir, 0o700)
        if s.backend == "zserver":
            if not s.inline:
                write_private(self.include_file, self.blocks)
            return [self.part_dir]
        write_private(self.runner_config, json.dumps(
            runner_config(self.name, s), indent=2) + "\n")
        return [self.part_dir] + self._script()

    def _script(self):
        """bin/<part>, generated with zc.recipe.egg's machinery."""
        import zc.recipe.egg

        egg = zc.recipe.egg.Eggs(
            self.buildout, self.name,
            {"eggs": "collective.recipe.clockserver"})
        _, working_set = egg.working_set()
        return zc.buildout.easy_install.scripts(
            [(self.name, "collective.recipe.clockserver.runner", "main")],
            working_set,
            sys.executable,
            self.buildout["buildout"]["bin-directory"],
            arguments=repr(self.runner_config),
        )


def runner_config(part, settings):
    """What bin/<part> reads: address, timeout and the resolved jobs."""
    return {
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


def make_directory(path):
    """The directory of ``crontab-file``, created when missing."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise crontab.CrontabError(
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
        found = crontab.remove_from_crontab(ident, path)
    except crontab.CrontabError as e:
        raise zc.buildout.UserError("[%s] crontab: %s" % (name, e)) from None
    if not found:
        logging.getLogger(name).warning(
            "Warning: the crontab block of %s was already gone", ident)
