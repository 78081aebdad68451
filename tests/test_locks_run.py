"""bin/<part> run with ``lock``: real processes, real lock services."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

RUNNER = ("import sys; from collective.recipe.clockserver.runner import main; "
          "sys.exit(main(sys.argv[1], sys.argv[2:]))")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append((time.time(), self.path))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


@pytest.fixture
def server():
    srv = Server(("127.0.0.1", 0), Handler)
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.address = "http://127.0.0.1:%d" % srv.server_address[1]
    yield srv
    srv.shutdown()
    srv.server_close()


def lock_of(engine_name, request, namespace):
    """The config's lock object for one engine (as the recipe writes it)."""
    if engine_name == "postgresql":
        pg = request.getfixturevalue("postgres")
        return {"url": pg.url(), "user": "clock", "password": pg.CLOCK_PASSWORD,
                "namespace": namespace}, pg
    if engine_name == "redis":
        rs = request.getfixturevalue("redis_server")
        return {"url": rs.url(), "user": None, "password": rs.PASSWORD,
                "namespace": namespace}, rs
    zs = request.getfixturevalue("zeo_server")
    return {"url": zs.url(), "user": None, "password": None,
            "namespace": namespace}, zs


def write_config(directory, address, jobs, lock, **extra):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "clock.json")
    data = {"part": "clock", "address": address, "timeout": 5, "jobs": [
        dict({"host": None, "user": None, "password": None}, **job) for job in jobs],
        "lock": lock}
    data.update(extra)
    with open(path, "w") as f:
        json.dump(data, f)
    os.chmod(path, 0o600)
    return path


def start_run(config, log):
    return subprocess.Popen([sys.executable, "-c", RUNNER, config, "run"],
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def read(path):
    with open(path) as f:
        return f.read()


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("engine_name", ["postgresql", "redis", "zeo"])
def test_service_down_at_start_going_away_and_back(engine_name, request, server,
                                                   tmp_path):
    """No call while the service is down, no traceback, recovery."""
    lock, service = lock_of(engine_name, request, f"outage-{os.getpid()}")
    method = f"/outage-{engine_name}"
    config = write_config(str(tmp_path / "host"), server.address,
                          [{"name": "tick", "method": method, "period": 1}], lock)
    log = str(tmp_path / "run.log")
    calls = lambda: [t for t, path in list(server.requests) if path == method]  # noqa
    service.stop()
    process = start_run(config, log)
    try:
        # Down at start: the clock runs, skips, calls nothing.
        assert wait_until(lambda: read(log).count("unreachable") >= 1), read(log)
        time.sleep(2.5)
        assert calls() == [], read(log)
        assert process.poll() is None
        # Back: calls resume.
        service.start()
        assert wait_until(lambda: len(calls()) >= 2), read(log)
        assert "reachable again after" in read(log)
        # Going away while the clock runs: calls stop.
        service.stop()
        stopped = time.time()
        assert wait_until(lambda: read(log).count("unreachable (") >= 2), read(log)
        time.sleep(2.5)
        # A claim taken just before the stop may still be called (it was won).
        late = [t for t in calls() if t > stopped + 1.0]
        assert late == [], read(log)
        service.start()
        resumed = len(calls())
        assert wait_until(lambda: len(calls()) >= resumed + 2), read(log)
    finally:
        stop(process)
        if service.process is None:
            service.start()
    text = read(log)
    assert "Traceback" not in text
    assert text.count("reachable again after") == 2
    assert process.returncode == 0
    if lock["password"]:
        assert lock["password"] not in text
