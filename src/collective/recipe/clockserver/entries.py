"""The part's crontab lines: the cron backend's jobs, ``zeopack`` and ``crontab``,
named (model.Entry) and, when monitored, wrapped in ``bin/<part> exec``.

Pure; the lines themselves are parsed and checked by crontab.py, their
schedules by schedule.py.  Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import shlex

from . import crontab
from . import schedule
from .errors import ConfigError
from .model import Entry

try:
    from shlex import quote as _quote
except ImportError:  # Python 2
    from pipes import quote as _quote

_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def read(options, jobs, backend, monitor, script, zeopack_command):
    """The crontab lines of the part (no secrets in them), and the named
    entries that ``monitor`` wraps in ``bin/<part> exec``.  ``script`` is
    bin/<part>, ``zeopack_command`` what ``zeopack`` runs."""
    lines = []
    script = crontab.command_path(script)
    for job in jobs:
        if job.times:
            check_matches(job.times, "jobs", job.line)
        if backend == "cron":
            times = schedule.cron_times(job)
            lines.append("%s %s fire --scheduled %s" % (times, script, job.name))
    zeopack = options.get("zeopack", "").strip()
    zeopack_line = None
    if zeopack:
        zeopack_line = crontab.entry(
            zeopack, zeopack_command.strip(), "zeopack")
        check_matches(split_entry(zeopack_line)[0], "zeopack", zeopack)
    given = crontab.parse_entries(options.get("crontab", ""))
    named = name_entries(given, [j.name for j in jobs], zeopack_line)
    for entry, line in zip(named[1:] if zeopack_line else named, given):
        check_matches(entry.times, "crontab", line)
    if monitor:
        lines.extend(monitored_line(e, script) for e in named)
    else:
        lines.extend(([zeopack_line] if zeopack_line else []) + given)
    return lines, named


def check_matches(times, option, line):
    """Refuse a cron schedule that never comes (``0 0 31 2 *``)."""
    found = schedule.problem(times)
    if found:
        raise ConfigError(
            option, line, "the schedule %r %s" % (times, found),
            "Cron would never run it: check the day-of-month against the months "
            "(February has at most 29 days; April, June, September and November 30).")


def split_entry(line):
    """A normalised ``TIMES COMMAND`` line -> (times, command)."""
    if line.startswith("@"):
        times, command = line.split(None, 1)
    else:
        fields = line.split(None, 5)
        times, command = " ".join(fields[:5]), fields[5]
    return times, command.strip()


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
    return bool(words) and " ".join(_quote(w) for w in words) == command \
        and not _ASSIGNMENT.match(words[0])


def monitored_line(entry, script):
    """``TIMES SCRIPT exec --scheduled NAME -- COMMAND``; a command with shell
    syntax runs as ``/bin/sh -c '<the line as written>'``."""
    if plain(entry.command):
        command = entry.command
    else:
        command = "/bin/sh -c '%s'" % entry.command.replace("'", "'\\''")
    return "%s %s exec --scheduled %s -- %s" % (entry.times, script, entry.name, command)
