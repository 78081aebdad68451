"""The release files: the sdist is complete, the wheel is built from it, both
pass twine's checks, install with pip, and a real buildout takes the recipe
from either of them through find-links, with no package index."""

import ast
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "collective.recipe.clockserver"
# What the recipe needs beside itself, for the buildout venv; zc.buildout 6.0.
BUILDOUT_DEPENDENCIES = [
    "zc.buildout>=6,<6.1",
    "zc.recipe.egg",
    "z3c.recipe.usercrontab",
    "ZConfig",
    "cronsim",
]
# Tracked files the sdist leaves out on purpose.
NOT_IN_SDIST = {".gitignore"}

pytestmark = pytest.mark.slow  # a wheel, a new venv, a fresh buildout


def run(*args, **kwargs):
    result = subprocess.run(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        **kwargs,
    )
    assert result.returncode == 0, "%s\n%s" % (" ".join(map(str, args)), result.stdout)
    return result.stdout


def tracked_files():
    """The files git tracks in the checkout, or None outside a checkout."""
    if not os.path.isdir(os.path.join(TOP, ".git")) and not os.path.isfile(
        os.path.join(TOP, ".git")
    ):
        return None
    try:
        output = subprocess.run(
            ["git", "ls-files", "-z"],
            cwd=TOP,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {
        f
        for f in output.decode().split("\0")
        if f and os.path.exists(os.path.join(TOP, f))
    }


def copy_checkout(source):
    """The files git tracks (or, outside git, the checkout less what a
    checkout makes) copied to ``source``: what a release is built from."""
    files = tracked_files()
    if files is None:
        shutil.copytree(
            TOP,
            source,
            ignore=shutil.ignore_patterns(
                ".venv*",
                ".git",
                "build",
                "dist",
                "*.egg-info",
                "__pycache__",
                "*.pyc",
                "secret.cfg",
                "bin",
                "parts",
                "eggs",
                "develop-eggs",
                "var",
            ),
        )
        return
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(TOP, name), source / name)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """sdist and wheel, as `python -m build` makes them: the sdist from a
    copy of the checkout, the wheel from the unpacked sdist."""
    pytest.importorskip("build")
    work = tmp_path_factory.mktemp("release")
    source = work / "source"
    copy_checkout(source)
    out = work / "dist"
    run(sys.executable, "-m", "build", "-o", str(out), str(source))
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel, "work": work}


def test_file_names_keep_the_dots_and_the_wheel_is_universal(dist):
    # setuptools 44 (Python 2.7 buildouts) matches only names with the dots.
    assert dist["sdist"].name.startswith(NAME + "-")
    assert dist["wheel"].name.startswith(NAME + "-")
    assert dist["wheel"].name.endswith("-py2.py3-none-any.whl")


def test_twine_check_strict(dist):
    pytest.importorskip("twine")
    output = run(
        sys.executable,
        "-m",
        "twine",
        "check",
        "--strict",
        str(dist["sdist"]),
        str(dist["wheel"]),
    )
    assert output.count("PASSED") == 2, output


def sdist_members(sdist):
    with tarfile.open(sdist) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
    return {name.split("/", 1)[1] for name in names}


def test_the_sdist_holds_every_tracked_file(dist):
    files = tracked_files()
    if files is None:
        pytest.skip("not a git checkout")
    members = sdist_members(dist["sdist"])
    missing = sorted(files - NOT_IN_SDIST - members)
    assert not missing, "MANIFEST.in leaves out: %s" % missing
    for needed in (
        "README.rst",
        "CHANGES.rst",
        "LICENSE.txt",
        "setup.py",
        "pyproject.toml",
        "src/collective/recipe/clockserver/clock-server.xml",
    ):
        assert needed in members
    assert any(m.startswith("docs/") for m in members)
    # Nothing a checkout makes: no secret, no venv, no buildout state.
    for member in members:
        parts = member.split("/")
        assert "secret.cfg" not in parts, member
        assert not parts[0].startswith(".venv"), member
        assert ".installed.cfg" not in parts, member


def test_the_wheel_holds_the_schema_and_pkgutil_namespaces(dist):
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = set(wheel.namelist())
        assert "collective/recipe/clockserver/clock-server.xml" in names
        for init in ("collective/__init__.py", "collective/recipe/__init__.py"):
            # Python 2 has no PEP 420 namespace packages.
            assert b"extend_path" in wheel.read(init)
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = wheel.read(metadata).decode()
        (entry_points,) = [
            n for n in names if n.endswith(".dist-info/entry_points.txt")
        ]
        scripts = wheel.read(entry_points).decode()
    assert metadata.startswith(NAME + "-")
    assert "Requires-Python: !=3.0.*" in text or "Requires-Python: >=2.7" in text
    assert 'cronsim>=2.6; python_version >= "3"' in text
    assert "clockserver-convert = collective.recipe.clockserver.convert:main" in scripts
    assert "default = collective.recipe.clockserver.recipe:Recipe" in scripts


@pytest.fixture(scope="module")
def buildout_venv(dist):
    """A venv with zc.buildout 6 and the recipe's dependencies, but not the
    recipe: buildout has to take it from find-links."""
    venv = dist["work"] / "buildout-venv"
    run(sys.executable, "-m", "venv", str(venv))
    run(
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        *BUILDOUT_DEPENDENCIES,
    )
    return venv


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_pip_installs_the_release_file(dist, kind, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    run(python, "-m", "pip", "install", "-q", str(dist[kind]))
    output = run(
        python,
        "-c",
        textwrap.dedent("""
        from importlib.metadata import entry_points, version
        import collective.recipe.clockserver.recipe
        print(version("collective.recipe.clockserver"))
        print(sorted(e.value for e in entry_points(group="zc.buildout")))
        """),
    )
    assert "collective.recipe.clockserver.recipe:Recipe" in output
    assert (venv / "bin" / "clockserver-convert").exists()


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_a_fresh_buildout_takes_the_recipe_from_find_links(
    dist, buildout_venv, kind, tmp_path
):
    links = tmp_path / "links"
    links.mkdir()
    shutil.copy(dist[kind], links)
    # No package index reached: pip, which buildout calls, neither.
    env = dict(os.environ, PIP_NO_INDEX="1")
    if kind == "sdist":
        # pip builds the sdist in an isolated environment: an offline site
        # needs the build requirements of pyproject.toml in find-links.
        run(
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "-d",
            str(links),
            "--only-binary",
            ":all:",
            "setuptools>=64,<69.3",
            "wheel",
        )
        env["PIP_FIND_LINKS"] = str(links)
    (tmp_path / "noindex").mkdir()
    site = tmp_path / "site"
    site.mkdir()
    (site / "buildout.cfg").write_text(
        textwrap.dedent("""
        [buildout]
        parts = clock wsgi-clock
        find-links = {links}
        index = {noindex}
        newest = false

        [clock]
        recipe = collective.recipe.clockserver
        backend = zserver
        jobs = /site/update 1h

        [wsgi-clock]
        recipe = collective.recipe.clockserver
        backend = runner
        address = 8080
        jobs = /site/update 1h
        """).format(links=links, noindex=tmp_path / "noindex")
    )
    output = run(str(buildout_venv / "bin" / "buildout"), cwd=site, env=env)
    assert "Got collective.recipe.clockserver" in output
    eggs = [name for _, dirs, _ in os.walk(site / "eggs") for name in dirs]
    assert any(e.startswith(NAME + "-") for e in eggs), eggs
    # The schema file travelled: the blocks were checked against it.
    assert (
        "method /site/update"
        in (site / "parts" / "clock" / "clock-server.conf").read_text()
    )
    listing = run(str(site / "bin" / "wsgi-clock"), "list")
    assert "site-update" in listing


def pyproject():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(os.path.join(TOP, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def setup_py_metadata():
    """setup.py's METADATA (for setuptools < 61), read without running it."""
    with open(os.path.join(TOP, "setup.py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "METADATA":
            return ast.literal_eval(node.value)
    raise AssertionError("no METADATA in setup.py")


def test_setup_py_says_what_pyproject_says():
    """Python 2.7's setuptools 44 reads setup.py, newer ones pyproject.toml:
    the same package either way."""
    project = pyproject()["project"]
    old = setup_py_metadata()
    assert old["name"] == project["name"]
    assert old["version"] == project["version"]
    assert old["description"] == project["description"]
    assert old["license"] == project["license"]["text"]
    assert old["python_requires"].replace(" ", "") == project[
        "requires-python"
    ].replace(" ", "")
    assert old["install_requires"] == project["dependencies"]
    assert old["extras_require"] == project["optional-dependencies"]
    scripts = ["%s = %s" % item for item in project["scripts"].items()]
    assert old["entry_points"]["console_scripts"] == scripts
    for group in ("zc.buildout", "zc.buildout.uninstall"):
        entries = ["%s = %s" % item for item in project["entry-points"][group].items()]
        assert old["entry_points"][group] == entries
