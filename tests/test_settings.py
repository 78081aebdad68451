"""The option errors on the pure settings reader: no bin/buildout, milliseconds each.

Each case is the part's options and secret.cfg as a user writes them; the
message is the one bin/buildout prints after ``Error: `` (a few cases per
kind stay end to end in test_errors.py, test_monitoring_recipe.py,
test_recipe_lock.py and test_recipe_hard_cases.py).
"""

import configparser
import os

import pytest

from collective.recipe.clockserver import settings
from collective.recipe.clockserver.errors import ConfigError

SECRET = """
[clock-credentials]
user = zopeuser
password = secret
"""
MONITORING_SECRET = """
[clock-credentials]
user = zopeuser
password = s3cr3t-Pa55

[clock-pings]
backup = https://hc-ping.example/1f0c-ping-uuid
"""
LOCK_SECRET = """
[lock-credentials]
user = clock
password = L0ck-s3cret-pw
"""
LOCK_SITE = (
    "backend = runner\naddress = 127.0.0.1:8080\njobs = /site/@@update-feeds  15m\n"
)


def sections(directory, options, secret=""):
    """The part ``clock`` and secret.cfg's sections, as buildout reads them
    (``${buildout:directory}`` is the only substitution the cases use)."""
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str
    text = "[clock]\n%s\n%s" % (options, secret)
    parser.read_string(text.replace("${buildout:directory}", str(directory)))
    found = {
        name: {key: value.strip() for key, value in parser[name].items()}
        for name in parser.sections()
    }
    found["buildout"] = {
        "directory": str(directory),
        "bin-directory": os.path.join(str(directory), "bin"),
        "parts-directory": os.path.join(str(directory), "parts"),
    }
    return found


def read(directory, options, secret="", **kwargs):
    return settings.read(sections(directory, options, secret), "clock", **kwargs)


def error(directory, options, secret=""):
    with pytest.raises(ConfigError) as info:
        read(directory, options, secret)
    return info.value.message("clock")


# (id, part options, secret.cfg, fragments the message must contain)
OPTION_ERRORS = [
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
        "missing-period",
        "jobs = /site/update\n",
        SECRET,
        [
            "[clock] jobs:",
            "a job needs a method and a period",
            "/site/update",
            "METHOD PERIOD",
        ],
    ),
    (
        "period-0",
        "jobs = /site/update 0\n",
        SECRET,
        ["[clock] jobs:", "bad period '0'", "/site/update 0", "90s, 15m"],
    ),
    (
        "period-negative",
        "jobs = /site/update -5\n",
        SECRET,
        ["[clock] jobs:", "bad period '-5'", "/site/update -5", "1h30m"],
    ),
    (
        "period-abc",
        "jobs = /site/update abc\n",
        SECRET,
        ["[clock] jobs:", "bad period 'abc'", "seconds (3600)"],
    ),
    (
        "period-5x",
        "jobs = /site/update 5x\n",
        SECRET,
        ["[clock] jobs:", "bad period '5x'", "units s m h d w"],
    ),
    (
        "period-unit-twice",
        "jobs = /site/update 1h1h\n",
        SECRET,
        ["[clock] jobs:", "bad period '1h1h'"],
    ),
    (
        "unknown-key",
        "jobs = /site/update 1h color=red\n",
        SECRET,
        [
            "[clock] jobs:",
            "unknown job key 'color'",
            "/site/update 1h color=red",
            "Known keys: name=, host=, credentials=, times=",
        ],
    ),
    (
        "bare-word",
        "jobs = /site/update 1h extra\n",
        SECRET,
        ["[clock] jobs:", "unknown job key 'extra'"],
    ),
    (
        "unclosed-quote",
        "jobs = /site/update 1h times='0 1 * *\n",
        SECRET,
        ["[clock] jobs:", "cannot split the line", "Close the quote"],
    ),
    (
        "method-space",
        "jobs = '/site/my view' 1h\n",
        SECRET,
        ["[clock] jobs:", "contains white space", "%20"],
    ),
    (
        "duplicate-name",
        "jobs =\n    /a 1h name=update\n    /b 1h name=update\n",
        SECRET,
        [
            "[clock] jobs:",
            "duplicate job name 'update'",
            "/b 1h name=update",
            "also used by: /a 1h name=update",
            "Give each job its own name=",
        ],
    ),
    (
        "bad-job-host",
        "jobs = /a 1h host=http://www.example.org/\n",
        SECRET,
        [
            "[clock] jobs:",
            "'http://www.example.org/' is not a host name",
            "/a 1h host=http://www.example.org/",
            "www.example.org:8080",
        ],
    ),
    (
        "bad-part-host",
        "host = www example org\njobs = /a 1h\n",
        SECRET,
        ["[clock] host:", "'www example org' is not a host name"],
    ),
    (
        "bad-name",
        "jobs = /a 1h name=-x\n",
        SECRET,
        ["[clock] jobs:", "the job name '-x' is not usable"],
    ),
    (
        "user-without-password",
        "backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n",
        "[clock-credentials]\nuser = zopeuser\n",
        [
            "[clock] credentials:",
            "[clock-credentials] has a user but no password",
            "Add 'password = ...' to [clock-credentials]",
        ],
    ),
    (
        "password-without-user",
        "backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n",
        "[clock-credentials]\npassword = secret\n",
        [
            "[clock] credentials:",
            "[clock-credentials] has a password but no user",
            "Add 'user = ...' to [clock-credentials]",
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
        "missing-job-credentials-section",
        "backend = zserver\njobs = /a 1h credentials=nowhere\n",
        SECRET,
        [
            "[clock] jobs:",
            "the credentials section [nowhere] is not defined",
            "/a 1h credentials=nowhere",
            "    [nowhere]\n    user = zopeuser",
        ],
    ),
    (
        "user-with-colon",
        "backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n",
        "[clock-credentials]\nuser = zope:user\npassword = secret\n",
        ["[clock] credentials:", "contains ':'"],
    ),
    (
        "zserver-long-credentials",
        "backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n",
        "[clock-credentials]\nuser = zopeuser\npassword = %s\n" % ("x" * 50),
        [
            "[clock] credentials:",
            "user:password from [clock-credentials] is 59 bytes",
            "above 57 bytes",
            "runner backend",
        ],
    ),
    (
        "unknown-backend",
        "backend = celery\njobs = /a 1h\n",
        SECRET,
        [
            "[clock] backend:",
            "unknown backend 'celery'",
            "Use zserver",
            "runner",
            "cron",
        ],
    ),
    (
        "runner-without-address",
        "backend = runner\njobs = /a 1h\n",
        SECRET,
        [
            "[clock] address:",
            "the runner backend needs the address",
            "address = ${instance:http-address}",
        ],
    ),
    (
        "cron-without-address",
        "backend = cron\njobs = /a 1h\n",
        SECRET,
        ["[clock] address:", "the cron backend needs the address"],
    ),
    (
        "bad-address",
        "backend = runner\naddress = localhost:http\njobs = /a 1h\n",
        SECRET,
        ["[clock] address:", "'localhost:http' is not PORT or HOST:PORT", "HOST:PORT"],
    ),
    (
        "address-with-password",
        "backend = runner\naddress = admin:secret@localhost:8080\njobs = /a 1h\n",
        SECRET,
        [
            "[clock] address:",
            "the address holds a user name or password",
            "credentials section (secret.cfg)",
        ],
    ),
    (
        "bad-address-on-zserver",
        "address = localhost:http\njobs = /a 1h\n",
        SECRET,
        ["[clock] address:", "is not PORT or HOST:PORT"],
    ),
    (
        "times-checked-on-zserver",
        "jobs = /a 1h times='99 * * * *'\n",
        SECRET,
        ["[clock] jobs:", "minute 99 is out of range 0-59", "/a 1h times='99 * * * *'"],
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
        "huge-period",
        "jobs = /a 1000000000w\n",
        SECRET,
        ["[clock] jobs:", "bad period '1000000000w'", "at most"],
    ),
    (
        "bad-timeout",
        "backend = runner\naddress = 8080\ntimeout = soon\njobs = /a 1h\n",
        SECRET,
        ["[clock] timeout:", "bad timeout 'soon'", "timeout = 300"],
    ),
    (
        "concurrency-0",
        "backend = runner\naddress = 8080\nconcurrency = 0\njobs = /a 1h\n",
        SECRET,
        ["[clock] concurrency:", "bad concurrency '0'", "concurrency = 4"],
    ),
    (
        "concurrency-negative",
        "concurrency = -1\njobs = /a 1h\n",
        SECRET,
        ["[clock] concurrency:", "bad concurrency '-1'", "a whole number"],
    ),
    (
        "concurrency-word",
        "backend = runner\naddress = 8080\nconcurrency = many\njobs = /a 1h\n",
        SECRET,
        ["[clock] concurrency:", "bad concurrency 'many'"],
    ),
    (
        "concurrency-float",
        "backend = runner\naddress = 8080\nconcurrency = 2.5\njobs = /a 1h\n",
        SECRET,
        ["[clock] concurrency:", "bad concurrency '2.5'"],
    ),
    (
        "concurrency-empty",
        "backend = runner\naddress = 8080\nconcurrency =\njobs = /a 1h\n",
        SECRET,
        ["[clock] concurrency:", "bad concurrency ''"],
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
        "zeopack-four-fields",
        "zeopack = 0 1 * *\n",
        SECRET,
        ["[clock] zeopack:", "0 1 * *"],
    ),
    (
        "crontab-bad-line",
        "crontab =\n    0 3 * * * /backup.sh\n    @fortnightly /other.sh\n",
        SECRET,
        ["[clock] crontab:", "@fortnightly /other.sh"],
    ),
    (
        "crontab-no-command",
        "crontab = 0 3 * * *\n",
        SECRET,
        ["[clock] crontab:", "0 3 * * *"],
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
    (
        "cron-bad-times",
        "backend = cron\naddress = 8080\njobs = /site/update 1h times='61 * * * *'\n",
        SECRET,
        ["[clock] jobs:", "61", "0-59"],
    ),
]

CRON = "backend = cron\naddress = 8080\n"
MONITORING_ERRORS = [
    (
        "monitor",
        "monitor = maybe\n",
        ["[clock] monitor:", "'maybe' is not a boolean", "Write true or false."],
    ),
    (
        "catch-up",
        "backend = zserver\ncatch-up = yes\njobs = /a 1h\n",
        ["[clock] catch-up:", "'yes' is not a boolean", "Write true or false."],
    ),
    (
        "grace",
        "backend = zserver\ngrace = soon\njobs = /a 1h\n",
        ["[clock] grace:", "bad grace 'soon'", "10m, 1h"],
    ),
    (
        "grace-0",
        "backend = zserver\ngrace = 0\njobs = /a 1h\n",
        ["[clock] grace:", "bad grace '0'"],
    ),
    (
        "job-grace",
        "jobs = /a 1h grace=5x\n",
        ["[clock] jobs:", "bad grace '5x'", "/a 1h grace=5x"],
    ),
    (
        "job-catch-up",
        "jobs = /a 1h catch-up=sure\n",
        ["[clock] jobs:", "catch-up=sure is not a boolean", "catch-up=true"],
    ),
    (
        "metrics-file",
        "backend = zserver\nmetrics-file = var/clock.txt\njobs = /a 1h\n",
        ["[clock] metrics-file:", "does not end in .prom", "textfile"],
    ),
    (
        "metrics-file-dir",
        "backend = zserver\nmetrics-file = ${buildout:directory}/a.prom\njobs = /a 1h\n",
        ["[clock] metrics-file:", "is a directory"],
    ),
    (
        "state-directory",
        "state-directory = ${buildout:directory}/secret.cfg\n",
        ["[clock] state-directory:", "exists and is not a directory"],
    ),
    (
        "pings-missing",
        "pings = nosuch-pings\ncrontab = 0 3 * * * /bin/backup\n",
        [
            "[clock] pings:",
            "the pings section [nosuch-pings] is not defined",
            "[nosuch-pings]",
            "backup = https://hc-ping.com/<uuid>",
        ],
    ),
    (
        "pings-unknown-name",
        "backend = zserver\npings = clock-pings\njobs = /a 1h\n",
        [
            "[clock] pings:",
            "'backup' is no job or entry of this part",
            "Use one of: a.",
        ],
    ),
    (
        "never-matches-crontab",
        "crontab = 0 0 31 2 * /bin/backup\n",
        ["[clock] crontab:", "'0 0 31 2 *'", "never matches", "February"],
    ),
    (
        "never-matches-zeopack",
        "zeopack = 0 0 30 2 *\n",
        ["[clock] zeopack:", "never matches"],
    ),
    (
        "never-matches-times",
        CRON + "jobs = /a 1h times='0 0 31 4 *'\n",
        ["[clock] jobs:", "never matches", "/a 1h times='0 0 31 4 *'"],
    ),
    (
        "bad-ping-url",
        "pings = p\ncrontab = 0 3 * * * /bin/backup\n",
        ["[clock] pings:", "the ping URL of backup is not an http(s) URL"],
    ),
]

LOCK_ERRORS = [
    (
        "lock = mysql://db.example.org/zodb",
        LOCK_SECRET,
        [
            "[clock] lock: unknown lock service 'mysql'",
            "mysql://db.example.org/zodb",
            "postgresql://HOST[:PORT]/DB",
        ],
    ),
    (
        "lock = postgresql://clock:Sup3rSecret@db.example.org/zodb",
        LOCK_SECRET,
        [
            "[clock] lock: the URL holds a password",
            "postgresql://clock:***@db.example.org/zodb",
            "lock-credentials",
        ],
    ),
    (
        "lock = redis:///2",
        LOCK_SECRET,
        ["[clock] lock: the URL names no host", "redis:///2"],
    ),
    (
        "lock = zeo://zeo.example.org",
        LOCK_SECRET,
        ["[clock] lock: the URL names no port", "zeo-address"],
    ),
    (
        "lock = postgresql://db.example.org/zodb\nlock-credentials = nosuch",
        LOCK_SECRET,
        [
            "[clock] lock-credentials: the lock-credentials section "
            "[nosuch] is not defined",
            "    [nosuch]",
            "~/.pgpass",
        ],
    ),
    (
        "lock = redis://cache\nlock-credentials = lock-credentials",
        "[lock-credentials]\nuser = clock\n",
        [
            "[clock] lock-credentials: the lock-credentials section [lock-credentials] "
            "has a user but no password"
        ],
    ),
    (
        "lock = postgresql://db/zodb\nlock-credentials = lock-credentials",
        "[lock-credentials]\npassword = Sup3rSecret\n",
        ["has a password but no user"],
    ),
    (
        "lock = postgresql://db/zodb\nlock-credentials = lock-credentials",
        "[lock-credentials]\nfoo = bar\n",
        ["has neither user nor password", "    [lock-credentials]"],
    ),
    (
        "lock = zeo://zeo:8100\nlock-credentials = lock-credentials",
        LOCK_SECRET,
        ["[clock] lock-credentials: a ZEO server has no users or passwords"],
    ),
    (
        "lock = redis://cache\nlock-namespace = two words",
        LOCK_SECRET,
        ["[clock] lock-namespace: a namespace is one word"],
    ),
    # One host validator (address.py) for address, host and the lock URL.
    (
        "lock = redis://999.1.1.1",
        LOCK_SECRET,
        [
            "[clock] lock: bad host '999.1.1.1' in the URL",
            "'999.1.1.1' is not an IPv4 address",
        ],
    ),
    (
        "lock = redis://1.2.3",
        LOCK_SECRET,
        ["[clock] lock: bad host '1.2.3' in the URL", "is not an IPv4 address"],
    ),
    (
        "lock = postgresql://01.2.3.4/zodb",
        LOCK_SECRET,
        ["[clock] lock: bad host '01.2.3.4' in the URL", "is not an IPv4 address"],
    ),
    (
        "lock = zeo://-bad.example:8100",
        LOCK_SECRET,
        [
            "[clock] lock: bad host '-bad.example' in the URL",
            "the label '-bad' starts or ends with '-'",
        ],
    ),
]

BAD_VALUES = [
    (
        "address",
        "backend = runner\naddress = 70000\njobs = /a 1h\n",
        "70000 is not a port number (1-65535)",
    ),
    (
        "address",
        "backend = cron\naddress = zope:99999\njobs = /a 1h\n",
        "99999 is not a port number (1-65535)",
    ),
    (
        "address",
        "backend = runner\naddress = 256.1.1.1:8080\njobs = /a 1h\n",
        "'256.1.1.1' is not an IPv4 address",
    ),
    (
        "address",
        "backend = runner\naddress = [::g]:8080\njobs = /a 1h\n",
        "'[::g]' is not an IPv6 address",
    ),
    (
        "address",
        "backend = runner\naddress = zope_1:8080\njobs = /a 1h\n",
        "'_' is not allowed in a host name",
    ),
    (
        "address",
        "address = -zope-:8080\njobs = /a 1h\n",  # zserver: checked
        "the label '-zope-' starts or ends with '-'",
    ),
    (
        "host",
        "host = www.example.org:0\njobs = /a 1h\n",
        "0 is not a port number (1-65535)",
    ),
    (
        "host",
        "host = bücher.example\njobs = /a 1h\n",
        "is not ASCII; an HTTP header carries ASCII only",
    ),
    (
        "host",
        "host = %s.example.org\njobs = /a 1h\n" % ("a" * 64),
        "has a label of 64 characters, at most 63 are allowed",
    ),
    ("jobs", "jobs = /a 1h host=10.0.0.300\n", "'10.0.0.300' is not an IPv4 address"),
    (
        "jobs",
        "jobs = /a 1h host=[2001:db8::1]:65536\n",
        "65536 is not a port number (1-65535)",
    ),
    (
        "jobs",
        "jobs = /a 1h host=2001:db8::1\n",
        "an IPv6 address must be written in brackets",
    ),
    # The same verdicts as the lock URL's (see LOCK_ERRORS).
    (
        "address",
        "backend = runner\naddress = 999.1.1.1:8080\njobs = /a 1h\n",
        "'999.1.1.1' is not an IPv4 address",
    ),
    (
        "address",
        "backend = runner\naddress = 1.2.3:8080\njobs = /a 1h\n",
        "'1.2.3' is not an IPv4 address",
    ),
    ("host", "host = 01.2.3.4\njobs = /a 1h\n", "'01.2.3.4' is not an IPv4 address"),
    (
        "jobs",
        "jobs = /a 1h host=-bad.example\n",
        "the label '-bad' starts or ends with '-'",
    ),
]


@pytest.mark.parametrize(
    "options, secret, fragments",
    [c[1:] for c in OPTION_ERRORS],
    ids=[c[0] for c in OPTION_ERRORS],
)
def test_bad_option_is_a_clear_error(tmp_path, options, secret, fragments):
    (tmp_path / "secret.cfg").write_text(secret)
    message = error(tmp_path, options, secret)
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    "options, fragments",
    [c[1:] for c in MONITORING_ERRORS],
    ids=[c[0] for c in MONITORING_ERRORS],
)
def test_bad_monitoring_option(tmp_path, options, fragments):
    (tmp_path / "secret.cfg").write_text(MONITORING_SECRET)
    (tmp_path / "a.prom").mkdir()
    secret = MONITORING_SECRET + "\n[p]\nbackup = ftp://x/1f0c-ping-uuid\n"
    message = error(tmp_path, options, secret)
    for fragment in fragments:
        assert fragment in message, message
    assert "1f0c-ping-uuid" not in message


@pytest.mark.parametrize("extra, secret, fragments", LOCK_ERRORS)
def test_bad_lock_option(tmp_path, extra, secret, fragments):
    message = error(tmp_path, LOCK_SITE + extra, secret)
    for fragment in fragments:
        assert fragment in message, message
    assert "Sup3rSecret" not in message
    assert "L0ck-s3cret-pw" not in message


@pytest.mark.parametrize(
    "option, options, problem",
    BAD_VALUES,
    ids=["%s-%d" % (case[0], i) for i, case in enumerate(BAD_VALUES)],
)
def test_bad_address_or_host(tmp_path, option, options, problem):
    message = error(tmp_path, options, SECRET)
    assert message.startswith("[clock] %s: " % option)
    assert problem in message
    assert "HOST:PORT" in message or "www.example.org:8080" in message


def test_disabled_part_checks_the_lock_url_but_needs_no_credentials(tmp_path):
    found = read(
        tmp_path,
        LOCK_SITE + "enabled = false\nlock = redis://cache\n"
        "lock-credentials = not-on-this-host\nlock-namespace = s",
    )
    assert found.lock is None and found.entries == []
    assert "unknown lock service 'mysql'" in error(
        tmp_path, LOCK_SITE + "enabled = false\nlock = mysql://db/x"
    )


# -- what a good part reads to ----------------------------------------------------


def test_runner_part_reads_to_one_settings_value(tmp_path):
    found = read(
        tmp_path,
        "backend = runner\naddress = 8080\n"
        "credentials = clock-credentials\ngrace = 10m\n"
        "jobs =\n    /a 1h grace=5m catch-up=true\n    /b 90s\n",
        SECRET,
    )
    assert (found.backend, found.address, found.timeout, found.concurrency) == (
        "runner",
        "http://127.0.0.1:8080",
        300,
        4,
    )
    a, b = found.jobs
    assert (a.name, a.period, a.grace, a.catch_up) == ("a", 3600, 300, True)
    assert (b.name, b.grace, b.catch_up) == ("b", None, None)
    assert [c.user for _, c in found.calls] == ["zopeuser", "zopeuser"]
    assert found.grace == 600
    assert found.needs_script and found.watched == ["a", "b"]
    assert found.config_file == str(tmp_path / "parts" / "clock" / "clock.json")
    assert found.script == str(tmp_path / "bin" / "clock")
    config = found.to_json()
    assert config["jobs"][0] == {
        "name": "a",
        "method": "/a",
        "period": 3600,
        "host": None,
        "user": "zopeuser",
        "password": "secret",
        "grace": 300,
        "catch-up": True,
    }
    assert "secret" not in repr(found)


# (part options, whether ${clock:script} is set): DESIGN.md, Outputs.
SCRIPT_OUTPUT = [
    ("backend = runner\naddress = 8080\njobs = /a 1h\n", True),
    ("backend = cron\naddress = 8080\njobs = /a 1h\n", True),
    ("backend = runner\nenabled = false\naddress = 8080\njobs = /a 1h\n", True),
    ("backend = zserver\njobs = /a 1h\n", False),
    ("backend = zserver\njobs = /a 1h\nzeopack = 0 1 * * 6\n", True),
    ("backend = zserver\nenabled = false\ncrontab = @daily /bin/backup\n", True),
    ("backend = zserver\nmonitor = false\ncrontab = @daily /bin/backup\n", False),
    ("backend = zserver\nenabled = false\n", False),
]


@pytest.mark.parametrize("options, script", SCRIPT_OUTPUT)
def test_script_is_an_output_only_where_the_part_has_a_bin_part(
    tmp_path, options, script
):
    found = read(tmp_path, options)
    outputs = dict(found.outputs())
    assert found.has_script is script
    assert outputs.get("script") == (
        str(tmp_path / "bin" / "clock") if script else None
    )
    assert found.needs_script is (script and found.enabled)
    assert outputs["location"] == str(tmp_path / "parts" / "clock")
    assert outputs["state-directory"] == str(tmp_path / "var" / "clock")


def test_deferred_secrets_are_read_in_a_second_step(tmp_path):
    """``bin/buildout -vv``: the sections must exist, their values are read
    when installing."""
    options = (
        "backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n"
        "lock = redis://cache\nlock-credentials = lock-credentials\n"
        "lock-namespace = s\n"
    )
    found = read(tmp_path, options, SECRET + LOCK_SECRET, defer_secrets=True)
    assert found.deferred
    assert [c.anonymous for _, c in found.calls] == [True]
    assert found.lock.password is None
    settings.read_secrets(found, sections(tmp_path, options, SECRET + LOCK_SECRET))
    assert not found.deferred
    assert [c.user for _, c in found.calls] == ["zopeuser"]
    assert found.lock.password == "L0ck-s3cret-pw"
    assert "password secret" in found.blocks
    message = error(tmp_path, "backend = zserver\ncredentials = nosuch\njobs = /a 1h\n")
    assert "the credentials section [nosuch] is not defined" in message


# -- option names: a typo warns, naming the option meant ---------------------


def test_a_misspelt_option_warns_with_the_option_meant(tmp_path):
    found = read(
        tmp_path,
        "backend = zserver\njobs = /site/@@feeds 1h\n"
        "zeopak = 0 1 * * 6\ncredential = clock-credentials\n",
    )
    assert (
        "Section `clock` contains unknown option 'credential': "
        "did you mean credentials?"
    ) in found.warnings
    assert (
        "Section `clock` contains unknown option 'zeopak': did you mean zeopack?"
    ) in found.warnings
    assert found.entries == []  # the entry the user meant is indeed missing


def test_known_and_far_options_get_no_typo_warning(tmp_path):
    found = read(
        tmp_path,
        "backend = zserver\njobs = /site/@@feeds 1h\n"
        "zeopack = 0 1 * * 6\nmy-own-note = x\n",
    )
    assert not [w for w in found.warnings if "did you mean" in w]


# -- the default backend and Python 2 (DESIGN: Where ZServer lives) ---------------


def test_the_default_backend_on_python_3_is_runner(tmp_path):
    found = read(tmp_path, "address = 8080\njobs = /a 1h\n")
    assert found.backend == "runner" and found.needs_script
    assert found.warnings == []


def test_a_part_without_jobs_needs_no_address(tmp_path):
    found = read(tmp_path, "zeopack = 0 1 * * 6\n")
    assert (found.backend, found.address) == ("runner", None)
    assert found.to_json()["address"] is None
    found = read(tmp_path, "backend = cron\ncrontab = @daily /bin/true\n")
    assert (found.backend, found.address) == ("cron", None)


def test_a_part_written_for_the_old_default_is_told_what_changed(tmp_path):
    message = error(tmp_path, "credentials = clock-credentials\njobs = /a 1h\n", SECRET)
    assert message == (
        "[clock] address: the default backend is now runner (bin/clock run "
        "calls the jobs of a WSGI Zope), and it needs the address of the Zope "
        "instance\nSet address = ${client1:http-address} (the instance to "
        "call), or backend = zserver to keep writing <clock-server> blocks "
        "for a ZServer (Python 2) Zope."
    )
    # An explicit runner or cron keeps its own message.
    message = error(tmp_path, "backend = cron\njobs = /a 1h\n")
    assert message.startswith(
        "[clock] address: the cron backend needs the address of the Zope instance"
    )


def test_explicit_zserver_on_python_3_builds_the_blocks_and_warns(tmp_path):
    found = read(
        tmp_path,
        "backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n",
        SECRET,
    )
    assert found.backend == "zserver" and "method /a" in found.blocks
    assert found.warnings == [settings.ZSERVER_ON_PYTHON3]
    assert "only a ZServer (Python 2) Zope accepts" in settings.ZSERVER_ON_PYTHON3
    assert "backend = runner" in settings.ZSERVER_ON_PYTHON3
    # Nothing to warn about without blocks; never on Python 2.
    assert read(tmp_path, "backend = zserver\nzeopack = 0 1 * * 6\n").warnings == []
    assert (
        read(tmp_path, "backend = zserver\nenabled = false\njobs = /a 1h\n").warnings
        == []
    )
    assert (
        read(tmp_path, "backend = zserver\njobs = /a 1h\n", python2=True).warnings == []
    )


def test_on_python_2_zserver_is_the_default_and_nothing_is_monitored(tmp_path):
    found = read(
        tmp_path,
        "credentials = clock-credentials\njobs = /a 1h\n"
        "zeopack = 0 1 * * 6\ncrontab = @daily /bin/backup\n",
        SECRET,
        python2=True,
    )
    assert (found.backend, found.monitor, found.needs_script) == (
        "zserver",
        False,
        False,
    )
    assert found.entries == [
        "0 1 * * 6 %s" % (tmp_path / "bin" / "zeopack"),
        "@daily /bin/backup",
    ]
    assert "user zopeuser" in found.blocks and found.warnings == []
    # No bin/<part> on Python 2, so no ${clock:script} to point at one.
    assert not found.has_script
    assert "script" not in dict(found.outputs())


# Each set to its default is accepted on Python 2.
PYTHON2_DEFAULTS = [
    "backend = zserver",
    "monitor = false",
    "catch-up = false",
    "timeout = 300",
    "timeout = 5m",
    "retries = 0",
    "spread = 0",
    "jobs = /a 1h catch-up=false",
]


@pytest.mark.parametrize("option", PYTHON2_DEFAULTS)
def test_python_2_accepts_the_defaults_of_what_bin_part_uses(tmp_path, option):
    options = option + "\n" + ("" if option.startswith("jobs") else "jobs = /a 1h\n")
    assert read(tmp_path, options, python2=True).backend == "zserver"


# (option as written, what the message starts with after "[clock] ")
PYTHON2_ERRORS = [
    ("backend = runner\naddress = 8080", "backend: backend = runner needs Python 3"),
    ("backend = cron\naddress = 8080", "backend: backend = cron needs Python 3"),
    ("monitor = true", "monitor: monitor = true needs Python 3"),
    ("lock = redis://:pw@cache", "lock: lock needs Python 3"),
    ("pings = clock-pings", "pings: pings needs Python 3"),
    ("metrics-file = var/clock.prom", "metrics-file: metrics-file needs Python 3"),
    ("timezone = Europe/Amsterdam", "timezone: timezone needs Python 3"),
    ("spread = 5m", "spread: spread needs Python 3"),
    ("retries = 2", "retries: retries needs Python 3"),
    ("timeout = 10", "timeout: timeout needs Python 3"),
    ("grace = 10m", "grace: grace needs Python 3"),
    ("catch-up = true", "catch-up: catch-up = true needs Python 3"),
    ("jobs = /b 1h times='0 1 * * *'", "jobs: times= needs Python 3"),
    ("jobs = /b 1h grace=5m", "jobs: grace= needs Python 3"),
    ("jobs = /b 1h catch-up=true", "jobs: catch-up= needs Python 3"),
]


@pytest.mark.parametrize(
    "option, start", PYTHON2_ERRORS, ids=[c[0].split("\n")[0] for c in PYTHON2_ERRORS]
)
def test_python_2_refuses_what_only_bin_part_uses(tmp_path, option, start):
    options = option + "\n" + ("" if option.startswith("jobs") else "jobs = /a 1h\n")
    with pytest.raises(ConfigError) as info:
        read(tmp_path, options, SECRET, python2=True)
    message = info.value.message("clock")
    assert message.startswith(
        "[clock] " + start + ": only bin/clock uses it, "
        "and bin/clock runs on Python 3.10+\n"
    ), message
    assert "This buildout runs on Python 2 (a ZServer site)" in message
    assert "run buildout on Python 3.10+, where bin/clock runs." in message
    assert ":pw@" not in message  # the lock URL is masked
    # On Python 3 the same option is no such error.
    try:
        read(tmp_path, "backend = runner\naddress = 8080\n" + options, SECRET)
    except ConfigError as e:
        assert "needs Python 3" not in str(e)


def test_python_2_leaves_bad_values_to_their_own_checks(tmp_path):
    for options, problem in [
        ("backend = ftp\n", "unknown backend 'ftp'"),
        ("monitor = maybe\n", "'maybe' is not a boolean"),
        ("catch-up = yes\n", "'yes' is not a boolean"),
        ("zeopack = 0 1 * * 8\n", "day-of-week 8 is out of range 0-7"),
        ("crontab = 0 0 31 2 * /bin/true\n", "never matches a date"),
        ("jobs = /a 5x\n", "bad period '5x'"),
    ]:
        with pytest.raises(ConfigError) as info:
            read(tmp_path, options, python2=True)
        assert problem in info.value.message("clock")


@pytest.mark.parametrize(
    "times, never",
    [
        ("0 0 31 2 *", True),
        ("0 0 30 2 *", True),
        ("0 0 31 4,6,9,11 *", True),
        ("0 0 31 feb,apr *", True),
        ("0 0 30-31 2 *", True),
        ("0 0 29 2 *", False),
        ("0 0 31 1-2 *", False),
        ("0 0 31 */2 *", False),
        ("0 0 31 2 1", False),
        ("0 0 31 2 */2", True),
        ("0 0 */31 2 *", False),
        ("@monthly", False),
        ("@reboot", False),
    ],
)
def test_the_one_never_comes_check_agrees_with_cronsim(times, never):
    from collective.recipe.clockserver import schedule
    from collective.recipe.clockserver.crontab.times import NEVER, never_comes

    assert never_comes(times) == (NEVER if never else None)
    assert (schedule.problem(times) is not None) == never
