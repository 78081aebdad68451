"""The hosts of a cluster for the lock tests: one state directory and
config each, real ``bin/<part>`` processes (the runner's ``main``), a lock
object for each engine of tests/lockservices.py.

Plain helpers, no fixtures: the test modules ask for the lock services.
"""

import json
import os
import subprocess
import sys
import time

from lockservices import stop_process

# bin/<part> as the recipe writes it: the runner's main on a config file.
RUNNER = (
    "import sys; from collective.recipe.clockserver.runner import main; "
    "sys.exit(main(sys.argv[1], sys.argv[2:]))"
)


def lock_of(engine_name, request, namespace):
    """The config's lock object for one engine (as the recipe writes it),
    and the service (a session fixture, asked for by name)."""
    if engine_name == "postgresql":
        pg = request.getfixturevalue("postgres")
        return {
            "url": pg.url(),
            "user": "clock",
            "password": pg.CLOCK_PASSWORD,
            "namespace": namespace,
        }, pg
    if engine_name == "redis":
        rs = request.getfixturevalue("redis_server")
        return {
            "url": rs.url(),
            "user": None,
            "password": rs.PASSWORD,
            "namespace": namespace,
        }, rs
    zs = request.getfixturevalue("zeo_server")
    return {"url": zs.url(), "user": None, "password": None, "namespace": namespace}, zs


def write_config(directory, address, jobs, lock, **extra):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "clock.json")
    data = {
        "part": "clock",
        "address": address,
        "timeout": 5,
        "jobs": [
            dict({"host": None, "user": None, "password": None}, **job) for job in jobs
        ],
        "lock": lock,
    }
    data.update(extra)
    with open(path, "w") as f:
        json.dump(data, f)
    os.chmod(path, 0o600)
    return path


def cron_hosts(tmp_path, server, lock, count=4, **extra):
    """``count`` hosts with the hourly job ``feeds``: (config, state) each."""
    configs = []
    for number in range(count):
        directory = str(tmp_path / f"host{number}")
        state = os.path.join(directory, "state")
        jobs = [{"name": "feeds", "method": "/cron/feeds", "period": 3600}]
        configs.append(
            (
                write_config(
                    directory,
                    server.address,
                    jobs,
                    lock,
                    **{"state-directory": state},
                    **extra,
                ),
                state,
            )
        )
    return configs


def clock_command(config, *argv, before=""):
    """``bin/<part> ARGV`` of the host whose config is ``config``; Python
    ``before`` runs first."""
    return [sys.executable, "-c", before + RUNNER, config, *argv]


def run_clock(config, *argv, before=""):
    """``bin/<part> ARGV`` run to its end; stdout and stderr as text."""
    return subprocess.run(
        clock_command(config, *argv, before=before),
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_run(config, log):
    """``bin/<part> run`` in the background, its stderr to ``log``."""
    with open(log, "w") as stderr:
        return subprocess.Popen(
            clock_command(config, "run"), stdout=subprocess.DEVNULL, stderr=stderr
        )


def stop(process):
    """SIGTERM, as an init system stops the clock (SIGKILL after 20 s)."""
    stop_process(process)


def read(path):
    with open(path) as f:
        return f.read()


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def records_of(state, name):
    """The runs recorded for ``name`` in a state directory."""
    from collective.recipe.clockserver.runner.records import Records

    record = Records(state, part="clock").read(name)
    return record["runs"] if record else []
