"""Value objects: equality and hash over ``__slots__``.

The one base of Job, Entry and Lock (model.py), Schedule, LockURL and
Credentials.  Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function


class SlotValue(object):
    """Equal to a value of the same type whose ``__slots__`` are equal;
    hashable.  Treat as immutable."""

    __slots__ = ()

    def _key(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        return type(other) is type(self) and self._key() == other._key()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self._key())
