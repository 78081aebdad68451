"""End to end on Plone 6: the example's live production setup (ZEO server,
client2, the clock) against a real Plone site, and what Plone's CSRF
protection does to clock calls.

Built once per session (see plonesite.py): a copy of example/ with
live/test.cfg extending live.cfg; the ZEO server and client2 are started
here and stopped by PID.
"""

import json
import os
import re
import secrets
import signal
import stat
import subprocess
import time

import pytest

from buildouts import copy_checkout
from localserver import free_port
from plonesite import (
    PLONE_VENV,
    SITE_ID,
    VIEWS_DIR,
    VIEWS_ZCML,
    build,
    copy_example,
    create_site,
    event_log,
    indent,
    plone_available,
    plone_required,
)
from zeoserver import start_zeo, stop_zeo
from zopeinstance import (
    access_log_entries,
    process_exists,
    start_instance,
    stop_instance,
)

pytestmark = [
    pytest.mark.plone,
    pytest.mark.zope,
    pytest.mark.usefixtures("plone_stack"),
]

MISSING = "Plone test stack not installed in %s (run tools/plone-venv)" % PLONE_VENV
if not plone_available() and not plone_required():
    pytest.skip(MISSING, allow_module_level=True)


@pytest.fixture(scope="session")
def plone_stack():
    """In CI and under ./run-tests a missing Plone stack fails every test
    here, never a silent skip; at setup, not at import, so that a leg that
    deselects them (``-m "not plone"``) is not failed by them."""
    if not plone_available():
        pytest.fail(MISSING, pytrace=False)


USER = "clockuser"
CSRF_LOG_LINE = "aborting transaction due to no CSRF protection"
VHOST = "/VirtualHostBase/https/www.example.org:443/%s/VirtualHostRoot" % SITE_ID

TEST_CFG = """\
[buildout]
extends = live.cfg
parts += calls wrong

[zeoserver]
zeo-address = 127.0.0.1:{zeo_port}

[client1]
http-address = 127.0.0.1:{client1_port}
extra-paths += {views_dir}
zcml-additional +=
{views_zcml}

[client2]
http-address = 127.0.0.1:{client2_port}

# The live example's clock part, with periods short enough for a test.
[clock]
jobs =
    /{site}/@@clock-write?job=tick  1s  name=tick
    /{site}/@@clock-write?job=tock  2s  name=tock

# Jobs the tests fire one by one (1h: run never calls them here).
[calls]
recipe = collective.recipe.clockserver
backend = runner
address = ${{client2:http-address}}
credentials = clock-credentials
timeout = 60
jobs =
    /{site}/@@clock-write?job=optout       1h  name=optout
    /{site}/@@clock-write-html?job=html    1h  name=html
    /{site}/@@clock-write-text?job=text    1h  name=text
    {vhost}/@@clock-write?job=vhost        1h  name=vhost
    /{site}/@@clock-write?job=host         1h  name=host  host=www.example.net
    /{site}/@@clock-state                  1h  name=state

[wrong]
recipe = collective.recipe.clockserver
backend = runner
address = ${{client2:http-address}}
credentials = wrong-credentials
jobs = /{site}/@@clock-write?job=wrong  1h  name=wrong

[wrong-credentials]
user = {user}
password = not-the-password
"""


class Site:
    def __init__(self, live, password, client2):
        self.live = live
        self.password = password
        self.client2 = client2

    def path(self, *names):
        return os.path.join(self.live, *names)

    def clock(self, part, *args, timeout=120):
        return subprocess.run(
            [self.path("bin", part), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def state(self):
        """What the write views recorded, read back from the database."""
        response = self.client2.get("/%s/@@clock-state" % SITE_ID, USER, self.password)
        assert response.status == 200, response
        return json.loads(response.body)

    def calls(self, job):
        return [
            e
            for e in access_log_entries(self.live, "client2")
            if "job=%s" % job in e["path"]
        ]


def csrf_log_line(site, view):
    """What plone.protect logs (at INFO) when it aborts a view's write."""
    return "%s on url %s/%s/@@%s" % (CSRF_LOG_LINE, site.client2.url, SITE_ID, view)


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("plone"))
    password = secrets.token_urlsafe(16)
    live = copy_example(directory, USER, password)
    build(
        live,
        TEST_CFG.format(
            zeo_port=free_port(),
            client1_port=free_port(),
            client2_port=free_port(),
            views_dir=VIEWS_DIR,
            views_zcml=indent(VIEWS_ZCML),
            site=SITE_ID,
            vhost=VHOST,
            user=USER,
        ),
    )
    zeo_conf = os.path.join(live, "parts", "zeoserver", "etc", "zeo.conf")
    with open(zeo_conf) as f:
        address = [
            line.split()[1] for line in f if line.strip().startswith("address ")
        ][0]
    zeo = start_zeo(
        [os.path.join(live, "parts", "zeoserver", "bin", "runzeo")],
        address,
        cwd=live,
        output_path=os.path.join(live, "zeoserver.out"),
    )
    try:
        create_site(live)
        client2 = start_instance(live, part="client2", timeout=180)
        try:
            yield Site(live, password, client2)
        finally:
            stop_instance(client2)
    finally:
        stop_zeo(zeo)


# -- the production setup ----------------------------------------------------


def test_client2_is_client1_with_a_smaller_cache_on_zeo(site):
    confs = {}
    for part in ("client1", "client2"):
        with open(site.path("parts", part, "etc", "zope.conf")) as f:
            confs[part] = f.read()
    sizes = {
        part: int(re.search(r"^\s*cache-size (\d+)$", text, re.M).group(1))
        for part, text in confs.items()
    }
    assert sizes["client2"] == 3000 < sizes["client1"]
    zeo = re.compile(r"<zeoclient>.*?server (\S+)", re.S)
    assert zeo.search(confs["client1"]).group(1) == zeo.search(confs["client2"]).group(
        1
    )
    assert "clock-server" not in confs["client2"]


def test_zeopack_is_a_crontab_entry_that_packs(site):
    with open(site.path("var", "crontab")) as f:
        lines = [line for line in f.read().splitlines() if not line.startswith("#")]
    (entry,) = [line for line in lines if "zeopack" in line]
    assert entry.startswith("0 1 * * 6 ")
    assert site.password not in entry
    command = entry.split(None, 5)[5]
    # The monitored form: bin/clock exec records each run of bin/zeopack.
    assert command == "%s exec --scheduled zeopack -- %s" % (
        site.path("bin", "clock"),
        site.path("bin", "zeopack"),
    ), command
    result = subprocess.run(
        command,
        shell=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout
    with open(site.path("var", "log", "zeoserver.log")) as f:
        assert "pack" in f.read().lower()
    # A monitored entry: recorded like a job, shown by status.
    shown = site.clock("clock", "status", "zeopack")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "zeopack" in shown.stdout and " ok " in shown.stdout, shown.stdout
    assert site.password not in shown.stdout + shown.stderr


# -- what Plone does to clock calls ------------------------------------------


def test_opted_out_view_writes_and_the_write_is_kept(site):
    result = site.clock("calls", "fire", "optout")
    assert result.returncode == 0, result.stderr
    state = site.state()
    assert state["optout"]["writes"] == 1
    # The clock user is a Zope root user, authenticated with HTTP Basic.
    assert state["optout"]["user"] == USER
    (entry,) = site.calls("optout")
    assert entry["status"] == 200 and entry["user"] == USER


def test_html_view_without_opt_out_fails_with_the_plone_protect_fix(site):
    result = site.clock("calls", "fire", "html")
    assert result.returncode != 0
    assert "302" in result.stderr
    assert "@@confirm-action" in result.stderr
    assert "alsoProvides(request, IDisableCSRFProtection)" in result.stderr
    assert "plone.protect.interfaces" in result.stderr
    assert "login form" not in result.stderr
    assert "html" not in site.state()  # the write was aborted
    assert csrf_log_line(site, "clock-write-html") in event_log(site.live)
    (entry,) = site.calls("html")
    assert entry["status"] == 302


def test_text_view_without_opt_out_answers_200_and_loses_the_write(site):
    # Documented in docs/plone.rst ("Writing a view for the clock"): the clock
    # cannot see this; Plone's log line is the check to make.
    result = site.clock("calls", "fire", "text")
    assert result.returncode == 0, result.stderr
    (entry,) = site.calls("text")
    assert entry["status"] == 200 and entry["user"] == USER
    assert "text" not in site.state()  # thrown away, silently
    assert csrf_log_line(site, "clock-write-text") in event_log(site.live)


def test_wrong_credentials_say_so(site):
    result = site.clock("wrong", "fire", "wrong")
    assert result.returncode != 0
    assert "login form" in result.stderr
    assert "credentials" in result.stderr and USER in result.stderr
    assert "not-the-password" not in result.stdout + result.stderr
    (entry,) = site.calls("wrong")
    assert entry["status"] == 302 and entry["user"] == "-"
    assert "wrong" not in site.state()


def test_virtual_hosting_method(site):
    result = site.clock("calls", "fire", "vhost")
    assert result.returncode == 0, result.stderr
    state = site.state()["vhost"]
    assert state["writes"] == 1 and state["user"] == USER
    assert state["url"] == "https://www.example.org"


def test_job_with_its_own_host(site):
    result = site.clock("calls", "fire", "host")
    assert result.returncode == 0, result.stderr
    state = site.state()["host"]
    assert state["writes"] == 1 and state["user"] == USER
    assert state["url"] == "http://www.example.net/%s" % SITE_ID


def test_run_calls_client2_on_time_and_status_shows_it(site):
    process = subprocess.Popen(
        [site.path("bin", "clock"), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ticks = [e for e in site.calls("tick") if e["status"] == 200]
            tocks = [e for e in site.calls("tock") if e["status"] == 200]
            if len(ticks) >= 3 and tocks:
                break
            time.sleep(0.2)
        # Asked while the clock runs: a 1 s job is overdue soon after it stops.
        shown = site.clock("clock", "status")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert len(ticks) >= 3 and tocks, err
    assert all(e["user"] == USER for e in ticks + tocks)
    state = site.state()
    assert state["tick"]["writes"] >= 3 and state["tock"]["writes"] >= 1
    assert "tick: 200 OK" in err
    # The monitoring-plugin line, then the table: every job and the zeopack
    # entry of the part, each with its state.
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    assert re.match(r"CLOCK OK - .* \| .*ok=\d+", lines[0]), shown.stdout
    assert lines[1].split()[0] == "NAME" and lines[1].split()[-1] == "STATE"
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.strip()}
    assert {"tick", "tock", "zeopack"} <= set(rows), shown.stdout
    assert rows["tick"][1] == "1s" and rows["tick"][-1] in ("ok", "running")
    assert rows["tock"][-1] in ("ok", "running")
    assert "|" not in "\n".join(lines[1:])
    assert site.password not in out + err + shown.stdout + shown.stderr


def files_holding(directory, secret):
    """Every file under ``directory`` whose bytes hold ``secret``."""
    found = []
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                if secret.encode() in f.read():
                    found.append(path)
    return found


def assert_only_in_secret_cfg_and_0600_files(example, password):
    found = files_holding(example, password)
    assert os.path.join(example, "secret.cfg") in found
    for path in found:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, (path, oct(mode))
    # secret.cfg and the runner config of each clock part reading it.
    allowed = {"secret.cfg"} | {
        os.path.join("live", "parts", part, "clock.json")
        for part in ("clock", "calls", "wrong")
    }
    assert {os.path.relpath(p, example) for p in found} <= allowed, found


def test_credentials_only_in_secret_cfg_and_0600_files(site):
    # Asked last of the site's tests: after the builds, the site, the calls
    # (right and wrong credentials), zeopack's exec, the run records and
    # status, the logs and the database.
    example = os.path.dirname(site.live)
    for records in ("clock", "calls", "wrong"):
        assert os.listdir(site.path("var", records)), records
    assert_only_in_secret_cfg_and_0600_files(example, site.password)
    # [wrong-credentials] stands in test.cfg itself; it goes no further
    # than the wrong part's runner config.
    found = files_holding(example, "not-the-password")
    assert {os.path.relpath(p, site.live) for p in found} == {
        "test.cfg",
        os.path.join("parts", "wrong", "clock.json"),
    }, found


# -- the documented command: ./run-example --live ------------------------------


def stopped_pids(output):
    match = re.search(
        r"Stopped every process this command started \(PIDs ([\d ]+)\)", output
    )
    assert match, output
    return [int(pid) for pid in match.group(1).split()]


def test_run_example_live_then_ctrl_c(tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    env = dict(os.environ, CLOCKSERVER_PLONE_VENV=PLONE_VENV, TICKS="12")
    env.pop("PYTHONPATH", None)
    ports = [
        "zeoserver:zeo-address=127.0.0.1:%d" % free_port(),
        "client1:http-address=127.0.0.1:%d" % free_port(),
        "client2:http-address=127.0.0.1:%d" % free_port(),
    ]
    command = [str(checkout / "run-example"), "--live", *ports]
    result = subprocess.run(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    out = result.stdout
    assert result.returncode == 0, out
    assert "Created example/secret.cfg from secret.cfg.example" in out
    assert "Created the Plone site /Plone" in out
    assert "demo: 200 OK" in out
    assert re.search(r'zopeuser \[[^]]+\] "GET /Plone/%40%40clock-demo\?job=demo ', out)
    assert "==> bin/clock status" in out
    assert re.search(r"^CLOCK OK - .* \| ", out, re.M), out
    assert re.search(r"^demo +5s +\S+ \S+ +(ok|200) ", out, re.M), out
    assert re.search(r" exec --scheduled zeopack -- \S+/bin/zeopack$", out, re.M), out
    assert "0 1 * * 6 " in out and "zeopack: packed." in out
    assert "The password is only in ../secret.cfg and parts/clock/clock.json" in out
    pids = stopped_pids(out)
    assert len(pids) == 3
    assert not any(process_exists(pid) for pid in pids)

    # Again, interrupted while the clock runs, as Ctrl-C does: SIGINT to the
    # whole foreground process group; with a password of its own, that no
    # other file can hold by chance, to be looked for everywhere afterwards.
    password = secrets.token_urlsafe(16)
    secret_cfg = checkout / "example" / "secret.cfg"
    secret_cfg.write_text(
        "[clock-credentials]\nuser = zopeuser\npassword = %s\n" % password
    )
    assert stat.S_IMODE(secret_cfg.stat().st_mode) == 0o600
    log_path = tmp_path / "interrupted.out"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            env=dict(env, TICKS="60"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        deadline = time.monotonic() + 300
        # Once a call is recorded, so that the records are searched too.
        record = checkout / "example" / "live" / "var" / "clock" / "clock.sqlite-wal"
        started = time.time()
        while (
            "==> bin/clock run" not in log_path.read_text()
            or not record.exists()
            or record.stat().st_mtime < started
        ):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(60) == 130, log_path.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    out = log_path.read_text()
    assert "The Plone site /Plone exists" in out
    assert password not in out
    assert_only_in_secret_cfg_and_0600_files(str(checkout / "example"), password)
    pids = stopped_pids(out)
    assert len(pids) == 3
    assert not any(process_exists(pid) for pid in pids)


@pytest.mark.parametrize(
    "name", ["Products.CMFPlone", "Zope", "plone.recipe.zope2instance", "zc.buildout"]
)
def test_the_plone_venv_holds_the_pinned_stack(name):
    """The stack under test is the one tests/plone-constraints.txt pins
    (Plone 6.2 on Zope 6.3 today): a stale .venv-plone fails, not passes."""
    from plonesite import pinned, plone_venv_version

    assert plone_venv_version(name) == pinned("plone-constraints.txt", name)
