"""The tick loop of ``bin/<part> run``: epoch-aligned ticks, a bounded pool
of calls, reload on request.

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
import threading
import time

from . import retry
from .call import call as http_call
from .call import describe
from .locks import NOT_STARTED
from .text import escape
from .timefmt import utc

GRACE = 0.2  # seconds in-flight calls get to finish after SIGTERM/SIGINT
MAX_SLEEP = 10.0  # re-read the wall clock at least this often (clock jumps)
LATE = 1.0  # a call that starts this many seconds after its tick logs it
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


class _Call:
    """A tick of a job, from its due time until its call is over (with its
    retries: ``outcomes`` so far, ``first`` the time source's time when
    the first attempt started)."""

    __slots__ = ("job", "due", "order", "queued", "started", "outcomes", "first")

    def __init__(self, job, due, order, queued):
        self.job = job
        self.due = due
        self.order = order
        self.queued = queued
        self.started = None  # monotonic, once a pool thread took it
        self.outcomes = []
        self.first = None

    def __lt__(self, other):  # the pool's queue: earliest due, then job order
        return (self.due, self.order) < (other.due, other.order)


class Clock:
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
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue = []  # heap of _Call waiting for a pool thread
        self._in_flight = {}  # job name -> _Call, queued or running
        self._threads = set()
        self._idle = 0
        self._stopping = False
        self._schedule = {}  # job name -> next due time
        self._heap = []  # (due, order, name); stale entries are skipped
        self._retries = []  # (when, order, _Call): attempts waiting, holding no slot

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

    def settled(self, asleep=0):
        """Whether the pool can do nothing until time passes: no queued call
        a free thread could take, and no busy thread but the ``asleep``
        ones waiting on the time source (a simulated time source moves
        on only then)."""
        with self._lock:
            if self._queue and self._idle:
                return False
            return len(self._threads) - self._idle <= asleep

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

    def _enqueue(self, entry):
        """Hand ``entry`` to the pool; called with the lock held."""
        heapq.heappush(self._queue, entry)
        # Threads woken but not yet running still count as idle.
        if len(self._queue) <= self._idle:
            self._ready.notify()
        elif len(self._threads) < self.config.concurrency:
            self._start_thread()

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
                self._in_flight[job.name] = entry = _Call(
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

    # -- the pool ------------------------------------------------------------------

    def _start_thread(self):
        """Called with the lock held."""
        thread = threading.Thread(
            target=self._serve, daemon=True, name=f"clock call {len(self._threads) + 1}"
        )
        self._threads.add(thread)
        thread.start()

    def _serve(self):
        me = threading.current_thread()
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    if (
                        len(self._threads) > self.config.concurrency
                    ):  # lowered by reload
                        self._threads.discard(me)
                        return
                    self._idle += 1
                    self._ready.wait()
                    self._idle -= 1
                if self._stopping:
                    self._threads.discard(me)
                    return
                entry = heapq.heappop(self._queue)
                entry.started = self.time.monotonic()
                concurrency = self.config.concurrency
            again = False
            try:
                again = self._call(entry, concurrency)
            except Exception:  # a bug must not kill the pool
                self.log.exception("%s: unexpected error", entry.job.name)
            finally:
                if not again:
                    with self._lock:
                        self._in_flight.pop(entry.job.name, None)

    def _call(self, entry, concurrency):
        """One attempt of a tick's call; True when a retry waits (the job
        stays in flight, the slot is given back)."""
        job, due = entry.job, entry.due
        if not entry.outcomes:  # the tick's first attempt: late? claim, start
            late = self.time.time() - due
            waited = entry.started - entry.queued
            if (
                late > LATE and waited > 0.05
            ):  # a queued call (not a catch-up's at once)
                self.log.warning(
                    "%s: started %.1f s late (due at %s; waited %.1f s for "
                    "one of the %d call slots, the concurrency option)",
                    job.name,
                    late,
                    utc(due),
                    waited,
                    concurrency,
                )
            following = job.schedule.following(due)
            skip = self._too_late(job, due, following) or self.claim(job, due)
            if not skip:  # won; a claim that took until the next tick is lost
                skip = self._too_late(job, due, following)
            if skip:
                self.observer.skipped(job, due, skip)
                return False
            self.observer.started(job, due)
            entry.first = self.time.time()
        outcome = self.call(self.config, job)
        entry.outcomes.append(outcome)
        now = self.time.time()
        wait, note = retry.next_step(
            self.config, job, entry.outcomes, now, job.schedule.following(due)
        )
        if wait is not None:
            self.log.warning(
                "%s: %s (%.3f s); retry %d of %d in %g s",
                job.name,
                describe(outcome, job),
                outcome.duration,
                len(entry.outcomes),
                retry.retries_of(self.config, job),
                wait,
            )
            with self._lock:
                heapq.heappush(self._retries, (now + wait, entry.order, entry))
            self._poke(b"r")  # the main loop plans the wait
            return True
        self._end(entry, note)
        return False

    def _end(self, entry, note=None):
        job, due, outcomes = entry.job, entry.due, entry.outcomes
        outcome = outcomes[-1]
        if len(outcomes) > 1 or note:
            outcome = retry.combined(
                outcomes, job, self.time.time() - entry.first, note
            )
        level = logging.INFO if outcome.ok else logging.WARNING
        tries = f", {len(outcomes)} attempts" if len(outcomes) > 1 else ""
        self.log.log(
            level,
            "%s: %s (%.3f s%s)",
            job.name,
            describe(outcome, job),
            outcome.duration,
            tries,
        )
        if note:
            self.log.warning("%s: %s", job.name, note)
        self.observer.finished(job, due, outcome)

    def _too_late(self, job, due, following):
        """NOT_STARTED once the job's next tick has come: a tick's call
        starts before it or not at all (so a claim kept until then, plus
        half an interval, covers every host that may still ask)."""
        if following is None or self.time.time() < following:
            return None
        self.log.warning(
            "%s: the call due at %s did not start before the next tick "
            "(%s); not calling it",
            job.name,
            utc(due),
            utc(following),
        )
        return NOT_STARTED

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

    # -- the end -------------------------------------------------------------------

    def _finish(self):
        with self._lock:
            self._stopping = True
            waiting = sorted(self._queue)
            queued = [entry.job.name for entry in waiting if not entry.outcomes]
            self._queue.clear()
            threads = list(self._threads)
            self._ready.notify_all()
        if queued:
            self.log.warning(
                "not starting the calls still waiting for a slot: %s", ", ".join(queued)
            )
        retrying = [entry for _, _, entry in sorted(self._retries)]
        retrying += [entry for entry in waiting if entry.outcomes]
        for entry in retrying:  # their ticks end failed, and are recorded
            self._end(entry, "no retry: the clock was stopped")
            with self._lock:
                self._in_flight.pop(entry.job.name, None)
        self._retries = []
        deadline = time.monotonic() + GRACE
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            abandoned = sorted(
                entry.job.name
                for entry in self._in_flight.values()
                if entry.started is not None
            )
        if abandoned:
            self.log.warning(
                "not waiting for calls still running: %s", ", ".join(abandoned)
            )
        self._wake_r.close()
        self._wake_w.close()
