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


def test_run_without_the_client_library_says_so(tmp_path, server):
    config = write_config(str(tmp_path), server.address,
                          [{"name": "tick", "method": "/nolib", "period": 1}],
                          {"url": "redis://127.0.0.1:1/0", "namespace": "x"})
    hide = "import sys; sys.modules['redis'] = None; " + RUNNER
    result = subprocess.run([sys.executable, "-c", hide, config, "run"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "redis-py is not installed" in lines[0]
    assert "run bin/buildout again" in lines[0]
    assert [p for _, p in server.requests if p == "/nolib"] == []


@pytest.mark.parametrize("lock, problem", [
    ({"url": "mysql://db/x"}, "lock: unknown lock service 'mysql'"),
    ({"url": "redis://:pw@cache"}, "lock: the URL holds a password"),
    ("redis://cache", "'lock' must be an object"),
    ({"url": "redis://cache", "password": 5}, "lock: password must be a string"),
])
def test_damaged_lock_in_the_config_file(tmp_path, lock, problem):
    config = write_config(str(tmp_path), "http://127.0.0.1:8080",
                          [{"name": "tick", "method": "/x", "period": 60}], lock)
    result = subprocess.run([sys.executable, "-c", RUNNER, config, "list"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert problem in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_reload_adds_and_removes_the_lock(tmp_path, server, redis_server):
    namespace = f"reload-{os.getpid()}"
    jobs = [{"name": "tick", "method": "/reload", "period": 1}]
    lock = {"url": redis_server.url(), "user": None,
            "password": redis_server.PASSWORD, "namespace": namespace}
    config = write_config(str(tmp_path), server.address, jobs, None)
    log = str(tmp_path / "run.log")
    process = start_run(config, log)
    client = redis_server.client()
    keys = lambda: client.keys(f'clockserver:\\["{namespace}"*')  # noqa: E731
    try:
        assert wait_until(lambda: "Clock server for" in read(log)), read(log)
        write_config(str(tmp_path), server.address, jobs, lock)
        process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: len(keys()) >= 2), read(log)
        assert f"lock: none (one host) -> {lock['url']} namespace {namespace}" \
            in read(log)
        write_config(str(tmp_path), server.address, jobs, None)
        process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "-> none (one host)" in read(log)), read(log)
    finally:
        stop(process)
    text = read(log)
    assert "Traceback" not in text
    assert redis_server.PASSWORD not in text
