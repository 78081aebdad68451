"""``bin/<part> list``: each job's schedule, zone and next times (never a password)."""

from datetime import datetime, timezone

from .retry import retries_of
from .text import columns
from .timefmt import format_period, utc

SHOWN = 3  # next times per job


def schedule_text(job):
    """``3600 (1h)``, or the cron times; ``+7m30s`` for the spread's offset."""
    if job.times:
        text = job.times
    else:
        text = f"{job.period} ({format_period(job.period)})"
    if job.offset:
        text += f" +{format_period(int(job.offset))}"
    return text


def zone_of(job):
    """The zone a job's times are read in: its own, else the machine's
    (a period's ticks are the same instants in every zone: they are shown
    in the machine's)."""
    if job.times and job.timezone:
        return job.timezone
    from ..zones import machine_zone

    return machine_zone() or "local"


def in_zone(timestamp, zone):
    try:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(zone)
    except Exception:
        tz = None
    moment = datetime.fromtimestamp(timestamp, tz or timezone.utc)
    if tz is None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def next_times(job, now, count=SHOWN):
    found = []
    due = now
    for _ in range(count):
        due = job.schedule.following(due)
        if due is None:
            break
        found.append(due)
    return found


def listing(config, now):
    """The lines of ``bin/<part> list``."""
    if config.backend == "zserver":
        names = ", ".join(entry.name for entry in config.entries) or "(none)"
        return [
            f"{config.part}: ZServer calls the {len(config.jobs)} job(s) of this part "
            f"itself; monitored crontab entries: {names} (see status)"
        ]
    rows = [
        (
            "NAME",
            "SCHEDULE",
            "ZONE",
            "NEXT (UTC)",
            "NEXT (IN ZONE)",
            "THEN (UTC)",
            "TIMEOUT",
            "RETRIES",
            "HOST",
            "USER",
            "METHOD",
        )
    ]
    for job in config.jobs:
        zone = zone_of(job)
        due = next_times(job, now)
        rows.append(
            (
                job.name,
                schedule_text(job),
                zone if job.times else "-",
                utc(due[0]) if due else "never",
                in_zone(due[0], zone) if due else "-",
                ", ".join(utc(t) for t in due[1:]) or "-",
                f"{job.timeout or config.timeout:g}s",
                str(retries_of(config, job)),
                job.host or config.netloc or "-",
                job.user if job.authenticated else "Anonymous",
                job.method,
            )
        )
    if not config.jobs:  # a part of crontab entries only (no address)
        return [f"{config.part}: no jobs (crontab entries only: see status)"]
    head = (
        f"{config.part}: {len(config.jobs)} job(s) calling {config.address} "
        f"(timeout {config.timeout:g} s, retries {config.retries}, "
        f"concurrency {config.concurrency})"
    )
    return [head] + columns(rows)
