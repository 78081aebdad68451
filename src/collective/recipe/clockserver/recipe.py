"""The buildout layer: options in (settings.py), files and crontab entries out."""

from __future__ import absolute_import, division, print_function

import json
import logging
import os
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
        options["location"] = s.part_dir
        options["script"] = s.script
        options["crontab-identifier"] = s.crontab_identifier
        if s.crontab_file:
            options["crontab-file"] = s.crontab_file
        options["zope-conf-additional"] = s.zope_conf_additional
        options["crontab-entries"] = "\n".join(s.entries)
        options["state-directory"] = s.state_directory
        self._warn(s.warnings)

    def _warn(self, warnings):
        log = logging.getLogger(self.name)
        for warning in warnings:
            log.warning("Warning: %s", warning)

    def install(self, updating=False):
        try:
            try:
                warnings = settingslib.read_secrets(self.settings, self.buildout)
            except ConfigError as e:
                raise zc.buildout.UserError(e.message(self.name))
            self._warn(warnings)
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
        block = cronblock.PREPEND % s.crontab_identifier
        try:
            purged = cronstore.purge_from_crontab(s.crontab_identifier, s.crontab_file)
        except cronblock.CrontabError as e:
            if not updating:  # nothing of ours was there to clean
                return
            note = (
                "\nThe crontab could not be cleaned either (%s). If it holds "
                "the block %r, remove it by hand: its lines call %s, which "
                "buildout removes after this error." % (e, block, s.script)
            )
        else:
            if not purged:
                return
            note = (
                "\nThe block %r was taken out of the crontab, so that "
                "nothing calls files that buildout removes after this "
                "error; the next successful run puts it back." % block
            )
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
                if s.crontab_file:
                    make_directory(os.path.dirname(s.crontab_file))
                cronstore.update_crontab(
                    s.crontab_identifier, s.entries, s.crontab_file
                )
        except cronblock.CrontabError as e:
            raise zc.buildout.UserError("[%s] crontab: %s" % (self.name, e))
        return list(created)

    def _state_directory(self):
        """Create the state directory and note when each name was first
        seen; it is not registered, so records outlive the part.  Python 3
        only: on Python 2 settings.py refuses everything that needs
        bin/<part> (RUNNER_ONLY), so ``needs_script`` is never true there."""
        from .runner.records import Records, Refused, StoreError  # Python 3 only

        s = self.settings
        try:
            records = Records(
                s.state_directory,
                part=self.name,
                log=logging.getLogger(self.name).warning,
            )
            records.make()
            records.seen(s.watched)
            records.close()
        except Refused as e:
            logging.getLogger(self.name).warning(
                "state-directory: %s; bin/%s will not record runs there", e, self.name
            )
        except (
            OSError,
            ValueError,
            StoreError,
        ) as e:  # ValueError: a name or path it refuses
            raise zc.buildout.UserError(
                "[%s] state-directory: cannot create %s: %s\n    Point "
                "state-directory at a directory this user may write."
                % (self.name, s.state_directory, getattr(e, "strerror", None) or e)
            )
        metrics = s.metrics_file
        if metrics:
            try:
                warning = metrics_directory(os.path.dirname(metrics))
            except OSError as e:
                raise zc.buildout.UserError(
                    "[%s] metrics-file: cannot create the directory of %s: %s"
                    % (self.name, metrics, e.strerror or e)
                )
            self._warn([warning] if warning else [])

    def _write_files(self):
        """The part directory, the include file and bin/<part>'s config
        file and script; each registered before it is written, so buildout
        removes it again if a later step fails (no password file is left
        behind)."""
        s = self.settings
        created = list(self.options.created(s.part_dir))
        if not os.path.isdir(s.part_dir):
            os.makedirs(s.part_dir)
        os.chmod(s.part_dir, 0o700)
        if s.backend == "zserver" and s.calls and not s.inline:
            write_private(s.include_file, s.blocks)
        if not s.needs_script:
            return created
        write_private(s.config_file, json.dumps(s.to_json(), indent=2) + "\n")
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


def metrics_directory(path):
    """Create the directory of ``metrics-file`` and its missing parents
    mode 0755, whatever the umask: node_exporter runs as another user.  A
    directory the user made is never changed: a warning (or None) says
    when node_exporter could not read the file in it."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o755)
        except OSError:
            if not os.path.isdir(directory):  # not made by another process meanwhile
                raise
            continue
        os.chmod(directory, 0o755)  # the umask took bits off
    if missing:
        path = missing[0]
    blocked = unreadable(path)
    if blocked is None:
        return None
    return (
        "metrics-file: node_exporter (another user) cannot read files in %s: "
        "%s is mode %04o; make it readable by others (chmod o+rx %s)"
        % (path, blocked[0], blocked[1], blocked[0])
    )


def unreadable(directory):
    """(path, mode) of ``directory`` when others cannot list it, or of the
    first parent they cannot enter; None when they can read files in it."""
    mode = os.stat(directory).st_mode & 0o777
    if mode & 0o005 != 0o005:
        return directory, mode
    parent = os.path.dirname(directory)
    while parent and parent != directory:
        mode = os.stat(parent).st_mode & 0o777
        if not mode & 0o001:
            return parent, mode
        directory, parent = parent, os.path.dirname(parent)
    return None


def make_directory(path):
    """The directory of ``crontab-file``, created when missing."""
    if os.path.isdir(path):
        return
    try:
        os.makedirs(path)
    except OSError as e:
        if os.path.isdir(path):  # made by another process meanwhile
            return
        raise cronblock.CrontabError(
            "cannot create the directory of crontab-file: %s; set crontab-file "
            "to a path in a directory that exists or can be created" % e
        )


def write_private(path, text):
    """Write ``text`` to ``path`` readable by the owner only (mode 0600)."""
    if not isinstance(text, bytes):  # Python 2: native strings are UTF-8 bytes
        text = text.encode("utf-8")
    files.replace(path, text, 0o600)


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
