"""Crontab entries: the ``crontab`` and ``zeopack`` options as ``TIMES COMMAND``.

Pure, and written for Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

import re

try:
    from shlex import quote
except ImportError:  # Python 2
    from pipes import quote

from ..errors import ConfigError
from .times import validate_times

ENTRY_FORM = (
    "Write one entry per line: MIN HOUR DOM MON DOW COMMAND "
    "(e.g. '30 2 * * * /srv/site/bin/backup') or @daily COMMAND."
)
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")


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
        raise ConfigError(
            option, line, "the command contains a line break", ENTRY_FORM
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
            raise ConfigError(
                option, line, "the entry has no command", ENTRY_FORM
            )
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
