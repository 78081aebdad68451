"""Text that leaves the runner: escaped for a log line or a terminal, made
one line, secrets masked.

A server's answer, a command's output or a hand-edited config file may
hold any character; what reaches a log, stderr, a record or ``status``
goes through here first.
"""

MASK = "*****"

# Control characters (C0, DEL, C1) and the Unicode line separators: a
# server's text must never start a new log line or move the cursor.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7f, 0xa0))}
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
