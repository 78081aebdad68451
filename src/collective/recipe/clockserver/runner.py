"""bin/<part>: call Zope methods on a clock, like ZServer's clock server.

Standard library only: the generated script runs this with whatever
Python runs the instance, without buildout on the path.  The recipe
writes the jobs to a mode-0600 JSON file and generates::

    sys.exit(collective.recipe.clockserver.runner.main('/.../parts/clock/clock.json'))

Commands: ``run`` (the clock), ``fire NAME`` (one call now, for cron and
for people) and ``list``.
"""

import argparse
import base64
import heapq
import http.client
import json
import logging
import logging.handlers
import os
import select
import signal
import socket
import ssl
import string
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

EXIT_OK = 0
EXIT_CALL_FAILED = 1  # fire: the call did not answer 2xx
EXIT_USAGE = 2  # bad config file, unknown job, bad arguments

GRACE = 0.2  # seconds in-flight calls get to finish after SIGTERM/SIGINT
MAX_SLEEP = 10.0  # re-read the wall clock at least this often (clock jumps)
USER_AGENT = "Zope Clock Server Client (collective.recipe.clockserver)"
LOGIN_MARKERS = ("login", "acl_users")  # also matches require_login
CSRF_CONFIRM_MARKER = "@@confirm-action"  # plone.protect's redirect
LOG = logging.getLogger("collective.recipe.clockserver.runner")


class BadConfig(Exception):
    """The config file is missing or malformed; the message says why."""


@dataclass(frozen=True)
class Job:
    name: str
    method: str  # path from the Zope root, may carry ?query
    period: int  # seconds; ticks at epoch multiples
    host: str | None = None  # Host: header; None = the address's host:port
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def authenticated(self):
        """True when a Basic Authorization header is sent (as ZServer)."""
        return bool(self.user and self.password)


@dataclass(frozen=True)
class Config:
    part: str
    address: str  # scheme://host:port
    timeout: float
    jobs: tuple

    def job(self, name):
        for job in self.jobs:
            if job.name == name:
                return job
        return None


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


# -- config -----------------------------------------------------------------


def load_config(path):
    """Read and check the JSON file the recipe wrote; raise BadConfig."""
    regenerate = "; run bin/buildout to write it again"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise BadConfig(f"{path} does not exist{regenerate}") from None
    except OSError as exc:
        raise BadConfig(f"cannot read {path}: {exc.strerror} "
                        "(run it as the user that ran bin/buildout)") from None
    except ValueError as exc:
        raise BadConfig(f"{path} is not valid JSON ({exc}){regenerate}") from None
    try:
        return _parse_config(data)
    except BadConfig as exc:
        raise BadConfig(f"{path}: {exc}{regenerate}") from None


def _parse_config(data):
    if not isinstance(data, dict):
        raise BadConfig("expected a JSON object")
    address = _get(data, "address", str)
    if "://" not in address:
        address = "http://" + address
    url = urlsplit(address)
    if "@" in url.netloc:
        raise BadConfig("the address must not hold a user or password: "
                        "they belong in the credentials section (secret.cfg)")
    if url.scheme not in ("http", "https") or not url.hostname or url.path not in ("", "/"):
        raise BadConfig(f"address {address!r} is not http(s)://HOST:PORT")
    try:
        url.port
    except ValueError:
        raise BadConfig(f"address {address!r} has a bad port") from None
    timeout = data.get("timeout", 300)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise BadConfig(f"timeout must be a positive number of seconds, not {timeout!r}")
    raw_jobs = _get(data, "jobs", list)
    jobs = tuple(_parse_job(raw, number) for number, raw in enumerate(raw_jobs, 1))
    names = [job.name for job in jobs]
    for name in names:
        if names.count(name) > 1:
            raise BadConfig(f"job name {name!r} is used twice")
    part = data.get("part") or "clock"
    return Config(str(part), address.rstrip("/"), timeout, jobs)


def _parse_job(raw, number):
    if not isinstance(raw, dict):
        raise BadConfig(f"job {number} is not a JSON object")
    where = f"job {number}"
    name = _get(raw, "name", str, where)
    method = _get(raw, "method", str, where)
    if not method.startswith("/"):
        raise BadConfig(f"{where}: method {method!r} must start with /")
    period = _get(raw, "period", int, where)
    if isinstance(period, bool) or period <= 0:
        raise BadConfig(f"{where}: period must be a positive number of seconds")
    optional = {}
    for key in ("host", "user", "password"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise BadConfig(f"{where}: {key} must be a string or null")
        optional[key] = value or None
    return Job(name, method, period, **optional)


def _get(data, key, kind, where="the file"):
    value = data.get(key)
    if not isinstance(value, kind) or (kind is str and not value):
        what = {str: "a string", int: "an integer", list: "a list"}[kind]
        raise BadConfig(f"{where}: {key!r} is missing or not {what}")
    return value


def warn_if_exposed(path, config, stream):
    """Warn when a file holding a password is readable by group/others."""
    if not any(job.password for job in config.jobs):
        return
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        return
    if mode & 0o077:
        print(
            f"{config.part}: warning: {path} holds a password and is readable "
            f"by group/others (mode {mode:o}): chmod 600 {path}",
            file=stream,
        )


# -- time -------------------------------------------------------------------


def next_due(period, now):
    """The first epoch multiple of ``period`` strictly after ``now``."""
    return (int(now // period) + 1) * period


def format_period(seconds):
    """3600 -> '1h', 5430 -> '1h30m30s'."""
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


# -- one call ---------------------------------------------------------------


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
        # Checked first: the confirm URL carries the original one, which may
        # hold a login marker.
        if CSRF_CONFIRM_MARKER in urlsplit(location).path:
            hint = ("Plone's CSRF protection (plone.protect) aborted what this GET "
                    "wrote and redirected to @@confirm-action: the view must call "
                    "alsoProvides(request, IDisableCSRFProtection) (from "
                    "plone.protect.interfaces) before it writes")
        elif any(marker in location.lower() for marker in LOGIN_MARKERS):
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


# -- the clock ---------------------------------------------------------------


class Worker(threading.Thread):
    """One job's thread: sleeps until the clock wakes it, then calls once.

    Started once and reused, so a tick costs an Event.set(), not a thread
    start; one thread per job, so no job waits for another.
    """

    def __init__(self, config, job, log):
        super().__init__(name=f"clock {job.name}", daemon=True)
        self.config = config
        self.job = job
        self.log = log
        self.busy_since = None  # monotonic start of the call in progress
        self.stopping = False
        self._wake = threading.Event()

    def fire(self):
        """Start a call now; the caller checks ``busy_since`` first."""
        self.busy_since = time.monotonic()
        self._wake.set()

    def stop(self):
        self.stopping = True
        self._wake.set()

    def run(self):
        while True:
            self._wake.wait()
            self._wake.clear()
            if self.stopping:
                return
            try:
                outcome = call(self.config, self.job)
                level = logging.INFO if outcome.ok else logging.WARNING
                self.log.log(level, "%s: %s (%.3f s)", self.job.name,
                             describe(outcome, self.job), outcome.duration)
            except Exception:  # a bug must not kill the clock
                self.log.exception("%s: unexpected error", self.job.name)
            finally:
                self.busy_since = None


class Clock:
    """Fire every job at epoch multiples of its period until stopped.

    One heap of due times; the main thread sleeps in select() until the
    earliest is due, or until ``stop()`` writes to a socket pair (safe from
    a signal handler).  Each job calls from its own Worker thread; a job
    whose previous call still runs skips the tick.
    """

    def __init__(self, config, log=LOG):
        self.config = config
        self.log = log
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)

    def stop(self):
        """Make run() return; safe from signal handlers and other threads."""
        try:
            self._wake_w.send(b"x")
        except OSError:  # buffer full or closed: a wake-up is pending anyway
            pass

    def run(self):
        workers = [Worker(self.config, job, self.log) for job in self.config.jobs]
        for worker in workers:
            worker.start()
        now = time.time()
        heap = [(next_due(w.job.period, now), index) for index, w in enumerate(workers)]
        heapq.heapify(heap)
        while True:
            if heap:
                due, index = heap[0]
                delay = due - time.time()
            else:
                delay = None
            if delay is None or delay > 0:
                timeout = MAX_SLEEP if delay is None else min(delay, MAX_SLEEP)
                if select.select([self._wake_r], [], [], timeout)[0]:
                    break
                continue
            worker = workers[index]
            heapq.heapreplace(heap, (next_due(worker.job.period, max(due, time.time())),
                                     index))
            since = worker.busy_since
            if since is None:
                worker.fire()
            else:
                self.log.warning("%s: previous call still running (%.1f s), skipping "
                                 "the tick due at %s", worker.job.name,
                                 time.monotonic() - since, _utc(due))
        self._finish(workers)

    def _finish(self, workers):
        for worker in workers:
            worker.stop()
        deadline = time.monotonic() + GRACE
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        abandoned = [worker.job.name for worker in workers if worker.is_alive()]
        if abandoned:
            self.log.warning("not waiting for calls still running: %s",
                             ", ".join(abandoned))
        self._wake_r.close()
        self._wake_w.close()


def _utc(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(timestamp):
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


# -- commands ----------------------------------------------------------------


def cmd_run(config, args):
    """The clock: log the ZServer start lines, then tick until a signal."""
    if args.log_file:
        try:
            handler = logging.handlers.WatchedFileHandler(args.log_file)
        except OSError as exc:
            print(f"{config.part}: error: cannot write the log file {args.log_file}: "
                  f"{exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
    else:
        handler = logging.StreamHandler(sys.stderr)
    part = config.part.replace("%", "%%")
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s [{part}] %(message)s"))
    for old in LOG.handlers[:]:
        LOG.removeHandler(old)
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False

    clock = Clock(config)
    stopped_by = []

    def on_signal(signum, frame):
        stopped_by.append(signal.Signals(signum).name)
        clock.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        LOG.info("calling %s (timeout %g s), %d job(s)", config.address,
                 config.timeout, len(config.jobs))
        for job in config.jobs:
            LOG.info('Clock server for "%s" started (user: %s, period: %s)',
                     job.method, job.user if job.authenticated else "Anonymous",
                     job.period)
        clock.run()
        LOG.info("stopped (%s)", ", ".join(stopped_by) or "stop()")
    finally:
        for sig, old_handler in previous.items():
            signal.signal(sig, old_handler)
        LOG.removeHandler(handler)
        handler.close()
    return EXIT_OK


def cmd_fire(config, args):
    """One call now: exit 0 on 2xx, else 1 with the reason on stderr."""
    job = config.job(args.name)
    if job is None:
        known = ", ".join(job.name for job in config.jobs) or "(none)"
        print(f"{config.part}: unknown job {args.name!r}; known jobs: {known}",
              file=sys.stderr)
        return EXIT_USAGE
    outcome = call(config, job)
    line = f"{config.part}: {job.name}: {describe(outcome, job)} ({outcome.duration:.3f} s)"
    if outcome.ok:
        if args.verbose:
            print(line)
        return EXIT_OK
    print(line, file=sys.stderr)
    return EXIT_CALL_FAILED


def cmd_list(config, args):
    """A table of the jobs and when each fires next (never the password)."""
    now = time.time()
    print(f"{config.part}: {len(config.jobs)} job(s) calling {config.address} "
          f"(timeout {config.timeout:g} s)")
    default_host = urlsplit(config.address).netloc
    rows = [("NAME", "PERIOD", "NEXT (UTC)", "NEXT (LOCAL)", "HOST", "USER", "METHOD")]
    for job in config.jobs:
        due = next_due(job.period, now)
        rows.append((job.name, f"{job.period} ({format_period(job.period)})", _utc(due),
                     _local(due), job.host or default_host,
                     job.user if job.authenticated else "Anonymous", job.method))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return EXIT_OK


def make_parser(prog):
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Call Zope methods periodically, like ZServer's clock server.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run the clock until SIGTERM/SIGINT",
        description="Fire each job at epoch multiples of its period (3600: the top "
                    "of each UTC hour); log one line per call.")
    run.add_argument("--log-file", metavar="PATH",
                     help="append the log here instead of standard error "
                          "(reopened when logrotate moves it)")
    run.set_defaults(func=cmd_run)
    fire = commands.add_parser(
        "fire", help="call one job now (exit 0 on a 2xx answer)",
        description="Call one job now. Exit 0 on a 2xx answer; otherwise print the "
                    "reason on standard error and exit 1. Quiet on success, for cron.")
    fire.add_argument("name", metavar="NAME", help="the job's name (see list)")
    fire.add_argument("-v", "--verbose", action="store_true",
                      help="also report a successful call")
    fire.set_defaults(func=cmd_fire)
    list_ = commands.add_parser("list", help="show the jobs and their next fire times")
    list_.set_defaults(func=cmd_list)
    return parser


def main(config_path, argv=None):
    """Entry point of bin/<part>; returns the exit status."""
    prog = os.path.basename(os.path.dirname(os.path.abspath(config_path))) or "clock"
    parser = make_parser(prog)
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        config = load_config(config_path)
    except BadConfig as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    warn_if_exposed(config_path, config, sys.stderr)
    try:
        return args.func(config, args)
    except BrokenPipeError:  # bin/clock list | head
        # Python would complain again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # python -m collective.recipe.clockserver.runner CONFIG ...
    sys.exit(main(sys.argv[1], sys.argv[2:]))
