"""Every aggregate query of the report API, each ONE SQL statement that groups in the database.

All counts are of canonical records (``deleted_at IS NULL``, :mod:`app.reconcile.canonical`)
and every desil is the desil in use (:func:`app.reports.desil.desil_in_use`), so a report never
disagrees with scoring. Area scoping (``scope``: kelurahan codes, None = city-wide) is applied
inside each query, never after it.

:func:`desil_matrix` is a plain function on purpose: the web console calls it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, case, func, select
from sqlmodel import Session, col

from app.appeals.models import Appeal
from app.errors import InvalidData, OutOfArea
from app.reconcile.store import DukcapilCheck, MatchCandidate, MergeRecord
from app.registry.models import Household, Member
from app.reports.desil import ESTIMATE, OFFICIAL, desil_in_use
from app.reports.models import KelurahanTarget
from app.sync.models import SyncConflict
from app.wilayah.models import Kecamatan, Kelurahan

NONE_KEY = "none"  # "belum ada desil"
DESIL_KEYS: tuple[str, ...] = (*(str(d) for d in range(1, 11)), NONE_KEY)
Unit = Literal["families", "persons"]
Source = Literal["all", "official", "estimate"]
UNITS = ("families", "persons")
SOURCES = ("all", "official", "estimate")


def desil_key(desil: int | None) -> str:
    return NONE_KEY if desil is None else str(desil)


def empty_cells() -> dict[str, int]:
    return dict.fromkeys(DESIL_KEYS, 0)


@dataclass(frozen=True, slots=True)
class Period:
    """A closed date range ``[start, end]`` (days, UTC); either end may be open."""

    start: date | None = None
    end: date | None = None

    def where(self, column: Any) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.start is not None:
            out.append(column >= datetime.combine(self.start, time.min, tzinfo=UTC))
        if self.end is not None:
            out.append(column < datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC))
        return out

    @property
    def empty(self) -> bool:
        return self.start is None and self.end is None


# ---------------------------------------------------------------- areas


def check_kecamatan(session: Session, kecamatan: str | None, scope: frozenset[str] | None) -> None:
    """422 naming ``kecamatan`` when the code is unknown; 403 when none of it is in the area."""
    if kecamatan is None:
        return
    if session.get(Kecamatan, kecamatan) is None:
        raise InvalidData.one(
            "kecamatan",
            "known_kecamatan",
            f"kecamatan {kecamatan!r} tidak dikenal / unknown kecamatan (Kemendagri code, e.g. 82.71.07)",
        )
    if scope is not None and not any(k.startswith(kecamatan + ".") for k in scope):
        raise OutOfArea(f"kecamatan {kecamatan} di luar wilayah Anda / outside your area")


def check_kelurahan(session: Session, kelurahan: str | None, scope: frozenset[str] | None) -> None:
    if kelurahan is None:
        return
    if session.get(Kelurahan, kelurahan) is None:
        raise InvalidData.one(
            "kelurahan",
            "known_kelurahan",
            f"kelurahan {kelurahan!r} tidak dikenal / unknown kelurahan (e.g. 82.71.07.1001)",
        )
    if scope is not None and kelurahan not in scope:
        raise OutOfArea(f"kelurahan {kelurahan} di luar wilayah Anda / outside your area")


def areas(session: Session, *, scope: frozenset[str] | None, kecamatan: str | None) -> list[tuple[str, str]]:
    """The rows of a report: every kecamatan (or every kelurahan of ``kecamatan``) in the area."""
    if kecamatan is None:
        stmt = select(col(Kecamatan.code), col(Kecamatan.name)).order_by(col(Kecamatan.code))
        if scope is not None:
            stmt = stmt.where(col(Kecamatan.code).in_(sorted({k[:8] for k in scope})))
    else:
        stmt = (
            select(col(Kelurahan.code), col(Kelurahan.name))
            .where(col(Kelurahan.kecamatan_code) == kecamatan)
            .order_by(Kelurahan.code)
        )
        if scope is not None:
            stmt = stmt.where(col(Kelurahan.code).in_(sorted(scope)))
    return [(str(c), str(n)) for c, n in session.execute(stmt)]


def _area_group(kecamatan: str | None) -> tuple[Any, Any]:
    """(code, name) columns the rows are grouped by: kecamatan, or kelurahan when drilling down."""
    if kecamatan is None:
        return col(Kecamatan.code), col(Kecamatan.name)
    return col(Kelurahan.code), col(Kelurahan.name)


def _in_area(
    kelurahan_column: Any, *, scope: frozenset[str] | None, kecamatan: str | None
) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if kecamatan is not None:
        out.append(col(Kelurahan.kecamatan_code) == kecamatan)
    if scope is not None:
        out.append(kelurahan_column.in_(sorted(scope)))
    return out


# ---------------------------------------------------------------- desil matrix


@dataclass
class MatrixRow:
    code: str
    name: str
    cells: dict[str, int]  # "1".."10", "none"
    total: int
    # source "all": the same cells split by where the desil comes from ("none" is 0 in both)
    official: dict[str, int] | None = None
    estimate: dict[str, int] | None = None


@dataclass
class Matrix:
    level: Literal["kecamatan", "kelurahan"]
    kecamatan: str | None
    unit: Unit
    source: Source
    rows: list[MatrixRow]
    column_totals: dict[str, int] = field(default_factory=empty_cells)
    total: int = 0
    official_totals: dict[str, int] | None = None
    estimate_totals: dict[str, int] | None = None


def matrix_statement(
    *,
    scope: frozenset[str] | None,
    kecamatan: str | None = None,
    unit: str = "families",
    source: str = "all",
    registered: Period = Period(),
) -> Select[Any]:
    """The one GROUP BY: (area code, desil, desil source) -> families or canonical persons."""
    did = desil_in_use()
    # the area's code only: its name comes with the list of areas, so no join to kecamatan
    code = col(Kelurahan.kecamatan_code) if kecamatan is None else col(Kelurahan.code)
    if unit == "persons":  # members counted per household first: far fewer rows to group
        persons = (
            select(col(Member.household_id).label("household_id"), func.count().label("n"))
            .where(col(Member.deleted_at).is_(None))
            .group_by(col(Member.household_id))
            .subquery("persons")
        )
        stmt = select(code, did.c.desil, did.c.desil_source, func.sum(persons.c.n)).select_from(did)
        stmt = stmt.join(persons, persons.c.household_id == did.c.household_id)
    else:
        stmt = select(code, did.c.desil, did.c.desil_source, func.count()).select_from(did)
    stmt = stmt.join(Kelurahan, col(Kelurahan.code) == did.c.kelurahan_code)
    if not registered.empty:
        stmt = stmt.join(Household, col(Household.id) == did.c.household_id).where(
            *registered.where(col(Household.created_at))
        )
    if source != "all":
        stmt = stmt.where(did.c.desil_source == source)
    stmt = stmt.where(*_in_area(did.c.kelurahan_code, scope=scope, kecamatan=kecamatan))
    return stmt.group_by(code, did.c.desil, did.c.desil_source)


def desil_matrix(
    session: Session,
    *,
    scope: frozenset[str] | None,
    kecamatan: str | None = None,
    unit: str = "families",
    source: str = "all",
    registered: Period = Period(),
) -> Matrix:
    """Kecamatan (or the kelurahan of ``kecamatan``) x desil 1-10 + "none", with totals.

    ``source`` official / estimate counts only the families whose desil in use comes from
    there (so their "none" column is 0); "all" counts every canonical family and also
    returns the official and estimate splits.
    """
    if unit not in UNITS:
        raise InvalidData.one("unit", "one_of", f"unit harus salah satu dari / must be one of {UNITS}")
    if source not in SOURCES:
        raise InvalidData.one("source", "one_of", f"source harus salah satu dari / must be one of {SOURCES}")
    check_kecamatan(session, kecamatan, scope)
    split = source == "all"
    rows = {
        c: MatrixRow(
            c, n, empty_cells(), 0, empty_cells() if split else None, empty_cells() if split else None
        )
        for c, n in areas(session, scope=scope, kecamatan=kecamatan)
    }
    stmt = matrix_statement(scope=scope, kecamatan=kecamatan, unit=unit, source=source, registered=registered)
    for code, desil, desil_source, n in session.execute(stmt):
        row = rows.get(code)
        if row is None:  # cannot happen: every area is listed
            continue
        key = desil_key(desil)
        row.cells[key] += int(n)
        if split and desil_source == OFFICIAL and row.official is not None:
            row.official[key] += int(n)
        elif split and desil_source == ESTIMATE and row.estimate is not None:
            row.estimate[key] += int(n)
    out = Matrix(
        level="kecamatan" if kecamatan is None else "kelurahan",
        kecamatan=kecamatan,
        unit=unit,  # type: ignore[arg-type]
        source=source,  # type: ignore[arg-type]
        rows=list(rows.values()),
        official_totals=empty_cells() if split else None,
        estimate_totals=empty_cells() if split else None,
    )
    for row in out.rows:
        row.total = sum(row.cells.values())
        _add(out.column_totals, row.cells)
        if split:
            _add(out.official_totals, row.official)
            _add(out.estimate_totals, row.estimate)
    out.total = sum(out.column_totals.values())
    return out


def _add(into: dict[str, int] | None, cells: dict[str, int] | None) -> None:
    if into is None or cells is None:
        return
    for k, v in cells.items():
        into[k] += v


# ---------------------------------------------------------------- coverage


@dataclass
class CoverageRow:
    kecamatan_code: str
    kecamatan_name: str
    kelurahan_code: str
    kelurahan_name: str
    target_families: int | None
    target_persons: int | None
    families: int
    persons: int
    by_source: dict[str, int]  # household.source -> families

    @property
    def percent_families(self) -> float | None:
        if not self.target_families:
            return None
        return round(100.0 * self.families / self.target_families, 1)

    @property
    def percent_persons(self) -> float | None:
        if not self.target_persons:
            return None
        return round(100.0 * self.persons / self.target_persons, 1)


def coverage(
    session: Session,
    *,
    scope: frozenset[str] | None,
    kecamatan: str | None = None,
    registered: Period = Period(),
) -> tuple[list[CoverageRow], list[str]]:
    """Registered canonical families and persons per kelurahan and source vs the target; also
    the sources that occur (the columns)."""
    check_kecamatan(session, kecamatan, scope)
    persons = (
        select(col(Member.household_id).label("household_id"), func.count().label("n"))
        .where(col(Member.deleted_at).is_(None))
        .group_by(col(Member.household_id))
        .subquery("persons")
    )
    stmt = (
        select(
            col(Household.kelurahan_code),
            col(Household.source),
            func.count(),
            func.coalesce(func.sum(persons.c.n), 0),
        )
        .select_from(Household)
        .join(Kelurahan, col(Kelurahan.code) == col(Household.kelurahan_code))
        .outerjoin(persons, persons.c.household_id == col(Household.id))
        .where(col(Household.deleted_at).is_(None), *registered.where(col(Household.created_at)))
        .where(*_in_area(col(Household.kelurahan_code), scope=scope, kecamatan=kecamatan))
        .group_by(col(Household.kelurahan_code), col(Household.source))
    )
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for kel, src, fam, per in session.execute(stmt):
        counts.setdefault(kel, {})[src] = (int(fam), int(per))
    area = (
        select(
            col(Kecamatan.code),
            col(Kecamatan.name),
            col(Kelurahan.code),
            col(Kelurahan.name),
            KelurahanTarget,
        )
        .select_from(Kelurahan)
        .join(Kecamatan, col(Kecamatan.code) == col(Kelurahan.kecamatan_code))
        .outerjoin(KelurahanTarget, col(KelurahanTarget.kelurahan_code) == col(Kelurahan.code))
        .where(*_in_area(col(Kelurahan.code), scope=scope, kecamatan=kecamatan))
        .order_by(Kelurahan.code)
    )
    rows = []
    sources: set[str] = set()
    for kec, kec_name, kel, kel_name, target in session.execute(area):
        by = counts.get(kel, {})
        sources.update(by)
        rows.append(
            CoverageRow(
                kecamatan_code=kec,
                kecamatan_name=kec_name,
                kelurahan_code=kel,
                kelurahan_name=kel_name,
                target_families=target.families if target else None,
                target_persons=target.persons if target else None,
                families=sum(f for f, _ in by.values()),
                persons=sum(p for _, p in by.values()),
                by_source={s: f for s, (f, _) in by.items()},
            )
        )
    return rows, sorted(sources)


# ---------------------------------------------------------------- quality


@dataclass(frozen=True, slots=True)
class QualityFigure:
    indicator: str  # verification_status | duplicates | merges | sync_conflicts | dukcapil
    category: str
    count: int


def _counts(session: Session, indicator: str, stmt: Any) -> list[QualityFigure]:
    return [QualityFigure(indicator, str(k), int(n)) for k, n in session.execute(stmt)]


def quality(
    session: Session, *, scope: frozenset[str] | None, kecamatan: str | None = None
) -> list[QualityFigure]:
    """Data-quality counts in the area, by indicator and category (see docs/reports.md)."""
    check_kecamatan(session, kecamatan, scope)

    def households_in_area(hcol: Any) -> ColumnElement[bool]:
        sub = (
            select(col(Household.id))
            .join(Kelurahan, col(Kelurahan.code) == col(Household.kelurahan_code))
            .where(*_in_area(col(Household.kelurahan_code), scope=scope, kecamatan=kecamatan))
        )
        return hcol.in_(sub)

    area_filter = scope is not None or kecamatan is not None
    status = (
        select(col(Household.verification_status), func.count())
        .join(Kelurahan, col(Kelurahan.code) == col(Household.kelurahan_code))
        .where(col(Household.deleted_at).is_(None))
        .where(*_in_area(col(Household.kelurahan_code), scope=scope, kecamatan=kecamatan))
        .group_by(col(Household.verification_status))
    )
    cand = select(col(MatchCandidate.status), func.count()).group_by(col(MatchCandidate.status))
    merges = select(func.sum(case((col(MergeRecord.undone_at).is_(None), 1), else_=0)), func.count())
    conflicts = select(col(SyncConflict.status), func.count()).group_by(col(SyncConflict.status))
    dukcapil = (
        select(col(DukcapilCheck.status), func.count())
        .join(Member, col(Member.id) == col(DukcapilCheck.member_id))
        .join(  # canonical households only, in an area as city-wide
            Household,
            and_(col(Household.id) == col(DukcapilCheck.household_id), col(Household.deleted_at).is_(None)),
        )
        .where(col(Member.deleted_at).is_(None))
        .group_by(col(DukcapilCheck.status))
    )
    if area_filter:
        cand = cand.where(
            households_in_area(col(MatchCandidate.household_a))
            | households_in_area(col(MatchCandidate.household_b))
        )
        merges = merges.where(households_in_area(col(MergeRecord.survivor_id)))
        conflicts = conflicts.where(households_in_area(col(SyncConflict.household_id)))
        dukcapil = dukcapil.where(households_in_area(col(DukcapilCheck.household_id)))
    out = _counts(session, "verification_status", status)
    out += _counts(session, "duplicates", cand)
    in_force, total = session.execute(merges).one()
    out += [
        QualityFigure("merges", "in_force", int(in_force or 0)),
        QualityFigure("merges", "undone", int(total or 0) - int(in_force or 0)),
    ]
    out += _counts(session, "sync_conflicts", conflicts)
    out += _counts(session, "dukcapil", dukcapil)
    return sorted(out, key=lambda f: (f.indicator, f.category))


# ---------------------------------------------------------------- appeals


def appeals(
    session: Session,
    *,
    scope: frozenset[str] | None,
    kecamatan: str | None = None,
    programme: str | None = None,
    filed: Period = Period(),
) -> tuple[list[tuple[str, str]], dict[tuple[str, str], int]]:
    """(areas, {(area code, status): appeals}); area = kecamatan, or kelurahan of ``kecamatan``."""
    check_kecamatan(session, kecamatan, scope)
    code, _name = _area_group(kecamatan)
    stmt = (
        select(code, col(Appeal.status), func.count())
        .select_from(Appeal)
        .join(Kelurahan, col(Kelurahan.code) == col(Appeal.kelurahan_code))
    )
    if kecamatan is None:
        stmt = stmt.join(Kecamatan, col(Kecamatan.code) == col(Kelurahan.kecamatan_code))
    stmt = stmt.where(*_in_area(col(Appeal.kelurahan_code), scope=scope, kecamatan=kecamatan))
    stmt = stmt.where(*filed.where(col(Appeal.created_at)))
    if programme is not None:
        stmt = stmt.where(col(Appeal.programme_id) == programme)
    stmt = stmt.group_by(code, col(Appeal.status))
    counts = {(str(c), str(s)): int(n) for c, s, n in session.execute(stmt)}
    return areas(session, scope=scope, kecamatan=kecamatan), counts


def keys_of(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return sorted({b for _a, b in pairs})
