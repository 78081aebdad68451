"""The per-name JSON records of earlier versions, taken over once into the
store (in the transaction that creates it); an unreadable one stays where
it is, with one logged line."""

import json
import os
import sqlite3
import stat

from .history import RESULTS, RUN_FIELDS, RUNNING_FIELDS
from .ledger import INSERT_RUN, valid_name
from .store import StoreError, _problem

MAX_JSON = 4 * 1024 * 1024  # an older JSON record larger than this is not one


def import_record(conn, name, record):
    problem = _check(record)
    if problem:
        raise ValueError(problem)
    totals = record["totals"]
    conn.execute(
        "INSERT OR REPLACE INTO names (name, first_seen, consecutive_failures, ok, "
        "failed, skipped, last_success) VALUES (?,?,?,?,?,?,?)",
        (
            name,
            record["first_seen"],
            record["consecutive_failures"],
            *(int(totals.get(key, 0)) for key in RESULTS),
            json.dumps(record["last_success"]) if record.get("last_success") else None,
        ),
    )
    for run in record["runs"]:
        run = {key: _plain(run.get(key)) for key in RUN_FIELDS}
        run["scheduled"] = int(bool(run["scheduled"]))
        run["catch_up"] = int(bool(run["catch_up"]))
        attempts = run["attempts"]  # records of earlier versions: 1
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            run["attempts"] = 1
        conn.execute(INSERT_RUN, (name, *(run[key] for key in RUN_FIELDS)))
    for entry in record.get("running") or ():
        if isinstance(entry, dict) and entry.get("token"):
            conn.execute(
                "INSERT OR IGNORE INTO running (token, name, host, pid, pid_start, "
                "boot, due, start, by, scheduled, catch_up) VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?)",
                (
                    str(entry["token"]),
                    name,
                    *(_plain(entry.get(key)) for key in RUNNING_FIELDS[1:-2]),
                    int(bool(entry.get("scheduled"))),
                    int(bool(entry.get("catch_up"))),
                ),
            )


def take_over(conn, dirfd, directory, log):
    """The per-name JSON records of earlier versions, imported in the
    transaction that creates the store; returns the files taken."""
    taken = []
    for filename in sorted(os.listdir(dirfd)):
        name = filename[:-5]
        if not filename.endswith(".json") or not valid_name(name):
            continue
        try:
            record = _read_json(dirfd, directory, filename)
            conn.execute("SAVEPOINT one")
            try:
                import_record(conn, name, record)
            except BaseException:
                conn.execute("ROLLBACK TO one")
                raise
            finally:
                conn.execute("RELEASE one")
        except (OSError, ValueError, StoreError, sqlite3.IntegrityError) as exc:
            log(
                f"cannot take over {os.path.join(directory, filename)} "
                f"({getattr(exc, 'strerror', None) or exc}): left where it is; "
                f"{name} starts afresh"
            )
            continue
        taken.append(filename)
    return taken


# -- reading ---------------------------------------------------------------


def _plain(value):
    return (
        value if isinstance(value, (int, float, str)) or value is None else str(value)
    )


def _read_json(dirfd, directory, filename):
    """An older per-name JSON record, read without following a symlink."""
    path = os.path.join(directory, filename)
    fd = os.open(
        filename,
        os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
        dir_fd=dirfd,
    )
    with open(fd, "rb") as f:
        st = os.fstat(f.fileno())
        problem = (
            _problem(st, path)
            if stat.S_ISREG(st.st_mode)
            else f"{path} is not a regular file"
        )
        if problem:
            raise ValueError(problem)
        data = f.read(MAX_JSON + 1)
    if len(data) > MAX_JSON:
        raise ValueError("too large to be a record")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ValueError(f"damaged: {exc}") from None


def _check(record):
    """What is wrong with an older JSON record, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    kinds = {
        "runs": list,
        "totals": dict,
        "consecutive_failures": int,
        "first_seen": (int, float),
    }
    for key, kind in kinds.items():
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
            return f"{key!r} is missing or of the wrong type"
    for run in record["runs"]:
        if not isinstance(run, dict) or run.get("result") not in RESULTS:
            return "a run is not a JSON object with a known result"
        if any(
            not isinstance(run.get(k), (int, float, type(None)))
            or isinstance(run.get(k), bool)
            for k in ("due", "start", "duration")
        ):
            return "a run has a time that is not a number"
    if any(not isinstance(v, int) or v < 0 for v in record["totals"].values()):
        return "a counter is not a whole number"
    if record.get("last_success") is not None and not isinstance(
        record["last_success"], dict
    ):
        return "'last_success' is not a JSON object"
    return None
