"""bin/<part>'s directories, made when the recipe installs: the state directory and the metrics file's.

The recipe calls ``make`` (on Python 3: on Python 2 nothing needs
bin/<part>).  The state directory is not registered with buildout, so the
records outlive the part; the directory of ``metrics-file`` is readable by
node_exporter, which runs as another user.
"""

import os

from ..errors import ConfigError
from .records import Records, Refused, StoreError


def make(part, state_directory, names, metrics_file, log):
    """Create the state directory and its store, noting when each of
    ``names`` was first seen, and the directory of ``metrics_file`` (if
    any).  ``log(format, *args)`` hears the store's notes and a refused
    state directory (then bin/<part> records nothing); returns the warnings
    about the metrics directory.  ConfigError when a directory cannot be
    made."""
    try:
        records = Records(state_directory, part=part, log=log)
        records.make()
        records.seen(names)
        records.close()
    except Refused as e:
        log("state-directory: %s; bin/%s will not record runs there", e, part)
    except (
        OSError,
        ValueError,
        StoreError,
    ) as e:  # ValueError: a name or path it refuses
        raise ConfigError(
            "state-directory",
            None,
            "cannot create %s: %s"
            % (state_directory, getattr(e, "strerror", None) or e),
            "    Point state-directory at a directory this user may write.",
        )
    if not metrics_file:
        return []
    try:
        warning = metrics_directory(os.path.dirname(metrics_file))
    except OSError as e:
        raise ConfigError(
            "metrics-file",
            None,
            "cannot create the directory of %s: %s" % (metrics_file, e.strerror or e),
        )
    return [warning] if warning else []


def metrics_directory(path):
    """Create the directory of ``metrics-file`` and its missing parents
    mode 0755, whatever the umask: node_exporter runs as another user.  A
    directory the user made is never changed: a warning (or None) says
    when node_exporter could not read the file in it."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o755)
        except OSError:
            if not os.path.isdir(directory):  # not made by another process meanwhile
                raise
            continue
        os.chmod(directory, 0o755)  # the umask took bits off
    if missing:
        path = missing[0]
    blocked = unreadable(path)
    if blocked is None:
        return None
    return (
        "metrics-file: node_exporter (another user) cannot read files in %s: "
        "%s is mode %04o; make it readable by others (chmod o+rx %s)"
        % (path, blocked[0], blocked[1], blocked[0])
    )


def unreadable(directory):
    """(path, mode) of ``directory`` when others cannot list it, or of the
    first parent they cannot enter; None when they can read files in it."""
    mode = os.stat(directory).st_mode & 0o777
    if mode & 0o005 != 0o005:
        return directory, mode
    parent = os.path.dirname(directory)
    while parent and parent != directory:
        mode = os.stat(parent).st_mode & 0o777
        if not mode & 0o001:
            return parent, mode
        directory, parent = parent, os.path.dirname(parent)
    return None
