"""clockserver-convert: pasted ``<clock-server>`` blocks -> one clock part.

Python 3.10+ only and never imported by the recipe, so a package of its own
that setup.py leaves out where zc.buildout 2.13 builds the sdist on Python 2
(see command.py for what it does).
"""

from .command import main  # noqa: F401 (the console script's entry point)
