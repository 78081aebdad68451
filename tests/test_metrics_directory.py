"""The metrics-file directory is readable by node_exporter (issue 17).

Under umask 077 the directory the recipe creates for ``metrics-file``
was 0700, so node_exporter (another user) could not read the 0644 file
inside.  A directory the recipe creates is 0755 whatever the umask; one
the user made is never changed, and a warning says when it is not
readable by others.  Through a real bin/buildout and bin/<part> fire; the
file is read as the user ``nobody`` where the test runs as root.
"""

import os
import shutil
import stat
import subprocess
import tempfile

import pytest


@pytest.fixture
def shared():
    """A directory every user may enter (node_exporter's /var/lib/...)."""
    path = tempfile.mkdtemp(prefix="metrics-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


def part(options):
    return (
        "[buildout]\nparts = clock\n\n[clock]\n"
        "recipe = collective.recipe.clockserver\nbackend = runner\n" + options
    )


def with_umask(mask, function, *args):
    old = os.umask(mask)
    try:
        return function(*args)
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def read_as_nobody(path):
    """The file's text read by another user, or None when we cannot switch."""
    runuser = shutil.which("runuser")
    if os.geteuid() != 0 or runuser is None:
        return None
    result = subprocess.run(
        [runuser, "-u", "nobody", "--", "cat", path],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_created_directories_are_0755_under_umask_077(buildout, shared, server):
    metrics = os.path.join(shared, "node_exporter", "textfile", "clock.prom")
    buildout.write(
        "buildout.cfg",
        part(
            "address = %s\njobs = /feeds 1h\nmetrics-file = %s\n"
            % (server.address, metrics)
        ),
    )
    result = with_umask(0o077, buildout.run)
    assert result.ok, result.output
    for directory in (
        os.path.dirname(os.path.dirname(metrics)),
        os.path.dirname(metrics),
    ):
        assert mode(directory) == 0o755, directory
    assert "node_exporter (another user) cannot read" not in result.output
    fired = with_umask(
        0o077, subprocess.run, [buildout.path("bin", "clock"), "fire", "feeds"]
    )
    assert fired.returncode == 0
    assert mode(metrics) == 0o644
    text = read_as_nobody(metrics)
    assert text is None or "clockserver_runs_total" in text


def test_a_directory_the_user_made_is_left_alone_with_a_warning(buildout, shared):
    private = os.path.join(shared, "private")
    os.mkdir(private, 0o700)
    os.chmod(private, 0o700)
    buildout.write(
        "buildout.cfg",
        part(
            "address = 8080\njobs = /feeds 1h\nmetrics-file = %s/clock.prom\n" % private
        ),
    )
    result = buildout.run()
    assert result.ok, result.output
    assert mode(private) == 0o700  # never chmod what the user made
    assert (
        "metrics-file: node_exporter (another user) cannot read files in %s: %s is "
        "mode 0700; make it readable by others (chmod o+rx %s)"
        % (private, private, private)
    ) in result.output


def test_a_parent_others_cannot_enter_is_named(buildout, shared):
    closed = os.path.join(shared, "closed")
    os.mkdir(closed)
    os.chmod(closed, 0o750)
    buildout.write(
        "buildout.cfg",
        part(
            "address = 8080\njobs = /feeds 1h\nmetrics-file = %s/textfile/clock.prom\n"
            % closed
        ),
    )
    result = with_umask(0o077, buildout.run)
    assert result.ok, result.output
    assert mode(os.path.join(closed, "textfile")) == 0o755
    assert mode(closed) == 0o750
    assert "%s is mode 0750" % closed in result.output
