"""Cron schedules: the latest tick at or before now, the next one, the interval.

Evaluation is cronsim's (the library healthchecks.io uses), imported only
when a cron schedule is evaluated, so ``fire`` of a period job and the
recipe's ZServer path never load it.  Times are the machine's local time,
as cron reads them.  ``@reboot`` has no ticks: every function returns None.
"""

from datetime import datetime, timedelta

from ..crontab.times import expression


def problem(times):
    """Why ``times`` can never be evaluated or never matches, or None.

    ``0 0 31 2 *`` (the 31st of February) is valid field by field but
    never comes; cron would silently never run it.
    """
    expr = expression(times)
    if expr is None:
        return None
    from cronsim import CronSim, CronSimError

    try:
        next(iter(CronSim(expr, datetime.now())))
    except CronSimError as exc:
        if "day-of-month" in str(exc):
            return ("never matches a date: no month given has that "
                    "day-of-month")
        return f"cannot be evaluated ({exc})"
    except StopIteration:
        return "never matches a date"
    return None


def _floor_minute(timestamp):
    return datetime.fromtimestamp(timestamp).replace(second=0, microsecond=0)


def previous(times, now):
    """The latest tick ``<= now`` (epoch seconds), or None (``@reboot``)."""
    expr = expression(times)
    if expr is None:
        return None
    from cronsim import CronSim, CronSimError

    start = _floor_minute(now) + timedelta(minutes=1)
    try:
        return next(iter(CronSim(expr, start, reverse=True))).timestamp()
    except (StopIteration, CronSimError):  # refused at build time anyway
        return None


def following(times, now):
    """The first tick strictly after ``now`` (epoch seconds), or None."""
    expr = expression(times)
    if expr is None:
        return None
    from cronsim import CronSim, CronSimError

    try:
        due = next(iter(CronSim(expr, _floor_minute(now)))).timestamp()
        # cronsim starts from the minute; a tick equal to now is not "after".
        while due <= now:
            due = following(times, due)
            if due is None:
                return None
        return due
    except (StopIteration, CronSimError):
        return None


def interval(times, after):
    """Seconds between the first two ticks after ``after``, or None."""
    first = following(times, after)
    second = first is not None and following(times, first)
    if not second:
        return None
    return second - first
