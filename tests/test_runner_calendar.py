"""The clock with calendar jobs (``times=`` in a zone, ``spread``): in
simulated time across daylight-saving jumps, and once through a real
``bin/<part> run`` with a job a minute ahead in a zone that is not the
machine's, called on time and recorded with its tick (issue 18)."""

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from collective.recipe.clockserver.runner.clock import Clock
from collective.recipe.clockserver.runner.config import load_config
from collective.recipe.clockserver.runner.status import watched
from collective.recipe.clockserver.schedule import Schedule
from runnerparts import wait_for
from simtime import FakeTime, ListLog
from test_runner_clock import Recorder, write_config


def at(text, zone):
    return (
        datetime.strptime(text, "%Y-%m-%d %H:%M")
        .replace(tzinfo=ZoneInfo(zone))
        .timestamp()
    )


def simulate(tmp_path, jobs, start, until, **extra):
    fake = FakeTime(start)
    calls = []
    log = ListLog()
    config = load_config(
        write_config(tmp_path / "clock.json", "http://127.0.0.1:1", jobs, **extra)
    )
    observer = Recorder(fake)
    clock = Clock(
        config, log=log, observer=observer, clock=fake, call=fake.answer(calls=calls)
    )
    fake.run(clock, until)
    return calls, observer.events, config


def local(stamps, zone):
    return [
        datetime.fromtimestamp(t, ZoneInfo(zone)).strftime("%m-%d %H:%M%z")
        for t in stamps
    ]


def test_clock_calls_calendar_jobs_at_their_instants_across_the_jumps(tmp_path):
    """Lord Howe Island, 4 October 2026: 02:00 jumps to 02:30.  A fixed
    02:15 is called once at 02:30; '*/15 2' only at the real 02:30, 02:45;
    an hourly period job with an offset keeps its epoch rhythm."""
    zone = "Australia/Lord_Howe"
    jobs = [
        {
            "name": "fixed",
            "method": "/fixed",
            "period": None,
            "times": "15 2 * * *",
            "timezone": zone,
        },
        {
            "name": "starred",
            "method": "/starred",
            "period": 3600,
            "times": "*/15 2 * * *",
            "timezone": zone,
        },
        {"name": "hourly", "method": "/hourly", "period": 3600, "offset": 420},
    ]
    start = at("2026-10-04 01:00", zone)
    calls, events, _ = simulate(tmp_path, jobs, start, start + 3 * 3600)
    by_name = {}
    for name, when in calls:
        by_name.setdefault(name, []).append(when)
    assert local(by_name["fixed"], zone) == ["10-04 02:30+1100"]
    assert local(by_name["starred"], zone) == ["10-04 02:30+1100", "10-04 02:45+1100"]
    assert [(t - 420) % 3600 for t in by_name["hourly"]] == [0, 0, 0]
    # The observer (records, claims) gets the same UTC instant as the tick.
    assert [
        due for kind, name, due, _ in events if kind == "started" and name == "fixed"
    ] == by_name["fixed"]


def test_clock_calls_a_repeated_hour_once_or_twice(tmp_path):
    """Amsterdam, 25 October 2026: 02:00-03:00 comes twice."""
    zone = "Europe/Amsterdam"
    jobs = [
        {
            "name": "fixed",
            "method": "/fixed",
            "period": None,
            "times": "30 2 * * *",
            "timezone": zone,
        },
        {
            "name": "starred",
            "method": "/starred",
            "period": None,
            "times": "30 * * * *",
            "timezone": zone,
        },
    ]
    start = at("2026-10-25 01:45", zone)
    calls, _, _ = simulate(tmp_path, jobs, start, start + 3 * 3600)
    assert local([t for n, t in calls if n == "fixed"], zone) == ["10-25 02:30+0200"]
    assert local([t for n, t in calls if n == "starred"], zone) == [
        "10-25 02:30+0200",
        "10-25 02:30+0100",
        "10-25 03:30+0100",
    ]


def kolkata_night(tmp_path, **keys):
    """The config of one job 'night' due at 03:00 Asia/Kolkata time."""
    night = {
        "name": "night",
        "method": "/n",
        "period": None,
        "times": "0 3 * * *",
        "timezone": "Asia/Kolkata",
    }
    return load_config(
        write_config(
            tmp_path / "clock.json", "http://127.0.0.1:1", [dict(night, **keys)]
        )
    )


def test_status_next_due_of_a_calendar_job_is_its_utc_instant(tmp_path):
    [watch] = watched(kolkata_night(tmp_path, offset=90))
    now = at("2026-07-01 12:00", "UTC")
    assert watch.following(now) == at("2026-07-02 03:00", "Asia/Kolkata") + 90
    assert watch.previous(now) == at("2026-07-01 03:00", "Asia/Kolkata") + 90
    assert watch.interval(now) == 86400


def test_bad_calendar_keys_in_the_config_file(tmp_path):
    import pytest

    from collective.recipe.clockserver.runner.config import BadConfig

    for job, problem in [
        ({"times": "0 3 * * *", "timezone": "Nowhere/Land"}, "IANA time zone"),
        ({"retries": 11}, "retries must be a whole number from 0 to 10"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"period": None}, "'period' is missing"),
        ({"offset": -5}, "offset must be a number of seconds"),
    ]:
        raw = dict({"name": "j", "method": "/j", "period": 60}, **job)
        with pytest.raises(BadConfig, match=problem):
            load_config(write_config(tmp_path / "c.json", "http://127.0.0.1:1", [raw]))


def test_real_run_calls_a_calendar_job_a_minute_ahead_in_another_zone(
    server, part_factory
):
    """bin/<part> run on a machine in UTC, a job written in Kathmandu's
    time (UTC+05:45): called within a second of its minute, recorded with
    that tick, shown as next due by status."""
    zone = "Asia/Kathmandu"
    now = datetime.now(timezone.utc).timestamp()
    due = now - now % 60 + 60
    if due - now < 3:  # too close to write the file and start: the minute after
        due += 60
    reading = datetime.fromtimestamp(due, ZoneInfo(zone))
    times = "%d %d %d %d *" % (reading.minute, reading.hour, reading.day, reading.month)
    part = part_factory(
        server.address,
        [
            {
                "name": "kathmandu",
                "method": "/kathmandu",
                "period": None,
                "times": times,
                "timezone": zone,
            }
        ],
    )
    process = part.start()
    try:
        arrived = wait_for(
            lambda: [t for t, p in server.requests if p == "/kathmandu"],
            "the calendar call",
            timeout=due - now + 30,
        )
    finally:
        out = part.stop(process)
    assert due <= arrived[0] < due + 2, out
    assert (
        'Clock server for "/kathmandu" started (user: zopeuser, times: %s (%s))'
        % (times, zone)
        in out
    )
    [run] = [r for r in part.record("kathmandu")["runs"] if r["result"] == "ok"]
    assert run["due"] == due
    states, _ = part.states()
    assert states["kathmandu"]["next_due"] == Schedule(
        times=times, zone=zone
    ).following(due)
    assert states["kathmandu"]["next_due"] >= due + 365 * 86400
    assert json.dumps(states["kathmandu"]["schedule"]) == json.dumps(times)


def test_list_shows_schedule_zone_and_next_times(tmp_path, capsys):
    from collective.recipe.clockserver.runner.cli import main

    path = write_config(
        tmp_path / "clock.json",
        "http://127.0.0.1:8080",
        [
            {
                "name": "feed",
                "method": "/feed",
                "period": 3600,
                "offset": 420,
                "user": "u",
                "password": "s3cr3t-pw",
            },
            {
                "name": "night",
                "method": "/night",
                "period": None,
                "times": "30 2 * * *",
                "timezone": "Australia/Lord_Howe",
                "timeout": 3600,
                "retries": 0,
            },
        ],
        retries=2,
    )
    assert main(path, ["list"]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t-pw" not in out
    assert "(timeout 30 s, retries 2, concurrency 4)" in out.splitlines()[0]
    feed = next(line for line in out.splitlines() if line.startswith("feed "))
    night = next(line for line in out.splitlines() if line.startswith("night "))
    assert "3600 (1h) +7m" in feed and ":07:00Z" in feed and " 30s " in feed
    words = night.split()
    assert words[1:7] == ["30", "2", "*", "*", "*", "Australia/Lord_Howe"]
    assert ":30:00Z" in words[7] and words[9] == "02:30:00"
    assert " 3600s " in night and " 0 " in night and "Anonymous" in night
    assert (
        night.count("T15:30:00Z") == 3
        or night.count("T16:00:00Z") + night.count("T15:30:00Z") == 3
    )  # the next three, in UTC (Lord Howe: +10:30 or +11)


def test_two_hosts_with_spread_and_a_lock_call_each_tick_once(tmp_path, monkeypatch):
    """Two hosts build the same part in different directories (and zones):
    the lock namespace gives both the same offset, so their ticks meet in
    the claim and each tick is called once (a shared in-memory claim stands
    in for the lock service; simulated time)."""
    from test_settings import read

    options = (
        "backend = runner\naddress = 8080\nspread = 1h\ntimezone = Europe/Amsterdam\n"
        "lock = redis://127.0.0.1:6379/0\nlock-namespace = site-a\n"
        "jobs = /feeds 15m\n    /nightly - times='0 3 * * *'\n"
    )
    configs = []
    for host, zone in (("host1", "UTC"), ("host2", "Asia/Tokyo")):
        monkeypatch.setenv("TZ", zone)
        data = read(tmp_path / host, options).to_json()
        configs.append(
            write_config(
                tmp_path / host / "clock.json", "http://127.0.0.1:1", data["jobs"]
            )
        )
    claimed = {}
    called = []
    start = at("2026-03-28 12:00", "UTC")
    for number, path in enumerate(configs):
        config = load_config(path)
        fake = FakeTime(start)

        def claim(job, due, host=number):
            return (
                None
                if claimed.setdefault((job.name, due), host) == host
                else f"claimed by host{claimed[(job.name, due)] + 1}"
            )

        def answer(config, job, fake=fake, host=number):
            called.append((host, job.name, fake.time()))
            from collective.recipe.clockserver.runner.call import Outcome

            return Outcome(0, 200, "OK")

        clock = Clock(config, log=ListLog(), clock=fake, call=answer, claim=claim)
        fake.run(clock, start + 26 * 3600)
    by_host = [
        [(name, when) for host, name, when in called if host == n] for n in (0, 1)
    ]
    assert by_host[0] and not by_host[1]  # the second host found every tick claimed
    nightly = [when for name, when in by_host[0] if name == "nightly"]
    assert len(nightly) == 1  # 03:00 Amsterdam (the day of the jump) + the offset
    feeds = [when for name, when in by_host[0] if name == "feeds"]
    assert len(feeds) == len(set(feeds)) == 26 * 4


def test_overdue_of_a_calendar_job_counts_from_its_utc_tick(tmp_path):
    """A job due at 03:00 Kolkata time (21:30 UTC the day before), grace
    defaulting to one interval at most 1 h: waiting before the tick, ok
    within grace, overdue after it, and the reason names the UTC tick."""
    from collective.recipe.clockserver.runner.status import assess

    config = kolkata_night(tmp_path)
    [watch] = watched(config)
    tick = at("2026-07-02 03:00", "Asia/Kolkata")
    record = {
        "first_seen": tick - 7200,
        "runs": [],
        "running": [],
        "consecutive_failures": 0,
        "totals": {},
        "last_success": None,
    }
    assert assess(watch, record, config, tick - 60)["state"] != "overdue"
    assert assess(watch, record, config, tick + 3500)["state"] != "overdue"
    late = assess(watch, record, config, tick + 3700)
    assert late["grace"] == 3600 and late["state"] == "overdue"
    assert "2026-07-01 21:30:00 UTC did not run" in late["reason"]
    served = dict(
        record,
        runs=[
            {
                "due": tick,
                "start": tick + 1,
                "duration": 0.1,
                "result": "ok",
                "reason": "200 OK",
            }
        ],
    )
    assert assess(watch, served, config, tick + 3700)["state"] == "ok"
