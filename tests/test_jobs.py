"""The jobs option: lines, periods, names."""

import pytest

from collective.recipe.clockserver.errors import ConfigError
from collective.recipe.clockserver.jobs import derive_name, parse_jobs, parse_period
from collective.recipe.clockserver.schedule import period_to_cron


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("3600", 3600),
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("1d", 86400),
        ("1w", 604800),
        ("1w2d3h4m5s", 788645),
        ("30s1m", 90),
    ],
)
def test_parse_period(text, seconds):
    assert parse_period(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-5",
        "abc",
        "5x",
        "",
        "1h1h",
        "0m",
        "1.5h",
        "h",
        "1H",
    ],
)
def test_parse_period_rejects(text):
    with pytest.raises(ValueError):
        parse_period(text)


@pytest.mark.parametrize(
    "method, name",
    [
        ("/plonecommunity/feed-mega-update", "plonecommunity-feed-mega-update"),
        (
            "/plonecommunity/@@feed-mega-cleanup?days=14",
            "plonecommunity-feed-mega-cleanup-days-14",
        ),
        ("/", "root"),
        ("/site/my_view.html", "site-my_view.html"),
    ],
)
def test_derive_name(method, name):
    assert derive_name(method) == name


def test_parse_jobs_names_hosts_and_quoting():
    jobs = parse_jobs("""
        # comment
        /site/update 1h
        /site/update 1h host=b.example.org
        /site/x 1d name=site-update-2 times='0 3 * * *' credentials=other

        /other 5m name=custom
    """)
    assert [
        (j.name, j.method, j.period, j.host, j.credentials, j.times) for j in jobs
    ] == [
        ("site-update", "/site/update", 3600, None, None, None),
        ("site-update-3", "/site/update", 3600, "b.example.org", None, None),
        ("site-update-2", "/site/x", 86400, None, "other", "0 3 * * *"),
        ("custom", "/other", 300, None, None, None),
    ]


def test_parse_jobs_errors_name_the_line():
    with pytest.raises(ConfigError) as info:
        parse_jobs("/a 1h\n/b 1h name=x\n/c 1h name=x\n")
    assert info.value.value == "/c 1h name=x"
    assert "duplicate job name 'x'" in info.value.problem


@pytest.mark.parametrize(
    "period, times",
    [
        (60, "* * * * *"),
        (300, "*/5 * * * *"),
        (900, "*/15 * * * *"),
        (1800, "*/30 * * * *"),
        (3600, "0 * * * *"),
        (7200, "0 */2 * * *"),
        (21600, "0 */6 * * *"),
        (43200, "0 */12 * * *"),
        (86400, "0 0 * * *"),
        (604800, "0 0 * * 0"),
        (90, None),
        (420, None),
        (2700, None),
        (18000, None),
        (172800, None),
        (30, None),
    ],
)
def test_period_to_cron(period, times):
    assert period_to_cron(period) == times


# -- one model, one schedule ------------------------------------------------------


def test_grace_and_catch_up_are_parsed_once_into_the_job():
    from collective.recipe.clockserver.model import Job

    (job,) = parse_jobs("/a 1h grace=10m catch-up=false credentials=c")
    assert (job.grace, job.catch_up, job.credentials) == (600, False, "c")
    assert job == Job(
        "a",
        "/a",
        3600,
        grace=600,
        catch_up=False,
        credentials="c",
        line="/a 1h grace=10m catch-up=false credentials=c",
    )
    assert job.replace(host="h").host == "h" and job.host is None


def test_a_schedule_of_a_period_ticks_at_epoch_multiples():
    from collective.recipe.clockserver.schedule import Schedule

    hourly = Schedule(period=3600)
    assert hourly.previous(7200) == 7200 and hourly.previous(7199.5) == 3600
    assert hourly.following(7200) == 10800 and hourly.following(7199.5) == 7200
    assert hourly.interval(0) == 3600 and hourly.text == "1h"


def test_a_schedule_of_cron_times_is_evaluated_by_cronsim(monkeypatch):
    import time

    from collective.recipe.clockserver.schedule import Schedule

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        quarter = Schedule(period=3600, times="*/15 * * * *")  # times win
        assert quarter.previous(900) == 900 and quarter.previous(1799) == 900
        assert quarter.following(900) == 1800
        assert quarter.interval(0) == 900 and quarter.text == "*/15 * * * *"
        daily = Schedule(times="@daily")
        assert daily.following(1) == 86400 and not daily.reboot
        reboot = Schedule(times="@reboot")
        assert reboot.reboot and reboot.previous(1) is None
        assert reboot.following(1) is None and reboot.interval(1) is None
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_day_no_month_has_with_a_weekday_under_an_older_cronsim(monkeypatch):
    """cronsim before 2.8 (the last for Python 3.10) refuses a day-of-month
    no month has even with a day-of-week, which cron reads as "either": the
    schedule is evaluated as its weekdays (crontab.times.evaluable), so it
    is accepted and ticks the same on every cronsim; without a day-of-week
    it is still refused as never matching."""
    import calendar
    import datetime

    import cronsim

    from collective.recipe.clockserver.schedule import Schedule, problem

    real = cronsim.CronSim

    class OldCronSim(real):
        def __init__(self, expr, start, reverse=False):
            fields = expr.split()
            if fields[2] == "31" and fields[3] in ("2", "feb"):  # 2.7's refusal
                raise cronsim.CronSimError("Bad day-of-month")
            real.__init__(self, expr, start, reverse)

    monkeypatch.setattr(cronsim, "CronSim", OldCronSim)
    assert problem("0 0 31 2 *").startswith("never matches a date")
    assert problem("0 0 31 2 mon") is None
    assert problem("0 0 31 feb mon") is None
    start = calendar.timegm((2027, 1, 1, 0, 0, 0))
    ticks, due = [], start
    schedule = Schedule(times="0 0 31 2 mon", zone="UTC")
    for _ in range(5):
        due = schedule.following(due)
        ticks.append(
            datetime.datetime.fromtimestamp(due, datetime.timezone.utc)
            .date()
            .isoformat()
        )
    assert ticks == [
        "2027-02-01",
        "2027-02-08",
        "2027-02-15",
        "2027-02-22",
        "2028-02-07",
    ]
    assert schedule.previous(calendar.timegm((2027, 6, 1, 0, 0, 0))) == (
        calendar.timegm((2027, 2, 22, 0, 0, 0))
    )
