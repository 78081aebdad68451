"""A misspelt option name: the known option it is closest to."""

import os
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collective.recipe.clockserver import optionnames
from collective.recipe.clockserver.optionnames import (
    KNOWN,
    OPTIONS,
    closest,
    distance,
    suggestions,
    warning,
)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("", "", 0),
        ("abc", "", 3),
        ("zeopak", "zeopack", 1),
        ("hots", "host", 1),  # a swap of neighbours counts once
        ("ca", "abc", 3),  # optimal string alignment, not unrestricted
        ("credential", "credentials", 1),
        ("lokc", "lock", 1),
        ("kitten", "sitting", 3),
    ],
)
def test_distance(a, b, expected):
    assert distance(a, b) == expected
    assert distance(b, a) == expected


@pytest.mark.parametrize(
    "typo, meant",
    [
        ("zeopak", "zeopack"),
        ("credential", "credentials"),
        ("hots", "host"),
        ("job", "jobs"),
        ("lock-namepsace", "lock-namespace"),
        ("metric-file", "metrics-file"),
        ("catchup", "catch-up"),
        ("crontab_file", "crontab-file"),
        ("timezon", "timezone"),
        ("enabeld", "enabled"),
        ("retrie", "retries"),
    ],
)
def test_close_typos_are_named(typo, meant):
    assert closest(typo) == meant
    assert suggestions([typo]) == [(typo, meant)]


@pytest.mark.parametrize(
    "name",
    [
        "x",
        "zzzzzz",
        "hostname-of-site",
        "lk",
        "my-own-option",
    ],
)
def test_far_names_get_no_suggestion(name):
    assert suggestions([name]) == []


def test_short_names_allow_one_edit_only():
    # "lock" has four letters: two edits away is no longer a typo of it.
    assert distance("lxxk", "lock") == 2
    assert closest("lxxk") is None
    # longer names allow two
    assert closest("zopack") == "zeopack"
    assert closest("zeopcak-command") == "zeopack-command"


def test_known_names_are_never_reported():
    assert suggestions(sorted(KNOWN)) == []


def test_warning_names_part_option_and_guess():
    text = warning("clock", "zeopak", "zeopack")
    assert text == (
        "Section `clock` contains unknown option 'zeopak': did you mean zeopack?"
    )


@given(st.sampled_from(OPTIONS), st.data())
def test_one_edit_of_a_long_option_is_always_caught(option, data):
    # Any deletion of one letter from an option is a typo of some option
    # at distance 1 (possibly another one equally close, never none).
    i = data.draw(st.integers(0, len(option) - 1))
    typo = option[:i] + option[i + 1 :]
    if typo in KNOWN or not typo:
        return
    guess = closest(typo)
    assert guess is not None
    assert distance(typo, guess) <= distance(typo, option)


def test_runs_on_python_2():
    python2 = os.path.expanduser("~/.pyenv/versions/2.7.18/bin/python")
    if not os.path.exists(python2):
        if os.environ.get("CI"):
            pytest.fail("CI: Python 2.7 is needed for the recipe's Python 2 leg")
        pytest.skip("no Python 2.7 here")
    source = os.path.dirname(optionnames.__file__)
    out = subprocess.run(
        [
            python2,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "import optionnames as o; print(o.suggestions(['zeopak'])[0][1])",
            source,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "zeopack"
