"""clockserver-convert: pasted ``<clock-server>`` blocks -> one clock part.

Usage: ``clockserver-convert [--secret FILE] [--force] [--backend NAME]
[--part NAME] FILE...`` (or ``python3 -m collective.recipe.clockserver.convert``).
Reads the buildout files as buildout does, finds every ``<clock-server>``
block in any option (and in files that a value ``%include``s), and prints
the part that replaces them, the credentials sections, the lines to remove
and the line to add. Changes no input file. Exit status 0 when every block
was mapped, 1 when a block cannot be (each listed with the reason) or none
was found, 2 when the files cannot be read or the arguments are wrong.
Python 3.10+ only; the recipe never imports it.
"""

import argparse
import collections
import os
import re
import shlex
import sys

from ..jobs import derive_name
from ..partoptions import BACKENDS
from . import buildoutfiles
from .blocks import scan


def buildout_text(value):
    """A value for a buildout file: buildout passes ``$`` and ``$$`` on as
    written (check() refuses values with ``${``, which it would substitute)."""
    return value


def job_word(text):
    return shlex.quote(text) if any(c in text for c in "'\"\\#") else text


def plan(blocks, part):
    """Blocks -> (part options, jobs lines, credentials sections)."""
    hosts = [b.values.get("host") for b in blocks]
    common_host = None
    if all(hosts):
        common_host = collections.Counter(hosts).most_common(1)[0][0]
    pairs = [
        (b.values["user"], b.values["password"]) if b.values.get("user") else None
        for b in blocks
    ]
    sections = {}
    for pair in pairs:
        if pair and pair not in sections:
            base = (
                "%s-credentials" % part
                if not sections
                else "%s-credentials-%s"
                % (part, re.sub(r"[^A-Za-z0-9._-]+", "-", pair[0]))
            )
            name, n = base, 1
            while name in sections.values():
                n += 1
                name = "%s-%d" % (base, n)
            sections[pair] = name
    common_pair = None
    if pairs and all(pairs):
        common_pair = collections.Counter(pairs).most_common(1)[0][0]
    lines, names = [], set()
    for block, pair in zip(blocks, pairs):
        method = block.values["method"]
        if not method.startswith("/"):
            method = "/" + method  # ZServer adds the slash itself
        words = [job_word(method), str(int(block.values.get("period", "60")))]
        name = derive_name(method)
        if name in names:
            base, n = name, 1
            while name in names:
                n += 1
                name = "%s-%d" % (base, n)
            words.append("name=%s" % name)
        names.add(name)
        if block.values.get("host") and block.values["host"] != common_host:
            words.append("host=%s" % block.values["host"])
        if pair and pair != common_pair:
            words.append("credentials=%s" % sections[pair])
        lines.append("  ".join(words))
    options = []
    if common_pair:
        options.append("credentials = %s" % sections[common_pair])
    if common_host:
        options.append("host = %s" % common_host)
    return options, lines, {name: pair for pair, name in sections.items()}


def credentials_text(sections, secret):
    out = []
    for name, (user, password) in sections.items():
        shown = buildout_text(password) if secret else "<the password of %s>" % user
        out.append(
            "[%s]\nuser = %s\npassword = %s\n" % (name, buildout_text(user), shown)
        )
    return "\n".join(out)


def write_secret(path, text, force, inputs):
    """The credentials sections to ``path``, mode 0600; an error text or None."""
    real = os.path.realpath(path)
    if real in {os.path.realpath(f) for f in inputs}:
        return "--secret %s is one of the files read: name a new file" % path
    flags = (
        os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if force else os.O_EXCL)
    )
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return "--secret %s exists: give --force to overwrite it" % path
    except OSError as e:
        return "cannot write --secret %s: %s" % (path, e.strerror)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)
    return None


def report(found, args, out):
    mapped = [b for b in found.blocks if not b.problem]
    unique = list({b.key: b for b in reversed(mapped)}.values())[::-1]
    unmappable = [b for b in found.blocks if b.problem]
    options, lines, sections = plan(unique, args.part) if unique else ([], [], {})
    if sections and args.secret:
        # Before any output: a file that cannot be written stops here.
        problem = write_secret(
            args.secret,
            credentials_text(sections, secret=True),
            args.force,
            found.files + found.includes,
        )
        if problem:
            print("clockserver-convert: " + problem, file=sys.stderr)
            return 2
    w = out.write
    w(
        "# clockserver-convert: %d <clock-server> block(s) found (%d distinct), "
        "%d cannot be mapped\n# read: %s\n"
        % (
            len(found.blocks),
            len(unique),
            len(unmappable),
            " ".join(rel(f) for f in found.files),
        )
    )
    if unique:
        w(
            "\n# 1. Add this part, and add %s to [buildout] parts:\n[%s]\n"
            "recipe = collective.recipe.clockserver\n" % (args.part, args.part)
        )
        if args.backend:
            w("backend = %s\n" % args.backend)
        for option in options:
            w(buildout_text(option) + "\n")
        holder = found.holders[0] if found.holders else None
        if holder:
            config, section, _ = holder
            if "http-address" in config.options(section):
                w("address = ${%s:http-address}\n" % section)
            else:
                w(
                    "# address = <where %s listens>  (needed by runner and cron)\n"
                    % section
                )
        w("jobs =\n" + "".join("    %s\n" % buildout_text(line) for line in lines))
        if sections and args.secret:
            w(
                "\n# 2. The credentials sections are in %s (mode 0600): extend "
                "it like secret.cfg, never commit it:\n" % args.secret
            )
            w("".join("#    [%s] user = %s\n" % (n, p[0]) for n, p in sections.items()))
        elif sections:
            w(
                "\n# 2. Put these credentials sections into secret.cfg "
                "(mode 0600, never committed):\n"
                + credentials_text(sections, secret=False)
            )
    w("\n# 3. Remove these lines (the pasted blocks):\n")
    for path, first, last, what in found.removals:
        span = "line %d" % first if first == last else "lines %d-%d" % (first, last)
        w("#    %s %s: %s\n" % (rel(path), span, what))
    for path in found.includes:
        w(
            "#    %s: the included blocks (the file can go once nothing "
            "includes it)\n" % rel(path)
        )
    sections_to_fix = []
    for _, section, own in found.holders:
        if own and section not in sections_to_fix:
            sections_to_fix.append(section)
    if sections_to_fix:
        w(
            "\n# 4. Add to %s:\nzope-conf-additional = ${%s:zope-conf-additional}\n"
            % (" and ".join("[%s]" % s for s in sections_to_fix), args.part)
        )
    if unmappable:
        w("\n# Blocks that cannot be mapped (move them by hand):\n")
        for block in unmappable:
            w(
                "#    %s (%s): %s\n"
                % (block.values.get("method", "?"), block.where, block.problem)
            )
    return 1 if unmappable or not found.blocks else 0


def rel(path):
    """``path`` relative to the working directory where it lies below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="clockserver-convert",
        description="Print the collective.recipe.clockserver part that replaces "
        "the <clock-server> blocks pasted into buildout files.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "--secret",
        metavar="FILE",
        help="write the credentials sections to FILE (mode 0600)",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite the --secret file"
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="write this backend (default: none, the part takes "
        "the default of the Python buildout runs on)",
    )
    parser.add_argument("--part", default="clock", help="the part's name (clock)")
    args = parser.parse_args(argv)
    try:
        configs = buildoutfiles.roots(args.files)
    except buildoutfiles.ReadError as e:
        print("clockserver-convert: %s" % e, file=sys.stderr)
        return 2
    found = scan(configs)
    if not found.blocks:
        print(
            "clockserver-convert: no <clock-server> block in %s" % " ".join(args.files),
            file=sys.stderr,
        )
        return 1
    return report(found, args, sys.stdout)
