"""A real WSGI Zope, built by plone.recipe.zope2instance, for end-to-end tests.

Plain helpers, no pytest: build a buildout with an ``[instance]`` part in a
directory, start ``bin/instance console`` (one process: it execs the WSGI
server), wait until it answers, read its access log, stop it by PID.

The Zope stack (Zope 6.3, plone.recipe.zope2instance 9.1) is installed into
the test venv by tools/venv, pinned by tests/zope-constraints.txt::

    pip install -c tests/zope-constraints.txt Zope plone.recipe.zope2instance

and bin/buildout (``offline = true``) takes it from there: nothing is
downloaded. ``zope_available()`` says whether that was done.

Facts about plain Zope 6 that tests can rely on (``user = admin:admin``):

- ``PUBLIC_PATH`` (``/``) answers 200 to anyone.
- ``PROTECTED_PATH`` (``/manage_main``) answers 200 to a Manager, 401 with
  ``WWW-Authenticate: basic`` to anonymous or a wrong password (plain Zope
  never redirects to a login form; Plone would answer 302).
- ``HOST_ECHO_PATH`` (``/absolute_url``) answers 200 to anyone with
  ``http://<the Host: header>`` as body.
- The access log is ``var/log/<part>-access.log`` in Apache combined format
  (Paste's translogger): ``127.0.0.1 - admin [24/Nov/2026:23:19:23 +0000]
  "GET /manage_main?days=14 HTTP/1.0" 200 17780 "-" "curl/7.88.1"``; the
  user is ``-`` unless Zope authenticated it; the Host header is not logged.
"""

import base64
import dataclasses
import http.client
import importlib.metadata
import os
import re
import signal
import subprocess
import sys
import time

from localserver import ServerProcess, free_port

BIN = os.path.dirname(sys.executable)
BUILDOUT = os.path.join(BIN, "buildout")

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"
PUBLIC_PATH = "/"
PROTECTED_PATH = "/manage_main"
HOST_ECHO_PATH = "/absolute_url"

ZOPE_DISTRIBUTIONS = ("Zope", "plone.recipe.zope2instance")

BUILDOUT_CFG = """\
[buildout]
parts = {parts}
offline = true
newest = false
allow-picked-versions = false

[instance]
recipe = plone.recipe.zope2instance
eggs = Zope
user = {user}:{password}
http-address = 127.0.0.1:{port}
# Plain Zope 5+ ships no temporary storage (Products.TemporaryFolder), and
# plone.recipe.zope2instance 9.1 still configures one by default: without
# this the instance does not start (the README's Troubleshooting says so too).
zodb-temporary-storage = off
{instance_options}
"""

ACCESS_LOG_LINE = re.compile(
    r"(?P<remote>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<method>\S+) (?P<path>\S+) (?P<protocol>[^"]+)" '
    r'(?P<status>\d{3}) (?P<bytes>\S+) "(?P<referer>[^"]*)" '
    r'"(?P<user_agent>[^"]*)"$'
)


class ZopeError(RuntimeError):
    """Building or starting the test Zope failed; the message has the output."""


def zope_available():
    """True when Zope and plone.recipe.zope2instance are in this venv."""
    return not missing_distributions() and os.path.exists(BUILDOUT)


def zope_missing():
    """Why the Zope tests cannot run here (what to install), or None."""
    if zope_available():
        return None
    return (
        "Zope test stack not installed (missing: %s); run: pip install -c "
        "tests/zope-constraints.txt Zope plone.recipe.zope2instance"
        % ", ".join(missing_distributions() or ["bin/buildout"])
    )


def missing_distributions():
    """Names of the Zope test distributions this venv lacks."""
    missing = []
    for name in ZOPE_DISTRIBUTIONS:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def recipe_parts(cfg_text):
    """Names of the sections in buildout text that have a ``recipe``."""
    parts = []
    section = None
    for line in cfg_text.splitlines():
        header = re.match(r"\[([^\]]+)\]\s*$", line)
        if header:
            section = header.group(1).strip()
        elif section and re.match(r"recipe\s*=", line):
            if section not in parts:
                parts.append(section)
    return parts


def write_zope_buildout(
    directory, extra_parts_cfg="", instance_options="", port=None, parts=None
):
    """Write ``buildout.cfg`` with an ``[instance]`` part; return its path.

    ``extra_parts_cfg`` is appended as is; every section in it with a
    ``recipe`` becomes a part after ``instance`` unless ``parts`` (the full
    list) is given. ``instance_options`` are extra lines for ``[instance]``
    (e.g. ``zope-conf-additional = ${clock:zope-conf-additional}``).
    """
    os.makedirs(directory, exist_ok=True)
    if parts is None:
        parts = ["instance"] + [
            name for name in recipe_parts(extra_parts_cfg) if name != "instance"
        ]
    text = BUILDOUT_CFG.format(
        parts=" ".join(parts),
        user=ADMIN_USER,
        password=ADMIN_PASSWORD,
        port=port or free_port(),
        instance_options=instance_options.strip(),
    )
    if extra_parts_cfg.strip():
        text += "\n" + extra_parts_cfg.strip() + "\n"
    path = os.path.join(str(directory), "buildout.cfg")
    with open(path, "w") as f:
        f.write(text)
    return path


def run_buildout(directory, *args, env=None):
    """Run bin/buildout (no user defaults) in ``directory``.

    Returns the ``subprocess.CompletedProcess`` with stdout and stderr
    together in ``stdout``.
    """
    return subprocess.run(
        [BUILDOUT, "-U", "-c", "buildout.cfg", *args],
        cwd=str(directory),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )


def build_zope_buildout(
    directory, extra_parts_cfg="", instance_options="", port=None, parts=None, env=None
):
    """Write and run a buildout with a WSGI Zope ``[instance]`` part.

    Returns ``directory``. Raises ``ZopeError`` with buildout's output when
    buildout fails. See ``write_zope_buildout`` for the arguments.
    """
    write_zope_buildout(
        directory, extra_parts_cfg, instance_options, port=port, parts=parts
    )
    result = run_buildout(directory, env=env)
    if result.returncode != 0:
        raise ZopeError(
            "bin/buildout failed with exit code %d in %s:\n%s"
            % (result.returncode, directory, result.stdout)
        )
    return directory


def instance_address(buildout_dir, part="instance"):
    """``(host, port)`` the part's WSGI server listens on, from wsgi.ini."""
    path = os.path.join(str(buildout_dir), "parts", part, "etc", "wsgi.ini")
    with open(path) as f:
        text = f.read()
    match = re.search(r"^(?:fast-)?listen\s*=\s*(\S+)", text, re.MULTILINE)
    if match is None:
        raise ZopeError("no listen address in %s:\n%s" % (path, text))
    host, _, port = match.group(1).rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    return host, int(port)


@dataclasses.dataclass
class Instance(ServerProcess):
    """A running ``bin/<part> console``."""

    buildout_dir: str
    part: str

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def get(self, path, user=None, password=None, host_header=None, timeout=30):
        """``http_get`` on this instance."""
        return http_get(
            self.host,
            self.port,
            path,
            user,
            password,
            host_header=host_header,
            timeout=timeout,
        )


@dataclasses.dataclass
class Response:
    status: int
    headers: dict
    body: bytes


def http_get(host, port, path, user=None, password=None, host_header=None, timeout=30):
    """One ``GET``, no redirects followed; Basic auth when user is given."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {}
        if host_header:
            headers["Host"] = host_header
        if user is not None:
            token = base64.b64encode(
                ("%s:%s" % (user, password or "")).encode()
            ).decode()
            headers["Authorization"] = "Basic " + token
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return Response(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()


def start_instance(buildout_dir, part="instance", timeout=60, env=None):
    """Start ``bin/<part> console`` and wait until it answers HTTP.

    ``console`` execs the WSGI server in the started process, so its PID is
    the server's (``fg`` would leave a child behind when stopped). Output
    goes to ``var/log/<part>-console.out``. Raises ``ZopeError`` with that
    output when the process dies or does not answer within ``timeout``.
    """
    buildout_dir = str(buildout_dir)
    host, port = instance_address(buildout_dir, part)
    log_dir = os.path.join(buildout_dir, "var", "log")
    os.makedirs(log_dir, exist_ok=True)
    output_path = os.path.join(log_dir, "%s-console.out" % part)
    instance = Instance.start(
        [os.path.join(buildout_dir, "bin", part), "console"],
        host,
        port,
        output_path,
        cwd=buildout_dir,
        env=env,
        buildout_dir=buildout_dir,
        part=part,
    )
    process = instance.process
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ZopeError(
                "bin/%s console exited with code %s before answering on %s:\n%s"
                % (part, process.returncode, instance.address, instance.output())
            )
        try:
            instance.get(PUBLIC_PATH, timeout=2)
            return instance
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_instance(instance)
            raise ZopeError(
                "bin/%s console did not answer on %s within %s s:\n%s"
                % (part, instance.address, timeout, instance.output())
            )
        time.sleep(0.2)


def stop_instance(instance, timeout=20):
    """SIGTERM, then SIGKILL after ``timeout``; reap it; return its exit code.

    Anything left in the instance's process group is killed too.
    """
    return stop_process(instance.process, timeout)


def stop_process(process, timeout=20):
    """Stop a server started in a session of its own (``stop_instance``)."""
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return process.returncode


def process_exists(pid):
    """True while a process (or an unreaped zombie) with ``pid`` exists."""
    return _signal_0_finds(os.kill, pid)


def process_group_exists(pgid):
    """True while a process of the group ``pgid`` exists."""
    return _signal_0_finds(os.killpg, pgid)


def _signal_0_finds(kill, number):
    try:
        kill(number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def access_log_path(buildout_dir, part="instance"):
    return os.path.join(str(buildout_dir), "var", "log", "%s-access.log" % part)


def access_log_lines(buildout_dir, part="instance"):
    """The lines of the part's access log (none when there is no log yet)."""
    try:
        with open(access_log_path(buildout_dir, part), errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def parse_access_line(line):
    """An access log line as a dict (``user``, ``method``, ``path``,
    ``status`` as int, ...), or None when it is not in combined format."""
    match = ACCESS_LOG_LINE.match(line)
    if match is None:
        return None
    entry = match.groupdict()
    entry["status"] = int(entry["status"])
    return entry


def access_log_entries(buildout_dir, part="instance"):
    """The parsed access log lines, in order."""
    entries = []
    for line in access_log_lines(buildout_dir, part):
        entry = parse_access_line(line)
        if entry is not None:
            entries.append(entry)
    return entries


def wait_for_access(buildout_dir, predicate, timeout=10, part="instance"):
    """Wait until an access log entry satisfies ``predicate``; return it.

    The log line is written when the response starts, so it can lag the
    client by a moment. Returns None after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        for entry in access_log_entries(buildout_dir, part):
            if predicate(entry):
                return entry
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)
