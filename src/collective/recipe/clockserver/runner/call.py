"""One HTTP call of a job's method -> Outcome (outcome.py says what it means).

A small HTTP/1.1 client on a plain socket rather than http.client, for two
reasons: ``timeout`` bounds the whole call (connect to the last byte; a
server that trickles its answer is cut off), and ``fire`` starts fast
(http.client pulls in the email package; ssl is imported only for https).
The answer must be complete: a body shorter than its Content-Length, a
chunked body cut off or a connection closed early is a failure.  Whatever
the server sends, no exception escapes ``call()`` and its texts are
escaped (``text.escape``) before they reach a log line.
"""

import binascii
import socket
import time

from .outcome import Outcome, describe  # noqa: F401 (the API: clock, retry, runs)
from .text import escape

USER_AGENT = "Zope Clock Server Client (collective.recipe.clockserver)"
MAX_LINE = 8192  # bytes in a status, header or chunk-size line
MAX_HEAD = 65536  # bytes of status line and headers together
MAX_HEADERS = 100
CHUNK = 65536


class _Failed(Exception):
    """The call failed; the message is the error text (already escaped)."""


class _Deadline:
    """A socket whose every wait is bounded by one deadline for the call."""

    def __init__(self, sock, deadline, timeout):
        self.sock = sock
        self.deadline = deadline
        self.timeout = timeout
        self.buffer = b""
        self.eof = False

    def _arm(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)

    def send(self, data):
        while data:
            self._arm()
            data = data[self.sock.send(data) :]

    def _fill(self):
        """Receive more bytes; False at the end of the stream."""
        if self.eof:
            return False
        self._arm()
        data = self.sock.recv(CHUNK)
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def readline(self, what):
        """One line without its CRLF; None when the stream ends first."""
        while True:
            end = self.buffer.find(b"\n")
            if end != -1:
                line, self.buffer = self.buffer[:end], self.buffer[end + 1 :]
                if len(line) > MAX_LINE:
                    raise _Failed(
                        f"the answer has a {what} longer than {MAX_LINE} bytes"
                    )
                return line.rstrip(b"\r")
            if len(self.buffer) > MAX_LINE:
                raise _Failed(f"the answer has a {what} longer than {MAX_LINE} bytes")
            if not self._fill():
                return None

    def skip(self, size):
        """Read and drop up to ``size`` bytes; how many there were."""
        done = 0
        while done < size:
            if not self.buffer and not self._fill():
                break
            taken = min(size - done, len(self.buffer))
            self.buffer = self.buffer[taken:]
            done += taken
        return done

    def skip_to_end(self):
        done = len(self.buffer)
        self.buffer = b""
        while self._fill():
            done += len(self.buffer)
            self.buffer = b""
        return done


def timeout_of(config, job):
    """The seconds a call of ``job`` may take: its ``timeout=``, else the part's."""
    return job.timeout or config.timeout


def call(config, job):
    """GET the job's method once; never raises for network or HTTP trouble."""
    started = time.monotonic()
    timeout = timeout_of(config, job)
    deadline = started + timeout
    sock = None
    stage = "connecting"
    status = reason = location = None
    try:
        # A bytes host skips the idna codec (and its imports): it is checked ASCII.
        sock = socket.create_connection(
            (config.host.encode("ascii"), config.port),
            timeout=max(0.001, deadline - time.monotonic()),
        )
        if config.scheme == "https":
            sock = _tls(sock, config.host, deadline)
        stream = _Deadline(sock, deadline, timeout)
        stage = "sending the request"
        stream.send(_request(config, job))
        stage = "waiting for the answer"
        status, reason, headers = _read_head(stream, config.address)
        location = headers.get("location")
        stage = "receiving the answer"
        _read_body(stream, status, headers)
        return Outcome(
            time.monotonic() - started,
            status,
            reason,
            location,
            retryable=status >= 500 or status == 429,
            retry_after=_retry_after(headers.get("retry-after")),
        )
    except Exception as exc:
        error = _error_text(exc, config, stage, job)
        retryable = status is None and _before_the_request(exc, stage)
        if status is not None:
            error = f"{status} {reason}".rstrip() + f", but {error}"
        return Outcome(
            time.monotonic() - started,
            status,
            reason or "",
            location,
            error,
            retryable=retryable,
        )
    finally:
        if sock is not None:
            sock.close()


def _tls(sock, host, deadline):
    import ssl  # only https needs it

    context = ssl.create_default_context()
    sock.settimeout(max(0.001, deadline - time.monotonic()))
    return context.wrap_socket(sock, server_hostname=host)


def _request(config, job):
    # Printable ASCII passes unchanged; spaces and non-ASCII get %-quoted
    # (as urllib.parse.quote(method, safe=string.punctuation)).
    path = "".join(char if "!" <= char <= "~" else _quote(char) for char in job.method)
    lines = [f"GET {path} HTTP/1.1", f"Host: {job.host or config.netloc}"]
    if job.authenticated:
        token = binascii.b2a_base64(
            f"{job.user}:{job.password}".encode("utf-8"), newline=False
        )
        lines.append("Authorization: Basic " + token.decode("ascii"))
    lines += [f"User-Agent: {USER_AGENT}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("ascii")


def _quote(char):
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def _read_head(stream, address):
    """Status line and headers -> (status, reason, {lower name: value})."""
    while True:  # 1xx answers come before the real one
        line = stream.readline("status line")
        if line is None:
            if stream.buffer == b"" and stream.eof:
                raise _Failed(f"{address} closed the connection without an answer")
            raise _Failed(
                f"{address} closed the connection in the middle of the status line"
            )
        status, reason = _status_line(line)
        headers = {}
        size = len(line)
        count = 0
        while True:
            line = stream.readline("header line")
            if line is None:
                raise _Failed(
                    f"{status} {reason}, but the answer was cut off in its headers"
                )
            if not line:
                break
            size += len(line)
            count += 1
            if size > MAX_HEAD or count > MAX_HEADERS:
                raise _Failed(
                    f"{status} {reason}, but its headers are larger than "
                    f"{MAX_HEAD} bytes or {MAX_HEADERS} lines"
                )
            if line[:1] in (b" ", b"\t"):  # obsolete folding: continues a value
                continue
            name, colon, value = line.partition(b":")
            if colon:
                name = name.strip().lower().decode("latin-1")
                value = value.strip().decode("latin-1")
                if name in headers and name in ("content-length", "transfer-encoding"):
                    value = headers[name] + ", " + value
                headers[name] = value
        if status >= 200 or status == 101:
            return status, reason, headers


def _status_line(line):
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if (
        not version.startswith(b"HTTP/1.")
        or len(code) != 3
        or not code.isdigit()
        or code.startswith(b"0")
    ):
        shown = escape(line[:60].decode("latin-1")) + ("..." if len(line) > 60 else "")
        raise _Failed(f"the answer is not HTTP: it starts with '{shown}'")
    return int(code), escape(reason.strip().decode("latin-1"))


def _read_body(stream, status, headers):
    """Read (and drop) the whole body; _Failed when it is cut off."""
    if status < 200 or status in (204, 304):
        return
    encoding = headers.get("transfer-encoding")
    if encoding is not None:
        codings = [part.strip().lower() for part in encoding.split(",")]
        if codings[-1] == "chunked":
            return _read_chunked(stream)
        stream.skip_to_end()  # no length: the body ends with the connection
        return
    length = headers.get("content-length")
    if length is None:
        stream.skip_to_end()
        return
    values = {part.strip() for part in length.split(",")}
    value = values.pop() if len(values) == 1 else ""
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise _Failed(f"the answer has a bad Content-Length: '{escape(length[:40])}'")
    expected = int(value)
    got = stream.skip(expected)
    if got < expected:
        raise _Failed(
            f"the answer was cut off: {got} of {expected} bytes of the body "
            "received (Content-Length)"
        )


def _read_chunked(stream):
    received = 0
    while True:
        line = stream.readline("chunk-size line")
        if line is None:
            raise _Failed(
                f"the answer was cut off: the connection closed in the middle "
                f"of a chunked body, after {received} bytes"
            )
        size_text = line.split(b";", 1)[0].strip()
        try:
            if not size_text or len(size_text) > 16:
                raise ValueError
            size = int(size_text, 16)
        except ValueError:
            raise _Failed(
                "the answer has a bad chunk size: "
                f"'{escape(line[:40].decode('latin-1'))}'"
            ) from None
        if size == 0:
            # Trailers up to an empty line; the end of the stream will do.
            while stream.readline("trailer line"):
                pass
            return
        got = stream.skip(size)
        received += got
        if got < size or stream.readline("chunk end") is None:
            raise _Failed(
                f"the answer was cut off: the connection closed in the middle "
                f"of a chunked body, after {received} bytes"
            )


def _before_the_request(exc, stage):
    """Whether the call failed before Zope could have run the method: the
    connection refused, the name not resolved, or reset before the whole
    request was sent.  A timeout never counts (Zope may be running it)."""
    if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
        return True
    return isinstance(
        exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
    ) and stage in ("connecting", "sending the request")


def _retry_after(value):
    """A Retry-After header (seconds, or an HTTP date) -> seconds, or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return int(value[:9])
    from email.utils import parsedate_to_datetime  # only for a dated header

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0, when.timestamp() - time.time())


def _error_text(exc, config, stage, job=None):
    if isinstance(exc, _Failed):
        return str(exc)
    if isinstance(exc, (TimeoutError, socket.timeout)):
        if job is not None and job.timeout:
            return f"timed out after {job.timeout:g} s (the job's timeout=) {stage}"
        return f"timed out after {config.timeout:g} s (the timeout option) {stage}"
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"connection refused: nothing listens at {config.address} "
            "(is the instance running?)"
        )
    if isinstance(exc, socket.gaierror):
        return (
            f"cannot resolve the host of {config.address}: {escape(str(exc.strerror))}"
        )
    if type(exc).__module__ == "ssl":
        return f"TLS error talking to {config.address}: {escape(str(exc))}"
    if isinstance(exc, ConnectionResetError):
        return f"{config.address} reset the connection {stage}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{escape(exc.strerror)} {stage} ({config.address})"
    return f"{type(exc).__name__}: {escape(str(exc))} {stage}"
