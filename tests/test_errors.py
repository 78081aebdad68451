"""Every bad input: a clear ``Error:`` from bin/buildout, nothing written."""

import pytest

from buildouts import FOREIGN, SECRET, clock_part

# (id, part options, secret.cfg, fragments the message must contain)
# A few of each kind end to end; every case, and these, on the pure reader
# in test_settings.py (OPTION_ERRORS).
CASES = [
    (
        "relative-method",
        "jobs = site/update 1h\n",
        SECRET,
        [
            "[clock] jobs:",
            "'site/update' is not a path from the Zope root",
            "site/update 1h",
            "Start the method with '/', e.g. /site/update",
        ],
    ),
    (
        "missing-credentials-section",
        "backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n",
        "",
        [
            "[clock] credentials:",
            "the credentials section [clock-credentials] is not defined",
            "Create it in secret.cfg (chmod 600, never committed)",
            "    [clock-credentials]\n    user = zopeuser\n"
            "    password = <the password>",
        ],
    ),
    (
        "bad-address",
        "backend = runner\naddress = localhost:http\njobs = /a 1h\n",
        SECRET,
        ["[clock] address:", "'localhost:http' is not PORT or HOST:PORT", "HOST:PORT"],
    ),
    (
        "unused-part-credentials",
        "backend = zserver\ncredentials = nosuch\n"
        "jobs = /a 1h credentials=clock-credentials\n",
        SECRET,
        ["[clock] credentials:", "the credentials section [nosuch] is not defined"],
    ),
    (
        "crontab-file-directory",
        "crontab-file = secret.cfg/crontab\nzeopack = 0 1 * * 6\n",
        SECRET,
        [
            "[clock] crontab-file:",
            "secret.cfg/crontab cannot be used: Not a directory",
            "Set crontab-file to a regular file",
        ],
    ),
    (
        "bad-boolean",
        "inline = maybe\njobs = /a 1h\n",
        SECRET,
        ["[clock] inline:", "not a boolean", "true or false"],
    ),
    (
        "zeopack-hour-25",
        "zeopack = 0 25 * * 6\n",
        SECRET,
        ["[clock] zeopack:", "0 25 * * 6", "25", "0-23"],
    ),
    (
        "cron-period-not-cron",
        "backend = cron\naddress = 8080\njobs = /site/update 7m\n",
        SECRET,
        [
            "[clock] jobs:",
            "a period of 420 s cannot be written as a cron schedule",
            "/site/update 7m",
            "times='0 3 * * *'",
            "backend = runner",
        ],
    ),
]


@pytest.mark.parametrize(
    "options, secret, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_clear_error(buildout, fake_crontab, options, secret, fragments):
    fake_crontab.set(FOREIGN)
    buildout.write("secret.cfg", secret, mode=0o600)
    buildout.write("buildout.cfg", clock_part(options))
    result = buildout.run()
    assert result.returncode != 0
    assert "Error: " in result.output
    assert "Traceback" not in result.output
    assert "An internal error occurred" not in result.output
    for fragment in fragments:
        assert fragment in result.output
    # Nothing written: no part files, not recorded, crontab untouched.
    assert not buildout.exists("parts", "clock")
    assert not buildout.exists("bin", "clock")
    assert "[clock]" not in buildout.installed()
    assert fake_crontab.text() == FOREIGN
    assert "-" not in fake_crontab.calls()


def test_an_error_keeps_the_previous_installation(buildout):
    """A mistake in a re-run leaves the installed part as it was."""
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write(
        "buildout.cfg",
        clock_part(
            "backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n"
        ),
    )
    assert buildout.run().ok
    before = buildout.read("parts", "clock", "clock-server.conf")
    buildout.write(
        "buildout.cfg",
        clock_part(
            "backend = zserver\ncredentials = clock-credentials\njobs = /a 1x\n"
        ),
    )
    result = buildout.run()
    assert result.returncode != 0
    assert "bad period '1x'" in result.output
    assert buildout.read("parts", "clock", "clock-server.conf") == before
