"""The jobs option: lines, periods, names."""

import pytest

from collective.recipe.clockserver.errors import ConfigError
from collective.recipe.clockserver.jobs import derive_name, parse_jobs, parse_period
from collective.recipe.clockserver.schedule import period_to_cron


@pytest.mark.parametrize("text, seconds", [
    ("3600", 3600), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("1d", 86400),
    ("1w", 604800), ("1w2d3h4m5s", 788645), ("30s1m", 90),
])
def test_parse_period(text, seconds):
    assert parse_period(text) == seconds


@pytest.mark.parametrize("text", [
    "0", "-5", "abc", "5x", "", "1h1h", "0m", "1.5h", "h", "1H",
])
def test_parse_period_rejects(text):
    with pytest.raises(ValueError):
        parse_period(text)


@pytest.mark.parametrize("method, name", [
    ("/plonecommunity/feed-mega-update", "plonecommunity-feed-mega-update"),
    ("/plonecommunity/@@feed-mega-cleanup?days=14",
     "plonecommunity-feed-mega-cleanup-days-14"),
    ("/", "root"),
    ("/site/my_view.html", "site-my_view.html"),
])
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
    assert [(j.name, j.method, j.period, j.host, j.credentials, j.times)
            for j in jobs] == [
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


@pytest.mark.parametrize("period, times", [
    (60, "* * * * *"), (300, "*/5 * * * *"), (900, "*/15 * * * *"),
    (1800, "*/30 * * * *"), (3600, "0 * * * *"), (7200, "0 */2 * * *"),
    (21600, "0 */6 * * *"), (43200, "0 */12 * * *"), (86400, "0 0 * * *"),
    (604800, "0 0 * * 0"),
    (90, None), (420, None), (2700, None), (18000, None), (172800, None),
    (30, None),
])
def test_period_to_cron(period, times):
    assert period_to_cron(period) == times
