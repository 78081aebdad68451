"""What the records say: each name's state, by the rules below (the
``bin/<part> status`` command shows it, statusview.py; metrics.py turns the
same states into the metrics file).

States, in order of precedence: ``overdue`` (the first tick after the last
run that served it, or after the name was first seen, is more than grace
in the past; or a run goes on longer than one interval plus grace; both
allow HELD_BACK more while ``run`` goes on, as its records may lag so much),
``failing`` (the last run failed), ``running``, ``waiting`` (never ran,
nothing due yet), ``ok``; ``unknown`` when the record cannot be read.
Exit statuses follow the monitoring-plugin convention: 0 OK, 1 WARNING
(failing), 2 CRITICAL (overdue, or 3 failures in a row), 3 UNKNOWN.
"""

from datetime import datetime, timezone

from ..schedule import Schedule
from .records import HELD_BACK, KEEP, Records, Refused, StoreError, Unreadable

STATES = ("overdue", "failing", "running", "waiting", "unknown", "ok")
PRECEDENCE = ("overdue", "failing", "running", "waiting", "ok")
MAX_DEFAULT_GRACE = 3600
CRITICAL_FAILURES = 3
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LABELS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


class Watched:
    """A job or monitored entry and its schedule (a plain class: status
    and metrics are imported by fire and exec, dataclasses is slow to)."""

    __slots__ = (
        "name",
        "kind",
        "period",
        "times",
        "grace",
        "catch_up",
        "zone",
        "offset",
        "_schedule",
    )

    def __init__(
        self,
        name,
        kind,
        period=None,
        times=None,
        grace=None,
        catch_up=False,
        zone=None,
        offset=0,
    ):
        self.name = name
        self.kind = kind  # "job" or "entry"
        self.period = period  # epoch-aligned period (runner backend)
        self.times = times  # cron schedule (cron jobs, entries)
        self.grace = grace
        self.catch_up = catch_up
        self.zone = zone  # the IANA zone of times (None: the machine's)
        self.offset = offset  # the spread's shift of every tick
        self._schedule = Schedule(period, times, zone, offset)

    def __repr__(self):
        return f"Watched({self.name!r}, {self.kind!r}, {self.period!r}, {self.times!r})"

    def __eq__(self, other):
        return isinstance(other, Watched) and all(
            getattr(self, key) == getattr(other, key) for key in self.__slots__[:-1]
        )

    __hash__ = None

    @property
    def schedule(self):
        return self._schedule.text

    @property
    def reboot(self):
        return self._schedule.reboot

    def previous(self, now):
        """The latest tick at or before ``now``, or None."""
        return self._schedule.previous(now)

    def following(self, now):
        """The first tick strictly after ``now``, or None."""
        return self._schedule.following(now)

    def interval(self, after):
        return self._schedule.interval(after)


def watched(config):
    """What ``status`` covers: jobs the clock or cron call, and monitored
    entries (ZServer calls its jobs itself: entries only)."""
    found = []
    if config.backend != "zserver":
        for job in config.jobs:
            catch_up = config.catch_up if job.catch_up is None else job.catch_up
            found.append(
                Watched(
                    job.name,
                    "job",
                    job.period,
                    job.times,
                    job.grace,
                    catch_up,
                    job.timezone,
                    job.offset,
                )
            )
    for entry in config.entries:
        found.append(Watched(entry.name, "entry", None, entry.times, entry.grace))
    return found


def grace_of(watch, config, now):
    if watch.grace is not None:
        return watch.grace
    if config.grace is not None:
        return config.grace
    interval = watch.interval(now)
    return min(interval, MAX_DEFAULT_GRACE) if interval else MAX_DEFAULT_GRACE


def served(run):
    """Whether a run counts against overdue: it ran, or another host had it."""
    if run["result"] in ("ok", "failed"):
        return True
    return str(run.get("reason", "")).startswith("claimed by")


def decisive(run):
    """Whether a run decides ok/failing (skips for overlap or a claim do not)."""
    if run["result"] in ("ok", "failed"):
        return True
    reason = str(run.get("reason", ""))
    return not (reason == "still running" or reason.startswith("claimed by"))


def assess(watch, record, config, now, lag=0):
    """The state of one name, as a dict (the JSON of ``status``); ``lag``:
    the seconds by which the record may lag behind the runs."""
    info = {
        "name": watch.name,
        "kind": watch.kind,
        "schedule": watch.schedule,
        "state": "unknown",
        "critical": False,
        "reason": "",
        "last_run": None,
        "last_success": None,
        "consecutive_failures": 0,
        "next_due": watch.following(now),
        "first_seen": None,
        "running": [],
        "runs": [],
        "totals": {"ok": 0, "failed": 0, "skipped": 0},
        "grace": grace_of(watch, config, now),
    }
    if isinstance(record, Unreadable):
        info["reason"] = str(record)
        return info
    if record is None:
        info["reason"] = (
            "no record yet: bin/buildout creates it (or the state "
            "directory was removed)"
        )
        return info
    runs = record["runs"]
    info.update(
        first_seen=record["first_seen"],
        runs=runs,
        last_run=runs[-1] if runs else None,
        last_success=record.get("last_success"),
        consecutive_failures=record["consecutive_failures"],
        running=record["running"],
        last_finished=record.get("last_finished"),
        totals={
            key: record["totals"].get(key, 0) for key in ("ok", "failed", "skipped")
        },
    )
    grace = info["grace"]
    states = set()
    last_served = (
        record["last_served"]
        if "last_served" in record
        else next((run for run in reversed(runs) if served(run)), None)
    )
    if not watch.reboot:
        since = last_served["start"] if last_served else record["first_seen"]
        tick = watch.following(since)
        interval = watch.interval(now)
        # A run in progress that started on time serves its tick: the
        # name is running, not overdue, until one interval plus grace.
        on_time = [
            entry
            for entry in record["running"]
            if tick is not None
            and entry.get("start") is not None
            and since < entry["start"] <= tick + grace
        ]
        if tick is not None and now > tick + grace + lag and not on_time:
            states.add("overdue")
            info["reason"] = f"the tick due at {table_time(tick)} UTC did not run"
        for entry in record["running"]:
            if interval and now - entry.get("start", now) > interval + grace + lag:
                states.add("overdue")
                info["reason"] = (
                    f"a run started at {table_time(entry['start'])} UTC "
                    "is still going on"
                )
    last_decisive = (
        record["last_decisive"]
        if "last_decisive" in record
        else next((run for run in reversed(runs) if decisive(run)), None)
    )
    if last_decisive is not None and last_decisive["result"] != "ok":
        states.add("failing")
        if not info["reason"]:
            info["reason"] = str(last_decisive.get("reason") or "failed")
    if record["running"]:
        states.add("running")
    if last_served is None and not states:
        states.add("waiting")
    state = next((s for s in PRECEDENCE if s in states), "ok")
    info["state"] = state
    info["critical"] = (
        "overdue" in states or info["consecutive_failures"] >= CRITICAL_FAILURES
    )
    return info


def collect(config, names=None, now=None, runs=KEEP, records=None):
    """Assess every watched name (or those in ``names``; with their last
    ``runs`` runs, None: all kept); raises Unreadable when the state
    directory or the store cannot be read."""
    import os
    import time

    now = time.time() if now is None else now
    directory = config.state_directory
    if not directory:
        raise Unreadable("the config file names no state directory; run bin/buildout")
    if not os.path.lexists(directory):
        raise Unreadable(
            f"the state directory {directory} does not exist; run bin/buildout"
        )
    mine = records is None
    if mine:
        records = Records(directory, config.secrets, part=config.part)
    found = []
    try:
        lag = HELD_BACK if records.clock_running() else 0
        for watch in watched(config):
            if names is not None and watch.name not in names:
                continue
            record = records.read(watch.name, runs)
            found.append(assess(watch, record, config, now, lag))
    except Refused as exc:
        raise Unreadable(f"not reading the records: {exc}") from None
    except PermissionError:
        raise Unreadable(
            f"cannot read the state directory {directory} "
            "(run it as the user that runs the jobs)"
        ) from None
    except OSError as exc:
        raise Unreadable(
            f"cannot read the state directory {directory}: {exc.strerror or exc}"
        ) from None
    finally:
        if mine:
            records.close()
    return found


def damaged_stores(config):
    """The damaged records stores moved aside and not yet removed."""
    if not config.state_directory:
        return []
    records = Records(config.state_directory, part=config.part)
    try:
        return records.damaged_stores()
    except (OSError, StoreError):
        return []
    finally:
        records.close()


def exit_status(infos):
    if any(info["critical"] for info in infos):
        return CRITICAL
    if any(info["state"] == "failing" for info in infos):
        return WARNING
    if any(info["state"] == "unknown" for info in infos):
        return UNKNOWN
    return OK


def counts(infos):
    found = dict.fromkeys(STATES, 0)
    for info in infos:
        found[info["state"]] += 1
    return found


def table_time(timestamp):
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
