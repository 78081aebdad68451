"""The option names a part may hold, and "did you mean" for a misspelt one.

zc.buildout itself warns about options a recipe never read ("contains
unused option(s)"); a misspelt ``zeopak`` then silently costs the entry the
user meant.  ``suggestions`` names the known option a typo is closest to,
by Damerau-Levenshtein distance (a swap of two neighbours counts once): at
most 1 for names of five letters or fewer, at most 2 for longer ones.
"""

from __future__ import absolute_import, unicode_literals

# What the user writes (DESIGN.md, Part options), in the table's order.
OPTIONS = (
    "jobs",
    "backend",
    "credentials",
    "host",
    "inline",
    "address",
    "timeout",
    "retries",
    "timezone",
    "spread",
    "concurrency",
    "zeopack",
    "zeopack-command",
    "crontab",
    "crontab-file",
    "enabled",
    "monitor",
    "state-directory",
    "grace",
    "catch-up",
    "metrics-file",
    "pings",
    "lock",
    "lock-credentials",
    "lock-namespace",
)
# What the recipe sets for other parts (and buildout for every part).
OUTPUTS = (
    "recipe",
    "zope-conf-additional",
    "crontab-entries",
    "script",
    "state-directory",
    "crontab-identifier",
    "location",
)
KNOWN = frozenset(OPTIONS + OUTPUTS)


def distance(a, b):
    """Damerau-Levenshtein distance (optimal string alignment) of a and b."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def limit(name):
    """How far a typo of ``name`` may be from it."""
    return 1 if len(name) <= 5 else 2


def closest(name, known=OPTIONS):
    """The known option ``name`` is a typo of, or None."""
    best = None
    for candidate in known:
        d = distance(name, candidate)
        if d <= limit(candidate) and (best is None or d < best[0]):
            best = (d, candidate)
    return best and best[1]


def suggestions(names, known=KNOWN):
    """(unknown name, the option it is close to) for each such name, sorted."""
    found = []
    for name in sorted(names):
        if name in known:
            continue
        guess = closest(name)
        if guess is not None:
            found.append((name, guess))
    return found


def warning(part, name, guess):
    """The warning for one misspelt option."""
    return "Section `%s` contains unknown option '%s': did you mean %s?" % (
        part,
        name,
        guess,
    )
