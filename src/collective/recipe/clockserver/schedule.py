"""When a job or entry is due: one Schedule value (a period, or cron times).

A Schedule answers ``previous(now)`` (the latest tick at or before now),
``following(now)`` (the first tick strictly after now) and
``interval(after)`` in epoch seconds.  A period ticks at epoch multiples;
cron times are evaluated by cronsim (the library healthchecks.io uses) in
the machine's local time, as cron reads them, imported only when a cron
schedule is evaluated (Python 3; the recipe's Python 2 path never does).
``@reboot`` has no ticks: every answer is None.  ``zone`` and ``offset``
are kept for a later issue (a time zone for ``times=``, a shifted tick)
and are None/0 today.

Also: the cron times that fire a job of the cron backend (its ``times=``,
or its period written as cron times).
"""

from __future__ import absolute_import, division, print_function

from .errors import ConfigError

MINUTE, HOUR, DAY, WEEK = 60, 3600, 86400, 604800
UNITS = (("w", WEEK), ("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1))


class Schedule(object):
    """A period in seconds or cron ``times`` (the times win when both are
    given).  Treat as immutable."""

    __slots__ = ("period", "times", "zone", "offset")

    def __init__(self, period=None, times=None, zone=None, offset=0):
        self.period = period
        self.times = times or None
        self.zone = zone  # reserved: the IANA zone of ``times`` (None: local)
        self.offset = offset  # seconds a period's ticks are shifted (0 today)

    def __eq__(self, other):
        return isinstance(other, Schedule) and self._key() == other._key()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (self.period, self.times, self.zone, self.offset)

    def __repr__(self):
        if self.times:
            return "Schedule(times=%r)" % self.times
        return "Schedule(period=%r)" % self.period

    @property
    def text(self):
        """How it is shown: the cron times, or the period (``1h30m``)."""
        return self.times or format_period(self.period)

    @property
    def reboot(self):
        return bool(self.times) and expression(self.times) is None

    def previous(self, now):
        """The latest tick ``<= now`` (epoch seconds), or None (``@reboot``)."""
        if self.times:
            return _cron_previous(self.times, now)
        shift = self.offset
        return int((now - shift) // self.period) * self.period + shift

    def following(self, now):
        """The first tick strictly after ``now`` (epoch seconds), or None."""
        if self.times:
            return _cron_following(self.times, now)
        shift = self.offset
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


# -- cron times (cronsim, Python 3) --------------------------------------------

def expression(times):
    """Five cron fields for ``times`` (``@`` shortcuts spelled out by the one
    table, crontab/times.py); None for ``@reboot``."""
    from .crontab.times import expression  # its regular expressions: lazily

    return expression(times)


def problem(times):
    """Why ``times`` can never be evaluated or never matches, or None.

    ``0 0 31 2 *`` (the 31st of February) is valid field by field but
    never comes; cron would silently never run it.
    """
    expr = expression(times)
    if expr is None:
        return None
    from .crontab.times import never_comes

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
            if expr.split()[4] != "*":
                # cron reads DOM and DOW restricted together as "either";
                # cronsim before 2.8 (the last for Python 3.10) refuses it.
                return ("cannot be evaluated by this cronsim (%s): a day-of-month "
                        "no month given has, with a day-of-week; Python 3.11+ "
                        "(cronsim 2.8) evaluates it, or leave the day-of-month "
                        "out" % exc)
            return ("never matches a date: no month given has that "
                    "day-of-month")
        return "cannot be evaluated (%s)" % exc
    except StopIteration:
        return "never matches a date"
    return None


def _floor_minute(timestamp):
    from datetime import datetime

    return datetime.fromtimestamp(timestamp).replace(second=0, microsecond=0)


def _cron_previous(times, now):
    expr = expression(times)
    if expr is None:
        return None
    from datetime import timedelta

    from cronsim import CronSim, CronSimError

    start = _floor_minute(now) + timedelta(minutes=1)
    try:
        return next(iter(CronSim(expr, start, reverse=True))).timestamp()
    except (StopIteration, CronSimError):  # refused at build time anyway
        return None


def _cron_following(times, now):
    expr = expression(times)
    if expr is None:
        return None
    from cronsim import CronSim, CronSimError

    try:
        due = next(iter(CronSim(expr, _floor_minute(now)))).timestamp()
        # cronsim starts from the minute; a tick equal to now is not "after".
        while due <= now:
            due = _cron_following(times, due)
            if due is None:
                return None
        return due
    except (StopIteration, CronSimError):
        return None


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
            "jobs", job.line,
            "a period of %d s cannot be written as a cron schedule" % job.period,
            "Cron can run a job every N minutes (N dividing 60), every N "
            "hours (N dividing 24), daily (1d) or weekly (1w). Add an "
            "explicit schedule, e.g. times='0 3 * * *', or use "
            "backend = runner, which runs any period.",
        )
    return times
