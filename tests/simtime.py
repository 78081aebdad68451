"""Simulated time for the clock (runner/clock.py): the tick loop, its pool
and the records run as they do, but time moves only when nothing is left
to do before it, so tests of ticks, overdue and catch-up never wait for
the wall clock.

    fake = FakeTime(start=T0)
    clock = fake.attach(Clock(config, clock=fake, call=fake.answer(...)))
    fake.run(clock, until=T0 + 10)  # returns at simulated T0 + 10

Calls made through ``answer`` take their duration in simulated time
(``sleep``); the loop's wait jumps to the next due time, or to the end of
the first call that ends before it, once every pool thread is idle or
asleep in simulated time.
"""

import select
import threading
import time

from collective.recipe.clockserver.runner.call import Outcome

SETTLE = 10.0  # real seconds the pool may take to settle before a test fails


class FakeTime:
    """time(), monotonic() and wait() of the clock's time source, simulated."""

    def __init__(self, start):
        self.now = float(start)
        self.until = None
        self.clock = None
        self.sleepers = []  # wake-up times of calls asleep in simulated time
        self.most = 0  # the most calls asleep at once (in flight together)
        self.cond = threading.Condition()

    # -- the time source ----------------------------------------------------------

    def time(self):
        with self.cond:
            return self.now

    monotonic = time

    def wait(self, sock, timeout):
        """The clock's loop waits: let the pool settle, then move time on to
        ``timeout`` later, or to the first sleeper's wake-up before that."""
        deadline = time.monotonic() + SETTLE
        while True:
            if select.select([sock], [], [], 0)[0]:
                return True  # a stop or reload request
            with self.cond:  # a sleeper woken but not yet running is not asleep
                asleep = sum(1 for wake in self.sleepers if wake > self.now)
            if self.clock is None or self.clock.settled(asleep):
                # A thread pokes the clock (a retry to plan) before it goes
                # idle: a poke sent between the first look and settled()
                # must still be seen before time moves on.
                if select.select([sock], [], [], 0)[0]:
                    return True
                break
            assert time.monotonic() < deadline, "the clock's pool never settled"
            time.sleep(0.0005)
        with self.cond:
            target = self.now + timeout
            if self.sleepers:
                target = min(target, min(self.sleepers))
            if self.until is not None and target >= self.until:
                self.now = max(self.now, self.until)
                self.clock.stop()
                self.cond.notify_all()
                return False  # the stop request is read at the next turn
            self.now = target
            self.cond.notify_all()
        return False

    # -- what tests use -----------------------------------------------------------

    def sleep(self, seconds):
        """Block the calling (pool) thread for ``seconds`` of simulated time."""
        with self.cond:
            wake = self.now + seconds
            self.sleepers.append(wake)
            self.most = max(self.most, len(self.sleepers))
            try:
                while self.now < wake:
                    self.cond.wait(1)
            finally:
                self.sleepers.remove(wake)

    def attach(self, clock):
        self.clock = clock
        return clock

    def run(self, clock, until):
        """Run ``clock`` in this thread until the simulated time ``until``."""
        self.attach(clock)
        self.until = until
        clock.run()

    def answer(self, durations=None, status=200, reason="OK", calls=None):
        """A ``call(config, job)`` answering ``status`` after the job's
        duration (``durations``: name -> seconds, default 0); each call is
        appended to ``calls`` as (name, simulated start)."""
        durations = durations or {}

        def call(config, job):
            started = self.time()
            if calls is not None:
                with self.cond:
                    calls.append((job.name, started))
            seconds = durations.get(job.name, 0)
            if seconds:
                self.sleep(seconds)
            return Outcome(self.time() - started, status, reason)

        return call


class ListLog:
    """A logger's info/warning/log/error/exception, as text lines."""

    def __init__(self):
        self.lines = []

    def log(self, level, message, *args):
        self.lines.append(message % args)

    def info(self, message, *args):
        self.log(0, message, *args)

    warning = error = exception = info

    @property
    def text(self):
        return "\n".join(self.lines)
