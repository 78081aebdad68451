"""The example's live Plone 6 setup (example/live/live.cfg), built for tests.

Plain helpers, no pytest. Plone 6.2 (on Zope 6.3, its ~240 packages) lives
in a venv of its own, ``.venv-plone`` (tools/plone-venv,
tests/plone-constraints.txt), apart from the plain Zope of the test venv;
``CLOCKSERVER_PLONE_VENV`` names another. Its bin/buildout builds, offline,
a copy of example/ (buildout.cfg, production.cfg, live/) with a
``test.cfg`` that extends live.cfg: other
ports, the test views of tests/plone_views, and the clock parts under test.

Then: the ZEO server (``parts/zeoserver/bin/runzeo``, see zeoserver.py),
``bin/client1 run create_site.py ../secret.cfg`` (the Plone site and the
clock's Zope root user) and ``bin/client2 console`` (zopeinstance.py), each
stopped by PID.
"""

import glob
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
EXAMPLE = os.path.join(TOP, "example")
VIEWS_DIR = os.path.join(HERE, "plone_views")
PLONE_VENV = os.environ.get("CLOCKSERVER_PLONE_VENV") or os.path.join(
    TOP, ".venv-plone"
)
PLONE_BUILDOUT = os.path.join(PLONE_VENV, "bin", "buildout")

SITE_ID = "Plone"

# The test views (tests/plone_views/clocktestviews.py), for zcml-additional.
VIEWS_ZCML = "\n".join(
    '<browser:page xmlns:browser="http://namespaces.zope.org/browser" for="*"'
    ' name="%s" class="clocktestviews.%s" permission="cmf.ManagePortal" />'
    % (name, cls)
    for name, cls in [
        ("clock-write", "WriteOptedOut"),
        ("clock-write-html", "WriteHTML"),
        ("clock-write-text", "WriteText"),
        ("clock-state", "State"),
    ]
)


class PloneError(RuntimeError):
    """Building the Plone buildout or creating the site failed."""


def plone_available():
    """True when .venv-plone has bin/buildout and Plone (Products.CMFPlone)."""
    found = glob.glob(
        os.path.join(
            PLONE_VENV,
            "lib",
            "python3*",
            "site-packages",
            "[Pp]roducts[._][Cc][Mm][Ff][Pp]lone-*",
        )
    )
    return os.path.exists(PLONE_BUILDOUT) and bool(found)


def plone_required():
    """Whether a missing Plone stack must fail the Plone tests, not skip them:
    in CI (``CI`` set, as every CI service does) whatever else is set, and
    under ./run-tests, which installs the stack first
    (``CLOCKSERVER_REQUIRE_PLONE=1``; ``0`` lets them skip)."""
    yes = ("1", "true", "yes", "on")
    if os.environ.get("CI", "").strip().lower() in yes:
        return True
    return os.environ.get("CLOCKSERVER_REQUIRE_PLONE", "").strip().lower() in yes


def clean_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def copy_example(directory, user, password):
    """Copy example/ (configs and live/ sources, nothing built) to
    ``directory`` and write its secret.cfg (mode 0600); return live/'s path."""
    for name in ("buildout.cfg", "production.cfg"):
        shutil.copy(os.path.join(EXAMPLE, name), directory)
    live = os.path.join(directory, "live")
    os.makedirs(live)
    for name in os.listdir(os.path.join(EXAMPLE, "live")):
        if name.endswith((".cfg", ".py")):
            shutil.copy(os.path.join(EXAMPLE, "live", name), live)
    secret = os.path.join(directory, "secret.cfg")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("[clock-credentials]\nuser = %s\npassword = %s\n" % (user, password))
    return live


def indent(text):
    return "\n".join("    " + line for line in text.splitlines())


def build(live, config_text, name="test.cfg"):
    """Write ``config_text`` as live/``name`` and run the Plone venv's
    bin/buildout on it (offline). Raises ``PloneError`` with the output."""
    with open(os.path.join(live, name), "w") as f:
        f.write(config_text)
    result = subprocess.run(
        [PLONE_BUILDOUT, "-U", "-c", name],
        cwd=live,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise PloneError(
            "bin/buildout -c %s failed with exit code %d in %s:\n%s"
            % (name, result.returncode, live, result.stdout)
        )
    return result.stdout


def create_site(live, secret_cfg="../secret.cfg", site_id=SITE_ID, timeout=600):
    """``bin/client1 run create_site.py``: the site and the clock's user."""
    result = subprocess.run(
        [
            os.path.join(live, "bin", "client1"),
            "run",
            "create_site.py",
            secret_cfg,
            site_id,
        ],
        cwd=live,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise PloneError(
            "bin/client1 run create_site.py failed with exit code "
            "%d:\n%s" % (result.returncode, result.stdout)
        )
    return result.stdout


def event_log(live, part="client2"):
    """The part's event log (Plone's log lines) so far."""
    try:
        with open(
            os.path.join(live, "var", "log", "%s.log" % part), errors="replace"
        ) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def pinned(constraints, name):
    """The version a constraints file (tests/*-constraints.txt) pins."""
    wanted = name.lower()
    with open(os.path.join(HERE, constraints)) as f:
        for line in f:
            pin = line.split("#")[0].strip()
            if pin.lower().startswith(wanted + "=="):
                return pin.split("==", 1)[1]
    return None


def plone_venv_version(name):
    """The version of distribution NAME installed in the Plone venv."""
    result = subprocess.run(
        [
            os.path.join(PLONE_VENV, "bin", "python"),
            "-c",
            "import importlib.metadata, sys; "
            "print(importlib.metadata.version(sys.argv[1]))",
            name,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    return result.stdout.strip()
