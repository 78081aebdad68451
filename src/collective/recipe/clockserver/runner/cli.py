"""bin/<part>: the commands run, fire and list, and main()."""

import argparse
import logging
import logging.handlers
import os
import signal
import sys
import time
from urllib.parse import urlsplit

from .call import call, describe
from .clock import LOG, Clock, no_claim
from .config import BadConfig, load_config, warn_if_exposed
from .timefmt import format_period, local, next_due, utc

EXIT_OK = 0
EXIT_CALL_FAILED = 1  # fire: the call did not answer 2xx
EXIT_USAGE = 2  # bad config file, unknown job, bad arguments


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

    try:
        claim = claim_gate(config)
    except LockUnavailableAtStart as exc:
        LOG.removeHandler(handler)
        handler.close()
        print(f"{config.part}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    clock = Clock(config, claim=claim)
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
        getattr(claim, "close", lambda: None)()
        for sig, old_handler in previous.items():
            signal.signal(sig, old_handler)
        LOG.removeHandler(handler)
        handler.close()
    return EXIT_OK


class LockUnavailableAtStart(Exception):
    """The lock's client library is missing: nothing to wait for."""


def claim_gate(config):
    """The clock's claim gate: the cluster lock when ``lock`` is set."""
    if not config.lock:
        return no_claim
    from .locks import LockUnavailable, gate_for  # imports the client library

    try:
        return gate_for(config.lock, LOG)
    except LockUnavailable as exc:
        raise LockUnavailableAtStart(exc) from None


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
        rows.append((job.name, f"{job.period} ({format_period(job.period)})", utc(due),
                     local(due), job.host or default_host,
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


