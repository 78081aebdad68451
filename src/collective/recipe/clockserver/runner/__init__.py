"""bin/<part>: call Zope methods on a clock, like ZServer's clock server.

Standard library only: the generated script runs this with whatever
Python runs the instance, without buildout on the path.  The recipe
writes the jobs to a mode-0600 JSON file and generates::

    sys.exit(collective.recipe.clockserver.runner.main('/.../parts/clock/clock.json'))

Modules, one job each: ``cli`` (the command line), ``config`` (the JSON
file), ``runs`` (the run protocol of run, fire and exec), ``call`` (one
HTTP call) and ``outcome`` (what it gave and means), ``execute`` (one
command), ``clock`` (the tick loop, on an injectable time source),
``recording`` (``run``: the clock with its log, signals and records),
``records`` (the store's API) on ``connection``, ``store``, ``ledger``
(its writes), ``history`` (its reads) and ``running`` (the names in
progress, by lock), ``status`` and ``metrics`` (what the records say),
``pings`` and ``pinger``, ``locks`` (one call per tick across hosts),
``logfile``, ``files`` (atomic writes), ``text`` (escaping, masking),
``timefmt`` and ``crontimes`` (times).  This module stays empty apart
from ``main`` (and its exit) so that ``fire`` imports only what one call
needs.
"""


def main(config_path, argv=None):
    """Entry point of bin/<part>; returns the exit status.

    A ping that ``fire`` or ``exec`` stopped waiting for (or a call that
    ``run`` was stopped during) may still be under way in a daemon thread
    as the process ends, and CPython 3.12 and 3.13 can crash (SIGSEGV) when
    a daemon thread runs while the interpreter shuts down
    (python/cpython#110052): the run's exit status would be lost.  So when
    the process had no other thread before this call (it is bin/<part>'s
    own, not a caller's) and threads of this call are still alive, the
    process ends here with the status, its output flushed, without the
    interpreter's shutdown (the runner registers no exit handlers; its
    records are on disk already)."""
    import threading

    alone = threading.active_count() == 1
    from .cli import main as cli_main

    code = cli_main(config_path, argv)
    if alone and threading.active_count() > 1:
        _exit_now(code)
    return code


def _exit_now(code):
    import os
    import sys

    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code if isinstance(code, int) and 0 <= code <= 255 else 1)
