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
imports.

``CLOCKSERVER_TEST_BUILDOUT=exec`` runs the bin/buildout script instead
(a new interpreter per run); see conftest.py, ``Buildout.run``.
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
# on stdin ({"argv", "cwd", "env", "output"}); answers {"pid"} when the
# child is started, then {"status"} when it has ended.
SERVER = r'''
import atexit, json, os, sys, traceback
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

for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        child(request)
    answer({"pid": pid})
    _, status = os.waitpid(pid, 0)
    answer({"status": os.waitstatus_to_exitcode(status)})
'''


class Forker:
    """One server process; ``run`` is like ``subprocess.run`` of bin/buildout
    with stdout and stderr together in the returned text."""

    def __init__(self, enabled=True, python=sys.executable, env=None):
        self.enabled = enabled
        self.python = python
        self.env = dict(os.environ if env is None else env)
        self.process = None
        self.lock = threading.Lock()

    def serves(self, env):
        """Whether a run with ``env`` may be forked: the server is enabled
        and ``env`` agrees with the server's own in every variable that
        Python reads at start-up (PYTHON*, the locale)."""
        if not self.enabled:
            return False

        def startup(environment):
            return {k: v for k, v in environment.items()
                    if k.startswith(STARTUP_PREFIXES)}

        return startup(env) == startup(self.env)

    def start(self):
        self.process = subprocess.Popen(
            [self.python, "-c", SERVER], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=self.env, cwd="/")
        self.buffer = b""

    def stop(self):
        process, self.process = self.process, None
        if process is not None:
            process.stdin.close()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()

    def _answer(self, deadline):
        """The next answer of the server, or None when ``deadline`` passed."""
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            data = os.read(fd, 65536)
            if not data:
                raise RuntimeError("the bin/buildout fork server died (exit %s)"
                                   % self.process.wait())
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def run(self, argv, cwd, env, timeout):
        """Run bin/buildout ``argv`` (argv[0] is the script's path) in
        ``cwd`` with ``env``. Returns (exit status, output text); raises
        ``subprocess.TimeoutExpired`` (the child killed) after ``timeout``."""
        fd, output = tempfile.mkstemp(prefix="buildout-output-")
        os.close(fd)
        try:
            return self._run(argv, cwd, env, output, timeout)
        finally:
            os.remove(output)

    def _run(self, argv, cwd, env, output, timeout):
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self.start()
            request = {"argv": list(argv), "cwd": str(cwd), "env": dict(env),
                       "output": str(output)}
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
            deadline = time.monotonic() + timeout
            pid = self._answer(time.monotonic() + 60)["pid"]
            done = self._answer(deadline)
            if done is None:
                os.kill(pid, signal.SIGKILL)
                self._answer(time.monotonic() + 60)
                raise subprocess.TimeoutExpired(argv, timeout)
            with open(output) as f:  # as subprocess.run(text=True) decodes
                text = f.read()
            return done["status"], text
