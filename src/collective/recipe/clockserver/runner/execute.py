"""``exec``: run a command, pass its output through, keep its last output.

Standard output and standard error are copied to ours as they come (cron
still mails them), and the last few kilobytes of both are kept for the
run record.  SIGTERM and SIGHUP sent to us are passed on to the command,
so that a stopped cron job is still recorded; one that comes after the
run was recorded as begun but before the command started stops it from
starting (recorded as killed by that signal too).  The exit status is the
command's; killed by a signal N gives 128+N, as in a shell.
"""

import collections
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

KEEP = 4096  # bytes of output kept in memory (records keep 2 KB of them)
FORWARDED = (signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Done:
    status: int
    duration: float
    reason: str
    output: bytes


class _Tail:
    """The last KEEP bytes written by both streams, in arrival order."""

    def __init__(self):
        self.chunks = collections.deque()
        self.size = 0
        self.lock = threading.Lock()

    def add(self, data):
        with self.lock:
            self.chunks.append(data)
            self.size += len(data)
            while len(self.chunks) > 1 and self.size - len(self.chunks[0]) >= KEEP:
                self.size -= len(self.chunks.popleft())

    def bytes(self):
        with self.lock:
            return b"".join(self.chunks)[-KEEP:]


def _copy(source, target_fd, tail):
    broken = False
    while True:
        try:
            data = os.read(source, 65536)
        except OSError:
            break
        if not data:
            break
        tail.add(data)
        view = memoryview(data)
        while view and not broken:
            try:
                view = view[os.write(target_fd, view) :]
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:  # our output is closed: keep draining the child
                broken = True
    os.close(source)


class Forwarding:
    """SIGTERM and SIGHUP, from ``with Forwarding()`` on: passed on to the
    command once it runs, kept until then (main thread only; elsewhere
    signals are not ours to catch)."""

    def __init__(self):
        self.process = None
        self.pending = []
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._handle) for sig in FORWARDED}
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def _handle(self, signum, frame):
        if self.process is None:
            self.pending.append(signum)
            return
        try:
            self.process.send_signal(signum)
        except OSError:
            pass


def run(command, part, name, forwarding=None):
    """Run ``command`` (a list); return Done.  Never raises for the command.

    ``forwarding``: a Forwarding entered before the run began (cli's
    exec), else one for the time of the command."""
    if forwarding is None:
        with Forwarding() as forwarding:
            return run(command, part, name, forwarding)
    started = time.monotonic()
    if forwarding.pending:  # stopped before the command started
        return Done(
            128 + forwarding.pending[0],
            time.monotonic() - started,
            f"killed by {_signal_name(forwarding.pending[0])}",
            b"",
        )
    tail = _Tail()
    pipes = [os.pipe(), os.pipe()]  # (read, write) for stdout and stderr
    try:
        process = subprocess.Popen(command, stdout=pipes[0][1], stderr=pipes[1][1])
    except OSError as exc:
        for read, write in pipes:
            os.close(read)
            os.close(write)
        status = 127 if isinstance(exc, FileNotFoundError) else 126
        reason = f"cannot run {command[0]!r}: {exc.strerror}"
        line = f"{part}: exec {name}: {reason}\n".encode("utf-8", "replace")
        os.write(2, line)
        return Done(status, time.monotonic() - started, reason, line)

    forwarding.process = process
    for signum in forwarding.pending:  # came while the command was starting
        forwarding._handle(signum, None)
    for _, write in pipes:
        os.close(write)  # the command holds them now
    copiers = [
        threading.Thread(target=_copy, args=(read, fd, tail), daemon=True)
        for (read, _), fd in zip(pipes, (1, 2))
    ]
    for copier in copiers:
        copier.start()
    while True:
        try:
            returncode = process.wait()
            break
        except KeyboardInterrupt:  # Ctrl-C: the command got it too
            continue
    for copier in copiers:
        copier.join()
    duration = time.monotonic() - started
    if returncode < 0:
        return Done(
            128 - returncode,
            duration,
            f"killed by {_signal_name(-returncode)}",
            tail.bytes(),
        )
    reason = "exit status 0" if returncode == 0 else f"exit status {returncode}"
    return Done(returncode, duration, reason, tail.bytes())


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
