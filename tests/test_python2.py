"""What the recipe imports compiles on Python 2.7 (ZServer sites run
buildout there); runner/ is Python 3 only."""

import glob
import os
import subprocess

import pytest

PYTHON2 = os.path.expanduser("~/.pyenv/versions/2.7.18/bin/python")
PACKAGE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "src",
    "collective",
    "recipe",
    "clockserver",
)
# convert/ (clockserver-convert runs beside buildout, not inside it) and
# runner/ are Python 3 only and never imported by the recipe: not globbed.
COMPILE = (
    "import sys\n"
    "for path in sys.argv[1:]:\n"
    "    with open(path, 'rb') as f:\n"
    "        compile(f.read(), path, 'exec')\n"
)


def modules():
    found = glob.glob(os.path.join(PACKAGE, "*.py"))
    found += glob.glob(os.path.join(PACKAGE, "crontab", "*.py"))
    return sorted(found)


def test_recipe_modules_compile_on_python_2_7():
    if not os.path.exists(PYTHON2):
        if os.environ.get("CI") == "true":
            pytest.fail("no Python 2.7 at %s" % PYTHON2)
        pytest.skip("no Python 2.7 at %s" % PYTHON2)
    paths = modules()
    assert any(p.endswith("recipe.py") for p in paths)
    # compile(), not py_compile: nothing is written next to the sources.
    result = subprocess.run(
        [PYTHON2, "-c", COMPILE] + paths,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout
