"""Per programme: eligible vs receiving, exclusion and inclusion errors, per area and desil;
and the families behind any figure of the reports (the drill-down list).

Eligibility comes from the CURRENT decisions, receiving from ``programme_recipient`` of the
period, the errors from :mod:`app.eligibility.recipient_repository` (the same SQL the
eligibility API lists them with). Counts are of SUBJECTS, i.e. the programme's unit (families
for family programmes, persons for person programmes), and, beside them, of the distinct
families those subjects belong to. The desil is the desil in use (``desil_in_use``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, and_, distinct, func, select
from sqlmodel import Session, col

from app.eligibility import repository as elig_repo
from app.eligibility.recipient_repository import error_statement
from app.eligibility.recipient_service import programme_unit
from app.eligibility.rules_service import compiled
from app.eligibility.store import EligibilityDecision, ProgrammeRecipient
from app.errors import InvalidData
from app.registry.models import Household, Member
from app.reports.desil import desil_in_use
from app.reports.queries import (
    NONE_KEY,
    Period,
    _area_group,
    _in_area,
    areas,
    check_kecamatan,
    check_kelurahan,
)
from app.wilayah.models import Kecamatan, Kelurahan

_D = EligibilityDecision
_R = ProgrammeRecipient
MEASURES = ("eligible", "receiving", "exclusion", "inclusion")
Kind = Literal["eligible", "receiving", "exclusion", "inclusion"]


@dataclass
class Counts:
    subjects: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MEASURES, 0))
    families: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MEASURES, 0))


@dataclass
class ProgrammeRow:
    programme: str
    unit: str  # family | person: what ``subjects`` counts
    area_code: str
    area_name: str
    desil: str  # "1".."10" | "none"
    counts: Counts


@dataclass
class ProgrammeReport:
    period: str
    level: Literal["kecamatan", "kelurahan"]
    programmes: dict[str, str]  # id -> unit
    rows: list[ProgrammeRow]


def programmes_in_use(session: Session, programme: str | None) -> dict[str, str]:
    if programme is not None:
        return {programme: programme_unit(session=session, programme_id=programme)}
    record = elig_repo.active_rule_set(session)
    if record is None:
        return {}
    return {p.id: str(p.unit) for p in compiled(record).programmes}


def _grouped(
    stmt: Select[Any],
    household_id: Any,
    kecamatan: str | None,
    scope: frozenset[str] | None,
    programme_column: Any,
) -> Select[Any]:
    """Add the desil in use and the area grouping to a select over decisions/recipients/errors
    that is already joined to household, kelurahan and kecamatan."""
    did = desil_in_use()
    code, _ = _area_group(kecamatan)
    return (
        stmt.join(did, did.c.household_id == household_id)
        .where(*_in_area(col(Household.kelurahan_code), scope=scope, kecamatan=kecamatan))
        .group_by(programme_column, code, did.c.desil)
        .add_columns(programme_column, code, did.c.desil, func.count(), func.count(distinct(household_id)))
    )


def _base(table: Any, household_id: Any) -> Select[Any]:
    return (
        select()
        .select_from(table)
        .join(Household, and_(col(Household.id) == household_id, col(Household.deleted_at).is_(None)))
        .join(Kelurahan, col(Kelurahan.code) == col(Household.kelurahan_code))
        .join(Kecamatan, col(Kecamatan.code) == col(Kelurahan.kecamatan_code))
    )


def programme_report(
    session: Session,
    *,
    scope: frozenset[str] | None,
    period: str,
    programme: str | None = None,
    kecamatan: str | None = None,
) -> ProgrammeReport:
    check_kecamatan(session, kecamatan, scope)
    units = programmes_in_use(session, programme)
    names = dict(areas(session, scope=scope, kecamatan=kecamatan))
    cells: dict[tuple[str, str, str], Counts] = {}

    def take(measure: str, stmt: Select[Any]) -> None:
        for prog, code, desil, subjects, families in session.execute(stmt):
            c = cells.setdefault((prog, code, NONE_KEY if desil is None else str(desil)), Counts())
            c.subjects[measure] += int(subjects)
            c.families[measure] += int(families)

    if units:
        ids = sorted(units)
        eligible = _base(_D, col(_D.household_id)).where(
            col(_D.current), col(_D.outcome) == "eligible", col(_D.programme_id).in_(ids)
        )
        take("eligible", _grouped(eligible, col(_D.household_id), kecamatan, scope, col(_D.programme_id)))
        receiving = _base(_R, col(_R.household_id)).where(
            col(_R.period) == period, col(_R.programme_id).in_(ids)
        )
        take("receiving", _grouped(receiving, col(_R.household_id), kecamatan, scope, col(_R.programme_id)))
        for prog in ids:
            excl = error_statement("exclusion", prog, period)
            take("exclusion", _grouped(excl, col(_D.household_id), kecamatan, scope, col(_D.programme_id)))
            incl = error_statement("inclusion", prog, period)
            take("inclusion", _grouped(incl, col(_R.household_id), kecamatan, scope, col(_R.programme_id)))
    order = {k: i for i, k in enumerate((*(str(d) for d in range(1, 11)), NONE_KEY))}
    rows = [
        ProgrammeRow(prog, units.get(prog, "?"), code, names.get(code, code), desil, counts)
        for (prog, code, desil), counts in sorted(
            cells.items(), key=lambda kv: (kv[0][0], kv[0][1], order[kv[0][2]])
        )
    ]
    return ProgrammeReport(period, "kecamatan" if kecamatan is None else "kelurahan", units, rows)


# ---------------------------------------------------------------- the families behind a figure


@dataclass(frozen=True, slots=True)
class FamilyRow:
    household_id: uuid.UUID
    kecamatan_code: str
    kecamatan_name: str
    kelurahan_code: str
    kelurahan_name: str
    kk_number: str | None
    head_name: str | None
    head_nik: str | None
    desil: int | None
    desil_source: str | None
    desil_basis: str | None
    channel: str
    verification_status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FamilyFilter:
    kecamatan: str | None = None
    kelurahan: str | None = None
    desil: str | None = None  # "1".."10" | "none"
    source: str | None = None  # desil source: official | estimate
    channel: str | None = None  # household.source
    kind: Kind | None = None
    programme: str | None = None
    period: str | None = None
    registered: Period = field(default_factory=Period)


def check_family_filter(session: Session, f: FamilyFilter, scope: frozenset[str] | None) -> None:
    check_kecamatan(session, f.kecamatan, scope)
    check_kelurahan(session, f.kelurahan, scope)
    if f.desil is not None and f.desil not in {*(str(d) for d in range(1, 11)), NONE_KEY}:
        raise InvalidData.one("desil", "one_of", "desil harus 1-10 atau none / must be 1-10 or none")
    if f.kind is not None:
        if f.programme is None:
            raise InvalidData.one(
                "programme", "required_with_kind", "kind membutuhkan programme / kind needs programme"
            )
        if f.kind != "eligible" and f.period is None:
            raise InvalidData.one(
                "period", "required_with_kind", f"kind={f.kind} membutuhkan period / needs period"
            )
    if f.programme is not None:
        programme_unit(session=session, programme_id=f.programme)


def families_page(
    session: Session, *, f: FamilyFilter, scope: frozenset[str] | None, after: uuid.UUID | None, size: int
) -> list[FamilyRow]:
    """The canonical families matching ``f`` in the area, by household id (keyset), ``size + 1``."""
    did = desil_in_use()
    head = and_(
        col(Member.household_id) == col(Household.id),
        col(Member.relation) == "head",
        col(Member.deleted_at).is_(None),
    )
    stmt = (
        select(
            col(Household.id),
            col(Kecamatan.code),
            col(Kecamatan.name),
            col(Kelurahan.code),
            col(Kelurahan.name),
            col(Household.kk_number),
            col(Member.full_name),
            col(Member.nik),
            did.c.desil,
            did.c.desil_source,
            did.c.desil_basis,
            col(Household.source),
            col(Household.verification_status),
            col(Household.created_at),
        )
        .select_from(did)
        .join(Household, col(Household.id) == did.c.household_id)
        .join(Kelurahan, col(Kelurahan.code) == col(Household.kelurahan_code))
        .join(Kecamatan, col(Kecamatan.code) == col(Kelurahan.kecamatan_code))
        .outerjoin(Member, head)
        .where(*_in_area(col(Household.kelurahan_code), scope=scope, kecamatan=f.kecamatan))
        .where(*f.registered.where(col(Household.created_at)))
    )
    if f.kelurahan is not None:
        stmt = stmt.where(col(Household.kelurahan_code) == f.kelurahan)
    if f.desil == NONE_KEY:
        stmt = stmt.where(did.c.desil.is_(None))
    elif f.desil is not None:
        stmt = stmt.where(did.c.desil == int(f.desil))
    if f.source is not None:
        stmt = stmt.where(did.c.desil_source == f.source)
    if f.channel is not None:
        stmt = stmt.where(col(Household.source) == f.channel)
    if f.programme is not None and f.kind is not None:
        stmt = stmt.where(col(Household.id).in_(_kind_households(f.kind, f.programme, f.period or "")))
    if after is not None:
        stmt = stmt.where(col(Household.id) > after)
    stmt = stmt.order_by(col(Household.id)).limit(size + 1)
    return [FamilyRow(*row) for row in session.execute(stmt)]


def _kind_households(kind: Kind, programme: str, period: str) -> Select[Any]:
    if kind == "eligible":
        return select(col(_D.household_id)).where(
            col(_D.current), col(_D.outcome) == "eligible", col(_D.programme_id) == programme
        )
    if kind == "receiving":
        return select(col(_R.household_id)).where(col(_R.programme_id) == programme, col(_R.period) == period)
    if kind == "exclusion":
        return error_statement("exclusion", programme, period, col(_D.household_id))
    return error_statement("inclusion", programme, period, col(_R.household_id))
