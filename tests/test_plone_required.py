"""The Plone tests never skip silently where Plone must be there: in CI
(``CI`` set) and under ./run-tests a missing Plone stack is a failure.

Each case runs pytest on tests/test_plone_clock.py with
``CLOCKSERVER_PLONE_VENV`` pointing at an empty directory (no Plone there).
"""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
MISSING = "Plone test stack not installed in"


def run_plone_tests(tmp_path, *args, **env_vars):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "CLOCKSERVER_REQUIRE_PLONE", "PYTEST_ADDOPTS")
    }
    env.update(env_vars, CLOCKSERVER_PLONE_VENV=str(tmp_path / "no-plone"))
    (tmp_path / "no-plone").mkdir()
    return subprocess.run(
        # Without the hypothesis plugin, whose import is most of the run.
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
            "-rs",
            *args,
            os.path.join(HERE, "test_plone_clock.py"),
        ],
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "env_vars",
    [
        {"CI": "true"},
        {"CI": "1"},
        {"CI": "true", "CLOCKSERVER_REQUIRE_PLONE": "0"},  # CI wins
        {"CLOCKSERVER_REQUIRE_PLONE": "1"},  # what ./run-tests sets
    ],
)
def test_missing_plone_fails(tmp_path, env_vars):
    result = run_plone_tests(tmp_path, **env_vars)
    assert result.returncode == 1, result.stdout  # pytest: tests failed
    assert MISSING in result.stdout, result.stdout
    # Every test errors at setup: none passes, none skips.
    assert re.search(r"\b\d+ errors? in ", result.stdout), result.stdout
    assert " passed" not in result.stdout, result.stdout
    assert " skipped" not in result.stdout, result.stdout


def test_missing_plone_fails_no_leg_that_deselects_it(tmp_path):
    """CI's fast legs (Python 3.10, 3.12, 3.13) run with ``CI`` set and
    ``-m "not ... plone ..."``: the Plone tests are deselected, not failed."""
    result = run_plone_tests(tmp_path, "-m", "not zope and not plone", CI="true")
    assert result.returncode == 5, result.stdout  # pytest: no tests ran
    assert "deselected" in result.stdout, result.stdout
    assert MISSING not in result.stdout, result.stdout


@pytest.mark.parametrize(
    "env_vars",
    [
        {},
        {"CI": "false"},
        {"CLOCKSERVER_REQUIRE_PLONE": "0"},
    ],
)
def test_missing_plone_skips_elsewhere(tmp_path, env_vars):
    result = run_plone_tests(tmp_path, **env_vars)
    assert result.returncode == 5, result.stdout  # pytest: no tests ran
    assert "1 skipped" in result.stdout and MISSING in result.stdout, result.stdout
