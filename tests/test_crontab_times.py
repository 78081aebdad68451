"""Tests of crontab.times (cron times, the @ shortcuts) and crontab.entries.

Both are pure: no crontab is read or written here.
"""

import textwrap

import pytest

from collective.recipe.clockserver.crontab.entries import (
    command_path,
    entry,
    parse_entries,
    split_entry,
)
from collective.recipe.clockserver.crontab.times import (
    SHORTCUTS,
    SPECIAL_TIMES,
    evaluable,
    expression,
    never_comes,
    validate_times,
)
from collective.recipe.clockserver.errors import ConfigError

# -- validate_times --------------------------------------------------------


@pytest.mark.parametrize(
    "times, expected",
    [
        ("0 1 * * 6", "0 1 * * 6"),
        ("  0   1 *\t* 6 ", "0 1 * * 6"),
        ("*/15 * * * *", "*/15 * * * *"),
        ("0 8-18/2 * * mon-fri", "0 8-18/2 * * mon-fri"),
        ("0,30 0 1,15 jan,JUL Sun", "0,30 0 1,15 jan,JUL Sun"),
        ("59 23 31 12 7", "59 23 31 12 7"),
        ("0 0 1 Jan-Dec/3 *", "0 0 1 Jan-Dec/3 *"),
        ("@daily", "@daily"),
        ("@REBOOT", "@reboot"),
        ("@annually", "@annually"),
        ("@midnight", "@midnight"),
    ],
)
def test_validate_times_accepts_and_normalises(times, expected):
    assert validate_times(times) == expected


@pytest.mark.parametrize(
    "times, problem",
    [
        ("0 25 * * *", "hour 25 is out of range 0-23"),
        ("60 * * * *", "minute 60 is out of range 0-59"),
        ("0 0 0 * *", "day-of-month 0 is out of range 1-31"),
        ("0 0 32 * *", "day-of-month 32 is out of range 1-31"),
        ("0 0 * 13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week 8 is out of range 0-7"),
        ("0 0 * foo *", "month 'foo' is not a number or a name"),
        ("0 0 * * mon-xyz", "day-of-week 'xyz' is not a number or a name"),
        ("0 jan * * *", "hour 'jan' is not a number"),
        ("0 0 * * jan", "day-of-week 'jan' is not a number or a name"),
        ("x * * * *", "minute 'x' is not a number"),
        ("-5 * * * *", "minute '-5' is not *, a value, a range or a step"),
        ("1,,2 * * * *", "minute '1,,2' has an empty list element"),
        ("5-1 * * * *", "minute range '5-1' runs backwards"),
        ("0 0 * * fri-sun", "day-of-week range 'fri-sun' runs backwards"),
        ("5/2 * * * *", "minute '5/2': a step needs * or a range before it"),
        ("*/0 * * * *", "minute step 0 is out of range 1-60"),
        ("*/x * * * *", "minute '*/x' is not *, a value, a range or a step"),
        ("0 1 * *", "cron times need 5 fields, got 4"),
        ("0 1 * * 6 7", "cron times need 5 fields, got 6"),
        ("", "cron times need 5 fields, got 0"),
        ("@weekdays", "unknown cron schedule @weekdays"),
        ("@daily 0", "@daily must stand alone"),
    ],
)
def test_validate_times_rejects(times, problem):
    with pytest.raises(ConfigError) as info:
        validate_times(times, "zeopack")
    error = info.value
    assert problem in error.problem
    assert error.option == "zeopack"
    assert error.value == times
    # The fix shows the valid form.
    assert "MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK" in error.fix
    assert "@reboot @hourly @daily" in error.fix
    assert "[clock] zeopack: " + problem in error.message("clock")


def test_validate_times_names_the_line():
    with pytest.raises(ConfigError) as info:
        validate_times("0 25 * * *", "crontab", line="0 25 * * * bin/backup")
    assert info.value.value == "0 25 * * * bin/backup"
    assert "hour 25 is out of range 0-23" in str(info.value)


# -- parse_entries and entry -----------------------------------------------


def test_parse_entries_keeps_commands_as_written():
    text = textwrap.dedent(
        """
        # backups
        30  2 * * *   /srv/site/bin/backup --quiet  >/dev/null 2>&1

        @weekly    /srv/site/bin/snapshotbackup "a  b"
        0 3 * * * date +\\%F >> /tmp/log
        """
    )
    assert parse_entries(text) == [
        "30 2 * * * /srv/site/bin/backup --quiet  >/dev/null 2>&1",
        '@weekly /srv/site/bin/snapshotbackup "a  b"',
        "0 3 * * * date +\\%F >> /tmp/log",
    ]


def test_parse_entries_empty():
    assert parse_entries("") == []
    assert parse_entries("\n  \n# only a comment\n") == []


@pytest.mark.parametrize(
    "line, problem",
    [
        ("MAILTO=admin@example.com", "environment assignments are not allowed"),
        ("PATH = /usr/bin", "environment assignments are not allowed"),
        ("0 1 * * 6", "the entry has no command"),
        ("@daily", "the entry has no command"),
        ("@daily   ", "the entry has no command"),
        ("0 25 * * * bin/backup", "hour 25 is out of range 0-23"),
        ("0 1 * * bin/backup", "day-of-week 'bin/backup' is not *, a value"),
        ("0 1 bin/backup", "cron times need 5 fields, got 3"),
        ("@dialy bin/backup", "unknown cron schedule @dialy"),
        ("0 1 * * * date +%F", "unescaped % into a line break"),
    ],
)
def test_parse_entries_rejects(line, problem):
    with pytest.raises(ConfigError) as info:
        parse_entries("@daily bin/ok\n" + line + "\n", option="crontab")
    assert info.value.option == "crontab"
    assert info.value.value == line.strip()
    assert problem in info.value.problem
    assert info.value.fix


def test_entry():
    assert entry(" 0  1 * * 6", " /srv/site/bin/zeopack ", "zeopack") == (
        "0 1 * * 6 /srv/site/bin/zeopack"
    )
    assert entry("@Weekly", "bin/zeopack -d 7", "zeopack") == (
        "@weekly bin/zeopack -d 7"
    )


@pytest.mark.parametrize(
    "times, command, problem",
    [
        ("0 1 * * 8", "bin/zeopack", "day-of-week 8 is out of range 0-7"),
        ("0 1 * * 6", "  ", "the entry has no command"),
        ("0 1 * * 6", "bin/zeopack\n* * * * * evil", "line break"),
        ("0 1 * * 6", "bin/zeopack > log-%d", "unescaped %"),
    ],
)
def test_entry_rejects(times, command, problem):
    with pytest.raises(ConfigError) as info:
        entry(times, command, "zeopack")
    assert info.value.option == "zeopack"
    assert problem in info.value.problem


def test_split_entry():
    assert split_entry("30 2 * *\t*  /srv/bin/backup -q  ") == (
        "30 2 * * *",
        "/srv/bin/backup -q",
    )
    assert split_entry("@Daily   x  y") == ("@Daily", "x  y")
    assert split_entry("@daily") == ("@daily", "")
    assert split_entry("0 1 * * 6") is None
    assert split_entry("0 1 bin/backup") is None
    text = '30 2 * * * /srv/bin/backup  -q\n@weekly bin/x "a  b"\n'
    for line in parse_entries(text):
        assert "%s %s" % split_entry(line) == line


def test_command_path_quotes_for_the_shell_and_cron():
    assert command_path("/srv/site/bin/zeopack") == "/srv/site/bin/zeopack"
    assert command_path("/srv/my site/bin/zeopack") == ("'/srv/my site/bin/zeopack'")
    assert command_path("/srv/100%/bin/zeopack") == "/srv/100\\%/bin/zeopack"


# -- the @ shortcuts: one table ---------------------------------------------


def test_one_table_of_shortcuts():
    assert SPECIAL_TIMES == (
        "@reboot",
        "@hourly",
        "@daily",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
        "@midnight",
    )
    for name, fields in SHORTCUTS:
        assert validate_times(name.upper()) == name
        assert expression(" " + name.upper() + " ") == fields
        if fields is not None:
            assert validate_times(fields) == fields
    assert expression("@reboot") is None
    assert expression(" 0  1 * * 6 ") == "0 1 * * 6"


@pytest.mark.parametrize(
    "times, fields",
    [
        # Either day field (both restricted): a day no month given has adds
        # no day, so the weekdays alone are the schedule.
        ("0 0 31 2 mon", "0 0 * 2 mon"),
        ("0  0 30,31 Feb 1-5", "0 0 * Feb 1-5"),
        ("15 3 31 4,6,9,11 0", "15 3 * 4,6,9,11 0"),
        # Any day that comes keeps the fields as written.
        ("0 0 29-31 2 mon", "0 0 29-31 2 mon"),
        ("0 0 31 * mon", "0 0 31 * mon"),
        ("0 0 31 2,3 mon", "0 0 31 2,3 mon"),
        # Never comes (both must match): left for never_comes to refuse.
        ("0 0 31 2 *", "0 0 31 2 *"),
        ("0 0 31 2 */2", "0 0 31 2 */2"),
        ("@yearly", "0 0 1 1 *"),
        ("@reboot", None),
    ],
)
def test_evaluable_reads_a_day_no_month_has_as_cron_does(times, fields):
    assert evaluable(times) == fields
    if fields is not None:
        assert validate_times(fields) == fields
        assert never_comes(fields) == never_comes(times)


def test_the_runner_uses_the_same_table():
    from collective.recipe.clockserver.runner import crontimes

    for name, fields in SHORTCUTS:
        assert crontimes.expression(name) == fields
    assert crontimes.previous("@reboot", 0) is None


def test_the_runner_gets_the_table_without_buildout():
    """crontab/__init__ imports nothing, so the runner's import of
    crontab.times loads neither zc.buildout nor the crontab I/O."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from collective.recipe.clockserver.runner import crontimes\n"
        "assert crontimes.expression('@daily') == '0 0 * * *'\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(\n"
        "    ('zc.buildout', 'z3c.recipe.usercrontab',\n"
        "     'collective.recipe.clockserver.crontab')))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == [
        "collective.recipe.clockserver.crontab",
        "collective.recipe.clockserver.crontab.times",
    ]
