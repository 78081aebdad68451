"""An HTTP server on 127.0.0.1 that misbehaves on purpose, one way per path.

The first path segment picks the behaviour (``/hang``, ``/trickle``,
``/truncate`` ...); everything is written on a raw socket so that the
answer can be wrong in any way.  Each connection runs in its own thread;
``stop()`` closes the listener and every connection still open.
"""

import socket
import struct
import threading
import time

LONG = 60  # seconds a "forever" behaviour lasts at most (a guard, never reached)


def _headers(status="200 OK", *lines):
    return (
        "HTTP/1.1 %s\r\n" % status + "".join(line + "\r\n" for line in lines) + "\r\n"
    ).encode("latin-1")


def _reset(conn):
    """Close with a RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _trickle(conn, data, stop):
    for byte in data:
        if stop.wait(0.2):
            return
        conn.sendall(bytes([byte]))


def hang(conn, stop):
    stop.wait(LONG)


def trickle(conn, stop):
    conn.sendall(_headers("200 OK", "Content-Length: 100000"))
    _trickle(conn, b"x" * 100000, stop)


def trickle_headers(conn, stop):
    _trickle(conn, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: yes\r\n" * 10000, stop)


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


BEHAVIOURS = {
    name.replace("_", "-"): function
    for name, function in list(globals().items())
    if callable(function)
    and not name.startswith("_")
    and function.__module__ == __name__
    and name not in ("FaultServer",)
}


class FaultServer:
    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.address = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
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
