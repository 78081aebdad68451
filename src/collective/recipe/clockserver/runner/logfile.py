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
import time
from collections.abc import Mapping

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
        self.write_line(line)

    def write_line(self, line):
        """Write one encoded line (call with the handler's lock held)."""
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


class LineLog:
    """The clock's logger in ``run``: the lines LineHandler writes for a
    logging record, made without one (a call's log line is on the hot
    path).  Anything unusual (exc_info, extra, a mapping as the only
    argument, another handler added) goes through ``logger`` itself."""

    def __init__(self, logger, handler, part):
        self.logger = logger
        self.handler = handler
        self.suffix = f" [{part}] "
        self._second = None
        self._stamp = ""

    def isEnabledFor(self, level):
        return self.logger.isEnabledFor(level)

    def log(self, level, msg, *args, **kwargs):
        logger = self.logger
        if not logger.isEnabledFor(level):
            return
        if (
            kwargs
            or logger.handlers != [self.handler]
            or (len(args) == 1 and isinstance(args[0], Mapping) and args[0])
        ):
            logger.log(level, msg, *args, **kwargs)
            return
        try:
            text = escape(str(msg) % args if args else str(msg))
        except Exception:  # a bad format: as logging reports it
            logger.log(level, msg, *args)
            return
        created = time.time()
        second = int(created)
        if second != self._second:  # asctime as logging.Formatter writes it
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
            self._second = second
        line = (
            f"{self._stamp},{int((created - second) * 1000):03d} "
            f"{logging.getLevelName(level)}{self.suffix}{text}\n"
        ).encode("utf-8", "backslashreplace")
        handler = self.handler
        handler.acquire()
        try:
            handler.write_line(line)
        finally:
            handler.release()

    def debug(self, msg, *args, **kwargs):
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg, *args, **kwargs):
        self.log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg, *args, **kwargs):
        self.log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg, *args, **kwargs):
        self.log(logging.ERROR, msg, *args, **kwargs)

    def critical(self, msg, *args, **kwargs):
        self.log(logging.CRITICAL, msg, *args, **kwargs)

    def exception(self, msg, *args, exc_info=True, **kwargs):
        self.logger.error(msg, *args, exc_info=exc_info, **kwargs)
