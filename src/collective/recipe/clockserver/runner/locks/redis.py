"""``redis://``: a claim is a key set with ``SET key holder NX EX seconds``.

``NX`` sets the key for exactly one host; the expiry prunes it.  A password
without a user authenticates as Redis's default user (``requirepass``).
"""

import json

from ..text import error_line
from . import LockUnavailable, require_client
from .deadline import Deadline

PREFIX = "clockserver:"
TIMEOUT = 5  # seconds for connecting and for each command


class Lock:
    def __init__(
        self, url, user=None, password=None, namespace="clock", holder="localhost"
    ):
        redis = require_client("redis", "redis-py", "redis")
        self.namespace = namespace
        self.holder = holder
        self._deadline = Deadline()  # of each claim (deadline.py)
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # The client keeps a thread-safe pool and reconnects by itself; one
        # quick retry covers a pooled connection the server dropped.
        self._client = redis.Redis(
            retry=Retry(NoBackoff(), 1),
            host=url.host,
            port=url.port,
            db=int(url.database),
            username=user or url.user,
            password=password,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
        )

    def key(self, name, tick):
        # JSON keeps namespaces and names apart whatever characters they hold.
        return PREFIX + json.dumps([self.namespace, name, tick])

    def claim(self, name, tick, keep_seconds):
        """Claim (namespace, name, tick): (True, us) or (False, the holder);
        LockUnavailable after CLAIM_TIMEOUT at most (deadline.py)."""
        return self._deadline.claim(self._attempt, name, tick, keep_seconds)

    def _attempt(self, attempt, name, tick, keep_seconds):
        # redis-py's pool gives each claim a connection of its own, and its
        # socket timeout ends a worker that the deadline gave up on.
        import redis

        key = self.key(name, tick)
        try:
            if self._client.set(key, self.holder, nx=True, ex=int(keep_seconds)):
                return True, self.holder
            holder = self._client.get(key)
        except redis.RedisError as exc:
            raise LockUnavailable(error_line(exc)) from None
        if holder is None:  # expired in between: long gone, not ours
            return False, "another host"
        return False, holder.decode("utf-8", "replace")

    def close(self):
        self._client.close()
