"""Where the Zope instance listens (``address``) and ``Host:`` header values
(the part's ``host``, a job's ``host=``), checked in full at build time.

A host is a name after RFC 1123 (labels of 1-63 letters, digits and
hyphens, no hyphen at either end, at most 253 characters, one final dot
allowed), an IPv4 address (four decimal octets 0-255) or an IPv6 address
in brackets; a port is 1-65535. Everything is ASCII, so it fits an HTTP
header as it stands.  The one validator: the recipe, the runner's config
loader and the lock URL (lockurl.py) all ask it.  Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

import re
import socket

from .errors import ConfigError

FIX = (
    "Write PORT, HOST:PORT or http(s)://HOST:PORT (IPv6 in brackets: "
    "[::1]:8080), e.g. address = ${instance:http-address}."
)
HOST_FIX = (
    "Write a host name (letters, digits and '-', dot-separated labels of 1-63 "
    "characters), an IPv4 address or an IPv6 address in brackets, "
    "optionally with :PORT (1-65535): www.example.org, "
    "www.example.org:8080, 192.0.2.1, [2001:db8::1]:8080."
)
MAX_NAME = 253
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_DIGITS = re.compile(r"[0-9]+\Z")
# Listening on every interface: call the instance on the loopback interface.
_ANY = {"", "*"}


def host_problem(host):
    """What is wrong with ``host`` (without a port), or None."""
    if not host:
        return "the host is empty"
    if not _isascii(host):
        shown = _shown(host)
        if isinstance(host, bytes):  # Python 2: buildout's UTF-8 bytes
            host = host.decode("utf-8", "replace")
        try:
            suggestion = " (write %s)" % str(host.encode("idna").decode("ascii"))
        except UnicodeError:
            suggestion = ""
        return (
            "%s is not ASCII; an HTTP header carries ASCII only: write an "
            "internationalised name in its xn-- form%s" % (shown, suggestion)
        )
    if host.startswith("[") or host.endswith("]"):
        if not (host.startswith("[") and host.endswith("]")):
            return "%r: unbalanced brackets around an IPv6 address" % host
        inner = host[1:-1]
        if "%" in inner:
            return "%r: IPv6 zone indexes (%%eth0) are not supported" % host
        reason = _ip_problem(6, inner)
        if reason:
            return "%r is not an IPv6 address (%s)" % (host, reason)
        return None
    if ":" in host:
        return "%r: an IPv6 address must be written in brackets, [%s]" % (host, host)
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if _DIGITS.match(labels[-1]):  # all-numeric top label: an IPv4 address
        if name != host:
            return "%r: an IPv4 address has no final dot" % host
        reason = _ip_problem(4, name)
        if reason:
            return "%r is not an IPv4 address (%s)" % (host, reason)
        return None
    if len(name) > MAX_NAME:
        return "the host name is %d characters long, at most %d are allowed" % (
            len(name),
            MAX_NAME,
        )
    for label in labels:
        if not label:
            return (
                "%r has an empty label (two dots in a row, or a dot at the "
                "start)" % host
            )
        if len(label) > 63:
            return "%r has a label of %d characters, at most 63 are allowed" % (
                host,
                len(label),
            )
        if not _LABEL.match(label):
            if label.startswith("-") or label.endswith("-"):
                return "%r: the label %r starts or ends with '-'" % (host, label)
            bad = next(c for c in label if not (c.isalnum() or c == "-"))
            return (
                "%r: %r is not allowed in a host name (letters, digits, "
                "'-' and '.' only)" % (host, bad)
            )
    return None


def _shown(text):
    """``repr(text)`` as Python 3 writes it, also for Python 2's UTF-8 bytes."""
    if isinstance(text, bytes) and not _isascii(text):
        return "'%s'" % text
    return repr(text)


def _isascii(text):
    return all(ord(c) < 128 for c in text)


def _ip_problem(version, text):
    """Why ``text`` is no IPv4/IPv6 address (the ipaddress module's
    words), or None."""
    if version == 4 and _plain_ip_problem(4, text) is None:
        return None  # the common case, without importing ipaddress
    try:
        return _ipaddress_problem(version, text)
    except ImportError:
        return _plain_ip_problem(version, text)


def _ipaddress_problem(version, text):
    """The ipaddress module's verdict on ``text``: its words, or None.
    ImportError where there is no ipaddress (Python 2 without it)."""
    import ipaddress  # Python 3 (Python 2: a separate distribution)

    kind = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    try:
        kind(text)
    except ValueError as e:
        return str(e)
    return None


def _plain_ip_problem(version, text):
    """The same verdict and words as the ipaddress module of Python 3,
    without it (Python 2)."""
    try:
        (_ipv4 if version == 4 else _ipv6)(text)
    except ValueError as e:
        return str(e)
    return None


_HEX = frozenset("0123456789abcdefABCDEF")


def _ipv4(text):
    if not text:
        raise ValueError("Address cannot be empty")
    octets = text.split(".")
    if len(octets) != 4:
        raise ValueError("Expected 4 octets in %s" % _shown(text))
    for octet in octets:
        problem = _octet_problem(octet)
        if problem:
            raise ValueError("%s in %s" % (problem, _shown(text)))


def _octet_problem(octet):
    if not octet:
        return "Empty octet not permitted"
    if not (_isascii(octet) and octet.isdigit()):
        return "Only decimal digits permitted in %s" % _shown(octet)
    if len(octet) > 3:
        return "At most 3 characters permitted in %s" % _shown(octet)
    if octet != "0" and octet[0] == "0":
        return "Leading zeros are not permitted in %s" % _shown(octet)
    if int(octet) > 255:
        return "Octet %d (> 255) not permitted" % int(octet)
    return None


def _ipv6(text):
    if not text:
        raise ValueError("Address cannot be empty")
    shown = _shown(text)
    parts = text.split(":")
    if len(parts) < 3:
        raise ValueError("At least 3 parts expected in %s" % shown)
    if "." in parts[-1]:  # an IPv4 address as the last 32 bits
        try:
            _ipv4(parts[-1])
        except ValueError as e:
            raise ValueError("%s in %s" % (e, shown))
        parts[-1:] = ["0", "0"]
    if len(parts) > 9:
        raise ValueError("At most 8 colons permitted in %s" % shown)
    empty = [i for i in range(1, len(parts) - 1) if not parts[i]]
    if len(empty) > 1:
        raise ValueError("At most one '::' permitted in %s" % shown)
    leading = "Leading ':' only permitted as part of '::' in %s" % shown
    trailing = "Trailing ':' only permitted as part of '::' in %s" % shown
    if empty:
        high, low = empty[0], len(parts) - empty[0] - 1
        if not parts[0]:
            high -= 1
            if high:
                raise ValueError(leading)
        if not parts[-1]:
            low -= 1
            if low:
                raise ValueError(trailing)
        if 8 - (high + low) < 1:
            raise ValueError("Expected at most 7 other parts with '::' in %s" % shown)
        hextets = parts[:high] + (parts[len(parts) - low :] if low else [])
    else:
        if len(parts) != 8:
            raise ValueError("Exactly 8 parts expected without '::' in %s" % shown)
        if not parts[0]:
            raise ValueError(leading)
        if not parts[-1]:
            raise ValueError(trailing)
        hextets = parts
    for hextet in hextets:
        if not _HEX.issuperset(hextet):
            problem = "Only hex digits permitted in %s" % _shown(hextet)
        elif len(hextet) > 4:
            problem = "At most 4 characters permitted in %s" % _shown(hextet)
        else:
            continue
        raise ValueError("%s in %s" % (problem, shown))


def port_problem(text):
    """What is wrong with a port number written as ``text``, or None."""
    if not _DIGITS.match(text):
        return "%r is not a port number (1-65535)" % text
    if len(text) > 5 or not 0 < int(text) < 65536:
        return "%s is not a port number (1-65535)" % text
    return None


def split_host_port(text):
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` -> (host, port or
    None), without checking either. Raises ValueError for a stray colon."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("'[' without ']'")
        host, rest = text[: end + 1], text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError("after ']' only :PORT may follow")
        return host, rest[1:]
    if text.count(":") > 1:
        raise ValueError("an IPv6 address must be written in brackets, [::1]:8080")
    host, sep, port = text.partition(":")
    return host, (port if sep else None)


def check_host(value, option, line):
    """A ``Host:`` header value, a host with an optional port; returned as
    given. Anything else raises ConfigError naming ``option``/``line``."""

    def refuse(reason):
        raise ConfigError(
            option,
            line,
            "%s is not a host name for the Host: header: %s" % (_shown(value), reason),
            HOST_FIX,
        )

    if not isinstance(value, str) or not value:
        refuse("it is empty")
    if "/" in value:
        refuse("a Host: value has no scheme and no path")
    try:
        host, port = split_host_port(value)
    except ValueError as e:
        refuse(str(e))
    problem = host_problem(host) or (port is not None and port_problem(port))
    if problem:
        refuse(problem)
    return value


def parse_address(text):
    """``8080``, ``host:8080`` or ``http(s)://host:8080`` -> ``scheme://host:port``.

    Only the first word counts (``http-address`` may list several). A port
    alone, ``*``, ``0.0.0.0`` or ``[::]`` (listening everywhere) mean the
    loopback address.
    """
    words = text.split()
    if not words:
        raise ConfigError("address", text, "the address is empty", FIX)
    value = words[0]
    if "@" in value:  # never repeat it: it may hold a password
        raise ConfigError(
            "address",
            None,
            "the address holds a user name or password",
            "Put them into the credentials section (secret.cfg) and write "
            "address = HOST:PORT.",
        )

    def refuse(problem):
        raise ConfigError("address", text, problem, FIX)

    def refuse_form(reason):
        refuse("%r is not PORT or HOST:PORT: %s" % (value, reason))

    scheme = "http"
    if "://" in value:
        scheme, _, value = value.partition("://")
        if scheme not in ("http", "https"):
            refuse("unknown scheme %r" % scheme)
    hostport = value[:-1] if value.endswith("/") else value
    if "/" in hostport or "?" in hostport or "#" in hostport:
        refuse_form("it has a path; the address is HOST:PORT only")
    if _DIGITS.match(hostport):
        host, port = "", hostport
    else:
        try:
            host, port = split_host_port(hostport)
        except ValueError as e:
            refuse_form(str(e))
        if port is None:
            refuse_form("no port")
    if not _DIGITS.match(port):
        refuse_form("%r is not a port number (1-65535)" % port)
    problem = port_problem(port)
    if problem:
        refuse(problem)
    if host in _ANY:
        host = "127.0.0.1"
    else:
        problem = host_problem(host)
        if problem:
            refuse_form(problem)
        host = _loopback_for_any(host)
    return "%s://%s:%d" % (scheme, host, int(port))


def _loopback_for_any(host):
    """``0.0.0.0`` -> ``127.0.0.1``, ``[::]`` -> ``[::1]``; others as given."""
    if host.startswith("["):
        try:
            packed = socket.inet_pton(socket.AF_INET6, host[1:-1])
        except (socket.error, ValueError):
            return host
        return "[::1]" if not packed.strip(b"\0") else host
    return "127.0.0.1" if host == "0.0.0.0" else host
