"""What the store says about one name, as ``status`` and the metrics file
read it: its record with its last runs, the runs that decide its state,
its runs in progress (a dead one shown as interrupted, nothing written)."""

import json

from .processes import alive

RESULTS = ("ok", "failed", "skipped")
RUN_FIELDS = (
    "due",
    "start",
    "duration",
    "result",
    "reason",
    "http_status",
    "exit_status",
    "host",
    "by",
    "scheduled",
    "catch_up",
    "output",
    "attempts",
)
RUNNING_FIELDS = (
    "token",
    "host",
    "pid",
    "pid_start",
    "boot",
    "due",
    "start",
    "by",
    "scheduled",
    "catch_up",
)


def _run_dict(row):
    run = dict(zip(RUN_FIELDS, row))
    run["scheduled"] = bool(run["scheduled"])
    run["catch_up"] = bool(run["catch_up"])
    return run


def _interrupted(entry):
    return {
        "due": entry.get("due"),
        "start": entry.get("start"),
        "duration": None,
        "result": "failed",
        "reason": "interrupted",
        "http_status": None,
        "exit_status": None,
        "host": entry.get("host"),
        "by": entry.get("by"),
        "scheduled": bool(entry.get("scheduled")),
        "catch_up": bool(entry.get("catch_up")),
        "output": None,
        "attempts": 1,
    }


SERVED = "(result IN ('ok', 'failed') OR reason LIKE 'claimed by%')"
DECISIVE = (
    "(result IN ('ok', 'failed') OR NOT (reason = 'still running' "
    "OR reason LIKE 'claimed by%'))"
)
FINISHED = "(result != 'skipped' AND duration IS NOT NULL)"
COLUMNS = (
    "due, start, duration, result, reason, http_status, exit_status, "
    "host, by, scheduled, catch_up, output, {attempts}"
)
_LAST = "(SELECT id FROM runs WHERE name = :name{} ORDER BY id DESC LIMIT 1)"


def _queries(attempts):
    """The SELECTs of runs; ``attempts``: the store has that column (a
    store not yet opened by a writer of this version has not: 1)."""
    columns = COLUMNS.format(attempts="attempts" if attempts else "1")
    lasts = (
        "WITH wanted(k, id) AS (VALUES "
        + ", ".join(
            f"({k}, {_LAST.format(' AND ' + where if where else '')})"
            for k, where in enumerate(("", SERVED, DECISIVE, FINISHED))
        )
        + f") SELECT wanted.k, {columns} FROM wanted JOIN runs ON runs.id = wanted.id"
    )
    return f"SELECT {columns} FROM runs", lasts


QUERIES = {True: _queries(True), False: _queries(False)}


RUNNING = (
    "SELECT token, host, pid, pid_start, boot, due, start, by, "
    "scheduled, catch_up FROM running"
)
NAMES = (
    "SELECT first_seen, consecutive_failures, ok, failed, skipped, last_success "
    "FROM names"
)
# Every name with the ids of its last run, and the last that served,
# decided and finished (as LASTS): the metrics file's one query.
LAST_IDS = (
    "SELECT name, first_seen, consecutive_failures, ok, failed, skipped, "
    "last_success, "
    + ", ".join(
        _LAST.replace(":name", "names.name").format(" AND " + where if where else "")
        for where in ("", SERVED, DECISIVE, FINISHED)
    )
    + " FROM names"
)
CHUNK = 500  # ids per "IN (...)" (within sqlite's limit of variables)


def _running(conn, name):
    rows = conn.execute(RUNNING + " WHERE name = ? ORDER BY start", (name,))
    return [dict(zip(RUNNING_FIELDS, row)) for row in rows.fetchall()]


def _record(conn, name, limit, attempts=True):
    row = conn.execute(NAMES + " WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    # The last run, and the last that served, decided and finished: one query.
    select_run, lasts = QUERIES[attempts]
    found = {
        key: _run_dict(found) for key, *found in conn.execute(lasts, {"name": name})
    }
    if limit == 1:
        runs = [found[0]] if 0 in found else []
    else:
        query = f"{select_run} WHERE name = ? ORDER BY id DESC"
        rows = conn.execute(
            query + (" LIMIT ?" if limit else ""), (name, limit) if limit else (name,)
        ).fetchall()
        runs = [_run_dict(r) for r in reversed(rows)]
    return _assemble(name, row, found, runs, _running(conn, name))


def _last_records(conn, names, attempts=True):
    """``_record(conn, name, 1)`` of each of ``names`` (those with a record),
    in three queries whatever their number: {name: record}."""
    wanted = set(names)
    rows = {}
    for name, *row in conn.execute(LAST_IDS):
        if name in wanted:
            rows[name] = row
    ids = sorted({i for row in rows.values() for i in row[6:] if i is not None})
    select_run = QUERIES[attempts][0].replace("SELECT ", "SELECT id, ", 1)
    runs = {}  # id -> run dict, one per run (the lasts of a name often agree)
    for at in range(0, len(ids), CHUNK):
        chunk = ids[at : at + CHUNK]
        query = f"{select_run} WHERE id IN ({','.join('?' * len(chunk))})"
        for id_, *run in conn.execute(query, chunk):
            runs[id_] = _run_dict(run)
    running = {}
    for name, *entry in conn.execute(
        RUNNING.replace("SELECT ", "SELECT name, ", 1) + " ORDER BY start"
    ):
        if name in rows:
            running.setdefault(name, []).append(dict(zip(RUNNING_FIELDS, entry)))
    found = {}
    for name, row in rows.items():
        lasts = {
            key: runs[id_]
            for key, id_ in enumerate(row[6:])
            if id_ is not None and id_ in runs
        }
        found[name] = _assemble(
            name,
            row[:6],
            lasts,
            [lasts[0]] if 0 in lasts else [],
            running.get(name, []),
        )
    return found


def _assemble(name, row, found, runs, running):
    first_seen, failures, ok, failed, skipped, last_success = row
    record = {
        "name": name,
        "first_seen": first_seen,
        "runs": runs,
        "consecutive_failures": failures,
        "totals": {"ok": ok, "failed": failed, "skipped": skipped},
        "last_success": json.loads(last_success) if last_success else None,
        "running": [],
        "last_served": found.get(1),
        "last_decisive": found.get(2),
        "last_finished": found.get(3),
    }
    for entry in running:
        if alive(entry):
            entry["scheduled"] = bool(entry["scheduled"])
            record["running"].append(entry)
        else:  # shown as interrupted; the next writer records it
            run = _interrupted(entry)
            runs.append(run)
            record["totals"]["failed"] += 1
            record["consecutive_failures"] += 1
            record["last_served"] = record["last_decisive"] = run
    return record
