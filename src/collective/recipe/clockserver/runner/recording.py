"""What ``bin/<part> run`` records: the clock's Observer and claim gate
driving the run protocol (runs.py), catch-up at start and the
once-a-minute rewrite of the metrics file."""

import threading
import time

from .clock import Observer, no_claim
from .records import Unreadable
from .runs import Runs, of_call

METRICS_EVERY = 60  # seconds: `run` rewrites metrics-file at least this often
METRICS_GAP = 1.0  # seconds between two rewrites: runs ending together share one


class ClockRecorder(Observer):
    """The records, metrics and pings of the clock's runs."""

    def __init__(self, config, logger, now=time.time):
        self.config = config
        self.logger = logger
        self.now = now  # the clock's time source's time()
        self.runs = Runs(config, lambda text: logger.warning("%s", text), "run",
                         metrics=self._metrics_later, now=now)
        self._runs = {}  # (name, due) -> Run, from the claim to the end
        self._catch_ups = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._dirty = threading.Event()  # a run ended: rewrite the metrics
        self._thread = None

    @property
    def monitor(self):
        return self.runs.monitor

    def _metrics_later(self):
        self._dirty.set()

    def start(self):
        from .status import watched

        self.monitor.seen([w.name for w in watched(self.config)])
        self.monitor.write_metrics()
        self._thread = threading.Thread(target=self._metrics_loop,
                                        name="clock metrics", daemon=True)
        self._thread.start()

    def reloaded(self, config):
        """SIGHUP: the clock got a new config; records, metrics and pings
        follow it (new names are noted as seen)."""
        from .status import watched

        self.config = config
        self.runs = Runs(config, self.monitor.log, "run", metrics=self._metrics_later,
                         now=self.now)
        self.monitor.seen([w.name for w in watched(config)])
        self._dirty.set()
        return config

    def stop(self):
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(5)
        self.monitor.write_metrics()

    def _metrics_loop(self):
        """Rewrite metrics-file soon after runs end (at most once a second,
        so a hundred jobs ending together cost one rewrite) and at least
        once a minute, so clockserver_overdue stays current."""
        while not self._stop.is_set():
            self._dirty.wait(METRICS_EVERY)
            if self._stop.is_set():
                return
            self._dirty.clear()
            self.monitor.write_metrics()
            self._stop.wait(METRICS_GAP)

    # -- catch-up ---------------------------------------------------------------

    def catch_up(self, job):
        """The tick to call at once for ``job``, or None (see ``catch-up``)."""
        catch_up = self.config.catch_up if job.catch_up is None else job.catch_up
        records = self.monitor.records
        if not catch_up or records is None:
            return None
        from .status import served, watched

        watch = next((w for w in watched(self.config) if w.name == job.name), None)
        if watch is None:
            return None
        due = watch.previous(self.now())
        try:
            record = records.read(job.name)
        except (Unreadable, OSError):
            return None
        if due is None or record is None or record["first_seen"] > due:
            return None  # nothing was due since the name was installed
        for run in record["runs"]:
            if served(run) and (run.get("start", 0) >= due or (run.get("due") or 0) >= due):
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
            run, skip = self.runs.begin(job.name, due, True, catch_up, record_skip=False)
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
