"""The lock engines against real PostgreSQL, Redis and ZEO servers."""

import json
import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest

from collective.recipe.clockserver.runner.locks import (
    UNREACHABLE,
    BadLockURL,
    ClaimGate,
    LockUnavailable,
    open_lock,
    parse_url,
)
from lockservices import free_port

ENGINES = ("postgresql", "redis", "zeo")


@pytest.fixture(params=[pytest.param(e, marks=pytest.mark.services) for e in ENGINES])
def engine(request):
    """(url, user, password, service) of one engine, as lock-credentials give."""
    if request.param == "postgresql":
        service = request.getfixturevalue("postgres")
        return service.url(), "clock", service.CLOCK_PASSWORD, service
    if request.param == "redis":
        service = request.getfixturevalue("redis_server")
        return service.url(), None, service.PASSWORD, service
    service = request.getfixturevalue("zeo_server")
    return service.url(), None, None, service


def unique(prefix):
    return "%s-%d-%d" % (prefix, os.getpid(), time.monotonic_ns())


# -- one winner per tick -------------------------------------------------------

CLAIMER = textwrap.dedent("""
    import json, sys, time
    from collective.recipe.clockserver.runner.locks import open_lock
    url, user, password, namespace, host, start, ticks = json.loads(sys.argv[1])
    lock = open_lock(url, user, password, namespace, host)
    while time.time() < start:
        time.sleep(0.001)
    won = []
    for tick in range(ticks):
        ok, holder = lock.claim("job", tick, 60)
        if ok:
            won.append(tick)
        else:
            assert holder != host, holder
    lock.close()
    print(json.dumps(won))
""")


def test_each_tick_is_won_by_exactly_one_process(engine):
    url, user, password, _ = engine
    namespace = unique("race")
    start = time.time() + 1.5
    hosts = ["host-a", "host-b", "host-c", "host-d"]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLAIMER,
                json.dumps([url, user, password, namespace, host, start, 25]),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for host in hosts
    ]
    wins = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        wins.append(json.loads(out))
    every = sorted(tick for won in wins for tick in won)
    assert every == list(range(25))  # each tick once: never two, none lost


def test_the_loser_learns_the_holder(engine):
    url, user, password, _ = engine
    namespace = unique("holder")
    first = open_lock(url, user, password, namespace, "web1")
    second = open_lock(url, user, password, namespace, "web2")
    try:
        assert first.claim("backup", 600, 120) == (True, "web1")
        assert second.claim("backup", 600, 120) == (False, "web1")
        assert first.claim("backup", 600, 120) == (False, "web1")
        # Other ticks, names and namespaces are separate claims.
        assert second.claim("backup", 720, 120) == (True, "web2")
        assert second.claim("pack", 600, 120) == (True, "web2")
        other = open_lock(url, user, password, namespace + "-other", "web3")
        assert other.claim("backup", 600, 120) == (True, "web3")
        other.close()
    finally:
        first.close()
        second.close()


def test_unreachable_service_raises_lock_unavailable():
    port = free_port()  # nothing listens there
    for url in (
        f"postgresql://127.0.0.1:{port}/site",
        f"redis://127.0.0.1:{port}/0",
        f"zeo://127.0.0.1:{port}/locks",
    ):
        lock = open_lock(url, "clock", "x" if "zeo" not in url else None, "ns", "h")
        with pytest.raises(LockUnavailable) as info:
            lock.claim("job", 1, 60)
        assert str(info.value)
        lock.close()


# -- the gate -------------------------------------------------------------------


class Job:
    def __init__(self, name, period=60):
        self.name, self.period = name, period


def test_gate_says_go_claimed_or_unreachable(engine, caplog):
    url, user, password, _ = engine
    namespace = unique("gate")
    log = logging.getLogger("test-gate")
    mine = ClaimGate(open_lock(url, user, password, namespace, "web1"), log, url)
    theirs = ClaimGate(open_lock(url, user, password, namespace, "web2"), log, url)
    job = Job("feeds", 2)
    with caplog.at_level(logging.INFO, "test-gate"):
        assert mine(job, 1000.0) is None
        assert theirs(job, 1000.0) == "claimed by web1"
    assert (
        "feeds: the tick due at 1970-01-01T00:16:40Z was claimed by web1" in caplog.text
    )
    mine.close()
    theirs.close()

    port = free_port()
    down = parse_url(url.replace(":%d/" % engine[3].port, ":%d/" % port))
    gate = ClaimGate(open_lock(down, user, password, namespace, "web1"), log, down.text)
    caplog.clear()
    with caplog.at_level(logging.INFO, "test-gate"):
        assert gate(job, 2000.0) == UNREACHABLE
        assert gate(job, 2002.0) == UNREACHABLE
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # once per outage, not once per tick
    assert f"lock service {down.text} unreachable" in errors[0].getMessage()
    assert "not calling feeds" in errors[0].getMessage()
    if password:
        assert password not in caplog.text
    gate.close()


# -- PostgreSQL -------------------------------------------------------------------


def test_postgresql_creates_its_table_once_when_hosts_race(postgres):
    """Four processes claim at once in a new database: all get an answer."""
    database = unique("fresh").replace("-", "_")
    with postgres.superuser() as conn:
        conn.execute(f"CREATE DATABASE {database}")
        conn.execute(f"GRANT CREATE ON DATABASE {database} TO clock")
    with postgres.superuser(database) as conn:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    url = postgres.url(database)
    start = time.time() + 1.5
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLAIMER,
                json.dumps(
                    [url, "clock", postgres.CLOCK_PASSWORD, "ns", host, start, 3]
                ),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for host in ("a", "b", "c", "d")
    ]
    wins = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        wins.extend(json.loads(out))
    assert sorted(wins) == [0, 1, 2]
    # public was closed (PostgreSQL 15): the table went into the user's schema.
    with postgres.superuser(database) as conn:
        [(schema,)] = conn.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON "
            "n.oid = c.relnamespace WHERE c.relname = 'clockserver_claims'"
        ).fetchall()
    assert schema == "clock"


def test_postgresql_user_who_may_create_nowhere_is_told_what_to_run(postgres):
    database = unique("nocreate").replace("-", "_")
    with postgres.superuser() as conn:
        conn.execute(f"CREATE DATABASE {database}")
    with postgres.superuser(database) as conn:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    lock = open_lock(
        postgres.url(database), "nocreate", postgres.NOCREATE_PASSWORD, "ns"
    )
    with pytest.raises(LockUnavailable) as info:
        lock.claim("job", 1, 60)
    message = str(info.value)
    assert "may create the table clockserver_claims in no schema" in message
    assert "CREATE SCHEMA nocreate AUTHORIZATION nocreate" in message
    assert postgres.NOCREATE_PASSWORD not in message
    lock.close()


def test_postgresql_wrong_password_is_unavailable_without_the_password(postgres):
    lock = open_lock(postgres.url(), "clock", "not-the-Password", "ns")
    with pytest.raises(LockUnavailable) as info:
        lock.claim("job", 1, 60)
    assert "password authentication failed" in str(info.value)
    assert "not-the-Password" not in str(info.value)
    lock.close()


def test_postgresql_user_without_password_reads_pgpass(postgres, tmp_path, monkeypatch):
    database = unique("pgpass").replace("-", "_")
    with postgres.superuser() as conn:
        conn.execute(f"CREATE DATABASE {database} OWNER pgpassuser")
    lock = open_lock(postgres.url(database), "pgpassuser", None, "ns")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PGPASSFILE", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(LockUnavailable):  # no ~/.pgpass yet
        lock.claim("job", 1, 60)
    pgpass = tmp_path / ".pgpass"
    pgpass.write_text(
        f"127.0.0.1:{postgres.port}:{database}:pgpassuser:{postgres.PGPASS_PASSWORD}\n"
    )
    pgpass.chmod(0o600)
    assert lock.claim("job", 1, 60) == (True, lock.holder)
    lock.close()


def test_postgresql_url_may_name_a_unix_socket_directory(postgres):
    socket_dir = postgres.directory.replace("/", "%2F")
    for url in (
        f"postgresql://{socket_dir}:{postgres.port}/site",
        f"postgresql:///site?host={postgres.directory}&port={postgres.port}",
    ):
        parsed = parse_url(url)
        assert parsed.host == postgres.directory
        lock = open_lock(parsed, "clock", None, unique("socket"), "web1")
        assert lock.claim("job", 5, 60) == (True, "web1")
        lock.close()


def test_postgresql_prunes_expired_claims(postgres):
    namespace = unique("prune")
    old = open_lock(postgres.url(), "clock", postgres.CLOCK_PASSWORD, namespace)
    assert old.claim("job", 1, 0)[0]  # expires at once
    assert old.claim("job", 2, 3600)[0]
    old.close()
    assert (namespace, "job", 1) in postgres.claims()
    fresh = open_lock(postgres.url(), "clock", postgres.CLOCK_PASSWORD, namespace)
    assert fresh.claim("job", 3, 3600)[0]  # a new process prunes first
    claims = postgres.claims()
    assert (namespace, "job", 1) not in claims
    assert (namespace, "job", 2) in claims and (namespace, "job", 3) in claims
    fresh.close()


def test_postgresql_recovers_when_its_table_is_dropped(postgres):
    """A table dropped by hand is created again on the next claim."""
    database = unique("dropped").replace("-", "_")
    with postgres.superuser() as conn:
        conn.execute(f"CREATE DATABASE {database} OWNER clock")
    lock = open_lock(postgres.url(database), "clock", postgres.CLOCK_PASSWORD, "ns")
    assert lock.claim("job", 1, 60)[0]
    with postgres.superuser(database) as conn:
        conn.execute("DROP TABLE clockserver_claims")
    assert lock.claim("job", 2, 60)[0]
    lock.close()


# -- Redis ------------------------------------------------------------------------


def test_redis_claim_expires_after_keep_seconds(redis_server):
    namespace = unique("ttl")
    lock = open_lock(redis_server.url(), None, redis_server.PASSWORD, namespace)
    assert lock.claim("job", 7, 120)[0]
    ttl = redis_server.client().ttl(lock.key("job", 7))
    assert 0 < ttl <= 120
    lock.close()


def test_redis_user_and_password_or_password_alone(redis_server):
    acl = open_lock(
        redis_server.url(3), "clock", redis_server.CLOCK_PASSWORD, unique("acl")
    )
    assert acl.claim("job", 1, 60)[0]
    acl.close()
    for user, password in (
        (None, "wrong-Pa55"),
        (None, None),
        ("clock", redis_server.PASSWORD),
    ):
        lock = open_lock(redis_server.url(), user, password, unique("bad"))
        with pytest.raises(LockUnavailable) as info:
            lock.claim("job", 1, 60)
        if password:
            assert password not in str(info.value)
        lock.close()


# -- ZEO --------------------------------------------------------------------------


def test_zeo_claims_live_in_the_named_storage(zeo_server):
    import ZEO

    namespace = unique("storage")
    lock = open_lock(zeo_server.url("locks"), None, None, namespace, "web1")
    assert lock.claim("job", 9, 60) == (True, "web1")
    lock.close()
    for storage, present in (("locks", True), ("1", False)):
        db = ZEO.DB(("127.0.0.1", zeo_server.port), storage=storage, wait_timeout=10)
        try:
            with db.transaction() as conn:
                sites = conn.root().get("collective.recipe.clockserver", {})
                found = dict(sites.get(namespace, {}).get("job", {}))
        finally:
            db.close()
        assert (9 in found) is present
        if present:
            assert found[9][0] == "web1"


def test_zeo_unknown_storage_is_unavailable(zeo_server):
    lock = open_lock(zeo_server.url("nosuch"), None, None, "ns")
    with pytest.raises(LockUnavailable):
        lock.claim("job", 1, 60)
    lock.close()


# -- URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, engine, host, port, database",
    [
        (
            "postgresql://db.example.org/relstorage",
            "postgresql",
            "db.example.org",
            5432,
            "relstorage",
        ),
        ("postgres://10.0.0.5:5433/zodb", "postgresql", "10.0.0.5", 5433, "zodb"),
        (
            "postgresql://[::1]:5432/zodb?sslmode=require",
            "postgresql",
            "::1",
            5432,
            "zodb",
        ),
        (
            "postgresql://%2Frun%2Fpostgresql/zodb",
            "postgresql",
            "/run/postgresql",
            5432,
            "zodb",
        ),
        ("redis://cache", "redis", "cache", 6379, "0"),
        ("redis://cache:6380/2", "redis", "cache", 6380, "2"),
        ("zeo://localhost:8100", "zeo", "localhost", 8100, "1"),
        ("zeo://zeo.example.org:8100/locks", "zeo", "zeo.example.org", 8100, "locks"),
        (
            "zeo://%2Fsrv%2Fsite%2Fvar%2Fzeo.sock/locks",
            "zeo",
            "/srv/site/var/zeo.sock",
            None,
            "locks",
        ),
    ],
)
def test_good_urls(url, engine, host, port, database):
    parsed = parse_url(url)
    assert (parsed.engine, parsed.host, parsed.port, parsed.database) == (
        engine,
        host,
        port,
        database,
    )


@pytest.mark.parametrize(
    "url, problem",
    [
        ("mysql://db/x", "unknown lock service 'mysql'"),
        ("db.example.org:5432", "is not a URL"),
        ("postgresql://clock:Secr3t@db/x", "holds a password"),
        ("postgresql://db/x?password=Secr3t", "holds a password"),
        ("redis://:Secr3t@cache", "holds a password"),
        ("postgresql:///x", "names no host"),
        ("redis://", "names no host"),
        ("zeo://:8100", "names no host"),
        ("postgresql://db", "names no database"),
        ("postgresql://db:99999/x", "bad port '99999'"),
        ("redis://cache:http", "bad port 'http'"),
        ("redis://cache/zero", "is not a number"),
        ("zeo://zeo.example.org", "names no port"),
        ("zeo://zeo:8100/a/b", "bad storage name"),
        ("postgresql://db/x?colour=red", "unknown PostgreSQL connection parameter"),
        ("redis://cache?db=1", "takes no ?parameters"),
        ("redis://bad_host!/0", "bad host"),
        ("zeo://user@zeo:8100", "takes no user"),
    ],
)
def test_bad_urls(url, problem):
    with pytest.raises(BadLockURL) as info:
        parse_url(url)
    assert problem in info.value.problem
    assert "Secr3t" not in info.value.problem + info.value.fix


def test_claim_once_for_cron_started_runs(engine):
    from collective.recipe.clockserver.runner.locks import claim_once

    url, user, password, service = engine
    settings = {
        "url": url,
        "user": user,
        "password": password,
        "namespace": unique("once"),
    }
    assert claim_once(settings, "backup", 120, 60, "web1") == (None, None)
    assert claim_once(settings, "backup", 120, 60, "web2") == ("claimed by web1", None)
    down = dict(settings, url=url.replace(":%d/" % service.port, ":%d/" % free_port()))
    skip, why = claim_once(down, "backup", 180, 60, "web1")
    assert skip == UNREACHABLE and why
    if password:
        assert password not in why


def test_postgresql_hosts_with_other_roles_share_one_table(postgres):
    """A host whose role differs finds the table another host created (in
    that role's schema), is told which GRANT it needs, then shares claims."""
    namespace = unique("roles")
    first = open_lock(
        postgres.url(), "clock", postgres.CLOCK_PASSWORD, namespace, "web1"
    )
    assert first.claim("job", 1, 60) == (True, "web1")
    role = unique("second").replace("-", "_")
    with postgres.superuser("site") as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'")
        conn.execute(f"GRANT CREATE ON DATABASE site TO {role}")
    second = open_lock(postgres.url(), role, f"pw-{role}", namespace, "web2")
    with pytest.raises(LockUnavailable) as info:
        second.claim("job", 1, 60)
    assert "GRANT SELECT, INSERT, DELETE ON clock.clockserver_claims" in str(info.value)
    with postgres.superuser("site") as conn:
        conn.execute(f"GRANT USAGE ON SCHEMA clock TO {role}")
        conn.execute(f"GRANT SELECT, INSERT ON clock.clockserver_claims TO {role}")
    assert second.claim("job", 1, 60) == (False, "web1")
    assert second.claim("job", 2, 60) == (True, "web2")  # prunes without DELETE
    assert first.claim("job", 2, 60) == (False, "web2")
    first.close()
    second.close()


def test_namespaces_and_names_never_run_together(engine):
    url, user, password, _ = engine
    base = unique("sep")
    a = open_lock(url, user, password, base + ":a", "web1")
    b = open_lock(url, user, password, base, "web2")
    assert a.claim('b"c', 5, 60)[0]
    assert b.claim('a:b"c', 5, 60)[0]  # not the claim above
    assert b.claim("ünïcode näme", 5, 60)[0]
    assert not a.claim('b"c', 5, 60)[0]
    a.close()
    b.close()


def test_a_missing_service_fails_in_ci_and_skips_elsewhere(monkeypatch, tmp_path):
    """.ci/run installs the services; there a missing one is a failure."""
    import lockservices

    monkeypatch.setattr(lockservices, "find_program", lambda *args: None)
    services = [
        (lambda: lockservices.Postgres(), "PostgreSQL (initdb, postgres)"),
        (lambda: lockservices.Redis(str(tmp_path)), "redis-server"),
        (lambda: lockservices.Zeo(str(tmp_path)), "runzeo"),
    ]
    for ci in ("true", "1"):
        monkeypatch.setenv("CI", ci)
        for start, what in services:
            with pytest.raises(pytest.fail.Exception) as info:
                start()
            assert what in str(info.value) and f"CI={ci}" in str(info.value)
    for ci in ("", "false", None):
        if ci is None:
            monkeypatch.delenv("CI")
        else:
            monkeypatch.setenv("CI", ci)
        for start, what in services:
            with pytest.raises(pytest.skip.Exception) as info:
                start()
            assert what in str(info.value)
    assert os.listdir(tmp_path) == []  # nothing started, nothing written
