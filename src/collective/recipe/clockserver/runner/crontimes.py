"""Cron schedules by their times alone: the names status and tests call,
answered by the one Schedule (schedule.py)."""

from ..schedule import Schedule, expression, problem  # noqa: F401


def previous(times, now):
    """The latest tick ``<= now`` (epoch seconds), or None (``@reboot``)."""
    return Schedule(times=times).previous(now)


def following(times, now):
    """The first tick strictly after ``now`` (epoch seconds), or None."""
    return Schedule(times=times).following(now)


def interval(times, after):
    """Seconds between the first two ticks after ``after``, or None."""
    return Schedule(times=times).interval(after)
