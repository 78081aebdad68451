"""Recording a run: records, the metrics file and pings, for ``fire``,
``exec`` and (through recording.py) ``run``.

Nothing here may stop a job from running: a record or metrics file that
cannot be written is logged, and the call goes ahead.  Imports stay lazy:
cron starts ``fire`` once per call.
"""

import threading
import time

from .records import Records


def scheduled_tick(config, name, scheduled, now):
    """The tick a cron-started run serves: the latest time <= ``now`` that
    its schedule matches; None by hand and for ``@reboot``."""
    if not scheduled:
        return None
    thing = config.entry(name) or config.job(name)
    times = getattr(thing, "times", None)
    if times:
        from . import crontimes

        return crontimes.previous(times, now)
    period = getattr(thing, "period", None)
    if period:
        return (int(now) // period) * period
    return None


def interval_of(config, name, after):
    """Seconds between two ticks of ``name`` (for how long a claim is kept)."""
    thing = config.entry(name) or config.job(name)
    times = getattr(thing, "times", None)
    if times:
        from . import crontimes

        return crontimes.interval(times, after) or 60
    return getattr(thing, "period", None) or 60


class Monitor:
    """The records, metrics file and pings of one part."""

    def __init__(self, config, log, now=time.time):
        self.config = config
        self.log = log  # log(text): one line, warnings and errors
        self.now = now  # the time source's time() (simulated in tests)
        self.records = Records(config.state_directory, config.secrets, now) \
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
            from . import pings

            pings.ping(self.config, name, event, self.log)

    def write_metrics(self):
        """Rewrite metrics-file (metrics.py); never raises."""
        if self.config.metrics_file and self.records is not None:
            from . import metrics  # only parts with a metrics file need it

            with self._metrics_lock:
                metrics.write(self.config, self.records, self.now(), self.log)
