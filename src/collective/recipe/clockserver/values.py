"""What bin/<part> can run: one set of rules for the values the recipe writes for it.

The recipe refuses at build time what these rules refuse (so whatever it
accepts, bin/<part> runs), and the runner's config loader (runner/config.py)
applies the same rules to the file.  No regular expressions: ``fire``
imports this at each start.  Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

from .errors import ConfigError

MAX_NAME = 200  # characters of a job or entry name (a record's file name)
NAME_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
)
# C0 controls, DEL and the C1 controls; and the Unicode line separators
# (str.splitlines() breaks lines there).
# Text characters by code point on both Pythons: no u"" literals, which
# ruff format would strip (Python 2 reads a plain literal as bytes).
_char = chr if str is not bytes else unichr  # noqa: F821
TEXT = type(_char(0x20))  # str on Python 3, unicode on Python 2
EMPTY = _char(0x20)[:0]
CONTROL = frozenset(_char(c) for c in list(range(0x20)) + list(range(0x7F, 0xA0)))
SEPARATORS = frozenset([_char(0x2028), _char(0x2029)])
_TABLE = {ord(c): _char(0x3F) for c in CONTROL}


def has_control(text):
    """True when ``text`` holds a control character (C0, DEL or C1)."""
    if isinstance(text, TEXT):
        return text.translate(_TABLE) != text
    return any(char in CONTROL for char in text)  # Python 2 bytes


def stray(text, allowed=EMPTY):
    """The first control character or line separator in ``text`` that is
    not in ``allowed``, or None."""
    for char in text:
        if (char in CONTROL or char in SEPARATORS) and char not in allowed:
            return char
    return None


def shown(text, allowed=EMPTY):
    """``text`` with control characters (but ``allowed``) written as
    escapes (``\\x01``), safe to print in a message."""
    if stray(text, allowed) is None:
        return text
    data = not isinstance(text, TEXT)  # Python 2 bytes
    if data:
        text = text.decode("utf-8", "replace")
    out = []
    for char in text:
        if (char in CONTROL or char in SEPARATORS) and char not in allowed:
            code = ord(char)
            out.append("\\x%02x" % code if code < 0x100 else "\\u%04x" % code)
        else:
            out.append(char)
    return EMPTY.join(out).encode("utf-8") if data else EMPTY.join(out)


def char_name(char):
    """``U+0001`` for a character in a message."""
    return "U+%04X" % ord(char)


def name_problem(name):
    """Why ``name`` is no usable job or entry name, or None."""
    if not name or name[0] in "._-" or not set(name) <= NAME_CHARS:
        return "is not usable"
    if len(name) > MAX_NAME:
        return "is longer than %d characters" % MAX_NAME
    return None


def bounded_name(base, suffix=""):
    """``base + suffix`` cut to MAX_NAME characters: a base too long keeps
    its start and gets a short stable hash of the whole (``-1a2b3c4d``),
    so that two long methods that differ at the end keep two names."""
    if len(base) + len(suffix) <= MAX_NAME:
        return base + suffix
    import hashlib  # lazily: fire imports this module at each start

    digest = hashlib.sha1(base.encode("utf-8")).hexdigest()[:8]
    keep = MAX_NAME - len(suffix) - len(digest) - 1
    return "%s-%s%s" % (base[:keep].rstrip("-._"), digest, suffix)


def ping_url_problem(url):
    """Why ``url`` cannot be a ping URL bin/<part> sends, or None."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        return "is not an http(s) URL"
    if stray(url) is not None or any(c.isspace() for c in url):
        return "holds white space or a control character"
    return None


def path_problem(path):
    """Why ``path`` cannot be a file or directory path, or None."""
    if "\x00" in path:
        return "holds a NUL character, which no path can hold"
    return None


def check_path(option, text):
    """Raise ConfigError for a path no file can have (path_problem)."""
    problem = path_problem(text)
    if problem:
        raise ConfigError(
            option, shown(text), "the path %s" % problem, "Remove it from %s." % option
        )
