"""The private zc.buildout details buildoutcompat.py relies on, checked
against the installed zc.buildout (CI runs the versions we support)."""

import logging

import pytest
import zc.buildout.buildout

from collective.recipe.clockserver.buildoutcompat import annotated, dumps_configuration


@pytest.fixture
def root_level():
    root = logging.getLogger()
    level = root.level
    yield root
    root.setLevel(level)


def make_buildout(tmp_path, verbosity=0):
    (tmp_path / "secret.cfg").write_text("[creds]\npassword = s3cret\n")
    (tmp_path / "buildout.cfg").write_text(
        "[buildout]\nextends = secret.cfg\nparts =\n\n"
        "[creds]\nuser = zopeuser\nalias = ${creds:password}\n"
    )
    options = [
        ("buildout", "directory", str(tmp_path)),
        ("buildout", "offline", "true"),
    ]
    if verbosity:
        options.append(("buildout", "verbosity", str(verbosity)))
    return zc.buildout.buildout.Buildout(str(tmp_path / "buildout.cfg"), options, False)


def test_annotated_says_which_file_holds_each_option(tmp_path, root_level):
    found = annotated(make_buildout(tmp_path))
    password = found["creds"]["password"]
    assert password.value == "s3cret"
    assert password.source == str(tmp_path / "secret.cfg")
    assert found["creds"]["alias"].value == "${creds:password}"
    assert annotated({"creds": {}}) == {}  # a plain mapping keeps none


def test_dumps_configuration_follows_the_verbosity(tmp_path, root_level):
    make_buildout(tmp_path)
    assert not dumps_configuration()
    make_buildout(tmp_path, verbosity=20)  # bin/buildout -vv
    assert dumps_configuration()
