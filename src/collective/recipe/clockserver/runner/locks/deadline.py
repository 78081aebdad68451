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

Each Lock keeps a Deadline that remembers a claim that ran out of time:
for HOLDOFF seconds after that the Lock's claims fail at once, and then
one claim at a time tries again until one is answered.  Without that, a
hung service would hold one of the clock's call slots for CLAIM_TIMEOUT
per job and tick.  A service that refuses at once needs no such pause.
"""

import os
import socket
import threading
import time

from ..text import error_line
from . import LockUnavailable

CLAIM_TIMEOUT = 5.0  # seconds: the most any claim takes, whatever the service does
HOLDOFF = 5.0  # seconds after a claim ran out of time: later claims fail at once


class LockTimeout(LockUnavailable):
    """The service did not answer a claim within its deadline."""


class Deadline:
    """The claims of one Lock: each within ``seconds``; after one ran out of
    time, the others fail at once for ``holdoff`` seconds, then one at a
    time tries until the service answers again.  Thread-safe."""

    def __init__(self, seconds=CLAIM_TIMEOUT, holdoff=HOLDOFF):
        self.seconds = seconds
        self.holdoff = holdoff
        self._mutex = threading.Lock()
        self._hung = False  # the last claim that ended ran out of time
        self._retry_at = 0.0  # monotonic
        self._trying = False  # a claim is finding out whether it is back

    def claim(self, work, *args):
        """``within(seconds, work, *args)``, or LockTimeout at once while the
        service is known to hang."""
        trying = False
        with self._mutex:
            if self._hung:
                if self._trying or time.monotonic() < self._retry_at:
                    raise LockTimeout(
                        f"no answer within {self.seconds:g} s; "
                        f"asked again every {self.holdoff:g} s"
                    )
                self._trying = trying = True
        try:
            result = within(self.seconds, work, *args)
        except LockTimeout:
            self._ended(True, trying)
            raise
        except LockUnavailable:
            self._ended(False, trying)
            raise
        except Exception as exc:
            # A client library failing in a way of its own (a ZEO storage
            # closed under a commit by another claim's cut): the service
            # cannot be used for this claim, which is never called then.
            self._ended(False, trying)
            raise LockUnavailable(
                f"{type(exc).__name__} in the lock client: {error_line(exc)}"
            ) from None
        except BaseException:
            self._ended(False, trying)
            raise
        self._ended(False, trying)
        return result

    def _ended(self, hung, trying):
        with self._mutex:
            if trying:
                self._trying = False
            if hung:
                self._hung = True
                self._retry_at = time.monotonic() + self.holdoff
            else:  # answered (or refused at once): not hung
                self._hung = False


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
        raise LockTimeout(f"no answer within {seconds:g} s")
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
