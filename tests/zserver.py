"""A live Zope 4 + ZServer on Python 2.7, built by zc.buildout 2.13, for the
<clock-server> tests.

Plain helpers, no pytest: ``py2_env()`` makes (once) the Python 2.7
environment with tools/py2-env; ``LiveZServer`` writes a buildout whose
client2 has ``zope-conf-additional = ${clock:zope-conf-additional}`` and a
probe product, runs bin/buildout, starts ``bin/client2 console`` as root with
``effective-user`` (or as the current user when not root), and reads back the
clock servers' start lines and the probe's records.

The probe (products/ClockProbe) puts a method ``clock_probe`` on the Zope
root that only a Manager may call; each call appends a JSON line with the
authenticated user, the ``Host:`` header and the ``job`` query parameter to
``$CLOCK_PROBE_FILE`` (var/probe.jsonl). A call without valid credentials
never reaches it (401), so a record proves both the user and the password.
"""

import base64
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PY2_ENV = os.path.join(TOP, "tools", "py2-env")
VERSIONS = os.path.join(HERE, "zserver-versions.cfg")

# The system user ZServer drops to when started as root.
ZOPE_USER = "clockzope"

PROBE_PRODUCT = '''\
"""Test probe: a method on the Zope root that records who called it."""
import json
import os
import time

from AccessControl.SecurityManagement import getSecurityManager
from OFS.Application import Application


def clock_probe(self, REQUEST=None):
    """Append the caller, the Host header and the job to CLOCK_PROBE_FILE."""
    record = {
        "user": getSecurityManager().getUser().getUserName(),
        "host": REQUEST.environ.get("HTTP_HOST"),
        "job": REQUEST.form.get("job"),
        "time": time.time(),
    }
    with open(os.environ["CLOCK_PROBE_FILE"], "a") as f:
        f.write(json.dumps(record) + "\\n")
    return "ok"


Application.clock_probe = clock_probe
Application.clock_probe__roles__ = ("Manager",)


def initialize(context):
    pass
'''

BUILDOUT_CFG = """\
[buildout]
extends = versions.cfg {extends}
parts = client2 {parts}
eggs-directory = {eggs}
{find_links}{index}newest = false
show-picked-versions = true
offline = {offline}
allow-picked-versions = false

[client2]
recipe = plone.recipe.zope2instance
wsgi = off
# No password here: the test writes parts/client2/inituser (a SHA hash).
user = {admin}:
http-address = 127.0.0.1:{port}
eggs = Zope
    ZServer
products = ${{buildout:directory}}/products
environment-vars = CLOCK_PROBE_FILE ${{buildout:directory}}/var/probe.jsonl
zodb-temporary-storage = off
event-log-level = INFO
{effective_user}zope-conf-additional = ${{clock:zope-conf-additional}}

{clock}
"""

START_LINE = re.compile(
    r'Clock server for "(?P<method>[^"]*)" started '
    r"\(user: (?P<user>[^,]*), period: (?P<period>\d+)\)"
)


class ZServerError(Exception):
    """Building or starting the ZServer failed; the message has the output."""


def py2_env(log_path):
    """Make the Python 2.7 environment (tools/py2-env); its directory.

    Raises ZServerError with the end of the log when it cannot be made."""
    with open(log_path, "w") as log:
        result = subprocess.run(
            [PY2_ENV], stdout=log, stderr=subprocess.STDOUT, timeout=1800
        )
    with open(log_path) as f:
        output = f.read()
    if result.returncode != 0:
        raise ZServerError(
            "tools/py2-env failed (exit %d):\n%s" % (result.returncode, output[-4000:])
        )
    return output.strip().splitlines()[-1]


def build_recipe_wheel(directory):
    """The recipe's wheel, built from this checkout into ``directory`` (a
    find-links directory for zc.buildout 2.13); its file name.

    Raises ZServerError when the build fails or when setuptools 44 could not
    take the file: it must be ``collective.recipe.clockserver-VERSION-py2.py3-
    none-any.whl`` (dots kept, py2.py3)."""
    os.makedirs(directory, exist_ok=True)
    result = subprocess.run(
        # python -m build, as tests/test_wheel.py builds release files: its
        # isolated build takes pyproject.toml's setuptools (dots kept).
        [sys.executable, "-m", "build", "--wheel", "-o", directory, TOP],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise ZServerError("building the wheel failed:\n%s" % result.stdout)
    names = [n for n in os.listdir(directory) if n.endswith(".whl")]
    wanted = re.compile(
        r"collective\.recipe\.clockserver-[^-]+-py2\.py3-none-any\.whl\Z"
    )
    if len(names) != 1 or not wanted.match(names[0]):
        raise ZServerError(
            "zc.buildout 2.13 / setuptools 44 take only a wheel named "
            "collective.recipe.clockserver-VERSION-py2.py3-none-any.whl; "
            "the build made %s" % names
        )
    return names[0]


def wheel_version(name):
    return name.split("-")[1]


def is_root():
    return os.getuid() == 0


def ensure_zope_user():
    """As root: the system user ZServer drops to (created when missing)."""
    try:
        return pwd.getpwnam(ZOPE_USER)
    except KeyError:
        pass
    subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            ZOPE_USER,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return pwd.getpwnam(ZOPE_USER)


def readable_by(user, path):
    """Can ``user`` read ``path`` (as root: runuser test -r)?"""
    result = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-r", path],
        capture_output=True,
        timeout=30,
    )
    return result.returncode == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha_inituser(user, password):
    digest = hashlib.sha1(password.encode("utf-8")).digest()
    return "%s:{SHA}%s\n" % (user, base64.b64encode(digest).decode("ascii"))


def http_get(port, path, timeout=5):
    """GET path on 127.0.0.1:port; the status, or None when nothing answers."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


class LiveZServer:
    """A Python 2.7 buildout directory with client2 on ZServer."""

    def __init__(self, home, admin, admin_password):
        self.home = home
        self.python = os.path.join(home, "venv", "bin", "python")
        self.buildout_script = os.path.join(home, "venv", "bin", "buildout")
        runs = os.path.join(home, "runs")
        os.makedirs(runs, exist_ok=True)
        os.chmod(runs, 0o755)
        self.directory = tempfile.mkdtemp(prefix="live-", dir=runs)
        os.chmod(self.directory, 0o755)
        self.admin = admin
        self.admin_password = admin_password
        self.port = free_port()
        self.process = None
        self.output_path = self.path("instance.out")

    def path(self, *names):
        return os.path.join(self.directory, *names)

    def write(self, name, text, mode=0o644):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def read(self, *names):
        with open(self.path(*names)) as f:
            return f.read()

    def configure(
        self,
        clock,
        extends="",
        parts="",
        find_links=None,
        offline=True,
        versions="",
        index=None,
    ):
        """Write buildout.cfg: ``clock`` is the text of the [clock] section
        (a recipe part, or a plain section with zope-conf-additional)."""
        shutil.copy(VERSIONS, self.path("versions.cfg"))
        self.write("products/ClockProbe/__init__.py", PROBE_PRODUCT)
        effective_user = "effective-user = %s\n" % ZOPE_USER if is_root() else ""
        self.write(
            "buildout.cfg",
            BUILDOUT_CFG.format(
                extends=extends,
                parts=parts,
                eggs=os.path.join(self.home, "eggs"),
                find_links=("find-links = %s\n" % find_links) if find_links else "",
                index=("index = %s\n" % index) if index else "",
                offline="true" if offline else "false",
                admin=self.admin,
                port=self.port,
                effective_user=effective_user,
                clock=clock + ("\n[versions]\n" + versions if versions else ""),
            ),
        )

    def forget_recipe_eggs(self):
        """Remove the recipe's eggs from the shared eggs directory, so that a
        wheel of the same version but newer code is installed again."""
        eggs = os.path.join(self.home, "eggs")
        for name in os.listdir(eggs):
            if name.startswith("collective.recipe.clockserver-"):
                path = os.path.join(eggs, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)

    def run_buildout(self):
        result = subprocess.run(
            [self.buildout_script, "-c", "buildout.cfg"],
            cwd=self.directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
            env=self._env(),
        )
        return result.returncode, result.stdout

    def _env(self):
        env = dict(os.environ)
        for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(name, None)
        return env

    def prepare_instance(self):
        """The hashed initial user, and var/ owned by the effective user."""
        self.write(
            "parts/client2/inituser", sha_inituser(self.admin, self.admin_password)
        )
        os.makedirs(self.path("var"), exist_ok=True)
        if is_root():
            user = pwd.getpwnam(ZOPE_USER)
            for top in (self.path("var"), self.path("parts", "client2", "var")):
                for root, dirs, files in os.walk(top):
                    for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                        os.lchown(name, user.pw_uid, user.pw_gid)

    def start(self, timeout=60):
        """bin/client2 console; waits until the HTTP server answers."""
        self.prepare_instance()
        out = open(self.output_path, "w")
        self.process = subprocess.Popen(
            [self.path("bin", "client2"), "console"],
            cwd=self.directory,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._env(),
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ZServerError(
                    "bin/client2 console exited with %s:\n%s"
                    % (self.process.returncode, self.output())
                )
            if http_get(self.port, "/") is not None:
                return
            time.sleep(0.5)
        raise ZServerError(
            "client2 did not answer within %d s:\n%s" % (timeout, self.output())
        )

    def stop(self, timeout=20):
        """Stop the instance's process group (we started it: its own session)."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def output(self):
        try:
            with open(self.output_path) as f:
                return f.read()
        except OSError:
            return ""

    def event_log(self):
        try:
            return self.read("var", "log", "client2.log")
        except OSError:
            return ""

    def start_lines(self):
        """The clock servers' start lines in the event log: dicts."""
        return [m.groupdict() for m in START_LINE.finditer(self.event_log())]

    def probe_records(self):
        try:
            text = self.read("var", "probe.jsonl")
        except OSError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait_for_calls(self, jobs, timeout):
        """Until every job in ``jobs`` was recorded by the probe.

        ZServer checks its clocks whenever its asyncore loop wakes up, at
        the latest every 30 s; a request to the HTTP server wakes it, so
        the test asks for / once a second and each tick is served within
        about a second of its epoch multiple."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = {r.get("job") for r in self.probe_records()}
            if set(jobs) <= seen:
                return self.probe_records()
            if self.process is not None and self.process.poll() is not None:
                raise ZServerError("client2 stopped:\n%s" % self.output())
            http_get(self.port, "/")
            time.sleep(1)
        return self.probe_records()

    def files_containing(self, secret):
        """Files below the buildout (eggs aside) whose text holds ``secret``."""
        found = []
        for root, _dirs, files in os.walk(self.directory):
            for name in files:
                path = os.path.join(root, name)
                try:
                    with open(path, "rb") as f:
                        if secret.encode("utf-8") in f.read():
                            found.append(os.path.relpath(path, self.directory))
                except OSError:
                    pass
        return sorted(found)

    def remove(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
