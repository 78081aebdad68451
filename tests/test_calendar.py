"""Calendar schedules (schedule.py): ``times=`` read in a time zone with
Debian cron's daylight-saving rules, leap days, month ends, ``@monthly``,
the spread's offset; properties with Hypothesis.

Zones: Europe/Amsterdam (northern, one-hour jumps at 01:00 UTC),
Australia/Sydney (southern: the clocks go back in April), and
Australia/Lord_Howe (a 30-minute daylight-saving shift), America/New_York.
All pure: no clock, no waiting.
"""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collective.recipe.clockserver import spread, zones
from collective.recipe.clockserver.schedule import Schedule

UTC = timezone.utc


def at(text, zone="UTC"):
    """'2026-03-29 01:59' read in ``zone`` (first occurrence) -> epoch seconds."""
    return (
        datetime.strptime(text, "%Y-%m-%d %H:%M")
        .replace(tzinfo=ZoneInfo(zone))
        .timestamp()
    )


def ticks(sched, start, end):
    """The ticks in (start, end], by following()."""
    found = []
    due = sched.following(start)
    while due is not None and due <= end:
        found.append(due)
        due = sched.following(due)
    return found


def shown(stamps, zone):
    return [
        datetime.fromtimestamp(t, ZoneInfo(zone)).strftime("%m-%d %H:%M%z")
        for t in stamps
    ]


def day(sched, zone, date):
    """The ticks of one local day (with an hour either side), shown in the zone."""
    start = at(date + " 00:00", zone) - 3600
    return shown(ticks(sched, start, start + 26 * 3600), zone)


# -- daylight saving, zone by zone ---------------------------------------------------

CASES = [
    # zone, times, local date, the ticks shown in the zone
    # Amsterdam, spring: 02:00-03:00 does not exist.
    ("Europe/Amsterdam", "30 2 * * *", "2026-03-29", ["03-29 03:00+0200"]),
    ("Europe/Amsterdam", "0 2 * * *", "2026-03-29", ["03-29 03:00+0200"]),
    ("Europe/Amsterdam", "*/30 2 * * *", "2026-03-29", []),
    (
        "Europe/Amsterdam",
        "30 * * * *",
        "2026-03-29",
        ["03-29 %02d:30+0100" % h for h in (0, 1)]
        + ["03-29 %02d:30+0200" % h for h in range(3, 24)],
    ),
    # Amsterdam, autumn: 02:00-03:00 comes twice.
    ("Europe/Amsterdam", "30 2 * * *", "2026-10-25", ["10-25 02:30+0200"]),
    (
        "Europe/Amsterdam",
        "*/30 2 * * *",
        "2026-10-25",
        [
            "10-25 02:00+0200",
            "10-25 02:30+0200",
            "10-25 02:00+0100",
            "10-25 02:30+0100",
        ],
    ),
    (
        "Europe/Amsterdam",
        "15 */2 * * *",
        "2026-10-25",
        [
            "10-25 00:15+0200",
            "10-25 02:15+0200",
            "10-25 02:15+0100",
            "10-25 04:15+0100",
            "10-25 06:15+0100",
            "10-25 08:15+0100",
            "10-25 10:15+0100",
            "10-25 12:15+0100",
            "10-25 14:15+0100",
            "10-25 16:15+0100",
            "10-25 18:15+0100",
            "10-25 20:15+0100",
            "10-25 22:15+0100",
        ],
    ),
    # Sydney (southern): the clocks go forward in October, back in April.
    ("Australia/Sydney", "30 2 * * *", "2026-10-04", ["10-04 03:00+1100"]),
    ("Australia/Sydney", "30 2 * * *", "2026-04-05", ["04-05 02:30+1100"]),
    (
        "Australia/Sydney",
        "0,30 2 * * *",
        "2026-04-05",
        ["04-05 02:00+1100", "04-05 02:30+1100"],
    ),
    (
        "Australia/Sydney",
        "*/30 2 * * *",
        "2026-04-05",
        [
            "04-05 02:00+1100",
            "04-05 02:30+1100",
            "04-05 02:00+1000",
            "04-05 02:30+1000",
        ],
    ),
    # Lord Howe: a 30-minute shift. October: 02:00-02:30 does not exist.
    ("Australia/Lord_Howe", "15 2 * * *", "2026-10-04", ["10-04 02:30+1100"]),
    ("Australia/Lord_Howe", "45 2 * * *", "2026-10-04", ["10-04 02:45+1100"]),
    (
        "Australia/Lord_Howe",
        "*/15 2 * * *",
        "2026-10-04",
        ["10-04 02:30+1100", "10-04 02:45+1100"],
    ),
    # April: 01:30-02:00 comes twice.
    ("Australia/Lord_Howe", "45 1 * * *", "2026-04-05", ["04-05 01:45+1100"]),
    (
        "Australia/Lord_Howe",
        "*/15 1 * * *",
        "2026-04-05",
        [
            "04-05 01:00+1100",
            "04-05 01:15+1100",
            "04-05 01:30+1100",
            "04-05 01:45+1100",
            "04-05 01:30+1030",
            "04-05 01:45+1030",
        ],
    ),
    # New York, where the jump is at 02:00 local.
    ("America/New_York", "30 2 * * *", "2026-03-08", ["03-08 03:00-0400"]),
    ("America/New_York", "30 1 * * *", "2026-11-01", ["11-01 01:30-0400"]),
]


@pytest.mark.parametrize(
    "zone, times, date, expected",
    CASES,
    ids=["%s %s %s" % (z.split("/")[-1], t, d) for z, t, d, _ in CASES],
)
def test_daylight_saving_follows_debian_cron(zone, times, date, expected):
    sched = Schedule(times=times, zone=zone)
    found = [t for t in day(sched, zone, date) if t.startswith(date[5:])]
    assert found == expected


def test_previous_agrees_with_following_across_the_transitions():
    for zone, times, date, _ in CASES:
        sched = Schedule(times=times, zone=zone)
        start = at(date + " 00:00", zone) - 3600
        for due in ticks(sched, start, start + 26 * 3600):
            assert sched.previous(due) == due
            assert sched.previous(due - 1) < due
            assert sched.following(due - 1) == due


def test_a_zone_other_than_the_machine_s_changes_the_instant():
    utc = Schedule(times="0 3 * * *", zone="UTC")
    amsterdam = Schedule(times="0 3 * * *", zone="Europe/Amsterdam")
    now = at("2026-07-01 12:00")
    assert utc.following(now) - amsterdam.following(now) == 2 * 3600


# -- leap days, month ends, shortcuts -----------------------------------------------


def test_leap_day_comes_every_four_years():
    sched = Schedule(times="0 12 29 2 *", zone="Europe/Amsterdam")
    first = sched.following(at("2026-01-01 00:00"))
    assert shown([first, sched.following(first)], "Europe/Amsterdam") == [
        "02-29 12:00+0100",
        "02-29 12:00+0100",
    ]
    assert datetime.fromtimestamp(first, UTC).year == 2028
    assert datetime.fromtimestamp(sched.following(first), UTC).year == 2032


def test_the_31st_skips_short_months():
    sched = Schedule(times="0 0 31 * *", zone="Australia/Sydney")
    found = ticks(
        sched,
        at("2026-01-01 00:00", "Australia/Sydney"),
        at("2026-12-31 12:00", "Australia/Sydney"),
    )
    months = [
        datetime.fromtimestamp(t, ZoneInfo("Australia/Sydney")).month for t in found
    ]
    assert months == [1, 3, 5, 7, 8, 10, 12]


def test_monthly_is_local_midnight_on_the_first_across_daylight_saving():
    sched = Schedule(times="@monthly", zone="Australia/Sydney")
    found = ticks(sched, at("2026-03-15 00:00"), at("2026-11-15 00:00"))
    assert shown(found, "Australia/Sydney") == [
        "04-01 00:00+1100",
        "05-01 00:00+1000",
        "06-01 00:00+1000",
        "07-01 00:00+1000",
        "08-01 00:00+1000",
        "09-01 00:00+1000",
        "10-01 00:00+1000",
        "11-01 00:00+1100",
    ]
    assert sched.interval(at("2026-04-15 00:00")) == 31 * 86400


def test_february_29_in_a_leap_year_with_last_day_schedules():
    sched = Schedule(times="30 23 28,29 2 *", zone="America/New_York")
    found = ticks(sched, at("2028-02-01 00:00"), at("2028-03-02 00:00"))
    assert shown(found, "America/New_York") == ["02-28 23:30-0500", "02-29 23:30-0500"]


# Day fields: often days no short month has, and the short months.
DAY_SETS = st.one_of(
    st.sets(st.integers(29, 31), min_size=1),
    st.sets(st.integers(1, 31), min_size=1, max_size=3),
    st.just(None),
)
MONTH_SETS = st.one_of(
    st.sets(st.sampled_from([2, 4, 6, 9, 11]), min_size=1, max_size=2),
    st.sets(st.integers(1, 12), min_size=1, max_size=2),
)
WEEKDAY_SETS = st.one_of(
    st.sets(st.integers(0, 7), min_size=1, max_size=2), st.just(None)
)


def field(numbers):
    return ",".join(str(n) for n in sorted(numbers)) if numbers else "*"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days=DAY_SETS, months=MONTH_SETS, weekdays=WEEKDAY_SETS)
def test_day_of_month_or_weekday_as_debian_cron_reads_them(days, months, weekdays):
    """Both day fields restricted: either matches (``0 0 31 2 mon`` is every
    Monday of February), else both must; the same on cronsim 2.7 (Python
    3.10), which refuses a day-of-month no month given has, and 2.8."""
    times = "0 0 %s %s %s" % (field(days), field(months), field(weekdays))
    start = at("2027-01-01 00:00") - 60
    end = at("2028-12-31 23:59")
    expected = []
    date = datetime(2027, 1, 1, tzinfo=UTC)
    while date.timestamp() < end:
        by_day = days is None or date.day in days
        by_weekday = weekdays is None or date.isoweekday() % 7 in {
            w % 7 for w in weekdays
        }
        either = days is not None and weekdays is not None
        if date.month in months and (
            (by_day or by_weekday) if either else (by_day and by_weekday)
        ):
            expected.append(date.timestamp())
        date += timedelta(days=1)
    assert ticks(Schedule(times=times, zone="UTC"), start, end) == expected


# -- the spread's offset -------------------------------------------------------------


def test_offset_shifts_period_and_calendar_ticks():
    hourly = Schedule(period=3600, offset=600)
    assert hourly.following(at("2026-07-01 12:00")) == at("2026-07-01 12:10")
    assert hourly.previous(at("2026-07-01 12:09")) == at("2026-07-01 11:10")
    nightly = Schedule(times="0 3 * * *", zone="Europe/Amsterdam", offset=17 * 60)
    assert (
        nightly.following(at("2026-07-01 00:00"))
        == at("2026-07-02 03:17", "Europe/Amsterdam") - 86400
    )
    assert nightly.previous(at("2026-07-01 03:16", "Europe/Amsterdam")) == at(
        "2026-06-30 03:17", "Europe/Amsterdam"
    )


def test_spread_offset_is_stable_and_within_bounds():
    one = spread.spread_offset(3600, "/srv/site", "clock", "feeds")
    assert one == spread.spread_offset(3600, "/srv/site", "clock", "feeds")
    assert 0 <= one < 3600
    assert spread.spread_offset(0, "/srv/site", "clock", "feeds") == 0
    offsets = {
        spread.spread_offset(3600, "/srv/site%d" % n, "clock", "feeds")
        for n in range(20)
    }
    assert len(offsets) > 15  # 20 sites do not all call in the same second


@pytest.mark.parametrize(
    "times, minutes, shifted",
    [
        ("*/15 * * * *", 7, "7-59/15 * * * *"),
        ("0 3 * * 1", 47, "47 3 * * 1"),
        ("@daily", 90, "30 1 * * *"),
        ("@hourly", 59, "59 * * * *"),
        ("0 */6 * * *", 130, "10 2-23/6 * * *"),
        ("45 23 * * *", 30, "15 0 * * *"),
        ("0 9-17 * * 1-5", 5, "5 9,10,11,12,13,14,15,16,17 * * 1-5"),
    ],
)
def test_cron_times_shifted_into_minute_and_hour(times, minutes, shifted):
    assert spread.shift_times(times, minutes) == shifted


@pytest.mark.parametrize(
    "times, minutes, reason",
    [
        ("30 23 * * 1", 40, "moves to the next day"),
        ("0 0 1 * *", 1440, "moves to the next day"),
        ("0,30 3 * * *", 40, "cannot be written as one cron line"),
    ],
)
def test_cron_shift_that_changes_the_day_is_refused(times, minutes, reason):
    with pytest.raises(ValueError, match=reason):
        spread.shift_times(times, minutes)


# -- the machine's zone --------------------------------------------------------------


def test_machine_zone_from_tz_localtime_or_utc(tmp_path):
    assert zones.machine_zone({"TZ": ":Europe/Amsterdam"}) == "Europe/Amsterdam"
    assert zones.machine_zone({"TZ": "/usr/share/zoneinfo/Asia/Tokyo"}) == "Asia/Tokyo"
    assert zones.machine_zone({"TZ": "CET-1CEST"}) is None
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/Australia/Lord_Howe")
    assert zones.machine_zone({}, str(link)) == "Australia/Lord_Howe"
    assert zones.machine_zone({}, str(tmp_path / "none")) == "UTC"
    copied = tmp_path / "copied"
    copied.write_bytes(b"TZif")
    debian = tmp_path / "timezone"
    debian.write_text("America/New_York\n")
    assert zones.machine_zone({}, str(copied), str(debian)) == "America/New_York"
    assert zones.machine_zone({}, str(copied), str(tmp_path / "none")) is None


def test_zone_problem():
    assert zones.zone_problem("Europe/Amsterdam") is None
    assert "not a time zone" in zones.zone_problem("Europe/Atlantis")
    assert "not an IANA" in zones.zone_problem("../../etc/passwd")
    assert "not an IANA" in zones.zone_problem("Europe/Amsterdam ")
    assert zones.same_zone("UTC", "Etc/UTC")
    assert not zones.same_zone("UTC", "Europe/London")


# -- properties ----------------------------------------------------------------------

ZONES = [
    "Europe/Amsterdam",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/New_York",
    "UTC",
]
FIXED = [
    "30 2 * * *",
    "0 2 * * *",
    "15 1 * * *",
    "45 1,2,3 * * *",
    "0 0 * * *",
    "10 2 * * 0",
    "5 2-3 * * *",
]
STARRED = ["*/15 * * * *", "30 * * * *", "*/10 1-3 * * *", "0 */2 * * *", "* 2 * * *"]
# Days around the transitions of 2026 (and ordinary days).
DAYS = [
    "2026-03-08",
    "2026-03-29",
    "2026-04-05",
    "2026-10-04",
    "2026-10-25",
    "2026-11-01",
    "2026-07-14",
    "2028-02-29",
]


def matches(times, reading):
    minute, hour = times.split()[:2]
    weekday = times.split()[4]
    ok = reading.minute in spread._values(
        minute, 0, 59
    ) and reading.hour in spread._values(hour, 0, 23)
    if weekday != "*":
        ok = ok and (reading.isoweekday() % 7) in spread._values(weekday, 0, 7)
    return ok


def window(zone, date):
    start = at(date + " 00:00", zone) - 3 * 3600
    return start, start + 30 * 3600


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES),
    times=st.sampled_from(FIXED + STARRED),
    date=st.sampled_from(DAYS),
)
def test_ticks_are_exactly_what_debian_cron_runs(zone, times, date):
    """Every real minute whose local reading matches is due (fixed times:
    only its first occurrence); a fixed time skipped by a jump is due once,
    at the first instant after the gap; nothing else is due, nothing twice."""
    tz = ZoneInfo(zone)
    sched = Schedule(times=times, zone=zone)
    start, end = window(zone, date)
    found = ticks(sched, start, end)
    assert found == sorted(set(found))  # never due twice
    fixed = times in FIXED
    expected = set()
    seen_readings = set()
    minute = start + 60
    while minute <= end:
        reading = datetime.fromtimestamp(minute, tz)
        if matches(times, reading):
            if (
                not fixed
                or reading.fold == 0
                or reading.replace(fold=0).timestamp() == minute
            ):
                key = reading.replace(tzinfo=None)
                if not (fixed and key in seen_readings):
                    expected.add(minute)
                seen_readings.add(key)
        minute += 60
    if fixed:  # skipped local times: due at the first instant after the gap
        naive = datetime.fromtimestamp(start, tz).replace(tzinfo=None, second=0)
        last = datetime.fromtimestamp(end, tz).replace(tzinfo=None)
        while naive <= last:
            local = naive.replace(tzinfo=tz)
            if local.astimezone(UTC).astimezone(tz).replace(
                tzinfo=None
            ) != naive and matches(times, naive):
                after = naive
                while (
                    after.replace(tzinfo=tz)
                    .astimezone(UTC)
                    .astimezone(tz)
                    .replace(tzinfo=None)
                    != after
                ):
                    after += timedelta(minutes=1)
                instant = after.replace(tzinfo=tz).timestamp()
                if start < instant <= end:
                    expected.add(instant)
            naive += timedelta(minutes=1)
    assert set(found) == expected


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    times=st.sampled_from(
        FIXED + STARRED + ["@monthly", "0 0 29 2 *", "0 12 31 * *", "@weekly"]
    ),
    now=st.integers(
        min_value=int(at("2024-01-01 00:00")), max_value=int(at("2031-01-01 00:00"))
    ),
    offset=st.sampled_from([0, 60, 17 * 60, 3599]),
)
def test_previous_and_following_are_consistent(zone, times, now, offset):
    sched = Schedule(times=times, zone=zone, offset=offset)
    before, after = sched.previous(now), sched.following(now)
    assert before <= now < after
    assert sched.previous(after) == after
    assert sched.following(before) == after  # no tick between them
    assert sched.previous(after - 1) == before


@settings(max_examples=100, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=365 * 86400),
    names=st.lists(st.text(min_size=1, max_size=20), min_size=3, max_size=3),
    period=st.integers(min_value=1, max_value=86400),
)
def test_spread_is_within_bounds_and_stable(size, names, period):
    offset = spread.spread_offset(size, *names)
    assert 0 <= offset < size
    assert offset == spread.spread_offset(size, *names)
    sched = Schedule(period=period, offset=offset % period)
    due = sched.following(1_800_000_000)
    assert (due - offset) % period == 0


@settings(max_examples=120, deadline=None)
@given(
    times=st.sampled_from(
        [
            "*/15 * * * *",
            "0 3 * * *",
            "30 23 * * *",
            "0 */6 * * *",
            "5,35 9-17 * * 1-5",
            "@hourly",
            "@daily",
            "0 0 1 * *",
            "45 22 * * 0",
            "10 * * * *",
        ]
    ),
    minutes=st.integers(min_value=0, max_value=24 * 60 - 1),
    start=st.integers(
        min_value=int(at("2026-01-01 00:00")), max_value=int(at("2027-01-01 00:00"))
    ),
)
def test_cron_shift_gives_the_same_ticks_as_the_offset(times, minutes, start):
    """On cron the spread is written into the fields; the runner adds it to
    each tick: both give the same instants (read in UTC, no jumps)."""
    try:
        shifted = spread.shift_times(times, minutes)
    except ValueError:
        return  # refused: the day fields would change
    written = Schedule(times=shifted, zone="UTC")
    offset = Schedule(times=times, zone="UTC", offset=minutes * 60)
    end = start + 3 * 86400
    assert ticks(written, start, end) == ticks(offset, start, end)
