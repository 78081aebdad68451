"""Whatever the recipe accepts, bin/<part> runs; whatever it cannot run, the
recipe refuses with the contract's error (issue 17).

Hypothesis writes job lines (methods of any length and character, names,
hosts, periods), credentials, ping URLs and paths; the pure settings
reader either raises ConfigError or gives a config file that the
runner's loader (runner/config.py) loads, whose names bin/<part> can
record and whose ``list`` runs.  Then real bin/buildout and bin/<part>
list with long and odd methods.
"""

import json
import os
import shlex
import subprocess
import time

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from collective.recipe.clockserver import settings as settingslib
from collective.recipe.clockserver import values
from collective.recipe.clockserver.errors import ConfigError
from collective.recipe.clockserver.runner.config import parse_config
from collective.recipe.clockserver.runner.listing import listing
from collective.recipe.clockserver.runner.records import valid_name

ODD = st.sampled_from(
    [
        "\x00",
        "\x01",
        "\x1b",
        "\x7f",
        "\x85",
        "\x9b",
        "\u2028",
        "\u2029",
        "\t",
        "\r",
        " ",
        "\xa0",
        "é",
        "☃",
        "%",
        "$",
        "'",
        '"',
        "\\",
        "#",
        "?",
        "&",
        "=",
        ":",
        "@",
        "[",
        "]",
        "/",
        ".",
    ]
)
SAFE = st.text(st.sampled_from("abcXYZ019-_./%?=&@+~"), max_size=30)
TEXT = st.one_of(
    SAFE,
    SAFE,
    SAFE,
    SAFE,
    st.text(
        st.one_of(st.characters(), ODD, st.sampled_from("abcXYZ019-_./")), max_size=30
    ),
)
LONG = st.builds(
    lambda base, n: base * n,
    st.text(st.sampled_from("ab/?=&@._-é"), min_size=1, max_size=8),
    st.integers(1, 120),
)
METHOD = st.one_of(
    st.builds(lambda t: "/" + t, TEXT),
    st.builds(lambda t: "/" + t, LONG),
    st.just("/Plone/@@search?" + "portal_type=Document&" * 20),
)
PERIOD = st.sampled_from(["60", "1h", "1d", "15m", "1w", "5m"] * 4 + ["0", "-5", "90s"])
HOST = st.one_of(
    st.sampled_from(
        [
            "example.org",
            "mobi.example:8080",
            "[::1]:80",
            "127.0.0.1",
            "xn--hllo-bpa.example",
        ]
    ),
    SAFE,
    TEXT,
)
NAME = st.one_of(st.sampled_from(["feeds", "a" * 200, "a" * 201, "-x", "x.y_z"]), TEXT)
PATH = st.one_of(st.builds(lambda t: "/tmp/state-" + t, TEXT), st.just("var/x\x00y"))


def quoted(word, quote):
    return shlex.quote(word) if quote else word


@st.composite
def job_lines(draw):
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        words = [
            draw(st.one_of(METHOD, st.builds(lambda t: "/" + t, SAFE))),
            draw(PERIOD),
        ]
        if draw(st.booleans()):
            words.append("name=" + draw(NAME))
        if draw(st.booleans()):
            words.append("host=" + draw(HOST))
        quote = draw(st.booleans())
        lines.append(" ".join(quoted(w, quote) for w in words))
    return "\n".join(lines)


@st.composite
def part_sections(draw, directory):
    part = {
        "backend": draw(st.sampled_from(["runner", "cron"])),
        "address": draw(
            st.sampled_from(["8080", "127.0.0.1:8080", "https://[::1]:443"])
        ),
        "jobs": draw(job_lines()),
    }
    found = {
        "clock": part,
        "buildout": {
            "directory": directory,
            "bin-directory": os.path.join(directory, "bin"),
            "parts-directory": os.path.join(directory, "parts"),
        },
    }
    if draw(st.booleans()):
        part["credentials"] = "cc"
        found["cc"] = {
            "user": draw(st.one_of(st.just("zopeuser"), TEXT)),
            "password": draw(st.one_of(st.just("s3cret"), TEXT)),
        }
    if draw(st.booleans()):
        part["state-directory"] = draw(PATH)
    if draw(st.booleans()):
        part["metrics-file"] = draw(PATH) + ".prom"
    part["crontab"] = "0 3 * * * /usr/bin/" + draw(
        st.one_of(st.just("backup"), st.just("backup"), TEXT, LONG)
    )
    if draw(st.booleans()):
        part["pings"] = "pp"
        url = draw(
            st.one_of(
                st.sampled_from(
                    [
                        "https://hc-ping.com/0b5e55ed-1f0c-4c4e-9d6c-2a4a1d6b7e01",
                        "HTTP://hc-ping.com/x",
                        "https://hc.example/ping/key/slug",
                    ]
                ),
                st.builds(lambda t: "https://hc-ping.com/" + t, TEXT),
            )
        )
        found["pp"] = {"backup": url}
    return found


def strip(found):
    """As buildout hands values over: stripped."""
    return {
        name: {key: value.strip() for key, value in section.items()}
        for name, section in found.items()
    }


@settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
@example(data=None)
def test_what_the_recipe_accepts_the_runner_loads(tmp_path, data):
    directory = str(tmp_path)
    if data is None:  # the known cases of issue 17
        found = {
            "clock": {
                "backend": "runner",
                "address": "8080",
                "jobs": "/" + "a" * 300 + " 1h\n/x\x01y 1h",
                "state-directory": "var/x\x00y",
            },
            "buildout": {
                "directory": directory,
                "bin-directory": os.path.join(directory, "bin"),
                "parts-directory": os.path.join(directory, "parts"),
            },
        }
    else:
        found = strip(data.draw(part_sections(directory)))
    try:
        s = settingslib.read(found, "clock")
    except ConfigError as exc:
        event("refused: " + exc.option + ": " + exc.problem.split("(")[0][:40])
        message = exc.message("clock")
        assert message.startswith("[clock] ")
        assert "\x00" not in message and "\x1b" not in message
        return
    event("accepted")
    config = parse_config(json.loads(json.dumps(s.to_json())))  # BadConfig: a bug
    for name in [job.name for job in config.jobs] + [e.name for e in config.entries]:
        assert valid_name(name) and len(name) <= values.MAX_NAME, name
    assert listing(config, time.time())
    if config.state_directory:
        assert "\x00" not in config.state_directory


def test_long_methods_get_bounded_stable_distinct_names(tmp_path):
    base = "/Plone/@@search?" + "portal_type=Document&" * 20
    found = {
        "clock": {
            "backend": "runner",
            "address": "8080",
            "jobs": "%s1 1h\n%s2 1h\n%s1 2h" % (base, base, base),
        },
        "buildout": {
            "directory": str(tmp_path),
            "bin-directory": str(tmp_path),
            "parts-directory": str(tmp_path),
        },
    }
    names = [job.name for job in settingslib.read(found, "clock").jobs]
    assert len(set(names)) == 3 and all(len(n) <= values.MAX_NAME for n in names)
    again = [job.name for job in settingslib.read(found, "clock").jobs]
    assert names == again  # stable: records and pings keep their names
    assert names[2].endswith("-2")


# -- through a real bin/buildout and bin/<part> ---------------------------------------


def part(options):
    return (
        "[buildout]\nparts = clock\n\n[clock]\n"
        "recipe = collective.recipe.clockserver\nbackend = runner\n"
        "address = 127.0.0.1:8080\n" + options
    )


LONG_METHOD = "/Plone/@@search?" + "&".join("portal_type=Type%d" % i for i in range(30))


@pytest.mark.parametrize(
    "jobs",
    [
        LONG_METHOD + " 1h",
        LONG_METHOD + " 1h\n    " + LONG_METHOD + "&x=1 1h",
        "/site/%C3%A9t%C3%A9?q=%01&name=%27it%27s%27 15m",
        "'/site/@@view?q=a%20b&c=$$HOME' 1h name=" + "n" * 200,
        "/caf\u00e9/\u2603?q=\u00e9 1h",
    ],
)
def test_buildout_accepts_long_and_odd_methods_and_bin_part_lists_them(buildout, jobs):
    buildout.write("buildout.cfg", part("jobs = " + jobs + "\n"))
    result = buildout.run()
    assert result.ok, result.output
    assert "Traceback" not in result.output
    listed = subprocess.run(
        [buildout.path("bin", "clock"), "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""
    fired = subprocess.run(
        [buildout.path("bin", "clock"), "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert fired.returncode in (0, 3) and "Traceback" not in fired.stderr, fired


@pytest.mark.parametrize(
    "options, fragments",
    [
        (
            "jobs = /" + "a" * 199 + " 1h name=" + "b" * 201 + "\n",
            [
                "[clock] jobs:",
                "is longer than 200 characters",
                "at most 200 characters",
            ],
        ),
        (
            "jobs = /site/a\x01b 1h\n",
            ["[clock] jobs:", "U+0001", "/site/a\\x01b 1h", "percent-encoded (%01)"],
        ),
        ("jobs = /site/a\x1b[31mred 1h\n", ["[clock] jobs:", "U+001B", "\\x1b[31mred"]),
        (
            "jobs = /site/a 1h\nstate-directory = var/x\x00y\n",
            ["[clock] state-directory:", "NUL", "var/x\\x00y"],
        ),
        (
            "jobs = /site/a 1h\nmetrics-file = var/x\x00y.prom\n",
            ["[clock] metrics-file:", "NUL"],
        ),
    ],
)
def test_buildout_refuses_what_bin_part_cannot_run(buildout, options, fragments):
    buildout.write("buildout.cfg", part(options))
    result = buildout.run()
    assert result.returncode != 0
    assert "Traceback" not in result.output and "internal error" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output
    assert "\x1b[31m" not in result.output and "\x01" not in result.output
