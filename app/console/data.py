"""Everything the dashboard reads, in one module, aggregated in SQL and scoped to the caller.

The matrix, the trends and the checklist are the report API's own functions (app/reports), so
the console and the exports can never disagree.

The dashboard's figures are counted at most once per ``SIGAP_DASHBOARD_CACHE_SECONDS`` (default
60) for each area and kind of reader (:class:`DashboardCache`): officials opening the page all
morning do not each recount the registry. The page says when its figures were counted and
offers a recount; a decision taken in the console's review queues clears the cache once it is
committed. The report API always counts afresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import event, func, select
from sqlmodel import Session, col

from app.auth.permissions import Action, Principal
from app.config import Settings
from app.db import utcnow
from app.reports.models import KelurahanTarget
from app.reports.progress_service import AreaStages, Trend, build_checklist, desil_trend
from app.reports.queries import desil_matrix
from app.wilayah.models import Kelurahan

DESIL_KEYS = (*(str(d) for d in range(1, 11)), "none")


@dataclass
class MatrixRow:
    kecamatan_code: str
    name: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DESIL_KEYS, 0))
    estimated: int = 0  # of the families counted under a desil, how many by PMT estimate

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class CoverageRow:
    kecamatan_code: str
    name: str
    registered: int
    target: int | None  # None: no target imported for any kelurahan of the kecamatan

    @property
    def percent(self) -> float | None:
        return 100.0 * self.registered / self.target if self.target else None


def dashboard_matrix(session: Session, principal: Principal) -> list[MatrixRow]:
    """Families per kecamatan x desil ("1".."10", "none"), the desil each family is scored
    under: the report API's own matrix (app/reports/queries.py), so the two never disagree."""
    matrix = desil_matrix(session, scope=principal.kelurahan_scope)
    return [
        MatrixRow(r.code, r.name, counts=dict(r.cells), estimated=sum((r.estimate or {}).values()))
        for r in matrix.rows
    ]


def dashboard_coverage(session: Session, principal: Principal, matrix: list[MatrixRow]) -> list[CoverageRow]:
    """Registered families per kecamatan against the imported targets of its kelurahan.

    The rows and families are the matrix's (every kecamatan of the area; every canonical family
    once, under its desil or "belum ada desil"), which is what the report API's coverage counts
    too (tests/console/test_pages.py holds the two equal); only the targets are read here.
    """
    scope = principal.kelurahan_scope
    stmt = (
        select(col(Kelurahan.kecamatan_code), func.sum(col(KelurahanTarget.families)))
        .join(Kelurahan, col(Kelurahan.code) == col(KelurahanTarget.kelurahan_code))
        .group_by(col(Kelurahan.kecamatan_code))
    )
    if scope is not None:
        stmt = stmt.where(col(KelurahanTarget.kelurahan_code).in_(sorted(scope)))
    targets = {str(code): int(n) for code, n in session.execute(stmt) if n is not None}
    return [CoverageRow(r.kecamatan_code, r.name, r.total, targets.get(r.kecamatan_code)) for r in matrix]


def dashboard_trends(session: Session, principal: Principal) -> Trend | None:
    """Families per kecamatan at every report snapshot (like with like: snapshots only);
    None before the first snapshot or for roles without report:read."""
    if not principal.can(Action.report_read):
        return None
    trend = desil_trend(
        session=session,
        principal=principal,
        kecamatan=None,
        desil=None,
        source=None,
        persons=False,
        start=None,
        end=None,
    )
    return trend if trend.snapshots else None


def dashboard_checklist(session: Session, settings: Settings, principal: Principal) -> AreaStages | None:
    """The pilot's stages for the caller's area (city-wide for Dinas Sosial)."""
    if not principal.can(Action.report_read):
        return None
    return build_checklist(
        session=session,
        settings=settings,
        principal=principal,
        kecamatan=None,
        kelurahan=None,
        breakdown=False,  # the page shows the caller's whole area only
    ).main


@dataclass(frozen=True)
class Dashboard:
    """The dashboard's figures for one area and kind of reader, as counted at ``computed_at``."""

    computed_at: datetime
    matrix: list[MatrixRow]
    coverage: list[CoverageRow]
    trends: Trend | None
    checklist: AreaStages | None


def compute(session: Session, settings: Settings, principal: Principal) -> Dashboard:
    """Every figure of the dashboard, counted now, in a read transaction begun here.

    The request's transaction began with its user lookup; on SQLite it would still see the
    database as it was then, so a review decision committed since (whose clear the cache has
    already seen) would be missed and its old figures kept. Ending it first means the count
    sees everything committed before :meth:`DashboardCache.get` noted its generation.
    """
    session.commit()  # a GET's session: nothing written, only the snapshot ends
    can_report = principal.can(Action.report_read)
    matrix = dashboard_matrix(session, principal) if can_report else []
    return Dashboard(
        computed_at=utcnow(),
        matrix=matrix,
        coverage=dashboard_coverage(session, principal, matrix) if can_report else [],
        trends=dashboard_trends(session, principal),
        checklist=dashboard_checklist(session, settings, principal),
    )


CacheKey = tuple[frozenset[str] | None, bool]  # (kelurahan scope, may read reports)


def cache_key(principal: Principal) -> CacheKey:
    """What the figures depend on: the area and whether the reader may see reports (nothing
    else of the reader, so the officials of one area share one entry)."""
    return principal.kelurahan_scope, principal.can(Action.report_read)


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    value: Dashboard | None = None
    stamp: float = 0.0  # clock() when the count of ``value`` began
    generation: int = 0  # the cache's generation ``value`` belongs to


class DashboardCache:
    """Dashboard figures per :func:`cache_key`, each kept ``ttl`` seconds (0: never kept).

    One count at a time per key: while one request recounts an expired entry, the others are
    served the previous figures (their time is on the page) rather than queueing behind it;
    with no figures yet, figures from before a :meth:`clear`, or asked for a recount, they
    wait for it. :meth:`clear` makes every entry expire, and a count that began before it is
    not kept (it may have read old data).
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self.generation = 0
        self._entries: dict[CacheKey, _Entry] = {}
        self._guard = threading.Lock()

    def _fresh(self, entry: _Entry) -> bool:
        return (
            entry.value is not None
            and entry.generation == self.generation
            and self.clock() - entry.stamp < self.ttl
        )

    def get(self, key: CacheKey, compute_now: Callable[[], Dashboard], *, refresh: bool = False) -> Dashboard:
        """The figures for ``key``; ``refresh``: counted after this call began (a recount)."""
        if self.ttl <= 0:
            return compute_now()
        asked = self.clock()
        with self._guard:
            entry = self._entries.setdefault(key, _Entry())
        shown = entry.value
        if shown is not None and not refresh and self._fresh(entry):
            return shown
        # figures of before a clear are never served: wait for a count made after it
        current = shown is not None and entry.generation == self.generation
        if not entry.lock.acquire(blocking=not current or refresh):
            assert shown is not None
            return shown  # another request is recounting: the previous figures meanwhile
        try:
            if entry.value is not None and self._fresh(entry) and (not refresh or entry.stamp >= asked):
                return entry.value  # recounted while this request waited
            generation, started = self.generation, self.clock()
            value = compute_now()
            if generation == self.generation:
                entry.value, entry.stamp, entry.generation = value, started, generation
            return value
        finally:
            entry.lock.release()

    def clear(self) -> None:
        with self._guard:
            self.generation += 1

    def clear_after_commit(self, session: Session) -> None:
        """Clear once ``session``'s transaction is committed (a rollback leaves the cache be)."""
        event.listen(session, "after_commit", lambda _session: self.clear(), once=True)
