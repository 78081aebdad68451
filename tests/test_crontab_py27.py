"""The crontab package on Python 2.7, where zc.buildout 2.13 will run it.

Python 2.7 comes from pyenv (~/.pyenv/versions/2.7.18). Without it these
tests skip, except on CI (``CI=true``), where they fail.
"""

import json
import os
import subprocess

import pytest
import z3c.recipe.usercrontab.usercrontab

from collective.recipe.clockserver.crontab.times import NEVER

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
PACKAGE = os.path.join(SRC, "collective", "recipe", "clockserver")
PYTHON27 = os.path.expanduser(
    os.environ.get("CLOCKSERVER_PYTHON27", "~/.pyenv/versions/2.7.18/bin/python")
)
# Every module the crontab package imports, its own and errors.py.
MODULES = sorted(
    [
        os.path.join(PACKAGE, "crontab", name)
        for name in os.listdir(os.path.join(PACKAGE, "crontab"))
        if name.endswith(".py")
    ]
    + [os.path.join(PACKAGE, "errors.py")]
)


@pytest.fixture
def python27():
    if not os.access(PYTHON27, os.X_OK):
        message = "no Python 2.7 at %s" % PYTHON27
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI must run the Python 2.7 checks)")
        pytest.skip(message)
    return PYTHON27


def test_the_crontab_package_compiles_on_python27(python27, tmp_path):
    script = (
        "import py_compile, sys\n"
        "for i, path in enumerate(sys.argv[1:]):\n"
        "    py_compile.compile(path, cfile=%r + '/%%d.pyc' %% i, doraise=True)\n"
        % str(tmp_path)
    )
    result = subprocess.run(
        [python27, "-c", script] + MODULES, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert len(MODULES) >= 6


# Runs on Python 2.7. ``collective`` and ``collective.recipe`` are PEP 420
# namespaces, which Python 2 cannot import: they are set up by hand, as is
# ``z3c.recipe.usercrontab`` (its __init__ imports zc.buildout, which this
# Python lacks): its real ``usercrontab`` module, which holds the markers,
# is loaded from where Python 3 found it.
PYTHON27_SCRIPT = r"""
import json, os, sys, tempfile, types

src, z3c_dir, fake_bin, table = sys.argv[1:5]
for name, path in (("collective", src + "/collective"),
                   ("collective.recipe", src + "/collective/recipe"),
                   ("z3c", None), ("z3c.recipe", None),
                   ("z3c.recipe.usercrontab", z3c_dir)):
    module = types.ModuleType(name)
    module.__path__ = [path] if path else []
    sys.modules[name] = module

from collective.recipe.clockserver.crontab import block, entries, store, times
from collective.recipe.clockserver.errors import ConfigError

found = {"version": list(sys.version_info[:2])}

# times: normalised, and refused with the messages of Python 3
found["valid"] = [times.validate_times(t) for t in
                  ("0  1 * *\t6", "@REBOOT", "*/15 8-18/2 1,15 jan-jun mon-fri")]
problems = []
for text in ("0 25 * * *", "0 0 * foo *", u"0 0 * foo *", "5-1 * * * *",
             "@weekdays", "0 1 * *", "1,,2 * * * *", "*/0 * * * *"):
    try:
        times.validate_times(text, "zeopack")
    except ConfigError as e:
        problems.append([e.problem, e.message("clock").splitlines()[0]])
found["problems"] = problems
found["expression"] = [times.expression(t) for t in ("@Weekly", "@reboot", "0 1 * * 6")]
found["evaluable"] = [times.evaluable(t) for t in ("0 0 31 2 mon", "0 0 31 2 *", "@reboot")]
found["never"] = [times.never_comes(t) for t in ("0 0 31 2 mon", "0 0 31 2 *")]

# entries
found["entries"] = entries.parse_entries(
    "# c\n30  2 * * *  /srv/bin/backup  -q\n@daily  date +\\%F\n")
try:
    entries.parse_entries("MAILTO=x")
except ConfigError as e:
    found["assignment"] = e.problem
found["entry"] = entries.entry(" 0 1 * * 6", " bin/zeopack ", "zeopack")
found["command_path"] = entries.command_path("/srv/my site/100%/zeopack")

# block: install, change, remove on foreign lines
ident = block.identifier("/srv/site", "clock")
foreign = ["MAILTO=x", "", "# mine"]
installed = block.replace_block(foreign, ident, ["@daily x"])
changed = block.replace_block(installed, ident, ["@hourly y"])
found["installed"] = installed
found["changed"] = changed
found["removed"] = block.remove_block(changed, ident)
found["purged"] = block.purge_blocks(changed + [block.markers(ident)[0]], ident)
found["text"] = block.join_lines(block.split_lines("a\n\nb"))
try:
    block.remove_block(installed + installed, ident)
except block.CrontabError as e:
    found["broken"] = str(e)

# store: a crontab-file that is not UTF-8, and the stand-in crontab command
directory = tempfile.mkdtemp()
path = os.path.join(directory, "clock.cron")
with open(path, "wb") as f:
    f.write(b"# caf\xe9\nA=1\n")
os.chmod(path, 0o600)
found["file"] = [store.update_crontab(ident, ["@daily x"], path),
                 store.update_crontab(ident, ["@daily x"], path)]
with open(path, "rb") as f:
    found["file_installed"] = f.read().decode("latin-1")
found["file"].append(store.remove_from_crontab(ident, path))
with open(path, "rb") as f:
    found["file_removed"] = f.read().decode("latin-1")
found["file_mode"] = oct(os.stat(path).st_mode & 0o777)
found["listing"] = sorted(os.listdir(directory))
try:
    store.read_crontab(directory)
except store.CrontabError as e:
    found["directory"] = str(e)

os.environ["PATH"] = fake_bin + os.pathsep + os.environ.get("PATH", "")
os.environ["FAKE_CRONTAB_TABLE"] = table
found["user"] = [store.read_crontab(), store.update_crontab(ident, ["@daily x"]),
                 store.read_crontab(), store.remove_from_crontab(ident)]
os.environ["FAKE_CRONTAB_FAIL"] = "hang"
store.TIMEOUT = 0.5
try:
    store.write_crontab(["@daily x"])
except store.CrontabError as e:
    found["hang"] = str(e)
os.environ["FAKE_CRONTAB_FAIL"] = "write"
try:
    store.write_crontab(["@daily x"])
except store.CrontabError as e:
    found["write"] = str(e)
sys.stdout.write(json.dumps(found))
"""


def test_the_crontab_package_runs_on_python27(python27, fake_crontab, tmp_path):
    z3c_dir = os.path.dirname(z3c.recipe.usercrontab.usercrontab.__file__)
    env = dict(os.environ, CLOCKSERVER_LOCK_DIR=str(tmp_path / "locks"))
    env.pop("PYTHONPATH", None)
    env.pop("FAKE_CRONTAB_FAIL", None)
    result = subprocess.run(
        [
            python27,
            "-B",
            "-c",
            PYTHON27_SCRIPT,
            SRC,
            z3c_dir,
            fake_crontab.bin,
            fake_crontab.table,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # e.g. no watchdog thread left at exit
    found = json.loads(result.stdout)
    assert found["version"] == [2, 7]

    assert found["valid"] == [
        "0 1 * * 6",
        "@reboot",
        "*/15 8-18/2 1,15 jan-jun mon-fri",
    ]
    assert found["problems"] == [
        [
            "hour 25 is out of range 0-23",
            "[clock] zeopack: hour 25 is out of range 0-23",
        ],
        [
            "month 'foo' is not a number or a name",
            "[clock] zeopack: month 'foo' is not a number or a name",
        ],
        [
            "month 'foo' is not a number or a name",  # unicode: no u'' either
            "[clock] zeopack: month 'foo' is not a number or a name",
        ],
        [
            "minute range '5-1' runs backwards",
            "[clock] zeopack: minute range '5-1' runs backwards",
        ],
        [
            "unknown cron schedule @weekdays",
            "[clock] zeopack: unknown cron schedule @weekdays",
        ],
        [
            "cron times need 5 fields, got 4",
            "[clock] zeopack: cron times need 5 fields, got 4",
        ],
        [
            "minute '1,,2' has an empty list element",
            "[clock] zeopack: minute '1,,2' has an empty list element",
        ],
        [
            "minute step 0 is out of range 1-60",
            "[clock] zeopack: minute step 0 is out of range 1-60",
        ],
    ]
    assert found["expression"] == ["0 0 * * 0", None, "0 1 * * 6"]
    assert found["evaluable"] == ["0 0 * 2 mon", "0 0 31 2 *", None]
    assert found["never"] == [None, NEVER]

    assert found["entries"] == ["30 2 * * * /srv/bin/backup  -q", "@daily date +\\%F"]
    assert "environment assignments are not allowed" in found["assignment"]
    assert found["entry"] == "0 1 * * 6 bin/zeopack"
    assert found["command_path"] == "'/srv/my site/100\\%/zeopack'"

    start, end = "# Generated by /srv/site [clock]", "# END /srv/site [clock]"
    assert found["installed"] == ["MAILTO=x", "", "# mine", "", start, "@daily x", end]
    assert found["changed"] == ["MAILTO=x", "", "# mine", "", start, "@hourly y", end]
    assert found["removed"] == ["MAILTO=x", "", "# mine"]
    assert found["purged"] == ["MAILTO=x", "", "# mine"]
    assert found["text"] == "a\n\nb\n"
    assert "each must appear exactly once" in found["broken"]

    block = "# caf\xe9\nA=1\n\n%s\n@daily x\n%s\n" % (start, end)
    assert found["file"] == [True, False, True]
    assert found["file_installed"] == block
    assert found["file_removed"] == "# caf\xe9\nA=1\n"
    assert found["file_mode"] in ("0600", "0o600")
    assert found["listing"] == [".clock.cron.lock", "clock.cron"]
    assert "is a directory, not a regular file" in found["directory"]

    assert found["user"] == [[], True, [start, "@daily x", end], True]
    assert fake_crontab.read_bytes() == b""
    assert found["hang"] == (
        "%s - did not finish within 0.5 seconds" % fake_crontab.command
    )
    assert "%s - failed with exit status 2" % fake_crontab.command in found["write"]
    assert "bad minute" in found["write"]
