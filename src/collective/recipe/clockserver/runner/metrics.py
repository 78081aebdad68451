"""The metrics file: the records in the Prometheus text format, for
node_exporter's textfile collector, rewritten atomically after runs."""

import os

from .. import files
from . import status
from .records import StoreError

METRICS = (
    (
        "clockserver_last_run_timestamp_seconds",
        "gauge",
        "Start of the last run (any result), seconds since the epoch.",
    ),
    (
        "clockserver_last_success_timestamp_seconds",
        "gauge",
        "Start of the last successful run, seconds since the epoch.",
    ),
    (
        "clockserver_last_duration_seconds",
        "gauge",
        "How long the last finished run took.",
    ),
    (
        "clockserver_consecutive_failures",
        "gauge",
        "Failed runs in a row since the last success.",
    ),
    (
        "clockserver_next_run_timestamp_seconds",
        "gauge",
        "When the next run is due, seconds since the epoch.",
    ),
    (
        "clockserver_overdue",
        "gauge",
        "1 when a due run was missed (see bin/<part> status), else 0.",
    ),
    (
        "clockserver_runs_total",
        "counter",
        "Runs recorded, by result (ok, failed, skipped).",
    ),
)


def _label(value):
    """A Prometheus label value (its own escaping: backslash, newline, quote)."""
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def metrics_text(config, infos):
    """The Prometheus text exposition of ``infos`` (labels part and name)."""
    samples = {name: [] for name, _, _ in METRICS}
    part = _label(config.part)
    for info in infos:
        labels = f'part="{part}",name="{_label(info["name"])}"'
        last = info["last_run"]
        success = info["last_success"]
        finished = info.get("last_finished") or next(
            (
                run
                for run in reversed(info["runs"])
                if run["result"] != "skipped" and run.get("duration") is not None
            ),
            None,
        )
        values = {
            "clockserver_last_run_timestamp_seconds": last and last["start"],
            "clockserver_last_success_timestamp_seconds": success and success["start"],
            "clockserver_last_duration_seconds": finished and finished["duration"],
            "clockserver_consecutive_failures": info["consecutive_failures"],
            "clockserver_next_run_timestamp_seconds": info["next_due"],
            "clockserver_overdue": 1 if info["state"] == "overdue" else 0,
        }
        for name, value in values.items():
            if value is not None:
                samples[name].append(f"{name}{{{labels}}} {_number(value)}")
        for result in ("ok", "failed", "skipped"):
            samples["clockserver_runs_total"].append(
                f'clockserver_runs_total{{{labels},result="{result}"}} '
                f"{info['totals'].get(result, 0)}"
            )
    lines = []
    for name, kind, help_text in METRICS:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(samples[name])
    return "\n".join(lines) + "\n"


def _number(value):
    kind = type(value)  # the usual cases first: this runs for every sample
    if kind is int:
        return str(value)
    if kind is float:
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Snapshot:
    """The records of every watched name, read in one go the first time
    status.collect asks for one of them (inside its error handling)."""

    def __init__(self, records, names):
        self.records = records
        self.names = names
        self.found = None

    def read(self, name, runs=None):
        if self.found is None:
            self.found = self.records.read_many(self.names, runs)
        if name in self.found:
            return self.found[name]
        return self.records.read(name, runs)

    def clock_running(self):
        return self.records.clock_running()


def write(config, records, now, log):
    """Rewrite ``metrics-file`` (mode 0644: node_exporter runs as another
    user) from the records as they stand at ``now``; a file that cannot be
    written is logged, never raised."""
    path = config.metrics_file
    lock = None
    try:
        lock = records.lock_file("metrics")
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)  # the newest snapshot wins
        names = [watch.name for watch in status.watched(config)]
        text = metrics_text(
            config,
            status.collect(config, now=now, runs=1, records=Snapshot(records, names)),
        )
        files.replace(path, text.encode("utf-8"), 0o644)
    except (OSError, StoreError, ValueError) as exc:
        text = getattr(exc, "strerror", None) or str(exc)
        log(f"cannot write metrics-file {path}: {text}")
    finally:
        if lock is not None:
            os.close(lock)
