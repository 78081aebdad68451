"""Due times and how times and periods are shown."""

from datetime import datetime, timezone


def next_due(period, now):
    """The first epoch multiple of ``period`` strictly after ``now``."""
    return (int(now // period) + 1) * period


def format_period(seconds):
    """3600 -> '1h', 5430 -> '1h30m30s'."""
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def utc(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def local(timestamp):
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


