"""The private zc.buildout details the recipe relies on, in one place.

zc.buildout offers no public API for these; each is checked against the
supported versions by tests/test_buildoutcompat.py.  No buildout import:
the pure modules may call it with plain mappings.  Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

import logging


def annotated(sections):
    """Buildout's record of where each option came from (``_annotated``):
    ``{section: {option: entry with .value and .source}}``; empty for a
    plain mapping or when buildout keeps none."""
    return getattr(sections, "_annotated", None) or {}


def dumps_configuration():
    """Whether bin/buildout will print every section read ("Configuration
    data:", at -vv): buildout sets the root logger below DEBUG then."""
    return logging.getLogger().getEffectiveLevel() < logging.DEBUG
