"""tools/venv as a new user meets it: PYTHON that cannot run, too old, or
not the Python of an existing .venv. Run on a copy in a temporary tree, so
the real .venv is never touched."""

import os
import shutil
import subprocess
import sys

import pytest

from buildouts import copy_checkout

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "tools").mkdir()
    shutil.copy(os.path.join(TOP, "tools", "venv"), tmp_path / "tools")
    # Not installable: the pip step fails at once, offline (PIP_NO_INDEX),
    # after what is tested here has happened.
    (tmp_path / "setup.py").write_text("raise SystemExit('not a package')\n")
    return tmp_path


def run(tree, python=None):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "VIRTUAL_ENV")}
    env["PIP_NO_INDEX"] = "1"
    if python is not None:
        env["PYTHON"] = python
    result = subprocess.run(
        ["sh", str(tree / "tools" / "venv")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


def script(path, text):
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return str(path)


def test_a_python_that_cannot_run_is_reported_as_such(tree, tmp_path):
    broken = script(
        tmp_path / "broken-python",
        'echo "python3.12: error while loading shared '
        'libraries: libpython3.12.so.1.0" >&2\nexit 127\n',
    )
    plain = tmp_path / "plain-file"
    plain.write_text("")
    for python, why in [
        ("no-such-python3.42", "no such command"),
        (str(plain), "not executable"),
        (broken, "python3.12: error while loading shared libraries: libpython3.12"),
    ]:
        status, output = run(tree, python)
        assert status == 1
        assert "PYTHON=%s cannot be run: %s" % (python, why) in output
        assert "3.11 or newer is needed" not in output
        assert not (tree / ".venv").exists()


def test_an_old_python_is_named_with_its_version(tree, tmp_path):
    old = script(
        tmp_path / "python3.8",
        ('case "$2" in *"< (3, 11)"*) exit 1 ;; esac\necho "3.8.18 /opt/python3.8"\n'),
    )
    status, output = run(tree, old)
    assert status == 1
    assert (
        "Python 3.11 or newer is needed; PYTHON=%s is Python 3.8.18" % old
    ) in output


def identify(python):
    return subprocess.run(
        [python, "-c", "import sys; print(sys.version, sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.slow  # makes .venv twice
def test_python_is_not_ignored_once_venv_exists(tree):
    first = shutil.which("python3", path="/usr/bin:/bin")
    second = os.path.join(sys.base_prefix, "bin", "python3")
    if not (first and os.path.exists(second)) or identify(first) == identify(second):
        pytest.skip("needs two different Pythons (%s, %s)" % (first, second))
    subprocess.run(
        [first, "-m", "venv", "--without-pip", str(tree / ".venv")], check=True
    )
    venv_python = str(tree / ".venv" / "bin" / "python")
    assert identify(venv_python) == identify(first)

    _, output = run(tree, second)
    assert "PYTHON=%s (Python" % second in output
    assert "is not the Python of .venv" in output
    assert "making .venv again" in output
    assert identify(venv_python) == identify(second)

    # The same PYTHON again, or none: .venv is kept.
    for python in (second, None):
        _, output = run(tree, python)
        assert "making .venv again" not in output
        assert identify(venv_python) == identify(second)


def test_checkout_buildout_makes_bin_test_offline(tmp_path):
    """buildout.cfg in a checkout: the venv's bin/buildout makes bin/test
    offline, and bin/test is pytest over the suite, as ./run-tests runs it."""
    buildout = os.path.join(os.path.dirname(sys.executable), "buildout")
    if not os.path.exists(buildout):
        pytest.skip("no bin/buildout beside %s" % sys.executable)
    checkout = copy_checkout(tmp_path / "checkout")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PIP_NO_INDEX"] = "1"
    result = subprocess.run(
        [buildout], cwd=checkout, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (checkout / "bin" / "test").exists()
    result = subprocess.run(
        [str(checkout / "bin" / "test"), "--collect-only", "-q", "tests/test_tools.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # It runs in the checkout, whatever the current directory.
    assert "test_checkout_buildout_makes_bin_test_offline" in result.stdout
    text = (checkout / "bin" / "test").read_text()
    assert 'setdefault("CLOCKSERVER_REQUIRE_ZOPE", "1")' in text
