"""Text that leaves the runner: escaped for a log line or a terminal, made
one line, secrets masked, tables aligned.

A server's answer, a command's output or a hand-edited config file may
hold any character; what reaches a log, stderr, a record or ``status``
goes through here first.
"""

MASK = "*****"

# Control characters (C0, DEL, C1) and the Unicode line separators: a
# server's text must never start a new log line or move the cursor.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape(text):
    """``text`` with control characters written as ``\\xNN`` (newlines
    too: the text stays on its line, and shows what it held)."""
    return text.translate(_ESCAPES)


def one_line(text):
    """``text`` (anything; None is empty) with every run of white space,
    line breaks included, made one space, stripped at both ends."""
    return " ".join(str(text or "").split())


def error_line(exc):
    """An exception as one line: its message, or its type's name."""
    return one_line(exc) or type(exc).__name__


def plugin_text(text):
    """One line for monitoring systems (``status``): no ``|``, which they
    read as the start of performance data, and no control characters."""
    return escape(one_line(str(text).replace("|", "/")))


def output_line(line):
    """A line of a command's output as ``status NAME`` shows it: tabs as
    spaces, no ``|``, control characters escaped."""
    return escape(line.expandtabs().replace("|", "/"))


def mask_secrets(text, secrets):
    """``text`` with every known secret replaced by ``*****``, the longest
    first (a secret holding another is masked whole)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


# -- ping URLs: the secret part, not what identifies the check ------------------

_SECRET_KEYS = {
    "key",
    "token",
    "secret",
    "password",
    "pass",
    "pwd",
    "auth",
    "apikey",
    "api_key",
    "api-key",
    "access_token",
    "ping_key",
    "signature",
    "sig",
    "uuid",
    "code",
    "hash",
}
_HEX = set("0123456789abcdefABCDEF")


def _uuid_like(text):
    groups = text.split("-")
    return [len(g) for g in groups] == [8, 4, 4, 4, 12] and all(
        set(g) <= _HEX for g in groups
    )


def _token_like(segment):
    """A path segment that may be a key: a UUID, or not a plain word
    (digits or capitals in it, or long)."""
    return (
        _uuid_like(segment)
        or len(segment) >= 24
        or any(c.isdigit() or c.isupper() for c in segment)
    )


def ping_secrets(url):
    """The parts of a ping URL that let anyone ping: the check's UUID or
    ping key, a password in it, the values of key-like query parameters;
    never the host or a slug, which only say which check it is.

    healthchecks' forms: ``https://hc-ping.com/<uuid>``,
    ``https://hc-ping.com/<ping-key>/<slug>``, self-hosted
    ``https://host/ping/<uuid>`` and ``.../ping/<ping-key>/<slug>``; in
    other services' longer paths every segment that may be a key."""
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # a broken URL: all of it
        return (url,)
    found = [password] if password else []
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[0] == "ping":
        segments = segments[1:]
    first = segments[0] if segments else ""
    if len(segments) == 1 and (_token_like(first) or len(first) >= 8):
        found.append(first)  # the UUID (or token)
    elif (
        len(segments) == 2
        and (_token_like(first) or len(first) >= 16)
        and not _uuid_like(segments[1])
    ):
        found.append(first)  # the ping key; the slug identifies
    else:
        found.extend(s for s in segments if _token_like(s))
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in _SECRET_KEYS or _uuid_like(value):
            found.append(value)
    return tuple(s for s in found if s)


def mask_ping_url(url):
    """A ping URL as it may be shown: its secrets (ping_secrets) masked."""
    return mask_secrets(url, ping_secrets(url))


def columns(rows):
    """Rows of cells as lines, each column as wide as its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    ]
