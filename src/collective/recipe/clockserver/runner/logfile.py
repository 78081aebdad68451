"""Where ``bin/<part> run`` logs: a file (``--log-file``) or standard error.

Each line is written with one os.write(), unbuffered: a full disk or an
unwritable file loses that line, never the process, and nothing is left
in a buffer to fail again at exit.  A line the log file refuses goes to
standard error instead, with one note saying why (and one when the file
takes lines again).  The file is reopened when logrotate moved it away.
Every message is escaped (control characters as ``\\xNN``): a server's
answer cannot forge a log line.
"""

import logging
import os
import sys

from .text import escape

FORMAT = "%(asctime)s %(levelname)s [{part}] %(message)s"


class EscapingFormatter(logging.Formatter):
    """One log record, one line: control characters in the message are
    escaped (a traceback, when there is one, follows on its own lines)."""

    def formatMessage(self, record):
        record.message = escape(record.message)
        return super().formatMessage(record)


def _write(fd, data):
    while data:
        data = data[os.write(fd, data) :]


class LineHandler(logging.Handler):
    """Write each record as one line to ``path``, or to standard error."""

    def __init__(self, path=None, part="clock"):
        super().__init__()
        self.setFormatter(
            EscapingFormatter(FORMAT.format(part=part.replace("%", "%%")))
        )
        self.path = path
        self.fd = None
        self.identity = None
        self.failing = None  # the reason the file refuses lines, while it does
        if path is not None:
            self._open()  # OSError: the caller reports it

    def _open(self):
        fd = os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666
        )
        if self.fd is not None:
            os.close(self.fd)
        self.fd = fd
        info = os.fstat(fd)
        self.identity = (info.st_dev, info.st_ino)

    def _reopen_if_moved(self):
        try:
            info = os.stat(self.path)
            moved = (info.st_dev, info.st_ino) != self.identity
        except FileNotFoundError:
            moved = True
        if moved:
            self._open()

    def emit(self, record):
        try:
            line = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
        except Exception:  # a bad record must not stop the clock
            line = f"(unprintable log record: {escape(str(record.msg))})\n".encode(
                "utf-8", "backslashreplace"
            )
        if self.path is None:
            self._stderr(line)
            return
        try:
            self._reopen_if_moved()  # emit() runs under the handler's lock
            _write(self.fd, line)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if self.failing != reason:
                self.failing = reason
                self._stderr(
                    self._note(
                        f"cannot write the log file {self.path}: {reason}; "
                        "logging to standard error until it can"
                    )
                )
            self._stderr(line)
            return
        if self.failing is not None:
            self.failing = None
            self._stderr(self._note(f"writing the log file {self.path} again"))

    def _note(self, text):
        return (
            self.format(
                logging.LogRecord("clock", logging.WARNING, "", 0, text, None, None)
            ).encode("utf-8", "backslashreplace")
            + b"\n"
        )

    @staticmethod
    def _stderr(data):
        try:
            stream = sys.stderr
            if stream is None:
                return
            try:
                fd = stream.fileno()
            except (AttributeError, ValueError, OSError):  # replaced, e.g. by a test
                stream.write(data.decode("utf-8"))
                stream.flush()
                return
            stream.flush()
            _write(fd, data)
        except OSError:  # standard error is full or closed too: nothing to tell
            pass

    def close(self):
        try:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
        except OSError:
            pass
        super().close()
