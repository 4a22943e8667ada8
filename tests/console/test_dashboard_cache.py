"""The dashboard's cache of figures (app/console/data.py::DashboardCache), without a database:
how long figures are kept, who shares them, a recount, a clear, and concurrent readers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from app.auth.models import Role
from app.auth.permissions import Principal
from app.console.data import Dashboard, DashboardCache, cache_key

CITY = cache_key(Principal(1, "dinsos", Role.dinsos, None, False))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counter:
    """A stand-in for ``data.compute``: each call is a new count, numbered."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Dashboard:
        self.calls += 1
        counted_at = datetime(2026, 11, 29, tzinfo=UTC) + timedelta(seconds=self.calls)  # told apart
        return Dashboard(counted_at, [], [], None, None)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_figures_are_kept_for_the_ttl_then_counted_again(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()
    first = cache.get(CITY, count)
    clock.now += 59.9
    assert cache.get(CITY, count) is first and count.calls == 1
    clock.now += 0.2
    assert cache.get(CITY, count) is not first and count.calls == 2


def test_a_ttl_of_zero_counts_every_time(clock: Clock) -> None:
    cache, count = DashboardCache(0, clock), Counter()
    cache.get(CITY, count)
    cache.get(CITY, count)
    assert count.calls == 2


def test_readers_of_one_area_share_figures_and_other_areas_do_not(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()
    other_official = cache_key(Principal(2, "dinsos2", Role.dinsos, None, False))
    admin = cache_key(Principal(3, "admin", Role.admin, None, True))
    hiri = cache_key(Principal(4, "spv", Role.supervisor, frozenset({"82.71.07.1001"}), False))
    enumerator = cache_key(Principal(5, "enum", Role.enumerator, frozenset({"82.71.07.1001"}), False))
    assert other_official == CITY == admin  # the same area, both may read reports
    cache.get(CITY, count)
    cache.get(other_official, count)
    assert count.calls == 1
    cache.get(hiri, count)
    cache.get(enumerator, count)  # same area, but without reports: other figures
    assert count.calls == 3


def test_a_recount_counts_now_and_is_kept(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()
    cache.get(CITY, count)
    clock.now += 1
    recounted = cache.get(CITY, count, refresh=True)
    assert count.calls == 2
    assert cache.get(CITY, count) is recounted and count.calls == 2


def test_clear_expires_every_entry(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()
    hiri = (frozenset({"82.71.07.1001"}), True)
    cache.get(CITY, count)
    cache.get(hiri, count)
    cache.clear()
    cache.get(CITY, count)
    cache.get(hiri, count)
    assert count.calls == 4


def test_a_count_that_began_before_a_clear_is_not_kept(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()

    def count_while_a_decision_commits() -> Dashboard:
        cache.clear()  # a review decision committed while this count was reading
        return count()

    stale = cache.get(CITY, count_while_a_decision_commits)
    assert cache.get(CITY, count) is not stale and count.calls == 2


def test_a_failed_count_keeps_nothing_and_releases_the_area(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()

    def broken() -> Dashboard:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        cache.get(CITY, broken)
    cache.get(CITY, count)  # not blocked by the failed count's lock
    assert count.calls == 1


class Slow:
    """A count that starts, then waits to be let go: ``begin`` runs ``cache.get`` with it in a
    thread of its own and returns once the count is under way."""

    def __init__(self, count: Counter) -> None:
        self.count, self.started, self.release = count, threading.Event(), threading.Event()
        self.got: list[Dashboard] = []
        self.thread: threading.Thread | None = None

    def __call__(self) -> Dashboard:
        self.started.set()
        assert self.release.wait(10)
        return self.count()

    def begin(self, cache: DashboardCache, *, refresh: bool = False) -> Slow:
        self.thread = threading.Thread(target=lambda: self.got.append(cache.get(CITY, self, refresh=refresh)))
        self.thread.start()
        assert self.started.wait(10)
        return self

    def finish(self) -> Dashboard:
        self.release.set()
        assert self.thread is not None
        self.thread.join(10)
        return self.got[0]


def reader(cache: DashboardCache, count: Counter, got: list[Dashboard]) -> threading.Thread:
    """Another request for the city's figures, in a thread; still waiting after 0.2 s or not."""
    thread = threading.Thread(target=lambda: got.append(cache.get(CITY, count)))
    thread.start()
    thread.join(0.2)
    return thread


def test_while_one_reader_recounts_the_others_get_the_previous_figures(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()
    old = cache.get(CITY, count)
    clock.now += 61  # expired
    recount = Slow(count).begin(cache)
    try:
        assert cache.get(CITY, count) is old  # not queued behind the recount
        assert count.calls == 1
    finally:
        new = recount.finish()
    assert new is not old and count.calls == 2
    assert cache.get(CITY, count) is new


def test_readers_arriving_before_the_first_figures_wait_for_one_count(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()
    first = Slow(count).begin(cache)
    got: list[Dashboard] = []
    second = reader(cache, count, got)
    assert second.is_alive()  # waiting: there is nothing to show yet
    counted = first.finish()
    second.join(10)
    assert len(got) == 1 and got[0] is counted and count.calls == 1


def test_after_a_clear_readers_wait_for_figures_counted_after_it(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()
    old = cache.get(CITY, count)
    clock.now += 1
    recount = Slow(count).begin(cache, refresh=True)  # a recount begun before the decision
    cache.clear()  # the decision commits while that recount reads
    got: list[Dashboard] = []
    later = reader(cache, count, got)
    assert later.is_alive()  # not served the figures of before the decision
    begun_before = recount.finish()
    later.join(10)
    assert got[0] is not old and got[0] is not begun_before  # counted again, after the clear
    assert count.calls == 3
