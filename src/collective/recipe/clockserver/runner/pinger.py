"""Pings sent in the background (pings.py sends each one): in order per
name, a bounded queue per name, never in front of a call, a tick or a
record; ``fire`` and ``exec`` wait for them before exiting, at most the
ping deadline in all."""

import collections
import threading
import time

WAITING_PINGS = 100  # pings of one name waiting to be sent at most (then dropped)


class Pinger:
    """Sends pings in the background, so that a slow or hanging ping server
    never sits in front of a call, a tick or a record: one daemon thread
    per name while it has pings waiting, so a name's pings go in order
    (the final ping after the start ping) and one name's slow server does
    not hold up the others'.  Each ping is bounded by pings.TIMEOUT."""

    def __init__(self, log):
        self.log = log
        self._cond = threading.Condition()
        self._queues = {}  # name -> deque of (config, event) still to send
        self._dropped = {}  # name -> pings dropped while its queue was full

    def send(self, config, name, event, rid=None, body=b""):
        with self._cond:
            queue = self._queues.get(name)
            fresh = queue is None
            if fresh:
                queue = self._queues[name] = collections.deque()
            elif len(queue) >= WAITING_PINGS:
                dropped = self._dropped[name] = self._dropped.get(name, 0) + 1
                if dropped % WAITING_PINGS == 1:  # the first, then one line per 100
                    self.log(
                        f"{name}: the {event} ping was dropped ({dropped} so far):"
                        " "
                        f"{len(queue)} pings of it wait for a slow ping server; "
                        "the run is not affected"
                    )
                return
            queue.append((config, event, rid, body))
        if fresh:
            threading.Thread(
                target=self._send_all,
                args=(name, queue),
                daemon=True,
                name=f"pings of {name}",
            ).start()

    def _send_all(self, name, queue):
        from . import pings

        while True:
            with self._cond:
                if not queue:
                    del self._queues[name]
                    self._cond.notify_all()
                    return
                config, event, rid, body = queue[0]
            try:
                pings.ping(config, name, event, self.log, rid=rid, body=body)
            except Exception as exc:  # never: ping() does not raise
                self.log(f"{name}: the {event} ping failed ({type(exc).__name__})")
            finally:
                with self._cond:
                    queue.popleft()

    def waiting(self):
        """Whether pings are queued or being sent."""
        with self._cond:
            return bool(self._queues)

    def wait(self, budget):
        """Wait until every queued ping was sent, at most ``budget``
        seconds; the (name, event) pairs still unsent."""
        deadline = time.monotonic() + budget
        with self._cond:
            while self._queues:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return [
                (name, item[1])
                for name, queue in self._queues.items()
                for item in queue
            ]
