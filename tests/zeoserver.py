"""A ZEO server for tests: started in a directory, stopped by PID.

Plain helpers, no pytest, reusable by any test that needs a ZEO server (the
Plone site's, a lock service's):

- ``start_zeo(argv, address, ...)``: any command that runs a ZEO server in the
  foreground, e.g. plone.recipe.zeoserver's ``parts/<part>/bin/runzeo``
  (which execs Python, so its PID is the server's).
- ``stop_zeo(server)``: SIGTERM by PID, SIGKILL after a timeout, reaped.
"""

import os
import time

from localserver import ServerProcess, listening
from zopeinstance import stop_process


class ZeoError(RuntimeError):
    """The ZEO server did not start; the message has its output."""


class ZeoServer(ServerProcess):
    """A running ZEO server."""


def start_zeo(argv, address, cwd=None, output_path=None, env=None, timeout=30):
    """Start ``argv`` (a foreground ZEO server); wait until ``address``
    (``HOST:PORT``) accepts connections; return a ``ZeoServer``.

    Output goes to ``output_path`` (default: ``zeo.out`` in ``cwd`` or the
    current directory). Raises ``ZeoError`` with that output when the
    process dies or does not listen within ``timeout`` (it is then stopped).
    """
    host, _, port = address.rpartition(":")
    output_path = output_path or os.path.join(cwd or os.getcwd(), "zeo.out")
    server = ZeoServer.start(
        argv, host or "127.0.0.1", int(port), output_path, cwd=cwd, env=env
    )
    process = server.process
    deadline = time.monotonic() + timeout
    while not listening(server.host, server.port):
        if process.poll() is not None:
            raise ZeoError(
                "%s exited with code %s before listening on %s:\n%s"
                % (argv[0], process.returncode, address, server.output())
            )
        if time.monotonic() > deadline:
            stop_zeo(server)
            raise ZeoError(
                "%s did not listen on %s within %s s:\n%s"
                % (argv[0], address, timeout, server.output())
            )
        time.sleep(0.1)
    return server


def stop_zeo(server, timeout=20):
    """SIGTERM, SIGKILL after ``timeout``; reap; return the exit code.
    Anything left in the server's process group is killed too."""
    return stop_process(server.process, timeout)
