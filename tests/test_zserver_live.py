"""Live: the recipe's <clock-server> blocks on a real Zope 4 + ZServer on Python 2.7.

A zc.buildout 2.13 buildout (tools/py2-env) with plone.recipe.zope2instance
6 (``wsgi = off``) whose client2 has ``zope-conf-additional =
${clock:zope-conf-additional}``: the instance starts (as root it drops to
``effective-user``), logs ZServer's start line per job, and each job's
method is called with the job's user (and password) and Host: header,
which the probe product records (tests/zserver.py).

Periods: ZServer ticks on epoch multiples of the period and checks its
clocks whenever its main loop wakes, at the latest every 30 s. The jobs use
30 s and 60 s (the shortest periods the README recommends, and two
different ones, so a mixed-up period shows); the test wakes the loop with a
request each second, so the 60-s job is called at most ~61 s after the
start, and the whole test waits about a minute and a half at most.

Runs where Python 2.7 is (pyenv 2.7.18, or PYTHON2); skipped elsewhere,
except under CI=true or CLOCKSERVER_REQUIRE_ZSERVER=1, where a Python 2
stack that cannot be installed fails the test.
"""

import os

import pytest

import zserver

pytestmark = [pytest.mark.zserver, pytest.mark.slow]

ADMIN = "clockuser"
# $, % and # on purpose: zope.conf needs $$, buildout and ZConfig keep % and #.
PASSWORD = "s3cr$t%#x"
ZCONF_PASSWORD = PASSWORD.replace("$", "$$")

JOBS = [
    # (job id, period, host)
    ("feed-a", 30, "site-a.example"),
    ("feed-b", 60, "mobipublic.com:8080"),
]


def must_run():
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("CLOCKSERVER_REQUIRE_ZSERVER") == "1"
    )


def give_up(reason):
    if must_run():
        pytest.fail(
            "%s (CI: the live ZServer test must run here, not skip)" % reason,
            pytrace=False,
        )
    pytest.skip(reason)


@pytest.fixture(scope="module")
def py2_home(tmp_path_factory):
    python2 = os.environ.get(
        "PYTHON2", os.path.expanduser("~/.pyenv/versions/2.7.18/bin/python")
    )
    if not os.path.exists(python2):
        give_up("no Python 2.7 at %s (pyenv install 2.7.18, or set PYTHON2)" % python2)
    log = str(tmp_path_factory.mktemp("py2") / "py2-env.log")
    try:
        home = zserver.py2_env(log)
    except (zserver.ZServerError, OSError) as error:
        give_up("the Python 2 stack cannot be installed: %s" % error)
    if zserver.is_root():
        zserver.ensure_zope_user()
        probe = os.path.join(home, "python2.7", "lib", "python2.7", "os.py")
        if not zserver.readable_by(zserver.ZOPE_USER, probe):
            pytest.fail(
                "%s cannot read %s: set CLOCKSERVER_PY2_HOME to a "
                "directory every user can enter" % (zserver.ZOPE_USER, probe)
            )
    return home


@pytest.fixture
def live(py2_home):
    instance = zserver.LiveZServer(py2_home, ADMIN, PASSWORD)
    yield instance
    instance.stop()
    if os.environ.get("CLOCKSERVER_KEEP_LIVE") != "1":
        instance.remove()


def check_live_clock(live, secret_files):
    """Start client2; every job logs its start line and is called with its
    user and Host: header; the password is only in ``secret_files``."""
    live.start()
    try:
        records = live.wait_for_calls(
            [job for job, _, _ in JOBS], timeout=max(p for _, p, _ in JOBS) + 20
        )
        starts = live.start_lines()
        log = live.event_log()
    finally:
        live.stop()
    if zserver.is_root():
        assert 'Set effective user to "%s"' % zserver.ZOPE_USER in log, log
    assert sorted((s["method"], s["user"], int(s["period"])) for s in starts) == sorted(
        ("/clock_probe?job=%s" % job, ADMIN, period) for job, period, _ in JOBS
    ), log
    for job, _, host in JOBS:
        calls = [r for r in records if r["job"] == job]
        assert calls, "job %s was never called:\n%s\n%s" % (job, log, live.output())
        assert all(r["user"] == ADMIN and r["host"] == host for r in calls), calls
    holders = set(live.files_containing(PASSWORD))
    holders |= set(live.files_containing(ZCONF_PASSWORD))
    assert sorted(holders) == sorted(secret_files)


def test_recipe_blocks_run_on_zserver(live, tmp_path):
    """The recipe itself, installed from a py2.py3 wheel in a find-links
    directory by zc.buildout 2.13, makes the blocks."""
    links = str(tmp_path / "links")
    (tmp_path / "noindex").mkdir()
    wheel, problem = None, None
    try:
        wheel = zserver.build_recipe_wheel(links)
    except zserver.ZServerError as error:
        problem = str(error)
    if problem:
        pytest.fail(problem, pytrace=False)
    live.write(
        "secret.cfg",
        # buildout passes a lone $ on as written
        "[clock-credentials]\nuser = %s\npassword = %s\n" % (ADMIN, PASSWORD),
        mode=0o600,
    )
    jobs = "\n".join(
        "    /clock_probe?job=%s  %d  host=%s" % (job, period, host)
        for job, period, host in JOBS
    )
    live.configure(
        "[clock]\n"
        "recipe = collective.recipe.clockserver\n"
        "credentials = clock-credentials\n"
        "jobs =\n%s\n" % jobs,
        # Not offline (that would ignore find-links), but with an empty index:
        # the wheel comes from links, the rest from the eggs of tools/py2-env.
        extends="secret.cfg",
        parts="clock",
        find_links=links,
        offline=False,
        index=str(tmp_path / "noindex"),
        versions="collective.recipe.clockserver = %s\n" % zserver.wheel_version(wheel),
    )
    live.forget_recipe_eggs()
    code, output = live.run_buildout()
    assert code == 0, output
    include = os.path.join("parts", "clock", "clock-server.conf")
    assert os.stat(live.path(include)).st_mode & 0o777 == 0o600
    assert "%%include %s" % live.path(include) in live.read(
        "parts", "client2", "etc", "zope.conf"
    )
    check_live_clock(live, ["secret.cfg", include])
