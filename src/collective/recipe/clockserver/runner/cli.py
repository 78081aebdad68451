"""bin/<part>: reading the command line and dispatching run, fire, exec,
list and status; main().

cron starts ``fire`` once per call, so its start-up counts: main() reads
fire's arguments without argparse (which, with what it imports, would cost
as much as the call itself) and fire imports only what a run needs
(``config``, ``call``, ``runs`` and the records).  Everything else, and
every usage error, goes through argparse.  The run protocol itself is
runs.py's.
"""

import os
import sys

from .config import BadConfig, load_config, warn_if_exposed

EXIT_OK = 0
EXIT_CALL_FAILED = 1  # fire: the call did not answer 2xx
EXIT_USAGE = 2  # bad config file, unknown job, bad arguments
EXIT_TEMPFAIL = 75  # fire/exec skipped: the previous run of the name still runs
EXIT_STATUS_UNKNOWN = 3  # status: the monitoring-plugin UNKNOWN
FIRE_FLAGS = {
    "-v": "verbose",
    "--verbose": "verbose",  # flag -> attribute (fast path)
    "--scheduled": "scheduled",
}


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
    """The clock until SIGTERM/SIGINT (recording.serve)."""
    if config.backend == "zserver":
        say(
            f"{config.part}: error: ZServer calls the jobs of this part (backend = "
            "zserver); run is for backend = runner"
        )
        return EXIT_USAGE
    from .recording import serve

    problem = serve(config, args.config_path, args.log_file)
    if problem:
        say(f"{config.part}: error: {problem}")
        return EXIT_USAGE
    return EXIT_OK


def cmd_fire(config, args):
    """One call now: exit 0 on 2xx, else 1 with the reason on stderr."""
    from .call import call
    from .text import escape

    job = config.job(args.name)
    if job is None:
        known = ", ".join(job.name for job in config.jobs) or "(none)"
        say(escape(f"{config.part}: unknown job {args.name!r}; known jobs: {known}"))
        return EXIT_USAGE
    if config.backend == "zserver":
        say(
            escape(
                f"{config.part}: {job.name}: ZServer calls this job itself (backend "
                "= zserver); fire is for the runner and cron backends"
            )
        )
        return EXIT_USAGE
    from .runs import of_call

    def work():
        if not (config.retries if job.retries is None else job.retries):
            return of_call(call(config, job), job)  # retry.py is not needed
        import time

        from .retry import attempts

        # By hand too, the next tick counts from this start.
        return of_call(
            attempts(config, job, call, job.schedule.following(time.time())), job
        )

    part_runs = runs_of(config, "fire")
    try:
        result = run_once(part_runs, job.name, args.scheduled, work)
        if isinstance(result, int):
            return result
        line = (
            escape(f"{config.part}: {job.name}: ")
            + f"{result.reason} ({result.duration:.3f} s)"
        )
        if result.ok:
            if args.verbose:
                say(line, sys.stdout)
            return EXIT_OK
        say(line)
        return EXIT_CALL_FAILED
    finally:
        part_runs.wait_for_pings()  # at most 10 s in total


def cmd_exec(config, args):
    """Run a command as the monitored run of NAME: output passes through,
    the exit status is the command's; recorded like any run."""
    from . import execute
    from .records import valid_name
    from .runs import of_command
    from .text import escape

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        say(
            escape(
                f"{config.part}: exec {args.name}: no command given "
                "(exec NAME -- COMMAND [ARG...])"
            )
        )
        return EXIT_USAGE
    if not valid_name(args.name):
        say(
            escape(
                f"{config.part}: exec: {args.name!r} is not a usable name (letters, "
                "digits, '.', '_' and '-')"
            )
        )
        return EXIT_USAGE
    if config.entry(args.name) is None and config.job(args.name) is None:
        say(
            escape(
                f"{config.part}: warning: {args.name!r} is no job or entry of this "
                "part; recording it all the same"
            )
        )
    # SIGTERM from the moment the run is recorded as begun: the command
    # gets it, or does not start; the run is recorded either way.
    part_runs = runs_of(config, "exec")
    with execute.Forwarding() as forwarding:
        result = run_once(
            part_runs,
            args.name,
            args.scheduled,
            lambda: of_command(
                execute.run(command, config.part, args.name, forwarding)
            ),
        )
    part_runs.wait_for_pings()  # at most 10 s in total
    return result if isinstance(result, int) else result.exit_status


def runs_of(config, by):
    """The runs of ``fire`` or ``exec`` (runs.py); warnings go to stderr."""
    from . import runs
    from .text import escape

    return runs.Runs(
        config, lambda text: say(escape(f"{config.part}: warning: {text}")), by
    )


def run_once(part_runs, name, scheduled, work):
    """fire's and exec's run of ``name`` (runs.py): the Result, or the exit
    status of a skip: 75 with one line on stderr (still running, lock
    service unreachable), 0 silent (claimed by another host).  The pings
    are sent in the background: wait_for_pings() before exiting."""
    import time

    from . import runs
    from .text import escape

    config = part_runs.config
    due = runs.scheduled_tick(config, name, scheduled, time.time())
    result, skip = runs.perform(part_runs, name, due, scheduled, work)
    if skip is None:
        return result
    if skip.message is None:
        return EXIT_OK
    say(escape(skip.message))
    return EXIT_TEMPFAIL


def cmd_status(config, args):
    """The plugin line, then one row per job and entry (statusview.report)."""
    from .statusview import report

    lines, code = report(config, args.name, args.json)
    for line in lines:
        print(line)
    return code


def cmd_list(config, args):
    """A table of the jobs: schedule, zone, next times (listing.py)."""
    import time

    from .listing import listing

    for line in listing(config, time.time()):
        print(line)
    return EXIT_OK


def make_parser(prog):
    import argparse

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Call Zope methods periodically, like ZServer's clock server.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run the clock until SIGTERM/SIGINT (SIGHUP re-reads the config)",
        description="Fire each job at epoch multiples of its period (3600: the top "
        "of each UTC hour), or at its times= in its time zone; log one "
        "line per call.",
    )
    run.add_argument(
        "--log-file",
        metavar="PATH",
        help="append the log here instead of standard error "
        "(reopened when logrotate moves it)",
    )
    run.set_defaults(func=cmd_run)
    fire = commands.add_parser(
        "fire",
        help="call one job now (exit 0 on a 2xx answer)",
        description="Call one job now. Exit 0 on a 2xx answer; otherwise print the "
        "reason on standard error and exit 1. Quiet on success, for cron.",
    )
    fire.add_argument("name", metavar="NAME", help="the job's name (see list)")
    fire.add_argument(
        "-v", "--verbose", action="store_true", help="also report a successful call"
    )
    fire.add_argument(
        "--scheduled",
        action="store_true",
        help="started by cron: record the tick its schedule matched",
    )
    fire.set_defaults(func=cmd_fire)
    exec_ = commands.add_parser(
        "exec",
        help="run a command as a monitored crontab entry",
        usage="%(prog)s [--scheduled] NAME -- COMMAND [ARG...]",
        description="Run COMMAND, pass its output through, record the run under NAME "
        "and exit with the command's status. Exit 75 without running it "
        "when the previous run of NAME still runs on this host.",
    )
    exec_.add_argument(
        "--scheduled",
        action="store_true",
        help="started by cron: record the tick its schedule matched",
    )
    exec_.add_argument("name", metavar="NAME", help="the entry's name (see status)")
    exec_.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="COMMAND",
        help="the command and its arguments, after --",
    )
    exec_.set_defaults(func=cmd_exec)
    status_ = commands.add_parser(
        "status",
        help="did every job run? (a Nagios/Icinga check)",
        description="One line in the monitoring-plugin format, then a row per job and "
        "entry. Exit 0 OK, 1 WARNING (failing), 2 CRITICAL (overdue, or "
        "failed 3 times in a row), 3 UNKNOWN (records unreadable).",
    )
    status_.add_argument(
        "name", metavar="NAME", nargs="?", help="show this name's last runs"
    )
    status_.add_argument("--json", action="store_true", help="the same data as JSON")
    status_.set_defaults(func=cmd_status)
    list_ = commands.add_parser(
        "list", help="show the jobs, their schedules, zones and next fire times"
    )
    list_.set_defaults(func=cmd_list)
    return parser


def quick_fire_args(argv):
    """``fire [-v] NAME`` read without argparse, or None: argparse then
    reads (and explains) whatever else was given."""
    from types import SimpleNamespace

    if not argv or argv[0] != "fire":
        return None
    args = SimpleNamespace(
        command="fire",
        func=cmd_fire,
        name=None,
        **dict.fromkeys(FIRE_FLAGS.values(), False),
    )
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
        from .text import escape, plugin_text

        if args.command == "status":  # a check: exit 2 would mean CRITICAL
            print(f"CLOCK UNKNOWN - {plugin_text(exc)}")
            return EXIT_STATUS_UNKNOWN
        say(escape(f"{prog}: error: {exc}"))
        return EXIT_USAGE
    warn_if_exposed(config_path, config, sys.stderr)
    try:
        return args.func(config, args)
    except BrokenPipeError:  # bin/clock list | head
        # Python would complain again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # standard output on a full disk
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        say(f"{prog}: error: cannot write the output: {exc.strerror}")
        return EXIT_CALL_FAILED
