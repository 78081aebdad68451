"""bin/<part> run's log lines: the cheap path (LineLog, no LogRecord)
writes byte for byte what logging writes through LineHandler."""

import logging
import time

from collective.recipe.clockserver.runner.logfile import LineHandler, LineLog


def test_line_log_writes_what_logging_writes(tmp_path, monkeypatch):
    path = tmp_path / "clock.log"
    logger = logging.getLogger("test-line-log")
    handler = LineHandler(str(path), "my%part")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    fast = LineLog(logger, handler, "my%part")
    monkeypatch.setattr(time, "time", lambda: 1764680000.25)
    monkeypatch.setattr(time, "time_ns", lambda: 1764680000_250_000_000)
    try:
        cases = [
            (logging.INFO, "%s: %s (%.3f s%s)", ("job", "200 OK\x1b[2J", 0.0123, "")),
            (logging.WARNING, "plain \n text \x07", ()),
            (logging.ERROR, "100%% sure: %d", (5,)),
            (logging.DEBUG, "not shown at INFO", ()),
            (logging.INFO, "%s", ("ünïcode \udcff",)),
        ]
        for level, msg, args in cases:
            logger.log(level, msg, *args)
            fast.log(level, msg, *args)
        logger.warning("%s: retry %d of %d", "j", 1, 3)
        fast.warning("%s: retry %d of %d", "j", 1, 3)
    finally:
        logger.removeHandler(handler)
        handler.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 10
    assert lines[0::2] == lines[1::2]
    assert b"[my%part] job: 200 OK\\x1b[2J (0.012 s)" in lines[0]
    assert b"not shown" not in path.read_bytes()


def test_line_log_hands_unusual_calls_to_logging(tmp_path):
    path = tmp_path / "clock.log"
    logger = logging.getLogger("test-line-log-2")
    handler = LineHandler(str(path), "p")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    fast = LineLog(logger, handler, "p")
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            fast.exception("%s: unexpected error", "j")
        fast.info("%(a)s and %(b)s", {"a": 1, "b": 2})
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = path.read_text()
    assert "ERROR [p] j: unexpected error" in text
    assert "ValueError: boom" in text
    assert "INFO [p] 1 and 2" in text
