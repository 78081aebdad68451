"""Real lock services for the tests: PostgreSQL, Redis and ZEO.

Each runs from a temporary directory on a free loopback port, is started by
the test and stopped by its PID (``stop`` / ``start`` again keep the data,
for outage tests).  A missing server program skips its tests, or fails them
under ``CI=true``.  PostgreSQL refuses to run as root: as root the server
runs as the system user ``postgres`` (Debian's package creates it) or a
``clockserver-pg`` user created here.
"""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from localserver import free_port, listening

PG_BIN_DIRS = ["/usr/lib/postgresql/%d/bin" % v for v in range(20, 11, -1)]
START_TIMEOUT = 60


def stop_process(process, sig=signal.SIGTERM, patience=20):
    """Stop a child by its PID: ``sig``, then SIGKILL after ``patience``
    seconds; wait for it."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(patience)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def find_program(name, extra_dirs=()):
    for directory in extra_dirs:
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    return shutil.which(name)


def unavailable(reason):
    """A lock service is missing: skip its tests, except in CI (``CI=true``,
    as CI systems and .ci/run set it), where the README promises them: fail."""
    ci = os.environ.get("CI", "")
    if ci.lower() in ("true", "1", "yes"):
        pytest.fail(
            f"{reason} (CI={ci}: the lock tests must run here, not skip)", pytrace=False
        )
    pytest.skip(reason)


def wait_for_port(port, process, what, log):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {process.returncode}:\n" + read_tail(log)
            )
        if listening("127.0.0.1", port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port}:\n" + read_tail(log))


def read_tail(path, size=4000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-size:]
    except OSError:
        return ""


class Service:
    """A server process started from ``command()``; stopped by its PID."""

    name = "service"
    stop_signal = signal.SIGTERM

    def __init__(self, directory):
        self.directory = directory
        self.port = free_port()
        self.process = None
        self.log = os.path.join(directory, f"{self.name}.log")

    def popen_kwargs(self):
        return {}

    def start(self):
        assert self.process is None
        with open(self.log, "ab") as log:
            owner = self.popen_kwargs().get("user")
            if owner is not None:
                os.chown(self.log, owner, -1)
            kwargs = dict({"cwd": self.directory}, **self.popen_kwargs())
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **kwargs,
            )
        try:
            wait_for_port(self.port, self.process, self.name, self.log)
            self.ready()
        except BaseException:
            self.stop()
            raise

    def configure(self, name, text):
        """Write the server's file ``name`` in its directory; its path."""
        path = os.path.join(self.directory, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def ready(self):
        """Wait until the service answers (beyond listening)."""

    @staticmethod
    def retry(probe, errors, pause):
        """Call ``probe`` until it raises none of ``errors``, for at most
        START_TIMEOUT seconds (then its error goes out)."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                return probe()
            except errors:
                if time.monotonic() > deadline:
                    raise
                time.sleep(pause)

    def stop(self):
        process, self.process = self.process, None
        if process is not None:
            stop_process(process, self.stop_signal, patience=30)

    def close(self):
        """Stop for good (at the end of the session)."""
        self.stop()


# -- PostgreSQL -----------------------------------------------------------------


def postgres_account():
    """(uid, gid) to run PostgreSQL as: ourselves, or a system user as root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "clockserver-pg"):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            pass
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            "clockserver-pg",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    entry = pwd.getpwnam("clockserver-pg")
    return entry.pw_uid, entry.pw_gid


class Postgres(Service):
    """A cluster with the roles and database the lock tests use.

    - ``clock`` (password CLOCK_PASSWORD) may create schemas in database
      ``site`` but not in its ``public`` (as PostgreSQL 15 does);
    - ``nocreate`` (password NOCREATE_PASSWORD) may create nowhere;
    - ``pgpassuser`` (password PGPASS_PASSWORD) for the ~/.pgpass test.
    Password authentication over TCP (scram-sha-256), trust on the socket
    for the superuser set-up.
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # fast shutdown
    CLOCK_PASSWORD = "pg-Cl0ck-secret"
    NOCREATE_PASSWORD = "pg-n0create"
    PGPASS_PASSWORD = "pg-pa55file"

    def __init__(self):
        self.initdb = find_program("initdb", PG_BIN_DIRS)
        self.postgres = find_program("postgres", PG_BIN_DIRS)
        if not (self.initdb and self.postgres):
            unavailable(
                "PostgreSQL (initdb, postgres) is not installed; "
                ".ci/run installs Debian's postgresql"
            )
        # Not below pytest's tmp_path: its parents are 0700 for root.
        super().__init__(tempfile.mkdtemp(prefix="clockserver-pg-"))
        self.account = postgres_account()
        self.data = os.path.join(self.directory, "data")
        if self.account:
            os.chown(self.directory, *self.account)
        result = subprocess.run(
            [
                self.initdb,
                "-D",
                self.data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            text=True,
            **self.popen_kwargs(),
        )
        if result.returncode:
            raise RuntimeError("initdb failed:\n" + result.stdout)
        self.start()
        self.setup()

    def popen_kwargs(self):
        env = dict(os.environ, LC_ALL="C")
        if not self.account:
            return {"env": env}
        uid, gid = self.account
        return {"user": uid, "group": gid, "extra_groups": [], "env": env}

    def command(self):
        return [
            self.postgres,
            "-D",
            self.data,
            "-p",
            str(self.port),
            "-k",
            self.directory,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=60",
        ]

    def superuser(self, dbname="postgres"):
        import psycopg

        return psycopg.connect(
            host=self.directory,
            port=self.port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
        )

    def ready(self):
        import psycopg

        self.retry(lambda: self.superuser().close(), psycopg.OperationalError, 0.2)

    def setup(self):
        with self.superuser() as conn:
            conn.execute(f"CREATE ROLE clock LOGIN PASSWORD '{self.CLOCK_PASSWORD}'")
            conn.execute(
                f"CREATE ROLE nocreate LOGIN PASSWORD '{self.NOCREATE_PASSWORD}'"
            )
            conn.execute(
                f"CREATE ROLE pgpassuser LOGIN PASSWORD '{self.PGPASS_PASSWORD}'"
            )
            conn.execute("CREATE DATABASE site")
        with self.superuser("site") as conn:
            # As PostgreSQL 15 ships it, made explicit for older servers.
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            conn.execute("GRANT CREATE ON DATABASE site TO clock, pgpassuser")

    def url(self, dbname="site"):
        return f"postgresql://127.0.0.1:{self.port}/{dbname}"

    def claims(self):
        """{(namespace, name, tick): holder} of every claim in ``site``."""
        with self.superuser("site") as conn:
            found = {}
            for (schema,) in conn.execute(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON "
                "n.oid = c.relnamespace WHERE c.relname = 'clockserver_claims'"
            ):
                for row in conn.execute(
                    f'SELECT namespace, name, tick, holder FROM "{schema}".'
                    "clockserver_claims"
                ):
                    found[row[:3]] = row[3]
            return found

    def close(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


# -- Redis ------------------------------------------------------------------------


class Redis(Service):
    """redis-server with ``requirepass`` (password without a user) and an
    ACL user ``clock``."""

    name = "redis"
    PASSWORD = "redis-default-pa55"
    CLOCK_PASSWORD = "redis-Cl0ck-pa55"

    def __init__(self, directory):
        self.program = find_program("redis-server") or unavailable(
            "redis-server is not installed; .ci/run installs Debian's redis-server"
        )
        super().__init__(directory)
        self.config = self.configure(
            "redis.conf",
            f"port {self.port}\nbind 127.0.0.1\nprotected-mode yes\n"
            f'save ""\nappendonly no\ndir {directory}\n'
            f"daemonize no\nrequirepass {self.PASSWORD}\n"
            f"user clock on >{self.CLOCK_PASSWORD} ~* +@all\n",
        )
        self.start()

    def command(self):
        return [self.program, self.config]

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.PASSWORD)

    def ready(self):
        import redis

        self.retry(lambda: self.client().ping(), redis.RedisError, 0.1)

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"


# -- ZEO ----------------------------------------------------------------------------


class Zeo(Service):
    """runzeo with two storages: ``1`` (the site's) and ``locks``."""

    name = "zeo"

    def __init__(self, directory):
        self.program = find_program(
            "runzeo", [os.path.dirname(sys.executable)]
        ) or unavailable(
            "ZEO's runzeo is not installed in the test environment "
            "(tests/requirements.txt has ZEO)"
        )
        super().__init__(directory)
        self.config = self.configure(
            "zeo.conf",
            f"<zeo>\n  address 127.0.0.1:{self.port}\n</zeo>\n"
            f"<filestorage 1>\n  path {directory}/Data.fs\n</filestorage>\n"
            f"<filestorage locks>\n  path {directory}/locks.fs\n"
            f"</filestorage>\n",
        )
        self.start()

    def command(self):
        return [self.program, "-C", self.config]

    def url(self, storage="locks"):
        return f"zeo://127.0.0.1:{self.port}/{storage}"


# -- fixtures (a plugin of conftest.py: one server of each per session) ----------


@pytest.fixture(scope="session")
def postgres():
    service = Postgres()
    yield service
    service.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    service = Redis(str(tmp_path_factory.mktemp("redis")))
    yield service
    service.close()


@pytest.fixture(scope="session")
def zeo_server(tmp_path_factory):
    service = Zeo(str(tmp_path_factory.mktemp("zeo")))
    yield service
    service.close()
