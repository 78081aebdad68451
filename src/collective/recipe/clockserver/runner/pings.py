"""Sending one dead-man's-switch ping: a POST in healthchecks.io's
protocol (hcprotocol.py says which URL and body), bounded by TIMEOUT.

A skipped run pings nothing.  A ping that fails is logged (without its
URL: anyone holding it could ping) and never fails the run.
"""

import http.client
import socket
import threading
import urllib.error
import urllib.request

TIMEOUT = 10  # seconds: each ping's whole exchange, connect to last byte
USER_AGENT = "collective.recipe.clockserver"


def ping(config, name, event, log, timeout=None, rid=None, body=b""):
    """POST one ping for ``name`` if it has a URL; never raises.  ``event``
    is ``start``, ``success``, ``fail`` or an exit status; ``rid`` the
    run's id, ``body`` the final ping's body (hcprotocol.final_body).

    Returns within ``timeout`` seconds (TIMEOUT), however slowly the server
    answers: the exchange runs in a worker thread, and at the deadline its
    connection is shut down.
    """
    base = config.pings.get(name)
    if not base:
        return False
    timeout = TIMEOUT if timeout is None else timeout
    from .hcprotocol import ping_url

    request = urllib.request.Request(
        ping_url(base, event, rid),
        data=body or b"",
        headers={"User-Agent": USER_AGENT, "Content-Type": "text/plain; charset=utf-8"},
        method="POST",
    )
    exchange = _Exchange(request, timeout)
    worker = threading.Thread(target=exchange.run, daemon=True, name=f"ping {name}")
    worker.start()
    worker.join(timeout)
    problem = exchange.cut()
    if problem is None:
        return True
    log(f"{name}: the {event} ping failed ({problem}); the run is not affected")
    return False


class _Exchange:
    """One ping's request and answer, in a worker thread; ``cut()`` ends it."""

    def __init__(self, request, timeout):
        self.request = request
        self.timeout = timeout
        self._mutex = threading.Lock()
        self._sockets = []  # duplicates of the connection's sockets
        self._problem = f"no complete answer within {timeout:g} s"
        self._over = False

    def run(self):
        try:
            opener = urllib.request.build_opener(
                _NoRedirect,
                _handler(urllib.request.HTTPHandler, self),
                _handler(urllib.request.HTTPSHandler, self),
            )
            with opener.open(self.request, timeout=self.timeout) as response:
                response.read(4096)
            problem = None
        except urllib.error.HTTPError as exc:
            problem = f"answered {exc.code} {exc.reason}"
        except (OSError, http.client.HTTPException, ValueError) as exc:
            problem = _text(exc, self.timeout)
        with self._mutex:
            if not self._over:
                self._problem = problem
            self._over = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()

    def connected(self, sock):
        """Keep a duplicate of the new connection's socket for ``cut``: it
        reaches the connection whatever TLS or http.client do with ``sock``."""
        dup = sock.dup()
        with self._mutex:
            if not self._over:
                self._sockets.append(dup)
                return sock
        _shutdown(dup)
        dup.close()
        return sock

    def cut(self):
        """End the exchange: None when the ping went through, else why not."""
        with self._mutex:
            self._over = True
            sockets, self._sockets = self._sockets, []
            problem = self._problem
        for sock in sockets:  # the worker's blocked read fails at once
            _shutdown(sock)
            sock.close()
        return problem


def _handler(base, exchange):
    """``base`` (HTTPHandler or HTTPSHandler) telling ``exchange`` of every
    socket its connections open."""

    class Handler(base):
        def do_open(self, http_class, req, **kwargs):
            def connection(*args, **kw):
                conn = http_class(*args, **kw)
                create = conn._create_connection
                conn._create_connection = lambda *a, **k: exchange.connected(
                    create(*a, **k)
                )
                return conn

            return super().do_open(connection, req, **kwargs)

    return Handler


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _text(exc, timeout):
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return f"no answer within {timeout:g} s"
    reason = getattr(exc, "reason", None)
    if reason is not None:
        exc = reason
    text = getattr(exc, "strerror", None) or type(exc).__name__
    return text
