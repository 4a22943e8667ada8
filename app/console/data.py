"""Everything the dashboard reads, in one module, aggregated in SQL and scoped to the caller.

The matrix, the trends and the checklist are the report API's own functions (app/reports), so
the console and the exports can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session, col

from app.auth.permissions import Action, Principal
from app.config import Settings
from app.reports.progress_service import AreaStages, Trend, build_checklist, desil_trend
from app.reports.queries import coverage, desil_matrix
from app.wilayah.models import Kecamatan, Kelurahan

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


def _kecamatan(session: Session, principal: Principal) -> list[tuple[str, str]]:
    """The kecamatan the caller sees (those holding a kelurahan of their area), by code."""
    stmt = select(col(Kecamatan.code), col(Kecamatan.name)).order_by(col(Kecamatan.code))
    if principal.kelurahan_scope is not None:
        stmt = stmt.where(
            col(Kecamatan.code).in_(
                select(col(Kelurahan.kecamatan_code)).where(
                    col(Kelurahan.code).in_(sorted(principal.kelurahan_scope))
                )
            )
        )
    return [(code, name) for code, name in session.execute(stmt).all()]


def dashboard_matrix(session: Session, principal: Principal) -> list[MatrixRow]:
    """Families per kecamatan x desil ("1".."10", "none"), the desil each family is scored
    under: the report API's own matrix (app/reports/queries.py), so the two never disagree."""
    matrix = desil_matrix(session, scope=principal.kelurahan_scope)
    return [
        MatrixRow(r.code, r.name, counts=dict(r.cells), estimated=sum((r.estimate or {}).values()))
        for r in matrix.rows
    ]


def dashboard_coverage(session: Session, principal: Principal) -> list[CoverageRow]:
    """Registered families per kecamatan against the imported targets of its kelurahan: the
    report API's coverage (app/reports/queries.py) summed per kecamatan."""
    registered: dict[str, int] = {}
    targets: dict[str, int] = {}
    for row in coverage(session, scope=principal.kelurahan_scope)[0]:
        registered[row.kecamatan_code] = registered.get(row.kecamatan_code, 0) + row.families
        if row.target_families is not None:
            targets[row.kecamatan_code] = targets.get(row.kecamatan_code, 0) + row.target_families
    return [
        CoverageRow(code, name, registered.get(code, 0), targets.get(code))
        for code, name in _kecamatan(session, principal)
    ]


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
        session=session, settings=settings, principal=principal, kecamatan=None, kelurahan=None
    ).main
