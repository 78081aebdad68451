"""The recipe on Python 2.7 under zc.buildout 2.13, where ZServer sites run buildout.

The release files (sdist and universal wheel, built from this checkout
with ``python -m build`` as tests/test_wheel.py builds them) go into a
find-links directory; a real zc.buildout 2.13.8 on Python 2.7.18
(setuptools 44) takes the recipe from there, beside collective.recipe.template
(another ``collective.*`` recipe: the pkgutil namespaces must merge), and
writes ``<clock-server>`` blocks (include file and inline), credentials
from secret.cfg, zeopack and crontab entries into a crontab-file.  What
needs bin/<part> (Python 3) is a clean ``Error:``, never a traceback.

The Python 2 stack (a virtualenv with the pins of the live ZServer test,
tests/zserver-versions.cfg in the py2 branch, and the eggs these buildouts
need) is made once and kept in .venv-py2/recipe-buildout; it is rebuilt
when its pins change.  Without Python 2.7 the tests skip, except on CI
(``CI=true``), where they fail.
"""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

from test_wheel import copy_checkout

pytestmark = [pytest.mark.slow, pytest.mark.python2]

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "collective.recipe.clockserver"
VERSION = "1.0.0.dev0"
PYTHON2 = os.path.expanduser(
    os.environ.get("CLOCKSERVER_PYTHON27", "~/.pyenv/versions/2.7.18/bin/python")
)
HOME = os.environ.get("CLOCKSERVER_PY2_RECIPE_HOME") or os.path.join(
    TOP, ".venv-py2", "recipe-buildout"
)
# virtualenv 20.21 is the last that makes Python 2 environments; it seeds
# pip 20.3.4, setuptools 44.1.1 and wheel 0.37.1.
VIRTUALENV = "virtualenv<20.22"
INSTALL = ["zc.buildout==2.13.8", "setuptools==44.1.1"]
# What the buildouts below pick, as the live ZServer test pins them.
VERSIONS = {
    "zc.buildout": "2.13.8",
    "setuptools": "44.1.1",
    "zc.recipe.egg": "2.0.7",
    "z3c.recipe.usercrontab": "1.5",
    "ZConfig": "3.6.1",
    "collective.recipe.template": "2.2",  # its last Python 2 release
    "six": "1.17.0",  # collective.recipe.template's
}
PASSWORD = "s3cr$t%#x"  # zope.conf: s3cr$$t%#x
INLINE_PASSWORD = "In1ine-pw"
SECRET = """\
[clock-credentials]
user = clockuser
password = %s

[inline-credentials]
user = inlineuser
password = %s
""" % (PASSWORD, INLINE_PASSWORD)


def unavailable(message):
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI must run the Python 2.7 buildout)")
    pytest.skip(message)


def run(args, cwd=None, timeout=900):
    """(exit status, stdout and stderr together)."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    process = subprocess.Popen(
        [str(a) for a in args],
        cwd=cwd and str(cwd),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output.decode("utf-8", "replace")


def checked(args, cwd=None):
    status, output = run(args, cwd)
    if status:
        raise RuntimeError(
            "%s exited %d:\n%s" % (" ".join(map(str, args)), status, output[-4000:])
        )
    return output


def versions_section(extra=()):
    pins = dict(VERSIONS, **dict(extra))
    return "[versions]\n" + "".join("%s = %s\n" % p for p in sorted(pins.items()))


class Stack:
    """The Python 2.7 virtualenv with zc.buildout 2.13 and the warm eggs."""

    def __init__(self, home):
        self.home = home
        self.python = os.path.join(home, "venv", "bin", "python")
        self.buildout = os.path.join(home, "venv", "bin", "buildout")
        self.eggs = os.path.join(home, "eggs")
        self.stamp = os.path.join(home, ".installed")

    def inputs(self):
        """What the stack is made of: a new Python 2.7 or pin rebuilds it."""
        try:
            python = os.stat(os.path.realpath(PYTHON2)).st_mtime
        except OSError:
            python = None
        text = json.dumps([PYTHON2, python, VIRTUALENV, INSTALL, VERSIONS, 1])
        return hashlib.sha256(text.encode()).hexdigest()

    def fresh(self):
        try:
            with open(self.stamp) as f:
                return f.read() == self.inputs() and os.path.exists(self.buildout)
        except OSError:
            return False

    def make(self):
        shutil.rmtree(self.home, ignore_errors=True)
        os.makedirs(self.home)
        tools = os.path.join(self.home, "virtualenv")
        checked(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--target",
                tools,
                VIRTUALENV,
            ]
        )
        env_python = [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, %r); "
            "from virtualenv.__main__ import run_with_catch; "
            "run_with_catch()" % tools,
        ]
        checked(env_python + ["-q", "-p", PYTHON2, os.path.join(self.home, "venv")])
        checked(
            [self.python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            + INSTALL
        )
        # The eggs, fetched once from the package index; the test buildouts
        # then use no index at all.
        warm = os.path.join(self.home, "warm")
        os.makedirs(warm)
        write(
            os.path.join(warm, "buildout.cfg"),
            """\
[buildout]
parts = eggs
eggs-directory = %s
newest = false
allow-picked-versions = false
versions = versions

[eggs]
recipe = zc.recipe.egg:eggs
eggs = z3c.recipe.usercrontab
    ZConfig
    collective.recipe.template

%s"""
            % (self.eggs, versions_section()),
        )
        checked([self.buildout, "-c", "buildout.cfg"], cwd=warm)
        shutil.rmtree(warm)
        write(self.stamp, self.inputs())


def write(path, text, mode=None):
    with open(str(path), "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(str(path), mode)


@pytest.fixture(scope="session")
def stack():
    if not os.access(PYTHON2, os.X_OK):
        unavailable("no Python 2.7 at %s" % PYTHON2)
    found = Stack(HOME)
    if not found.fresh():
        started = time.time()
        try:
            found.make()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            unavailable("cannot build the Python 2.7 stack: %s" % e)
        print("Python 2.7 stack built in %.0f s" % (time.time() - started))
    return found


@pytest.fixture(scope="session")
def release(tmp_path_factory):
    """The sdist and the universal wheel, each alone in a find-links directory."""
    pytest.importorskip("build")
    work = tmp_path_factory.mktemp("py2-release")
    source = work / "source"
    copy_checkout(source)
    out = work / "dist"
    checked([sys.executable, "-m", "build", "-o", out, source])
    found = {}
    for kind, pattern in (("wheel", "*-py2.py3-none-any.whl"), ("sdist", "*.tar.gz")):
        (path,) = out.glob(pattern)
        links = work / kind
        links.mkdir()
        shutil.copy2(str(path), str(links / path.name))
        found[kind] = links
    return found


class Site:
    """A buildout directory run by zc.buildout 2.13 on Python 2.7, with its
    own eggs directory (the warm eggs, then the recipe from find-links)
    and an empty index: nothing comes from the package index."""

    def __init__(self, stack, directory, links):
        self.stack, self.directory, self.links = stack, directory, links
        self.eggs = directory / "eggs"
        if not self.eggs.exists():
            shutil.copytree(stack.eggs, str(self.eggs))
        (directory / "no-index").mkdir(exist_ok=True)
        write(directory / "secret.cfg", SECRET, 0o600)

    def run(self, parts_text, parts):
        write(
            self.directory / "buildout.cfg",
            """\
[buildout]
extends = secret.cfg
parts = %s
find-links = %s
index = %s
eggs-directory = %s
newest = false
allow-picked-versions = false
versions = versions

%s
%s"""
            % (
                parts,
                self.links,
                (self.directory / "no-index").as_uri(),
                self.eggs,
                parts_text,
                versions_section([(NAME, VERSION)]),
            ),
        )
        return run([self.stack.buildout, "-c", "buildout.cfg"], cwd=self.directory)

    def path(self, *names):
        return os.path.join(str(self.directory), *names)

    def read(self, *names):
        with open(self.path(*names)) as f:
            return f.read()

    def mode(self, *names):
        return stat.S_IMODE(os.stat(self.path(*names)).st_mode)


ZSERVER_SITE = """\
[clock]
recipe = collective.recipe.clockserver
jobs =
    /site/@@update-feeds 1h
    /site/@@cleanup 30m host=www.example.org
credentials = clock-credentials
zeopack = 0 1 * * 6
crontab = @daily ${buildout:directory}/bin/backup --quiet
crontab-file = ${buildout:directory}/var/crontab

[clock-inline]
recipe = collective.recipe.clockserver
inline = true
jobs = /site/@@ping 5m
credentials = inline-credentials
host = www.example.org:8080

[template]
recipe = collective.recipe.template
input = inline:
    ${clock:zope-conf-additional}
    ${clock-inline:zope-conf-additional}
output = ${buildout:directory}/zope-additional.conf
"""
INCLUDE = """\
# site-update-feeds
<clock-server>
  method /site/@@update-feeds
  period 3600
  user clockuser
  password s3cr$$t%#x
</clock-server>
# site-cleanup
<clock-server>
  method /site/@@cleanup
  period 1800
  user clockuser
  password s3cr$$t%#x
  host www.example.org
</clock-server>
"""
INLINE = """\
# site-ping
<clock-server>
  method /site/@@ping
  period 300
  user inlineuser
  password In1ine-pw
  host www.example.org:8080
</clock-server>
"""


@pytest.fixture(scope="module")
def site(stack, release, tmp_path_factory):
    """The ZServer site, built once from the wheel; the error cases reuse
    its eggs (the recipe installed from the wheel)."""
    found = Site(stack, tmp_path_factory.mktemp("py2-site"), release["wheel"])
    found.status, found.output = found.run(ZSERVER_SITE, "clock clock-inline template")
    return found


def assert_clean(status, output):
    assert status == 0, output
    assert "Traceback" not in output, output
    assert "Error" not in output, output


def test_the_wheel_installs_and_writes_the_zserver_blocks(site):
    assert_clean(site.status, site.output)
    assert "Got %s %s." % (NAME, VERSION) in site.output
    assert os.path.isdir(site.path("eggs", "%s-%s-py2.7.egg" % (NAME, VERSION)))
    include = site.path("parts", "clock", "clock-server.conf")
    assert site.read("parts", "clock", "clock-server.conf") == INCLUDE
    assert site.mode("parts", "clock", "clock-server.conf") == 0o600
    assert site.mode("parts", "clock") == 0o700
    # collective.recipe.template (the other collective.* recipe) read both
    # parts' zope-conf-additional in the same buildout.
    assert site.read("zope-additional.conf") == "%%include %s\n%s" % (include, INLINE)


def test_the_crontab_entries_go_into_the_crontab_file(site):
    assert site.read("var", "crontab") == (
        "# Generated by %s [clock]\n"
        "0 1 * * 6 %s/bin/zeopack\n"
        "@daily %s/bin/backup --quiet\n"
        "# END %s [clock]\n" % ((site.directory,) * 4)
    )


def test_the_password_stays_in_secret_cfg_and_the_include_file(site):
    installed = site.read(".installed.cfg")
    assert PASSWORD not in installed
    assert PASSWORD.replace("$", "$$") not in installed
    assert "clock-credentials" in installed
    # inline = true puts it into zope-conf-additional, and says so.
    assert INLINE_PASSWORD in installed
    assert (
        "clock-inline: Warning: inline = true puts the password into "
        "zope.conf and .installed.cfg"
    ) in site.output
    assert not os.path.exists(site.path("bin", "clock"))  # no bin/<part> on 2
    assert "\nscript = " not in installed  # so no ${clock:script} either


def test_a_rerun_changes_nothing_and_removing_the_part_cleans_the_crontab_file(site):
    status, output = site.run(ZSERVER_SITE, "clock clock-inline template")
    assert_clean(status, output)
    assert "Updating clock." in output
    assert site.read("parts", "clock", "clock-server.conf") == INCLUDE
    status, output = site.run(ZSERVER_SITE.split("[clock-inline]")[0], "")
    assert_clean(status, output)
    assert "Uninstalling clock." in output
    assert site.read("var", "crontab") == ""
    assert not os.path.exists(site.path("parts", "clock"))


ERRORS = [
    (
        "lock",
        "jobs = /site/@@a 1h\nlock = redis://localhost:6379\n",
        [
            "Error: [clock] lock: lock needs Python 3: only bin/clock uses it",
            "Leave lock out, or run buildout on Python 3.10+",
        ],
    ),
    (
        "backend-runner",
        "backend = runner\naddress = 8080\njobs = /site/@@a 1h\n",
        ["Error: [clock] backend: backend = runner needs Python 3"],
    ),
    (
        "monitor",
        "monitor = true\nzeopack = 0 1 * * 6\n",
        ["Error: [clock] monitor: monitor = true needs Python 3"],
    ),
    (
        "times",
        "jobs = /site/@@a 1h times='0 1 * * *'\n",
        ["Error: [clock] jobs: ", "needs Python 3"],
    ),
    (
        "grace",
        "jobs = /site/@@a 1h grace=10m\n",
        ["Error: [clock] jobs: grace= needs Python 3", "/site/@@a 1h grace=10m"],
    ),
    (
        "bad-period",
        "jobs = /site/@@a 5x\n",
        ["Error: [clock] jobs: bad period '5x'", "units s m h d w"],
    ),
    (
        "missing-credentials",
        "jobs = /site/@@a 1h\ncredentials = nosuch\n",
        [
            "Error: [clock] credentials: the credentials section [nosuch] is not defined",
            "[nosuch]\n    user = zopeuser",
        ],
    ),
    (
        "bad-cron",
        "zeopack = 0 1 * * 8\n",
        ["Error: [clock] zeopack: day-of-week 8 is out of range 0-7"],
    ),
    (
        "never-comes",
        "crontab = 0 0 31 2 * /bin/true\n",
        ["Error: [clock] crontab: the schedule '0 0 31 2 *' never matches a date"],
    ),
    (
        "long-credentials",
        "jobs = /site/@@a 1h\ncredentials = long\n",
        ["Error: [clock] credentials: user:password from [long] is 61 bytes"],
    ),
]


@pytest.mark.parametrize(
    "options, fragments", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors_are_one_message_without_a_traceback(site, options, fragments):
    parts = (
        "[clock]\nrecipe = collective.recipe.clockserver\n"
        + options
        + "\n[long]\nuser = %s\npassword = %s\n" % ("u" * 30, "p" * 30)
    )
    status, output = site.run(parts, "clock")
    assert status == 1, output
    assert "Traceback" not in output and "SyntaxError" not in output, output
    assert "ImportError" not in output, output
    for fragment in fragments:
        assert fragment in output, output


def test_the_sdist_installs_too(stack, release, tmp_path):
    site = Site(stack, tmp_path, release["sdist"])
    status, output = site.run(
        "[clock]\nrecipe = collective.recipe.clockserver\n"
        "jobs = /site/@@update-feeds 1h\ncredentials = clock-credentials\n",
        "clock",
    )
    assert status == 0, output
    assert "Traceback" not in output, output
    # runner/ (Python 3 only) is left out when setuptools 44 builds it.
    assert "SyntaxError" not in output, output
    assert "Got %s %s." % (NAME, VERSION) in output
    assert (
        site.read("parts", "clock", "clock-server.conf")
        == INCLUDE.split("# site-cleanup")[0]
    )


def test_the_warnings_of_the_zserver_options(site):
    """An open secret.cfg, a period under 30 s; -vv shows no password."""
    os.chmod(site.path("secret.cfg"), 0o644)
    try:
        status, output = site.run(
            "[clock]\nrecipe = collective.recipe.clockserver\n"
            "credentials = clock-credentials\njobs = /site/@@often 10s\n",
            "clock",
        )
    finally:
        os.chmod(site.path("secret.cfg"), 0o600)
    assert_clean(status, output)
    secret = site.path("secret.cfg")
    assert (
        "clock: Warning: job site-often runs every 10 s; ZServer's clock "
        "checks only every 30 s"
    ) in output
    assert (
        "clock: Warning: %s holds a password and is readable by group or "
        "others (mode 644); run: chmod 600 %s" % (secret, secret)
    ) in output
    status, output = run(
        [site.stack.buildout, "-vv", "-c", "buildout.cfg"], cwd=site.directory
    )
    assert status == 0, output
    assert "Configuration data:" in output
    assert PASSWORD not in output and PASSWORD.replace("$", "$$") not in output
    assert "password s3cr$$t%#x" in site.read("parts", "clock", "clock-server.conf")


# Runs on Python 2.7 with the recipe egg the site installed: each case's
# sections as buildout 2 hands them in (byte strings) -> the message.
SAME_MESSAGES = r"""
import glob, json, sys
eggs, cases = sys.argv[1:3]
sys.path[:0] = glob.glob(eggs + "/*.egg")
from collective.recipe.clockserver import settings
from collective.recipe.clockserver.errors import ConfigError

def native(value):
    if isinstance(value, dict):
        return dict((native(k), native(v)) for k, v in value.items())
    return value.encode("utf-8")

found = []
for sections in json.load(open(cases)):
    try:
        s = settings.read(native(sections), "clock")
        found.append(["ok", [w.decode("utf-8") for w in s.warnings]])
    except ConfigError as e:
        found.append(["error", e.message("clock").decode("utf-8")])
print(json.dumps(found))
"""


def test_python_2_gives_the_same_messages_as_the_settings_cases(site, tmp_path):
    """Every case of tests/test_settings.py, read on Python 2.7 by the
    installed egg, gives the message Python 3 gives with python2=True."""
    import test_settings
    from collective.recipe.clockserver import settings
    from collective.recipe.clockserver.errors import ConfigError

    (tmp_path / "secret.cfg").write_text(test_settings.SECRET)
    (tmp_path / "a.prom").mkdir()
    cases = [(options, secret) for _, options, secret, _ in test_settings.OPTION_ERRORS]
    cases += [
        (options, test_settings.MONITORING_SECRET)
        for _, options, _ in test_settings.MONITORING_ERRORS
    ]
    cases += [
        (test_settings.LOCK_SITE + extra, secret)
        for extra, secret, _ in test_settings.LOCK_ERRORS
    ]
    cases += [
        (options, test_settings.SECRET) for _, options, _ in test_settings.BAD_VALUES
    ]
    cases += [
        (
            "backend = zserver\ncredentials = clock-credentials\n"
            "jobs = /a 10s\n    /b 1h host=www.example.org:8080\n"
            "zeopack = 0 1 * * 6\ncrontab = @daily /bin/backup\n"
            "crontab-file = var/crontab\ninline = true\n",
            test_settings.SECRET,
        )
    ]
    sections = [test_settings.sections(tmp_path, *case) for case in cases]
    expected = []
    for each in sections:
        try:
            found = settings.read(each, "clock", python2=True)
            expected.append(["ok", found.warnings])
        except ConfigError as e:
            expected.append(["error", e.message("clock")])
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(sections))
    status, output = run([site.stack.python, "-c", SAME_MESSAGES, site.eggs, path])
    assert status == 0, output
    found = json.loads(output.splitlines()[-1])
    assert len(found) == len(expected) > 80
    for case, want, got in zip(cases, expected, found, strict=True):
        assert got == want, case
