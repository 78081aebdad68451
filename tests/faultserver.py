"""Servers on 127.0.0.1 for the tests of calls and pings: one that
misbehaves on purpose, one way per path, and a well-behaved HTTPS one.

FaultServer: the first path segment picks the behaviour (``/hang``,
``/trickle``, ``/truncate`` ...); everything is written on a raw socket so
that the answer can be wrong in any way.  ``FaultServer("trickle-tls")``
gives every connection one behaviour at once, before any request is read
(a TLS client waits for the server's handshake).  Each connection runs in
its own thread; ``stop()`` closes the listener and every connection still
open.

TLSServer: HTTPS with a self-signed certificate for 127.0.0.1 (openssl),
``200 ok`` to every GET and POST.
"""

import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

LONG = 60  # seconds a "forever" behaviour lasts at most (a guard, never reached)


def _headers(status="200 OK", *lines):
    return (
        "HTTP/1.1 %s\r\n" % status + "".join(line + "\r\n" for line in lines) + "\r\n"
    ).encode("latin-1")


def _reset(conn):
    """Close with a RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _trickle(conn, data, stop, pause=0.2):
    for byte in data:
        if stop.wait(pause):
            return
        conn.sendall(bytes([byte]))


def hang(conn, stop):
    stop.wait(LONG)


def trickle(conn, stop):
    conn.sendall(_headers("200 OK", "Content-Length: 100000"))
    _trickle(conn, b"x" * 100000, stop)


def trickle_headers(conn, stop):
    _trickle(conn, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: yes\r\n" * 10000, stop)


def trickle_tls(conn, stop):
    """A TLS handshake record's header (16 KiB), then its body byte by byte."""
    conn.sendall(b"\x16\x03\x03\x40\x00")
    _trickle(conn, bytes(0x4000), stop, pause=0.1)


def truncate(conn, stop):
    conn.sendall(_headers("200 OK", "Content-Length: 100") + b"x" * 10)


def chunked_cut(conn, stop):
    conn.sendall(_headers("200 OK", "Transfer-Encoding: chunked") + b"5\r\nhello\r\n")


def chunked(conn, stop):
    conn.sendall(
        _headers("200 OK", "Transfer-Encoding: chunked")
        + b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )


def bad_chunk(conn, stop):
    conn.sendall(_headers("200 OK", "Transfer-Encoding: chunked") + b"zz\r\nhello\r\n")


def reset(conn, stop):
    _reset(conn)


def reset_body(conn, stop):
    conn.sendall(_headers("200 OK", "Content-Length: 100000") + b"x" * 1000)
    time.sleep(0.1)
    _reset(conn)


def close(conn, stop):
    conn.close()


def garbage(conn, stop):
    conn.sendall(b"GARBAGE \x1b[31mred\r\n\r\n")


def huge(conn, stop):
    size = 64 * 1024 * 1024
    conn.sendall(_headers("200 OK", "Content-Length: %d" % size))
    block = b"x" * (1024 * 1024)
    for _ in range(64):
        conn.sendall(block)


def huge_unframed(conn, stop):
    conn.sendall(_headers("200 OK"))  # no length: the body ends with the connection
    block = b"x" * (1024 * 1024)
    for _ in range(32):
        conn.sendall(block)


def huge_headers(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"X-Many: yes\r\n" * 5000 + b"\r\n")


def long_line(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Long: " + b"y" * 100000 + b"\r\n\r\n")


def bad_length(conn, stop):
    conn.sendall(_headers("200 OK", "Content-Length: 12abc") + b"x" * 12)


def forged(conn, stop):
    """Control characters in the reason phrase and the Location header."""
    conn.sendall(
        b"HTTP/1.1 302 Moved\x1b[2J\rINFO forged\r\n"
        b"Location: /elsewhere\r2026-01-01 INFO [clock] forged: 200 OK\x07\r\n"
        b"Content-Length: 0\r\n\r\n"
    )


def forged_error(conn, stop):
    conn.sendall(
        b"HTTP/1.1 500 Oops\x00\x1b]0;title\x07\x85\r\nContent-Length: 0\r\n\r\n"
    )


def continue_then_ok(conn, stop):
    conn.sendall(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        + _headers("200 OK", "Content-Length: 2")
        + b"ok"
    )


def ok(conn, stop):
    conn.sendall(_headers("200 OK", "Content-Length: 2") + b"ok")


def slow_ok(conn, stop):
    """A well-formed answer after a second: ends well within any timeout."""
    stop.wait(1.0)
    conn.sendall(_headers("200 OK", "Content-Length: 2") + b"ok")


# Every public function above (and only those: keep the rest below).
BEHAVIOURS = {
    name.replace("_", "-"): function
    for name, function in list(globals().items())
    if callable(function)
    and not name.startswith("_")
    and getattr(function, "__module__", None) == __name__
}


class FaultServer:
    def __init__(self, every=None):
        self.every = BEHAVIOURS[every] if every else None
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.listener.getsockname()[1]
        self.address = "http://127.0.0.1:%d" % self.port
        self.paths = []  # request paths in arrival order
        self._stop = threading.Event()
        self._conns = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            if self.every:
                self.every(conn, self._stop)
                return
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(65536)
                if not data:
                    return
                request += data
            path = request.split(b" ", 2)[1].decode("latin-1")
            with self._lock:
                self.paths.append(path)
            behaviour = BEHAVIOURS[path.strip("/").split("/")[0].split("?")[0]]
            behaviour(conn, self._stop)
        except OSError:  # the client gave up: that is what some tests want
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        try:  # wakes the accept() in progress (close() alone does not, on Linux)
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(5)


# -- HTTPS ---------------------------------------------------------------------------


def self_signed_certificate(directory):
    """(certificate, key) files for 127.0.0.1 in ``directory``, made by
    openssl; the test is skipped without it."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a certificate")
    cert, key = "%s/cert.pem" % directory, "%s/key.pem" % directory
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


class _OK(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_POST = do_GET  # pings

    def log_message(self, *args):
        pass


class TLSServer(ThreadingHTTPServer):
    """HTTPS on 127.0.0.1 with a self-signed certificate made in
    ``directory``: ``cert`` is its file (for SSL_CERT_FILE), ``paths`` the
    request paths in arrival order; ``stop()`` ends it."""

    daemon_threads = True

    def __init__(self, directory):
        self.cert, key = self_signed_certificate(str(directory))
        super().__init__(("127.0.0.1", 0), _OK)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.paths = []
        self.address = "https://127.0.0.1:%d" % self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        pass  # a client that does not trust the certificate, as tested

    def stop(self):
        self.shutdown()
        self.server_close()
