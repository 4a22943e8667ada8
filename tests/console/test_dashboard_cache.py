"""The dashboard's cache of figures (app/console/data.py::DashboardCache), without a database:
how long figures are kept, who shares them, a recount, a clear, and concurrent readers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

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
        return Dashboard(datetime(2026, 11, 29, tzinfo=UTC), [], [], None, None)


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


def test_while_one_reader_recounts_the_others_get_the_previous_figures(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()
    old = cache.get(CITY, count)
    clock.now += 61  # expired
    started, release = threading.Event(), threading.Event()
    got: list[Dashboard] = []

    def slow() -> Dashboard:
        started.set()
        assert release.wait(10)
        return count()

    recounter = threading.Thread(target=lambda: got.append(cache.get(CITY, slow)))
    recounter.start()
    try:
        assert started.wait(10)
        assert cache.get(CITY, count) is old  # not queued behind the recount
        assert count.calls == 1
    finally:
        release.set()
        recounter.join(10)
    assert got and got[0] is not old and count.calls == 2
    assert cache.get(CITY, count) is got[0]


def test_readers_arriving_before_the_first_figures_wait_for_one_count(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()
    started, release = threading.Event(), threading.Event()
    got: list[Dashboard] = []

    def slow() -> Dashboard:
        started.set()
        assert release.wait(10)
        return count()

    first = threading.Thread(target=lambda: got.append(cache.get(CITY, slow)))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=lambda: got.append(cache.get(CITY, count)))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # waiting: there is nothing to show yet
    release.set()
    first.join(10)
    second.join(10)
    assert len(got) == 2 and got[0] is got[1] and count.calls == 1


def test_after_a_clear_readers_wait_for_figures_counted_after_it(clock: Clock) -> None:
    cache, count = DashboardCache(60, clock), Counter()
    old = cache.get(CITY, count)
    clock.now += 1
    started, release = threading.Event(), threading.Event()
    got: dict[str, Dashboard] = {}

    def slow() -> Dashboard:  # a recount begun before the decision
        started.set()
        assert release.wait(10)
        return count()

    recounter = threading.Thread(target=lambda: got.update(a=cache.get(CITY, slow, refresh=True)))
    recounter.start()
    assert started.wait(10)
    cache.clear()  # the decision commits while that recount reads
    reader = threading.Thread(target=lambda: got.update(b=cache.get(CITY, count)))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive()  # not served the figures of before the decision
    release.set()
    recounter.join(10)
    reader.join(10)
    assert got["b"] is not old and got["b"] is not got["a"]  # counted again, after the clear
    assert count.calls == 3
