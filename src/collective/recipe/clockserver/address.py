"""The ``address`` option: where the Zope instance listens."""

from .errors import ConfigError


def parse_address(text):
    """``8080``, ``host:8080`` or ``http(s)://host:8080`` -> ``scheme://host:port``.

    An address that listens on every interface (``0.0.0.0``, ``[::]``,
    empty) is called on the loopback interface.
    """
    fix = ("Write PORT, HOST:PORT or http(s)://HOST:PORT, "
           "e.g. address = ${instance:http-address}.")
    words = text.split()
    if not words:
        raise ConfigError("address", text, "the address is empty", fix)
    value = words[0]
    scheme = "http"
    if "://" in value:
        scheme, _, value = value.partition("://")
        if scheme not in ("http", "https"):
            raise ConfigError(
                "address", text, "unknown scheme %r" % scheme, fix)
    value = value.rstrip("/")
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "", value
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            "address", text, "%r is not a port number" % port, fix)
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host in ("[::]", "::"):
        host = "[::1]"
    return "%s://%s:%d" % (scheme, host, int(port))
