"""bin/<part>: the commands run, fire and list, and main().

cron starts ``fire`` once per call, so its start-up counts: main() reads
fire's arguments without argparse (which, with what it imports, would cost
as much as the call itself) and fire imports only ``config`` and ``call``.
Everything else, and every usage error, goes through argparse.
"""

import os
import sys

from .config import BadConfig, load_config, warn_if_exposed

EXIT_OK = 0
EXIT_CALL_FAILED = 1  # fire: the call did not answer 2xx
EXIT_USAGE = 2  # bad config file, unknown job, bad arguments
FIRE_FLAGS = {"-v": "verbose", "--verbose": "verbose"}  # flag -> attribute (fast path)


def say(text, stream=None):
    """Print a line; a full disk or a closed stream must not change the exit
    status (nor give a traceback)."""
    stream = stream or sys.stderr
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def cmd_run(config, args):
    """The clock: log the ZServer start lines, then tick until a signal;
    SIGHUP re-reads the config file."""
    import logging
    import signal

    from .clock import LOG, Clock
    from .logfile import LineHandler

    try:
        handler = LineHandler(args.log_file, config.part)
    except OSError as exc:
        say(f"{config.part}: error: cannot write the log file {args.log_file}: "
            f"{exc.strerror}")
        return EXIT_USAGE
    for old in LOG.handlers[:]:
        LOG.removeHandler(old)
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False

    path = args.config_path
    clock = Clock(config, reload=lambda: load_config(path))
    stopped_by = []

    def on_signal(signum, frame):
        stopped_by.append(signal.Signals(signum).name)
        clock.stop()

    def on_hangup(signum, frame):
        clock.request_reload()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hangup)
    try:
        LOG.info("calling %s (timeout %g s, concurrency %d), %d job(s)", config.address,
                 config.timeout, config.concurrency, len(config.jobs))
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
    from .call import call, describe, escape

    job = config.job(args.name)
    if job is None:
        known = ", ".join(job.name for job in config.jobs) or "(none)"
        say(escape(f"{config.part}: unknown job {args.name!r}; known jobs: {known}"))
        return EXIT_USAGE
    outcome = call(config, job)
    line = escape(f"{config.part}: {job.name}: ") + \
        f"{describe(outcome, job)} ({outcome.duration:.3f} s)"
    if outcome.ok:
        if args.verbose:
            say(line, sys.stdout)
        return EXIT_OK
    say(line)
    return EXIT_CALL_FAILED


def cmd_list(config, args):
    """A table of the jobs and when each fires next (never the password)."""
    import time

    from .timefmt import format_period, local, next_due, utc

    now = time.time()
    print(f"{config.part}: {len(config.jobs)} job(s) calling {config.address} "
          f"(timeout {config.timeout:g} s, concurrency {config.concurrency})")
    default_host = config.netloc
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
    import argparse

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Call Zope methods periodically, like ZServer's clock server.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run the clock until SIGTERM/SIGINT (SIGHUP re-reads the config)",
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


def quick_fire_args(argv):
    """``fire [-v] NAME`` read without argparse, or None: argparse then
    reads (and explains) whatever else was given."""
    from types import SimpleNamespace

    if not argv or argv[0] != "fire":
        return None
    args = SimpleNamespace(command="fire", func=cmd_fire, name=None,
                           **dict.fromkeys(FIRE_FLAGS.values(), False))
    for word in argv[1:]:
        if word in FIRE_FLAGS:
            setattr(args, FIRE_FLAGS[word], True)
        elif word.startswith("-") or args.name is not None:
            return None
        else:
            args.name = word
    return args if args.name is not None else None


def main(config_path, argv=None):
    """Entry point of bin/<part>; returns the exit status."""
    prog = os.path.basename(os.path.dirname(os.path.abspath(config_path))) or "clock"
    argv = sys.argv[1:] if argv is None else argv
    args = quick_fire_args(argv)
    if args is None:
        try:
            args = make_parser(prog).parse_args(argv)
        except SystemExit as exc:  # --help, or a usage error already printed
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    args.config_path = config_path
    try:
        config = load_config(config_path)
    except BadConfig as exc:
        from .call import escape

        say(escape(f"{prog}: error: {exc}"))
        return EXIT_USAGE
    warn_if_exposed(config_path, config, sys.stderr)
    try:
        return args.func(config, args)
    except BrokenPipeError:  # bin/clock list | head
        # Python would complain again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


