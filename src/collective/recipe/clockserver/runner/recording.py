"""``bin/<part> run``: the clock with its log, signals and recorder (the
Observer and claim gate that drive the run protocol of runs.py), catch-up
at start and the once-a-minute rewrite of the metrics file."""

import threading
import time

from .clock import Observer, no_claim
from .records import BEGIN_GAP, ENDS_WAIT, KEEP, StoreError
from .runs import Runs, of_call

METRICS_EVERY = 60  # seconds: `run` rewrites metrics-file at least this often
METRICS_GAP = 1.0  # seconds between two rewrites: runs ending together share one
ENDS_GAP = 0.05  # seconds without a call ending before the ends are written
# (but at most ENDS_WAIT, records.py)


class ClockRecorder(Observer):
    """The records, metrics and pings of the clock's runs."""

    def __init__(self, config, logger, now=time.time):
        self.config = config
        self.logger = logger
        self.now = now  # the clock's time source's time()
        self.runs = Runs(
            config,
            lambda text: logger.warning("%s", text),
            "run",
            metrics=self._metrics_later,
            now=now,
        )
        self._runs = {}  # (name, due) -> Run, from the claim to the end
        self._catch_ups = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._dirty = threading.Event()  # a run ended: rewrite the metrics
        self._thread = None

    def _metrics_later(self):
        if not self._dirty.is_set():  # a hundred ends in a burst: one set()
            self._dirty.set()

    def start(self):
        from .status import watched

        self.runs.seen([w.name for w in watched(self.config)])
        self._clock(self.runs.records, hold=True)
        self.runs.write_metrics()
        self._thread = threading.Thread(
            target=self._metrics_loop, name="clock metrics", daemon=True
        )
        self._thread.start()

    def reloaded(self, config):
        """SIGHUP: the clock got a new config; records, metrics and pings
        follow it (new names are noted as seen)."""
        from .status import watched

        self.config = config
        old = self.runs
        old.flush(begins=True)  # the calls in flight end in the new Runs
        self.runs = Runs(
            config,
            self.runs.log,
            "run",
            metrics=self._metrics_later,
            now=self.now,
            pinger=self.runs.pinger,
        )
        if self.runs.records is not None and old.records is not None:
            self.runs.records.adopt(old.records)  # the calls in flight end here
        # The clock byte moves to the new store (the same one: let go, held
        # again at once).
        self._clock(old.records, hold=False)
        self._clock(self.runs.records, hold=True)
        self.runs.seen([w.name for w in watched(config)])
        self._dirty.set()
        return config

    def stop(self):
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(5)
        self.runs.flush(begins=True)  # calls abandoned show as interrupted
        self._clock(self.runs.records, hold=False)
        self.runs.write_metrics()

    @staticmethod
    def _clock(records, hold):
        """Hold (or let go) the byte of ``records``' store that tells status
        a run goes on and its records may lag (records.HELD_BACK)."""
        if records is None:
            return
        try:
            if hold:
                records.hold_clock()
            else:
                records.release_clock()
        except (StoreError, OSError):
            pass  # the records say so elsewhere; status then allows no lag

    def _metrics_loop(self):
        """Write the ends of the calls held back and the rows of calls going
        on for BEGIN_GAP, put them on disk and rewrite metrics-file at most
        once a second (a hundred jobs ending in the same second cost one
        transaction and one rewrite), and at least once a minute, so
        clockserver_overdue stays current.  The ends are written once no
        call ended for ENDS_GAP (at most ENDS_WAIT after the first): after
        a burst of calls, not in the middle of it."""
        clock = time.monotonic
        last_write = clock()
        due = False  # runs ended since the last rewrite
        while not self._stop.is_set():
            wait = max(
                0.0,
                min(
                    last_write + (METRICS_GAP if due else METRICS_EVERY) - clock(),
                    BEGIN_GAP,  # a call going on that long gets its row
                ),
            )
            if self._dirty.wait(wait):
                first = clock()
                while not self._stop.wait(ENDS_GAP):
                    if not self._dirty.is_set() or clock() - first >= ENDS_WAIT:
                        break
                    self._dirty.clear()  # more ended: wait for the burst's end
                self._dirty.clear()
                due = True
            if self._stop.is_set():
                return
            self.runs.flush(sync=False)
            now = clock()
            if now - last_write >= (METRICS_GAP if due else METRICS_EVERY):
                self.runs.flush()
                self.runs.write_metrics()
                last_write, due = now, False

    # -- catch-up ---------------------------------------------------------------

    def catch_up(self, job):
        """The tick to call at once for ``job``, or None (see ``catch-up``)."""
        catch_up = self.config.catch_up if job.catch_up is None else job.catch_up
        records = self.runs.records
        if not catch_up or records is None:
            return None
        from .status import served, watched

        watch = next((w for w in watched(self.config) if w.name == job.name), None)
        if watch is None:
            return None
        due = watch.previous(self.now())
        try:
            record = records.read(job.name, KEEP)
        except (StoreError, OSError):
            return None
        if due is None or record is None or record["first_seen"] > due:
            return None  # nothing was due since the name was installed
        last = record.get("last_served")
        for run in record["runs"] + ([last] if last else []):
            if served(run) and (
                run.get("start", 0) >= due or (run.get("due") or 0) >= due
            ):
                return None
        with self._lock:
            self._catch_ups.add((job.name, due))
        return due

    # -- the gate and the observer ------------------------------------------------

    def gate(self, inner=no_claim):
        """A claim gate: refuse while this host runs the name elsewhere
        (``fire``/``exec``), then ask ``inner`` (the cluster lock)."""

        def claim(job, due):
            with self._lock:
                catch_up = (job.name, due) in self._catch_ups
            # The overlap skip is recorded when the clock reports it (skipped).
            run, skip = self.runs.begin(
                job.name, due, True, catch_up, record_skip=False
            )
            if skip:
                return skip
            reason = run.claim(lambda: inner(job, due))
            if reason:
                return reason
            with self._lock:
                self._runs[(job.name, due)] = run
            return None

        return claim

    def started(self, job, due):
        run = self._run(job, due, pop=False)
        run.start()

    def finished(self, job, due, outcome):
        run = self._run(job, due, pop=True)
        run.finish(of_call(outcome, job))

    def skipped(self, job, due, reason):
        with self._lock:
            self._catch_ups.discard((job.name, due))
            begun = self._runs.pop((job.name, due), None)  # claimed, then too late
        if begun is not None and begun.token:
            self.runs._record(f"the run of {job.name}", "cancel", job.name, begun.token)
        self.runs.skipped(job.name, due, reason, True)

    def _run(self, job, due, pop):
        """The Run the gate began (one never begun when the clock was
        built without this gate)."""
        with self._lock:
            key = (job.name, due)
            run = self._runs.pop(key, None) if pop else self._runs.get(key)
            catch_up = key in self._catch_ups
            if pop:
                self._catch_ups.discard(key)
        if run is None:
            from .runs import Run

            run = Run(self.runs, job.name, due, True, catch_up, None)
        run.runs = self.runs  # a reload since the claim: record as the new config says
        return run


# -- bin/<part> run ------------------------------------------------------------------


def serve(config, config_path, log_file=None):
    """``bin/<part> run``: log the ZServer start lines (to ``log_file`` or
    standard error), then tick until SIGTERM/SIGINT; SIGHUP re-reads
    ``config_path``.  Returns None, or why it could not start (one line)."""
    import logging
    import signal

    from .clock import LOG, Clock, started_line
    from .config import load_config
    from .logfile import LineHandler, LineLog

    try:
        handler = LineHandler(log_file, config.part)
    except OSError as exc:
        return f"cannot write the log file {log_file}: {exc.strerror}"
    for old in LOG.handlers[:]:
        LOG.removeHandler(old)
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False

    try:
        claim = cluster_gate(config, LOG)
    except ValueError as exc:  # the lock's client library is missing
        LOG.removeHandler(handler)
        handler.close()
        return str(exc)
    follow = getattr(claim, "follow", lambda new: new)  # a reload may change lock
    log = LineLog(LOG, handler, config.part)  # the same lines, made cheaper
    recorder = ClockRecorder(config, log)
    # The recorder's gate refuses overlap on this host first, then asks the
    # cluster lock.
    clock = Clock(
        config,
        log=log,
        reload=lambda: recorder.reloaded(follow(load_config(config_path))),
        observer=recorder,
        claim=recorder.gate(claim),
        catch_up=recorder.catch_up,
    )
    stopped_by = []

    def on_signal(signum, frame):
        stopped_by.append(signal.Signals(signum).name)
        clock.stop()

    def on_hangup(signum, frame):
        clock.request_reload()

    previous = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hangup)
    try:
        if config.jobs:
            LOG.info(
                "calling %s (timeout %g s, concurrency %d), %d job(s)",
                config.address,
                config.timeout,
                config.concurrency,
                len(config.jobs),
            )
        else:  # a part of crontab entries only: run has nothing to call
            LOG.info("no jobs to call (this part has crontab entries only)")
        for job in config.jobs:
            LOG.info("%s", started_line(job))
        recorder.start()
        try:
            clock.run()
        finally:
            recorder.stop()
        LOG.info("stopped (%s)", ", ".join(stopped_by) or "stop()")
    finally:
        getattr(claim, "close", lambda: None)()
        for sig, old_handler in previous.items():
            signal.signal(sig, old_handler)
        LOG.removeHandler(handler)
        handler.close()
    return None


def cluster_gate(config, log, now=time.time):
    """The clock's claim gate: the cluster lock when ``lock`` is set (and
    after a reload that sets it), else every tick is ours.

    Raises ValueError when the lock's client library is not installed.
    """
    # Standard library; the client library is imported only for a lock.
    from .locks import ClusterGate, LockUnavailable

    try:
        return ClusterGate(config.lock, log, now)
    except LockUnavailable as exc:
        raise ValueError(str(exc)) from None
