"""Crontab entries: the part's crontab lines (the cron backend's jobs,
``zeopack`` and ``crontab``) parsed, checked, named (model.Entry) and, when
monitored, wrapped in ``bin/<part> exec``.

Pure, and written for Python 2.7 and 3; their schedules are schedule.py's.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import shlex

try:
    from shlex import quote
except ImportError:  # Python 2
    from pipes import quote

from .. import schedule, values
from ..errors import ConfigError
from ..model import Entry
from .times import validate_times

ENTRY_FORM = (
    "Write one entry per line: MIN HOUR DOM MON DOW COMMAND "
    "(e.g. '30 2 * * * /srv/site/bin/backup') or @daily COMMAND."
)
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")  # a VAR=value word


def entry(times, command, option):
    """Validate ``times`` and return the crontab line ``TIMES COMMAND``."""
    times = validate_times(times, option)
    line = "%s %s" % (times, command.strip())
    _check_command(command.strip(), option, line)
    return line


def _check_command(command, option, line):
    """Refuse an empty command, a line break, or an unescaped ``%``."""
    if not command:
        raise ConfigError(option, line, "the entry has no command", ENTRY_FORM)
    if "\n" in command or "\r" in command:
        raise ConfigError(option, line, "the command contains a line break", ENTRY_FORM)
    if "\x00" in command:
        raise ConfigError(
            option,
            line.replace("\x00", "\\x00"),
            "the command holds a NUL character, which a crontab cannot hold",
            "Remove it.",
        )
    if re.search(r"(?<!\\)%", command):
        raise ConfigError(
            option,
            line,
            "cron turns an unescaped % into a line break (the rest becomes "
            "standard input)",
            "Write \\% for a literal percent sign, e.g. date +\\%F.",
        )


def parse_entries(text, option="crontab"):
    """Parse the ``crontab`` option into normalised ``TIMES COMMAND`` lines.

    Blank lines and ``#`` lines are skipped; the command is kept as
    written. Environment assignments (``MAILTO=...``) are refused: in a
    crontab they apply to every later line, including other people's lines
    after our block. An unescaped ``%`` is refused too (cron would cut the
    command there).
    """
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if ASSIGNMENT.match(line):
            raise ConfigError(
                option,
                line,
                "environment assignments are not allowed here: they would "
                "apply to every later line of the crontab",
                "Set the variable in the command itself "
                "(30 2 * * * VAR=value /srv/site/bin/backup), or add it to "
                "the crontab by hand, outside the generated block.",
            )
        parts = split_entry(line)
        if parts is None:
            validate_times(line, option, line)  # explains what is missing
            raise ConfigError(option, line, "the entry has no command", ENTRY_FORM)
        times, command = parts
        times = validate_times(times, option, line)
        _check_command(command, option, line)
        entries.append("%s %s" % (times, command))
    return entries


def split_entry(line):
    """A crontab line -> (times, command), the command stripped ("" when an
    ``@`` word stands alone); the five fields of times joined by single
    spaces. None when a line of five fields or fewer has no command.
    Nothing is checked."""
    if line.startswith("@"):
        times, command = (line.split(None, 1) + [""])[:2]
        return times, command.strip()
    fields = line.split(None, 5)
    if len(fields) < 6:
        return None
    return " ".join(fields[:5]), fields[5].strip()


def command_path(path):
    """``path`` as the program of a crontab command: shell-quoted, and
    ``%`` written ``\\%`` (cron turns a bare ``%`` into a newline)."""
    return quote(path).replace("%", "\\%")


def read(options, jobs, backend, monitor, script, zeopack_command):
    """The crontab lines of the part (no secrets in them), and the named
    entries that ``monitor`` wraps in ``bin/<part> exec``.  ``script`` is
    bin/<part>, ``zeopack_command`` what ``zeopack`` runs."""
    lines = []
    script = command_path(script)
    for job in jobs:
        if job.times:
            check_matches(job.times, "jobs", job.line)
        if backend == "cron":
            times = schedule.cron_times(job)
            lines.append("%s %s fire --scheduled %s" % (times, script, job.name))
    zeopack = options.get("zeopack", "").strip()
    zeopack_line = None
    if zeopack:
        zeopack_line = entry(zeopack, zeopack_command.strip(), "zeopack")
        check_matches(split_entry(zeopack_line)[0], "zeopack", zeopack)
    given = parse_entries(options.get("crontab", ""))
    named = name_entries(given, [j.name for j in jobs], zeopack_line)
    for named_entry, line in zip(named[1:] if zeopack_line else named, given):
        check_matches(named_entry.times, "crontab", line)
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
            option,
            line,
            "the schedule %r %s" % (times, found),
            "Cron would never run it: check the day-of-month against the months "
            "(February has at most 29 days; April, June, September and November 30).",
        )


def _words(command):
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def entry_base_name(command):
    """The basename of the first word that is not ``VAR=value``."""
    words = [w for w in _words(command) if not VARIABLE.match(w)]
    program = os.path.basename(words[0].rstrip("/")) if words else ""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", program).strip("-._")
    return values.bounded_name(name or "entry")


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
            name = values.bounded_name(base, "-%d" % counter)
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
    return (
        bool(words)
        and " ".join(quote(w) for w in words) == command
        and not VARIABLE.match(words[0])
    )


def monitored_line(entry, script):
    """``TIMES SCRIPT exec --scheduled NAME -- COMMAND``; a command with shell
    syntax runs as ``/bin/sh -c '<the line as written>'``."""
    if plain(entry.command):
        command = entry.command
    else:
        command = "/bin/sh -c '%s'" % entry.command.replace("'", "'\\''")
    return "%s %s exec --scheduled %s -- %s" % (
        entry.times,
        script,
        entry.name,
        command,
    )
