"""How times and periods are shown (and the due time of a period)."""

from datetime import datetime, timezone

from ..schedule import Schedule, format_period  # noqa: F401


def next_due(period, now):
    """The first epoch multiple of ``period`` strictly after ``now``."""
    return Schedule(period=period).following(now)


def utc(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def local(timestamp):
    return (
        datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    )
