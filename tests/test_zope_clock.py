"""End to end: bin/<part> against a real WSGI Zope built by buildout."""

import os
import signal
import stat
import subprocess
import time

import pytest

from zopeinstance import (
    ADMIN_USER,
    access_log_entries,
    start_instance,
    stop_instance,
    wait_for_access,
    zope_missing,
)

pytestmark = pytest.mark.zope

if zope_missing():  # ./run-tests and CI: a failure, never a silent skip
    if os.environ.get("CLOCKSERVER_REQUIRE_ZOPE"):
        pytest.fail(zope_missing(), pytrace=False)
    pytest.skip(zope_missing(), allow_module_level=True)


@pytest.fixture(scope="module")
def site(zope_buildout):
    """The session's Zope buildout (conftest.py) with its instance running."""
    instance = start_instance(zope_buildout)
    try:
        yield zope_buildout
    finally:
        stop_instance(instance)


def clock(site, part, *args):
    return subprocess.run(
        [os.path.join(site, "bin", part), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_runner_backend_leaves_zope_conf_clean(site):
    zope_conf = os.path.join(site, "parts", "instance", "etc", "zope.conf")
    with open(zope_conf) as f:
        text = f.read()
    assert "clock-server" not in text
    assert "admin" not in text.replace("%s:" % ADMIN_USER, "")
    config = os.path.join(site, "parts", "clock", "clock.json")
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600


def test_fire_authenticated_method(site):
    result = clock(site, "clock", "fire", "manage")
    assert result.returncode == 0, result.stderr
    entry = wait_for_access(site, lambda e: e["path"] == "/manage_main?job=manage")
    assert entry is not None
    assert entry["status"] == 200
    assert entry["user"] == "admin"


def test_fire_sends_the_host_header(site):
    result = clock(site, "clock", "fire", "host-echo")
    assert result.returncode == 0, result.stderr
    # Zope builds absolute_url from the Host: header the clock sent.
    entry = wait_for_access(site, lambda e: e["path"] == "/absolute_url")
    assert entry is not None and entry["status"] == 200


def test_fire_with_a_wrong_password_fails_clearly(site):
    result = clock(site, "wrong", "fire", "manage")
    assert result.returncode != 0
    assert "401" in result.stderr
    assert "credentials" in result.stderr
    assert "not-the-password" not in result.stderr + result.stdout
    entry = wait_for_access(site, lambda e: e["path"] == "/manage_main?job=wrong")
    assert entry is not None and entry["status"] == 401


def test_run_calls_on_time_then_stops_on_sigterm(site):
    process = subprocess.Popen(
        [os.path.join(site, "bin", "clock"), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with open("/proc/%d/cmdline" % process.pid, "rb") as f:
            cmdline = f.read().decode()
        assert "admin" not in cmdline  # no credentials visible in ps
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            calls = [
                e
                for e in access_log_entries(site)
                if e["path"] == "/manage_main?job=manage"
                and e["user"] == "admin"
                and e["status"] == 200
            ]
            if len(calls) >= 4:  # fire test's call + at least 3 ticks
                break
            time.sleep(0.2)
        assert len(calls) >= 4
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert (
        'Clock server for "/manage_main?job=manage" started (user: admin, period: 1)'
    ) in err
    assert "manage" in err and "200" in err
    assert "admin" not in out + err.replace("user: admin", "")


def test_cron_backend_entry_calls_zope(site):
    with open(os.path.join(site, "var", "crontab")) as f:
        lines = f.read().splitlines()
    (entry,) = [line for line in lines if not line.startswith("#")]
    script = os.path.join(site, "bin", "cron")
    assert entry == "*/15 * * * * %s fire --scheduled manage" % script
    assert "admin" not in entry
    # What cron would run:
    result = subprocess.run(
        entry.split(None, 5)[5],
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    found = wait_for_access(site, lambda e: e["path"] == "/manage_main?job=cron")
    assert found is not None and found["status"] == 200
    assert found["user"] == "admin"
