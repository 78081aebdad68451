"""The one data model: Job, Entry and Lock, each value parsed once, JSON in and out.

The recipe builds these from the options (jobs.py, settings.py,
cluster.py), writes them with ``to_json`` into bin/<part>'s mode-0600
config file, and the runner reads them back with ``from_json`` after
runner/config.py has checked the file.  Plain classes with ``__slots__``
(Python 2.7 and 3; ``fire`` starts once per call from cron, so no
dataclasses).  No ``repr`` shows a password.
"""

from __future__ import absolute_import, division, print_function

from .schedule import Schedule
from .slotvalue import SlotValue

MAX_PERIOD = 365 * 86400  # the longest period, timeout and grace (seconds)


class _Value(SlotValue):
    """Equality and ``replace`` over ``__slots__``; treat as immutable."""

    __slots__ = ()

    def replace(self, **changes):
        """A copy with ``changes`` applied."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return type(self)(**values)


class Job(_Value):
    """One periodic call of a Zope method.

    ``period`` in seconds (ticks at epoch multiples), None when written
    ``-`` (``times=`` alone decides); ``times`` a cron schedule
    (``times=`` as checked, or in bin/<part>'s file the schedule cron
    fires it by) read in ``timezone`` (an IANA name; None: the machine's);
    ``spread`` the job's ``spread=`` (seconds, None: the part's) and
    ``offset`` the stable shift it gives every tick (seconds); ``grace``
    and ``timeout`` seconds or None (the part's); ``retries`` 0-10 or None
    (the part's); ``catch_up`` True/False or None (the part's).  ``credentials`` (the
    section named by ``credentials=``) and ``line`` (the ``jobs`` line, for
    messages) live on the recipe side; ``user``/``password`` are what
    bin/<part> sends.
    """

    __slots__ = (
        "name",
        "method",
        "period",
        "host",
        "times",
        "grace",
        "catch_up",
        "user",
        "password",
        "credentials",
        "line",
        "timezone",
        "spread",
        "offset",
        "timeout",
        "retries",
    )

    def __init__(
        self,
        name,
        method,
        period,
        host=None,
        times=None,
        grace=None,
        catch_up=None,
        user=None,
        password=None,
        credentials=None,
        line="",
        timezone=None,
        spread=None,
        offset=0,
        timeout=None,
        retries=None,
    ):
        self.name = name
        self.method = method  # path from the Zope root, may carry ?query
        self.period = period
        self.host = host  # Host: header; None = the address's host:port
        self.times = times
        self.grace = grace
        self.catch_up = catch_up
        self.user = user
        self.password = password
        self.credentials = credentials
        self.line = line
        self.timezone = timezone
        self.spread = spread
        self.offset = offset or 0
        self.timeout = timeout
        self.retries = retries

    @property
    def authenticated(self):
        """True when a Basic Authorization header is sent (as ZServer)."""
        return bool(self.user and self.password)

    @property
    def schedule(self):
        """Its Schedule: ``times`` (in ``timezone``) when set, else
        ``period``; shifted by ``offset``."""
        return Schedule(
            period=self.period, times=self.times, zone=self.timezone, offset=self.offset
        )

    def __repr__(self):  # never the password
        return "Job(name=%r, method=%r, period=%r, host=%r, user=%r)" % (
            self.name,
            self.method,
            self.period,
            self.host,
            self.user,
        )

    def to_json(self):
        """The job's object in bin/<part>'s config file."""
        found = {
            "name": self.name,
            "method": self.method,
            "period": self.period,
            "host": self.host,
            "user": self.user,
            "password": self.password,
        }
        if self.times is not None:
            found["times"] = self.times
        if self.grace is not None:
            found["grace"] = self.grace
        if self.catch_up is not None:
            found["catch-up"] = self.catch_up
        for key, value in (
            ("timezone", self.timezone),
            ("spread", self.spread),
            ("timeout", self.timeout),
            ("retries", self.retries),
        ):
            if value is not None:
                found[key] = value
        if self.offset:
            found["offset"] = self.offset
        return found

    @classmethod
    def from_json(cls, data):
        """A checked JSON object (runner/config.py checks it) -> Job."""
        catch_up = data.get("catch-up")
        return cls(
            data["name"],
            data["method"],
            data.get("period"),
            host=data.get("host") or None,
            times=data.get("times") or None,
            grace=data.get("grace"),
            catch_up=None if catch_up is None else catch_up is True,
            user=data.get("user") or None,
            password=data.get("password") or None,
            timezone=data.get("timezone") or None,
            spread=data.get("spread"),
            offset=data.get("offset") or 0,
            timeout=data.get("timeout"),
            retries=data.get("retries"),
        )


class Entry(_Value):
    """A crontab entry of the part: its name, cron times and command.

    In bin/<part>'s file only ``name`` and ``times`` (and ``grace``) are
    kept: the command is in the crontab line that runs ``exec``."""

    __slots__ = ("name", "times", "command", "grace")

    def __init__(self, name, times, command=None, grace=None):
        self.name = name
        self.times = times
        self.command = command
        self.grace = grace

    @property
    def schedule(self):
        return Schedule(times=self.times)

    def __repr__(self):
        return "Entry(name=%r, times=%r)" % (self.name, self.times)

    def to_json(self):
        found = {"name": self.name, "times": self.times}
        if self.grace is not None:
            found["grace"] = self.grace
        return found

    @classmethod
    def from_json(cls, data):
        return cls(data["name"], data["times"], grace=data.get("grace"))


EXTRAS = {"postgresql": "postgresql", "redis": "redis", "zeo": "zeo"}


class Lock(_Value):
    """The cluster lock: the parsed lock URL (lockurl.LockURL), namespace,
    user and password (from lock-credentials; the password is written only
    into bin/<part>'s mode-0600 file).

    ``lock["url"]``, ``lock.get("password")``: a read-only view of
    ``to_json()``, for callers that knew the lock as a mapping."""

    __slots__ = ("url", "namespace", "user", "password")

    def __init__(self, url, namespace, user=None, password=None):
        self.url = url
        self.namespace = namespace
        self.user = user
        self.password = password

    @property
    def extra(self):
        """The package extra that brings the engine's client library."""
        return EXTRAS[self.url.engine]

    def __repr__(self):  # never the password
        return "Lock(url=%r, namespace=%r, user=%r)" % (
            self.url.text,
            self.namespace,
            self.user,
        )

    def to_json(self):
        return {
            "url": self.url.text,
            "user": self.user,
            "password": self.password,
            "namespace": self.namespace,
        }

    def __getitem__(self, key):
        return self.to_json()[key]

    def get(self, key, default=None):
        return self.to_json().get(key, default)

    @classmethod
    def from_json(cls, data, part="clock"):
        """A lock object (url checked or not) -> Lock; raises
        lockurl.BadLockURL for a bad URL.  A Lock is returned as it is."""
        if isinstance(data, cls):
            return data
        from .lockurl import parse_url

        return cls(
            parse_url(data.get("url") or ""),
            data.get("namespace") or part,
            data.get("user") or None,
            data.get("password") or None,
        )
