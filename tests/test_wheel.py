"""The package installed from a built wheel, not as a develop egg."""

import os
import subprocess
import sys
import textwrap

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPENDENCIES = ["zc.buildout", "zc.recipe.egg", "z3c.recipe.usercrontab",
                "ZConfig", "cronsim"]

pytestmark = pytest.mark.slow  # a wheel, a new venv, a fresh buildout


def run(*args, **kwargs):
    result = subprocess.run(args, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=600,
                            **kwargs)
    assert result.returncode == 0, result.stdout
    return result.stdout


def test_fresh_buildout_installs_the_wheel(tmp_path):
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
        "--no-build-isolation", "-w", str(dist), TOP)
    (wheel,) = os.listdir(dist)
    assert wheel.startswith("collective_recipe_clockserver-")

    # A new virtualenv with buildout and the recipe's dependencies only.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", str(venv))
    run(str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
        *DEPENDENCIES)

    site = tmp_path / "site"
    site.mkdir()
    (tmp_path / "noindex").mkdir()
    (site / "buildout.cfg").write_text(textwrap.dedent("""
        [buildout]
        parts = clock wsgi-clock
        find-links = {dist}
        index = {noindex}
        newest = false

        [clock]
        recipe = collective.recipe.clockserver
        jobs = /site/update 1h

        [wsgi-clock]
        recipe = collective.recipe.clockserver
        backend = runner
        address = 8080
        jobs = /site/update 1h
        """).format(dist=dist, noindex=tmp_path / "noindex"))
    output = run(str(venv / "bin" / "buildout"), cwd=site)
    assert "Got collective.recipe.clockserver" in output
    eggs = os.listdir(site / "eggs" / "v5")
    assert any(e.startswith("collective.recipe.clockserver-") for e in eggs)
    # The schema file travelled in the wheel: the blocks were checked.
    assert "method /site/update" in (
        site / "parts" / "clock" / "clock-server.conf").read_text()
    listing = run(str(site / "bin" / "wsgi-clock"), "list")
    assert "site-update" in listing
