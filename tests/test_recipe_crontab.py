"""Crontab blocks through a real bin/buildout run.

The options zeopack, zeopack-command, crontab, crontab-file and enabled,
the output crontab-entries and the cron backend: what lands in the crontab
(conftest's stand-in, or the real one), what buildout records in
.installed.cfg, and what happens when crontab is missing or fails.
"""

import os
import shutil

import pytest

from buildouts import CRON_SECRET as SECRET
from buildouts import FOREIGN_BYTES as FOREIGN
from buildouts import assert_clean_error, block


def clock(options, parts="clock", extra=""):
    """buildout.cfg with a [clock] part holding ``options``; the plain
    crontab lines (monitor = false) unless ``options`` say otherwise."""
    if "monitor =" not in options:
        options = "monitor = false\n" + options
    return (
        "[buildout]\nparts = %s\n\n[clock]\n"
        "recipe = collective.recipe.clockserver\n%s\n%s" % (parts, options, extra)
    )


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


ZEOPACK_AND_BACKUPS = """\
zeopack = 0 1 * * 6
crontab =
    @daily ${buildout:directory}/bin/backup
    30  2 * * *   /usr/bin/nice /srv/backup.sh --quiet
"""

# Another part that uses the output: its crontab is clock's entries.
MIRROR = """
[mirror]
recipe = collective.recipe.clockserver
monitor = false
crontab-file = mirror.cron
crontab = ${clock:crontab-entries}
"""


def zeopack_entries(b):
    return [
        "0 1 * * 6 %s" % b.path("bin", "zeopack"),
        "@daily %s" % b.path("bin", "backup"),
        "30 2 * * * /usr/bin/nice /srv/backup.sh --quiet",
    ]


# -- the user's crontab -------------------------------------------------------


def test_install_rerun_remove(buildout, fake_crontab):
    fake_crontab.write_bytes(FOREIGN)
    buildout.write("buildout.cfg", clock(ZEOPACK_AND_BACKUPS, "clock mirror", MIRROR))
    result = buildout.run()
    assert result.ok, result.output
    assert "Installing clock." in result.output
    entries = zeopack_entries(buildout)
    installed = FOREIGN + b"\n" + block(buildout, entries)
    assert fake_crontab.read_bytes() == installed
    assert fake_crontab.calls() == ["-l", "-"]

    # The output, as recorded and as another part received it.
    options = buildout.installed_options("clock")
    assert options["crontab-entries"] == "\n".join(entries)
    assert options["crontab-identifier"] == "%s [clock]" % buildout.directory
    assert read_bytes(buildout.path("mirror.cron")) == block(
        buildout, entries, "mirror"
    )
    assert buildout.installed_options("mirror")["crontab-entries"] == (
        "\n".join(entries)
    )

    # Same options: update, read the crontab, write nothing.
    result = buildout.run()
    assert result.ok, result.output
    assert "Updating clock." in result.output
    assert fake_crontab.read_bytes() == installed
    assert fake_crontab.calls() == ["-l", "-", "-l"]

    # Remove the parts: the original crontab, byte for byte.
    buildout.write("buildout.cfg", "[buildout]\nparts =\n")
    result = buildout.run()
    assert result.ok, result.output
    assert "Uninstalling clock." in result.output
    assert fake_crontab.read_bytes() == FOREIGN
    assert fake_crontab.calls() == ["-l", "-", "-l", "-l", "-"]
    assert buildout.installed_options("clock") is None
    assert read_bytes(buildout.path("mirror.cron")) == b""


CHANGED = (
    ZEOPACK_AND_BACKUPS.replace("0 1 * * 6", "0 2 * * 0")
    + "zeopack-command = /usr/local/bin/zeopack -d 7 -S main\n"
)


def changed_entries(b):
    return [
        "0 2 * * 0 /usr/local/bin/zeopack -d 7 -S main",
        "@daily %s" % b.path("bin", "backup"),
        "30 2 * * * /usr/bin/nice /srv/backup.sh --quiet",
    ]


def test_change_replaces_the_block_and_enabled_false_removes_it(buildout, fake_crontab):
    fake_crontab.write_bytes(FOREIGN)
    buildout.write("buildout.cfg", clock(ZEOPACK_AND_BACKUPS))
    assert buildout.run().ok
    entries = zeopack_entries(buildout)

    # Other times and zeopack-command: one block with the new entries.
    buildout.write("buildout.cfg", clock(CHANGED))
    result = buildout.run()
    assert result.ok, result.output
    changed = changed_entries(buildout)
    text = FOREIGN + b"\n" + block(buildout, changed)
    assert fake_crontab.read_bytes() == text
    assert buildout.installed_options("clock")["crontab-entries"] == (
        "\n".join(changed)
    )

    # Stable on a re-run: nothing written.
    calls = len(fake_crontab.calls())
    result = buildout.run()
    assert result.ok, result.output
    assert "Updating clock." in result.output
    assert fake_crontab.read_bytes() == text
    assert fake_crontab.calls()[calls:] == ["-l"]

    # Back to the first entries: still one block, no extra blank lines.
    buildout.write("buildout.cfg", clock(ZEOPACK_AND_BACKUPS))
    assert buildout.run().ok
    assert fake_crontab.read_bytes() == FOREIGN + b"\n" + block(buildout, entries)

    # enabled = false: the block goes, everything else stays.
    buildout.write("buildout.cfg", clock(ZEOPACK_AND_BACKUPS + "enabled = false\n"))
    result = buildout.run()
    assert result.ok, result.output
    assert fake_crontab.read_bytes() == FOREIGN
    assert buildout.installed_options("clock")["crontab-entries"] == ""

    # Removing a disabled part has nothing to do in the crontab.
    calls = len(fake_crontab.calls())
    buildout.write("buildout.cfg", "[buildout]\nparts =\n")
    assert buildout.run().ok
    assert fake_crontab.calls()[calls:] == []
    assert fake_crontab.read_bytes() == FOREIGN


def test_changed_options_move_the_block_to_the_end(buildout, fake_crontab):
    """Buildout uninstalls a part whose options changed and installs it
    again: the block is removed and appended anew, exactly once."""
    fake_crontab.write_bytes(FOREIGN)
    buildout.write("buildout.cfg", clock(ZEOPACK_AND_BACKUPS))
    assert buildout.run().ok
    # The user adds a line of their own after our block.
    mine = b"# added by hand\n"
    fake_crontab.write_bytes(
        FOREIGN + b"\n" + block(buildout, zeopack_entries(buildout)) + mine
    )
    buildout.write("buildout.cfg", clock(CHANGED))
    result = buildout.run()
    assert result.ok, result.output
    after = fake_crontab.read_bytes()
    assert after.count(b"# Generated by " + buildout.directory.encode()) == 1
    assert after == (
        FOREIGN + mine + b"\n" + block(buildout, changed_entries(buildout))
    )


def test_part_without_entries_never_calls_crontab(buildout, fake_crontab):
    buildout.write("buildout.cfg", clock("backend = zserver\njobs = /site/update 1h\n"))
    assert buildout.run().ok
    assert buildout.installed_options("clock")["crontab-entries"] == ""
    buildout.write("buildout.cfg", "[buildout]\nparts =\n")
    assert buildout.run().ok
    assert fake_crontab.calls() == []
    assert fake_crontab.read_bytes() is None


# -- crontab-file ---------------------------------------------------------------


def test_crontab_file(buildout, fake_crontab):
    users = b"MAILTO=me\n# the user's own crontab\n"
    fake_crontab.write_bytes(users)
    path = buildout.path("var", "crontab")
    os.makedirs(buildout.path("var"))
    with open(path, "wb") as f:
        f.write(FOREIGN)
    config = "crontab-file = var/crontab\n" + ZEOPACK_AND_BACKUPS
    buildout.write("buildout.cfg", clock(config))
    result = buildout.run()
    assert result.ok, result.output
    entries = zeopack_entries(buildout)
    installed = FOREIGN + b"\n" + block(buildout, entries)
    assert read_bytes(path) == installed
    options = buildout.installed_options("clock")
    assert options["crontab-file"] == path  # relative to the buildout
    assert options["crontab-entries"] == "\n".join(entries)

    # Re-run: the file is not even rewritten.
    before = os.stat(path)
    result = buildout.run()
    assert result.ok, result.output
    assert "Updating clock." in result.output
    assert read_bytes(path) == installed
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    # Changed times: the block is replaced.
    buildout.write("buildout.cfg", clock(config.replace("0 1 * * 6", "0 2 * * 0")))
    assert buildout.run().ok
    changed = ["0 2 * * 0 " + entries[0].split(None, 5)[5]] + entries[1:]
    assert read_bytes(path) == FOREIGN + b"\n" + block(buildout, changed)

    # The user's crontab was never read nor written.
    assert fake_crontab.calls() == []
    assert fake_crontab.read_bytes() == users

    # Without crontab-file the block moves to the user's crontab.
    buildout.write("buildout.cfg", clock(ZEOPACK_AND_BACKUPS))
    assert buildout.run().ok
    assert read_bytes(path) == FOREIGN
    assert fake_crontab.read_bytes() == users + b"\n" + block(buildout, entries)

    # And back, then the part removed: both as they were.
    buildout.write("buildout.cfg", clock(config))
    assert buildout.run().ok
    assert read_bytes(path) == installed
    assert fake_crontab.read_bytes() == users
    buildout.write("buildout.cfg", "[buildout]\nparts =\n")
    assert buildout.run().ok
    assert read_bytes(path) == FOREIGN
    assert fake_crontab.read_bytes() == users


def test_crontab_file_directory_is_created(buildout, fake_crontab):
    buildout.write(
        "buildout.cfg", clock("crontab-file = var/cron/clock\nzeopack = 0 1 * * 6\n")
    )
    result = buildout.run()
    assert result.ok, result.output
    assert read_bytes(buildout.path("var", "cron", "clock")) == block(
        buildout, ["0 1 * * 6 %s" % buildout.path("bin", "zeopack")]
    )
    buildout.write("buildout.cfg", "[buildout]\nparts =\n")
    assert buildout.run().ok
    assert read_bytes(buildout.path("var", "cron", "clock")) == b""
    assert fake_crontab.calls() == []


# -- errors -------------------------------------------------------------------

# Parts that fail at the crontab step; two of them write files before it.
FAILING_PARTS = [
    pytest.param("zeopack = 0 1 * * 6\n", id="zeopack"),
    pytest.param(
        "backend = zserver\ncredentials = clock-credentials\n"
        "jobs = /site/a 1h\nzeopack = 0 1 * * 6\n",
        id="zserver-jobs",
    ),
    pytest.param(
        "credentials = clock-credentials\nbackend = cron\n"
        "address = 8080\njobs = /site/a 1h\n",
        id="cron-backend",
    ),
]


def path_without_crontab(tmp_path):
    """A PATH with the few tools buildout and sh need, but no crontab."""
    directory = tmp_path / "nocrontab"
    directory.mkdir()
    for tool in ("sh", "id", "cat", "git"):
        found = shutil.which(tool)
        if found:
            (directory / tool).symlink_to(found)
    assert shutil.which("crontab", path=str(directory)) is None
    return str(directory)


@pytest.mark.parametrize("how", ["missing", "failing"])
@pytest.mark.parametrize("options", FAILING_PARTS)
def test_crontab_missing_or_failing(buildout, fake_crontab, tmp_path, options, how):
    fake_crontab.write_bytes(FOREIGN)
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write(
        "buildout.cfg",
        clock(options).replace("[buildout]\n", "[buildout]\nextends = secret.cfg\n"),
    )
    env = buildout.env
    if how == "missing":
        buildout.env = dict(env, PATH=path_without_crontab(tmp_path))
        message = (
            "Error: [clock] crontab: no crontab command found on PATH; "
            "install cron (Debian: apt-get install cron) or set "
            "crontab-file"
        )
        calls = []
    else:
        buildout.env = dict(env, FAKE_CRONTAB_FAIL="1")
        message = (
            "Error: [clock] crontab: %s - failed with exit status 2: "
            '"-":3: bad minute\nerrors in crontab file, can\'t '
            "install." % fake_crontab.command
        )
        # The second -l: after the failure, is a block of ours there?
        calls = ["-l", "-", "-l"]
    result = buildout.run()
    assert_clean_error(result)
    assert message in result.output
    assert fake_crontab.calls() == calls
    # Nothing recorded, nothing left, the crontab untouched.
    assert buildout.installed_options("clock") is None
    assert fake_crontab.read_bytes() == FOREIGN
    assert not buildout.exists("parts", "clock")
    assert not buildout.exists("bin", "clock")
    holders = [
        name for name, text in buildout.all_text().items() if "cr0n-Pa55word" in text
    ]
    assert holders == ["secret.cfg"]

    # With a working crontab the next run installs the part.
    buildout.env = env
    result = buildout.run()
    assert result.ok, result.output
    assert "Installing clock." in result.output
    entries = buildout.installed_options("clock")["crontab-entries"]
    assert entries
    assert fake_crontab.read_bytes() == FOREIGN + b"\n" + block(
        buildout, entries.split("\n")
    )


def test_failing_crontab_keeps_the_part_installed_until_removed(buildout, fake_crontab):
    fake_crontab.write_bytes(FOREIGN)
    buildout.write("buildout.cfg", clock("zeopack = 0 1 * * 6\n"))
    assert buildout.run().ok
    installed = fake_crontab.read_bytes()
    recorded = buildout.installed_options("clock")

    # Removing the part while crontab fails: an error, and the part stays
    # recorded so that the next run removes its block.
    buildout.write("buildout.cfg", "[buildout]\nparts =\n")
    env = buildout.env
    buildout.env = dict(env, FAKE_CRONTAB_FAIL="1")
    result = buildout.run()
    assert_clean_error(result)
    assert (
        "[clock] crontab: %s - failed with exit status 2" % (fake_crontab.command)
        in result.output
    )
    assert fake_crontab.read_bytes() == installed
    assert buildout.installed_options("clock") == recorded

    buildout.env = env
    result = buildout.run()
    assert result.ok, result.output
    assert "Uninstalling clock." in result.output
    assert fake_crontab.read_bytes() == FOREIGN
    assert buildout.installed_options("clock") is None


def test_unchanged_rerun_does_not_need_a_writable_crontab(buildout, fake_crontab):
    """Nothing changed, nothing written: a failing write goes unnoticed."""
    fake_crontab.write_bytes(FOREIGN)
    buildout.write("buildout.cfg", clock(ZEOPACK_AND_BACKUPS))
    assert buildout.run().ok
    installed = fake_crontab.read_bytes()
    buildout.env = dict(buildout.env, FAKE_CRONTAB_FAIL="1")
    result = buildout.run()
    assert result.ok, result.output
    assert "Updating clock." in result.output
    assert fake_crontab.read_bytes() == installed
    assert fake_crontab.calls() == ["-l", "-", "-l"]


def test_broken_block_is_an_error_and_is_taken_out(buildout, fake_crontab):
    start = "# Generated by %s [clock]" % buildout.directory
    end = "# END %s [clock]" % buildout.directory
    broken = (
        FOREIGN
        + (
            "%s\n@daily old\n%s\n%s\n@daily older\n%s\n" % (start, end, start, end)
        ).encode()
    )
    fake_crontab.write_bytes(broken)
    buildout.write("buildout.cfg", clock("zeopack = 0 1 * * 6\n"))
    result = buildout.run()
    assert_clean_error(result)
    assert (
        "Error: [clock] crontab: the user's crontab: the block of %s "
        "[clock] is broken: %r found on lines 13, 16 and %r on lines "
        "15, 18" % (buildout.directory, start, end)
    ) in result.output
    assert "The block %r was taken out of the crontab" % start in result.output
    # Our lines went (they would call what buildout removes); nothing else.
    assert fake_crontab.calls() == ["-l", "-l", "-"]
    assert fake_crontab.read_bytes() == FOREIGN
    assert buildout.installed_options("clock") is None
    # The next run installs one block.
    result = buildout.run()
    assert result.ok, result.output
    assert fake_crontab.read_bytes() == FOREIGN + b"\n" + block(
        buildout, ["0 1 * * 6 %s" % buildout.path("bin", "zeopack")]
    )


# -- the cron backend -----------------------------------------------------------


def test_cron_backend_entries_without_secrets(buildout, fake_crontab):
    fake_crontab.write_bytes(FOREIGN)
    buildout.write("secret.cfg", SECRET, mode=0o600)
    buildout.write(
        "buildout.cfg",
        clock("""\
backend = cron
address = 8080
credentials = clock-credentials
jobs =
    /site/a 15m
    /site/b 1h
    /site/c 6h
    /site/d 1d
    /site/e 1w
    /site/f 7m times='5 4 * * *'
zeopack = 0 1 * * 6
""").replace("[buildout]\n", "[buildout]\nextends = secret.cfg\n"),
    )
    result = buildout.run()
    assert result.ok, result.output
    script = buildout.path("bin", "clock")
    entries = [
        "*/15 * * * * %s fire --scheduled site-a" % script,
        "0 * * * * %s fire --scheduled site-b" % script,
        "0 */6 * * * %s fire --scheduled site-c" % script,
        "0 0 * * * %s fire --scheduled site-d" % script,
        "0 0 * * 0 %s fire --scheduled site-e" % script,
        "5 4 * * * %s fire --scheduled site-f" % script,
        "0 1 * * 6 %s" % buildout.path("bin", "zeopack"),
    ]
    text = fake_crontab.read_bytes()
    assert text == FOREIGN + b"\n" + block(buildout, entries)
    options = buildout.installed_options("clock")
    assert options["crontab-entries"] == "\n".join(entries)
    assert options["script"] == script
    for secret in ("cronuser", "cr0n-Pa55word"):
        assert secret.encode() not in text
        assert secret not in buildout.installed()
        assert secret not in options["crontab-entries"]


# -- the real crontab -----------------------------------------------------------


def test_real_crontab(buildout, real_crontab):
    """bin/buildout with the machine's crontab(1) on PATH, not the stand-in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "PYTHONPATH" and not k.startswith("FAKE_CRONTAB")
    }
    assert shutil.which("crontab", path=env["PATH"]) == real_crontab.command
    buildout.env = env
    real_crontab.write_bytes(FOREIGN)
    buildout.write(
        "buildout.cfg",
        clock(
            "zeopack = 0 1 * * 6\nzeopack-command = /bin/true\n"
            "crontab = @weekly /bin/true weekly\n"
        ),
    )
    result = buildout.run()
    assert result.ok, result.output
    installed = (
        FOREIGN
        + b"\n"
        + block(buildout, ["0 1 * * 6 /bin/true", "@weekly /bin/true weekly"])
    )
    assert real_crontab.read_bytes() == installed

    result = buildout.run()
    assert result.ok, result.output
    assert "Updating clock." in result.output
    assert real_crontab.read_bytes() == installed

    buildout.write("buildout.cfg", "[buildout]\nparts =\n")
    result = buildout.run()
    assert result.ok, result.output
    assert "Uninstalling clock." in result.output
    assert real_crontab.read_bytes() == FOREIGN


def test_a_misspelt_option_warns_naming_the_one_meant(buildout, fake_crontab):
    """zc.buildout's own "unused option(s)" warning stays (the recipe never
    reads an option it does not know), and ours names the option meant."""
    buildout.write(
        "buildout.cfg", clock("zeopak = 0 1 * * 6\ncrontab = @daily /srv/backup\n")
    )
    result = buildout.run()
    assert result.ok, result.output
    assert (
        "Section `clock` contains unknown option 'zeopak': did you mean zeopack?"
    ) in result.output
    assert "contains unused option(s): 'zeopak'" in result.output
    table = fake_crontab.text()
    assert "/srv/backup" in table and "bin/zeopack" not in table
