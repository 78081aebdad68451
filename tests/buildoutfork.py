"""bin/buildout without its start-up cost: zc.buildout imported once, a fork per run.

Plain helpers, no pytest. Most of a bin/buildout run here is importing
zc.buildout (which imports setuptools and pip) and hashing site-packages
for the signatures of the develop distributions; ``Forker`` starts one
Python of the test venv that does both once and then, for each run, forks
a child that does what bin/buildout does: the run's environment, working
directory, ``sys.argv`` and output file (stdout and stderr together), then
``sys.exit(zc.buildout.buildout.main())`` and the interpreter's exit steps
(atexit handlers, flushing). Each run is still a process of its own, with
its own exit status, started from a process that has done nothing but the
imports; several may run at once.

``CLOCKSERVER_TEST_BUILDOUT=exec`` runs the bin/buildout script instead
(a new interpreter per run); see buildouts.py, ``Buildout.start``.
"""

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

# Environment variables read when Python starts: a run whose environment
# differs from the server's in one of them gets a bin/buildout of its own.
STARTUP_PREFIXES = ("PYTHON", "LC_", "LANG")

# The server side, run as ``python -c SERVER``: one JSON request per line
# on stdin ({"id", "argv", "cwd", "env", "output"}); answers {"id", "pid"}
# when the child is started, {"pid", "status"} when it has ended.
SERVER = r"""
import atexit, json, os, select, signal, sys, traceback
import zc.buildout.buildout

# The other half of a run: buildout's signature of every develop
# distribution (all of site-packages here) hashes every file below it. The
# files do not change while the tests run; hashed once here, the children
# find the digest in buildout's own cache (_dir_hashes) instead of reading
# them all again. Exactly the digest each run would compute.
_resources = zc.buildout.buildout.pkg_resources
for _dist in _resources.WorkingSet():
    if _dist.precedence == _resources.DEVELOP_DIST:
        zc.buildout.buildout._dir_hash(_dist.location)

def child(request):
    code = 1
    try:
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(null)
        os.close(out)
        sys.argv = list(request["argv"])
        try:
            sys.exit(zc.buildout.buildout.main(sys.argv[1:]))
        except SystemExit as exit:
            if exit.code is None:
                code = 0
            elif isinstance(exit.code, int):
                code = exit.code
            else:
                print(exit.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)

def answer(data):
    os.write(1, (json.dumps(data) + "\n").encode())

children = set()
pending = b""
reading = True
while reading or children:
    # Poll for ended children every 10 ms while some run.
    if reading and select.select([0], [], [], 0.01 if children else None)[0]:
        data = os.read(0, 65536)
        reading = bool(data)
        if not reading:  # the tests ended (or were interrupted): as
            for pid in children:  # subprocess.run kills its child then
                os.kill(pid, signal.SIGKILL)
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                child(request)
            children.add(pid)
            answer({"id": request["id"], "pid": pid})
    elif not reading:
        select.select([], [], [], 0.01)
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        children.discard(pid)
        answer({"pid": pid, "status": os.waitstatus_to_exitcode(status)})
"""


class Forker:
    """One server process; ``start`` is like ``subprocess.Popen`` of
    bin/buildout with stdout and stderr together."""

    def __init__(self, enabled=True, python=sys.executable, env=None):
        self.enabled = enabled
        self.python = python
        self.env = dict(os.environ if env is None else env)
        self.process = None
        self.lock = threading.Lock()
        self.requests = 0

    def serves(self, env):
        """Whether a run with ``env`` may be forked: the server is enabled
        and ``env`` agrees with the server's own in every variable that
        Python reads at start-up (PYTHON*, the locale)."""
        if not self.enabled:
            return False

        def startup(environment):
            return {
                k: v for k, v in environment.items() if k.startswith(STARTUP_PREFIXES)
            }

        return startup(env) == startup(self.env)

    def stop(self):
        with self.lock:
            process, self.process = self.process, None
        if process is not None:
            process.stdin.close()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()

    def start(self, argv, cwd, env):
        """Start bin/buildout ``argv`` (argv[0] is the script's path) in
        ``cwd`` with ``env``; a ``Run``."""
        fd, output = tempfile.mkstemp(prefix="buildout-output-")
        os.close(fd)
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self.process = subprocess.Popen(
                    [self.python, "-c", SERVER],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=self.env,
                    cwd="/",
                )
                self.buffer = b""
                self.ended = {}
            self.requests += 1
            request = {
                "id": self.requests,
                "argv": list(argv),
                "cwd": str(cwd),
                "env": dict(env),
                "output": output,
            }
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
            deadline = time.monotonic() + 60
            started = self._answer(deadline)
            # A run started before may end before this one starts (runs at
            # once): its end comes first, kept for its wait().
            while started is not None and "id" not in started:
                self.ended[started["pid"]] = started["status"]
                started = self._answer(deadline)
            assert started and started.get("id") == self.requests, started
        return Run(self, argv, started["pid"], output)

    def status(self, pid, deadline):
        """The exit status of child ``pid``, or None at ``deadline``."""
        with self.lock:
            while pid not in self.ended:
                ended = self._answer(deadline)
                if ended is None:
                    return None
                self.ended[ended["pid"]] = ended["status"]
            return self.ended.pop(pid)

    def _answer(self, deadline):
        """The server's next answer, or None when ``deadline`` passed."""
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            data = os.read(fd, 65536)
            if not data:
                raise RuntimeError(
                    "the bin/buildout fork server died (exit %s)" % self.process.wait()
                )
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


class Run:
    """A forked bin/buildout: ``wait``, ``communicate``, ``kill`` and
    ``returncode`` as ``subprocess.Popen(..., stdout=PIPE, stderr=STDOUT,
    text=True)`` has them."""

    def __init__(self, forker, args, pid, output):
        self.forker = forker
        self.args = args
        self.pid = pid
        self.output = output
        self.returncode = None
        self.text = None

    def wait(self, timeout=None):
        if self.returncode is None:
            deadline = time.monotonic() + (1e9 if timeout is None else timeout)
            status = self.forker.status(self.pid, deadline)
            if status is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.returncode = status
        return self.returncode

    def communicate(self, timeout=None):
        self.wait(timeout)
        if self.text is None:
            with open(self.output) as f:  # as Popen(text=True) decodes
                self.text = f.read()
        return self.text, None

    def __del__(self):
        try:
            os.remove(self.output)
        except OSError:
            pass

    def kill(self):
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
