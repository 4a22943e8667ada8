"""All queries of the registry.  Every read takes the caller's area (``scope``) and applies
it in SQL, so an out-of-area row never leaves the database."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, or_, true, tuple_
from sqlmodel import Session, col, select

from app import pii
from app.audit.models import AuditEntry
from app.registry.models import Household, KkHistory, Member

Scope = frozenset[str] | None


@dataclass(frozen=True)
class HouseholdFilter:
    kecamatan_code: str | None = None
    kelurahan_code: str | None = None
    verification_status: str | None = None
    source: str | None = None
    updated_since: datetime | None = None
    member_nik: str | None = None
    kk_number: str | None = None


def _in_scope(scope: Scope) -> ColumnElement[bool]:
    if scope is None:
        return true()
    return col(Household.kelurahan_code).in_(sorted(scope))


def _active_household() -> ColumnElement[bool]:
    return col(Household.deleted_at).is_(None)


def _active_member() -> ColumnElement[bool]:
    return col(Member.deleted_at).is_(None)


def get_household(session: Session, household_id: uuid.UUID, scope: Scope, *,
                  for_update: bool = False, include_deleted: bool = False) -> Household | None:
    stmt = select(Household).where(Household.id == household_id, _in_scope(scope))
    if not include_deleted:
        stmt = stmt.where(_active_household())
    if for_update:
        stmt = stmt.with_for_update()
    return session.exec(stmt).first()


def household_exists(session: Session, household_id: uuid.UUID) -> bool:
    """Unscoped: used only to tell 'outside your area' (403) from 'no such record' (404)."""
    stmt = select(Household.id).where(Household.id == household_id, _active_household())
    return session.exec(stmt).first() is not None


def get_member(session: Session, member_id: uuid.UUID, scope: Scope
               ) -> tuple[Member, Household] | None:
    stmt = (select(Member, Household).join(Household, col(Member.household_id) == Household.id)
            .where(Member.id == member_id, _active_member(), _active_household(), _in_scope(scope)))
    row = session.exec(stmt).first()
    return (row[0], row[1]) if row else None


def lock_member(session: Session, member_id: uuid.UUID) -> Member | None:
    """Row-lock an active member (call after locking its household: see service)."""
    stmt = select(Member).where(Member.id == member_id, _active_member()).with_for_update()
    return session.exec(stmt.execution_options(populate_existing=True)).first()


def member_exists(session: Session, member_id: uuid.UUID) -> bool:
    stmt = select(Member.id).where(Member.id == member_id, _active_member())
    return session.exec(stmt).first() is not None


def members_of(session: Session, household_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Member]]:
    out: dict[uuid.UUID, list[Member]] = defaultdict(list)
    if not household_ids:
        return out
    stmt = (select(Member).where(col(Member.household_id).in_(household_ids), _active_member())
            .order_by(col(Member.household_id), col(Member.created_at), col(Member.id)))
    for member in session.exec(stmt):
        out[member.household_id].append(member)
    return out


def active_member_holding_nik(session: Session, nik: str) -> Member | None:
    stmt = select(Member).where(pii.lookup(col(Member.nik_bidx), "nik", nik), _active_member())
    return session.exec(stmt).first()


def active_household_holding_kk(session: Session, kk: str, *, other_than: uuid.UUID) -> bool:
    stmt = select(Household.id).where(pii.lookup(col(Household.kk_bidx), "kk", kk), _active_household(),
                                      col(Household.id) != other_than).limit(1)
    return session.exec(stmt).first() is not None


def _filters(f: HouseholdFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if f.kecamatan_code:
        # Kemendagri kelurahan codes start with their kecamatan code: no join needed.
        clauses.append(col(Household.kelurahan_code).startswith(f.kecamatan_code + "."))
    if f.kelurahan_code:
        clauses.append(col(Household.kelurahan_code) == f.kelurahan_code)
    if f.verification_status:
        clauses.append(col(Household.verification_status) == f.verification_status)
    if f.source:
        clauses.append(col(Household.source) == f.source)
    if f.updated_since:
        clauses.append(col(Household.updated_at) >= f.updated_since)
    if f.kk_number:
        clauses.append(pii.lookup(col(Household.kk_bidx), "kk", f.kk_number))
    if f.member_nik:
        clauses.append(exists().where(col(Member.household_id) == col(Household.id),
                                      pii.lookup(col(Member.nik_bidx), "nik", f.member_nik),
                                      _active_member()))
    return clauses


def list_households(session: Session, *, filters: HouseholdFilter, scope: Scope,
                    after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Household]:
    """Keyset page ordered by (created_at, id): stable under concurrent inserts and edits."""
    stmt = select(Household).where(_active_household(), _in_scope(scope), *_filters(filters))
    if after is not None:
        # a row-value comparison: both engines turn it into one index range seek
        stmt = stmt.where(tuple_(col(Household.created_at), col(Household.id)) > tuple_(*after))
    stmt = stmt.order_by(col(Household.created_at), col(Household.id)).limit(limit)
    return list(session.exec(stmt).all())


def distinct_member_names(session: Session, scope: Scope) -> list[str]:
    """Every distinct full name of an active member in scope (names repeat a lot)."""
    stmt = (select(Member.full_name).distinct()
            .join(Household, col(Member.household_id) == Household.id)
            .where(_active_member(), _active_household(), _in_scope(scope)))
    return list(session.execute(stmt).scalars().all())


def households_with_member_names(session: Session, names: Sequence[str], scope: Scope
                                 ) -> list[tuple[uuid.UUID, str]]:
    """(household id, member name) of active members in scope carrying one of ``names``."""
    if not names:
        return []
    stmt = (select(Member.household_id, Member.full_name)
            .join(Household, col(Member.household_id) == Household.id)
            .where(col(Member.full_name).in_(names), _active_member(), _active_household(),
                   _in_scope(scope)))
    return [(row[0], row[1]) for row in session.execute(stmt).all()]


def households_by_kk(session: Session, kk: str, scope: Scope, *, limit: int = 10
                      ) -> list[Household]:
    """Households whose current OR any former KK number is ``kk``."""
    historical = select(KkHistory.household_id).where(pii.lookup(col(KkHistory.kk_bidx), "kk", kk))
    stmt = select(Household).where(
        or_(pii.lookup(col(Household.kk_bidx), "kk", kk), col(Household.id).in_(historical)),
        _active_household(), _in_scope(scope)).limit(limit)
    return list(session.exec(stmt).all())


def households_by_ids(session: Session, ids: Sequence[uuid.UUID], scope: Scope) -> list[Household]:
    if not ids:
        return []
    stmt = select(Household).where(col(Household.id).in_(ids), _active_household(), _in_scope(scope))
    return list(session.exec(stmt).all())


def open_kk_history(session: Session, household_id: uuid.UUID) -> KkHistory | None:
    stmt = select(KkHistory).where(KkHistory.household_id == household_id,
                                   col(KkHistory.valid_until).is_(None))
    return session.exec(stmt).first()


def kk_history(session: Session, household_id: uuid.UUID) -> list[KkHistory]:
    stmt = (select(KkHistory).where(KkHistory.household_id == household_id)
            .order_by(col(KkHistory.valid_from), col(KkHistory.id)))
    return list(session.exec(stmt).all())


def audit_of_household(session: Session, household_id: uuid.UUID) -> list[AuditEntry]:
    stmt = (select(AuditEntry).where(AuditEntry.household_id == household_id)
            .order_by(col(AuditEntry.id)))
    return list(session.exec(stmt).all())
