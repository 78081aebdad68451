"""The ``pings`` section (normally in secret.cfg): job and entry names -> ping URLs.

Pure: reads a mapping of sections, raises ConfigError.  The URLs are
secrets: they go only into bin/<part>'s mode-0600 file.  Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

try:
    from urllib.parse import urlsplit
except ImportError:  # Python 2
    from urlparse import urlsplit

from . import values as rules
from .errors import ConfigError


def snippet(section, names):
    example = names[0] if names else "NAME"
    return (
        "Create it in secret.cfg (chmod 600, never committed), one line per "
        "job or entry name:\n\n    [%s]\n    %s = https://hc-ping.com/<uuid>\n"
        % (section, example)
    )


def check_defined(sections, section, names):
    """Raise ConfigError (with the snippet) unless the pings section exists.

    ``keys()``, not ``in``: buildout's ``in`` reads the section, and a
    reference in it to a missing section would look like a missing pings
    section (buildout reports that reference itself when it is read)."""
    if section not in sections.keys():
        raise ConfigError(
            "pings",
            section,
            "the pings section [%s] is not defined" % section,
            snippet(section, list(names)),
        )


def read(sections, section, names):
    """The ``pings`` section: name -> healthchecks.io-style URL."""
    names = list(names)
    check_defined(sections, section, names)
    found = {}
    values = sections[section]
    for key in sorted(values.keys()):
        url = values[key].strip()
        if key not in names:
            raise ConfigError(
                "pings",
                "[%s] %s" % (section, key),
                "%r is no job or entry of this part" % key,
                "Use one of: %s." % (", ".join(names) or "(none)"),
            )
        parts = urlsplit(url)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or rules.ping_url_problem(url)
        ):
            raise ConfigError(
                "pings",
                "[%s] %s" % (section, key),
                "the ping URL of %s is not an http(s) URL" % key,
                "Write the check's ping URL, e.g. %s = https://hc-ping.com/<uuid>."
                % key,
            )
        found[key] = url
    return found
