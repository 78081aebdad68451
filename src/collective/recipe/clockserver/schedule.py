"""A job's cron schedule: ``times=`` as given, or derived from its period."""

from .errors import ConfigError

MINUTE, HOUR, DAY, WEEK = 60, 3600, 86400, 604800


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
