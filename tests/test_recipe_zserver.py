"""The zserver backend through a real bin/buildout run."""

import io
import os
import subprocess

import ZConfig

from buildouts import SECRET

TEST_SCHEMA = os.path.join(os.path.dirname(__file__), "zserver-clock.xml")

BASE = """
[buildout]
parts =
"""

PRODUCTION = """
[buildout]
extends = buildout.cfg secret.cfg
parts += clock

[clock]
recipe = collective.recipe.clockserver
backend = zserver
credentials = clock-credentials
host = plonecommunity.mobi
jobs =
    /plonecommunity/feed-mega-update                3600
    /plonecommunity/@@feed-mega-cleanup?days=14     85000
    /mobipublic/feed-mega-update                    1h     host=mobipublic.com
    /mobipublic/find-it/events/@@event-cleanup?days=1  84000  host=mobipublic.com  name=event-cleanup
"""


def parse_zope_conf(text_or_path):
    """Parse zope.conf text with a schema of ZServer's clock-server section."""
    schema = ZConfig.loadSchema(TEST_SCHEMA)
    if os.path.exists(text_or_path):
        config, _ = ZConfig.loadConfig(schema, text_or_path)
    else:
        config, _ = ZConfig.loadConfigFile(schema, io.StringIO(text_or_path))
    return [
        {k: getattr(s, k) for k in ("method", "period", "user", "password", "host")}
        for s in config.clock_servers
    ]


def production(b, extra="", secret=SECRET):
    b.write("buildout.cfg", BASE)
    b.write("secret.cfg", secret, mode=0o600)
    b.write("production.cfg", PRODUCTION + extra)


def test_production_scenario_blocks(buildout):
    production(buildout)
    result = buildout.run("production.cfg")
    assert result.ok, result.output
    assert "Installing clock." in result.output

    include = buildout.path("parts", "clock", "clock-server.conf")
    options = buildout.installed_options("clock")
    assert options["zope-conf-additional"] == "%include " + include
    assert buildout.mode("parts", "clock", "clock-server.conf") == 0o600
    # No monitored crontab entries: no bin/clock, so no ${clock:script}.
    assert "script" not in options and not buildout.exists("bin", "clock")

    auth = {"user": "zopeuser", "password": "s3cr3t-Pa55"}
    assert parse_zope_conf(include) == [
        dict(
            method="/plonecommunity/feed-mega-update",
            period=3600,
            host="plonecommunity.mobi",
            **auth,
        ),
        dict(
            method="/plonecommunity/@@feed-mega-cleanup?days=14",
            period=85000,
            host="plonecommunity.mobi",
            **auth,
        ),
        dict(
            method="/mobipublic/feed-mega-update",
            period=3600,
            host="mobipublic.com",
            **auth,
        ),
        dict(
            method="/mobipublic/find-it/events/@@event-cleanup?days=1",
            period=84000,
            host="mobipublic.com",
            **auth,
        ),
    ]
    # The %include line as zope.conf text resolves to the same blocks.
    zope_conf = buildout.write("zope.conf", options["zope-conf-additional"])
    assert len(parse_zope_conf(zope_conf)) == 4


def test_password_only_in_the_private_file(buildout):
    production(buildout)
    assert buildout.run("production.cfg").ok
    holders = sorted(
        name for name, text in buildout.all_text().items() if "s3cr3t-Pa55" in text
    )
    assert holders == ["parts/clock/clock-server.conf", "secret.cfg"]
    assert "s3cr3t-Pa55" not in buildout.installed()
    assert "zopeuser" not in buildout.installed()


def test_rerun_is_stable_and_removal_cleans_up(buildout):
    production(buildout)
    assert buildout.run("production.cfg").ok
    first = buildout.read("parts", "clock", "clock-server.conf")
    installed = buildout.installed_options("clock")
    result = buildout.run("production.cfg")
    assert result.ok, result.output
    assert "Updating clock." in result.output
    assert buildout.read("parts", "clock", "clock-server.conf") == first
    assert buildout.installed_options("clock") == installed

    buildout.write("production.cfg", "[buildout]\nextends = buildout.cfg\n")
    result = buildout.run("production.cfg")
    assert result.ok, result.output
    assert "Uninstalling clock." in result.output
    assert not buildout.exists("parts", "clock")
    assert buildout.installed_options("clock") is None


def test_password_change_reaches_the_file(buildout):
    production(buildout)
    assert buildout.run("production.cfg").ok
    buildout.write("secret.cfg", SECRET.replace("s3cr3t-Pa55", "n3w-pw"), mode=0o600)
    result = buildout.run("production.cfg")
    assert result.ok, result.output
    blocks = parse_zope_conf(buildout.path("parts", "clock", "clock-server.conf"))
    assert {b["password"] for b in blocks} == {"n3w-pw"}


def test_inline_blocks_dollar_escaped(buildout):
    production(
        buildout, "inline = true\n", secret=SECRET.replace("s3cr3t-Pa55", "pa$word")
    )
    result = buildout.run("production.cfg")
    assert result.ok, result.output
    assert "inline = true puts the password into zope.conf" in result.output
    text = buildout.installed_options("clock")["zope-conf-additional"]
    assert "<clock-server>" in text
    assert "password pa$$word" in text  # zope.conf writes a $ as $$
    blocks = parse_zope_conf(text)
    assert [b["password"] for b in blocks] == ["pa$word"] * 4
    assert not buildout.exists("parts", "clock", "clock-server.conf")


def test_anonymous_jobs(buildout):
    buildout.write(
        "buildout.cfg",
        """
        [buildout]
        extends = secret.cfg
        parts = clock
        [clock]
        recipe = collective.recipe.clockserver
        backend = zserver
        jobs =
            # a comment line
            /site/anonymous 2m
            /site/@@bob-view 1d credentials=other name=bob
        """,
    )
    buildout.write(
        "secret.cfg",
        """
        [other]
        user = bob
        password = b0b
        """,
        mode=0o600,
    )
    result = buildout.run()
    assert result.ok, result.output
    blocks = parse_zope_conf(buildout.path("parts", "clock", "clock-server.conf"))
    assert blocks == [
        {
            "method": "/site/anonymous",
            "period": 120,
            "user": None,
            "password": None,
            "host": None,
        },
        {
            "method": "/site/@@bob-view",
            "period": 86400,
            "user": "bob",
            "password": "b0b",
            "host": None,
        },
    ]


def test_disabled_part_emits_nothing(buildout):
    """A host without secret.cfg; all options are still read (no 'unused
    option' warning)."""
    buildout.write(
        "buildout.cfg",
        """
        [buildout]
        parts = clock
        [clock]
        recipe = collective.recipe.clockserver
        backend = zserver
        credentials = not-on-this-host
        enabled = false
        jobs = /site/update 1h
        zeopack = 0 1 * * 6
        crontab = @daily /bin/true
        crontab-file = var/crontab
        """,
    )
    result = buildout.run()
    assert result.ok, result.output
    assert "unused option" not in result.output
    options = buildout.installed_options("clock")
    assert options["zope-conf-additional"] == ""
    assert options["crontab-entries"] == ""
    # Its monitored entries would call bin/clock: ${clock:script} names it.
    assert options["script"] == buildout.path("bin", "clock")
    assert not buildout.exists("parts", "clock")
    assert not buildout.exists("var", "crontab")


def test_warnings_short_period_and_open_secret(buildout):
    production(buildout, "    /site/often 10s\n")
    os.chmod(buildout.path("secret.cfg"), 0o644)
    subprocess.run(["git", "init", "-q"], cwd=buildout.directory, check=True)
    subprocess.run(["git", "add", "secret.cfg"], cwd=buildout.directory, check=True)
    result = buildout.run("production.cfg")
    assert result.ok, result.output
    secret = buildout.path("secret.cfg")
    assert "job site-often runs every 10 s" in result.output
    assert (
        "%s holds a password and is readable by group or others "
        "(mode 644)" % secret in result.output
    )
    assert "%s holds a password and is tracked by git" % secret in result.output
    assert "Traceback" not in result.output


def test_no_warning_for_a_private_untracked_secret(buildout):
    production(buildout)
    result = buildout.run("production.cfg")
    assert result.ok
    # Only the one every explicit zserver part gets on Python 3.
    warnings = [line for line in result.output.splitlines() if "Warning" in line]
    assert warnings == ["clock: Warning: " + ZSERVER_WARNING], result.output


ZSERVER_WARNING = (
    "backend = zserver writes <clock-server> blocks, which only a ZServer "
    "(Python 2) Zope accepts: Zope 2.13, or Zope 4 with wsgi = off. A WSGI "
    "Zope (Zope 5 and later, Plone 6) refuses them and does not start; "
    "there use backend = runner with address = ${client1:http-address}"
)


def test_explicit_zserver_on_python_3_builds_the_blocks_and_warns(buildout):
    production(buildout)
    result = buildout.run("production.cfg")
    assert result.ok, result.output
    assert result.output.count(ZSERVER_WARNING) == 1, result.output
    blocks = parse_zope_conf(buildout.path("parts", "clock", "clock-server.conf"))
    assert len(blocks) == 4
