"""bin/<part>'s config file edited by hand or damaged: exit 2 and one line,
never a traceback; addresses and hosts by the recipe's rules."""

import json
import math
import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collective.recipe.clockserver.runner import main
from collective.recipe.clockserver.runner.config import (
    BadConfig,
    load_config,
    parse_config,
)
from collective.recipe.clockserver.runner.configvalue import Config, check_host_port
from runnerparts import runner_command

GOOD_JOB = {"name": "a", "method": "/a", "period": 60}


def config_text(tmp_path, text):
    path = tmp_path / "parts" / "clock" / "clock.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(0o600)
    return str(path)


def with_(**changes):
    data = {
        "part": "clock",
        "address": "http://127.0.0.1:8080",
        "timeout": 300,
        "jobs": [dict(GOOD_JOB)],
    }
    for key, value in changes.items():
        if key.startswith("job_"):
            data["jobs"][0][key[4:]] = value
        else:
            data[key] = value
    return json.dumps(data)


HUGE = "1" + "0" * 5000

# (id, file content, fragment of the message)
CASES = [
    (
        "nan-timeout",
        with_(timeout=0).replace('"timeout": 0', '"timeout": NaN'),
        "NaN is not a number JSON allows",
    ),
    (
        "infinity-period",
        with_(job_period=0).replace('"period": 0', '"period": Infinity'),
        "Infinity is not a number JSON allows",
    ),
    (
        "minus-infinity",
        with_(timeout=0).replace('"timeout": 0', '"timeout": -Infinity'),
        "-Infinity is not a number JSON allows",
    ),
    (
        "1e400",
        with_(timeout=0).replace('"timeout": 0', '"timeout": 1e400'),
        "the number 1e400 is out of range",
    ),
    (
        "huge-int",
        with_(job_period=0).replace('"period": 0', f'"period": {HUGE}'),
        "is out of range",
    ),
    (
        "big-int",
        with_(job_period=10**15),
        "period must be a positive number of seconds",
    ),
    (
        "float-period",
        with_(job_period=1.5),
        "'period' must be a whole number, not the number 1.5",
    ),
    ("float-60.0-period", with_(job_period=60.0), "'period' must be a whole number"),
    (
        "string-period",
        with_(job_period="60"),
        "'period' must be a whole number, not a string",
    ),
    ("bool-period", with_(job_period=True), "not the boolean true"),
    ("zero-timeout", with_(timeout=0), "timeout must be a positive number"),
    ("string-timeout", with_(timeout="300"), "timeout must be a positive number"),
    ("huge-timeout", with_(timeout=1e300), "timeout must be a positive number"),
    ("concurrency-0", with_(concurrency=0), "concurrency must be a whole number of 1"),
    ("concurrency-float", with_(concurrency=2.5), "concurrency must be a whole number"),
    ("concurrency-bool", with_(concurrency=True), "concurrency must be a whole number"),
    (
        "concurrency-string",
        with_(concurrency="4"),
        "concurrency must be a whole number",
    ),
    (
        "address-number",
        with_(address=8080),
        "'address' must be a string, not the number",
    ),
    ("address-list", with_(address=["h"]), "'address' must be a string, not a list"),
    ("port-0", with_(address="http://127.0.0.1:0"), "port '0' outside 1-65535"),
    ("port-65536", with_(address="http://127.0.0.1:65536"), "port '65536' outside"),
    ("port-huge", with_(address="http://h:99999999999999999999"), "outside 1-65535"),
    ("port-empty", with_(address="http://h:"), "outside 1-65535"),
    ("port-letters", with_(address="http://h:80a"), "outside 1-65535"),
    ("port-unicode-digits", with_(address="http://h:\u0668\u0660"), "outside 1-65535"),
    (
        "ipv4-out-of-range",
        with_(address="http://999.1.1.1:80"),
        "neither a host name nor an IPv4 address",
    ),
    ("ipv4-short", with_(address="http://1.2.3:80"), "neither a host name"),
    ("ipv4-leading-zero", with_(address="http://010.0.0.1:80"), "neither a host name"),
    ("ipv6-bad", with_(address="http://[::g]:80"), "not an IPv6 address"),
    ("ipv6-zone", with_(address="http://[fe80::1%eth0]:80"), "not an IPv6 address"),
    ("ipv6-unclosed", with_(address="http://[::1:80"), "not an IPv6 address"),
    ("host-underscore", with_(address="http://my_host:80"), "neither a host name"),
    ("host-dash", with_(address="http://-bad.example.org:80"), "neither a host name"),
    ("host-empty-label", with_(address="http://a..b:80"), "neither a host name"),
    (
        "host-long-label",
        with_(address="http://" + "a" * 64 + ".org:80"),
        "neither a host name",
    ),
    (
        "host-too-long",
        with_(address="http://" + ".".join(["a" * 60] * 5) + ":80"),
        "neither a host name",
    ),
    (
        "host-unicode",
        with_(address="http://ex\u00e4mple.org:80"),
        "neither a host name",
    ),
    ("host-space", with_(address="http://a b:80"), "neither a host name"),
    ("no-host", with_(address="http://:80"), "has no host"),
    ("address-path", with_(address="http://h:80/site"), "is not http(s)://HOST:PORT"),
    ("address-scheme", with_(address="ftp://h:80"), "is not http(s)://HOST:PORT"),
    (
        "address-user",
        with_(address="http://u:pw@h:1"),
        "must not hold a user or password",
    ),
    ("job-host-port", with_(job_host="www.example.org:70000"), "outside 1-65535"),
    ("job-host-url", with_(job_host="http://www.example.org/"), "host 'http://www"),
    (
        "job-host-control",
        with_(job_host="a\r\nX-Injected: 1"),
        "host 'a\\r\\nX-Injected",
    ),
    (
        "job-host-number",
        with_(job_host=5),
        "host must be a string or null, not the number",
    ),
    (
        "job-user-control",
        with_(job_user="u\r\nX: 1", job_password="p"),
        "the user holds control characters",
    ),
    ("job-name-control", with_(job_name="a\nINFO forged"), "holds control characters"),
    ("job-name-missing", with_(job_name=None), "'name' is missing"),
    ("method-relative", with_(job_method="a"), "must start with /"),
    ("method-control", with_(job_method="/a\r\nHost: evil"), "no control characters"),
    (
        "duplicate-name",
        json.dumps({"address": "http://h:1", "jobs": [GOOD_JOB, GOOD_JOB]}),
        "job name 'a' is used twice",
    ),
    (
        "job-not-object",
        json.dumps({"address": "http://h:1", "jobs": [5]}),
        "job 1 is not a JSON object but the number 5",
    ),
    (
        "jobs-object",
        json.dumps({"address": "http://h:1", "jobs": {}}),
        "'jobs' must be a list, not an object",
    ),
    ("part-object", with_(part={}), "'part' must be a name"),
    ("list", "[]", "expected a JSON object, not a list"),
    ("string", '"clock"', "expected a JSON object, not a string"),
    ("number", "42", "expected a JSON object, not the number 42"),
    ("null", "null", "expected a JSON object, not null"),
    ("true", "true", "expected a JSON object, not the boolean true"),
    ("empty", "", "is not valid JSON"),
    ("truncated", with_()[:40], "is not valid JSON"),
    ("deep", "[" * 100000 + "]" * 100000, "nested too deeply"),
    (
        "latin-1",
        with_(job_name="caf\u00e9").encode("utf-8").replace(b"\\u00e9", b"\xe9"),
        "is not valid JSON",
    ),
    ("nul-bytes", b"\x00" * 10, "is not valid JSON"),
]


@pytest.mark.parametrize(
    "content, fragment", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_damaged_config_is_one_line(tmp_path, capsys, content, fragment):
    config = config_text(tmp_path, content)
    assert main(config, ["list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("clock: error: ") and err.endswith("\n")
    assert err.count("\n") == 1, err
    assert fragment in err
    assert "run bin/buildout to write it again" in err
    assert "Traceback" not in err and "pw@" not in err
    assert all(char.isprintable() or char == "\n" for char in err), err


@pytest.mark.parametrize("command", [["run"], ["fire", "a"], ["list"]])
@pytest.mark.parametrize("case", ["nan-timeout", "deep", "port-65536", "list"])
def test_damaged_config_real_process(tmp_path, command, case):
    content = {c[0]: c[1] for c in CASES}[case]
    config = config_text(tmp_path, content)
    result = subprocess.run(
        runner_command(config, *command),
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_config_not_a_regular_file(tmp_path, capsys):
    directory = tmp_path / "parts" / "clock" / "clock.json"
    directory.mkdir(parents=True)
    assert main(str(directory), ["list"]) == 2
    assert "is not a regular file" in capsys.readouterr().err
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # would block a plain open(): refused without reading it
    assert main(str(fifo), ["list"]) == 2
    assert "fifo is not a regular file" in capsys.readouterr().err
    assert main("/dev/null", ["list"]) == 2
    assert "/dev/null is not a regular file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "address, host, port, netloc",
    [
        ("http://127.0.0.1:8080", "127.0.0.1", 8080, "127.0.0.1:8080"),
        ("http://[::1]:8080", "::1", 8080, "[::1]:8080"),
        ("https://www.example.org", "www.example.org", 443, "www.example.org"),
        ("http://localhost.:1", "localhost.", 1, "localhost.:1"),
        ("127.0.0.1:65535", "127.0.0.1", 65535, "127.0.0.1:65535"),
        (
            "http://xn--exmple-cua.org:80/",
            "xn--exmple-cua.org",
            80,
            "xn--exmple-cua.org:80",
        ),
        ("http://0.0.0.0:80", "0.0.0.0", 80, "0.0.0.0:80"),
        ("http://1e100.net:80", "1e100.net", 80, "1e100.net:80"),
    ],
)
def test_good_addresses(address, host, port, netloc):
    config = parse_config({"address": address, "jobs": []})
    assert (config.host, config.port, config.netloc) == (host, port, netloc)
    assert (
        config.concurrency == 4 and config.timeout == 300
    )  # defaults: older files load


@pytest.mark.parametrize(
    "host",
    [
        "www.example.org",
        "www.example.org:8080",
        "[::1]",
        "[2001:db8::1]:443",
        "10.0.0.1",
        "a",
        "a-b.c",
    ],
)
def test_good_job_hosts(host):
    assert check_host_port(host) is None
    job = dict(GOOD_JOB, host=host)
    assert parse_config({"address": "http://h:1", "jobs": [job]}).jobs[0].host == host


def test_old_config_without_new_keys_loads(tmp_path):
    config = load_config(
        config_text(
            tmp_path,
            json.dumps(
                {
                    "part": "clock",
                    "address": "http://127.0.0.1:8080",
                    "timeout": 300,
                    "jobs": [dict(GOOD_JOB, host=None, user=None, password=None)],
                }
            ),
        )
    )
    assert config.concurrency == 4 and config.jobs[0].name == "a"


# -- property: any JSON value is a Config or BadConfig, never another exception -------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
HOSTS = st.text(alphabet="abcz09-.:[]_%/@ \u00e4\x00", max_size=40)
ADDRESSES = st.one_of(
    st.builds(
        lambda scheme, host: scheme + host,
        st.sampled_from(["http://", "https://", "ftp://", ""]),
        HOSTS,
    ),
    JSON,
)
JOB = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=8) | JSON,
        "method": st.sampled_from(["/a", "a", ""]) | JSON,
        "period": st.integers(-5, 10**9) | JSON,
        "host": HOSTS | JSON,
        "user": st.text(max_size=5) | JSON,
        "password": st.text(max_size=5) | JSON,
    },
)
NEAR_VALID = st.fixed_dictionaries(
    {"address": ADDRESSES},
    optional={
        "jobs": st.lists(JOB | JSON, max_size=3) | JSON,
        "timeout": st.floats() | st.integers() | JSON,
        "concurrency": st.integers() | JSON,
        "part": st.text(max_size=5) | JSON,
    },
)


def parses_or_bad_config(data):
    try:
        config = parse_config(data)
    except BadConfig as exc:
        message = str(exc)
        assert message and "\n" not in message
        return None
    assert isinstance(config, Config)
    assert all(isinstance(job.period, int) and 0 < job.period for job in config.jobs)
    assert 0 < config.timeout and math.isfinite(config.timeout)
    if config.address is None:  # nothing to call: zserver, or no jobs
        assert config.backend == "zserver" or not config.jobs
    else:
        assert 0 < config.port <= 65535
    return config


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_any_json_value_is_a_config_or_bad_config(data):
    parses_or_bad_config(data)


@settings(max_examples=600, deadline=None)
@given(NEAR_VALID)
def test_near_valid_configs_are_a_config_or_bad_config(data):
    parses_or_bad_config(data)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_content_loads_or_is_bad_config(tmp_path, content):
    path = tmp_path / "clock.json"
    path.write_bytes(content)
    try:
        load_config(str(path))
    except BadConfig as exc:
        assert "\n" not in str(exc)


@settings(max_examples=500, deadline=None)
@given(HOSTS | st.text(max_size=60))
def test_host_check_never_raises(text):
    problem = check_host_port(text)
    assert problem is None or isinstance(problem, str)
    if problem is None:  # what passes is safe in a Host: header
        assert text.isascii() and text.isprintable() and " " not in text


def test_secrets_to_mask_include_passwords_ping_keys_and_the_lock_password():
    config = parse_config(
        json.loads(
            with_(
                jobs=[dict(GOOD_JOB, user="zopeuser", password="job-pass")],
                pings={
                    "a": "https://hc.example.org/ping/abcd-1234",
                    "b": "https://hc-ping.com/fqOOd6-F4MMNuCEnzTU01w/nightly-backup",
                },
                lock={"url": "redis://127.0.0.1:6379/0", "password": "lock-pass"},
            )
        )
    )
    secrets = config.secrets
    assert {"job-pass", "lock-pass", "abcd-1234", "fqOOd6-F4MMNuCEnzTU01w"} <= set(
        secrets
    )
    assert "zopeuser" not in secrets
    # What identifies the check stays readable (issue 17): host and slug.
    assert not [s for s in secrets if "hc.example.org" in s or "nightly-backup" in s]


# -- one host validator: the recipe's address, the job host and the lock URL ------


@pytest.mark.parametrize("host", ["999.1.1.1", "1.2.3", "01.2.3.4", "-bad.example"])
def test_address_job_host_and_lock_url_refuse_the_same_hosts(host):
    from collective.recipe.clockserver.address import host_problem
    from collective.recipe.clockserver.lockurl import BadLockURL, parse_url

    assert host_problem(host)
    assert check_host_port(host) is not None
    with pytest.raises(BadConfig, match="neither a host name"):
        parse_config(json.loads(with_(address="http://%s:8080" % host)))
    with pytest.raises(BadConfig, match="neither a host name"):
        parse_config(json.loads(with_(job_host=host)))
    with pytest.raises(BadConfig, match="lock: bad host"):
        parse_config(json.loads(with_(lock={"url": "redis://%s:6379/0" % host})))
    with pytest.raises(BadLockURL, match="bad host"):
        parse_url("zeo://%s:8100" % host)


def test_the_file_loads_into_the_recipes_model():
    from collective.recipe.clockserver.model import Entry, Job, Lock

    config = parse_config(
        json.loads(
            with_(
                jobs=[
                    dict(
                        GOOD_JOB,
                        user="zopeuser",
                        password="job-pass",
                        times="*/5 * * * *",
                        grace=120,
                        **{"catch-up": True},
                    )
                ],
                entries=[{"name": "backup", "times": "@daily"}],
                lock={"url": "redis://cache.example.org/1", "password": "lock-pass"},
            )
        )
    )
    (job,) = config.jobs
    assert type(job) is Job and type(config.entries[0]) is Entry
    assert (job.times, job.grace, job.catch_up, job.authenticated) == (
        "*/5 * * * *",
        120,
        True,
        True,
    )
    assert Job.from_json(job.to_json()) == job
    assert "job-pass" not in repr(job)
    assert type(config.lock) is Lock and config.lock.url.host == "cache.example.org"
    assert config.lock.namespace == "clock"  # the part's name by default
    assert "lock-pass" not in repr(config.lock)
    assert Lock.from_json(config.lock.to_json()) == config.lock
    assert config.lock["url"] == "redis://cache.example.org/1"


def test_a_part_without_jobs_needs_no_address():
    """The recipe writes no address for a part with only crontab entries."""
    entries = [{"name": "zeopack", "times": "0 1 * * 6"}]
    for backend in ("runner", "cron"):
        config = parse_config(
            json.loads(with_(backend=backend, address=None, jobs=[], entries=entries))
        )
        assert config.address is None and config.jobs == ()
        assert [e.name for e in config.entries] == ["zeopack"]
        # bin/<part> list says so (it used to print "calling None").
        from collective.recipe.clockserver.runner.listing import listing

        [line] = listing(config, 0)
        assert line.endswith(": no jobs (crontab entries only: see status)")
        assert "None" not in line
        with pytest.raises(BadConfig):  # jobs need it
            parse_config(json.loads(with_(backend=backend, address=None)))
