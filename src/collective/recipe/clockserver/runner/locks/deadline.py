"""Client-side deadlines: no claim keeps its caller longer than CLAIM_TIMEOUT.

A hung lock service (a frozen host, a network black hole) keeps the
connection open and answers nothing; server-side timeouts cannot help and
the client libraries wait on such a connection for as long as it lasts.
So each claim's work runs in a worker thread of its own and the caller
waits for it at most CLAIM_TIMEOUT seconds.  Then the attempt is *cut*:
the sockets the work registered are shut down (its blocked read fails at
once) and the callbacks it registered run (an engine drops the connection
it used; the next claim opens a new one).  The caller gets
LockUnavailable, which the clock logs and records as "lock service
unreachable".  Each claim has its own worker and connection, so one slow
claim never holds up another job's claim.

A claim the service granted just after its deadline is lost: nobody calls
that tick, which keeps the promise (never twice).
"""

import os
import socket
import threading

from . import LockUnavailable

CLAIM_TIMEOUT = 5.0  # seconds: the most any claim takes, whatever the service does


class Attempt:
    """One claim's work, as the deadline sees it: what to cut when it passes."""

    def __init__(self):
        self._mutex = threading.Lock()
        self._sockets = []  # duplicates of the work's sockets
        self._callbacks = []
        self.cut = False  # the deadline passed: the caller has given up
        self.done = False  # the work has ended

    def watch(self, fd):
        """Shut the socket ``fd`` down if the deadline passes.

        A duplicate of ``fd`` is kept until the work ends, so the shutdown
        reaches that connection even if its library closed ``fd`` (and the
        number was reused) meanwhile.
        """
        sock = socket.socket(fileno=os.dup(fd))
        with self._mutex:
            if not self.cut and not self.done:
                self._sockets.append(sock)
                return
        _shutdown(sock)
        sock.close()

    def on_cut(self, callback):
        """Call ``callback()`` if the deadline passes (at once if it has)."""
        with self._mutex:
            if not self.cut:
                self._callbacks.append(callback)
                return
        _quietly(callback)

    def _cut(self):
        """The deadline passed: False if the work had ended anyway."""
        with self._mutex:
            if self.done:
                return False
            self.cut = True
            sockets, self._sockets = self._sockets, []
            callbacks, self._callbacks = self._callbacks, []
        for sock in sockets:
            _shutdown(sock)
            sock.close()
        for callback in callbacks:
            _quietly(callback)
        return True

    def _end(self):
        with self._mutex:
            self.done = True
            sockets, self._sockets = self._sockets, []
            self._callbacks = []
        for sock in sockets:
            sock.close()


def within(seconds, work, *args):
    """``work(attempt, *args)`` in a worker thread: its result or its
    exception, or LockUnavailable when it has not ended after ``seconds``."""
    attempt = Attempt()
    ended = threading.Event()
    outcome = []

    def run():
        try:
            outcome.append((True, work(attempt, *args)))
        except BaseException as exc:  # handed to the caller
            outcome.append((False, exc))
        finally:
            attempt._end()
            ended.set()

    threading.Thread(target=run, daemon=True, name="lock claim").start()
    if not ended.wait(seconds) and attempt._cut():
        raise LockUnavailable(f"no answer within {seconds:g} s")
    ended.wait()  # set (or about to be) once _cut saw the work done
    ok, value = outcome[0]
    if ok:
        return value
    raise value


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # not connected (any more)
        pass


def _quietly(callback):
    try:
        callback()
    except Exception:  # cutting a broken connection: nothing to save
        pass
