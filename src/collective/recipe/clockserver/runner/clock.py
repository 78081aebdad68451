"""The tick loop of ``bin/<part> run``: epoch-aligned ticks, one worker per job."""

import heapq
import logging
import select
import socket
import threading
import time

from .call import call, describe
from .timefmt import next_due, utc

GRACE = 0.2  # seconds in-flight calls get to finish after SIGTERM/SIGINT
MAX_SLEEP = 10.0  # re-read the wall clock at least this often (clock jumps)
LOG = logging.getLogger("collective.recipe.clockserver.runner")


class Observer:
    """What the clock tells about each tick; records, metrics and pings
    subclass it.  Called from worker threads: implementations must be
    thread-safe and must not raise."""

    def started(self, job, due):
        """A call of ``job`` for the tick ``due`` (epoch seconds) starts."""

    def finished(self, job, due, outcome):
        """The call of ``job`` for ``due`` ended with ``outcome``."""

    def skipped(self, job, due, reason):
        """The tick ``due`` of ``job`` was not called, because ``reason``."""


def no_claim(job, due):
    """The default gate: one host, every tick is ours.

    A gate returns None to go ahead, or the reason to skip the tick (e.g.
    ``claimed by HOST``); the cluster lock (``lock``) is one.  It is asked
    when the call is about to start, not at the due time.
    """
    return None


class Worker(threading.Thread):
    """One job's thread: sleeps until the clock wakes it, then calls once.

    Started once and reused, so a tick costs an Event.set(), not a thread
    start; one thread per job, so no job waits for another.
    """

    def __init__(self, config, job, log, observer, claim):
        super().__init__(name=f"clock {job.name}", daemon=True)
        self.claim = claim
        self.config = config
        self.job = job
        self.log = log
        self.observer = observer
        self.due = None  # the tick being called
        self.busy_since = None  # monotonic start of the call in progress
        self.stopping = False
        self._wake = threading.Event()

    def fire(self, due):
        """Start a call for the tick ``due`` now; the caller checks
        ``busy_since`` first."""
        self.due = due
        self.busy_since = time.monotonic()
        self._wake.set()

    def stop(self):
        self.stopping = True
        self._wake.set()

    def run(self):
        while True:
            self._wake.wait()
            self._wake.clear()
            if self.stopping:
                return
            try:
                skip = self.claim(self.job, self.due)
                if skip:
                    self.observer.skipped(self.job, self.due, skip)
                    continue
                self.observer.started(self.job, self.due)
                outcome = call(self.config, self.job)
                level = logging.INFO if outcome.ok else logging.WARNING
                self.log.log(level, "%s: %s (%.3f s)", self.job.name,
                             describe(outcome, self.job), outcome.duration)
                self.observer.finished(self.job, self.due, outcome)
            except Exception:  # a bug must not kill the clock
                self.log.exception("%s: unexpected error", self.job.name)
            finally:
                self.busy_since = None


class Clock:
    """Fire every job at epoch multiples of its period until stopped.

    One heap of due times; the main thread sleeps in select() until the
    earliest is due, or until ``stop()`` writes to a socket pair (safe from
    a signal handler).  Each job calls from its own Worker thread; a job
    whose previous call still runs skips the tick.
    """

    def __init__(self, config, log=LOG, observer=None, claim=no_claim, catch_up=None):
        self.config = config
        self.catch_up = catch_up  # job -> a missed tick to call at start, or None
        self.claim = claim
        self.log = log
        self.observer = observer or Observer()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)

    def stop(self):
        """Make run() return; safe from signal handlers and other threads."""
        try:
            self._wake_w.send(b"x")
        except OSError:  # buffer full or closed: a wake-up is pending anyway
            pass

    def run(self):
        workers = [Worker(self.config, job, self.log, self.observer, self.claim)
                   for job in self.config.jobs]
        for worker in workers:
            worker.start()
            missed = self.catch_up(worker.job) if self.catch_up else None
            if missed is not None:
                self.log.info("%s: catching up the tick due at %s", worker.job.name,
                              utc(missed))
                worker.fire(missed)
        now = time.time()
        heap = [(next_due(w.job.period, now), index) for index, w in enumerate(workers)]
        heapq.heapify(heap)
        while True:
            if heap:
                due, index = heap[0]
                delay = due - time.time()
            else:
                delay = None
            if delay is None or delay > 0:
                timeout = MAX_SLEEP if delay is None else min(delay, MAX_SLEEP)
                if select.select([self._wake_r], [], [], timeout)[0]:
                    break
                continue
            worker = workers[index]
            heapq.heapreplace(heap, (next_due(worker.job.period, max(due, time.time())),
                                     index))
            since = worker.busy_since
            if since is None:
                worker.fire(due)
            else:
                self.observer.skipped(worker.job, due, "still running")
                self.log.warning("%s: previous call still running (%.1f s), skipping "
                                 "the tick due at %s", worker.job.name,
                                 time.monotonic() - since, utc(due))
        self._finish(workers)

    def _finish(self, workers):
        for worker in workers:
            worker.stop()
        deadline = time.monotonic() + GRACE
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        abandoned = [worker.job.name for worker in workers if worker.is_alive()]
        if abandoned:
            self.log.warning("not waiting for calls still running: %s",
                             ", ".join(abandoned))
        self._wake_r.close()
        self._wake_w.close()


