"""bin/<part> against a real local HTTP server; ``run`` as a real process."""

import base64
import json
import math
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from collective.recipe.clockserver.runner import main
from collective.recipe.clockserver.runner.timefmt import format_period, next_due
from localserver import serve
from runnerparts import start_clock
from test_runner_clock import wait_for


@pytest.fixture(scope="module")
def server():
    yield from serve()


def requests_to(server, prefix):
    with server.lock:
        return [r for r in server.seen if r["path"].startswith(prefix)]


def write_config(tmp_path, address, jobs, timeout=5):
    path = tmp_path / "parts" / "clock" / "clock.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    full = [dict({"host": None, "user": None, "password": None}, **job) for job in jobs]
    path.write_text(
        json.dumps(
            {"part": "clock", "address": address, "timeout": timeout, "jobs": full}
        )
    )
    path.chmod(0o600)
    return str(path)


def fire(tmp_path, address, method, timeout=5, **job):
    """Run ``fire job`` in-process; return its exit status."""
    config = write_config(
        tmp_path, address, [dict(name="job", method=method, period=60, **job)], timeout
    )
    return main(config, ["fire", "job"])


# -- requests -----------------------------------------------------------------


def test_request_line_keeps_the_query_and_default_host(server, tmp_path):
    assert fire(tmp_path, server.address, "/plone/@@cleanup?days=14&x=1") == 0
    [request] = requests_to(server, "/plone/@@cleanup")
    assert request["requestline"].startswith("GET /plone/@@cleanup?days=14&x=1 HTTP/1.")
    assert request["headers"]["Host"] == server.address.split("://")[1]
    assert "Authorization" not in request["headers"]
    assert "Zope Clock Server Client" in request["headers"]["User-Agent"]


def test_job_host_is_the_host_header(server, tmp_path):
    assert fire(tmp_path, server.address, "/hosted", host="plonecommunity.mobi") == 0
    [request] = requests_to(server, "/hosted")
    assert request["headers"]["Host"] == "plonecommunity.mobi"


@pytest.mark.parametrize(
    "user, password, sent",
    [
        ("zopeuser", "secret", True),
        ("zopeuser", None, False),
        (None, "secret", False),
        (None, None, False),
    ],
)
def test_basic_auth_only_with_user_and_password(server, tmp_path, user, password, sent):
    method = f"/auth-{user}-{password}"
    assert fire(tmp_path, server.address, method, user=user, password=password) == 0
    [request] = requests_to(server, method)
    header = request["headers"].get("Authorization")
    if sent:
        assert header == "Basic " + base64.b64encode(b"zopeuser:secret").decode()
    else:
        assert header is None


# -- fire -----------------------------------------------------------------------


@pytest.mark.parametrize("code", [200, 204])
def test_fire_2xx_is_success_and_quiet(server, tmp_path, capsys, code):
    assert fire(tmp_path, server.address, f"/ok?code={code}") == 0
    assert capsys.readouterr().err == ""


def test_fire_verbose_reports_success(server, tmp_path, capsys):
    config = write_config(
        tmp_path, server.address, [{"name": "job", "method": "/verbose", "period": 60}]
    )
    assert main(config, ["fire", "-v", "job"]) == 0
    assert "job: 200 OK" in capsys.readouterr().out


def test_fire_401_says_credentials_refused(server, tmp_path, capsys):
    assert (
        fire(
            tmp_path, server.address, "/p?code=401", user="zopeuser", password="secret"
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "401 Unauthorized" in err
    assert "refused the credentials of user 'zopeuser'" in err
    assert "secret.cfg" in err
    assert "secret\n" not in err and ":secret" not in err


def test_fire_401_anonymous_says_set_credentials(server, tmp_path, capsys):
    assert fire(tmp_path, server.address, "/p?code=401") == 1
    err = capsys.readouterr().err
    assert "401 Unauthorized" in err and "anonymously" in err


@pytest.mark.parametrize(
    "code, text",
    [
        (403, "403 Forbidden: Anonymous lacks the permission"),
        (404, "404 Not Found"),
        (500, "500 Internal Server Error"),
    ],
)
def test_fire_other_errors_give_status_and_reason(server, tmp_path, capsys, code, text):
    assert fire(tmp_path, server.address, f"/p?code={code}") == 1
    assert text in capsys.readouterr().err


def test_fire_302_to_login_form_means_bad_credentials(server, tmp_path, capsys):
    login = "http://x/acl_users/credentials_cookie_auth/require_login?came_from=y"
    method = "/login-redirect?code=302&location=" + login.replace("&", "%26")
    assert fire(tmp_path, server.address, method, user="u", password="p") == 1
    err = capsys.readouterr().err
    assert "302 Found" in err
    assert "login form" in err and "credentials are wrong or missing" in err
    assert len(requests_to(server, "/login-redirect")) == 1
    assert requests_to(server, "/acl_users") == []


def test_fire_302_to_plone_confirm_action_names_the_csrf_opt_out(
    server, tmp_path, capsys
):
    # plone.protect's redirect carries the original URL, here with a login
    # marker in it: the CSRF explanation must win.
    confirm = (
        "http://x/Plone/@@confirm-action?original_url="
        "http%3A//x/Plone/login-cleanup%26job%3Dy"
    )
    method = "/csrf?code=302&location=" + confirm.replace("%", "%25").replace(
        "&", "%26"
    )
    assert fire(tmp_path, server.address, method, user="u", password="p") == 1
    err = capsys.readouterr().err
    assert "302 Found" in err and "@@confirm-action" in err
    assert "plone.protect" in err
    assert "alsoProvides(request, IDisableCSRFProtection)" in err
    assert "plone.protect.interfaces" in err
    assert "login form" not in err
    assert requests_to(server, "/Plone") == []


def test_fire_301_is_not_followed(server, tmp_path, capsys):
    method = "/moved?code=301&location=/elsewhere"
    assert fire(tmp_path, server.address, method) == 1
    err = capsys.readouterr().err
    assert "301 Moved Permanently" in err and "/elsewhere" in err
    assert "not followed" in err
    assert requests_to(server, "/elsewhere") == []


def test_fire_connection_refused(tmp_path, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert fire(tmp_path, f"http://127.0.0.1:{port}", "/x") == 1
    err = capsys.readouterr().err
    assert "nothing listens at http://127.0.0.1:%d" % port in err
    assert "is the instance running?" in err


def test_fire_timeout(server, tmp_path, capsys):
    assert fire(tmp_path, server.address, "/slow?sleep=1.6", timeout=1) == 1
    assert "timed out after 1 s" in capsys.readouterr().err


def test_fire_unknown_job_lists_known_names(server, tmp_path, capsys):
    config = write_config(
        tmp_path,
        server.address,
        [
            {"name": "feed", "method": "/feed", "period": 60},
            {"name": "cleanup", "method": "/cleanup", "period": 60},
        ],
    )
    assert main(config, ["fire", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown job 'nope'" in err and "feed, cleanup" in err


# -- list and config --------------------------------------------------------------


def test_list_shows_jobs_but_never_the_password(tmp_path, capsys):
    config = write_config(
        tmp_path,
        "http://127.0.0.1:8080",
        [
            {
                "name": "feed",
                "method": "/plone/feed",
                "period": 3600,
                "host": "plonecommunity.mobi",
                "user": "zopeuser",
                "password": "s3cr3t",
            },
            {"name": "cleanup", "method": "/plone/@@cleanup?days=14", "period": 85000},
        ],
    )
    assert main(config, ["list"]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t" not in out
    feed = next(line for line in out.splitlines() if line.startswith("feed "))
    assert "3600 (1h)" in feed and "plonecommunity.mobi" in feed and "zopeuser" in feed
    hour = next_due(3600, time.time())
    assert time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(hour)) in feed
    cleanup = next(line for line in out.splitlines() if line.startswith("cleanup "))
    assert "Anonymous" in cleanup and "127.0.0.1:8080" in cleanup
    assert "/plone/@@cleanup?days=14" in cleanup


def test_next_due_is_aligned_to_the_epoch():
    assert next_due(3600, 7199.9) == 7200
    assert next_due(3600, 7200) == 10800
    assert next_due(1, 5.001) == 6
    assert next_due(85000, 100) == 85000
    assert format_period(5430) == "1h30m30s"


@pytest.mark.parametrize(
    "content, words",
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ('{"address": "http://h:1"}', "'jobs' is missing"),
        (
            '{"address": "http://h:1", "jobs": [{"name": "a", "method": "x", "period": 1}]}',
            "must start with /",
        ),
        (
            '{"address": "http://h:1", "jobs": [{"name": "a", "method": "/x", "period": 0}]}',
            "period must be a positive",
        ),
        ('{"address": "ftp://h:1", "jobs": []}', "is not http(s)://HOST:PORT"),
        (
            '{"address": "http://u:pw@h:1", "jobs": []}',
            "must not hold a user or password",
        ),
    ],
)
@pytest.mark.parametrize("command", ["run", "list"])
def test_bad_config_is_a_clear_error(tmp_path, capsys, content, words, command):
    path = tmp_path / "parts" / "clock" / "clock.json"
    path.parent.mkdir(parents=True)
    if content is not None:
        path.write_text(content)
    assert main(str(path), [command]) == 2
    err = capsys.readouterr().err
    assert err.startswith("clock: error: ") and words in err
    assert "bin/buildout" in err and "Traceback" not in err
    assert "pw@" not in err


def test_config_readable_by_others_warns(tmp_path, capsys):
    config = write_config(
        tmp_path,
        "http://127.0.0.1:8080",
        [{"name": "a", "method": "/a", "period": 60, "user": "u", "password": "p"}],
    )
    os.chmod(config, 0o644)
    assert main(config, ["list"]) == 0
    assert "readable by group/others (mode 644): chmod 600" in capsys.readouterr().err


def test_bad_arguments_exit_2(tmp_path, capsys):
    config = write_config(tmp_path, "http://127.0.0.1:8080", [])
    assert main(config, []) == 2
    assert main(config, ["--help"]) == 0
    assert "run" in capsys.readouterr().out


# -- run --------------------------------------------------------------------------


def stop(proc, signum):
    """Send ``signum``; the exit status (the wait only guards a hang)."""
    proc.send_signal(signum)
    return proc.wait(timeout=5)


def test_run_aligned_slow_job_skips_and_sigterm(server, tmp_path):
    config = write_config(
        tmp_path,
        server.address,
        [
            {"name": "fast", "method": "/run-fast", "period": 1},
            {"name": "slow", "method": "/run-slow?sleep=2.5", "period": 1},
            {
                "name": "hourly",
                "method": "/run-hourly",
                "period": 3600,
                "user": "zopeuser",
                "password": "secret",
            },
        ],
    )
    log_path = tmp_path / "clock.log"
    with open(log_path, "w") as log:
        proc = start_clock(config, log)
    try:
        wait_for(lambda: requests_to(server, "/run-slow"), 5)
        first = math.floor(requests_to(server, "/run-slow")[0]["time"])
        # At first+3 the slow call (2.5 s) is over: the next one starts.
        wait_for(lambda: len(requests_to(server, "/run-slow")) >= 2, 5)
        wait_for(lambda: time.time() > first + 3.3, 5)
        status = stop(proc, signal.SIGTERM)  # the slow call is in flight
    finally:
        proc.kill()
    assert status == 0

    fast = [r["time"] for r in requests_to(server, "/run-fast")]
    slow = [r["time"] for r in requests_to(server, "/run-slow")]
    assert [math.floor(t) for t in slow] == [first, first + 3]
    # The fast job went on every second while the slow one was running.
    assert {first, first + 1, first + 2, first + 3} <= {math.floor(t) for t in fast}
    assert len(fast) == len({math.floor(t) for t in fast})
    # The hourly job is called only at the top of an hour (the test may
    # cross one: then it is called there, once).
    hourly = [math.floor(r["time"]) for r in requests_to(server, "/run-hourly")]
    assert all(t % 3600 == 0 for t in hourly) and len(hourly) <= 1

    text = log_path.read_text()
    assert 'Clock server for "/run-fast" started (user: Anonymous, period: 1)\n' in text
    assert (
        'Clock server for "/run-hourly" started (user: zopeuser, period: 3600)\n'
        in text
    )
    assert text.count("slow: previous call still running") >= 2
    assert "fast: 200 OK (" in text
    assert "stopped (SIGTERM)" in text
    assert "secret" not in text


def test_run_stops_on_sigint_and_logs_to_log_file(server, tmp_path):
    config = write_config(
        tmp_path, server.address, [{"name": "tick", "method": "/run-int", "period": 1}]
    )
    log_path = tmp_path / "clock.log"
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "w") as stderr:
        proc = start_clock(config, stderr, "--log-file", str(log_path))
    try:
        wait_for(lambda: requests_to(server, "/run-int"), 5)
        wait_for(lambda: "tick: 200 OK" in log_path.read_text(), 2)
        status = stop(proc, signal.SIGINT)
    finally:
        proc.kill()
    assert status == 0
    text = log_path.read_text()
    assert 'Clock server for "/run-int" started (user: Anonymous, period: 1)' in text
    assert "stopped (SIGINT)" in text and "Traceback" not in text
    assert stderr_path.read_text() == ""


# -- text ------------------------------------------------------------------------


def test_text_escape_one_line_and_masks():
    from collective.recipe.clockserver.runner import text

    assert text.escape("a\nb\x1b[2J\x85\u2028c") == "a\\x0ab\\x1b[2J\\x85\\u2028c"
    assert text.escape("café – ok") == "café – ok"
    assert text.one_line("  a\n\tb \r\n c ") == "a b c"
    assert text.one_line(None) == ""
    assert text.error_line(ValueError("x\ny")) == "x y"
    assert text.error_line(TimeoutError()) == "TimeoutError"
    assert text.plugin_text("a | b\n\x1bc") == "a / b \\x1bc"
    # Secrets the part knows, the longest first: one holding another is masked whole.
    assert text.mask_secrets("pw pw-long x", ["pw", "pw-long", ""]) == "***** ***** x"
    # A URL's own password, the rest as written (one function, lockurl.mask).
    from collective.recipe.clockserver.lockurl import mask

    assert mask("redis://u:p@h:1/0?x=1") == "redis://u:***@h:1/0?x=1"
    assert mask("zeo://h:1/1") == "zeo://h:1/1"


def test_replace_is_atomic_durable_and_keeps_no_temporary(tmp_path, monkeypatch):
    from collective.recipe.clockserver import files

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: synced.append(os.fstat(fd).st_mode) or real_fsync(fd)
    )
    path = tmp_path / "metrics.prom"
    path.write_text("old")
    files.replace(str(path), b"new", 0o644)
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o644
    assert len(synced) == 2 and stat.S_ISDIR(synced[1])  # the file, then its directory
    assert os.listdir(tmp_path) == ["metrics.prom"]
    monkeypatch.setattr(
        os, "rename", lambda *a: (_ for _ in ()).throw(OSError(28, "full"))
    )
    with pytest.raises(OSError):
        files.replace(str(path), b"newer", 0o644)
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["metrics.prom"]


# -- the end of bin/<part> with a thread still busy ------------------------------------

BUSY_AT_EXIT = """
import sys, threading, time, urllib.request
from collective.recipe.clockserver import runner
from collective.recipe.clockserver.runner import cli

def busy():  # as a ping that fire or exec stopped waiting for
    while True:
        urllib.request.build_opener()

def command(config_path, argv):
    threading.Thread(target=busy, daemon=True).start()
    time.sleep(0.01)  # it runs
    print("done", flush=False)
    return 7

cli.main = command
sys.exit(runner.main("clock.json", []))
"""


def test_a_thread_still_busy_at_the_end_does_not_change_the_exit_status():
    """CPython 3.12 and 3.13 can crash (SIGSEGV) when a daemon thread runs
    during the interpreter's shutdown; bin/<part> ends before it, with its
    status and its output."""
    for _ in range(20):
        result = subprocess.run(
            [sys.executable, "-c", BUSY_AT_EXIT],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stdout) == (7, "done\n"), result.stderr


def test_main_in_a_process_with_threads_of_its_own_returns(monkeypatch):
    """Called by a program that runs threads already (a test runner), main
    returns its status and leaves the process alone."""
    import threading

    from collective.recipe.clockserver.runner import cli

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    started = []

    def command(config_path, argv):
        started.append(threading.Thread(target=stop.wait, daemon=True))
        started[0].start()
        return 7

    monkeypatch.setattr(cli, "main", command)
    try:
        assert main("clock.json", []) == 7
    finally:
        stop.set()
