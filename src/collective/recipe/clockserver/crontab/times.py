"""Cron times: the one check of the five fields and the one table of ``@`` shortcuts.

Pure, and written for Python 2.7 and 3: the recipe checks ``times=`` and
crontab entries with ``validate_times``; the runner spells a shortcut out
with ``evaluable`` (``expression``, one day rule of cron applied) before it
evaluates a schedule.
"""

from __future__ import absolute_import, division, print_function

import re

from ..errors import ConfigError

REBOOT = "@reboot"
# Every shortcut cron knows, in the order the messages list them, with the
# five fields it stands for (@reboot has none: it never ticks).
SHORTCUTS = (
    (REBOOT, None),
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@midnight", "0 0 * * *"),
)
SPECIAL_TIMES = tuple(name for name, _ in SHORTCUTS)
MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
WEEKDAYS = "sun mon tue wed thu fri sat".split()
# name, lowest, highest, {name: number}
FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, {n: i for i, n in enumerate(MONTHS, 1)}),
    ("day-of-week", 0, 7, {n: i for i, n in enumerate(WEEKDAYS)}),
)
TIMES_FORM = (
    "Cron times are five fields MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK "
    "(e.g. '0 1 * * 6' = Saturdays at 01:00) or one of %s.\n"
    "Each field is *, a value, a list (1,15), a range (1-5), or a step "
    "(*/15, 1-5/2); minute 0-59, hour 0-23, day-of-month 1-31, "
    "month 1-12 or jan-dec, day-of-week 0-7 (0 and 7 = Sunday) or sun-sat."
    % " ".join(SPECIAL_TIMES)
)
ITEM = re.compile(r"^(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?$")


def validate_times(times, option="crontab", line=None):
    """Check a cron schedule and return it with single spaces between fields.

    ``times`` is five fields or one of SPECIAL_TIMES (returned lowercase).
    A mistake raises ConfigError naming ``option`` and ``line`` (default:
    ``times``), which field is wrong and why.
    """
    value = times if line is None else line
    fields = times.split()
    if len(fields) == 1 and fields[0].startswith("@"):
        if fields[0].lower() in SPECIAL_TIMES:
            return fields[0].lower()
        problem = "unknown cron schedule %s" % fields[0]
        raise ConfigError(option, value, problem, TIMES_FORM)
    if len(fields) != 5:
        special = [f for f in fields if f.startswith("@")]
        if special:
            problem = "%s must stand alone, without other fields" % special[0]
        else:
            problem = "cron times need 5 fields, got %d" % len(fields)
        raise ConfigError(option, value, problem, TIMES_FORM)
    for field, spec in zip(fields, FIELDS):
        problem = _field_problem(field, *spec)
        if problem:
            raise ConfigError(option, value, problem, TIMES_FORM)
    return " ".join(fields)


def expression(times):
    """The five cron fields of ``times``, a shortcut spelled out (any case,
    any spacing); None for ``@reboot``. ``times`` is not checked."""
    times = " ".join(times.split())
    for name, fields in SHORTCUTS:
        if times.lower() == name:
            return fields
    return times


# The most days each month can have (February: 29, in leap years).
DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
NEVER = "never matches a date: no month given has that day-of-month"


def never_comes(times):
    """NEVER when checked ``times`` name a day-of-month that none of its
    months has (``0 0 31 2 *``), else None.  As Debian's cron: when both
    day fields are restricted (neither starts with ``*``) either may match,
    and the day-of-week always comes."""
    fields = (expression(times) or "").split()
    if len(fields) != 5 or _either_day(fields):
        return None
    return NEVER if _no_such_day(fields) else None


def evaluable(times):
    """The five fields to evaluate checked ``times`` by (``expression``'s),
    or None for ``@reboot``.

    When both day fields are restricted, cron runs on either; a day-of-month
    that none of the months has then adds no day, and it is written ``*``:
    ``0 0 31 2 mon`` is ``0 0 * 2 mon``, the Mondays of February.  The same
    ticks on any cronsim: 2.7 (the last for Python 3.10) refuses the first
    form, 2.8 reads both alike.  The crontab line keeps the form given."""
    expr = expression(times)
    fields = (expr or "").split()
    if len(fields) == 5 and _either_day(fields) and _no_such_day(fields):
        fields[2] = "*"
        return " ".join(fields)
    return expr


def _either_day(fields):
    """Whether cron runs on the day-of-month OR the day-of-week: both are
    restricted (neither starts with ``*``)."""
    return not (fields[2].startswith("*") or fields[4].startswith("*"))


def _no_such_day(fields):
    """Whether checked fields name only days-of-month none of their months has."""
    try:
        days = _values(fields[2], *FIELDS[2][1:])
        months = _values(fields[3], *FIELDS[3][1:])
    except (AttributeError, KeyError, IndexError):  # not checked: not ours to say
        return False
    return bool(days and months) and min(days) > max(
        DAYS_IN_MONTH[m - 1] for m in months
    )


def _values(field, low, high, names):
    """The numbers a checked field stands for."""
    found = set()
    for item in field.lower().split(","):
        star, first, last, step = ITEM.match(item).groups()
        if star:
            start, stop = low, high
        else:
            start = _number(first, names)
            stop = _number(last, names) if last else (high if step else start)
        found.update(range(start, stop + 1, int(step or 1)))
    return found


def _number(text, names):
    return int(text) if text.isdigit() else names[text]


def _field_problem(field, name, low, high, names):
    """Return what is wrong with one cron field, or None."""
    for item in field.split(","):
        if not item:
            return "%s %s has an empty list element" % (name, _quoted(field))
        match = ITEM.match(item.lower())
        if not match:
            return "%s %s is not *, a value, a range or a step" % (name, _quoted(item))
        star, first, last, step = match.groups()
        if step is not None and star is None and last is None:
            return "%s %s: a step needs * or a range before it (*/%s or a-b/%s)" % (
                name,
                _quoted(item),
                step,
                step,
            )
        numbers = []
        for text in (first, last):
            if text is None:
                continue
            if text.isdigit():
                number = int(text)
            elif text in names:
                number = names[text]
            else:
                kind = "a number or a name" if names else "a number"
                return "%s %s is not %s" % (name, _quoted(text), kind)
            if not low <= number <= high:
                return "%s %d is out of range %d-%d" % (name, number, low, high)
            numbers.append(number)
        if len(numbers) == 2 and numbers[0] > numbers[1]:
            return "%s range %s runs backwards" % (name, _quoted(item))
        if step is not None and not 1 <= int(step) <= high - low + 1:
            return "%s step %s is out of range 1-%d" % (name, step, high - low + 1)
    return None


def _quoted(text):
    """``repr(text)``, without the ``u`` Python 2 puts before a unicode
    string, so messages read the same on both."""
    shown = repr(text)
    return shown[1:] if shown[:2] in ("u'", 'u"') else shown
