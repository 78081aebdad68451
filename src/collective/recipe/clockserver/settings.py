"""The monitoring options of a part, read and checked without buildout.

``monitor``, ``state-directory``, ``grace``, ``catch-up``,
``metrics-file`` and ``pings``; the names of crontab entries and the
``exec`` lines that monitor them.  Pure functions over plain mappings, so
that they are tested without running buildout; mistakes raise
ConfigError.
"""

import dataclasses
import os
import re
import shlex
from urllib.parse import urlsplit

from .crontab.entries import split_entry
from .errors import ConfigError
from .jobs import parse_period

BOOLEANS = {"true": True, "false": False}
BOOLEAN_FIX = "Write true or false."
GRACE_FIX = ("Write how long after a missed tick status calls it overdue: seconds "
             "(600) or with units s m h d w, e.g. 10m, 1h.")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


@dataclasses.dataclass(frozen=True)
class Entry:
    """A crontab entry of the part: its name, times and command."""

    name: str
    times: str
    command: str


@dataclasses.dataclass
class Monitoring:
    monitor: bool
    state_directory: str
    grace: int | None
    catch_up: bool
    metrics_file: str | None
    pings_section: str | None
    job_grace: dict  # job name -> seconds
    job_catch_up: dict  # job name -> bool


def boolean(options, name, default):
    value = options.get(name)
    if value is None:
        return default
    text = value.strip()
    if text not in BOOLEANS:
        raise ConfigError(name, value, "%r is not a boolean" % text, BOOLEAN_FIX)
    return BOOLEANS[text]


def grace(text, option, line=None):
    try:
        return parse_period(text)
    except ValueError as e:
        raise ConfigError(option, line if line is not None else text,
                          "bad grace %r: %s" % (text.strip(), e), GRACE_FIX) from None


def path_option(options, name, directory):
    """A path option: ``~`` expanded, relative to the buildout directory."""
    text = options.get(name, "").strip()
    if not text:
        return None
    return os.path.normpath(os.path.join(directory, os.path.expanduser(text)))


def read(options, part, buildout_directory, jobs):
    """The monitoring options of ``part`` -> Monitoring."""
    monitor = boolean(options, "monitor", True)
    catch_up = boolean(options, "catch-up", False)
    part_grace = None
    if options.get("grace", "").strip():
        part_grace = grace(options["grace"], "grace")
    state = path_option(options, "state-directory", buildout_directory) or \
        os.path.join(buildout_directory, "var", part)
    if os.path.exists(state) and not os.path.isdir(state):
        raise ConfigError(
            "state-directory", state, "%s exists and is not a directory" % state,
            "Point state-directory at a directory (it is created when missing), "
            "e.g. state-directory = ${buildout:directory}/var/%s." % part)
    metrics = path_option(options, "metrics-file", buildout_directory)
    if metrics is not None:
        if not metrics.endswith(".prom"):
            raise ConfigError(
                "metrics-file", options["metrics-file"].strip(),
                "the file name does not end in .prom; node_exporter's textfile "
                "collector reads only *.prom files",
                "Name it e.g. /var/lib/node_exporter/textfile/%s.prom." % part)
        if os.path.isdir(metrics):
            raise ConfigError(
                "metrics-file", metrics, "%s is a directory" % metrics,
                "Name a file in it, e.g. %s." % os.path.join(metrics, part + ".prom"))
    job_grace, job_catch_up = {}, {}
    for job in jobs:
        if job.grace is not None:
            job_grace[job.name] = grace(job.grace, "jobs", job.line)
        if job.catch_up is not None:
            if job.catch_up not in BOOLEANS:
                raise ConfigError("jobs", job.line,
                                  "catch-up=%s is not a boolean" % job.catch_up,
                                  "Write catch-up=true or catch-up=false.")
            job_catch_up[job.name] = BOOLEANS[job.catch_up]
    pings = options.get("pings", "").strip() or None
    return Monitoring(monitor, state, part_grace, catch_up, metrics, pings,
                      job_grace, job_catch_up)


# -- crontab entries ------------------------------------------------------------

def _words(command):
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def entry_base_name(command):
    """The basename of the first word that is not ``VAR=value``."""
    words = [w for w in _words(command) if not _ASSIGNMENT.match(w)]
    program = os.path.basename(words[0].rstrip("/")) if words else ""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", program).strip("-._")
    return name or "entry"


def name_entries(lines, taken, zeopack_line=None):
    """Name the crontab entries: ``zeopack`` for that entry, else the program's
    basename; a clash with a job or an earlier entry gets ``-2``, ``-3``."""
    taken = set(taken)
    entries = []
    for line in ([zeopack_line] if zeopack_line else []) + list(lines):
        times, command = split_entry(line)
        base = "zeopack" if line is zeopack_line else entry_base_name(command)
        name, counter = base, 1
        while name in taken:
            counter += 1
            name = "%s-%d" % (base, counter)
        taken.add(name)
        entries.append(Entry(name, times, command))
    return entries


def plain(command):
    """True when the command is simple words, each bare or single-quoted
    (as ``command_path`` writes a path with spaces): the shell passes them
    on unchanged, no pipes, redirections, variables or globs."""
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return bool(words) and shlex.join(words) == command and \
        not _ASSIGNMENT.match(words[0])


def monitored_line(entry, script):
    """``TIMES SCRIPT exec --scheduled NAME -- COMMAND``; a command with shell
    syntax runs as ``/bin/sh -c '<the line as written>'``."""
    if plain(entry.command):
        command = entry.command
    else:
        command = "/bin/sh -c '%s'" % entry.command.replace("'", "'\\''")
    return "%s %s exec --scheduled %s -- %s" % (entry.times, script, entry.name, command)


# -- pings ----------------------------------------------------------------------

def pings_snippet(section, names):
    example = names[0] if names else "NAME"
    return ("Create it in secret.cfg (chmod 600, never committed), one line per "
            "job or entry name:\n\n    [%s]\n    %s = https://hc-ping.com/<uuid>\n"
            % (section, example))


def check_pings_defined(sections, section, names):
    """Raise ConfigError (with the snippet) unless the pings section exists.

    ``keys()``, not ``in``: buildout's ``in`` reads the section, and a
    reference in it to a missing section would look like a missing pings
    section (buildout reports that reference itself when it is read)."""
    if section not in sections.keys():
        raise ConfigError("pings", section,
                          "the pings section [%s] is not defined" % section,
                          pings_snippet(section, list(names)))


def read_pings(sections, section, names):
    """The ``pings`` section: name -> healthchecks.io-style URL."""
    names = list(names)
    check_pings_defined(sections, section, names)
    found = {}
    values = sections[section]
    for key in sorted(values.keys()):
        url = values[key].strip()
        if key not in names:
            raise ConfigError(
                "pings", "[%s] %s" % (section, key),
                "%r is no job or entry of this part" % key,
                "Use one of: %s." % (", ".join(names) or "(none)"))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or \
                any(c.isspace() for c in url):
            raise ConfigError(
                "pings", "[%s] %s" % (section, key),
                "the ping URL of %s is not an http(s) URL" % key,
                "Write the check's ping URL, e.g. %s = https://hc-ping.com/<uuid>."
                % key)
        found[key] = url
    return found
