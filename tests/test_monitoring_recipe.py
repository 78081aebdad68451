"""The monitoring options through a real bin/buildout: errors, outputs,
monitored crontab lines run as cron runs them, the zserver backend."""

import json
import os
import subprocess
import time

import pytest

import buildouts
from buildouts import FOREIGN, assert_clean_error
from buildouts import clock_part as part
from collective.recipe.clockserver.crontab import entries
from collective.recipe.clockserver.model import Entry
from collective.recipe.clockserver.runner.records import Records

SECRET = (
    buildouts.SECRET
    + """
[clock-pings]
backup = https://hc-ping.example/1f0c-ping-uuid
"""
)

CRON = "backend = cron\naddress = 8080\n"
# A few end to end; every case on the pure reader in test_settings.py
# (MONITORING_ERRORS).
ERRORS = [
    (
        "metrics-file-dir",
        "backend = zserver\nmetrics-file = ${buildout:directory}/a.prom\njobs = /a 1h\n",
        ["[clock] metrics-file:", "is a directory"],
    ),
    (
        "pings-missing",
        "pings = nosuch-pings\ncrontab = 0 3 * * * /bin/backup\n",
        [
            "[clock] pings:",
            "the pings section [nosuch-pings] is not defined",
            "[nosuch-pings]",
            "backup = https://hc-ping.com/<uuid>",
        ],
    ),
    (
        "never-matches-crontab",
        "crontab = 0 0 31 2 * /bin/backup\n",
        ["[clock] crontab:", "'0 0 31 2 *'", "never matches", "February"],
    ),
]


@pytest.mark.parametrize(
    "options, fragments", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_bad_monitoring_options(buildout, fake_crontab, options, fragments):
    fake_crontab.set(FOREIGN)
    buildout.write("secret.cfg", SECRET, mode=0o600)
    os.makedirs(buildout.path("a.prom"))
    buildout.write("buildout.cfg", part(options))
    result = buildout.run()
    assert_clean_error(result)
    for fragment in fragments:
        assert fragment in result.output, result.output
    assert "1f0c-ping-uuid" not in result.output
    assert not buildout.exists("bin", "clock")
    assert "[clock]" not in buildout.installed()
    assert fake_crontab.text() == FOREIGN


@pytest.mark.parametrize(
    "option, value, fragment",
    [
        (
            "state-directory",
            "secret.cfg/records",
            "[clock] state-directory: cannot create",
        ),
        (
            "metrics-file",
            "secret.cfg/m/clock.prom",
            "[clock] metrics-file: cannot create the directory",
        ),
    ],
)
def test_unusable_paths_are_clear_errors(
    buildout, fake_crontab, option, value, fragment
):
    fake_crontab.set(FOREIGN)
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write(
        "buildout.cfg",
        part("%s = %s\ncrontab = 0 3 * * * /bin/backup\n" % (option, value)),
    )
    result = buildout.run()
    assert_clean_error(result)
    assert fragment in result.output
    assert "[clock]" not in buildout.installed()
    assert fake_crontab.text() == FOREIGN


def test_bad_ping_url_is_refused_without_showing_it(buildout):
    buildout.write("secret.cfg", "[p]\nbackup = ftp://x/1f0c-ping-uuid\n", mode=0o600)
    buildout.write(
        "buildout.cfg",
        part("pings = p\ncrontab-file = c.cron\ncrontab = 0 3 * * * /bin/backup\n"),
    )
    result = buildout.run()
    assert_clean_error(result)
    assert "the ping URL of backup is not an http(s) URL" in result.output
    assert "1f0c-ping-uuid" not in result.output


# -- names and lines (pure) -------------------------------------------------------


def test_entry_names_share_the_jobs_namespace_in_option_order():
    lines = [
        "30 2 * * * /srv/bin/backup --all",
        "0 4 * * * LANG=C /srv/bin/backup --other",
        "@daily cd /srv && ./zeopack",
        "15 3 * * * /srv/bin/zeopack -d 3",
    ]
    named = entries.name_entries(
        lines, ["backup", "feeds"], "0 1 * * 6 /srv/bin/zeopack"
    )
    assert [e.name for e in named] == [
        "zeopack",
        "backup-2",
        "backup-3",
        "cd",
        "zeopack-2",
    ]
    assert named[0].times == "0 1 * * 6" and named[3].times == "@daily"
    assert named[2].command == "LANG=C /srv/bin/backup --other"


@pytest.mark.parametrize(
    "command, wrapped",
    [
        ("/srv/bin/backup --all", "/srv/bin/backup --all"),
        ("'/my site/bin/zeopack'", "'/my site/bin/zeopack'"),
        ("a | b", "/bin/sh -c 'a | b'"),
        ("x > /tmp/log 2>&1", "/bin/sh -c 'x > /tmp/log 2>&1'"),
        ("a && b", "/bin/sh -c 'a && b'"),
        ("echo $HOME", "/bin/sh -c 'echo $HOME'"),
        ("VAR=1 prog", "/bin/sh -c 'VAR=1 prog'"),
        ("echo 'it''s'", "/bin/sh -c 'echo '\\''it'\\'''\\''s'\\'''"),
        ("date +\\%F", "/bin/sh -c 'date +\\%F'"),
    ],
)
def test_monitored_lines(command, wrapped):
    entry = Entry("n", "0 3 * * *", command)
    assert (
        entries.monitored_line(entry, "/b/clock")
        == "0 3 * * * /b/clock exec --scheduled n -- " + wrapped
    )


# -- outputs, state directory, monitor = false ---------------------------------------


def test_outputs_state_directory_and_first_seen_kept(buildout, fake_crontab):
    buildout.write("secret.cfg", SECRET, mode=0o600)
    options = (
        "backend = zserver\ncredentials = clock-credentials\n"
        "pings = clock-pings\ncrontab-file = clock.cron\njobs = /a 1h\n"
        "crontab = 30 2 * * * /srv/bin/backup\n"
    )
    buildout.write("buildout.cfg", part(options))
    result = buildout.run()
    assert result.ok, result.output
    installed = buildout.installed_options("clock")
    state = buildout.path("var", "clock")
    assert installed["state-directory"] == state
    assert installed["script"] == buildout.path("bin", "clock")
    assert buildout.exists("bin", "clock")  # zserver with a monitored entry
    assert "1f0c-ping-uuid" not in buildout.installed()
    assert "s3cr3t" not in buildout.installed()
    first = Records(state).read("backup")["first_seen"]
    assert Records(state).read("a") is None  # ZServer calls it: not recorded
    cron = buildout.read("clock.cron")
    assert (
        "%s exec --scheduled backup -- /srv/bin/backup" % buildout.path("bin", "clock")
        in cron
    )
    # status covers the entries only; fire of a ZServer job says who calls it.
    status = subprocess.run(
        [buildout.path("bin", "clock"), "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.startswith("CLOCK OK - 1 waiting | waiting=1")
    assert [line.split()[0] for line in status.stdout.splitlines()[1:]] == [
        "NAME",
        "backup",
    ]
    fire = subprocess.run(
        [buildout.path("bin", "clock"), "fire", "a"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert fire.returncode == 2 and "ZServer calls this job" in fire.stderr

    # Removal and reinstall keep the records and the first-seen time.
    buildout.write("buildout.cfg", "[buildout]\nparts =\n")
    assert buildout.run().ok
    assert Records(state).read("backup")["first_seen"] == first
    time.sleep(0.01)
    buildout.write("buildout.cfg", part(options))
    assert buildout.run().ok
    assert Records(state).read("backup")["first_seen"] == first


def test_state_directory_option_and_monitor_false(buildout):
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write(
        "buildout.cfg",
        part(
            "backend = zserver\nmonitor = false\nstate-directory = records\n"
            "crontab-file = c.cron\n"
            "zeopack = 0 1 * * 6\ncrontab = 30 2 * * * /srv/bin/backup | mail\n"
        ),
    )
    result = buildout.run()
    assert result.ok, result.output
    assert buildout.installed_options("clock")["state-directory"] == buildout.path(
        "records"
    )
    lines = buildout.read("c.cron").splitlines()[1:-1]
    assert lines == [
        "0 1 * * 6 %s" % buildout.path("bin", "zeopack"),
        "30 2 * * * /srv/bin/backup | mail",
    ]
    assert not buildout.exists("bin", "clock")  # nothing to monitor on zserver


def test_runner_config_carries_the_monitoring_keys(buildout):
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write(
        "buildout.cfg",
        part(
            CRON + "credentials = clock-credentials\ngrace = 5m\ncatch-up = true\n"
            "metrics-file = metrics/clock.prom\npings = clock-pings\n"
            "crontab-file = c.cron\njobs =\n    /a 1h grace=2m catch-up=false\n"
            "crontab = 30 2 * * * /srv/bin/backup\n"
        ),
    )
    result = buildout.run()
    assert result.ok, result.output
    with open(buildout.path("parts", "clock", "clock.json")) as f:
        config = json.load(f)
    assert config["backend"] == "cron"
    assert config["grace"] == 300 and config["catch-up"] is True
    assert config["metrics-file"] == buildout.path("metrics", "clock.prom")
    assert os.path.isdir(buildout.path("metrics"))
    assert config["entries"] == [{"name": "backup", "times": "30 2 * * *"}]
    assert config["pings"] == {"backup": "https://hc-ping.example/1f0c-ping-uuid"}
    [job] = config["jobs"]
    assert job["times"] == "0 * * * *" and job["grace"] == 120
    assert job["catch-up"] is False
    assert " fire --scheduled a" in buildout.read("c.cron")


# -- monitored crontab lines, run the way cron runs them -------------------------------


def cron_command(line):
    """The command cron hands to /bin/sh for a crontab line: the times cut
    off, ``\\%`` turned into ``%``, the rest after a bare ``%`` dropped."""
    if line.startswith("@"):
        command = line.split(None, 1)[1]
    else:
        command = line.split(None, 5)[5]
    out, escaped = [], False
    for ch in command:
        if escaped:
            if ch != "%":
                out.append("\\")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            break
        else:
            out.append(ch)
    if escaped:
        out.append("\\")
    return "".join(out)


def run_as_cron(line, cwd, **kwargs):
    return subprocess.run(
        ["/bin/sh", "-c", cron_command(line)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": cwd, "SHELL": "/bin/sh"},
        **kwargs,
    )


def test_monitored_lines_run_as_cron_runs_them(buildout):
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write(
        "buildout.cfg",
        part(
            "crontab-file = c.cron\ncrontab =\n"
            '    * * * * * echo "it\'s $((6*7))" | tr 4 X; echo to-err >&2; exit 3\n'
            "    * * * * * date +\\%Y > out.txt && cat out.txt\n"
            "    @reboot /bin/echo plain words\n"
            "    0 3 * * * sleep 2\n"
        ),
    )
    result = buildout.run()
    assert result.ok, result.output
    lines = {
        line.split(" exec --scheduled ")[1].split()[0]: line
        for line in buildout.read("c.cron").splitlines()
        if " exec " in line
    }
    assert set(lines) == {"echo", "date", "echo-2", "sleep"}
    assert "/bin/sh -c" not in lines["echo-2"] and "/bin/sh -c" not in lines["sleep"]

    # Shell syntax, output passed through, the command's exit status.
    done = run_as_cron(lines["echo"], buildout.directory)
    assert done.returncode == 3
    assert done.stdout == "it's X2\n"
    assert done.stderr == "to-err\n"
    done = run_as_cron(lines["date"], buildout.directory)
    assert done.returncode == 0
    assert done.stdout.strip() == time.strftime("%Y")
    done = run_as_cron(lines["echo-2"], buildout.directory)
    assert done.returncode == 0 and done.stdout == "plain words\n"

    records = Records(buildout.path("var", "clock"))
    [run] = records.read("echo")["runs"]
    assert run["result"] == "failed" and run["exit_status"] == 3
    assert run["scheduled"] is True and run["by"] == "exec"
    assert run["due"] <= run["start"] and run["start"] - run["due"] < 61
    assert "it's X2" in run["output"]
    [run] = records.read("echo-2")["runs"]
    assert run["result"] == "ok" and run["due"] is None  # @reboot: no tick

    # Overlap: the second start skips with 75 and one line, and is recorded.
    first = subprocess.Popen(
        ["/bin/sh", "-c", cron_command(lines["sleep"])], cwd=buildout.directory
    )
    try:
        deadline = time.monotonic() + 30
        while not (records.read("sleep") or {}).get("running"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = run_as_cron(lines["sleep"], buildout.directory)
        assert second.returncode == 75
        assert len(second.stderr.strip().splitlines()) == 1
        assert "still running" in second.stderr
    finally:
        assert first.wait(30) == 0
    results = [r["result"] for r in records.read("sleep")["runs"]]
    assert results == ["skipped", "ok"]
    status = subprocess.run(
        [buildout.path("bin", "clock"), "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 1  # 'echo' failed once
    assert "1 failing" in status.stdout.splitlines()[0]
