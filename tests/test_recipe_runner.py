"""The runner backend through a real bin/buildout run (no Zope needed)."""

import json
import os
import subprocess

import pytest

from buildouts import SECRET, clock_part
from collective.recipe.clockserver.address import parse_address
from collective.recipe.clockserver.errors import ConfigError

SITE = clock_part(
    """\
backend = {backend}
address = 127.0.0.1:8080
credentials = clock-credentials
host = www.example.org
jobs =
    /site/@@update-feeds  15m
    /site/@@cleanup       1d   host=other.example.org  name=cleanup
"""
)


def site(b, backend="runner", extra=""):
    b.write("secret.cfg", SECRET, mode=0o600)
    b.write("buildout.cfg", SITE.format(backend=backend) + extra)


def test_runner_files_and_outputs(buildout):
    site(buildout)
    result = buildout.run()
    assert result.ok, result.output
    options = buildout.installed_options("clock")
    script = buildout.path("bin", "clock")
    assert options["script"] == script
    assert options["zope-conf-additional"] == ""
    assert options["crontab-entries"] == ""

    config = buildout.path("parts", "clock", "clock.json")
    assert buildout.mode("parts", "clock") == 0o700
    assert buildout.mode("parts", "clock", "clock.json") == 0o600
    with open(config) as f:
        data = json.load(f)
    assert data["address"] == "http://127.0.0.1:8080"
    assert data["timeout"] == 300
    assert data["concurrency"] == 4
    assert data["jobs"] == [
        {
            "name": "site-update-feeds",
            "method": "/site/@@update-feeds",
            "period": 900,
            "host": "www.example.org",
            "user": "zopeuser",
            "password": "s3cr3t-Pa55",
        },
        {
            "name": "cleanup",
            "method": "/site/@@cleanup",
            "period": 86400,
            "host": "other.example.org",
            "user": "zopeuser",
            "password": "s3cr3t-Pa55",
        },
    ]
    # The script names its config file; the password is not in it.
    text = buildout.read("bin", "clock")
    assert repr(config) in text
    assert "s3cr3t-Pa55" not in text
    holders = sorted(
        name for name, text in buildout.all_text().items() if "s3cr3t-Pa55" in text
    )
    assert holders == ["parts/clock/clock.json", "secret.cfg"]

    listing = subprocess.run(
        [script, "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stdout
    assert "site-update-feeds" in listing.stdout
    assert "cleanup" in listing.stdout
    assert "s3cr3t-Pa55" not in listing.stdout


def test_password_change_reaches_the_runner_config(buildout):
    site(buildout)
    assert buildout.run().ok
    buildout.write("secret.cfg", SECRET.replace("s3cr3t-Pa55", "n3w"), mode=0o600)
    result = buildout.run()
    assert result.ok, result.output
    data = json.loads(buildout.read("parts", "clock", "clock.json"))
    assert {job["password"] for job in data["jobs"]} == {"n3w"}


def test_switching_backend_keeps_zope_conf_additional_valid(buildout):
    site(buildout, backend="zserver")
    assert buildout.run().ok
    include = buildout.path("parts", "clock", "clock-server.conf")
    assert (
        buildout.installed_options("clock")["zope-conf-additional"]
        == "%include " + include
    )
    assert not buildout.exists("bin", "clock")

    site(buildout, backend="runner")
    result = buildout.run()
    assert result.ok, result.output
    assert buildout.installed_options("clock")["zope-conf-additional"] == ""
    assert not os.path.exists(include)
    assert buildout.exists("bin", "clock")

    site(buildout, backend="zserver")
    assert buildout.run().ok
    assert not buildout.exists("bin", "clock")
    assert os.path.exists(include)


def test_disabled_runner_writes_nothing(buildout):
    site(buildout, extra="enabled = false\n")
    result = buildout.run()
    assert result.ok, result.output
    assert not buildout.exists("bin", "clock")
    assert not buildout.exists("parts", "clock")


def test_timeout_option(buildout):
    site(buildout, extra="timeout = 2m\n")
    assert buildout.run().ok
    data = json.loads(buildout.read("parts", "clock", "clock.json"))
    assert data["timeout"] == 120


def test_concurrency_option(buildout):
    site(buildout, extra="concurrency = 12\n")
    assert buildout.run().ok
    data = json.loads(buildout.read("parts", "clock", "clock.json"))
    assert data["concurrency"] == 12


@pytest.mark.parametrize(
    "text, address",
    [
        ("8080", "http://127.0.0.1:8080"),
        ("0.0.0.0:8080", "http://127.0.0.1:8080"),
        ("zope.example.org:8080", "http://zope.example.org:8080"),
        ("https://zope.example.org:8443/", "https://zope.example.org:8443"),
        ("[::]:8080", "http://[::1]:8080"),
        ("127.0.0.1:8080 127.0.0.1:8081", "http://127.0.0.1:8080"),
        ("[::1]:8080", "http://[::1]:8080"),
        ("*:8080", "http://127.0.0.1:8080"),
    ],
)
def test_parse_address(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize(
    "text, problem",
    [
        ("ftp://host:21", "unknown scheme 'ftp'"),
        (
            "host:port",
            "'host:port' is not PORT or HOST:PORT: 'port' is not a "
            "port number (1-65535)",
        ),
        (
            "::1:8080",
            "'::1:8080' is not PORT or HOST:PORT: an IPv6 address must "
            "be written in brackets, [::1]:8080",
        ),
        ("8080²", "'8080²' is not PORT or HOST:PORT: no port"),
        (
            "http://zope/site:8080",
            "'zope/site:8080' is not PORT or HOST:PORT: it "
            "has a path; the address is HOST:PORT only",
        ),
        ("70000", "70000 is not a port number (1-65535)"),
        ("0", "0 is not a port number (1-65535)"),
        ("   ", "the address is empty"),
    ],
)
def test_parse_address_errors(text, problem):
    with pytest.raises(ConfigError) as info:
        parse_address(text)
    assert info.value.problem == problem
    assert info.value.option == "address"


def test_parse_address_never_repeats_credentials():
    with pytest.raises(ConfigError) as info:
        parse_address("http://admin:s3cret@localhost:8080")
    assert info.value.problem == "the address holds a user name or password"
    assert "s3cret" not in info.value.message("clock")


def test_address_from_an_instance_that_consumes_our_output(buildout):
    """The two parts reference each other (address and zope-conf-additional),
    which buildout resolves when the instance comes first in ``parts``."""
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write(
        "buildout.cfg",
        """
        [buildout]
        extends = secret.cfg
        parts = client2 clock

        [client2]
        recipe = z3c.recipe.usercrontab
        http-address = 127.0.0.1:9996
        times = @reboot
        command = echo "${clock:zope-conf-additional}"
        readcrontab = cat ${buildout:directory}/client2.crontab
        writecrontab = cat > ${buildout:directory}/client2.crontab

        [clock]
        recipe = collective.recipe.clockserver
        backend = runner
        address = ${client2:http-address}
        credentials = clock-credentials
        jobs = /site/@@update 1h
        """,
    )
    open(buildout.path("client2.crontab"), "w").close()
    result = buildout.run()
    assert result.ok, result.output
    data = json.loads(buildout.read("parts", "clock", "clock.json"))
    assert data["address"] == "http://127.0.0.1:9996"
    assert '@reboot\techo ""' in buildout.read("client2.crontab")


def test_cron_entries_quote_a_buildout_path_with_spaces(
    tmp_path, buildout, fake_crontab
):
    from conftest import Buildout

    site = Buildout(tmp_path / "my site", buildout.env)
    os.makedirs(site.directory)
    site.write("secret.cfg", SECRET, mode=0o600)
    site.write("buildout.cfg", SITE.format(backend="cron") + "zeopack = 0 1 * * 6\n")
    result = site.run()
    assert result.ok, result.output
    script = "'%s'" % site.path("bin", "clock")
    zeopack = "'%s'" % site.path("bin", "zeopack")
    assert site.installed_options("clock")["crontab-entries"].splitlines() == [
        "*/15 * * * * %s fire --scheduled site-update-feeds" % script,
        "0 0 * * * %s fire --scheduled cleanup" % script,
        "0 1 * * 6 %s exec --scheduled zeopack -- %s" % (script, zeopack),
    ]
    assert script + " fire --scheduled cleanup" in fake_crontab.text()
    # What cron runs works: the shell finds bin/clock.
    listing = subprocess.run(
        script + " list",
        shell=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stdout
    assert "cleanup" in listing.stdout


def test_calendar_jobs_through_bin_buildout(buildout):
    """times= on runner, read in the zone bin/buildout resolved (TZ), the
    job's own timezone=, spread, timeout= and retries= reach the config
    file; an unknown zone is a UserError."""
    buildout.env["TZ"] = "America/New_York"
    site(
        buildout,
        extra="    /site/@@nightly - times='0 3 * * *' retries=2 timeout=1h\n"
        "    /site/@@tokyo - times=@daily timezone=Asia/Tokyo\n"
        "spread = 10m\nretries = 1\n",
    )
    result = buildout.run()
    assert result.ok, result.output
    with open(buildout.path("parts", "clock", "clock.json")) as f:
        data = json.load(f)
    jobs = {job["name"]: job for job in data["jobs"]}
    assert data["retries"] == 1
    nightly = jobs["site-nightly"]
    assert (nightly["times"], nightly["timezone"], nightly["period"]) == (
        "0 3 * * *",
        "America/New_York",
        None,
    )
    assert (nightly["retries"], nightly["timeout"]) == (2, 3600)
    assert jobs["site-tokyo"]["timezone"] == "Asia/Tokyo"
    assert all(0 <= job.get("offset", 0) < 600 for job in data["jobs"])
    listing = subprocess.run(
        [buildout.path("bin", "clock"), "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert "America/New_York" in listing.stdout and "Asia/Tokyo" in listing.stdout

    buildout.write(
        "buildout.cfg", SITE.format(backend="runner") + "timezone = Europe/Atlantis\n"
    )
    result = buildout.run()
    assert not result.ok
    assert (
        "Error: [clock] timezone: bad timezone: 'Europe/Atlantis' is not a time zone"
        in result.output
    )
    assert "Traceback" not in result.output
