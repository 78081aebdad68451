"""A real bin/buildout in a temporary directory, and a stand-in crontab."""

import configparser
import dataclasses
import fcntl
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap

import pytest

# PostgreSQL, Redis and ZEO servers for the lock tests (session fixtures).
pytest_plugins = ["lockservices"]

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
BUILDOUT = os.path.join(BIN, "buildout")

# How buildout quotes white space in .installed.cfg.
SPACEY = [("%(__buildout_space__)s", " "), ("%(__buildout_space_n__)s", "\n")]

FAKE_CRONTAB = """\
#!/bin/sh
# Stand-in for crontab(1): keeps the table in $FAKE_CRONTAB_TABLE.
# FAKE_CRONTAB_FAIL: "read" makes -l fail, "hang" makes - hang, any other
# non-empty value makes - fail as crontab does on a bad line.
echo "$*" >> "$FAKE_CRONTAB_TABLE.log"
case "$1" in
  -l) if [ "$FAKE_CRONTAB_FAIL" = read ]; then
        echo "crontab: your UID isn't in the passwd file. bailing out." >&2
        exit 1; fi
      if [ -f "$FAKE_CRONTAB_TABLE" ]; then cat "$FAKE_CRONTAB_TABLE";
      else echo "no crontab for $(id -un)" >&2; exit 1; fi ;;
  -) case "$FAKE_CRONTAB_FAIL" in
       ""|read) cat > "$FAKE_CRONTAB_TABLE" ;;
       hang) exec sleep 30 ;;
       *) cat > /dev/null
          echo '"-":3: bad minute' >&2
          echo "errors in crontab file, can't install." >&2
          exit 2 ;;
     esac ;;
  *) echo "fake crontab: unexpected arguments $*" >&2; exit 64 ;;
esac
"""


@dataclasses.dataclass
class Result:
    returncode: int
    output: str

    @property
    def ok(self):
        return self.returncode == 0


class Buildout:
    """A buildout directory; ``run`` calls the real bin/buildout in it."""

    def __init__(self, directory, env):
        self.directory = str(directory)
        self.env = env

    def path(self, *names):
        return os.path.join(self.directory, *names)

    def write(self, name, text, mode=None):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text).lstrip("\n"))
        if mode is not None:
            os.chmod(path, mode)
        return path

    def read(self, *names):
        with open(self.path(*names)) as f:
            return f.read()

    def exists(self, *names):
        return os.path.exists(self.path(*names))

    def mode(self, *names):
        return stat.S_IMODE(os.stat(self.path(*names)).st_mode)

    def run(self, config="buildout.cfg", *args):
        result = subprocess.run(
            [BUILDOUT, "-o", "-c", config, *args],
            cwd=self.directory, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=300,
        )
        return Result(result.returncode, result.stdout)

    def installed(self):
        path = self.path(".installed.cfg")
        return self.read(".installed.cfg") if os.path.exists(path) else ""

    def installed_options(self, part):
        """A part's options as buildout saved them in .installed.cfg."""
        parser = configparser.RawConfigParser(strict=False)
        parser.optionxform = str
        parser.read_string(self.installed())
        if not parser.has_section(part):
            return None
        options = {}
        for key, value in parser[part].items():
            for quoted, plain in SPACEY:
                value = value.replace(quoted, plain)
            options[key] = value
        return options

    def all_text(self, *exclude):
        """Every text file below the buildout, for secret hunting."""
        found = {}
        for root, dirs, files in os.walk(self.directory):
            dirs[:] = [d for d in dirs if d not in ("eggs", "develop-eggs")]
            for name in files:
                path = os.path.join(root, name)
                if name in exclude:
                    continue
                try:
                    with open(path) as f:
                        found[os.path.relpath(path, self.directory)] = f.read()
                except (UnicodeDecodeError, OSError):
                    pass
        return found


class FakeCrontab:
    """crontab(1) stand-in on PATH; the table is a file."""

    def __init__(self, directory):
        self.bin = os.path.join(directory, "fakebin")
        os.makedirs(self.bin)
        self.table = os.path.join(directory, "crontab.table")
        self.command = os.path.join(self.bin, "crontab")
        with open(self.command, "w") as f:
            f.write(FAKE_CRONTAB)
        os.chmod(self.command, 0o755)

    def env(self, env):
        env = dict(env)
        env["PATH"] = self.bin + os.pathsep + env.get("PATH", "")
        env["FAKE_CRONTAB_TABLE"] = self.table
        return env

    def set(self, text):
        with open(self.table, "w") as f:
            f.write(text)

    def text(self):
        if not os.path.exists(self.table):
            return None
        with open(self.table) as f:
            return f.read()

    def write_bytes(self, data):
        with open(self.table, "wb") as f:
            f.write(data)

    def read_bytes(self):
        """The table byte for byte, or None when there is no crontab."""
        if not os.path.exists(self.table):
            return None
        with open(self.table, "rb") as f:
            return f.read()

    def calls(self):
        log = self.table + ".log"
        if not os.path.exists(log):
            return []
        with open(log) as f:
            return f.read().splitlines()


@pytest.fixture(autouse=True)
def private_lock_directory(tmp_path_factory, monkeypatch):
    """The per-user crontab lock of each test in a directory of its own, so
    that test suites running at once never wait for each other's lock."""
    directory = tmp_path_factory.mktemp("locks") / "lock"
    monkeypatch.setenv("CLOCKSERVER_LOCK_DIR", str(directory))
    return str(directory)


@pytest.fixture
def fake_crontab(tmp_path):
    return FakeCrontab(str(tmp_path))


@pytest.fixture
def buildout(tmp_path, fake_crontab):
    """A buildout directory whose crontab is the stand-in (never the user's)."""
    directory = tmp_path / "buildout"
    directory.mkdir()
    env = fake_crontab.env(os.environ)
    env.pop("PYTHONPATH", None)
    return Buildout(directory, env)


class RealCrontab:
    """The machine's crontab(1) and the current user's crontab."""

    def __init__(self, command):
        self.command = command

    def run(self, *args, data=None):
        return subprocess.run([self.command, *args], input=data,
                              capture_output=True, timeout=30)

    def read_bytes(self):
        result = self.run("-l")
        assert result.returncode == 0, result.stderr
        return result.stdout

    def write_bytes(self, data):
        result = self.run("-", data=data)
        assert result.returncode == 0, result.stderr


@pytest.fixture
def real_crontab():
    """The user's real crontab, saved before the test and restored after.

    Tests that use it run one at a time even across processes (an flock),
    since they all share the one crontab of the user. They run only when
    asked: CLOCKSERVER_REAL_CRONTAB=1 (CI sets it), so that ./run-tests
    never touches the crontab of the person running it.
    """
    if os.environ.get("CLOCKSERVER_REAL_CRONTAB") != "1":
        pytest.skip("the real crontab is used only with "
                    "CLOCKSERVER_REAL_CRONTAB=1 (CI sets it)")
    command = shutil.which("crontab")
    if command is None:
        # Asked for (CI): .ci/run installs cron, so a missing crontab is a
        # failure there, never a silent skip.
        pytest.fail("CLOCKSERVER_REAL_CRONTAB=1 but no crontab command on "
                    "this machine (Debian: apt-get install cron)")
    lock_path = os.path.join(tempfile.gettempdir(),
                             "collective.recipe.clockserver-crontab.lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        crontab = RealCrontab(command)
        saved = crontab.run("-l")
        if saved.returncode == 0:
            original = saved.stdout
        elif b"no crontab for" in saved.stderr:
            original = None
        else:
            pytest.skip("crontab -l fails here: %r" % saved.stderr)
        try:
            yield crontab
        finally:
            if original is None:
                crontab.run("-r")
                left = crontab.run("-l")
                assert left.returncode == 1, "could not remove the test crontab"
            else:
                crontab.write_bytes(original)
