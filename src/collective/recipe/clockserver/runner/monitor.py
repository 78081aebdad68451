"""Recording every run: the clock's observer and gate, catch-up, metrics,
pings, and the begin/finish of ``fire`` and ``exec``.

Nothing here may stop a job from running: a record or metrics file that
cannot be written is logged, and the call goes ahead.
"""

import os
import tempfile
import threading
import time

from . import pings
from .call import describe
from .clock import Observer, no_claim
from .records import Records, Unreadable

METRICS_EVERY = 60  # seconds: `run` rewrites metrics-file at least this often


class Monitor:
    """The records, metrics file and pings of one part."""

    def __init__(self, config, log):
        self.config = config
        self.log = log  # log(text): one line, warnings and errors
        self.records = Records(config.state_directory, config.secrets) \
            if config.state_directory else None
        self._metrics_lock = threading.Lock()

    # -- records, never raising ----------------------------------------------

    def _safely(self, what, function, *args, **kwargs):
        if self.records is None:
            return None
        try:
            return function(*args, **kwargs)
        except (OSError, ValueError) as exc:
            text = getattr(exc, "strerror", None) or str(exc)
            self.log(f"cannot record {what} in {self.config.state_directory}: {text}")
            return None

    def seen(self, names):
        self._safely("the names", self.records and self.records.seen, names)

    def begin(self, name, due, by, scheduled, catch_up=False, record_skip=True):
        """``(token, None)`` or ``(None, "still running")``."""
        got = self._safely(f"the start of {name}", self.records and self.records.begin,
                           name, due, by, scheduled, catch_up, record_skip)
        return got or (None, None)

    def finish(self, name, token, result, duration, **details):
        self._safely(f"the run of {name}", self.records and self.records.finish,
                     name, token, result, duration, **details)

    def cancel(self, name, token):
        if token:
            self._safely(f"the run of {name}", self.records.cancel, name, token)

    def skip(self, name, due, reason, by, scheduled):
        self._safely(f"the skip of {name}", self.records and self.records.skip,
                     name, due, reason, by, scheduled)

    def ping(self, name, event):
        if self.config.pings.get(name):
            pings.ping(self.config, name, event, self.log)

    # -- metrics ----------------------------------------------------------------

    def write_metrics(self):
        """Rewrite metrics-file atomically (mode 0644); never raises."""
        path = self.config.metrics_file
        if not path or self.records is None:
            return
        from . import status  # only parts with a metrics file need it

        with self._metrics_lock:
            lock = None
            try:
                self.records.make()
                lock = os.open(os.path.join(self.records.directory, ".locks", "metrics.lock"),
                               os.O_RDWR | os.O_CREAT, 0o600)
                import fcntl

                fcntl.flock(lock, fcntl.LOCK_EX)  # the newest snapshot wins
                text = status.metrics_text(self.config, status.collect(self.config))
                _write_public(path, text)
            except (OSError, Unreadable, ValueError) as exc:
                text = getattr(exc, "strerror", None) or str(exc)
                self.log(f"cannot write metrics-file {path}: {text}")
            finally:
                if lock is not None:
                    os.close(lock)


def _write_public(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".clockserver-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, 0o644)  # node_exporter runs as another user
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


class ClockMonitor(Observer):
    """What ``bin/<part> run`` records: the Observer, the claim gate in
    front of any other gate (overlap with ``fire``/``exec`` of this host),
    catch-up at start and the once-a-minute metrics rewrite."""

    def __init__(self, config, logger):
        self.monitor = Monitor(config, lambda text: logger.warning("%s", text))
        self.config = config
        self.logger = logger
        self._tokens = {}
        self._catch_ups = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        from .status import watched

        self.monitor.seen([w.name for w in watched(self.config)])
        self.monitor.write_metrics()
        if self.config.metrics_file:
            self._thread = threading.Thread(target=self._metrics_loop,
                                            name="clock metrics", daemon=True)
            self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.monitor.write_metrics()

    def _metrics_loop(self):
        while not self._stop.wait(METRICS_EVERY):
            self.monitor.write_metrics()

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
        now = time.time()
        due = watch.previous(now)
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
            token, skip = self.monitor.begin(job.name, due, "run", True, catch_up,
                                             record_skip=False)
            if skip:
                return skip
            reason = inner(job, due)
            if reason:
                self.monitor.cancel(job.name, token)
                return reason
            with self._lock:
                self._tokens[(job.name, due)] = token
            return None

        return claim

    def started(self, job, due):
        self.monitor.ping(job.name, "start")

    def finished(self, job, due, outcome):
        with self._lock:
            token = self._tokens.pop((job.name, due), None)
            catch_up = (job.name, due) in self._catch_ups
            self._catch_ups.discard((job.name, due))
        self.monitor.finish(
            job.name, token, "ok" if outcome.ok else "failed", outcome.duration,
            reason=describe(outcome, job), http_status=outcome.status, by="run",
            due=due, start=time.time() - outcome.duration, scheduled=True,
            catch_up=catch_up)
        self.monitor.write_metrics()
        self.monitor.ping(job.name, "success" if outcome.ok else "fail")

    def skipped(self, job, due, reason):
        with self._lock:
            self._catch_ups.discard((job.name, due))
        self.monitor.skip(job.name, due, reason, "run", True)
        self.monitor.write_metrics()
