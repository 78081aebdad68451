"""A tick called twice with ``lock`` (issue 17): a claim covers the whole
time a tick can still be called.

A claim lasts from when it is taken until the job's next tick plus half its
shortest interval, at least 60 s; a tick's call that has not started
before the job's next tick is not started at all.  Here in simulated time
(simtime.py) with a lock service stand-in whose claims expire in that
time; test_claim_window_run.py does it with two real ``bin/<part> run``
and a real Redis.
"""

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from collective.recipe.clockserver.runner.clock import Clock, Observer
from collective.recipe.clockserver.runner.config import load_config
from collective.recipe.clockserver.runner.locks import (
    KEEP_MIN,
    NOT_STARTED,
    ClaimGate,
    claim_seconds,
)
from collective.recipe.clockserver.schedule import Schedule
from simtime import FakeTime, ListLog
from test_runner_clock import T0, write_config


class Store:
    """The lock service: claims of (name, tick) that expire."""

    def __init__(self):
        self.claims = {}  # (name, tick) -> (holder, expires)
        self.mutex = threading.Lock()

    def claim(self, holder, name, tick, keep, now):
        with self.mutex:
            found = self.claims.get((name, tick))
            if found and found[1] > now:
                return False, found[0]
            self.claims[(name, tick)] = (holder, now + keep)
            return True, holder


class FakeLock:
    def __init__(self, store, holder, now):
        self.store, self.holder, self.now = store, holder, now

    def claim(self, name, tick, keep_seconds):
        return self.store.claim(self.holder, name, tick, keep_seconds, self.now())

    def close(self):
        pass


class Events(Observer):
    def __init__(self):
        self.skips = []
        self.lock = threading.Lock()

    def skipped(self, job, due, reason):
        with self.lock:
            self.skips.append((job.name, due - T0, reason))


def other_host_claims(tmp_path, ticks):
    """A store in which web1 claimed each of ``ticks`` of 'queued' at its
    due time, through the real gate."""
    store = Store()
    config = load_config(
        write_config(
            tmp_path / "other.json",
            "http://127.0.0.1:1",
            [{"name": "queued", "method": "/queued", "period": 10}],
        )
    )
    job = config.job("queued")
    for tick in ticks:
        at = lambda tick=tick: tick  # noqa: E731
        gate = ClaimGate(FakeLock(store, "web1", at), ListLog(), "fake", now=at)
        assert gate(job, tick) is None
    return store


def run_second_host(tmp_path, store, until, slow=65, period=10):
    """web2: concurrency 1, 'slow' (``slow`` seconds) ahead of 'queued'."""
    fake = FakeTime(T0 - 0.5)
    calls = []
    log = ListLog()
    events = Events()
    jobs = [
        {"name": "slow", "method": "/slow", "period": period},
        {"name": "queued", "method": "/queued", "period": period},
    ]
    config = load_config(
        write_config(tmp_path / "clock.json", "http://127.0.0.1:1", jobs, concurrency=1)
    )
    gate = ClaimGate(FakeLock(store, "web2", fake.time), log, "fake", now=fake.time)
    clock = Clock(
        config,
        log=log,
        observer=events,
        clock=fake,
        claim=gate,
        call=fake.answer({"slow": slow}, calls=calls),
    )
    fake.run(clock, until)
    return config, calls, events.skips, log.text


def test_a_queued_call_never_claims_a_tick_another_host_called(tmp_path):
    """'queued' waits 65 s behind 'slow'; web1 called every tick of it at
    its due time.  web2 never calls one of them: the ticks whose window
    closed while waiting are not started, the one it reaches in time is
    still claimed by web1 (the claim outlives the 60 s minimum)."""
    store = other_host_claims(tmp_path, range(T0, T0 + 100, 10))
    _, calls, skips, text = run_second_host(tmp_path, store, T0 + 95)
    assert [name for name, _ in calls if name == "queued"] == []
    queued = [(due, why) for name, due, why in skips if name == "queued"]
    assert queued[:6] == [(due, NOT_STARTED) for due in range(0, 60, 10)]
    assert (60, "claimed by web1") in queued
    assert "Traceback" not in text


def test_a_queued_call_reached_in_time_is_called_once(tmp_path):
    """web1 died after T0 + 50: web2 calls the tick due at T0 + 60 when
    its slot frees at T0 + 65, before the next tick; no tick twice."""
    store = other_host_claims(tmp_path, range(T0, T0 + 60, 10))
    _, calls, skips, _ = run_second_host(tmp_path, store, T0 + 69)
    assert [(name, start - T0) for name, start in calls if name == "queued"] == [
        ("queued", 65)
    ]
    holders = {
        tick - T0: holder
        for (name, tick), (holder, _) in store.claims.items()
        if name == "queued"
    }
    assert holders[60] == "web2" and all(
        holders[tick] == "web1" for tick in range(0, 60, 10)
    )


# -- the arithmetic: every claim another host can still ask for finds this one --


SCHEDULES = st.one_of(
    st.integers(1, 400 * 86400).map(lambda p: Schedule(period=p)),
    st.sampled_from(
        [
            "*/5 * * * *",
            "0,1,30 * * * *",
            "0 3 * * *",
            "15 2 * * 1",
            "0 0 1 * *",
            "*/7 1-3 * * *",
        ]
    ).map(lambda t: Schedule(times=t)),
)


@settings(max_examples=400, deadline=None)
@given(
    SCHEDULES,
    st.integers(1_600_000_000, 2_000_000_000),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(-0.499, 0.499),
)
def test_a_claim_lasts_until_the_next_tick_plus_half_an_interval(
    schedule, moment, first, second, skew
):
    due = schedule.previous(moment)
    following = schedule.following(due)
    after = schedule.following(following)
    shortest = min(following - due, after - following)
    # This host claims at any time before the next tick.
    taken = due + first * (following - due)
    keep = claim_seconds(schedule, due, taken)
    assert keep >= KEEP_MIN
    # Another host, its clock off by under half the shortest interval,
    # asks at any time before the next tick by its own clock.
    asked = due + second * (following - due) + skew * shortest
    assert asked < taken + keep or asked < taken


# -- a cron-started fire whose claim took until the next tick -----------------------


def test_cron_started_fire_whose_claim_ends_after_the_next_tick_does_not_call(
    tmp_path, monkeypatch
):
    from collective.recipe.clockserver.runner import locks, runs

    config = load_config(
        write_config(
            tmp_path / "clock.json",
            "http://127.0.0.1:1",
            [{"name": "feeds", "method": "/feeds", "period": 60}],
            lock={"url": "redis://127.0.0.1:1/0", "namespace": "t"},
            **{"state-directory": str(tmp_path / "state")},
        )
    )
    now = [T0 + 1.0]
    kept = []

    def slow_claim(settings, name, due, interval, host=None, keep=None):
        kept.append(keep)
        now[0] = T0 + 60.5  # the service answered after the next tick
        return None, None

    monkeypatch.setattr(locks, "claim_once", slow_claim)
    monkeypatch.setattr(runs.time, "time", lambda: now[0])
    worked = []
    part_runs = runs.Runs(config, lambda text: None, "fire", now=lambda: now[0])
    result, skip = runs.perform(part_runs, "feeds", T0, True, lambda: worked.append(1))
    assert worked == [] and result is None
    assert (
        skip.reason == NOT_STARTED
        and "not started before the next tick" in skip.message
    )
    assert kept == [
        89
    ]  # until the next tick plus half the interval: T0 + 60 + 30 - (T0 + 1)
    record = part_runs.records.read("feeds")
    assert record["running"] == []  # the begun run was forgotten
    assert [(run["result"], run["reason"]) for run in record["runs"]] == [
        ("skipped", NOT_STARTED)
    ]
