"""Local servers for the tests: free loopback ports, an HTTP server noting each GET.

Plain helpers, no pytest (conftest.py's ``server`` fixture is ``serve``).
``free_port()`` is a port nobody listens on right now.  The server answers
every GET (and POST: pings): ``?sleep=SECONDS`` holds the answer, ``?code=STATUS`` sets its
status (default 200), ``?location=URL`` adds a Location header.
``server.requests`` holds ``(time, path with query)`` per request in
arrival order, ``server.seen`` the same as dicts with the request line and
headers too; ``server.most`` is the most requests ever in flight at once.
``ServerProcess``: a server run as a process (ZEO, a Zope instance) that
listens on ``host:port`` and writes its output to a file.
"""

import dataclasses
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(host, port):
    """Whether something accepts connections on ``host``:``port`` now."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        query = parse_qs(urlsplit(self.path).query)
        arrived = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with server.lock:
            server.in_flight += 1
            server.most = max(server.most, server.in_flight)
            server.requests.append((arrived, self.path))
            server.seen.append(
                {
                    "time": arrived,
                    "requestline": self.requestline,
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body,
                }
            )
        time.sleep(float(query.get("sleep", ["0"])[0]))
        with server.lock:  # before the answer: the client's call ends after it
            server.in_flight -= 1
        try:
            self.send_response(int(query.get("code", ["200"])[0]))
            if "location" in query:
                self.send_header("Location", query["location"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:  # the client gave up (its deadline)
            pass

    do_POST = do_GET  # pings (healthchecks protocol): noted like a GET

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass


@dataclasses.dataclass
class ServerProcess:
    """A server process listening on ``host:port``, its output in a file."""

    process: subprocess.Popen
    host: str
    port: int
    output_path: str

    @classmethod
    def start(cls, argv, host, port, output_path, cwd=None, env=None, **fields):
        """``argv`` in a session of its own, its stdout and stderr appended
        to ``output_path``; ``fields`` are a subclass's own."""
        with open(output_path, "ab") as output:
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(process, host, port, output_path, **fields)

    @property
    def pid(self):
        return self.process.pid

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def output(self):
        """What the process printed (stdout and stderr) so far."""
        try:
            with open(self.output_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def serve():
    """Start a server on a free loopback port; yield it; stop it (a fixture body)."""
    srv = Server(("127.0.0.1", 0), Handler)
    srv.lock = threading.Lock()
    srv.in_flight = srv.most = 0
    srv.requests = []
    srv.seen = []
    # A short poll: shutdown() waits for it (0.5 s by default, per test).
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    srv.address = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
