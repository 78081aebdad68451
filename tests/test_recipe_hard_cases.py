"""Hard cases through a real bin/buildout: special crontab-files, ``~``,
a failed update, buildouts editing one crontab at the same time.
"""

import os
import shutil
import stat

import pytest

from buildouts import CRON_SECRET as SECRET
from buildouts import FOREIGN_BYTES as FOREIGN
from buildouts import Buildout, assert_clean_error, block


def clock(options, parts="clock"):
    # The plain crontab lines (monitor = false): these tests are about the
    # crontab itself, not about the exec wrapping.
    if "monitor =" not in options:
        options = "monitor = false\n" + options
    return (
        "[buildout]\nextends = secret.cfg\nparts = %s\n\n[clock]\n"
        "recipe = collective.recipe.clockserver\n%s" % (parts, options)
    )


def installed_parts(b):
    """The parts buildout has recorded as installed."""
    options = b.installed_options("buildout")
    return (options or {}).get("parts", "").split()


def identity(path):
    info = os.lstat(path)
    return info.st_ino, info.st_mode, info.st_rdev


# -- crontab-file: only a regular file, or none yet ---------------------------


def special(tmp_path, kind):
    """Make a special file of ``kind``; return (path, words in the error)."""
    path = tmp_path / ("special-" + kind.replace(" ", "-").replace("/", ""))
    if kind == "FIFO":
        os.mkfifo(path)
        return path, "is a FIFO (named pipe), not a regular file"
    if kind == "directory":
        path.mkdir()
        return path, "is a directory, not a regular file"
    if kind == "character device":
        if os.geteuid() != 0:
            pytest.skip("making a device needs root")
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # as /dev/null
        return path, "is a character device, not a regular file"
    if kind == "symlink to /dev/null":
        path.symlink_to("/dev/null")
        return path, "(a symlink to /dev/null) is a character device"
    if kind == "symlink to a FIFO":
        target, _ = special(tmp_path, "FIFO")
        path.symlink_to(target)
        return path, "(a symlink to %s) is a FIFO" % target
    if kind == "symlink to a directory":
        target, _ = special(tmp_path, "directory")
        path.symlink_to(target)
        return path, "(a symlink to %s) is a directory" % target
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "FIFO",
        "directory",
        "character device",
        "symlink to /dev/null",
        "symlink to a FIFO",
        "symlink to a directory",
    ],
)
def test_special_crontab_file_is_refused_and_left_alone(buildout, tmp_path, kind):
    path, words = special(tmp_path, kind)
    before = identity(path)
    buildout.write("secret.cfg", SECRET, mode=0o600)
    config = clock("crontab-file = %s\nzeopack = 0 1 * * 6\n" % path)
    buildout.write("buildout.cfg", config)
    result = buildout.run()  # a FIFO opened for reading would hang here
    assert_clean_error(result)
    assert "Error: [clock] crontab-file: %s" % path in result.output
    assert words in result.output
    assert (
        "Set crontab-file to a regular file, or to a path that does not "
        "exist yet" in result.output
    )
    assert "it was left as it is" in result.output
    assert identity(path) == before
    assert buildout.installed_options("clock") is None
    assert not buildout.exists("parts", "clock")

    # An installed part whose crontab-file becomes a FIFO: refused the same
    # way, and the installed part (and its block) stay as they were.
    regular = tmp_path / "regular.cron"
    regular.write_bytes(FOREIGN)
    buildout.write(
        "buildout.cfg", clock("crontab-file = %s\nzeopack = 0 1 * * 6\n" % regular)
    )
    assert buildout.run().ok
    installed = regular.read_bytes()
    recorded = buildout.installed_options("clock")
    buildout.write("buildout.cfg", config)
    result = buildout.run()
    assert_clean_error(result)
    assert words in result.output
    assert identity(path) == before
    assert regular.read_bytes() == installed
    assert buildout.installed_options("clock") == recorded


def test_tilde_is_the_home_directory(buildout, tmp_path, fake_crontab):
    home = tmp_path / "home"
    home.mkdir()
    buildout.env = dict(buildout.env, HOME=str(home))
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write(
        "buildout.cfg", clock("crontab-file = ~/cron/clock\nzeopack = 0 1 * * 6\n")
    )
    result = buildout.run()
    assert result.ok, result.output
    path = home / "cron" / "clock"
    assert path.read_bytes() == block(
        buildout, ["0 1 * * 6 %s" % buildout.path("bin", "zeopack")]
    )
    assert buildout.installed_options("clock")["crontab-file"] == str(path)
    assert not buildout.exists("~")
    assert fake_crontab.calls() == []
    buildout.write("buildout.cfg", "[buildout]\nparts =\n")
    assert buildout.run().ok
    assert path.read_bytes() == b""


# -- a failed update leaves no line that calls a removed bin/<part> -----------

CRON_PART = """\
backend = cron
address = 8080
credentials = clock-credentials
jobs =
    /site/a 15m
    /site/b 1h
zeopack = 0 1 * * 6
"""


def lines_calling(data, script):
    return [line for line in data.split(b"\n") if script.encode() in line]


@pytest.mark.parametrize("where", ["user", "file"])
def test_failed_update_leaves_no_line_calling_the_removed_script(
    buildout, fake_crontab, tmp_path, where
):
    buildout.write("secret.cfg", SECRET, mode=0o600)
    options = CRON_PART
    path = tmp_path / "clock.cron"
    if where == "file":
        options += "crontab-file = %s\n" % path

        def read():
            return path.read_bytes()

        def write(data):
            path.write_bytes(data)
    else:
        read, write = fake_crontab.read_bytes, fake_crontab.write_bytes
    write(FOREIGN)
    buildout.write("buildout.cfg", clock(options))
    result = buildout.run()
    assert result.ok, result.output
    script = buildout.path("bin", "clock")
    installed = read()
    assert len(lines_calling(installed, script)) == 2

    # Somebody duplicates the block by hand; the options are unchanged, so
    # buildout updates the part, the update fails, and buildout removes
    # bin/clock and forgets the part.
    ours = installed[len(FOREIGN) + 1 :]
    write(installed + ours + b"# mine, after the copy\n")
    result = buildout.run()
    assert_clean_error(result)
    assert "Updating clock." in result.output
    assert "is broken" in result.output
    assert "was taken out of the crontab" in result.output
    assert not os.path.exists(script)
    assert installed_parts(buildout) == []
    # No line calls the removed script; every other line is there.
    assert lines_calling(read(), script) == []
    assert read() == FOREIGN + b"# mine, after the copy\n"

    # The next run installs the part and one block again.
    result = buildout.run()
    assert result.ok, result.output
    assert "Installing clock." in result.output
    assert read() == FOREIGN + b"# mine, after the copy\n\n" + ours


def test_failed_update_that_cannot_clean_the_crontab_says_so(buildout, fake_crontab):
    """When the crontab itself cannot be read, nothing can take the block
    out: the error says which block to remove by hand."""
    buildout.write("secret.cfg", SECRET, mode=0o600)
    fake_crontab.write_bytes(FOREIGN)
    buildout.write("buildout.cfg", clock(CRON_PART))
    assert buildout.run().ok
    buildout.env = dict(buildout.env, FAKE_CRONTAB_FAIL="read")
    result = buildout.run()
    assert_clean_error(result)
    assert "Updating clock." in result.output
    assert "The crontab could not be cleaned either" in result.output
    assert (
        "remove it by hand: its lines call %s, which buildout removes "
        "after this error" % buildout.path("bin", "clock") in result.output
    )
    assert "# Generated by %s [clock]" % buildout.directory in result.output


def test_failure_after_the_crontab_step_takes_the_block_out(buildout, fake_crontab):
    """Any failure of install, not only the crontab's: here bin/clock
    cannot be written (a directory stands in its place)."""
    buildout.write("secret.cfg", SECRET, mode=0o600)
    fake_crontab.write_bytes(FOREIGN)
    buildout.write("buildout.cfg", clock(CRON_PART))
    assert buildout.run().ok
    script = buildout.path("bin", "clock")
    os.remove(script)  # buildout reinstalls a part whose files are missing
    os.makedirs(os.path.join(script, "in-the-way"))
    result = buildout.run()
    assert result.returncode != 0
    assert installed_parts(buildout) == []
    assert lines_calling(fake_crontab.read_bytes(), script) == []
    assert fake_crontab.read_bytes() == FOREIGN


# -- several buildouts at once against one crontab --------------------------

SITES = 4
ROUNDS = 6


def start(b):
    return b.start()


def concurrent_rounds(sites, read, target_option):
    """ROUNDS rounds; in each, every site installs, changes or removes its
    part at the same moment. Returns the rounds checked."""
    expected = {}
    for round_ in range(ROUNDS):
        for number, b in enumerate(sites):
            # Change every round; every third round site n removes its part.
            if (round_ + number) % 3 == 2:
                b.write("buildout.cfg", "[buildout]\nparts =\n")
                expected[b.directory] = None
            else:
                hour = (round_ * 7 + number) % 24
                b.write(
                    "buildout.cfg",
                    clock(
                        "%szeopack = 0 %d * * 6\nzeopack-command = /bin/true\n"
                        "crontab = @daily /bin/true site-%d\n"
                        % (target_option, hour, number)
                    ),
                )
                expected[b.directory] = [
                    "0 %d * * 6 /bin/true" % hour,
                    "@daily /bin/true site-%d" % number,
                ]
        processes = [start(b) for b in sites]
        outputs = [p.communicate(timeout=600)[0] for p in processes]
        for p, output in zip(processes, outputs, strict=True):
            assert p.returncode == 0, output
        data = read()
        assert data.startswith(FOREIGN), "round %d: foreign lines lost" % round_
        for b in sites:
            ident = "%s [clock]" % b.directory
            entries = expected[b.directory]
            count = data.count(("# Generated by %s\n" % ident).encode())
            if entries is None:
                assert count == 0, "round %d: %s kept a removed block" % (round_, ident)
            else:
                assert count == 1, "round %d: %s has %d blocks" % (round_, ident, count)
                assert block(b, entries) in data, (
                    "round %d: the block of %s is lost or stale" % (round_, ident)
                )
    return ROUNDS


def make_sites(tmp_path, env):
    sites = []
    for number in range(SITES):
        directory = tmp_path / ("site%d" % number)
        directory.mkdir()
        b = Buildout(directory, env)
        b.write("secret.cfg", SECRET, mode=0o600)
        sites.append(b)
    return sites


def test_buildouts_at_once_share_one_crontab_file(buildout, tmp_path):
    path = tmp_path / "shared" / "crontab"
    path.parent.mkdir()
    path.write_bytes(FOREIGN)
    sites = make_sites(tmp_path, buildout.env)
    rounds = concurrent_rounds(sites, path.read_bytes, "crontab-file = %s\n" % path)
    assert rounds == ROUNDS
    for b in sites:
        b.write("buildout.cfg", "[buildout]\nparts =\n")
    for p in [start(b) for b in sites]:
        assert p.wait(timeout=600) == 0
    assert path.read_bytes() == FOREIGN
    assert sorted(os.listdir(path.parent)) == [".crontab.lock", "crontab"]


def test_buildouts_at_once_share_the_user_crontab(buildout, tmp_path, fake_crontab):
    """The stand-in crontab reads and writes the table in separate steps,
    as crontab(1) does: without the lock, edits would be lost."""
    fake_crontab.write_bytes(FOREIGN)
    sites = make_sites(tmp_path, buildout.env)
    assert concurrent_rounds(sites, fake_crontab.read_bytes, "") == ROUNDS


def test_buildouts_at_once_share_the_real_crontab(buildout, tmp_path, real_crontab):
    env = {k: v for k, v in buildout.env.items() if not k.startswith("FAKE_CRONTAB")}
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not p.endswith("fakebin")
    )
    env.pop("CLOCKSERVER_LOCK_DIR", None)  # the real per-user lock
    assert shutil.which("crontab", path=env["PATH"]) == real_crontab.command
    real_crontab.write_bytes(FOREIGN)
    sites = make_sites(tmp_path, env)
    assert concurrent_rounds(sites, real_crontab.read_bytes, "") == ROUNDS


# -- addresses and Host: values, checked in full at build time ----------------

# Two end to end (an option value and a non-ASCII one through buildout's
# config reading); every case on the pure reader in test_settings.py.
BAD_VALUES = [
    (
        "address",
        "backend = runner\naddress = 256.1.1.1:8080\njobs = /a 1h\n",
        "'256.1.1.1' is not an IPv4 address",
    ),
    (
        "host",
        "host = bücher.example\njobs = /a 1h\n",
        "is not ASCII; an HTTP header carries ASCII only",
    ),
]


@pytest.mark.parametrize(
    "option, options, problem",
    BAD_VALUES,
    ids=["%s-%d" % (case[0], i) for i, case in enumerate(BAD_VALUES)],
)
def test_bad_address_or_host_is_refused_by_buildout(buildout, option, options, problem):
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write("buildout.cfg", clock(options))
    result = buildout.run()
    assert_clean_error(result)
    assert "Error: [clock] %s: " % option in result.output
    assert problem in result.output
    assert (
        "HOST:PORT" in result.output or "www.example.org:8080" in result.output
    )  # the fix
    assert buildout.installed_options("clock") is None
    assert not buildout.exists("bin", "clock")


def test_good_addresses_and_hosts_pass_buildout(buildout):
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write(
        "buildout.cfg",
        clock(
            "backend = runner\naddress = http://[::]:65535/\n"
            "host = www.EXAMPLE.org.\n"
            "jobs =\n    /a 1h host=192.0.2.1:1\n    /b 1h host=[2001:db8::1]\n"
            "    /c 1h\n"
        ),
    )
    result = buildout.run()
    assert result.ok, result.output
    import json

    config = json.loads(buildout.read("parts", "clock", "clock.json"))
    assert config["address"] == "http://[::1]:65535"
    assert [job["host"] for job in config["jobs"]] == [
        "192.0.2.1:1",
        "[2001:db8::1]",
        "www.EXAMPLE.org.",
    ]


# -- the credentials section: references, hygiene, verbose output --------------


@pytest.mark.parametrize(
    "secret, reported",
    [
        (
            "[clock-credentials]\nuser = ${nosuch:user}\npassword = x\n",
            "The referenced section, 'nosuch', was not defined.",
        ),
        (
            "[clock-credentials]\nuser = u\npassword = ${other:nokey}\n[other]\n",
            "Referenced option does not exist: other nokey",
        ),
    ],
)
def test_reference_to_a_missing_section_is_reported_as_buildout_does(
    buildout, secret, reported
):
    buildout.write("secret.cfg", secret, mode=0o600)
    buildout.write(
        "buildout.cfg",
        clock("backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n"),
    )
    result = buildout.run()
    assert_clean_error(result)
    assert reported in result.output
    assert "is not defined" not in result.output  # our own message
    assert "Create it in secret.cfg" not in result.output
    assert buildout.installed_options("clock") is None


def warns_about_world_cfg(buildout, secret, mode):
    """A private secret.cfg ``secret`` whose password comes from world.cfg:
    bin/buildout succeeds and warns about world.cfg (``mode`` is what
    follows "(mode "), not about secret.cfg."""
    buildout.write("secret.cfg", secret, mode=0o600)
    buildout.write(
        "buildout.cfg",
        clock("backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n"),
    )
    result = buildout.run()
    assert result.ok, result.output
    assert (
        "%s holds a password and is readable by group or others (mode %s"
        % (buildout.path("world.cfg"), mode)
    ) in result.output
    assert "secret.cfg holds a password" not in result.output
    return result


def test_hygiene_warning_names_the_file_that_really_holds_the_password(buildout):
    """secret.cfg (private) only refers to a password in a world-readable
    file: the warning is about that file, not secret.cfg."""
    buildout.write("world.cfg", "[world]\npassword = w0rld-Pa55\n", mode=0o644)
    buildout.write("base.cfg", "[base]\nuser = zopeuser\n", mode=0o644)
    world = buildout.path("world.cfg")
    result = warns_about_world_cfg(
        buildout,
        "[buildout]\nextends = world.cfg base.cfg\n\n"
        "[clock-credentials]\nuser = ${base:user}\n"
        "password = ${world:password}\n",
        "644); run: chmod 600 %s" % world,
    )
    assert "base.cfg holds a password" not in result.output  # the user only

    # Once world.cfg is private, no warning; a password written in
    # secret.cfg itself is still found there.
    os.chmod(world, 0o600)
    result = buildout.run()
    assert result.ok, result.output
    assert "holds a password" not in result.output
    buildout.write(
        "secret.cfg",
        "[clock-credentials]\nuser = zopeuser\npassword = pre-${:user}-post\n",
        mode=0o640,
    )
    result = buildout.run()
    assert result.ok, result.output
    assert (
        "%s holds a password and is readable" % buildout.path("secret.cfg")
        in result.output
    )


def test_verbose_buildout_does_not_show_the_password(buildout):
    """``bin/buildout -vv`` prints every section a recipe has read
    ("Configuration data:"). At that verbosity the recipe reads the
    credentials only when it installs the part, after the dump."""
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write(
        "buildout.cfg",
        clock(
            "credentials = clock-credentials\n"
            "backend = runner\naddress = 8080\n"
            "jobs = /a 1h\n"
        ),
    )
    for args in [("-vv",), ("-vvv",), ("-v",), ()]:
        result = buildout.run("buildout.cfg", *args)
        assert result.ok, result.output
        if args[:1] in (("-vv",), ("-vvv",)):
            assert "Configuration data:" in result.output
        assert "cr0n-Pa55word" not in result.output
        assert "[clock-credentials]" not in result.output
    # What bin/<part> got is complete all the same.
    import json

    config = json.loads(buildout.read("parts", "clock", "clock.json"))
    assert config["jobs"][0]["password"] == "cr0n-Pa55word"
    assert "cr0n-Pa55word" not in buildout.installed()

    # zserver, not inline: the blocks in the 0600 file carry the password.
    buildout.write(
        "buildout.cfg",
        clock("backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n"),
    )
    result = buildout.run("buildout.cfg", "-vv")
    assert result.ok, result.output
    assert "cr0n-Pa55word" not in result.output
    assert "password cr0n-Pa55word" in buildout.read(
        "parts", "clock", "clock-server.conf"
    )


def test_verbose_buildout_still_refuses_bad_credentials(buildout):
    buildout.write(
        "buildout.cfg",
        clock("backend = zserver\ncredentials = clock-credentials\njobs = /a 1h\n"),
    )
    # A missing section: refused when buildout reads the part, as always.
    buildout.write("secret.cfg", "[other]\n", mode=0o600)
    result = buildout.run("buildout.cfg", "-vv")
    assert_clean_error(result)
    assert "the credentials section [clock-credentials] is not defined" in (
        result.output
    )
    assert "Create it in secret.cfg" in result.output
    assert buildout.installed_options("clock") is None
    # A user without password: refused when the part is installed.
    buildout.write("secret.cfg", "[clock-credentials]\nuser = u\n", mode=0o600)
    result = buildout.run("buildout.cfg", "-vv")
    assert_clean_error(result)
    assert (
        "[clock] credentials: the credentials section [clock-credentials] "
        "has a user but no password" in result.output
    )
    assert buildout.installed_options("clock") is None
    assert not buildout.exists("parts", "clock")


def test_hygiene_warning_follows_a_macro(buildout):
    """``[clock-credentials] <= world``: the password is world.cfg's."""
    buildout.write(
        "world.cfg", "[world]\nuser = zopeuser\npassword = w0rld-Pa55\n", mode=0o604
    )
    warns_about_world_cfg(
        buildout,
        "[buildout]\nextends = world.cfg\n\n[clock-credentials]\n<= world\n",
        "604)",
    )


LOCK_PART = (
    "backend = runner\naddress = 8080\njobs = /a 1h\n"
    "lock = redis://cache.example.org/2\n"
    "lock-credentials = lock-credentials\nlock-namespace = site\n"
)


def test_verbose_buildout_does_not_show_the_lock_password(buildout):
    buildout.write(
        "secret.cfg",
        SECRET + "\n[lock-credentials]\nuser = clock\npassword = L0ck-s3cret-pw\n",
        mode=0o600,
    )
    buildout.write(
        "buildout.cfg", clock("credentials = clock-credentials\n" + LOCK_PART)
    )
    result = buildout.run("buildout.cfg", "-vv")
    assert result.ok, result.output
    assert "Configuration data:" in result.output
    for secret in ("L0ck-s3cret-pw", "cr0n-Pa55word"):
        assert secret not in result.output
    import json

    config = json.loads(buildout.read("parts", "clock", "clock.json"))
    assert "L0ck-s3cret-pw" in json.dumps(config["lock"])
    assert config["jobs"][0]["password"] == "cr0n-Pa55word"


def test_reference_to_a_missing_section_in_lock_credentials(buildout):
    buildout.write(
        "secret.cfg",
        "[lock-credentials]\nuser = clock\npassword = ${nosuch:password}\n",
        mode=0o600,
    )
    buildout.write("buildout.cfg", clock(LOCK_PART))
    result = buildout.run()
    assert_clean_error(result)
    assert "The referenced section, 'nosuch', was not defined." in (result.output)
    assert "is not defined" not in result.output


def test_failed_update_at_install_time_credentials_still_takes_the_block_out(
    buildout, fake_crontab
):
    """-vv reads the credentials while updating: a reference to a missing
    section then fails the update; buildout's own message stays intact."""
    buildout.write("secret.cfg", SECRET, mode=0o600)
    fake_crontab.write_bytes(FOREIGN)
    buildout.write("buildout.cfg", clock(CRON_PART))
    assert buildout.run().ok
    buildout.write(
        "secret.cfg",
        "[clock-credentials]\nuser = ${nosuch:u}\npassword = p\n",
        mode=0o600,
    )
    result = buildout.run("buildout.cfg", "-vv")
    assert_clean_error(result)
    assert "Updating clock." in result.output
    assert "Error: The referenced section, 'nosuch', was not defined." in (
        result.output
    )
    assert "was taken out of the crontab" in result.output
    assert fake_crontab.read_bytes() == FOREIGN
    assert not buildout.exists("bin", "clock")
