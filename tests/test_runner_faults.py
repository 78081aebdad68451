"""bin/<part> fire and run against a server that misbehaves (tests/faultserver.py).

Every way a server can go wrong gives the exit status and the line the
contract asks for; nothing hangs past the call's deadline, no traceback,
and a server's control characters never reach the output raw.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from faultserver import TLSServer
from runnerparts import runner_command as runner

TIMEOUT = 1  # the timeout option of these configs, in seconds


def write_config(tmp_path, address, jobs, timeout=TIMEOUT, **extra):
    path = tmp_path / "parts" / "clock" / "clock.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            dict(
                {"part": "clock", "address": address, "timeout": timeout, "jobs": jobs},
                **extra,
            )
        )
    )
    path.chmod(0o600)
    return str(path)


def fire(tmp_path, faults, path, *options):
    config = write_config(
        tmp_path, faults.address, [{"name": "job", "method": path, "period": 60}]
    )
    result = subprocess.run(
        runner(config, "fire", *options, "job"),
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    return result


# (path, exit status, fragments of the one line on stderr)
FIRE_CASES = [
    (
        "/hang",
        1,
        ["clock: job: timed out after 1 s (the timeout option) waiting for the answer"],
    ),
    (
        "/trickle",
        1,
        [
            "clock: job: 200 OK, but timed out after 1 s (the timeout option) "
            "receiving the answer"
        ],
    ),
    (
        "/trickle-headers",
        1,
        ["timed out after 1 s (the timeout option) waiting for the answer"],
    ),
    (
        "/truncate",
        1,
        [
            "200 OK, but the answer was cut off: 10 of 100 bytes of the body "
            "received (Content-Length)"
        ],
    ),
    (
        "/chunked-cut",
        1,
        [
            "200 OK, but the answer was cut off: the connection closed in "
            "the middle of a chunked body, after 5 bytes"
        ],
    ),
    ("/bad-chunk", 1, ["200 OK, but the answer has a bad chunk size: 'zz'"]),
    ("/reset", 1, ["reset the connection waiting for the answer"]),
    ("/reset-body", 1, ["200 OK, but", "reset the connection receiving the answer"]),
    ("/close", 1, ["closed the connection without an answer"]),
    ("/garbage", 1, ["the answer is not HTTP: it starts with 'GARBAGE \\x1b[31mred'"]),
    (
        "/huge-headers",
        1,
        ["200 OK, but its headers are larger than 65536 bytes or 100 lines"],
    ),
    ("/long-line", 1, ["the answer has a header line longer than 8192 bytes"]),
    ("/bad-length", 1, ["200 OK, but the answer has a bad Content-Length: '12abc'"]),
    (
        "/forged",
        1,
        [
            "302 Moved\\x1b[2J\\x0dINFO forged: redirected to "
            "/elsewhere\\x0d2026-01-01 INFO [clock] forged: 200 OK\\x07; "
            "redirects are not followed"
        ],
    ),
    ("/forged-error", 1, ["500 Oops\\x00\\x1b]0;title\\x07\\x85"]),
]


@pytest.mark.parametrize(
    "path, status, fragments",
    FIRE_CASES,
    ids=[case[0].strip("/") for case in FIRE_CASES],
)
def test_fire_against_a_faulty_server(tmp_path, faults, path, status, fragments):
    result = fire(tmp_path, faults, path)
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # one line: nothing forged, no traceback
    for fragment in fragments:
        assert fragment in lines[0]
    assert lines[0].endswith(" s)")
    assert all(char == "\n" or " " <= char < "\x7f" for char in result.stderr)


@pytest.mark.parametrize(
    "path", ["/huge", "/huge-unframed", "/chunked", "/continue-then-ok"]
)
def test_fire_complete_answers_succeed(tmp_path, faults, path):
    config = write_config(
        tmp_path,
        faults.address,
        [{"name": "job", "method": path, "period": 60}],
        timeout=60,
    )
    result = subprocess.run(
        runner(config, "fire", "-v", "job"), capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr
    assert "clock: job: 200 OK (" in result.stdout and result.stderr == ""


def test_fire_trickle_is_cut_at_the_deadline(tmp_path, faults):
    """The trickle sends a byte every 0.2 s for hours: only the whole-call
    deadline ends the call (the reported duration is the deadline's)."""
    result = fire(tmp_path, faults, "/trickle")
    assert result.returncode == 1
    duration = float(result.stderr.rsplit("(", 1)[1].split()[0])
    assert duration >= TIMEOUT  # never ends before its deadline (a lower bound)


# -- run ----------------------------------------------------------------------------


def test_run_against_faulty_servers(tmp_path, faults):
    names = [
        "hang",
        "trickle",
        "truncate",
        "chunked-cut",
        "reset",
        "garbage",
        "huge",
        "forged",
        "ok",
    ]
    config = write_config(
        tmp_path,
        faults.address,
        [{"name": name, "method": f"/{name}", "period": 2} for name in names],
        timeout=1.5,
        concurrency=len(names),
    )
    log_path = tmp_path / "clock.log"
    with open(tmp_path / "stderr", "w") as stderr:
        proc = subprocess.Popen(
            runner(config, "run", "--log-file", str(log_path)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = log_path.read_text() if log_path.exists() else ""
            if all(f"] {name}: " in text for name in names):
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=10)
    finally:
        proc.kill()
    assert status == 0
    text = log_path.read_text()
    assert (tmp_path / "stderr").read_text() == ""
    expected = {
        "hang": "WARNING [clock] hang: timed out after 1.5 s (the timeout option) "
        "waiting for the answer",
        "trickle": "WARNING [clock] trickle: 200 OK, but timed out after 1.5 s "
        "(the timeout option) receiving the answer",
        "truncate": "WARNING [clock] truncate: 200 OK, but the answer was cut off: "
        "10 of 100 bytes",
        "chunked-cut": "WARNING [clock] chunked-cut: 200 OK, but the answer was cut off",
        "reset": "WARNING [clock] reset: http://127.0.0.1:",
        "garbage": "WARNING [clock] garbage: the answer is not HTTP: it starts with "
        "'GARBAGE \\x1b[31mred'",
        "huge": "INFO [clock] huge: 200 OK (",
        "forged": "WARNING [clock] forged: 302 Moved\\x1b[2J\\x0dINFO forged",
        "ok": "INFO [clock] ok: 200 OK (",
    }
    for name, fragment in expected.items():
        assert fragment in text, name
    assert "Traceback" not in text and "\x1b" not in text and "\r" not in text
    # Every line is a log line: the forged texts did not start new ones.
    for line in text.splitlines():
        assert line[:4].isdigit() and " [clock] " in line, line
    assert "stopped (SIGTERM)" in text


# -- https ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A local https server with a self-signed certificate for 127.0.0.1."""
    server = TLSServer(tmp_path_factory.mktemp("tls"))
    yield server
    server.stop()


@pytest.mark.parametrize("trusted", [True, False])
def test_fire_https(tmp_path, tls_server, trusted):
    config = write_config(
        tmp_path,
        tls_server.address,
        [{"name": "job", "method": "/tls", "period": 60}],
        timeout=10,
    )
    env = dict(os.environ)
    env.pop("SSL_CERT_DIR", None)
    if trusted:
        env["SSL_CERT_FILE"] = tls_server.cert  # what ssl's default context trusts
    result = subprocess.run(
        runner(config, "fire", "-v", "job"),
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    if trusted:
        assert result.returncode == 0, result.stderr
        assert "clock: job: 200 OK (" in result.stdout
    else:
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1
        assert f"TLS error talking to {tls_server.address}" in result.stderr
        assert "certificate verify failed" in result.stderr
