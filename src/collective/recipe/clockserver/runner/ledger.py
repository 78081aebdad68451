"""The store's write statements: a finished run appended with its name's
counters, the runs kept (90 days, at least 20), runs in progress written
and dead ones reaped, and the run dicts that go in (output tails masked).

Each function runs inside the caller's write transaction (records.py).
"""

import json
import re

from .history import RUN_FIELDS, _interrupted, _running
from .processes import alive, hostname
from .text import mask_secrets, one_line

KEEP = 20  # runs always kept per name
KEEP_DAYS = 90  # ...and those of the last 90 days
KEEP_MAX = 10000  # ...but no more than this many per name
PRUNE_EVERY = 64  # prune a name's runs when the new run's id is a multiple
OUTPUT_LIMIT = 2048  # bytes of a command's last output kept in a record
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_JSON = json.JSONEncoder(separators=(",", ":")).encode  # made once, not per run

INSERT_RUN = (
    f"INSERT INTO runs (name, {', '.join(RUN_FIELDS)}) "
    f"VALUES (?{',?' * len(RUN_FIELDS)})"
)
INSERT_RUNNING = (
    "INSERT INTO running (token, name, host, pid, pid_start, boot, due, "
    "start, by, scheduled, catch_up) SELECT ?,?,?,?,?,?,?,?,?,?,?"
)
COUNT = {
    "ok": "UPDATE names SET ok = ok + 1, consecutive_failures = 0, "
    "last_success = ? WHERE name = ?",
    "failed": "UPDATE names SET failed = failed + 1, consecutive_failures = "
    "consecutive_failures + 1 WHERE name = ?",
    "skipped": "UPDATE names SET skipped = skipped + 1 WHERE name = ?",
}


def valid_name(name):
    return bool(NAME.match(name)) and len(name) <= 200


def tail(data, secrets=(), limit=OUTPUT_LIMIT):
    """The last lines of a command's output, at most ``limit`` bytes, masked."""
    text = mask_secrets(data.decode("utf-8", "replace"), secrets)
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    cut = encoded[-limit:].decode("utf-8", "ignore")
    newline = cut.find("\n")
    if 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1 :]  # whole lines only
    return cut


def ended_run(
    secrets,
    result,
    duration,
    reason,
    http_status,
    exit_status,
    output,
    by,
    due,
    start,
    scheduled,
    catch_up,
    attempts=1,
):
    """A finished run as the store keeps it (reason and output masked)."""
    return {
        "due": due,
        "start": start,
        "duration": duration,
        "result": result,
        "reason": mask_secrets(one_line(reason), secrets),
        "http_status": http_status,
        "exit_status": exit_status,
        "host": hostname(),
        "by": by,
        "scheduled": bool(scheduled),
        "catch_up": bool(catch_up),
        "output": None if output is None else tail(output, secrets),
        "attempts": attempts,
    }


def skip_run(secrets, now, due, reason, by, scheduled):
    """A tick that was not called, and why."""
    return ended_run(
        secrets, "skipped", None, reason, None, None, None, by, due, now, scheduled, 0
    )


def add_name(conn, name, now):
    if not valid_name(name):
        raise ValueError(f"not a usable name: {name!r}")
    conn.execute(
        "INSERT OR IGNORE INTO names (name, first_seen) VALUES (?, ?)", (name, now)
    )


def append(conn, name, run, now):
    """Add a finished run (or skip) to ``name``'s runs and counters."""
    cursor = conn.execute(INSERT_RUN, (name, *[run[key] for key in RUN_FIELDS]))
    result = run["result"]
    if result == "ok":
        conn.execute(COUNT["ok"], (_JSON(run), name))
    else:
        conn.execute(COUNT.get(result, COUNT["skipped"]), (name,))
    if cursor.lastrowid % PRUNE_EVERY == 0:
        prune(conn, name, now)


def prune(conn, name, now):
    """Keep the runs of the last 90 days, at least 20, at most KEEP_MAX."""
    nth = (
        "(SELECT id FROM runs WHERE name = :name ORDER BY id DESC LIMIT 1 OFFSET :keep)"
    )
    conn.execute(
        f"DELETE FROM runs WHERE name = :name AND id <= {nth}",
        {"name": name, "keep": KEEP_MAX},
    )
    conn.execute(
        f"DELETE FROM runs WHERE name = :name AND id <= {nth} AND start < :before",
        {"name": name, "keep": KEEP, "before": now - KEEP_DAYS * 86400},
    )


def reap(conn, name, now):
    """Turn this host's runs in progress of ``name`` whose process died
    into ``failed: interrupted``; returns those still alive."""
    living = []
    for entry in _running(conn, name):
        if alive(entry):
            living.append(entry)
        else:
            conn.execute("DELETE FROM running WHERE token = ?", (entry["token"],))
            append(conn, name, _interrupted(entry), now)
    return living


def reap_all(conn, now):
    """``reap`` every name with a run in progress (run's batches: whoever
    writes next records the runs of a process that died)."""
    for (name,) in conn.execute("SELECT DISTINCT name FROM running").fetchall():
        reap(conn, name, now)


def finish_row(conn, name, token, run, now):
    """The end of a run: its row in progress (``token``) goes, and gives
    the run its due time, start and kind; then the run is appended."""
    if token:
        row = conn.execute(
            "DELETE FROM running WHERE token = ? RETURNING due, "
            "start, by, scheduled, catch_up",
            (token,),
        ).fetchall()
        if row:
            due, start, by, scheduled, catch_up = row[0]
            run.update(
                due=due,
                start=start,
                by=by,
                scheduled=bool(scheduled),
                catch_up=bool(catch_up),
            )
    append(conn, name, run, now)
