"""The README's add_clock_user.py on a real Zope: the clock's user, a Manager
in the Zope root, made from secret.cfg without a password on a command line."""

import os
import shutil
import subprocess

import pytest

from zopeinstance import start_instance, stop_instance, zope_missing

pytestmark = pytest.mark.zope

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(TOP, "example", "add_clock_user.py")
PASSWORD = "cl0ck-$ecret %pw"

if zope_missing():  # ./run-tests and CI: a failure, never a silent skip
    if os.environ.get("CLOCKSERVER_REQUIRE_ZOPE"):
        pytest.fail(zope_missing(), pytrace=False)
    pytest.skip(zope_missing(), allow_module_level=True)


def test_the_readme_shows_the_script_as_it_is():
    with open(SCRIPT) as f:
        script = f.read()
    with open(os.path.join(TOP, "README.rst")) as f:
        readme = f.read()
    shown = "".join(
        "    " + line if line.strip() else line for line in script.splitlines(True)
    )
    assert shown in readme


def test_the_script_adds_and_then_updates_the_user(zope_buildout):
    secret = os.path.join(zope_buildout, "secret.cfg")
    saved = None
    if os.path.exists(secret):
        saved = secret + ".saved"
        shutil.copy2(secret, saved)
    try:
        for password in ("first-" + PASSWORD, PASSWORD):
            with open(secret, "w") as f:
                f.write(
                    "[clock-credentials]\nuser = clocker\npassword = %s\n" % password
                )
            shutil.copy(SCRIPT, os.path.join(zope_buildout, "add_clock_user.py"))
            result = subprocess.run(
                [
                    os.path.join(zope_buildout, "bin", "instance"),
                    "run",
                    "add_clock_user.py",
                ],
                cwd=zope_buildout,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, result.stdout
            assert password not in " ".join(result.args)
        instance = start_instance(zope_buildout)
        try:
            ok = instance.get("/manage_main", "clocker", PASSWORD)
            old = instance.get("/manage_main", "clocker", "first-" + PASSWORD)
        finally:
            stop_instance(instance)
        assert ok.status == 200, ok
        assert old.status == 401, old
    finally:
        os.remove(secret)
        if saved:
            os.rename(saved, secret)
