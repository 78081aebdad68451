# A namespace package on Python 2.7 and 3, pkgutil style: every
# ``collective`` directory on sys.path is a portion of it.  Written out
# rather than pkgutil.extend_path, whose import (typing, re, contextlib)
# cost ``bin/<part> fire`` a tenth of its start-up; like extend_path on
# Python 2 (and unlike it on 3) it does not look inside zip files:
# zc.buildout 3+ installs no zipped eggs.


def _portions(path, parts):
    import os
    import sys

    found = list(path)
    for entry in sys.path:
        if isinstance(entry, str):
            portion = os.path.join(entry, *parts)
            if portion not in found and os.path.isdir(portion):
                found.append(portion)
    return found


__path__ = _portions(__path__, ("collective",))
del _portions
