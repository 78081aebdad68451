"""The tick loop of ``bin/<part> run``: when each job is due, its ticks
handed to the pool of calls (pool.py), reload on request.

The main thread keeps one heap of due times and sleeps in select() until
the earliest is due.  A due tick becomes a queued call (its job is then
"in flight": the job's next tick is skipped while it waits or runs);
``concurrency`` pool threads take queued calls earliest-due first.  So at
most ``concurrency`` calls are in flight, calls due together start in
order of their due time (then of the jobs' order), and a job never
overlaps itself.

Time comes from a time source (``SystemTime`` unless given another): the
tests of ticks, overdue and catch-up run the same loop in simulated time.
"""

import heapq
import logging
import select
import socket
import time

from .call import call as http_call
from .locks import NOT_STARTED
from .pool import Pool, Tick
from .text import escape
from .timefmt import utc

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


class SystemTime:
    """The real time, and waiting for it: what the clock runs on.  A
    simulated time source (tests) offers the same three methods."""

    def time(self):
        """Seconds since the epoch (the ticks are multiples of periods)."""
        return time.time()

    def monotonic(self):
        """Seconds for measuring delays (late starts, waits for a slot)."""
        return time.monotonic()

    def wait(self, sock, timeout):
        """Wait up to ``timeout`` seconds for ``sock`` to be readable (a
        stop or reload request); whether it is."""
        return bool(select.select([sock], [], [], timeout)[0])


def started_line(job):
    """ZServer's start line for a job; a calendar job shows its times and zone."""
    user = job.user if job.authenticated else "Anonymous"
    if job.times:
        zone = f" ({job.timezone})" if job.timezone else ""
        return f'Clock server for "{job.method}" started (user: {user}, times: {job.times}{zone})'
    return (
        f'Clock server for "{job.method}" started (user: {user}, period: {job.period})'
    )


def no_claim(job, due):
    """The default gate: one host, every tick is ours.

    A gate returns None to go ahead, or the reason to skip the tick (e.g.
    ``claimed by HOST``); the cluster lock (``lock``) is one.  It is asked
    when the call is about to start (after a concurrency slot freed), not
    at the due time.
    """
    return None


class Clock(Pool):
    """Fire every job at epoch multiples of its period until stopped.

    ``reload`` (optional) returns a fresh Config (or raises with the
    reason); ``request_reload()`` makes the loop apply it, like ``stop()``
    safe from a signal handler.  ``clock`` is the time source (see
    SystemTime), ``call(config, job)`` makes a job's call (an Outcome).
    """

    def __init__(
        self,
        config,
        log=LOG,
        observer=None,
        claim=no_claim,
        reload=None,
        catch_up=None,
        clock=None,
        call=http_call,
    ):
        self.config = config
        self.time = clock or SystemTime()
        self.call = call
        self.catch_up = catch_up  # job -> a missed tick to call at start, or None
        self.claim = claim
        self.log = log
        self.observer = observer or Observer()
        self._reload = reload
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        Pool.__init__(self)
        self._schedule = {}  # job name -> next due time
        self._heap = []  # (due, order, name); stale entries are skipped

    # -- requests (signal handlers, other threads) ----------------------------

    def stop(self):
        """Make run() return; safe from signal handlers and other threads."""
        self._poke(b"x")

    def request_reload(self):
        """Re-read the config at the next turn of the loop (SIGHUP)."""
        self._poke(b"h")

    def _poke(self, byte):
        try:
            self._wake_w.send(byte)
        except OSError:  # buffer full or closed: a wake-up is pending anyway
            pass

    # -- the main loop -------------------------------------------------------------

    def run(self):
        now = self.time.time()
        for order, job in enumerate(self.config.jobs):
            self._plan(job, order, job.schedule.following(now))
            missed = self.catch_up(job) if self.catch_up else None
            if missed is not None:  # catch-up: the last tick, once, at once
                self.log.info(
                    "%s: catching up the tick due at %s", job.name, utc(missed)
                )
                self._tick(job, missed, order)
        try:
            while True:
                if self._retry_due():
                    continue
                soonest = [heap[0][0] for heap in (self._heap, self._retries) if heap]
                delay = min(soonest) - self.time.time() if soonest else None
                if delay is None or delay > 0:
                    timeout = MAX_SLEEP if delay is None else min(delay, MAX_SLEEP)
                    if self.time.wait(self._wake_r, timeout):
                        requests = self._wake_r.recv(4096)
                        if b"x" in requests:
                            break
                        if b"h" in requests:
                            self._apply_reload()
                    continue
                if not self._heap or self._heap[0][0] > self.time.time():
                    continue
                due, order, name = heapq.heappop(self._heap)
                if self._schedule.get(name) != due:
                    continue  # removed or rescheduled by a reload
                job = self._job(name)
                self._plan(
                    job, order, job.schedule.following(max(due, self.time.time()))
                )
                self._tick(job, due, order)
        finally:
            self._finish()
            self._wake_r.close()
            self._wake_w.close()

    def _retry_due(self):
        """Queue the retries whose wait is over (they wait for a slot like
        a tick's first call); whether there were any."""
        now = self.time.time()
        moved = False
        with self._lock:
            while self._retries and self._retries[0][0] <= now:
                _, _, entry = heapq.heappop(self._retries)
                entry.queued = self.time.monotonic()
                entry.started = None
                self._enqueue(entry)
                moved = True
        return moved

    def _plan(self, job, order, due):
        if due is None:  # a schedule that never comes again (refused at build time)
            self._schedule.pop(job.name, None)
            return
        self._schedule[job.name] = due
        heapq.heappush(self._heap, (due, order, job.name))

    def _job(self, name):
        for job in self.config.jobs:
            if job.name == name:
                return job
        raise KeyError(name)

    def _tick(self, job, due, order):
        with self._lock:
            busy = self._in_flight.get(job.name)
            stale = None
            if (
                busy is not None
                and busy.started is None
                and not busy.outcomes
                and busy.due < due
            ):
                # Its window closed at this tick: it never starts; this waits
                # instead (a retry waiting for a slot is retry.py's to end).
                self._queue.remove(busy)
                heapq.heapify(self._queue)
                stale, busy = busy, None
            if busy is None:
                self._in_flight[job.name] = entry = Tick(
                    job, due, order, self.time.monotonic()
                )
                self._enqueue(entry)
        if stale:
            self.observer.skipped(job, stale.due, NOT_STARTED)
            self.log.warning(
                "%s: the call due at %s waited for a free call slot until "
                "the next tick (%.1f s); not calling it",
                job.name,
                utc(stale.due),
                self.time.monotonic() - stale.queued,
            )
        if busy is None:
            return
        if busy.started is None:
            what, since = "waiting for a free call slot", busy.queued
        else:
            what, since = "running", busy.started
        self.observer.skipped(job, due, "still running")
        self.log.warning(
            "%s: previous call still %s (%.1f s), skipping the tick due at %s",
            job.name,
            what,
            self.time.monotonic() - since,
            utc(due),
        )

    # -- reload --------------------------------------------------------------------

    def _apply_reload(self):
        if self._reload is None:
            return
        old = self.config
        try:
            new = self._reload()
        except Exception as exc:  # BadConfig, or anything else: keep running
            self.log.error(
                "reload failed, still running the %d job(s) loaded before: %s",
                len(old.jobs),
                escape(str(exc)),
            )
            return
        before = {job.name: job for job in old.jobs}
        after = {job.name: job for job in new.jobs}
        added = [name for name in after if name not in before]
        removed = [name for name in before if name not in after]
        changed = [
            name for name in after if name in before and after[name] != before[name]
        ]
        now = self.time.time()
        with self._lock:
            self.config = new
            if self._idle and len(self._threads) > new.concurrency:
                self._ready.notify_all()  # extra idle threads leave
            for _ in range(min(len(self._queue), new.concurrency - len(self._threads))):
                self._start_thread()  # raised: queued calls need not wait
        for name in removed:
            del self._schedule[name]
        for order, job in enumerate(new.jobs):
            if job.name in added or (
                job.name in changed and job.schedule != before[job.name].schedule
            ):
                self._plan(job, order, job.schedule.following(now))
        for job in new.jobs:
            if job.name in added:
                self.log.info("%s", started_line(job))
        settings = [
            f"{key} {getattr(old, key)} -> {getattr(new, key)}"
            for key in ("address", "timeout", "concurrency")
            if getattr(old, key) != getattr(new, key)
        ]
        parts = [
            f"{label} {', '.join(names)}"
            for label, names in (
                ("added", added),
                ("removed", removed),
                ("changed", changed),
            )
            if names
        ]
        parts += settings
        unchanged = len(new.jobs) - len(added) - len(changed)
        running = [name for name in removed if name in self._in_flight]
        if running:
            parts.append(f"{', '.join(running)} will stop after the call in flight")
        self.log.info(
            "reloaded the config: %s; %d job(s) unchanged",
            "; ".join(parts) or "no change",
            unchanged,
        )
