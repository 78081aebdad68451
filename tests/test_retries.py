"""Retries within a tick (runner/retry.py, call.py, clock.py, fire): which
failures are retried, the waits (1, 2, 4 ... 60 s, Retry-After up to 1 h),
never at or after the next tick, no call slot held between attempts, one
outcome per tick.  Real HTTP against local servers; the waits in
simulated time (no wall-clock waiting but one 1-second Retry-After in the
real ``fire``)."""

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from collective.recipe.clockserver.model import Job
from collective.recipe.clockserver.runner import call as calls
from collective.recipe.clockserver.runner import retry
from collective.recipe.clockserver.runner.call import Outcome, call
from collective.recipe.clockserver.runner.clock import Clock
from collective.recipe.clockserver.runner.config import load_config, parse_config
from collective.recipe.clockserver.runner.runs import of_call
from simtime import FakeTime, ListLog
from test_runner_clock import T0, Recorder, write_config


class Scripted(BaseHTTPRequestHandler):
    """Answers from ``server.script`` (status, headers) in turn, then 200."""

    def do_GET(self):
        server = self.server
        with server.lock:
            server.paths.append(self.path)
            status, headers = server.script.pop(0) if server.script else (200, {})
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def scripted(script, port=0):
    server = ThreadingHTTPServer(("127.0.0.1", port), Scripted)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.paths = []
    server.script = list(script)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def servers():
    started = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config_for(address, retries=3, timeout=5, **job):
    return parse_config(
        {
            "part": "clock",
            "address": address,
            "timeout": timeout,
            "retries": retries,
            "jobs": [dict({"name": "j", "method": "/j", "period": 3600}, **job)],
        }
    )


class Waits:
    """``sleep`` and ``now`` for retry.attempts: simulated seconds; ``then``
    runs at the first wait (e.g. starts the server that was not up)."""

    def __init__(self, then=None):
        self.now_value = 1_000_000.0
        self.waits = []
        self.then = then

    def now(self):
        return self.now_value

    def sleep(self, seconds):
        self.waits.append(seconds)
        self.now_value += seconds
        if self.then:
            self.then()
            self.then = None


# -- what is retried ------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, headers, retryable, after",
    [
        (503, {"Retry-After": "7"}, True, 7),
        (500, {}, True, None),
        (429, {"Retry-After": "120"}, True, 120),
        (502, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, True, 0),
        (404, {}, False, None),
        (401, {}, False, None),
        (302, {"Location": "/login"}, False, None),
        (200, {}, False, None),
    ],
)
def test_answers_that_are_retried(servers, status, headers, retryable, after):
    server = scripted([(status, headers)])
    servers.append(server)
    config = config_for("http://127.0.0.1:%d" % server.server_port)
    outcome = call(config, config.jobs[0])
    assert (outcome.status, outcome.retryable, outcome.retry_after) == (
        status,
        retryable,
        after,
    )


def test_refused_and_unresolvable_are_retried_timeouts_and_cut_offs_never(faults):
    refused = call(config_for("http://127.0.0.1:%d" % free_port()), Job("j", "/j", 60))
    assert refused.retryable and "connection refused" in refused.error
    for path, timeout in (
        ("/hang", 1),
        ("/truncate", 5),
        ("/reset", 5),
        ("/close", 5),
        ("/reset-body", 5),
    ):
        config = config_for(faults.address, timeout=timeout)
        outcome = call(config, Job("j", path, 60))
        assert not outcome.ok and not outcome.retryable, (path, outcome)


def test_name_not_resolved_is_retried(monkeypatch):
    def no_name(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(calls.socket, "create_connection", no_name)
    outcome = call(config_for("http://zope.invalid:8080"), Job("j", "/j", 60))
    assert outcome.retryable and "cannot resolve the host" in outcome.error


def test_reset_before_the_request_was_sent_is_retried(monkeypatch):
    """A connection reset while the request is being sent (the server
    cannot have run it); a reset after it was sent is never retried
    (faultserver's /reset, above)."""

    class Resetting:
        def settimeout(self, timeout):
            pass

        def send(self, data):
            raise ConnectionResetError(104, "Connection reset by peer")

        def close(self):
            pass

    monkeypatch.setattr(calls.socket, "create_connection", lambda *a, **k: Resetting())
    outcome = call(config_for("http://127.0.0.1:8080"), Job("j", "/j", 60))
    assert (
        outcome.retryable
        and "reset the connection sending the request" in outcome.error
    )


def test_the_job_s_timeout_bounds_each_attempt(faults):
    config = parse_config(
        {
            "part": "clock",
            "address": faults.address,
            "timeout": 300,
            "jobs": [{"name": "j", "method": "/j", "period": 60, "timeout": 1}],
        }
    )
    outcome = call(config, config.jobs[0].replace(method="/hang"))
    assert "timed out after 1 s (the job's timeout=)" in outcome.error
    assert outcome.duration < 5


# -- the waits ------------------------------------------------------------------------


def test_backoff_doubles_up_to_a_minute_and_retry_after_up_to_an_hour():
    refused = Outcome(0.1, error="connection refused", retryable=True)
    assert [retry.wait_before(n, refused) for n in range(1, 10)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        60,
        60,
        60,
    ]
    asked = Outcome(0.1, 503, "Service Unavailable", retryable=True, retry_after=7200)
    assert retry.wait_before(1, asked) == 3600


def test_refused_then_up_recovers_in_one_outcome(servers):
    port = free_port()
    config = config_for("http://127.0.0.1:%d" % port, retries=3)
    waits = Waits(then=lambda: servers.append(scripted([], port)))
    outcome = retry.attempts(config, config.jobs[0], call, None, waits.now, waits.sleep)
    assert outcome.ok and waits.waits == [1]
    assert len(outcome.attempts) == 2 and "connection refused" in outcome.attempts[0]
    result = of_call(outcome, config.jobs[0])
    assert result.reason.startswith("200 OK (2 attempts: 1. connection refused")


def test_503_with_retry_after_then_200(servers):
    server = scripted([(503, {"Retry-After": "5"}), (503, {"Retry-After": "5"})])
    servers.append(server)
    config = config_for("http://127.0.0.1:%d" % server.server_port, retries=3)
    waits = Waits()
    outcome = retry.attempts(config, config.jobs[0], call, None, waits.now, waits.sleep)
    assert outcome.ok and waits.waits == [5, 5] and len(server.paths) == 3
    assert of_call(outcome, config.jobs[0]).reason.startswith(
        "200 OK (3 attempts: 1. 503 Service Unavailable; 2. 503 Service Unavailable; 3. 200"
    )


def test_always_refused_gives_up_after_the_retries():
    config = config_for("http://127.0.0.1:%d" % free_port(), retries=4)
    waits = Waits()
    outcome = retry.attempts(config, config.jobs[0], call, None, waits.now, waits.sleep)
    assert not outcome.ok and waits.waits == [1, 2, 4, 8] and len(outcome.attempts) == 5


def test_no_attempt_at_or_after_the_next_tick(servers):
    server = scripted([(503, {"Retry-After": "120"})])
    servers.append(server)
    config = config_for("http://127.0.0.1:%d" % server.server_port, retries=3)
    waits = Waits()
    outcome = retry.attempts(
        config, config.jobs[0], call, waits.now() + 60, waits.now, waits.sleep
    )
    assert not outcome.ok and waits.waits == [] and len(server.paths) == 1
    reason = of_call(outcome, config.jobs[0]).reason
    assert (
        "no retry: Retry-After asked for 120 s, which reaches the next tick" in reason
    )


def test_never_retried_without_retries_and_never_a_404(servers):
    server = scripted([(404, {}), (503, {})])
    servers.append(server)
    for retries in (3, 0):
        config = config_for("http://127.0.0.1:%d" % server.server_port, retries=retries)
        waits = Waits()
        outcome = retry.attempts(
            config, config.jobs[0], call, None, waits.now, waits.sleep
        )
        assert waits.waits == [] and outcome.attempts == ()


# -- in the clock: no slot held, one tick one outcome ---------------------------------


def test_clock_retries_without_holding_a_slot(tmp_path):
    """One slot.  'flaky' is refused at T0 and answers 503 (Retry-After 5)
    at T0+1, then 200 at T0+6; 'other', due at T0+2, takes the free slot
    meanwhile.  One start and one end for the tick, the duration over all
    attempts."""
    fake = FakeTime(T0 - 0.5)
    answers = {
        "flaky": [
            Outcome(0, error="connection refused", retryable=True),
            Outcome(0, 503, "Service Unavailable", retryable=True, retry_after=5),
        ]
    }
    made = []

    def answer(config, job):
        made.append((job.name, fake.time()))
        queue = answers.get(job.name)
        return queue.pop(0) if queue else Outcome(0, 200, "OK")

    config = load_config(
        write_config(
            tmp_path / "clock.json",
            "http://127.0.0.1:1",
            [
                {"name": "flaky", "method": "/flaky", "period": 3600, "retries": 3},
                {"name": "other", "method": "/other", "period": 3600, "offset": 2},
            ],
            concurrency=1,
        )
    )
    observer = Recorder(fake)
    log = ListLog()
    clock = Clock(config, log=log, observer=observer, clock=fake, call=answer)
    fake.run(clock, T0 + 60)
    assert made == [
        ("flaky", T0),
        ("flaky", T0 + 1),
        ("other", T0 + 2),
        ("flaky", T0 + 6),
    ]
    flaky = [e for e in observer.events if e[1] == "flaky"]
    assert [e[0] for e in flaky] == ["started", "finished"]
    assert flaky[1] == ("finished", "flaky", T0, True)
    assert "flaky: connection refused (0.000 s); retry 1 of 3 in 1 s" in log.text
    assert "flaky: 503 Service Unavailable (0.000 s); retry 2 of 3 in 5 s" in log.text
    assert "flaky: 200 OK (6.000 s, 3 attempts)" in log.text


def test_clock_stops_retrying_before_the_next_tick(tmp_path):
    fake = FakeTime(T0 - 0.5)
    made = []

    def answer(config, job):
        made.append(fake.time())
        return Outcome(0, 503, "Service Unavailable", retryable=True)

    config = load_config(
        write_config(
            tmp_path / "clock.json",
            "http://127.0.0.1:1",
            [{"name": "j", "method": "/j", "period": 10, "retries": 10}],
        )
    )
    observer = Recorder(fake)
    clock = Clock(config, log=ListLog(), observer=observer, clock=fake, call=answer)
    fake.run(clock, T0 + 9.5)
    # Waits 1, 2, 4: the next wait (8 s, at T0+7) would reach the tick at T0+10.
    assert [t - T0 for t in made] == [0, 1, 3, 7]
    assert [e[0] for e in observer.events] == ["started", "finished"]


# -- fire, a real process -------------------------------------------------------------


def test_fire_retries_and_records_one_run(servers, part_factory):
    server = scripted([(503, {"Retry-After": "1"})])
    servers.append(server)
    part = part_factory(
        "http://127.0.0.1:%d" % server.server_port,
        [{"name": "j", "method": "/j", "period": 3600, "retries": 2}],
    )
    result = part.run("fire", "-v", "j")
    assert result.returncode == 0, result.stderr
    assert len(server.paths) == 2
    [run] = part.record("j")["runs"]
    assert run["result"] == "ok" and run["duration"] >= 1
    assert run["reason"].startswith(
        "200 OK (2 attempts: 1. 503 Service Unavailable; 2. 200 OK)"
    )
    states, _ = part.states()
    assert states["j"]["totals"] == {"ok": 1, "failed": 0, "skipped": 0}


def test_fire_records_the_number_of_attempts(servers, part_factory):
    server = scripted([(503, {"Retry-After": "1"}), (503, {"Retry-After": "1"})])
    servers.append(server)
    part = part_factory(
        "http://127.0.0.1:%d" % server.server_port,
        [{"name": "j", "method": "/j", "period": 3600, "retries": 3}],
    )
    assert part.run("fire", "j").returncode == 0
    assert part.run("fire", "j").returncode == 0  # a 200 at once: one attempt
    assert len(server.paths) == 4
    first, second = part.record("j")["runs"]
    assert first["result"] == "ok" and first["attempts"] == 3
    assert second["result"] == "ok" and second["attempts"] == 1
    assert part.record("j")["last_success"]["attempts"] == 1


def test_a_refused_call_given_up_counts_its_attempts_not_the_note(part_factory):
    part = part_factory(
        "http://127.0.0.1:%d" % free_port(),
        [{"name": "j", "method": "/j", "period": 2, "retries": 5}],
    )
    # Waits of 1 s, then 2 s: one of them reaches the next tick (2 s away
    # at most), which ends the run with a note that is no attempt.
    assert part.run("fire", "j").returncode == 1
    [run] = part.record("j")["runs"]
    assert run["result"] == "failed" and "; no retry: " in run["reason"]
    counted = re.search(r"\((\d) attempts?: ", run["reason"])
    assert run["attempts"] == int(counted.group(1)) in (1, 2)
