"""``postgresql://``: a claim is a row of a table created on first use.

The primary key (namespace, name, tick) decides: ``INSERT ... ON CONFLICT
DO NOTHING`` inserts for exactly one host.  The table is created under an
advisory lock (two hosts may start at once), in the first schema of the
search path that the user may create in (PostgreSQL 15 took that right on
``public`` away from ordinary users), else in a schema named after the
user.  Expired claims are pruned every few minutes.  Without a password
libpq reads ~/.pgpass (or PGPASSFILE), as psql does.
"""

import threading
import time

from ..text import error_line
from . import LockUnavailable, require_client
from .deadline import Deadline

TABLE = "clockserver_claims"
ADVISORY_KEY = 7_310_521_640_330_110_551  # any constant: "table being created"
PRUNE_EVERY = 600.0  # seconds between deletions of expired claims
STATEMENT_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT = 5


class Lock:
    def __init__(
        self, url, user=None, password=None, namespace="clock", holder="localhost"
    ):
        require_client("psycopg", "psycopg", "postgresql")
        self.url = url
        self.user = user or url.user
        self.password = password
        self.namespace = namespace
        self.holder = holder
        self._idle = []  # connections no claim is using
        self._closed = False
        self._table = None  # psycopg.sql.Identifier(schema, TABLE)
        self._pruned = None  # monotonic time of the last prune
        self._mutex = threading.Lock()  # held briefly, never over I/O
        self._deadline = Deadline()  # of each claim (deadline.py)

    def claim(self, name, tick, keep_seconds):
        """Claim (namespace, name, tick): (True, us) or (False, the holder);
        LockUnavailable after CLAIM_TIMEOUT at most (deadline.py)."""
        return self._deadline.claim(self._attempt, name, tick, keep_seconds)

    def _attempt(self, attempt, name, tick, keep_seconds):
        """One claim on a connection of its own (from the idle ones, or new)."""
        import psycopg

        conn = None
        try:
            conn = self._take(attempt)
            try:
                result = self._claim(conn, name, tick, keep_seconds)
            except psycopg.errors.UndefinedTable:  # dropped by hand: again
                self._table = None
                result = self._claim(conn, name, tick, keep_seconds)
        except psycopg.Error as exc:
            self._discard(conn, everyone=True)
            raise LockUnavailable(error_line(exc)) from None
        except BaseException:
            self._discard(conn)
            raise
        self._give_back(conn, attempt)
        return result

    def _claim(self, conn, name, tick, keep_seconds):
        import psycopg
        from psycopg import sql

        table = self._prepared_table(conn)
        if self._prune_due():
            try:
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE expires_at < now()").format(table)
                )
            except psycopg.errors.InsufficientPrivilege:
                pass  # another host's role prunes; claims still work
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {} (namespace, name, tick, holder, expires_at) "
                "VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (namespace, name, tick) DO NOTHING "
                "RETURNING holder"
            ).format(table),
            (self.namespace, name, tick, self.holder, keep_seconds),
        ).fetchone()
        if row is not None:
            return True, self.holder
        row = conn.execute(
            sql.SQL(
                "SELECT holder FROM {} WHERE namespace = %s AND name = %s AND tick = %s"
            ).format(table),
            (self.namespace, name, tick),
        ).fetchone()
        return False, row[0] if row else "another host"

    def _prune_due(self):
        now = time.monotonic()
        with self._mutex:
            if self._pruned is not None and now - self._pruned < PRUNE_EVERY:
                return False
            self._pruned = now
            return True

    def _take(self, attempt):
        """An idle connection, or a new one; its socket is cut at the deadline."""
        import psycopg

        with self._mutex:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            params = dict(self.url.parameters)
            # libpq's connect_timeout bounds the connection of a worker the
            # deadline gave up on (the deadline itself bounds the claim).
            timeout = params.get("connect_timeout", "")
            if not timeout.isdigit() or not 0 < int(timeout) <= CONNECT_TIMEOUT:
                params["connect_timeout"] = str(CONNECT_TIMEOUT)
            params.setdefault("application_name", "clockserver")
            params.update(
                host=self.url.host, port=str(self.url.port), dbname=self.url.database
            )
            if self.user:
                params["user"] = self.user
            if self.password:
                params["password"] = self.password
            conn = psycopg.connect(autocommit=True, **params)
            attempt.watch(conn.fileno())
            conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        else:
            attempt.watch(conn.fileno())
        return conn

    def _give_back(self, conn, attempt):
        with self._mutex:
            if not attempt.cut and not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def _discard(self, conn, everyone=False):
        """Close ``conn`` (broken, or cut); with ``everyone`` the idle ones too
        (after an outage they are as dead as ``conn``)."""
        closing = [conn] if conn is not None else []
        if everyone:
            with self._mutex:
                closing += self._idle
                self._idle = []
        for each in closing:
            try:
                each.close()
            except Exception:  # already broken
                pass

    def _prepared_table(self, conn):
        """The claims table, created when missing (safe when hosts race)."""
        from psycopg import sql

        if self._table is not None:
            return self._table
        schema = self._table_schema(conn)
        if schema is None:
            with conn.transaction():
                # One creator at a time: CREATE ... IF NOT EXISTS alone can
                # still fail when two sessions create the same table at once.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_KEY,))
                schema = self._table_schema(conn) or self._create(conn)
        self._table = sql.Identifier(schema, TABLE)
        return self._table

    def _table_schema(self, conn):
        """The schema of the claims table, wherever a host created it: every
        host must use the same table, whatever its role and search_path."""
        rows = conn.execute(
            "SELECT n.nspname, has_schema_privilege(n.oid, 'USAGE') "
            "AND has_table_privilege(c.oid, 'SELECT') "
            "AND has_table_privilege(c.oid, 'INSERT'), "
            "c.oid = to_regclass(%s) AS visible "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND c.relkind IN ('r', 'p') "
            "ORDER BY visible DESC, n.nspname",
            (TABLE, TABLE),
        ).fetchall()
        if not rows:
            return None
        for schema, usable, _ in rows:
            if usable:
                return schema
        schema = rows[0][0]
        user = conn.execute("SELECT current_user").fetchone()[0]
        raise LockUnavailable(
            f"the claims table {schema}.{TABLE} exists (another host created "
            f"it) but user {user!r} may not use it; as its owner run: GRANT "
            f"USAGE ON SCHEMA {schema} TO {user}; GRANT SELECT, INSERT, DELETE "
            f"ON {schema}.{TABLE} TO {user};"
        )

    def _create(self, conn):
        import psycopg
        from psycopg import sql

        row = conn.execute(
            "SELECT s FROM unnest(current_schemas(false)) WITH ORDINALITY "
            "AS t(s, n) WHERE has_schema_privilege(s, 'CREATE') ORDER BY n "
            "LIMIT 1"
        ).fetchone()
        if row:
            schema = row[0]
        else:
            # No schema of the search path lets us create (PostgreSQL 15+
            # on public): a schema of our own, which "$user" then finds.
            schema = conn.execute("SELECT current_user").fetchone()[0]
            try:
                with conn.transaction():
                    conn.execute(
                        sql.SQL(
                            "CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION CURRENT_USER"
                        ).format(sql.Identifier(schema))
                    )
            except psycopg.errors.InsufficientPrivilege:
                raise LockUnavailable(
                    f"user {schema!r} may create the table {TABLE} in no schema "
                    f"of database {self.url.database!r} (PostgreSQL 15 and later "
                    f"let only the database owner create in public); as the "
                    f"owner run: CREATE SCHEMA {schema} AUTHORIZATION {schema};"
                ) from None
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " namespace text NOT NULL,"
                " name text NOT NULL,"
                " tick bigint NOT NULL,"
                " holder text NOT NULL,"
                " claimed_at timestamptz NOT NULL DEFAULT now(),"
                " expires_at timestamptz NOT NULL,"
                " PRIMARY KEY (namespace, name, tick))"
            ).format(sql.Identifier(schema, TABLE))
        )
        return schema

    def close(self):
        with self._mutex:
            self._closed = True
        self._discard(None, everyone=True)
