"""How ``bin/<part> status [NAME] [--json]`` shows the states status.py
assesses: the plugin line, the table and reasons, ``status NAME``'s
history of runs, the JSON."""

import json

from .records import KEEP, Unreadable
from .status import (
    LABELS,
    UNKNOWN,
    collect,
    counts,
    damaged_stores,
    exit_status,
    table_time,
    watched,
)
from .text import columns, output_line, plugin_text


def plugin_line(infos):
    """``CLOCK CRITICAL - 1 overdue, 1 failing, 4 ok | overdue=1 failing=1 ok=4``"""
    code = exit_status(infos)
    numbers = [(state, n) for state, n in counts(infos).items() if n]
    if not numbers:
        return f"CLOCK {LABELS[code]} - no jobs or entries | ok=0"
    text = ", ".join(f"{n} {state}" for state, n in numbers)
    perf = " ".join(f"{state}={n}" for state, n in numbers)
    return f"CLOCK {LABELS[code]} - {text} | {perf}"


def unknown_line(reason):
    return f"CLOCK UNKNOWN - {plugin_text(reason)}"


def format_duration(seconds):
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.3f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{rest:02d}s" if hours else f"{minutes}m{rest:02d}s"


def attempts_note(run):
    """`` (3 attempts)`` for a run whose tick took retries; else nothing."""
    attempts = run.get("attempts") or 1
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 2:
        return ""
    return f" ({attempts} attempts)"


def short_result(run):
    """What the RESULT column shows for a run (``503 (3 attempts)``
    after retries)."""
    if run is None:
        return "-"
    return _short_result(run) + attempts_note(run)


def _short_result(run):
    if run["result"] != "failed":
        return run["result"]
    if run.get("http_status") is not None:
        return str(run["http_status"])
    if run.get("exit_status") is not None:
        return f"exit {run['exit_status']}"
    if run.get("reason") == "interrupted":
        return "interrupted"
    return "failed"


def _row(cells):
    """A table's row: each cell one safe line, "-" where it is empty."""
    return tuple(plugin_text(cell) or "-" for cell in cells)


def table(infos):
    rows = [
        (
            "NAME",
            "SCHEDULE",
            "LAST RUN (UTC)",
            "RESULT",
            "DURATION",
            "LAST SUCCESS",
            "NEXT DUE",
            "STATE",
        )
    ]
    for info in infos:
        last = info["last_run"]
        success = info["last_success"]
        rows.append(
            _row(
                (
                    info["name"],
                    info["schedule"],
                    table_time(last and last["start"]),
                    short_result(last),
                    format_duration(last and last["duration"]),
                    table_time(success and success["start"]),
                    table_time(info["next_due"]),
                    info["state"],
                )
            )
        )
    return columns(rows)


def reasons(infos):
    """Why each name that is not fine is in its state (after the table)."""
    lines = [
        f"{info['name']}: {info['state']}: {plugin_text(info['reason'])}"
        for info in infos
        if info["state"] in ("overdue", "failing", "unknown") and info["reason"]
    ]
    return [""] + lines if lines else []


def label(run):
    """Who started a run: ``run`` (the clock; ``run (catch-up)``), or
    ``fire``/``exec``, ``(cron)`` when cron started it, else ``(by hand)``."""
    by = run.get("by") or "-"
    if by == "run":
        return "run (catch-up)" if run.get("catch_up") else "run"
    if by in ("fire", "exec"):
        return by + (" (cron)" if run.get("scheduled") else " (by hand)")
    return by


def _run_row(run, result, duration, reason):
    """A row of ``status NAME``: a run kept, or one in progress."""
    return _row(
        (
            table_time(run.get("start")),
            table_time(run.get("due")),
            label(run),
            result,
            duration,
            run.get("host") or "-",
            reason,
        )
    )


def runs_table(info):
    """``status NAME``: the last runs, newest first, then runs in progress."""
    lines = []
    rows = [("START (UTC)", "DUE (UTC)", "BY", "RESULT", "DURATION", "HOST", "REASON")]
    for run in reversed(info["runs"]):
        rows.append(
            _run_row(
                run,
                run["result"] + attempts_note(run),
                format_duration(run.get("duration")),
                run.get("reason") or "",
            )
        )
    for entry in info["running"]:
        rows.append(_run_row(entry, "running", "-", f"pid {entry.get('pid')}"))
    lines.append("")
    if len(rows) == 1:
        lines.append(f"{info['name']}: no runs recorded yet")
    else:
        lines.extend(columns(rows))
        durations = sorted(
            run["duration"]
            for run in info["runs"]
            if run["result"] != "skipped" and run.get("duration") is not None
        )
        if durations:
            lines.append("")
            lines.append(
                f"{len(info['runs'])} run(s) kept; duration p50 "
                f"{format_duration(durations[(len(durations) - 1) // 2])}, max "
                f"{format_duration(durations[-1])} (of {len(durations)} finished)"
            )
    if info["reason"]:
        lines.append("")
        lines.append(f"{info['state']}: {plugin_text(info['reason'])}")
    latest = next((run for run in reversed(info["runs"]) if run.get("output")), None)
    if latest:
        lines.append("")
        lines.append(
            f"output of the run started {table_time(latest['start'])} UTC (last lines):"
        )
        lines.extend(
            "    " + output_line(line) for line in latest["output"].splitlines()
        )
    return lines


def as_json(config, infos):
    code = exit_status(infos)
    return json.dumps(
        {
            "part": config.part,
            "status": LABELS[code],
            "exit_status": code,
            "summary": plugin_line(infos),
            "counts": counts(infos),
            "names": infos,
        },
        indent=2,
        sort_keys=True,
    )


# -- the commands ------------------------------------------------------------------


def report(config, name=None, json_output=False):
    """``bin/<part> status [NAME] [--json]``: (the lines to print, the exit
    status)."""
    names = None
    if name:
        known = [w.name for w in watched(config)]
        if name not in known:
            return [
                unknown_line(
                    f"{name!r} is no monitored job or entry of {config.part}; "
                    "known: " + (", ".join(known) or "(none)")
                )
            ], UNKNOWN
        names = [name]
    try:
        infos = collect(config, names, runs=None if names else KEEP)
    except Unreadable as exc:
        return [unknown_line(str(exc))], UNKNOWN
    aside = damaged_stores(config)
    if aside:
        return [
            unknown_line(
                f"the damaged records store was moved to {aside[0]} (a new "
                "one began): look at it, then remove it"
            )
        ], UNKNOWN
    if json_output:
        return [as_json(config, infos)], exit_status(infos)
    lines = [plugin_line(infos)] + table(infos)
    lines += runs_table(infos[0]) if names else reasons(infos)
    return lines, exit_status(infos)
