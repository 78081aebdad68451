"""Time zone names: the machine's zone, and whether a name is an IANA zone.

Pure, Python 2.7 and 3: the recipe names the machine's zone when
buildout runs (``timezone``'s default) and checks ``timezone``/``timezone=``;
schedule.py reads crontab entries in the machine's zone.
"""

from __future__ import absolute_import, division, print_function

import re

UTC_NAMES = (
    "UTC",
    "Etc/UTC",
    "Etc/UCT",
    "UCT",
    "Etc/Universal",
    "Universal",
    "Etc/Zulu",
    "Zulu",
    "Etc/GMT",
    "GMT",
    "Etc/GMT0",
    "GMT0",
    "Etc/Greenwich",
    "Greenwich",
)
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*\Z")


def zone_problem(name):
    """Why ``name`` is not an IANA time zone this machine knows, or None.

    Python 3: zoneinfo decides (the system's tz database, or the tzdata
    package).  Python 2 (the recipe on a ZServer site, where no zone is
    ever evaluated): the form of the name only."""
    if not _ZONE_NAME.match(name) or ".." in name:
        return "%r is not an IANA time zone name" % name
    try:
        import zoneinfo
    except ImportError:  # Python 2 (or 3.8): the name's form only
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return "%r is not a time zone this machine knows (no such IANA zone)" % name
    return None


def same_zone(first, second):
    """Whether two zone names are the same zone (names, UTC's aliases)."""
    if first == second:
        return True
    return first in UTC_NAMES and second in UTC_NAMES


def machine_zone(
    environ=None, localtime="/etc/localtime", timezone_file="/etc/timezone"
):
    """The machine's IANA zone as a name: ``TZ`` (``:Europe/Amsterdam``, or a
    path into a zoneinfo directory), else what ``/etc/localtime`` links to
    (else ``/etc/timezone``, Debian's), else ``UTC`` when there is no
    ``/etc/localtime`` (glibc reads UTC then).  None when the zone cannot
    be named (a POSIX ``TZ`` rule such as ``CET-1CEST``, a copied
    localtime file): the caller asks for ``timezone``."""
    import os

    environ = os.environ if environ is None else environ
    tz = environ.get("TZ")
    if tz is not None and tz.strip(":"):
        return _zone_name(tz.lstrip(":"))
    if os.path.islink(localtime):
        return _zone_name(os.path.realpath(localtime))
    if os.path.exists(localtime):
        try:
            with open(timezone_file) as stream:
                return _zone_name(stream.read().strip())
        except (IOError, OSError):
            return None
    return "UTC"


def _zone_name(text):
    """An IANA name from a zone name or a path into a zoneinfo tree, or None."""
    if "zoneinfo/" in text:
        text = text.split("zoneinfo/")[-1]
        for tree in ("posix/", "right/"):
            if text.startswith(tree):
                text = text[len(tree) :]
    if not text or zone_problem(text):
        return None
    return text
