"""The one exception the pure modules raise for a user's mistake.

The buildout layer (recipe.py) turns it into a ``zc.buildout.UserError``
that names the part; the pure modules stay free of buildout.
"""

from __future__ import absolute_import, division, print_function


class ConfigError(ValueError):
    """A mistake in the part's options that the user can fix.

    ``option`` is the option name (``jobs``, ``zeopack``, ...), ``value``
    the offending value or line, ``problem`` what is wrong and ``fix`` what
    to write instead.
    """

    def __init__(self, option, value, problem, fix=""):
        super(ConfigError, self).__init__(option, value, problem, fix)
        self.option = option
        self.value = value
        self.problem = problem
        self.fix = fix

    def message(self, part):
        """What bin/buildout prints; control characters escaped (the
        value may hold any the user wrote: never sent to the terminal)."""
        from .values import shown

        text = "[%s] %s: %s" % (part, self.option, shown(self.problem, "\n\t"))
        if self.value is not None:
            text += "\n    %s" % shown(self.value, "\t")
        if self.fix:
            text += "\n" + shown(self.fix, "\n\t")
        return text

    def __str__(self):
        return self.message("?")
