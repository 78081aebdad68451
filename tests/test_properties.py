"""Property-based tests (Hypothesis) of the pure parts.

For every class of input: anything a user can write either parses or
raises the one clean error type (ConfigError; CrontabError for crontab
contents), never another exception; valid values round-trip; crontab
editing keeps every byte outside our block.

Example counts are moderate so CI stays fast; ``./run-tests
tests/test_properties.py --hypothesis-show-statistics`` shows how many
inputs each property tried.
"""

import ipaddress
import os
import re
import string
import tempfile
import urllib.parse

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from collective.recipe.clockserver.address import (
    check_host,
    host_problem,
    parse_address,
)
from collective.recipe.clockserver.crontab import block as cronblock
from collective.recipe.clockserver.crontab import entries as cronentries
from collective.recipe.clockserver.crontab import store as cronstore
from collective.recipe.clockserver.crontab import times as crontimes
from collective.recipe.clockserver.crontab.block import CrontabError
from collective.recipe.clockserver.errors import ConfigError
from collective.recipe.clockserver.jobs import (
    MAX_PERIOD,
    UNITS,
    parse_jobs,
    parse_period,
)

MANY = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FEWER = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Text a user could type, weighted towards the characters that matter.
SYNTAX = "/:.[]@-_*?#=%'\"\\ \t,@0123456789abcxyzABC"
user_text = st.one_of(
    st.text(),
    st.text(alphabet=SYNTAX),
    st.text(alphabet=st.characters(codec="ascii")),
)

# -- hosts ---------------------------------------------------------------------

LABEL_CHARS = string.ascii_letters + string.digits + "-"
labels = st.text(alphabet=LABEL_CHARS, min_size=1, max_size=63).filter(
    lambda s: not s.startswith("-") and not s.endswith("-")
)
# A host name: its last label not all digits (that would be an IPv4 try).
host_names = (
    st.lists(labels, min_size=1, max_size=6)
    .map(".".join)
    .filter(lambda s: len(s) <= 253 and not s.rsplit(".", 1)[-1].isdigit())
)
ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6 = st.integers(0, 2**128 - 1).map(lambda n: "[%s]" % ipaddress.IPv6Address(n))
ipv6_long = st.integers(0, 2**128 - 1).map(
    lambda n: "[%s]" % ipaddress.IPv6Address(n).exploded
)
valid_hosts = st.one_of(host_names, ipv4, ipv6, ipv6_long)
ports = st.integers(1, 65535)


def host_port(host, port):
    return host if port is None else "%s:%d" % (host, port)


@MANY
@given(user_text)
@example("a..b")
@example("-a.b")
@example("1.2.3.256")
@example("[::1")
@example("host:0")
@example("host:65536")
@example("bücher.de")
@example("a" * 64 + ".org")
def test_any_host_value_is_accepted_as_is_or_refused_cleanly(text):
    try:
        result = check_host(text, "host", text)
    except ConfigError as e:
        assert e.option == "host"
        assert "is not a host name for the Host: header" in e.problem
        return
    assert result == text
    # What passes fits an HTTP header: ASCII, no white space, no controls.
    text.encode("ascii")
    assert not any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text)


@MANY
@given(valid_hosts, st.one_of(st.none(), ports))
def test_valid_hosts_round_trip(host, port):
    value = host_port(host, port)
    assert check_host(value, "jobs", value) == value


@MANY
@given(
    st.one_of(host_names, ipv4, ipv6),
    st.integers(65536, 10**12) | st.integers(-(10**6), 0),
)
def test_ports_out_of_range_are_refused(host, port):
    value = "%s:%d" % (host, port)
    try:
        check_host(value, "host", value)
    except ConfigError as e:
        assert "not a port number (1-65535)" in e.problem
    else:
        raise AssertionError("accepted %r" % value)


@MANY
@given(st.lists(st.integers(0, 300), min_size=4, max_size=4))
def test_ipv4_octets_must_be_0_to_255(octets):
    host = ".".join(map(str, octets))
    assert (host_problem(host) is None) == all(o <= 255 for o in octets)


@MANY
@given(
    st.lists(
        st.text(alphabet=LABEL_CHARS + "_.", min_size=0, max_size=70),
        min_size=1,
        max_size=5,
    )
)
def test_host_names_follow_rfc_1123(parts):
    host = ".".join(parts)
    name = host[:-1] if host.endswith(".") else host  # one final dot
    assume(not name.rsplit(".", 1)[-1].isdigit())  # an IPv4 address, then
    rfc = 0 < len(name) <= 253 and all(
        re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", label)
        for label in name.split(".")
    )
    assert (host_problem(host) is None) == rfc


# -- addresses -------------------------------------------------------------------


@MANY
@given(user_text)
@example("70000")
@example("http://[::1]:8080/")
@example("http://[fe80::1%eth0]:80")
@example("256.0.0.1:80")
@example("localhost:08080")
def test_any_address_parses_or_is_refused_cleanly(text):
    try:
        result = parse_address(text)
    except ConfigError as e:
        assert e.option == "address"
        return
    # What parses is a URL the runner can use as it stands, and stable.
    assert parse_address(result) == result
    parts = urllib.parse.urlsplit(result)
    assert parts.scheme in ("http", "https")
    assert 1 <= parts.port <= 65535
    assert parts.path == "" and parts.hostname
    result.encode("ascii")


@MANY
@given(
    st.sampled_from(["", "http://", "https://"]),
    st.one_of(st.just(""), st.just("*"), valid_hosts),
    ports,
    st.sampled_from(["", "/"]),
)
def test_valid_addresses_round_trip(scheme, host, port, slash):
    text = (host + ":" if host else "") + str(port)
    if scheme:
        if not host:
            text = "localhost:%d" % port
            host = "localhost"
        text = scheme + text + slash
    result = parse_address(text)
    expected_host = {
        "": "127.0.0.1",
        "*": "127.0.0.1",
        "0.0.0.0": "127.0.0.1",
        "[::]": "[::1]",
    }.get(host, host)
    if host.startswith("[") and ipaddress.IPv6Address(host[1:-1]).is_unspecified:
        expected_host = "[::1]"
    assert result == "%s://%s:%d" % ((scheme or "http://")[:-3], expected_host, port)


# -- periods and jobs -------------------------------------------------------------


@MANY
@given(user_text)
@example("1h1h")
@example("٣")  # a digit, but not an ASCII one
@example("99999999999999999999w")
def test_any_period_is_seconds_or_a_value_error(text):
    try:
        seconds = parse_period(text)
    except ValueError:
        return
    assert isinstance(seconds, int) and 1 <= seconds <= MAX_PERIOD


def as_units(seconds):
    words = []
    for unit, size in sorted(UNITS.items(), key=lambda item: -item[1]):
        if seconds >= size:
            words.append("%d%s" % (seconds // size, unit))
            seconds %= size
    return "".join(words)


@MANY
@given(st.integers(1, MAX_PERIOD))
def test_periods_round_trip(seconds):
    assert parse_period(str(seconds)) == seconds
    assert parse_period(as_units(seconds)) == seconds


methods = st.text(
    alphabet=string.ascii_letters + string.digits + "/@?=&%-._", min_size=0, max_size=30
).map(lambda s: "/" + s)
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)


@st.composite
def job_lines(draw):
    method = draw(methods)
    seconds = draw(st.integers(1, MAX_PERIOD))
    keys = {}
    if draw(st.booleans()):
        keys["name"] = draw(names)
    if draw(st.booleans()):
        keys["host"] = host_port(draw(valid_hosts), draw(st.one_of(st.none(), ports)))
    if draw(st.booleans()):
        keys["credentials"] = draw(
            st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
        )
    period = draw(st.sampled_from([str(seconds), as_units(seconds)]))
    line = " ".join([method, period] + ["%s=%s" % kv for kv in keys.items()])
    return line, method, seconds, keys


@MANY
@given(
    st.lists(st.one_of(user_text, job_lines().map(lambda j: j[0])), max_size=6).map(
        "\n".join
    )
)
def test_any_jobs_text_parses_or_is_refused_cleanly(text):
    try:
        jobs = parse_jobs(text)
    except ConfigError as e:
        assert e.option == "jobs"
        return
    assert len({job.name for job in jobs}) == len(jobs)
    for job in jobs:
        assert job.method.startswith("/")
        assert 1 <= job.period <= MAX_PERIOD
        if job.host is not None:
            check_host(job.host, "jobs", job.line)


@MANY
@given(job_lines())
def test_valid_job_lines_round_trip(generated):
    line, method, seconds, keys = generated
    [job] = parse_jobs(line)
    assert (job.method, job.period, job.line) == (method, seconds, line)
    assert job.host == keys.get("host")
    assert job.credentials == keys.get("credentials")
    if "name" in keys:
        assert job.name == keys["name"]


# -- cron times and crontab entries -------------------------------------------------

FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


@st.composite
def cron_field(draw, low, high):
    def item():
        kind = draw(st.sampled_from(["star", "value", "range", "step"]))
        if kind == "star":
            return "*"
        a = draw(st.integers(low, high))
        if kind == "value":
            return str(a)
        b = draw(st.integers(a, high))
        text = "%d-%d" % (a, b)
        if kind == "step" or draw(st.booleans()):
            text = draw(st.sampled_from([text, "*"])) + "/%d" % draw(
                st.integers(1, high - low + 1)
            )
        return text

    return ",".join(item() for _ in range(draw(st.integers(1, 3))))


valid_times = st.one_of(
    st.tuples(*[cron_field(lo, hi) for lo, hi in FIELD_RANGES]).map(" ".join),
    st.sampled_from(crontimes.SPECIAL_TIMES),
)


@MANY
@given(
    st.one_of(
        user_text,
        valid_times,
        st.lists(
            st.text(alphabet="0123456789*/,-", max_size=6), min_size=5, max_size=5
        ).map(" ".join),
    )
)
@example("0 0 31 2 *")
@example("*/0 * * * *")
@example("1-60 * * * *")
def test_any_cron_times_are_normalised_or_refused_cleanly(text):
    try:
        times = crontimes.validate_times(text)
    except ConfigError as e:
        assert e.option == "crontab"
        return
    assert crontimes.validate_times(times) == times
    assert times == " ".join(times.split())


@MANY
@given(valid_times)
def test_valid_cron_times_are_accepted(times):
    assert crontimes.validate_times(times) == times


@MANY
@given(
    st.lists(
        st.one_of(user_text, valid_times.map(lambda t: t + " /srv/site/bin/backup")),
        max_size=5,
    ).map("\n".join)
)
def test_any_crontab_option_parses_or_is_refused_cleanly(text):
    try:
        entries = cronentries.parse_entries(text)
    except ConfigError as e:
        assert e.option == "crontab"
        return
    for line in entries:
        assert "\n" not in line and "\r" not in line
        assert cronentries.parse_entries(line) == [line]


# -- crontab block editing ------------------------------------------------------------

IDENT = "/srv/site [clock]"
START = "# Generated by /srv/site [clock]"
END = "# END /srv/site [clock]"
# Crontab lines: anything without a line break (surrogates stand for bytes
# that are not UTF-8), plus other buildouts' markers and look-alikes.
crontab_line = st.one_of(
    st.text(
        alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",))
    ),
    st.binary(max_size=40).map(
        lambda b: b.replace(b"\n", b"").decode("utf-8", "surrogateescape")
    ),
    st.sampled_from(
        [
            "",
            "# Generated by /srv/other [clock]",
            "# END /srv/other [clock]",
            "# Generated by /srv/site [clock2]",
            START + " ",
            "WARNING=x",
            "BUILDOUT=y",
            "MAILTO=x",
            "@daily /bin/true",
        ]
    ),
)
foreign = st.lists(crontab_line, max_size=12)
our_entries = st.lists(
    valid_times.map(lambda t: t + " /srv/site/bin/x"), min_size=1, max_size=4
)


def ours(line):
    return line.strip() in (START, END)


@MANY
@given(foreign, our_entries, our_entries, foreign)
def test_block_editing_keeps_every_foreign_line(lines, entries, changed, later):
    assume(not any(ours(line) for line in lines + later))
    installed = cronblock.replace_block(lines, IDENT, entries)
    block = [START] + entries + [END]
    assert installed == lines + ([""] if lines else []) + block
    replaced = cronblock.replace_block(installed, IDENT, changed)
    assert replaced == lines + ([""] if lines else []) + [START] + changed + [END]
    assert cronblock.remove_block(replaced, IDENT) == lines
    assert cronblock.purge_blocks(replaced, IDENT) == lines
    # Lines the user adds after our block survive a change and a removal.
    after = cronblock.replace_block(installed + later, IDENT, changed)
    assert after == replaced + later
    removed = cronblock.remove_block(after, IDENT)
    if lines or not later or later[0].strip():
        assert removed == lines + later
    else:  # a first block takes the blank line after it along
        assert removed == later[1:]
    assert cronblock.purge_blocks(after, IDENT) == removed


@MANY
@given(
    st.lists(st.one_of(crontab_line, st.sampled_from([START, END])), max_size=12),
    our_entries,
)
@example([START, "x", END, START, "y", END], ["@daily x"])
@example([END, START], ["@daily x"])
def test_any_crontab_is_edited_or_refused_cleanly(lines, entries):
    markers = sum(ours(line) for line in lines)
    for edit in (
        lambda: cronblock.replace_block(lines, IDENT, entries),
        lambda: cronblock.remove_block(lines, IDENT),
    ):
        try:
            result = edit()
        except CrontabError as e:
            assert "is broken" in str(e)
            assert markers
            continue
        assert sum(ours(line) for line in result) in (0, 2)
    purged = cronblock.purge_blocks(lines, IDENT)
    assert not any(ours(line) for line in purged)
    # Purging keeps the order of what it keeps, and keeps everything when
    # nothing of ours is there.
    iterator = iter(lines)
    assert all(any(line == other for other in iterator) for line in purged)
    if not markers:
        assert purged == lines


@MANY
@given(st.binary(max_size=300))
def test_crontab_bytes_survive_split_and_join(data):
    lines = cronblock.split_lines(data.decode("utf-8", "surrogateescape"))
    back = cronblock.join_lines(lines).encode("utf-8", "surrogateescape")
    assert back == data or (back == data + b"\n" and not data.endswith(b"\n"))


@FEWER
@given(st.binary(max_size=300), our_entries)
def test_crontab_file_keeps_every_byte_outside_the_block(data, entries):
    assume(START.encode() not in data and END.encode() not in data)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "crontab")
        with open(path, "wb") as f:
            f.write(data)
        cronstore.update_crontab(IDENT, entries, path)
        with open(path, "rb") as f:
            installed = f.read()
        complete = data if not data or data.endswith(b"\n") else data + b"\n"
        assert installed.startswith(complete)
        cronstore.remove_from_crontab(IDENT, path)
        with open(path, "rb") as f:
            assert f.read() == complete


# -- the recipe and bin/<part> agree -------------------------------------------
# bin/<part> checks its config file again (it may be edited by hand): what
# the recipe accepts, the runner must accept too, or a built part would
# refuse to start.

from collective.recipe.clockserver.runner import configvalue  # noqa: E402


@MANY
@given(
    st.one_of(
        user_text,
        st.tuples(valid_hosts, st.one_of(st.none(), ports)).map(
            lambda hp: host_port(*hp)
        ),
    )
)
@example("a.")
@example("[::ffff:1.2.3.4]:80")
@example("0.0.0.0")
def test_runner_accepts_every_host_the_recipe_accepts(text):
    try:
        check_host(text, "host", text)
    except ConfigError:
        recipe_ok = False
    else:
        recipe_ok = True
    runner_ok = configvalue.check_host_port(text) is None
    if recipe_ok:
        assert runner_ok, configvalue.check_host_port(text)
    if text and runner_ok:  # and the other way round
        assert recipe_ok, text


@MANY
@given(
    st.one_of(
        user_text,
        st.tuples(st.sampled_from(["", "http://", "https://"]), valid_hosts, ports).map(
            lambda t: "%s%s:%d" % t
        ),
    )
)
def test_runner_accepts_every_address_the_recipe_writes(text):
    try:
        address = parse_address(text)
    except ConfigError:
        return
    scheme, host, port, netloc = configvalue.split_address(address)
    assert "%s://%s" % (scheme, netloc) == address


@MANY
@given(
    st.one_of(
        user_text.filter(
            lambda t: "/" not in t and "@" not in t and "?" not in t and "#" not in t
        ),
        st.tuples(valid_hosts, ports).map(lambda hp: host_port(*hp)),
    )
)
@example("999.1.1.1:6379")
@example("1.2.3:6379")
@example("01.2.3.4:6379")
@example("-bad.example:6379")
@example("my_redis:6379")
def test_the_lock_url_accepts_the_hosts_the_recipe_accepts(text):
    """One validator: a zeo:// URL's HOST:PORT passes exactly when the
    ``host`` option takes it (a host name or IP address with a port)."""
    from collective.recipe.clockserver.lockurl import BadLockURL, parse_url

    assume(text.count(":") == 1 or text.startswith("["))
    assume(not any(c.isspace() for c in text) and "%" not in text)
    try:
        check_host(text, "host", text)
    except ConfigError:
        recipe_ok = False
    else:
        recipe_ok = text.rsplit(":", 1)[-1].isdigit() and "]" != text[-1]
    try:
        parse_url("zeo://%s/locks" % text)
    except BadLockURL:
        lock_ok = False
    else:
        lock_ok = True
    assert lock_ok == recipe_ok, text


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from([4, 6]), st.text(alphabet="0123456789abcdefgA:.٣", max_size=40))
@example(6, "::1.2.3.04")
@example(6, "1:2:3:4:5:6:7::")
@example(4, "1.1.1.٣")
def test_the_python_2_ip_check_says_what_ipaddress_says(version, text):
    """Python 2 has no ipaddress module: address.py's own check gives the
    same verdicts in the same words (the messages are the recipe's); the
    oracle is the ipaddress module itself, through the one adapter
    address.py uses on Python 3."""
    from collective.recipe.clockserver.address import (
        _ipaddress_problem,
        _plain_ip_problem,
    )

    assert _plain_ip_problem(version, text) == _ipaddress_problem(version, text)
