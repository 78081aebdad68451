"""lock, lock-credentials, lock-namespace through a real bin/buildout."""

import json
import subprocess
import sys
import types

import pytest

from buildouts import clock_part
from collective.recipe.clockserver import cluster
from collective.recipe.clockserver.recipe import script_eggs

SITE = clock_part(
    """\
backend = runner
address = 127.0.0.1:8080
jobs =
    /site/@@update-feeds  15m
{extra}
"""
)

SECRET = """
[lock-credentials]
user = clock
password = L0ck-s3cret-pw
"""


def site(b, extra, secret=SECRET):
    b.write("secret.cfg", secret, mode=0o600)
    b.write("buildout.cfg", SITE.format(extra=extra))


def working_set_probe(b, module):
    """Python that sets bin/clock's sys.path, nothing else, and imports
    ``module`` from it."""
    script = b.read("bin", "clock")
    start = script.index("sys.path[0:0] = [")
    end = script.index("\n  ]", start) + 4
    return (
        "import sys\nsys.path[:] = [p for p in sys.path if 'site-packages' "
        "not in p]\n%s\nimport %s\n" % (script[start:end], module)
    )


@pytest.mark.parametrize(
    "url, extra, module",
    [
        ("postgresql://db.example.org/relstorage", "postgresql", "psycopg"),
        ("redis://cache.example.org/2", "redis", "redis"),
        ("zeo://zeo.example.org:8100/locks", "zeo", "ZEO"),
    ],
)
def test_lock_goes_into_the_private_config_with_its_client(
    buildout, url, extra, module
):
    credentials = "" if extra == "zeo" else "lock-credentials = lock-credentials"
    site(buildout, f"lock = {url}\n{credentials}\nlock-namespace = mysite")
    result = buildout.run()
    assert result.ok, result.output
    with open(buildout.path("parts", "clock", "clock.json")) as f:
        data = json.load(f)
    expected = {"url": url, "namespace": "mysite", "user": None, "password": None}
    if extra != "zeo":
        expected.update(user="clock", password="L0ck-s3cret-pw")
    assert data["lock"] == expected
    assert buildout.mode("parts", "clock", "clock.json") == 0o600
    # bin/clock can import the engine's client library (the extra).
    check = subprocess.run(
        [buildout.path("bin", "clock"), "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    # The generated script's path holds the client library's distribution.
    found = subprocess.run(
        [sys.executable, "-c", working_set_probe(buildout, module)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert found.returncode == 0, (working_set_probe(buildout, module), found.stderr)
    # The password is in the 0600 file only (and secret.cfg).
    holders = sorted(
        name for name, text in buildout.all_text().items() if "L0ck-s3cret-pw" in text
    )
    assert holders == (
        ["secret.cfg"] if extra == "zeo" else ["parts/clock/clock.json", "secret.cfg"]
    )
    assert "L0ck-s3cret-pw" not in result.output


def test_without_lock_nothing_changes(buildout):
    site(buildout, "")
    result = buildout.run()
    assert result.ok, result.output
    with open(buildout.path("parts", "clock", "clock.json")) as f:
        assert "lock" not in json.load(f)
    assert "lock-namespace" not in result.output


@pytest.mark.parametrize(
    "url, eggs",
    [
        (None, "collective.recipe.clockserver"),
        ("postgresql://db/zodb", "collective.recipe.clockserver[postgresql]"),
        ("postgres://db/zodb", "collective.recipe.clockserver[postgresql]"),
        ("redis://cache", "collective.recipe.clockserver[redis]"),
        ("zeo://zeo:8100/locks", "collective.recipe.clockserver[zeo]"),
    ],
)
def test_bin_part_gets_the_extra_that_lock_names(url, eggs):
    options = {"lock": url, "lock-namespace": "site"} if url else {}
    warnings = []
    settings = types.SimpleNamespace(lock=cluster.read({}, "clock", options, warnings))
    assert script_eggs(settings) == eggs
    assert warnings == []


def test_namespace_defaults_to_the_part_name_with_a_warning(buildout):
    site(
        buildout,
        "lock = redis://cache.example.org\nlock-credentials = lock-credentials",
    )
    result = buildout.run()
    assert result.ok, result.output
    assert (
        "lock-namespace is not set: the part name 'clock' names these jobs"
        in result.output
    )
    with open(buildout.path("parts", "clock", "clock.json")) as f:
        assert json.load(f)["lock"]["namespace"] == "clock"


def test_redis_password_alone_and_postgresql_user_alone(buildout):
    site(
        buildout,
        "lock = redis://cache.example.org\n"
        "lock-credentials = lock-credentials\nlock-namespace = s",
        secret="[lock-credentials]\npassword = only-a-Pa55word\n",
    )
    result = buildout.run()
    assert result.ok, result.output
    site(
        buildout,
        "lock = postgresql://db.example.org/zodb\n"
        "lock-credentials = lock-credentials\nlock-namespace = s",
        secret="[lock-credentials]\nuser = clock\n",
    )
    result = buildout.run()
    assert result.ok, result.output
    with open(buildout.path("parts", "clock", "clock.json")) as f:
        lock = json.load(f)["lock"]
    assert (lock["user"], lock["password"]) == ("clock", None)


# A few end to end; every case on the pure reader in test_settings.py
# (LOCK_ERRORS).
@pytest.mark.parametrize(
    "extra, secret, expected",
    [
        (
            "lock = mysql://db.example.org/zodb",
            SECRET,
            [
                "[clock] lock: unknown lock service 'mysql'",
                "mysql://db.example.org/zodb",
                "postgresql://HOST[:PORT]/DB",
            ],
        ),
        (
            "lock = postgresql://clock:Sup3rSecret@db.example.org/zodb",
            SECRET,
            [
                "[clock] lock: the URL holds a password",
                "postgresql://clock:***@db.example.org/zodb",
                "lock-credentials",
            ],
        ),
        (
            "lock = postgresql://db.example.org/zodb\nlock-credentials = nosuch",
            SECRET,
            [
                "[clock] lock-credentials: the lock-credentials section [nosuch] "
                "is not defined",
                "    [nosuch]",
                "~/.pgpass",
            ],
        ),
    ],
)
def test_lock_errors(buildout, extra, secret, expected):
    site(buildout, extra, secret)
    result = buildout.run()
    assert not result.ok
    for text in expected:
        assert text in result.output, result.output
    assert "Traceback" not in result.output
    assert "Sup3rSecret" not in result.output
    assert not buildout.exists("parts", "clock")
    assert not buildout.exists("bin", "clock")


def test_missing_section_in_a_lock_credentials_value_is_buildouts_error(buildout):
    site(buildout, "lock = postgresql://db/zodb\nlock-credentials = ${nosuch:x}")
    result = buildout.run()
    assert not result.ok
    assert "nosuch" in result.output
    assert "lock-credentials section" not in result.output


def test_lock_options_without_lock_warn(buildout):
    site(buildout, "lock-namespace = mysite")
    result = buildout.run()
    assert result.ok, result.output
    assert "lock-namespace has no effect without lock" in result.output


def test_disabled_part_checks_the_url_but_needs_no_credentials(buildout):
    site(
        buildout,
        "enabled = false\nlock = redis://cache\n"
        "lock-credentials = not-on-this-host\nlock-namespace = s",
    )
    result = buildout.run()
    assert result.ok, result.output
    site(buildout, "enabled = false\nlock = mysql://db/x")
    result = buildout.run()
    assert not result.ok
    assert "[clock] lock: unknown lock service 'mysql'" in result.output


@pytest.mark.parametrize("args", [(), ("-v",), ("-vv",)])
def test_lock_password_stays_out_of_buildout_output(buildout, args):
    site(
        buildout,
        "lock = postgresql://db.example.org/zodb\nlock-credentials = lock-credentials",
    )
    result = buildout.run("buildout.cfg", *args)
    assert result.ok, result.output
    assert "L0ck-s3cret-pw" not in result.output
    assert result.output.count("lock-namespace is not set") == 1
    with open(buildout.path("parts", "clock", "clock.json")) as f:
        assert json.load(f)["lock"]["password"] == "L0ck-s3cret-pw"
    assert "L0ck-s3cret-pw" not in buildout.installed()
