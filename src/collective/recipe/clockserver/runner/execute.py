"""``exec``: run a command, pass its output through, keep its last output.

Standard output and standard error are copied to ours as they come (cron
still mails them), and the last few kilobytes of both are kept for the
run record.  SIGTERM and SIGHUP sent to us are passed on to the command,
so that a stopped cron job is still recorded.  The exit status is the
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
                view = view[os.write(target_fd, view):]
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:  # our output is closed: keep draining the child
                broken = True
    os.close(source)


def run(command, part, name):
    """Run ``command`` (a list); return Done.  Never raises for the command."""
    tail = _Tail()
    started = time.monotonic()
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

    def forward(signum, frame):
        try:
            process.send_signal(signum)
        except OSError:
            pass

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    for _, write in pipes:
        os.close(write)  # the command holds them now
    copiers = [threading.Thread(target=_copy, args=(read, fd, tail), daemon=True)
               for (read, _), fd in zip(pipes, (1, 2))]
    for copier in copiers:
        copier.start()
    try:
        while True:
            try:
                returncode = process.wait()
                break
            except KeyboardInterrupt:  # Ctrl-C: the command got it too
                continue
        for copier in copiers:
            copier.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    duration = time.monotonic() - started
    if returncode < 0:
        try:
            signame = signal.Signals(-returncode).name
        except ValueError:
            signame = f"signal {-returncode}"
        return Done(128 - returncode, duration, f"killed by {signame}", tail.bytes())
    reason = "exit status 0" if returncode == 0 else f"exit status {returncode}"
    return Done(returncode, duration, reason, tail.bytes())
