"""The run protocol, written once: begin, overlap skip, cluster claim, start
ping, the work, finish record, metrics, final ping.

``fire`` and ``exec`` (cli.py) go through ``perform()``; the clock
(``run``, recording.py) drives the same steps of a ``Run`` from its
callbacks, because it asks the claim when a call slot frees and makes the
call itself.  Nothing here may stop a job from running: a record or
metrics file that cannot be written is logged, and the run goes ahead.
Imports stay lazy: cron starts ``fire`` once per call.
"""

import threading
import time

from .pinger import Pinger
from .records import Records, Refused, StoreError


def scheduled_tick(config, name, scheduled, now):
    """The tick a cron-started run serves: the latest time <= ``now`` that
    its schedule matches; None by hand and for ``@reboot``."""
    if not scheduled:
        return None
    thing = config.entry(name) or config.job(name)
    if thing is None:
        return None
    return thing.schedule.previous(now)


def interval_of(config, name, after):
    """Seconds between two ticks of ``name`` (for how long a claim is kept)."""
    thing = config.entry(name) or config.job(name)
    return (thing and thing.schedule.interval(after)) or 60


class Result:
    """What a run's work gave, whether a call or a command."""

    __slots__ = (
        "ok",
        "duration",
        "reason",
        "http_status",
        "exit_status",
        "output",
        "attempts",
    )

    def __init__(
        self,
        ok,
        duration,
        reason,
        http_status=None,
        exit_status=None,
        output=None,
        attempts=(),
    ):
        self.ok = ok
        self.duration = duration
        self.reason = reason
        self.http_status = http_status
        self.exit_status = exit_status
        self.output = output
        self.attempts = tuple(attempts)  # each attempt's reason, after retries

    @property
    def attempt_count(self):
        """How many times the work was tried (notes such as "no retry:
        ..." are no attempts)."""
        if not self.attempts:
            return 1
        from .retry import attempt_count

        return attempt_count(self.attempts)


def of_call(outcome, job):
    """A call's Outcome (call.py) as a Result; after retries the reason ends
    with ``(N attempts: ...)``."""
    from .call import describe

    reason = describe(outcome, job)
    if outcome.attempts:
        from .retry import reason_with_attempts

        reason = reason_with_attempts(reason, outcome)
    return Result(
        outcome.ok,
        outcome.duration,
        reason,
        http_status=outcome.status,
        attempts=outcome.attempts,
    )


def of_command(done):
    """A command's Done (execute.py) as a Result."""
    return Result(
        done.status == 0,
        done.duration,
        done.reason,
        exit_status=done.status,
        output=done.output,
    )


class Skip:
    """A run that did not happen: ``reason`` is recorded; ``message`` (or
    None: silent) is the one line a cron-started process prints."""

    __slots__ = ("reason", "message")

    def __init__(self, reason, message=None):
        self.reason = reason
        self.message = message


class Runs:
    """The runs of one part started one way (``by``: run, fire or exec):
    their records, the metrics file and pings, none of them ever raising.

    ``metrics`` is called after every recorded run or skip: ``fire`` and
    ``exec`` rewrite the metrics file at once (the default), ``run`` marks
    it dirty.  ``log(text)`` takes one line: warnings and errors.
    """

    def __init__(self, config, log, by, metrics=None, now=time.time, pinger=None):
        self.config = config
        self.log = log
        self.by = by
        self.now = now  # the time source's time() (simulated in tests)
        self.pinger = pinger or Pinger(log)  # shared across reloads: pings in order
        # Commits are put on disk by flush(): run's once a second, fire's
        # and exec's once, after their run's end (one fsync, not one per
        # commit).
        self.records = (
            Records(
                config.state_directory,
                config.secrets,
                now,
                config.part,
                self.log,
                durable=False,
            )
            if config.state_directory
            else None
        )
        self._logged = None  # the last problem logged (logged again when it changes)
        self.metrics = metrics or self.write_metrics
        self._metrics_lock = threading.Lock()

    def begin(self, name, due, scheduled, catch_up=False, record_skip=True):
        """``(Run, None)``, or ``(None, "still running")`` when a run of
        ``name`` goes on on this host (the skip recorded unless
        ``record_skip`` is false: the clock records it when it is told;
        then nothing is written now either: Records.begin_soon)."""
        if record_skip:
            got = self._record(
                f"the start of {name}", "begin", name, due, self.by, scheduled, catch_up
            )
            token, skip = got or (None, None)
        else:
            token = self._record(
                f"the start of {name}",
                "begin_soon",
                name,
                due,
                self.by,
                scheduled,
                catch_up,
            )
            skip = "still running" if token is False else None
        if skip:
            if record_skip:
                if self.by != "run":
                    self.flush()
                self.metrics()
            return None, skip
        return Run(self, name, due, scheduled, catch_up, token), None

    def skipped(self, name, due, reason, scheduled):
        """Record a tick that was not run, and why (no ping)."""
        self._record(
            f"the skip of {name}", "skip", name, due, reason, self.by, scheduled
        )
        if self.by != "run":
            self.flush()
        self.metrics()

    def seen(self, names):
        """Note the names installed (when each was first seen)."""
        self._record("the names", "seen", names)

    def ping(self, name, event, rid=None, body=b""):
        """Queue the ``event`` ping of ``name`` (sent in the background)."""
        if self.config.pings.get(name):
            self.pinger.send(self.config, name, event, rid, body)

    def wait_for_pings(self, budget=None):
        """``fire``/``exec`` before exiting: wait at most ``budget``
        seconds (the ping deadline, 10 s) in total for the pings queued;
        one line says which were not sent."""
        if not self.pinger.waiting():
            return  # no ping queued: pings.py (http.client, ssl...) stays unloaded
        from . import pings

        unsent = self.pinger.wait(pings.TIMEOUT if budget is None else budget)
        for name, event in unsent:
            self.log(
                f"{name}: the {event} ping was not completed: {self.by} waits at "
                f"most {pings.TIMEOUT:g} s in total for its pings"
            )

    def flush(self, sync=True, begins=False):
        """Write what was held back (``begins``: also the rows of all calls
        in progress) and (``sync``) put the records on disk; never raises."""
        self._record("the records", "flush", sync, begins)

    def write_metrics(self):
        """Rewrite metrics-file (metrics.py); never raises."""
        if self.config.metrics_file and self.records is not None:
            from . import metrics  # only parts with a metrics file need it

            with self._metrics_lock:
                metrics.write(self.config, self.records, self.now(), self.log)

    def _record(self, what, method, *args):
        """``records.method(*args)``; None, logged, when it cannot be written."""
        if self.records is None:
            return None
        try:
            got = getattr(self.records, method)(*args)
        except (OSError, ValueError, StoreError) as exc:
            text = getattr(exc, "strerror", None) or str(exc)
            if isinstance(exc, (Refused, PermissionError)):  # once, not per call
                if text != self._logged:
                    self._logged = text
                    self.log(
                        f"not recording in {self.config.state_directory} "
                        f"(the jobs still run): {text}"
                    )
                return None
            self.log(f"cannot record {what} in {self.config.state_directory}: {text}")
            return None
        if method in ("begin", "begin_soon", "skip", "seen"):  # the store is usable
            self._logged = None
        return got


class Run:
    """One run begun (recorded as running) and what follows."""

    def __init__(self, runs, name, due, scheduled, catch_up, token):
        self.runs = runs
        self.name = name
        self.due = due
        self.scheduled = scheduled
        self.catch_up = catch_up
        self.token = token
        self.rid = None  # the run id of its pings (hcprotocol.py)

    def claim(self, gate):
        """Ask ``gate()`` (None: go ahead, or the reason to skip); a refused
        run is forgotten (the caller records the skip)."""
        reason = gate()
        if reason and self.token:
            self.runs._record(
                f"the run of {self.name}", "cancel", self.name, self.token
            )
        return reason

    def start(self):
        if self.runs.config.pings.get(self.name):  # else no run id is needed
            from .hcprotocol import run_id

            self.rid = run_id()
            self.runs.ping(self.name, "start", self.rid)

    def finish(self, result):
        """Record the end, update the metrics, then the final ping."""
        runs = self.runs
        runs._record(
            f"the run of {self.name}",
            "finish",
            self.name,
            self.token,
            "ok" if result.ok else "failed",
            result.duration,
            result.reason,
            result.http_status,
            result.exit_status,
            result.output,
            runs.by,
            self.due,
            runs.now() - result.duration,
            self.scheduled,
            self.catch_up,
            runs.by == "run",  # run: written with the next transaction or flush
            result.attempt_count,
        )
        if runs.by != "run":  # fire, exec: on disk before the process ends
            runs.flush()
        runs.metrics()
        if runs.config.pings.get(self.name):
            from .hcprotocol import final_body, final_event

            output = result.output
            if isinstance(output, bytes):
                output = output.decode("utf-8", "replace")
            runs.ping(
                self.name,
                final_event(result.ok, result.exit_status),
                self.rid,
                final_body(result.reason, output, runs.config.secrets),
            )


def perform(runs, name, due, scheduled, work):
    """A whole run for ``fire``/``exec``: ``(Result, None)`` or ``(None, Skip)``.

    ``work()`` returns the Result; ``due`` is the scheduled tick (None by
    hand and for ``@reboot``: then no claim is taken).
    """
    config = runs.config
    run, overlap = runs.begin(name, due, scheduled)  # due: scheduled_tick()
    if overlap:
        return None, Skip(
            overlap,
            f"{config.part}: {name}: skipped, the previous run is still running",
        )
    if scheduled and config.lock and due is not None:
        gate = ClusterClaim(config, name, due)
        reason = run.claim(gate) or gate.too_late(run)
        if reason:
            runs.skipped(name, due, reason, scheduled)
            return None, Skip(reason, gate.message)
    run.start()
    result = work()
    run.finish(result)
    return result, None


class ClusterClaim:
    """The claim of a cron-started run's tick in the lock service: None
    (ours), or the reason to skip; ``message`` then says it on stderr when
    cron should mail it (the service unreachable), else stays None."""

    def __init__(self, config, name, due):
        self.config = config
        self.name = name
        self.due = due
        self.message = None

    def __call__(self):
        from .locks import UNREACHABLE, claim_once, claim_seconds

        config = self.config
        thing = config.entry(self.name) or config.job(self.name)
        keep = thing and claim_seconds(thing.schedule, self.due, time.time())
        skip, why = claim_once(
            config.lock,
            self.name,
            self.due,
            interval_of(config, self.name, self.due),
            keep=keep,
        )
        if skip == UNREACHABLE:
            self.message = (
                f"{config.part}: {self.name}: skipped, the lock service is "
                f"unreachable ({config.lock['url']}: {why})"
            )
        return skip

    def too_late(self, run):
        """After a won claim: NOT_STARTED (the claim forgotten) when the
        claim took until the next tick, as the clock does; else None."""
        from .locks import NOT_STARTED

        thing = self.config.entry(self.name) or self.config.job(self.name)
        following = thing and thing.schedule.following(self.due)
        if following is None or time.time() < following:
            return None
        if run.token:
            run.runs._record(f"the run of {self.name}", "cancel", self.name, run.token)
        self.message = (
            f"{self.config.part}: {self.name}: skipped, the tick was not "
            "started before the next tick"
        )
        return NOT_STARTED
