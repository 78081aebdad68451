"""The ``<clock-server>`` blocks in buildout files, for clockserver-convert: found, parsed, checked.

``scan`` reads every option of the files (and the files a value
``%include``s) and returns what it found: each block with its values as
ZServer reads them and why it cannot become a job, if it cannot; the
lines that hold them; the sections whose zope-conf-additional held them.
Python 3.10+ only; the recipe never imports it.
"""

import dataclasses
import os
import re

from . import buildoutfiles

KEYS = ("method", "period", "user", "password", "host")
MAX_AUTH_BYTES = 57  # Python 2's base64 wraps after 57 bytes of input
_BLOCK = re.compile(
    r"<\s*clock-server(\s[^>]*)?>(?P<body>.*?)<\s*/\s*clock-server\s*>",
    re.IGNORECASE | re.DOTALL,
)
_INCLUDE = re.compile(r"^\s*%include\s+(?P<path>\S.*?)\s*$", re.MULTILINE)
_HOST = re.compile(
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?\Z"
)


@dataclasses.dataclass
class Block:
    """One ``<clock-server>`` block, its values as ZServer reads them."""

    values: dict
    where: str  # "production.cfg [client2] zope-conf-additional"
    problem: str | None = None

    @property
    def key(self):
        return tuple(self.values.get(k) for k in KEYS)


@dataclasses.dataclass
class Found:
    blocks: list = dataclasses.field(default_factory=list)
    removals: list = dataclasses.field(default_factory=list)  # (path, a, b, what)
    holders: list = dataclasses.field(default_factory=list)  # (config, section, own)
    includes: list = dataclasses.field(default_factory=list)
    files: list = dataclasses.field(default_factory=list)


def zope_conf_value(text):
    """A value as zope.conf reads it: ``$$`` is ``$``; ValueError for
    ``$NAME`` or ``${`` (a zope.conf %define this tool cannot follow)."""
    if re.search(r"\$(?!\$)", text.replace("$$", "")):
        raise ValueError("uses a zope.conf substitution ($NAME or ${...})")
    return text.replace("$$", "$")


def parse_block(body, where):
    values = {}
    for line in body.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, value = (line.split(None, 1) + [""])[:2]
        key = key.lower()
        if key not in KEYS:
            return Block(
                values,
                where,
                "unknown key %r (ZServer knows %s)" % (key, ", ".join(KEYS)),
            )
        if key in values:
            return Block(values, where, "the key %r is given twice" % key)
        try:
            values[key] = zope_conf_value(value.strip())
        except ValueError as e:
            return Block(values, where, "%s %s" % (key, e))
    return Block(values, where, check(values))


def check(values):
    """Why a block cannot become a job, or None."""
    method = values.get("method")
    if not method:
        return "no method"
    for key in ("method", "user", "password", "host"):
        if "${" in values.get(key, ""):
            return (
                "the %s contains '${', which buildout would read as a "
                "substitution" % key
            )
    if any(c.isspace() for c in method):
        return "the method contains white space"
    try:
        period = int(values.get("period", "60"))
    except ValueError:
        return "the period %r is not a whole number of seconds" % values["period"]
    if period <= 0:
        return "the period must be more than 0 seconds (ZServer never calls it)"
    user, password = values.get("user"), values.get("password")
    if bool(user) != bool(password):
        return (
            "a user without a password, or a password without a user: "
            "ZServer calls it anonymously; add the other, or remove it"
        )
    if user and ":" in user:
        return "the user name contains ':' (Basic authentication cannot carry it)"
    if user and len(("%s:%s" % (user, password)).encode("utf-8")) > MAX_AUTH_BYTES:
        return (
            "user:password is over %d bytes: ZServer's Authorization "
            "header breaks (it never worked)" % MAX_AUTH_BYTES
        )
    host = values.get("host")
    if host and not _HOST.match(host):
        return "the host %r is not a host name or address with an optional port" % host
    port = host.rpartition(":")[2] if host and not host.endswith("]") else ""
    if host and ":" in host and port.isdigit() and not 1 <= int(port) <= 65535:
        return "the port of the host %r is not in 1-65535" % host
    return None


def scan_text(text, where, found, base_dir, chain=()):
    """The blocks in ``text`` (zope.conf syntax) and in files it %includes."""
    blocks = [parse_block(m.group("body"), where) for m in _BLOCK.finditer(text)]
    for match in _INCLUDE.finditer(text):
        path = os.path.join(base_dir, os.path.expanduser(match.group("path")))
        path = os.path.abspath(path)
        if path in chain:
            continue  # an include loop: zope.conf would refuse it anyway
        try:
            with open(path, encoding="utf-8") as f:
                included = f.read()
        except (OSError, UnicodeDecodeError) as e:
            why = e.strerror if isinstance(e, OSError) else "not UTF-8"
            found.blocks.append(
                Block(
                    {},
                    path,
                    "cannot read this %%include (it may hold blocks): %s" % why,
                )
            )
            continue
        inner = scan_text(included, path, found, os.path.dirname(path), chain + (path,))
        if inner and path not in found.includes:
            found.includes.append(path)
        blocks += inner
    return blocks


def scan(configs):
    found = Found()
    for config in configs:
        found.files += [f for f in config.files if f not in found.files]
        for section in config.section_names():
            for option, value in config.options(section).items():
                if (
                    "<clock-server" not in value.text.lower()
                    and "%include" not in value.text
                ):
                    continue
                held = [a for a in value.sources if "<clock-server" in a.value.lower()]
                source = (held or value.sources)[-1]
                where = "%s [%s] %s" % (os.path.basename(source.path), section, option)
                try:
                    text = config.get(section, option)
                except buildoutfiles.SubstitutionError as e:
                    if "<clock-server" in value.text.lower():
                        found.blocks.append(Block({}, where, str(e)))
                    continue
                blocks = scan_text(text, where, found, os.path.dirname(config.path))
                if not blocks:
                    continue
                found.blocks += blocks
                if option == "zope-conf-additional":
                    own = any(a.section == section for a in value.sources)
                    found.holders.append((config, section, own))
                for source in value.sources:
                    if (
                        "<clock-server" in source.value.lower()
                        or "%include" in source.value
                    ):
                        item = (
                            source.path,
                            source.first,
                            source.last,
                            "[%s] %s" % (source.section, source.option),
                        )
                        if item not in found.removals:
                            found.removals.append(item)
    return found
