"""A ping's whole exchange, connect to last byte, ends at its deadline.

Servers that answer byte by byte, hang, or trickle a TLS handshake
(tests/faultserver.py); the deadline is injected (``timeout=``) so the tests do
not wait the real 10 s.
"""

import socket
import threading
import time

import pytest

from collective.recipe.clockserver.runner import pings
from faultserver import FaultServer, TLSServer

SLACK = 1.5  # seconds of scheduling noise on a busy test machine
SECRET = "0b5e55ed-ping-key"


class Config:
    def __init__(self, url):
        self.pings = {"job": url}


def timed_ping(url, timeout, event="start"):
    lines = []
    start = time.monotonic()
    ok = pings.ping(Config(url), "job", event, lines.append, timeout=timeout)
    return ok, time.monotonic() - start, lines


def ping_threads_end(within=3.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not [t for t in threading.enumerate() if t.name.startswith("ping ")]:
            return True
        time.sleep(0.05)
    return False


def test_the_default_deadline_is_ten_seconds():
    assert pings.TIMEOUT == 10


@pytest.mark.parametrize("behaviour", ["trickle", "trickle-headers", "hang"])
def test_a_slow_server_is_cut_off_at_the_deadline(faults, behaviour):
    url = f"{faults.address}/{behaviour}/{SECRET}"
    ok, took, lines = timed_ping(url, 1.5)
    assert ok is False
    assert 1.0 < took < 1.5 + SLACK, took
    assert len(lines) == 1
    assert lines[0].startswith("job: the start ping failed (")
    assert "within 1.5 s" in lines[0]
    assert "the run is not affected" in lines[0]
    assert SECRET not in lines[0]
    assert faults.paths == [f"/{behaviour}/{SECRET}/start"]
    assert ping_threads_end()  # the worker was cut, not left trickling


def test_the_module_deadline_applies_without_an_argument(faults, monkeypatch):
    monkeypatch.setattr(pings, "TIMEOUT", 1)
    lines = []
    start = time.monotonic()
    assert (
        pings.ping(Config(f"{faults.address}/trickle/x"), "job", "fail", lines.append)
        is False
    )
    assert time.monotonic() - start < 1 + SLACK
    assert "no complete answer within 1 s" in lines[0]
    assert ping_threads_end()


def test_a_whole_answer_before_the_deadline_is_a_ping(faults):
    ok, took, lines = timed_ping(f"{faults.address}/ok/{SECRET}", 5, "success")
    assert (ok, lines) == (True, [])
    assert took < 1 + SLACK
    ok, took, lines = timed_ping(f"{faults.address}/slow-ok/{SECRET}", 5, "fail")
    assert (ok, lines) == (True, [])
    assert 0.9 < took < 1 + SLACK
    assert faults.paths == [f"/ok/{SECRET}", f"/slow-ok/{SECRET}/fail"]


def test_errors_are_still_told_apart(faults):
    ok, _, lines = timed_ping(f"{faults.address}/reset/{SECRET}", 5)
    assert ok is False and "no complete answer" not in lines[0]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there
    ok, took, lines = timed_ping(f"http://127.0.0.1:{port}/{SECRET}", 5)
    assert ok is False
    assert "(Connection refused)" in lines[0]
    assert took < 1 + SLACK


def test_a_trickled_tls_handshake_is_cut_off_too():
    server = FaultServer("trickle-tls")
    try:
        ok, took, lines = timed_ping(f"https://127.0.0.1:{server.port}/{SECRET}", 1.5)
        assert ok is False
        assert 1.0 < took < 1.5 + SLACK, took
        assert "no complete answer within 1.5 s" in lines[0]
        assert SECRET not in lines[0]
        assert ping_threads_end()
    finally:
        server.stop()


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """An HTTPS server whose certificate the default context trusts."""
    server = TLSServer(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", server.cert)
    yield server
    server.stop()


def test_an_https_ping_goes_through_the_deadline_wrapper(tls_server):
    url = f"{tls_server.address}/ping/{SECRET}"
    ok, took, lines = timed_ping(url, 5, "success")
    assert (ok, lines) == (True, [])
    assert tls_server.paths == [f"/ping/{SECRET}"]
    assert ping_threads_end()
