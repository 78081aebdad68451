"""clockserver-convert on real buildout files, and its output through a
real bin/buildout: the blocks the recipe makes equal the pasted ones."""

import contextlib
import hashlib
import io
import os
import stat
import subprocess
import sys

import pytest
import zc.buildout.configparser
import ZConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collective.recipe.clockserver import convert, jobs

TEST_SCHEMA = os.path.join(os.path.dirname(__file__), "zserver-clock.xml")

BUILDOUT = """
[buildout]
parts =

[client1]
recipe = plone.recipe.zope2instance
http-address = 9995
"""

# The seed's site before the recipe: production.cfg extends secret.cfg,
# which holds the pasted blocks (with the passwords) of client2.
PRODUCTION = """
# production.cfg  (run: bin/buildout -c production.cfg)
[buildout]
extends = buildout.cfg secret.cfg
parts += client1 client2

[client2]
<= client1
http-address = 9996
zodb-cache-size = 3000
"""


def block(method, period, user=None, password=None, host=None, extra=""):
    lines = ["<clock-server>", "  method %s" % method, "  period %s" % period]
    if user is not None:
        lines.append("  user %s" % user)
    if password is not None:
        lines.append("  password %s" % password)
    if host is not None:
        lines.append("  host %s" % host)
    lines += [extra] if extra else []
    lines.append("</clock-server>")
    return "\n".join("    " + line for line in lines) + "\n"


# Passwords as ZServer sees them. Buildout passes $ and $$ on as written
# (it never unescapes $$); zope.conf reads $$ as $: so "pa$s" is written
# "pa$$s" in a pasted block.
ZOPEUSER_PASSWORD = "s3cr3t-Pa55"
FEEDER_PASSWORD = "pa$s%w#rd 1"
ODD_PASSWORD = "$%#;x"


def buildout_zconf(password):
    return password.replace("$", "$$")


SEED_BLOCKS = [
    # (method, period, user, password, host): what ZServer reads
    (
        "/plonecommunity/feed-mega-update",
        3600,
        "zopeuser",
        ZOPEUSER_PASSWORD,
        "plonecommunity.mobi",
    ),
    (
        "/plonecommunity/@@feed-mega-cleanup?days=14",
        85000,
        "zopeuser",
        ZOPEUSER_PASSWORD,
        "plonecommunity.mobi",
    ),
    (
        "/mobipublic/feed-mega-update",
        3600,
        "zopeuser",
        ZOPEUSER_PASSWORD,
        "mobipublic.com",
    ),
    (
        "/mobipublic/find-it/events/@@event-cleanup?days=1",
        84000,
        "zopeuser",
        ZOPEUSER_PASSWORD,
        "mobipublic.com",
    ),
    (
        "/plonecommunity/feed-mega-update",
        600,
        "feeder",
        FEEDER_PASSWORD,
        "plonecommunity.mobi",
    ),
]


def secret_cfg(blocks, extra=""):
    text = "[client2]\nzope-conf-additional =\n"
    for method, period, user, password, host in blocks:
        text += block(
            method,
            period,
            user,
            None if password is None else buildout_zconf(password),
            host,
        )
    return text + extra


def write(directory, name, text, mode=0o644):
    path = os.path.join(str(directory), name)
    with open(path, "w") as f:
        f.write(text.lstrip("\n"))
    os.chmod(path, mode)
    return path


def digest(directory):
    found = {}
    for name in sorted(os.listdir(str(directory))):
        path = os.path.join(str(directory), name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                found[name] = (
                    hashlib.sha256(f.read()).hexdigest(),
                    stat.S_IMODE(os.stat(path).st_mode),
                )
    return found


def run_convert(directory, *args):
    """``python -m collective.recipe.clockserver.convert`` as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "collective.recipe.clockserver.convert", *args],
        cwd=str(directory),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, result.stdout, result.stderr


def part_text(output):
    """Section 1 of the output: the [clock] part, up to the blank line."""
    lines = output.splitlines()
    start = lines.index("[clock]")
    end = lines.index("", start)
    return "\n".join(lines[start:end]) + "\n"


def parse_blocks(text):
    schema = ZConfig.loadSchema(TEST_SCHEMA)
    config, _ = ZConfig.loadConfigFile(schema, io.StringIO(text))
    return sorted(
        (s.method, s.period, s.user, s.password, s.host) for s in config.clock_servers
    )


def seed(directory, blocks=SEED_BLOCKS, extra=""):
    write(directory, "buildout.cfg", BUILDOUT)
    write(directory, "production.cfg", PRODUCTION)
    write(directory, "secret.cfg", secret_cfg(blocks, extra), mode=0o600)


def test_seed_blocks_become_a_part_that_builds_the_same_blocks(buildout):
    seed(buildout.directory)
    before = digest(buildout.directory)
    code, out, err = run_convert(
        buildout.directory,
        "--secret",
        "clock-secret.cfg",
        "--backend",
        "zserver",
        "buildout.cfg",
        "production.cfg",
        "secret.cfg",
    )
    assert code == 0, out + err
    assert digest(buildout.directory) == dict(
        before, **{"clock-secret.cfg": digest(buildout.directory)["clock-secret.cfg"]}
    )
    for password in (ZOPEUSER_PASSWORD, FEEDER_PASSWORD):
        assert password not in out + err
    assert "5 <clock-server> block(s) found (5 distinct)" in out
    assert buildout.mode("clock-secret.cfg") == 0o600
    assert "secret.cfg lines 2-37: [client2] zope-conf-additional" in out
    assert "zope-conf-additional = ${clock:zope-conf-additional}" in out
    part = part_text(out)
    assert "backend = zserver\n" in part
    assert "address = ${client2:http-address}\n" in part
    assert "host = plonecommunity.mobi\n" in part
    assert "credentials = clock-credentials\n" in part
    # The converted site: the part, the secret file, client2's address.
    buildout.write(
        "converted.cfg",
        """
        [buildout]
        extends = clock-secret.cfg
        parts = clock

        [client2]
        http-address = 9996

        """
        + part.replace("\n", "\n        "),
    )
    result = buildout.run("converted.cfg")
    assert result.ok, result.output
    made = parse_blocks(buildout.read("parts", "clock", "clock-server.conf"))
    assert made == sorted(SEED_BLOCKS)
    installed = buildout.installed()
    for password in (ZOPEUSER_PASSWORD, FEEDER_PASSWORD):
        assert password not in installed


def test_without_secret_the_passwords_are_placeholders(tmp_path):
    seed(tmp_path)
    code, out, err = run_convert(
        tmp_path, "buildout.cfg", "production.cfg", "secret.cfg"
    )
    assert code == 0, out + err
    assert "backend" not in part_text(out)
    assert "password = <the password of zopeuser>" in out
    assert "password = <the password of feeder>" in out
    assert "[clock-credentials-feeder]\nuser = feeder\n" in out
    for password in (ZOPEUSER_PASSWORD, FEEDER_PASSWORD):
        assert password not in out + err
    assert not [n for n in os.listdir(str(tmp_path)) if n.startswith("clock")]


def test_odd_passwords_and_users_survive_the_round_trip(buildout):
    blocks = [
        ("/a", 60, "alice", ODD_PASSWORD, "a.example"),
        ("/b", 120, "bob", "100%", "b.example:8080"),
        ("/c", 30, None, None, None),  # anonymous
        ("/a", 60, "alice", ODD_PASSWORD, "a.example"),  # pasted twice
        ("/q?it's=a#b", 60, "alice", ODD_PASSWORD, "a.example"),  # quoted
    ]
    seed(buildout.directory, blocks)
    code, out, err = run_convert(
        buildout.directory,
        "--secret",
        "s.cfg",
        "--backend",
        "zserver",
        "production.cfg",
    )
    assert code == 0, out + err
    assert "5 <clock-server> block(s) found (4 distinct)" in out
    part = part_text(out)
    # Mixed anonymous and credentialed jobs: credentials per job, no common
    # host (the anonymous job had none: ZServer sent the machine's name).
    assert "\ncredentials =" not in part and "\nhost =" not in part
    assert "/c  30\n" in part
    buildout.write(
        "converted.cfg",
        "[buildout]\nextends = s.cfg\nparts = clock\n"
        "[client2]\nhttp-address = 9996\n" + part,
    )
    result = buildout.run("converted.cfg")
    assert result.ok, result.output
    made = parse_blocks(buildout.read("parts", "clock", "clock-server.conf"))
    assert made == sorted(set(blocks))


def test_blocks_it_cannot_map_are_listed_with_the_reason(tmp_path):
    bad = (
        block("/uses-define", 60, "zopeuser", "$SECRET", "x.example")
        + block("/uses-brace", 60, "zopeuser", "$${pw}", "x.example")
        + block("/bad-period", "abc")
        + block("/user-only", 60, "zopeuser")
        + block("/too-long", 60, "u" * 30, "p" * 30)
        + block("/unknown-key", 60, extra="  timeout 5")
        + block("/bad-port", 60, host="x.example:70000")
    )
    seed(tmp_path, SEED_BLOCKS[:1])
    with open(str(tmp_path / "secret.cfg"), "a") as f:
        f.write(bad)
    code, out, err = run_convert(tmp_path, "production.cfg")
    assert code == 1
    assert "7 cannot be mapped" in out
    unmappable = out.split("cannot be mapped (move them by hand):")[1]
    for method, reason in [
        ("/uses-define", "zope.conf substitution"),
        ("/uses-brace", "contains '${'"),
        ("/bad-period", "not a whole number"),
        ("/user-only", "without a password"),
        ("/too-long", "over 57 bytes"),
        ("/unknown-key", "unknown key 'timeout'"),
        ("/bad-port", "not in 1-65535"),
        ("/bad-port", "secret.cfg [client2] zope-conf-additional"),
    ]:
        assert any(
            method in line and reason in line for line in unmappable.splitlines()
        ), (method, unmappable)
    # The mappable block still gets its part.
    assert "/plonecommunity/feed-mega-update  3600" in part_text(out)
    assert "p" * 30 not in out


def test_macro_copies_count_once_and_includes_are_followed(tmp_path):
    include = write(
        tmp_path,
        "clock-blocks.conf",
        "<clock-server>\n  method /inc\n  period 90\n"
        "  user zopeuser\n  password %s\n</clock-server>\n" % ZOPEUSER_PASSWORD,
        mode=0o600,
    )
    write(
        tmp_path,
        "buildout.cfg",
        """
[buildout]
parts = client1 client2

[client1]
recipe = plone.recipe.zope2instance
http-address = 8080
zope-conf-additional =
    %include ${buildout:directory}/clock-blocks.conf
"""
        + block("/pasted", 3600, "zopeuser", ZOPEUSER_PASSWORD)
        + """
[client2]
<= client1
http-address = 8081
""",
    )
    code, out, err = run_convert(tmp_path, "buildout.cfg")
    assert code == 0, out + err
    assert "4 <clock-server> block(s) found (2 distinct)" in out
    assert "clock-blocks.conf: the included blocks" in out
    assert "buildout.cfg lines 7-14: [client1] zope-conf-additional" in out
    assert "# 4. Add to [client1]:" in out
    assert "address = ${client1:http-address}" in out
    assert ZOPEUSER_PASSWORD not in out
    with open(include) as f:
        assert ZOPEUSER_PASSWORD in f.read()


def test_secret_file_is_never_overwritten_without_force(tmp_path):
    seed(tmp_path)
    files = ("buildout.cfg", "production.cfg", "secret.cfg")
    write(tmp_path, "old.cfg", "keep me\n")
    code, out, err = run_convert(tmp_path, "--secret", "old.cfg", *files)
    assert code == 2 and "--force" in err and out == ""
    assert (tmp_path / "old.cfg").read_text() == "keep me\n"
    code, out, err = run_convert(tmp_path, "--secret", "old.cfg", "--force", *files)
    assert code == 0, err
    assert ZOPEUSER_PASSWORD in (tmp_path / "old.cfg").read_text()
    assert stat.S_IMODE(os.stat(str(tmp_path / "old.cfg")).st_mode) == 0o600
    before = digest(tmp_path)
    code, out, err = run_convert(tmp_path, "--secret", "secret.cfg", "--force", *files)
    assert code == 2 and "one of the files read" in err
    assert digest(tmp_path) == before


def test_files_it_cannot_read(tmp_path):
    code, out, err = run_convert(tmp_path, "nosuch.cfg")
    assert code == 2 and "nosuch.cfg" in err and "Traceback" not in err
    write(tmp_path, "bad.cfg", "no section header\n")
    code, out, err = run_convert(tmp_path, "bad.cfg")
    assert code == 2 and "bad.cfg line 1" in err
    write(tmp_path, "empty.cfg", "[buildout]\nparts =\n")
    code, out, err = run_convert(tmp_path, "empty.cfg")
    assert code == 1 and "no <clock-server> block" in err


def test_main_is_importable_and_takes_argv(tmp_path, capsys, monkeypatch):
    seed(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert convert.main(["production.cfg"]) == 0
    assert "[clock]" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        convert.main(["--backend", "nosuch", "production.cfg"])


def test_plus_equals_across_files_lists_every_file(tmp_path):
    write(
        tmp_path,
        "base.cfg",
        """
[buildout]
parts = instance

[instance]
recipe = plone.recipe.zope2instance
http-address = 8080
zope-conf-additional =
"""
        + block("/first", 3600, "admin", "pw1"),
    )
    write(
        tmp_path,
        "site.cfg",
        """
[buildout]
extends = base.cfg

[instance]
zope-conf-additional +=
"""
        + block("/second", 60, "admin", "pw1")
        + """
    <clock-server>
      method /third
      password ${secrets:pw}
      user admin
    </clock-server>

[secrets]
pw = pw1
""",
    )
    write(
        tmp_path,
        "clock.conf",
        "%define PW secret\n<clock-server>\n"
        "  method /defined\n  user admin\n  password $PW\n</clock-server>\n",
    )
    with open(str(tmp_path / "site.cfg"), "a") as f:
        f.write("[other]\nzope-conf-additional = %include clock.conf\n")
    code, out, err = run_convert(tmp_path, "site.cfg", "base.cfg")
    assert code == 1, out + err
    assert "base.cfg lines 7-13: [instance] zope-conf-additional" in out
    assert "site.cfg lines 5-17: [instance] zope-conf-additional" in out
    part = part_text(out)
    assert "credentials = clock-credentials\n" in part
    assert "/third  60\n" in part  # ZServer's default period
    assert "site.cfg line 22: [other] zope-conf-additional" in out
    assert "/defined (%s" % tmp_path in out
    assert "password uses a zope.conf substitution" in out
    assert "pw1" not in out


def test_secret_file_through_a_symlink_is_refused(tmp_path):
    seed(tmp_path)
    os.symlink(str(tmp_path / "elsewhere.cfg"), str(tmp_path / "link.cfg"))
    code, out, err = run_convert(
        tmp_path, "--secret", "link.cfg", "--force", "production.cfg"
    )
    assert code == 2 and "link.cfg" in err and out == ""
    assert not (tmp_path / "elsewhere.cfg").exists()
    os.symlink(str(tmp_path / "secret.cfg"), str(tmp_path / "back.cfg"))
    before = digest(tmp_path)
    code, out, err = run_convert(
        tmp_path, "--secret", "back.cfg", "--force", "production.cfg"
    )
    assert code == 2 and "one of the files read" in err
    assert digest(tmp_path) == before


# Every value a user can paste: the converted part and secret file, read
# back by zc.buildout's own parser and the recipe's jobs parser, give back
# exactly what ZServer read from the block, or the block is refused.

TRICKY = "aZ09$%#;:{}[]=\\'\" \t.@-_/?&+~!*()<>,`|^"
text = st.text(alphabet=TRICKY, min_size=1, max_size=20).map(str.strip).filter(bool)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(user=text, password=text, query=text)
def test_any_pasted_value_round_trips_or_is_refused(
    tmp_path_factory, user, password, query
):
    directory = tmp_path_factory.mktemp("prop")
    method = "/site/view?q=" + query
    zconf = lambda v: v.replace("$", "$$")  # noqa: E731
    pasted = (
        "[client2]\nhttp-address = 8080\nzope-conf-additional =\n"
        "    <clock-server>\n      method %s\n      period 3600\n"
        "      user %s\n      password %s\n    </clock-server>\n"
        % (zconf(method), zconf(user), zconf(password))
    )
    cfg = write(directory, "secret.cfg", pasted, mode=0o600)
    secret = str(directory / "clock-secret.cfg")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = convert.main(["--secret", secret, cfg])
    out, err = out.getvalue(), err.getvalue()
    assert "password =" not in out  # the secret went to the file only
    if code == 1:
        assert "cannot be mapped" in out and "Traceback" not in err
        return
    assert code == 0, out + err
    with open(secret) as f:
        sections = zc.buildout.configparser.parse(io.StringIO(f.read()), secret)
    assert sections["clock-credentials"] == {"user": user, "password": password}
    part = zc.buildout.configparser.parse(io.StringIO(part_text(out)), "part")
    (job,) = jobs.parse_jobs(part["clock"]["jobs"])
    assert (job.method, job.period) == (method, 3600)
