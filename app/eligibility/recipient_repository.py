"""Every query of the recipient lists and of the exclusion / inclusion errors.

The errors are computed in SQL from the CURRENT decisions and the recipients of a period,
over canonical households only (``household.deleted_at IS NULL``, see
:mod:`app.reconcile.canonical`):

- exclusion: a current ``eligible`` decision with no recipient row for the same programme,
  period, household and subject;
- inclusion: a recipient row whose current decision for the same subject is not ``eligible``
  (``not_eligible``, ``needs_data``) or that has no current decision at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, and_, exists, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.eligibility.repository import chunks
from app.eligibility.store import EligibilityDecision, ProgrammeRecipient, RecipientImport
from app.registry.models import Household
from app.wilayah.models import Kecamatan, Kelurahan

ErrorKind = Literal["exclusion", "inclusion"]
_D = EligibilityDecision
_R = ProgrammeRecipient


@dataclass(frozen=True, slots=True)
class ErrorRow:
    kind: ErrorKind
    key: int  # decision id (exclusion) or recipient id (inclusion): the paging order
    household_id: uuid.UUID
    member_id: uuid.UUID | None
    outcome: str | None  # None: no current decision
    reasons: list[Any]
    desil: int | None
    desil_source: str | None
    desil_period: str | None
    decision_id: int | None
    kelurahan_code: str
    kelurahan_name: str
    kecamatan_code: str
    kecamatan_name: str


def find_import(session: Session, sha256: str, programme_id: str, period: str) -> RecipientImport | None:
    return session.exec(
        select(RecipientImport).where(
            RecipientImport.sha256 == sha256,
            RecipientImport.programme_id == programme_id,
            RecipientImport.period == period,
        )
    ).first()


def listed_subjects(
    session: Session, programme_id: str, period: str, household_ids: Sequence[uuid.UUID]
) -> set[tuple[uuid.UUID, str]]:
    """(household, subject) already listed as receiving ``programme_id`` in ``period``."""
    out: set[tuple[uuid.UUID, str]] = set()
    for part in chunks(household_ids):
        stmt = select(_R.household_id, _R.subject).where(
            col(_R.programme_id) == programme_id, col(_R.period) == period, col(_R.household_id).in_(part)
        )
        out.update((hid, subject) for hid, subject in session.execute(stmt))
    return out


def _area(
    stmt: Select[Any], kecamatan: str | None, kelurahan: str | None, scope: frozenset[str] | None
) -> Select[Any]:
    if kecamatan:
        stmt = stmt.where(col(Kelurahan.kecamatan_code) == kecamatan)
    if kelurahan:
        stmt = stmt.where(col(Household.kelurahan_code) == kelurahan)
    if scope is not None:
        stmt = stmt.where(col(Household.kelurahan_code).in_(sorted(scope)))
    return stmt


def _with_area(stmt: Select[Any], household_id: Any) -> Select[Any]:
    return (
        stmt.join(Household, and_(col(Household.id) == household_id, col(Household.deleted_at).is_(None)))
        .join(Kelurahan, col(Kelurahan.code) == col(Household.kelurahan_code))
        .join(Kecamatan, col(Kecamatan.code) == col(Kelurahan.kecamatan_code))
    )


_AREA_COLUMNS = (Household.kelurahan_code, Kelurahan.name, Kecamatan.code, Kecamatan.name)


def _exclusion(programme_id: str, period: str, *columns: Any) -> Select[Any]:
    receiving = exists().where(
        col(_R.programme_id) == programme_id,
        col(_R.period) == period,
        col(_R.household_id) == col(_D.household_id),
        col(_R.subject) == col(_D.subject),
    )
    stmt = sa_select(*columns).select_from(_D)
    return _with_area(stmt, col(_D.household_id)).where(
        col(_D.current), col(_D.programme_id) == programme_id, col(_D.outcome) == "eligible", ~receiving
    )


def _inclusion(programme_id: str, period: str, *columns: Any) -> Select[Any]:
    decision = and_(
        col(_D.current),
        col(_D.household_id) == col(_R.household_id),
        col(_D.programme_id) == col(_R.programme_id),
        col(_D.subject) == col(_R.subject),
    )
    stmt = sa_select(*columns).select_from(_R).outerjoin(_D, decision)
    return _with_area(stmt, col(_R.household_id)).where(
        col(_R.programme_id) == programme_id,
        col(_R.period) == period,
        (col(_D.id).is_(None)) | (col(_D.outcome) != "eligible"),
    )


def errors_page(
    session: Session,
    *,
    kind: ErrorKind,
    programme_id: str,
    period: str,
    kecamatan: str | None,
    kelurahan: str | None,
    scope: frozenset[str] | None,
    after: int | None,
    size: int | None,
) -> list[ErrorRow]:
    """One kind of error, ordered by its key; ``size`` None: all of them (the CLI's file)."""
    decision_columns = (_D.outcome, _D.reasons, _D.desil, _D.desil_source, _D.desil_period, _D.id)
    if kind == "exclusion":
        key = col(_D.id)
        stmt = _exclusion(
            programme_id, period, key, _D.household_id, _D.member_id, *decision_columns, *_AREA_COLUMNS
        )
    else:
        key = col(_R.id)
        stmt = _inclusion(
            programme_id, period, key, _R.household_id, _R.member_id, *decision_columns, *_AREA_COLUMNS
        )
    stmt = _area(stmt, kecamatan, kelurahan, scope).order_by(key)
    if after is not None:
        stmt = stmt.where(key > after)
    if size is not None:
        stmt = stmt.limit(size + 1)
    return [ErrorRow(kind, *row) for row in session.execute(stmt)]


def error_counts(
    session: Session,
    *,
    kind: ErrorKind,
    programme_id: str,
    period: str,
    kecamatan: str | None,
    kelurahan: str | None,
    scope: frozenset[str] | None,
) -> list[tuple[str, str, str, str, int]]:
    """(kecamatan code, name, kelurahan code, name, errors) for each kelurahan with any."""
    group = (Kecamatan.code, Kecamatan.name, Household.kelurahan_code, Kelurahan.name)
    build = _exclusion if kind == "exclusion" else _inclusion
    stmt = _area(build(programme_id, period, *group, func.count()), kecamatan, kelurahan, scope)
    stmt = stmt.group_by(*group).order_by(Kecamatan.code, Household.kelurahan_code)
    return [(a, b, c, d, int(n)) for a, b, c, d, n in session.execute(stmt)]


def error_statement(kind: ErrorKind, programme_id: str, period: str, *columns: Any) -> Select[Any]:
    """The rows of one kind of error selecting ``columns``, joined to the canonical household,
    its kelurahan and kecamatan; for callers that group or filter them further (the reports)."""
    build = _exclusion if kind == "exclusion" else _inclusion
    return build(programme_id, period, *columns)
