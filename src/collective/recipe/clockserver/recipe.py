"""The buildout layer: options in (settings.py), files and crontab entries out."""

from __future__ import absolute_import, division, print_function

import logging
import sys

import zc.buildout

from . import files
from . import settings as settingslib
from .buildoutcompat import dumps_configuration
from .crontab import block as cronblock
from .crontab import store as cronstore
from .errors import ConfigError


class Recipe(object):
    """Periodic Zope jobs: ``<clock-server>`` blocks, bin/<part> or cron."""

    def __init__(self, buildout, name, options):
        self.buildout, self.name, self.options = buildout, name, options
        try:
            # bin/buildout -vv prints every section read so far: then the
            # secret sections are read when installing (see install).
            self.settings = s = settingslib.read(
                buildout, name, defer_secrets=dumps_configuration()
            )
        except ConfigError as e:
            raise zc.buildout.UserError(e.message(name))
        options.setdefault("zeopack-command", s.zeopack_command)
        for option, value in s.outputs():
            options[option] = value
        self._warn(s.warnings)

    def _warn(self, warnings):
        log = logging.getLogger(self.name)
        for warning in warnings:
            log.warning("Warning: %s", warning)

    def install(self, updating=False):
        try:
            try:
                self._warn(settingslib.read_secrets(self.settings, self.buildout))
                return self._install()
            except ConfigError as e:
                raise zc.buildout.UserError(e.message(self.name))
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
        note = cronstore.purge_after_failure(
            s.crontab_identifier, s.crontab_file, s.script, updating
        )
        if note is None:
            return
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
                created = self._write_files()
            if s.entries:
                cronstore.install_crontab(
                    s.crontab_identifier, s.entries, s.crontab_file
                )
        except cronblock.CrontabError as e:
            raise zc.buildout.UserError("[%s] crontab: %s" % (self.name, e))
        return list(created)

    def _state_directory(self):
        """bin/<part>'s state and metrics directories (runner/directories.py).
        Python 3 only: on Python 2 settings.py refuses everything that needs
        bin/<part> (runneronly.py), so ``needs_script`` is never true there."""
        from .runner import directories  # Python 3 only

        s = self.settings
        log = logging.getLogger(self.name).warning
        self._warn(
            directories.make(
                self.name, s.state_directory, s.watched, s.metrics_file, log
            )
        )

    def _write_files(self):
        """The part directory, the include file and bin/<part>'s config
        file and script; each registered before it is written, so buildout
        removes it again if a later step fails (no password file is left
        behind)."""
        s = self.settings
        created = list(self.options.created(s.part_dir))
        files.private_directory(s.part_dir)
        for path, text in s.private_files():
            files.write_private(path, text)
        if not s.needs_script:
            return created
        created = list(self.options.created(s.script))
        generated = self._script()
        return list(self.options.created(*[p for p in generated if p not in created]))

    def _script(self):
        """bin/<part>, generated with zc.recipe.egg's machinery."""
        import zc.buildout.easy_install
        import zc.recipe.egg

        egg = zc.recipe.egg.Eggs(
            self.buildout, self.name, {"eggs": script_eggs(self.settings)}
        )
        _, working_set = egg.working_set()
        return zc.buildout.easy_install.scripts(
            [(self.name, "collective.recipe.clockserver.runner", "main")],
            working_set,
            sys.executable,
            self.buildout["buildout"]["bin-directory"],
            arguments=repr(self.settings.config_file),
        )


def script_eggs(settings):
    """bin/<part>'s working set: the package, with the extra that brings
    the lock service's client library when ``lock`` names one."""
    if settings.lock:
        return "collective.recipe.clockserver[%s]" % settings.lock.extra
    return "collective.recipe.clockserver"


def uninstall(name, options):
    """Remove this part's crontab block; buildout removes its files."""
    if not options.get("crontab-entries", "").strip():
        return
    path = options.get("crontab-file", "").strip() or None
    ident = options["crontab-identifier"]
    try:
        found = cronstore.remove_from_crontab(ident, path)
    except cronblock.CrontabError as e:
        raise zc.buildout.UserError("[%s] crontab: %s" % (name, e))
    if not found:
        logging.getLogger(name).warning(
            "Warning: the crontab block of %s was already gone", ident
        )
