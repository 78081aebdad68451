"""The pool of ``bin/<part> run``'s calls: at most ``concurrency`` threads
take the queued ticks earliest-due first and make each tick's call (late
start, claim, the call, its retries holding no slot, the end), until the
clock (clock.py) stops them."""

import heapq
import logging
import threading
import time

from . import retry
from .call import describe
from .locks import NOT_STARTED
from .timefmt import utc

GRACE = 0.2  # seconds in-flight calls get to finish after SIGTERM/SIGINT
LATE = 1.0  # a call that starts this many seconds after its tick logs it


class Tick:
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


class Pool:
    """The calls of the Clock (clock.py), which subclasses it and supplies
    ``config``, ``time`` (the time source), ``call``, ``claim``,
    ``observer``, ``log`` and ``_poke()``."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue = []  # heap of Tick waiting for a pool thread
        self._in_flight = {}  # job name -> Tick, queued or running
        self._threads = set()
        self._idle = 0
        self._stopping = False
        self._retries = []  # (when, order, Tick): attempts waiting, holding no slot

    def settled(self, asleep=0):
        """Whether the pool can do nothing until time passes: no queued call
        a free thread could take, and no busy thread but the ``asleep``
        ones waiting on the time source (a simulated time source moves
        on only then)."""
        with self._lock:
            if self._queue and self._idle:
                return False
            return len(self._threads) - self._idle <= asleep

    def _enqueue(self, entry):
        """Hand ``entry`` to the pool; called with the lock held."""
        heapq.heappush(self._queue, entry)
        # Threads woken but not yet running still count as idle.
        if len(self._queue) <= self._idle:
            self._ready.notify()
        elif len(self._threads) < self.config.concurrency:
            self._start_thread()

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

    # -- the end -------------------------------------------------------------------

    def _finish(self):
        """Stop the pool: queued calls never start, waiting retries end
        failed, calls still running get GRACE seconds."""
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
