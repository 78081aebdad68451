"""healthchecks.io's current ping protocol, as pure functions: run ids,
the URL of each ping, and the final ping's body.

Every ping is a POST.  A run gets a run id (a UUID): ``URL/start`` when it
starts; at the end ``URL`` on success or ``URL/fail`` on failure, or for a
command (``exec``) ``URL/<exit status>`` (killed by signal N: 128+N).
``rid=ID`` is joined to any query the URL already has, the suffix goes at
the end of the path (``?create=1`` URLs keep working).  The final ping's
body is UTF-8, at most 10,000 bytes (what healthchecks keeps): the run's
one-line reason, then the end of its masked output, cut at a line start.

Sending (POST, each exchange bounded, never delaying a call) is pings.py's.
"""

import uuid
from urllib.parse import urlsplit, urlunsplit

from .text import mask_secrets, one_line

MAX_BODY = 10_000  # bytes


def run_id():
    """A new run id."""
    return str(uuid.uuid4())


def ping_url(base, event, rid=None):
    """The URL of one ping: ``event`` is ``start``, ``success``, ``fail``
    or an exit status (an int or its digits)."""
    parts = urlsplit(base.strip())
    event = str(event)
    if event == "success":
        suffix = ""
    elif event in ("start", "fail") or event.isdigit():
        suffix = "/" + event
    else:
        raise ValueError(f"unknown ping event {event!r}")
    query = parts.query
    if rid:
        query = f"{query}&rid={rid}" if query else f"rid={rid}"
    return urlunsplit(
        (
            parts.scheme,
            parts.netloc,
            parts.path.rstrip("/") + suffix,
            query,
            parts.fragment,
        )
    )


def final_event(ok, exit_status=None):
    """The final ping's event: a command's exit status, else success/fail."""
    if exit_status is not None:
        return str(exit_status)
    return "success" if ok else "fail"


def final_body(reason, output=None, secrets=()):
    """The final ping's body (bytes): the reason line, then the end of the
    output, both masked, at most MAX_BODY bytes, the output cut at a line
    start."""
    head = (
        _utf8_prefix(
            mask_secrets(one_line(reason), secrets).encode("utf-8", "replace"),
            MAX_BODY - 1,
        )
        + b"\n"
    )
    if not output:
        return head
    tail = mask_secrets(output, secrets).encode("utf-8", "replace")
    room = MAX_BODY - len(head)
    if len(tail) > room:
        tail = tail[len(tail) - room :]
        start = tail.find(b"\n")
        tail = tail[start + 1 :] if start != -1 else b""
    return head + tail


def _utf8_prefix(data, size):
    """At most ``size`` bytes of ``data`` without splitting a character."""
    if len(data) <= size:
        return data
    return data[:size].decode("utf-8", "ignore").encode("utf-8")
