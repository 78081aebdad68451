"""The fixtures and markers of the suite; the helpers behind them are modules here.

Markers (pytest.ini): ``services``, given here to every test that uses a
lock server or the real crontab; ``zope``, ``plone`` and ``slow``, given by
the test modules. The fast subset:
``-m "not services and not zope and not plone and not slow"``.
"""

import fcntl
import os
import shutil
import tempfile

import pytest

import localserver
import zopeinstance

# Buildout too for the tests that still import it from here.
from buildouts import FORKER, Buildout, FakeCrontab, RealCrontab
from faultserver import FaultServer
from runnerparts import Part

# PostgreSQL, Redis and ZEO servers for the lock tests (session fixtures).
pytest_plugins = ["lockservices"]

# A test that uses one of these needs a service (marker ``services``): the
# lock servers, the real crontab, or ``engine_name``, a lock engine chosen by
# parameter whose server the test asks for by name (test_locks.py marks the
# params of its ``engine`` fixture itself).
SERVICE_FIXTURES = frozenset(
    {"postgres", "redis_server", "zeo_server", "real_crontab", "engine_name"}
)


def pytest_collection_modifyitems(items):
    for item in items:
        if SERVICE_FIXTURES.intersection(item.fixturenames):
            item.add_marker(pytest.mark.services)


def pytest_sessionfinish(session):
    FORKER.stop()


@pytest.fixture(autouse=True)
def private_lock_directory(tmp_path_factory, monkeypatch):
    """The per-user crontab lock of each test in a directory of its own, so
    that test suites running at once never wait for each other's lock."""
    directory = tmp_path_factory.mktemp("locks") / "lock"
    monkeypatch.setenv("CLOCKSERVER_LOCK_DIR", str(directory))
    return str(directory)


@pytest.fixture
def server():
    """A local HTTP server (localserver.py) for one test."""
    yield from localserver.serve()


@pytest.fixture(scope="module")
def fault_server():
    """One misbehaving server (faultserver.py) for a test module."""
    server = FaultServer()
    yield server
    server.stop()


@pytest.fixture
def faults(fault_server):
    """The module's fault server with its list of request paths emptied."""
    del fault_server.paths[:]
    return fault_server


@pytest.fixture
def part_factory(tmp_path):
    """Makes hand-written bin/<part> configs (runnerparts.Part); kills
    their processes still running at the end."""
    made = []

    def make(address, jobs, **extra):
        part = Part(tmp_path, address, jobs, **extra)
        made.append(part)
        return part

    yield make
    for part in made:
        part.cleanup()


@pytest.fixture
def fake_crontab(tmp_path):
    return FakeCrontab(str(tmp_path))


@pytest.fixture
def buildout(tmp_path, fake_crontab):
    """A buildout directory whose crontab is the stand-in (never the user's)."""
    directory = tmp_path / "buildout"
    directory.mkdir()
    env = fake_crontab.env(os.environ)
    env.pop("PYTHONPATH", None)
    return Buildout(directory, env)


@pytest.fixture
def real_crontab():
    """The user's real crontab, saved before the test and restored after.

    Tests that use it run one at a time even across processes (an flock),
    since they all share the one crontab of the user. They run only when
    asked: CLOCKSERVER_REAL_CRONTAB=1 (CI sets it), so that ./run-tests
    never touches the crontab of the person running it.
    """
    if os.environ.get("CLOCKSERVER_REAL_CRONTAB") != "1":
        pytest.skip(
            "the real crontab is used only with CLOCKSERVER_REAL_CRONTAB=1 (CI sets it)"
        )
    command = shutil.which("crontab")
    if command is None:
        # Asked for (CI): .ci/run installs cron, so a missing crontab is a
        # failure there, never a silent skip.
        pytest.fail(
            "CLOCKSERVER_REAL_CRONTAB=1 but no crontab command on "
            "this machine (Debian: apt-get install cron)"
        )
    lock_path = os.path.join(
        tempfile.gettempdir(), "collective.recipe.clockserver-crontab.lock"
    )
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        crontab = RealCrontab(command)
        saved = crontab.run("-l")
        if saved.returncode == 0:
            original = saved.stdout
        elif b"no crontab for" in saved.stderr:
            original = None
        else:
            pytest.skip("crontab -l fails here: %r" % saved.stderr)
        try:
            yield crontab
        finally:
            if original is None:
                crontab.run("-r")
                left = crontab.run("-l")
                assert left.returncode == 1, "could not remove the test crontab"
            else:
                crontab.write_bytes(original)


# -- one Zope buildout per session ------------------------------------------------

# The parts of the session's Zope buildout besides [instance]: the clock
# parts test_zope_clock.py calls.
ZOPE_CLOCK_PARTS = """
[clock]
recipe = collective.recipe.clockserver
backend = runner
address = ${instance:http-address}
credentials = clock-credentials
timeout = 10
jobs =
    /manage_main?job=manage  1s  name=manage
    /absolute_url            1h  name=host-echo  host=www.example.org

[wrong]
recipe = collective.recipe.clockserver
backend = runner
address = ${instance:http-address}
credentials = wrong-credentials
jobs = /manage_main?job=wrong 1h name=manage

[cron]
recipe = collective.recipe.clockserver
backend = cron
address = ${instance:http-address}
credentials = clock-credentials
crontab-file = var/crontab
jobs = /manage_main?job=cron 15m name=manage

[clock-credentials]
user = admin
password = admin

[wrong-credentials]
user = admin
password = not-the-password
"""


@pytest.fixture(scope="session")
def zope_buildout(tmp_path_factory):
    """A buildout with a WSGI Zope ``[instance]`` (zopeinstance.py) and
    ZOPE_CLOCK_PARTS, built once per session; its directory. Not started:
    each module starts (and stops) the instance it needs."""
    directory = tmp_path_factory.mktemp("zope")
    return zopeinstance.build_zope_buildout(
        directory,
        ZOPE_CLOCK_PARTS,
        instance_options="zope-conf-additional = ${clock:zope-conf-additional}",
    )
