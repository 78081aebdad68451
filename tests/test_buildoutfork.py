"""The forked bin/buildout (buildoutfork.py) does what the script does."""

import os
import subprocess
import time

import pytest

from buildouts import BUILDOUT, FORKER, SECRET, Buildout, clock_part

GOOD = (
    "credentials = clock-credentials\nbackend = runner\naddress = 8080\njobs = /a 1h\n"
)
BAD = "jobs = /a 1x\n"


def by_script(b, *args):
    result = subprocess.run(
        [BUILDOUT, "-o", "-c", "buildout.cfg", *args],
        cwd=b.directory,
        env=b.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout


def by_fork(b, *args):
    assert FORKER.serves(b.env)
    run = FORKER.start(
        [BUILDOUT, "-o", "-c", "buildout.cfg", *args], b.directory, b.env
    )
    output, _ = run.communicate(timeout=300)
    return run.returncode, output


@pytest.mark.parametrize(
    "options, args", [(GOOD, ()), (BAD, ()), (GOOD, ("-vv",)), (BAD, ("-q",))]
)
def test_same_exit_status_output_and_files_as_the_script(
    buildout, tmp_path, options, args
):
    if not FORKER.enabled:
        pytest.skip("CLOCKSERVER_TEST_BUILDOUT=exec")
    results = []
    for name, run in (("script", by_script), ("fork", by_fork)):
        b = Buildout(tmp_path / name, buildout.env)
        b.write("secret.cfg", SECRET, mode=0o600)
        b.write("buildout.cfg", clock_part(options))
        status, output = run(b, *args)
        files = sorted(
            os.path.relpath(os.path.join(root, f), b.directory)
            for root, dirs, names in os.walk(b.directory)
            for f in names
        )
        results.append(
            (
                status,
                output.replace(b.directory, "<dir>"),
                files,
                b.installed().replace(b.directory, "<dir>"),
            )
        )
    assert results[0] == results[1]
    assert (results[0][0] == 0) == (options == GOOD)


def test_a_run_past_its_timeout_is_killed(buildout, tmp_path):
    if not FORKER.enabled:
        pytest.skip("CLOCKSERVER_TEST_BUILDOUT=exec")
    os.mkfifo(buildout.path("stuck.cfg"))  # reading it blocks for ever
    buildout.write("buildout.cfg", "[buildout]\nextends = stuck.cfg\nparts =\n")
    run = buildout.start()
    with pytest.raises(subprocess.TimeoutExpired):
        run.communicate(timeout=1)
    run.kill()
    assert run.wait(timeout=30) == -9
    # The server goes on serving.
    buildout.write("buildout.cfg", "[buildout]\nparts =\n")
    assert buildout.run().ok


def test_a_run_that_ends_before_the_next_one_starts(buildout, tmp_path):
    """Runs at once: the end of one may come before the start of the next
    (the server answers both in turn); each run keeps its own exit status."""
    if not FORKER.enabled:
        pytest.skip("CLOCKSERVER_TEST_BUILDOUT=exec")
    failing = Buildout(tmp_path / "failing", buildout.env)
    failing.write("buildout.cfg", "[buildout]\nparts = nosuch\n")
    buildout.write("buildout.cfg", "[buildout]\nparts =\n")
    first = failing.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the server has reaped it
        try:
            os.kill(first.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    second = buildout.start()
    assert second.wait(timeout=300) == 0
    assert first.wait(timeout=300) != 0
