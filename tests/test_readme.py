"""The README is the user's manual: it starts with the two commands, has one
heading per option, points only to docs/ pages that exist, and it, the
changelog and the docs/ pages render without a docutils warning."""

import glob
import os
import re

import pytest

from collective.recipe.clockserver.optionnames import OPTIONS

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(TOP, name), encoding="utf-8") as f:
        return f.read()


def headings(text, underline):
    """The section titles underlined with ``underline`` characters."""
    lines = text.splitlines()
    return [
        title
        for title, below in zip(lines, lines[1:], strict=False)
        if title.strip()
        and len(below) >= len(title)
        and below == underline * len(below)
    ]


def test_every_option_has_a_heading_of_its_own():
    options = [
        title[2:-2]
        for title in headings(read("README.rst"), "~")
        if title.startswith("``")
    ]
    assert sorted(options) == sorted(OPTIONS)
    assert len(options) == len(set(options))


def test_the_readme_starts_with_the_two_commands():
    readme = read("README.rst")
    first_block = readme.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["./run-example", "./run-tests"]
    before = readme.split("::\n\n", 1)[0]
    assert before.count("\n\n") == 1, "only the title and one paragraph before them"
    for command in commands:
        assert os.access(os.path.join(TOP, command), os.X_OK), command


def test_the_readme_names_only_docs_that_exist():
    named = set(re.findall(r"docs/[\w-]+\.rst", read("README.rst")))
    assert named
    for name in named:
        assert os.path.exists(os.path.join(TOP, name)), name


def test_the_changelog_is_a_first_release():
    changes = read("CHANGES.rst")
    assert "1.0.0 (unreleased)\n------------------\n\n- Initial release." in changes
    assert len(changes.splitlines()) <= 45


def render(text, source):
    docutils_core = pytest.importorskip("docutils.core")
    from docutils.writers import null

    # halt_level 2: the first warning is an error (as twine check --strict).
    docutils_core.publish_string(
        text,
        source_path=source,
        writer=null.Writer(),
        settings_overrides={"halt_level": 2, "report_level": 2},
    )


@pytest.mark.parametrize(
    "name",
    ["README.rst", "CHANGES.rst"]
    + sorted(
        os.path.relpath(p, TOP) for p in glob.glob(os.path.join(TOP, "docs", "*.rst"))
    ),
)
def test_renders_without_warnings(name):
    render(read(name), name)


def test_the_long_description_renders_without_warnings():
    # setup.py and pyproject.toml join the two files.
    render(read("README.rst") + "\n\n" + read("CHANGES.rst"), "long_description")
