"""Retries within a tick: which failures, how long to wait, the one outcome.

A call that failed before Zope could have run it, or that Zope answered
with a 5xx or 429 (``Outcome.retryable``), is tried again up to the job's
``retries`` (else the part's) times.  Waits: 1 s, 2 s, 4 s, ... at most
60 s; a ``Retry-After`` (at most 1 h) waits that long instead.  No attempt
starts at or after the job's next tick: a wait that reaches it ends the
run as failed.  The clock (clock.py) waits holding no call slot; ``fire``
(``attempts``) sleeps.  Either way one tick is one outcome: its duration
over all attempts, each attempt's reason in ``attempts``.
"""

import time

from .call import Outcome, describe

MAX_BACKOFF = 60  # seconds
MAX_RETRY_AFTER = 3600  # seconds
SHOWN = 100  # characters of each attempt's reason in the run's reason


def retries_of(config, job):
    """How often ``job``'s call is tried again: its ``retries=``, else the part's."""
    return config.retries if job.retries is None else job.retries


def wait_before(retry, outcome):
    """Seconds to wait before retry number ``retry`` (1, 2, ...)."""
    if outcome.retry_after is not None:
        return min(max(outcome.retry_after, 0), MAX_RETRY_AFTER)
    return min(2 ** (retry - 1), MAX_BACKOFF)


def next_step(config, job, outcomes, now, next_tick):
    """After the attempts ``outcomes``: ``(seconds to wait, None)`` to try
    again, or ``(None, why not)`` (why is None when there is nothing to
    say: it succeeded, cannot be retried, or had no retries)."""
    last = outcomes[-1]
    allowed = retries_of(config, job)
    if last.ok or not last.retryable or not allowed:
        return None, None
    if len(outcomes) > allowed:
        return None, None
    wait = wait_before(len(outcomes), last)
    if next_tick is not None and now + wait >= next_tick:
        asked = (
            "Retry-After asked for" if last.retry_after is not None else "the wait is"
        )
        return None, (f"no retry: {asked} {wait:g} s, which reaches the next tick")
    return wait, None


def combined(outcomes, job, duration, note=None):
    """The one outcome of a tick: the last attempt's, with the duration
    over all attempts and each attempt's reason."""
    last = outcomes[-1]
    reasons = [describe(outcome, job) for outcome in outcomes]
    if note:
        reasons.append(note)
    return Outcome(
        duration,
        last.status,
        last.reason,
        last.location,
        last.error,
        last.retryable,
        last.retry_after,
        reasons if len(reasons) > 1 else (),
    )


def attempt_count(attempts):
    """The number of real attempts in an outcome's ``attempts`` (1 when
    there were no retries)."""
    return max(1, sum(1 for a in attempts if not a.startswith("no retry:")))


def reason_with_attempts(reason, outcome):
    """A run's reason, followed by ``(N attempts: ...)`` after retries."""
    attempts = [a for a in outcome.attempts if not a.startswith("no retry:")]
    if len(outcome.attempts) < 2:
        return reason
    notes = [a for a in outcome.attempts if a.startswith("no retry:")]
    shown = "; ".join(f"{n}. {_short(a)}" for n, a in enumerate(attempts, 1))
    count = f"{len(attempts)} attempt" + ("s" if len(attempts) != 1 else "")
    tail = f"; {notes[0]}" if notes else ""
    return f"{reason} ({count}: {shown}{tail})"


def _short(text):
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def attempts(config, job, call, next_tick, now=time.time, sleep=time.sleep):
    """``fire``: call, and call again while ``next_step`` says so; the one
    outcome.  ``next_tick`` bounds the retries (None: no bound)."""
    started = now()
    outcomes = [call(config, job)]
    note = None
    while True:
        wait, note = next_step(config, job, outcomes, now(), next_tick)
        if wait is None:
            break
        sleep(wait)
        outcomes.append(call(config, job))
    return combined(outcomes, job, now() - started, note)
