"""When a job or entry is due: one Schedule value (a period, or cron times in a zone, shifted).

A Schedule answers ``previous(now)`` (the latest tick at or before now),
``following(now)`` (the first tick strictly after now) and
``interval(after)`` in epoch seconds: the tick is one UTC instant.  A
period ticks at epoch multiples; cron times are evaluated by cronsim (the
library healthchecks.io uses) in ``zone`` (an IANA name; None: the
machine's zone, as cron reads it), with Debian cron's daylight-saving
rules as cronsim implements them for zone-aware times: when the minute
and hour fields are both fixed (neither starts with ``*``), a local time
skipped by the jump is due once at the first instant after it and a
repeated one once, at its first occurrence; otherwise every real instant
whose local reading matches is due.  ``offset`` (seconds, from
``spread``) shifts every tick.  cronsim and zoneinfo are imported only
when a cron schedule is evaluated (Python 3; the recipe's Python 2 path
never does).  ``@reboot`` has no ticks: every answer is None.

Also: the cron times that fire a job of the cron backend (its ``times=``,
or its period written as cron times).  Zone names: zones.py; the spread's
offset and shifted cron times: spread.py.
"""

from __future__ import absolute_import, division, print_function

from .errors import ConfigError
from .slotvalue import SlotValue

MINUTE, HOUR, DAY, WEEK = 60, 3600, 86400, 604800
UNITS = (("w", WEEK), ("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1))


class Schedule(SlotValue):
    """A period in seconds or cron ``times`` (the times win when both are
    given), read in ``zone``, every tick shifted by ``offset`` seconds.
    Treat as immutable."""

    __slots__ = ("period", "times", "zone", "offset")

    def __init__(self, period=None, times=None, zone=None, offset=0):
        self.period = period
        self.times = times or None
        self.zone = zone or None  # the IANA zone of ``times`` (None: the machine's)
        self.offset = offset or 0  # seconds every tick is shifted (spread)

    def __repr__(self):
        extra = ""
        if self.times and self.zone:
            extra += ", zone=%r" % self.zone
        if self.offset:
            extra += ", offset=%r" % self.offset
        if self.times:
            return "Schedule(times=%r%s)" % (self.times, extra)
        return "Schedule(period=%r%s)" % (self.period, extra)

    @property
    def text(self):
        """How it is shown: the cron times, or the period (``1h30m``)."""
        return self.times or format_period(self.period)

    @property
    def reboot(self):
        return bool(self.times) and expression(self.times) is None

    def previous(self, now):
        """The latest tick ``<= now`` (epoch seconds), or None (``@reboot``)."""
        shift = self.offset
        if self.times:
            due = _cron_previous(self.times, self.zone, now - shift)
            return None if due is None else due + shift
        return int((now - shift) // self.period) * self.period + shift

    def following(self, now):
        """The first tick strictly after ``now`` (epoch seconds), or None."""
        shift = self.offset
        if self.times:
            due = _cron_following(self.times, self.zone, now - shift)
            return None if due is None else due + shift
        return (int((now - shift) // self.period) + 1) * self.period + shift

    def interval(self, after):
        """Seconds between the first two ticks after ``after``, or None."""
        if not self.times:
            return self.period
        first = self.following(after)
        second = first is not None and self.following(first)
        if not second:
            return None
        return second - first


def format_period(seconds):
    """3600 -> '1h', 5430 -> '1h30m30s'."""
    parts = []
    for unit, size in UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append("%d%s" % (count, unit))
    return "".join(parts) or "0s"


_MACHINE = []


def _tzinfo(zone):
    """The tzinfo to read cron times in (None: naive local time, when the
    machine's zone cannot be named)."""
    from zoneinfo import ZoneInfo

    from .zones import machine_zone

    if zone is None:
        if not _MACHINE:
            _MACHINE.append(machine_zone())
        zone = _MACHINE[0]
        if zone is None:
            return None
    return ZoneInfo(zone)


# -- cron times (cronsim, Python 3) --------------------------------------------


def expression(times):
    """Five cron fields for ``times`` (``@`` shortcuts spelled out by the one
    table, crontab/times.py); None for ``@reboot``."""
    from .crontab.times import expression  # its regular expressions: lazily

    return expression(times)


def evaluable(times):
    """The five fields cronsim evaluates for ``times``, the same ticks on
    every cronsim (crontab/times.py: ``0 0 31 2 mon`` is read as
    ``0 0 * 2 mon``, which cronsim 2.7 accepts); None for ``@reboot``."""
    from .crontab.times import evaluable

    return evaluable(times)


def problem(times):
    """Why ``times`` can never be evaluated or never matches, or None.

    ``0 0 31 2 *`` (the 31st of February) is valid field by field but
    never comes; cron would silently never run it.
    """
    expr = evaluable(times)
    if expr is None:
        return None
    from .crontab.times import NEVER, never_comes

    found = never_comes(expr)  # the one check, Python 2 too
    if found:
        return found
    from datetime import datetime

    try:
        from cronsim import CronSim, CronSimError
    except ImportError:  # Python 2 (ZServer sites): cronsim is Python 3 only
        return None

    try:
        next(iter(CronSim(expr, datetime.now())))
    except CronSimError as exc:
        if "day-of-month" in str(exc):
            return NEVER
        return "cannot be evaluated (%s)" % exc
    except StopIteration:
        return "never matches a date"
    return None


def _at(timestamp, tz):
    from datetime import datetime

    if tz is None:
        return datetime.fromtimestamp(timestamp)
    return datetime.fromtimestamp(timestamp, tz)


_MOST = 5000  # candidates looked at before a schedule is deemed never due


def _cron_following(times, zone, now):
    """The first instant strictly after ``now`` the times match, or None.

    Fixed minute and hour: cronsim reads them on the naive local clock and
    mends skipped times (Debian's rule); a tick equal to ``now``, or in a
    repeated hour the first occurrence (already past), is stepped over.
    Otherwise ``_matching_from`` (cronsim's own zone-aware stepping jumps
    a whole hour per hour, which misses ticks where a 30-minute shift
    ends, as on Lord Howe Island)."""
    expr = evaluable(times)
    if expr is None:
        return None
    from cronsim import CronSim, CronSimError

    tz = _tzinfo(zone)
    fields = expr.split()
    try:
        if tz is not None and (fields[0].startswith("*") or fields[1].startswith("*")):
            return _matching_from(expr, tz, int(now // 1) + 1)
        # Naive local time, or fixed minute and hour: cronsim's own rules.
        found = CronSim(expr, _at(now - now % 60, tz))
        for _ in range(_MOST):
            due = next(found).timestamp()
            if due > now:
                return due
        return None
    except (StopIteration, CronSimError):  # refused at build time anyway
        return None


def _matching_from(expr, tz, start):
    """The first instant ``>= start`` whose reading in ``tz`` matches ``expr``:
    cronsim on the naive clock, one stretch of constant UTC offset at a time."""
    from datetime import datetime, timedelta

    from cronsim import CronSim

    second = timedelta(seconds=1)
    for _ in range(_MOST):
        local = datetime.fromtimestamp(start, tz)
        offset = local.utcoffset()
        naive = next(CronSim(expr, local.replace(tzinfo=None) - second))
        due = _epoch(naive - offset)
        change = _offset_change(tz, start, due, offset)
        if change is None:
            return due
        start = change
    return None


def _epoch(naive_utc):
    from datetime import datetime

    return (naive_utc - datetime(1970, 1, 1)).total_seconds()


def _offset_change(tz, start, end, offset):
    """The first whole second in ``(start, end]`` where ``tz``'s UTC offset
    is no longer ``offset``, or None (offsets change at most every few
    weeks: looked at every 6 hours, then bisected)."""
    from datetime import datetime

    def differs(moment):
        return datetime.fromtimestamp(moment, tz).utcoffset() != offset

    low = start
    while low < end:
        high = min(low + 6 * 3600, end)
        if differs(high):
            while high - low > 1:
                middle = (low + high) // 2
                if differs(middle):
                    high = middle
                else:
                    low = middle
            return high
        low = high
    return None


def _cron_previous(times, zone, now, depth=0):
    """The latest instant ``<= now`` the times match, or None.

    cronsim's reverse search reads fixed times naively: next to a skipped
    hour it may answer the first instant after the gap (later than now),
    in a repeated hour an earlier day; the answer is mended with forward
    steps from a safe earlier start."""
    expr = evaluable(times)
    if expr is None:
        return None
    from cronsim import CronSim, CronSimError

    floor = now - now % 60
    try:
        due = next(
            CronSim(expr, _at(floor + 60, _tzinfo(zone)), reverse=True)
        ).timestamp()
    except (StopIteration, CronSimError):
        return None
    if due > now:
        if depth > 2:
            return None
        due = _cron_previous(times, zone, now - 3 * 3600, depth + 1)
        if due is None:
            return None
    for _ in range(_MOST):
        later = _cron_following(times, zone, due)
        if later is None or later > now:
            return due
        due = later
    return due


# -- the cron backend -------------------------------------------------------------


def period_to_cron(period):
    """The cron times that fire exactly every ``period`` seconds, or None.

    Minutes that divide an hour (``*/15 * * * *``), hours that divide a
    day (``0 */6 * * *``), one day (``0 0 * * *``) and one week
    (``0 0 * * 0``, like ``@weekly``).
    """
    if period == DAY:
        return "0 0 * * *"
    if period == WEEK:
        return "0 0 * * 0"
    if period % MINUTE:
        return None
    if period < HOUR and HOUR % period == 0:
        minutes = period // MINUTE
        return "* * * * *" if minutes == 1 else "*/%d * * * *" % minutes
    if period % HOUR == 0 and period < DAY and DAY % period == 0:
        hours = period // HOUR
        return "0 * * * *" if hours == 1 else "0 */%d * * *" % hours
    return None


def cron_times(job):
    """The cron times of ``job`` for the cron backend.

    ``times=`` is returned as given: the recipe has checked it already.
    """
    if job.times:
        return job.times
    times = period_to_cron(job.period)
    if times is None:
        raise ConfigError(
            "jobs",
            job.line,
            "a period of %d s cannot be written as a cron schedule" % job.period,
            "Cron can run a job every N minutes (N dividing 60), every N "
            "hours (N dividing 24), daily (1d) or weekly (1w). Add an "
            "explicit schedule, e.g. times='0 3 * * *', or use "
            "backend = runner, which runs any period.",
        )
    return times
