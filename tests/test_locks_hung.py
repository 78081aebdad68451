"""Hung lock services: every claim ends within CLAIM_TIMEOUT, and recovers.

A hung host or a network black hole keeps the connection open and answers
nothing.  Here the real servers are frozen with SIGSTOP (the kernel still
accepts connections and acknowledges data, as for a hung host), or replaced
by a listener that accepts and never answers.  Every freeze is undone in a
``finally``.
"""

import contextlib
import logging
import os
import signal
import socket
import threading
import time

import pytest

import test_locks
from collective.recipe.clockserver.runner.locks import (
    UNREACHABLE,
    ClaimGate,
    LockUnavailable,
    open_lock,
)
from collective.recipe.clockserver.runner.locks.deadline import (
    CLAIM_TIMEOUT,
    HOLDOFF,
    Deadline,
    LockTimeout,
    within,
)
from test_locks import Job, unique

engine = test_locks.engine  # the fixture: one lock service per engine

SLACK = 1.5  # seconds of scheduling noise on a busy test machine


def children(pid):
    """Every descendant of ``pid`` (PostgreSQL: one backend per connection)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry))
            found.extend(children(int(entry)))
    return found


@contextlib.contextmanager
def frozen(service):
    """The service's processes stopped with SIGSTOP, continued afterwards."""
    stopped = []
    try:
        os.kill(service.process.pid, signal.SIGSTOP)  # no new children now
        stopped.append(service.process.pid)
        for pid in children(service.process.pid):
            try:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            except ProcessLookupError:
                pass
        yield
    finally:
        for pid in reversed(stopped):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


class Silent:
    """A listener that accepts every connection and never answers."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        self.conns = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.listener.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def silent():
    server = Silent()
    yield server
    server.close()


def timed_claim(lock, name, tick):
    """(outcome or the LockUnavailable, seconds taken)."""
    start = time.monotonic()
    try:
        outcome = lock.claim(name, tick, 60)
    except LockUnavailable as exc:
        outcome = exc
    return outcome, time.monotonic() - start


def workers_end(within_seconds):
    """True once no claim worker (deadline.within's thread) is left."""
    deadline = time.monotonic() + within_seconds
    while time.monotonic() < deadline:
        if not [t for t in threading.enumerate() if t.name == "lock claim"]:
            return True
        time.sleep(0.05)
    return False


def claim_soon(lock, name, tick, within_seconds=10.0):
    """The first claim that is answered, retried for a few seconds: how
    long a service that was frozen takes to come back."""
    deadline = time.monotonic() + within_seconds
    while True:
        outcome, _ = timed_claim(lock, name, tick)
        if not isinstance(outcome, LockUnavailable) or time.monotonic() > deadline:
            return outcome
        time.sleep(0.2)


# -- the deadline itself, without a service ----------------------------------------


def test_within_cuts_a_blocked_read_and_lets_a_quick_one_through(silent):
    def blocked(attempt):
        sock = socket.create_connection(("127.0.0.1", silent.port))
        attempt.watch(sock.fileno())
        try:
            return sock.recv(1)  # never answered: only the cut ends it
        finally:
            sock.close()
            ended.set()

    ended = threading.Event()
    start = time.monotonic()
    with pytest.raises(LockUnavailable) as info:
        within(0.5, blocked)
    assert str(info.value) == "no answer within 0.5 s"
    assert time.monotonic() - start < 0.5 + SLACK
    assert ended.wait(2)  # the worker did not stay behind
    assert within(1, lambda attempt, x: x * 2, 21) == 42
    with pytest.raises(ZeroDivisionError):
        within(1, lambda attempt: 1 / 0)


def test_cut_callbacks_run_once_and_late_ones_at_once():
    calls = []
    gate = threading.Event()

    def work(attempt):
        attempt.on_cut(lambda: calls.append("cut"))
        gate.wait(5)
        attempt.on_cut(lambda: calls.append("late"))

    with pytest.raises(LockUnavailable):
        within(0.2, work)
    assert calls == ["cut"]
    gate.set()
    deadline = time.monotonic() + 5
    while calls != ["cut", "late"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls == ["cut", "late"]


def test_after_a_timeout_claims_fail_at_once_then_one_asks_again():
    deadline = Deadline(0.3, holdoff=0.6)
    release = threading.Event()

    def hangs(attempt):
        release.wait(10)
        return "late"

    def answers(attempt, value):
        return value

    with pytest.raises(LockTimeout):
        deadline.claim(hangs)
    start = time.monotonic()
    with pytest.raises(LockTimeout) as info:
        deadline.claim(answers, "too soon")
    assert time.monotonic() - start < 0.1
    assert str(info.value) == "no answer within 0.3 s; asked again every 0.6 s"
    time.sleep(0.7)
    # One claim asks again; while it waits, the others fail at once.
    asking = threading.Thread(
        target=lambda: pytest.raises(LockTimeout, deadline.claim, hangs)
    )
    asking.start()
    time.sleep(0.1)
    with pytest.raises(LockTimeout):
        deadline.claim(answers, "while one asks")
    asking.join(5)
    time.sleep(0.7)
    release.set()  # the service is back
    assert deadline.claim(answers, "back") == "back"
    assert deadline.claim(answers, "and on") == "and on"

    # A service that refuses at once is not "hung": no pause after that.
    def refuses(attempt):
        raise LockUnavailable("connection refused")

    for _ in range(3):
        with pytest.raises(LockUnavailable):
            deadline.claim(refuses)
    assert deadline.claim(answers, "at once") == "at once"


# -- frozen servers -----------------------------------------------------------------


def test_a_frozen_service_is_unreachable_within_the_bound_then_back(engine):
    url, user, password, service = engine
    lock = open_lock(url, user, password, unique("frozen"), "web1")
    try:
        assert lock.claim("job", 1, 60) == (True, "web1")  # a live connection
        with frozen(service):
            outcome, took = timed_claim(lock, "job", 2)  # on the open connection
            assert isinstance(outcome, LockTimeout), outcome
            assert str(outcome) == "no answer within 5 s"
            assert CLAIM_TIMEOUT - 0.5 < took < CLAIM_TIMEOUT + SLACK, took
            if not url.startswith("redis"):  # redis-py's socket timeout ends it
                assert workers_end(3), "the cut left the claim's worker waiting"
            outcome, took = timed_claim(lock, "job", 3)  # known to hang: at once
            assert isinstance(outcome, LockTimeout), outcome
            assert took < 0.5, took
            time.sleep(HOLDOFF)
            outcome, took = timed_claim(lock, "job", 4)  # asks again, anew
            assert isinstance(outcome, LockUnavailable), outcome
            assert took < CLAIM_TIMEOUT + SLACK, took
        # Continued: the broken connection was dropped, a new one works.
        assert claim_soon(lock, "job", 5, HOLDOFF + 5) == (True, "web1")
        assert lock.claim("job", 6, 60) == (True, "web1")
    finally:
        lock.close()


def test_concurrent_claims_on_a_frozen_service_are_not_queued(engine):
    """Six jobs claim at once: all end within one bound, not six."""
    url, user, password, service = engine
    lock = open_lock(url, user, password, unique("queue"), "web1")
    try:
        assert lock.claim("warm", 1, 60) == (True, "web1")
        outcomes = {}

        def claim(name):
            outcomes[name] = timed_claim(lock, name, 7)

        with frozen(service):
            start = time.monotonic()
            threads = [
                threading.Thread(target=claim, args=(f"job{i}",)) for i in range(6)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(3 * CLAIM_TIMEOUT)
            took = time.monotonic() - start
        assert took < CLAIM_TIMEOUT + SLACK, took
        assert len(outcomes) == 6
        for name, (outcome, _) in outcomes.items():
            assert isinstance(outcome, LockUnavailable), (name, outcome)
        assert claim_soon(lock, "job0", 8) == (True, "web1")
    finally:
        lock.close()


def test_the_gate_logs_unreachable_and_back_for_a_frozen_service(engine, caplog):
    url, user, password, service = engine
    log = logging.getLogger("test-hung-gate")
    gate = ClaimGate(open_lock(url, user, password, unique("gate"), "web1"), log, url)
    job = Job("feeds", 60)
    try:
        with caplog.at_level(logging.INFO, "test-hung-gate"):
            assert gate(job, 60.0) is None
            with frozen(service):
                start = time.monotonic()
                assert gate(job, 120.0) == UNREACHABLE
                assert time.monotonic() - start < CLAIM_TIMEOUT + SLACK
            deadline = time.monotonic() + 10
            due = 180.0
            while gate(job, due) is not None:  # back within seconds
                assert time.monotonic() < deadline, caplog.text
                due += 60
                time.sleep(0.2)
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1, errors
        assert f"lock service {url} unreachable (no answer within" in errors[0]
        assert "reachable again after" in caplog.text
        if password:
            assert password not in caplog.text
    finally:
        gate.close()


# -- a listener that never answers ---------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql", "redis", "zeo"])
def test_a_listener_that_never_answers_is_unreachable_within_the_bound(scheme, silent):
    url = {
        "postgresql": f"postgresql://127.0.0.1:{silent.port}/site",
        "redis": f"redis://127.0.0.1:{silent.port}/0",
        "zeo": f"zeo://127.0.0.1:{silent.port}/locks",
    }[scheme]
    lock = open_lock(url, "clock", None if scheme == "zeo" else "pw", "ns", "web1")
    try:
        for tick in (1, 2, 3):
            outcome, took = timed_claim(lock, "job", tick)
            assert isinstance(outcome, LockUnavailable), outcome
            assert str(outcome)
            assert took < CLAIM_TIMEOUT + SLACK, (tick, took)
    finally:
        lock.close()


# -- PostgreSQL: a claim that waits does not hold up the others ----------------------


def test_postgresql_a_claim_waiting_on_a_row_does_not_hold_up_others(postgres):
    namespace = unique("row")
    lock = open_lock(
        postgres.url(), "clock", postgres.CLOCK_PASSWORD, namespace, "web1"
    )
    try:
        assert lock.claim("other", 1, 60) == (True, "web1")  # the table exists
        schema = (
            lock._idle[0]
            .execute(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON "
                "n.oid = c.relnamespace WHERE c.relname = 'clockserver_claims'"
            )
            .fetchone()[0]
        )
        blocker = postgres.superuser("site")
        blocker.autocommit = False
        # Another host's claim of ("slow", 5), not yet committed: ours waits.
        blocker.execute(
            f'INSERT INTO "{schema}".clockserver_claims (namespace, name, tick, '
            "holder, expires_at) VALUES (%s, 'slow', 5, 'web2', now() + "
            "interval '1 minute')",
            (namespace,),
        )
        slow = {}
        thread = threading.Thread(
            target=lambda: slow.update(result=timed_claim(lock, "slow", 5))
        )
        try:
            thread.start()
            time.sleep(0.5)
            # Meanwhile other jobs claim at once.
            for tick in (5, 6, 7):
                outcome, took = timed_claim(lock, "fast", tick)
                assert outcome == (True, "web1")
                assert took < 1.0 + SLACK, took
            thread.join(CLAIM_TIMEOUT + SLACK + 1)
            outcome, took = slow["result"]
            assert isinstance(outcome, LockUnavailable), outcome
            assert "no answer within" in str(outcome)
            assert CLAIM_TIMEOUT - 0.5 < took < CLAIM_TIMEOUT + SLACK
        finally:
            blocker.rollback()
            blocker.close()
        assert claim_soon(lock, "slow", 6, HOLDOFF + 5) == (True, "web1")
    finally:
        lock.close()


def test_a_client_library_failing_its_own_way_is_unavailable():
    """A lock client's own error (not the engine's LockUnavailable) is the
    service being unusable for that claim: never a traceback in the clock."""

    def broken(attempt, name):
        raise TypeError("argument of type 'NoneType' is not iterable")

    with pytest.raises(LockUnavailable) as info:
        Deadline().claim(broken, "job")
    assert str(info.value) == (
        "TypeError in the lock client: argument of type 'NoneType' is not iterable"
    )
    assert not isinstance(info.value, LockTimeout)
