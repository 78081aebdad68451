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
from ``main`` so that ``fire`` imports only what one call needs.
"""


def main(config_path, argv=None):
    """Entry point of bin/<part>; returns the exit status."""
    from .cli import main as cli_main

    return cli_main(config_path, argv)
