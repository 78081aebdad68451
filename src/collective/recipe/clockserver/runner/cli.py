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
from .clock import LOG, Clock
from .config import BadConfig, load_config, warn_if_exposed
from .timefmt import format_period, local, next_due, utc

EXIT_OK = 0
EXIT_CALL_FAILED = 1  # fire: the call did not answer 2xx
EXIT_USAGE = 2  # bad config file, unknown job, bad arguments
EXIT_TEMPFAIL = 75  # fire/exec skipped: the previous run of the name still runs


def cmd_run(config, args):
    """The clock: log the ZServer start lines, then tick until a signal."""
    if config.backend == "zserver":
        print(f"{config.part}: error: ZServer calls the jobs of this part "
              "(backend = zserver); bin/<part> run is for backend = runner",
              file=sys.stderr)
        return EXIT_USAGE
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

    from .monitor import ClockMonitor

    monitor = ClockMonitor(config, LOG)
    clock = Clock(config, observer=monitor, claim=monitor.gate(),
                  catch_up=monitor.catch_up)
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
        monitor.start()
        try:
            clock.run()
        finally:
            monitor.stop()
        LOG.info("stopped (%s)", ", ".join(stopped_by) or "stop()")
    finally:
        for sig, old_handler in previous.items():
            signal.signal(sig, old_handler)
        LOG.removeHandler(handler)
        handler.close()
    return EXIT_OK


def _scheduled_tick(config, name, scheduled):
    """The tick a cron-started run serves: the latest time <= now that its
    schedule matches (None by hand, and for @reboot)."""
    if not scheduled:
        return None
    from . import crontimes

    thing = config.entry(name) or config.job(name)
    times = getattr(thing, "times", None)
    if times:
        return crontimes.previous(times, time.time())
    if thing is not None and getattr(thing, "period", None):
        return (int(time.time()) // thing.period) * thing.period
    return None


def _stderr(text):
    print(text, file=sys.stderr)


def cmd_fire(config, args):
    """One call now: exit 0 on 2xx, else 1 with the reason on stderr."""
    job = config.job(args.name)
    if job is None:
        known = ", ".join(job.name for job in config.jobs) or "(none)"
        print(f"{config.part}: unknown job {args.name!r}; known jobs: {known}",
              file=sys.stderr)
        return EXIT_USAGE
    if config.backend == "zserver":
        _stderr(f"{config.part}: {job.name}: ZServer calls this job itself "
                "(backend = zserver); fire is for the runner and cron backends")
        return EXIT_USAGE
    from .monitor import Monitor

    monitor = Monitor(config, lambda text: _stderr(f"{config.part}: warning: {text}"))
    due = _scheduled_tick(config, job.name, args.scheduled)
    token, skip = monitor.begin(job.name, due, "fire", args.scheduled)
    if skip:
        monitor.write_metrics()
        _stderr(f"{config.part}: {job.name}: skipped, the previous run is still running")
        return EXIT_TEMPFAIL
    monitor.ping(job.name, "start")
    outcome = call(config, job)
    reason = describe(outcome, job)
    monitor.finish(job.name, token, "ok" if outcome.ok else "failed", outcome.duration,
                   reason=reason, http_status=outcome.status, by="fire", due=due,
                   start=time.time() - outcome.duration, scheduled=args.scheduled)
    monitor.write_metrics()
    monitor.ping(job.name, "success" if outcome.ok else "fail")
    line = f"{config.part}: {job.name}: {reason} ({outcome.duration:.3f} s)"
    if outcome.ok:
        if args.verbose:
            print(line)
        return EXIT_OK
    print(line, file=sys.stderr)
    return EXIT_CALL_FAILED


def cmd_exec(config, args):
    """Run a command as the monitored run of NAME: output passes through,
    the exit status is the command's; recorded like any run."""
    from . import execute
    from .monitor import Monitor
    from .records import valid_name

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        _stderr(f"{config.part}: exec {args.name}: no command given "
                "(exec NAME -- COMMAND [ARG...])")
        return EXIT_USAGE
    if not valid_name(args.name):
        _stderr(f"{config.part}: exec: {args.name!r} is not a usable name (letters, "
                "digits, '.', '_' and '-')")
        return EXIT_USAGE
    monitor = Monitor(config, lambda text: _stderr(f"{config.part}: warning: {text}"))
    if config.entry(args.name) is None and config.job(args.name) is None:
        _stderr(f"{config.part}: warning: {args.name!r} is no job or entry of this "
                "part; recording it all the same")
    due = _scheduled_tick(config, args.name, args.scheduled)
    token, skip = monitor.begin(args.name, due, "exec", args.scheduled)
    if skip:
        monitor.write_metrics()
        _stderr(f"{config.part}: {args.name}: skipped, the previous run is still running")
        return EXIT_TEMPFAIL
    monitor.ping(args.name, "start")
    done = execute.run(command, config.part, args.name)
    monitor.finish(args.name, token, "ok" if done.status == 0 else "failed", done.duration,
                   reason=done.reason, exit_status=done.status, output=done.output,
                   by="exec", due=due, start=time.time() - done.duration,
                   scheduled=args.scheduled)
    monitor.write_metrics()
    monitor.ping(args.name, "success" if done.status == 0 else "fail")
    return done.status


def cmd_status(config, args):
    """The plugin line, then one row per job and entry (see status.py)."""
    from . import status

    names = None
    if args.name:
        known = [w.name for w in status.watched(config)]
        if args.name not in known:
            print(status.unknown_line(
                f"{args.name!r} is no monitored job or entry of {config.part}; known: "
                + (", ".join(known) or "(none)")))
            return status.UNKNOWN
        names = [args.name]
    try:
        infos = status.collect(config, names)
    except status.Unreadable as exc:
        print(status.unknown_line(str(exc)))
        return status.UNKNOWN
    if args.json:
        print(status.as_json(config, infos))
        return status.exit_status(infos)
    print(status.plugin_line(infos))
    for line in status.table(infos):
        print(line)
    if names:
        for line in status.runs_table(infos[0]):
            print(line)
    return status.exit_status(infos)


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
    fire.add_argument("--scheduled", action="store_true",
                      help="started by cron: record the tick its schedule matched")
    fire.set_defaults(func=cmd_fire)
    exec_ = commands.add_parser(
        "exec", help="run a command as a monitored crontab entry",
        usage="%(prog)s [--scheduled] NAME -- COMMAND [ARG...]",
        description="Run COMMAND, pass its output through, record the run under NAME "
                    "and exit with the command's status. Exit 75 without running it "
                    "when the previous run of NAME still runs on this host.")
    exec_.add_argument("--scheduled", action="store_true",
                       help="started by cron: record the tick its schedule matched")
    exec_.add_argument("name", metavar="NAME", help="the entry's name (see status)")
    exec_.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                       help="the command and its arguments, after --")
    exec_.set_defaults(func=cmd_exec)
    status_ = commands.add_parser(
        "status", help="did every job run? (a Nagios/Icinga check)",
        description="One line in the monitoring-plugin format, then a row per job and "
                    "entry. Exit 0 OK, 1 WARNING (failing), 2 CRITICAL (overdue, or "
                    "failed 3 times in a row), 3 UNKNOWN (records unreadable).")
    status_.add_argument("name", metavar="NAME", nargs="?",
                         help="show this name's last runs")
    status_.add_argument("--json", action="store_true", help="the same data as JSON")
    status_.set_defaults(func=cmd_status)
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
        if args.command == "status":  # a check: exit 2 would mean CRITICAL
            print(f"CLOCK UNKNOWN - {exc}".replace("|", "/"))
            return 3
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    warn_if_exposed(config_path, config, sys.stderr)
    try:
        return args.func(config, args)
    except BrokenPipeError:  # bin/clock list | head
        # Python would complain again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


