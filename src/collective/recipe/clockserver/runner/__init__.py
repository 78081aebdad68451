"""bin/<part>: call Zope methods on a clock, like ZServer's clock server.

Standard library only: the generated script runs this with whatever
Python runs the instance, without buildout on the path.  The recipe
writes the jobs to a mode-0600 JSON file and generates::

    sys.exit(collective.recipe.clockserver.runner.main('/.../parts/clock/clock.json'))

Modules, one job each: ``config`` (the JSON file), ``call`` (one HTTP
call), ``clock`` (the tick loop), ``timefmt`` (due times, formatting),
``cli`` (the commands).  This module stays empty apart from ``main`` so
that ``fire`` imports only what one call needs.
"""


def main(config_path, argv=None):
    """Entry point of bin/<part>; returns the exit status."""
    from .cli import main as cli_main

    return cli_main(config_path, argv)
