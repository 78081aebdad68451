"""The options ``timezone``, ``spread``, ``retries``, ``timeout`` and the
job keys ``times=`` (on runner), ``timezone=``, ``spread=``, ``retries=``,
``timeout=`` on the pure settings reader (issue 18): what bin/<part>'s file
gets, and every error in the form bin/buildout prints."""

import pytest

from collective.recipe.clockserver import spread, zones
from test_settings import SECRET, error, read

RUNNER = "backend = runner\naddress = 8080\n"
CRON = "backend = cron\naddress = 8080\ncrontab-file = ${buildout:directory}/crontab\n"
LOCK = "lock = redis://127.0.0.1:6379/0\nlock-namespace = site-a\n"


@pytest.fixture(autouse=True)
def machine_in_amsterdam(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Amsterdam")


def jobs_json(found):
    return {job["name"]: job for job in found.to_json()["jobs"]}


def test_times_on_runner_are_read_in_the_machine_s_zone_by_default(tmp_path):
    found = read(
        tmp_path,
        RUNNER + "jobs = /site/@@cleanup 1h times='0 3 * * *'\n"
        "    /site/@@feeds 15m\n    /site/@@night - times=@daily\n",
    )
    jobs = jobs_json(found)
    assert jobs["site-cleanup"]["times"] == "0 3 * * *"
    assert jobs["site-cleanup"]["timezone"] == "Europe/Amsterdam"
    assert jobs["site-cleanup"]["period"] == 3600  # times= wins on runner
    assert "times" not in jobs["site-feeds"] and "timezone" not in jobs["site-feeds"]
    assert (
        jobs["site-night"]["period"] is None and jobs["site-night"]["times"] == "@daily"
    )
    assert found.to_json()["retries"] == 0


def test_part_and_job_timezone(tmp_path):
    found = read(
        tmp_path,
        RUNNER + "timezone = Australia/Sydney\n"
        "jobs = /a - times='0 3 * * *'\n"
        "    /b - times='0 3 * * *' timezone=Australia/Lord_Howe\n",
    )
    jobs = jobs_json(found)
    assert (jobs["a"]["timezone"], jobs["b"]["timezone"]) == (
        "Australia/Sydney",
        "Australia/Lord_Howe",
    )


def test_machine_zone_from_a_link_when_tz_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("TZ")
    found = read(tmp_path, RUNNER + "jobs = /a - times='0 3 * * *'\n")
    assert jobs_json(found)["a"]["timezone"] == zones.machine_zone()


def test_spread_is_stable_and_per_job(tmp_path):
    options = (
        RUNNER + "spread = 1h\njobs = /a 1h\n    /b 15m\n    /c - times='0 3 * * *'\n"
    )
    first = jobs_json(read(tmp_path, options))
    assert first == jobs_json(read(tmp_path, options))  # the same after a reinstall
    # An offset of 0 (one in the period's seconds) is left out of the JSON.
    assert 0 <= first["a"].get("offset", 0) < 3600
    assert 0 <= first["b"].get("offset", 0) < 900  # modulo the period
    assert 0 <= first["c"].get("offset", 0) < 3600
    other = jobs_json(read(tmp_path / "other", options))
    assert [other[n].get("offset") for n in "abc"] != [
        first[n].get("offset") for n in "abc"
    ]


def test_spread_with_a_lock_is_the_same_on_every_host(tmp_path):
    options = RUNNER + LOCK + "spread = 1h\ntimezone = UTC\njobs = /a 1h\n"
    one = jobs_json(read(tmp_path / "host1", options))
    two = jobs_json(read(tmp_path / "host2", options))
    assert (
        one["a"]["offset"]
        == two["a"]["offset"]
        == spread.spread_offset(3600, "site-a", "clock", "a")
    )


def test_job_spread_overrides_and_zero_turns_it_off(tmp_path):
    jobs = jobs_json(
        read(
            tmp_path,
            RUNNER + "spread = 1h\njobs = /a 1h spread=0\n    /b 1h spread=2m\n",
        )
    )
    assert "offset" not in jobs["a"]
    assert 0 <= jobs["b"].get("offset", 0) < 120


def test_spread_on_cron_is_carried_into_the_minute_field(tmp_path):
    found = read(
        tmp_path, CRON + "spread = 30m\njobs = /a 1h\n    /b - times='0 3 * * *'\n"
    )
    jobs = jobs_json(found)
    offset_a = spread.spread_offset(1800, str(tmp_path), "clock", "a") // 60
    offset_b = spread.spread_offset(1800, str(tmp_path), "clock", "b") // 60
    assert jobs["a"]["times"] == "%d * * * *" % offset_a
    assert jobs["b"]["times"] == "%d 3 * * *" % offset_b
    assert "offset" not in jobs["a"]
    assert any(line.startswith("%d 3 * * * " % offset_b) for line in found.entries)


def test_timeout_and_retries_per_job(tmp_path):
    found = read(
        tmp_path,
        RUNNER + "timeout = 30\nretries = 3\n"
        "jobs = /a 1h timeout=1h retries=0\n    /b 1h\n",
    )
    jobs = jobs_json(found)
    assert (jobs["a"]["timeout"], jobs["a"]["retries"]) == (3600, 0)
    assert "timeout" not in jobs["b"] and "retries" not in jobs["b"]
    config = found.to_json()
    assert (config["timeout"], config["retries"]) == (30, 3)


def test_zserver_uses_the_period_of_a_job_with_times(tmp_path):
    found = read(
        tmp_path, "backend = zserver\njobs = /a 1h times='0 3 * * *'\n", SECRET
    )
    assert "period 3600" in found.blocks
    assert "times" not in jobs_json(found)["a"]


ERRORS = [
    (
        "unknown zone",
        RUNNER + "timezone = Europe/Atlantis\njobs = /a 1h\n",
        [
            "[clock] timezone:",
            "'Europe/Atlantis' is not a time zone",
            "Europe/Amsterdam",
        ],
    ),
    (
        "job zone",
        RUNNER + "jobs = /a - times=@daily timezone=Mars/Olympus\n",
        ["[clock] jobs:", "/a - times=@daily timezone=Mars/Olympus", "'Mars/Olympus'"],
    ),
    (
        "zone path",
        RUNNER + "timezone = ../../etc/passwd\njobs = /a 1h\n",
        ["not an IANA time zone name"],
    ),
    (
        "retries 11",
        RUNNER + "retries = 11\njobs = /a 1h\n",
        ["[clock] retries:", "bad retries '11'", "from 0 to 10"],
    ),
    (
        "retries -1",
        RUNNER + "jobs = /a 1h retries=-1\n",
        ["[clock] jobs:", "bad retries '-1'"],
    ),
    ("retries word", RUNNER + "retries = some\njobs = /a 1h\n", ["bad retries 'some'"]),
    (
        "spread word",
        RUNNER + "spread = soon\njobs = /a 1h\n",
        ["[clock] spread:", "bad spread 'soon'", "e.g. 10m"],
    ),
    (
        "job spread",
        RUNNER + "jobs = /a 1h spread=5x\n",
        ["[clock] jobs:", "bad spread '5x'"],
    ),
    (
        "timeout 0",
        RUNNER + "jobs = /a 1h timeout=0\n",
        ["[clock] jobs:", "bad timeout '0'", "timeout=300"],
    ),
    (
        "spread on zserver",
        "backend = zserver\nspread = 10m\njobs = /a 1h\n",
        ["[clock] spread:", "spread has no effect on zserver", "backend = runner"],
    ),
    (
        "job spread on zserver",
        "backend = zserver\njobs = /a 1h spread=10m\n",
        ["[clock] jobs:", "/a 1h spread=10m", "spread has no effect on zserver"],
    ),
    (
        "dash on zserver",
        "backend = zserver\njobs = /a - times='0 3 * * *'\n",
        ["[clock] jobs:", "the period '-' needs times=, which ZServer cannot run"],
    ),
    (
        "dash without times",
        RUNNER + "jobs = /a -\n",
        ["[clock] jobs:", "the period is '-' but the job has no times="],
    ),
    (
        "lock without zone",
        RUNNER + LOCK + "jobs = /a - times='0 3 * * *'\n",
        ["[clock] jobs:", "with lock, a job with times= must name its timezone"],
    ),
    (
        "cron foreign zone",
        CRON + "timezone = Asia/Tokyo\njobs = /a - times='0 3 * * *'\n",
        [
            "[clock] jobs:",
            "timezone Asia/Tokyo differs from the machine's zone (Europe/Amsterdam)",
            "backend = runner",
        ],
    ),
    (
        "cron shift to next day",
        # With lock-namespace the offset is known (11957 s: not under the
        # minute that would leave the line as it is), not a hash of tmp_path.
        CRON
        + LOCK
        + "timezone = Europe/Amsterdam\njobs = /a - times='59 23 * * 1' spread=1d\n",
        ["[clock] jobs:", "spread:", "moves to the next day", "backend = runner"],
    ),
    (
        "reboot job",
        RUNNER + "jobs = /a - times=@reboot\n",
        ["times=@reboot is for crontab entries, not jobs"],
    ),
    ("L field", RUNNER + "jobs = /a - times='0 3 L * *'\n", ["[clock] jobs:", "'l'"]),
    (
        "six fields",
        RUNNER + "jobs = /a - times='0 0 3 * * *'\n",
        ["cron times need 5 fields, got 6"],
    ),
    ("never", RUNNER + "jobs = /a - times='0 0 31 2 *'\n", ["never matches a date"]),
]


@pytest.mark.parametrize(
    "options, fragments", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_calendar_option_errors(tmp_path, options, fragments):
    message = error(tmp_path, options, SECRET)
    for fragment in fragments:
        assert fragment in message


def test_cron_with_the_machine_s_zone_named_is_accepted(tmp_path):
    found = read(
        tmp_path,
        CRON + LOCK + "timezone = Europe/Amsterdam\njobs = /a - times='0 3 * * *'\n",
    )
    assert jobs_json(found)["a"]["times"] == "0 3 * * *"
    assert "timezone" not in jobs_json(found)["a"]
