"""One HTTP call of a job's method -> Outcome, and what an outcome means."""

import base64
import http.client
import socket
import ssl
import string
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

USER_AGENT = "Zope Clock Server Client (collective.recipe.clockserver)"
LOGIN_MARKERS = ("login", "acl_users")  # also matches require_login


@dataclass(frozen=True)
class Outcome:
    """What one call gave: an HTTP answer, or an error text."""

    duration: float
    status: int | None = None
    reason: str = ""
    location: str | None = None
    error: str | None = None

    @property
    def ok(self):
        return self.status is not None and 200 <= self.status < 300


def call(config, job):
    """GET the job's method once; never raises for network or HTTP trouble."""
    url = urlsplit(config.address)
    if url.scheme == "https":
        conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=config.timeout)
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=config.timeout)
    started = time.monotonic()
    try:
        # Printable ASCII passes unchanged; spaces and non-ASCII get %-quoted.
        conn.putrequest("GET", quote(job.method, safe=string.punctuation),
                        skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", job.host or url.netloc)
        if job.authenticated:
            token = base64.b64encode(f"{job.user}:{job.password}".encode("utf-8"))
            conn.putheader("Authorization", "Basic " + token.decode("ascii"))
        conn.putheader("User-Agent", USER_AGENT)
        conn.putheader("Connection", "close")
        conn.endheaders()
        response = conn.getresponse()
        while response.read(65536):  # the body is not wanted, only the end
            pass
        return Outcome(time.monotonic() - started, response.status,
                       response.reason, response.getheader("Location"))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Outcome(time.monotonic() - started, error=_error_text(exc, config))
    finally:
        conn.close()


def _error_text(exc, config):
    if isinstance(exc, TimeoutError):
        return f"timed out after {config.timeout:g} s (the timeout option)"
    if isinstance(exc, ConnectionRefusedError):
        return (f"connection refused: nothing listens at {config.address} "
                "(is the instance running?)")
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host of {config.address}: {exc.strerror}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error talking to {config.address}: {exc}"
    if isinstance(exc, http.client.RemoteDisconnected):
        return f"{config.address} closed the connection without an answer"
    return f"{type(exc).__name__}: {exc}"


def describe(outcome, job):
    """One line saying what happened and, for failures, what to check."""
    if outcome.error:
        return outcome.error
    status = outcome.status
    text = f"{status} {outcome.reason}".rstrip()
    if 200 <= status < 300:
        return text
    if status == 401:
        if job.authenticated:
            hint = (f"Zope refused the credentials of user {job.user!r}: "
                    "check the credentials section in secret.cfg")
        else:
            hint = ("the method needs a login and this job calls it anonymously: "
                    "set credentials (a section in secret.cfg) for the part or the job")
    elif 300 <= status < 400:
        location = outcome.location or "(no Location header)"
        if any(marker in location.lower() for marker in LOGIN_MARKERS):
            who = f"user {job.user!r}" if job.authenticated else "anonymous"
            hint = (f"redirected to a login form ({location}): the credentials are "
                    f"wrong or missing ({who}); check the credentials section in secret.cfg")
        else:
            hint = (f"redirected to {location}; redirects are not followed: "
                    "point the job's method, host or the address at the final URL")
    elif status == 403:
        who = f"user {job.user!r}" if job.authenticated else "Anonymous"
        hint = f"{who} lacks the permission to call {job.method}"
    elif status == 404:
        hint = f"nothing at {job.method} (check the method and the host)"
    else:
        return text
    return f"{text}: {hint}"


