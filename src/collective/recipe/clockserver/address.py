"""The ``address`` option: where the Zope instance listens."""

import re

from .errors import ConfigError

FIX = ("Write PORT, HOST:PORT or http(s)://HOST:PORT (IPv6 in brackets: "
       "[::1]:8080), e.g. address = ${instance:http-address}.")
_HOST_PORT = re.compile(
    r"(?:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]*|\*):)?(?P<port>[0-9]+)\Z")
# Listening on every interface: call the instance on the loopback interface.
_LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "*": "127.0.0.1",
             "[::]": "[::1]"}


def parse_address(text):
    """``8080``, ``host:8080`` or ``http(s)://host:8080`` -> ``scheme://host:port``.

    Only the first word counts (``http-address`` may list several).
    """
    words = text.split()
    if not words:
        raise ConfigError("address", text, "the address is empty", FIX)
    value = words[0]
    if "@" in value:  # never repeat it: it may hold a password
        raise ConfigError(
            "address", None, "the address holds a user name or password",
            "Put them into the credentials section (secret.cfg) and write "
            "address = HOST:PORT.")
    scheme = "http"
    if "://" in value:
        scheme, _, value = value.partition("://")
        if scheme not in ("http", "https"):
            raise ConfigError(
                "address", text, "unknown scheme %r" % scheme, FIX)
    match = _HOST_PORT.match(value.rstrip("/"))
    if match is None:
        raise ConfigError(
            "address", text, "%r is not PORT or HOST:PORT" % value, FIX)
    port = int(match.group("port"))
    if not 0 < port < 65536:
        raise ConfigError(
            "address", text, "%d is not a port number (1-65535)" % port, FIX)
    host = match.group("host") or ""
    return "%s://%s:%d" % (scheme, _LOOPBACK.get(host, host), port)
