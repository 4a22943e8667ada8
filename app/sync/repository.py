"""Queries of the sync module (the change feed, the ledger, field history, conflicts)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, false, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from app.audit.models import AuditEntry
from app.registry.models import Household, Member
from app.sync.models import SyncChange, SyncConflict, SyncCounter, SyncMutation

_LEDGER = SyncMutation.__table__  # type: ignore[attr-defined]


def claim_mutation(session: Session, row: dict[str, Any]) -> bool:
    """Insert the ledger row unless (device_id, seq) exists; True if this call inserted it.

    The primary key decides, never a prior SELECT: two retries of one mutation arriving at
    once cannot both claim it (the second waits on the key, then finds it taken).
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (insert(_LEDGER).values(**row).on_conflict_do_nothing(index_elements=["device_id", "seq"])
            .returning(_LEDGER.c.seq))
    return session.execute(stmt).first() is not None  # no row back: the key was taken


def ledger_entry(session: Session, device_id: str, seq: int) -> SyncMutation | None:
    return session.get(SyncMutation, (device_id, seq))


def record_result(session: Session, device_id: str, seq: int, outcome: str,
                  result: dict[str, Any]) -> None:
    session.execute(update(SyncMutation).where(
        col(SyncMutation.device_id) == device_id, col(SyncMutation.seq) == seq)
        .values(outcome=outcome, result=result))


def rejected_create(session: Session, device_id: str, entity: str, entity_id: uuid.UUID
                    ) -> int | None:
    """The seq of this device's rejected create of the record, if there is one."""
    stmt = select(col(SyncMutation.seq)).where(
        col(SyncMutation.device_id) == device_id, col(SyncMutation.entity_id) == entity_id,
        col(SyncMutation.entity) == entity, col(SyncMutation.outcome) == "rejected")
    return session.execute(stmt).scalars().first()


def locate(session: Session, entity: str, entity_id: uuid.UUID
           ) -> tuple[Household | Member, Household] | None:
    """A household or member (deleted too) and its household, both row-locked, household
    first (the registry's lock order).  Unscoped: the caller checks the area."""
    if entity == "household":
        h = session.execute(select(Household).where(col(Household.id) == entity_id)
                         .with_for_update()).scalars().first()
        return (h, h) if h is not None else None
    hid = session.execute(select(col(Member.household_id)).where(col(Member.id) == entity_id)).scalar()
    if hid is None:
        return None
    h = session.execute(select(Household).where(col(Household.id) == hid)
                     .with_for_update()).scalars().one()
    m = session.execute(select(Member).where(col(Member.id) == entity_id)
                     .with_for_update().execution_options(populate_existing=True)).scalars().one()
    return m, h


def fields_changed_since(session: Session, entity: str, entity_id: uuid.UUID, base_version: int,
                         device_id: str) -> set[str]:
    """Fields written after ``base_version`` by anyone but this device (from the audit log)."""
    stmt = select(col(AuditEntry.changes)).where(
        col(AuditEntry.entity_type) == entity, col(AuditEntry.entity_id) == str(entity_id),
        col(AuditEntry.entity_version) > base_version,
        or_(col(AuditEntry.device_id).is_(None), col(AuditEntry.device_id) != device_id))
    out: set[str] = set()
    for changes in session.execute(stmt).scalars():
        out.update(changes)
    return out


def add_conflicts(session: Session, rows: list[SyncConflict]) -> None:
    session.add_all(rows)


def counter_value(session: Session) -> int:
    table = SyncCounter.__table__  # type: ignore[attr-defined]
    return int(session.execute(select(table.c.value).where(table.c.id == 1)).scalar_one())


def change_page(session: Session, *, after_seq: int, upper: int, since: int,
                common: Iterable[str], added: Iterable[str], removed: Iterable[str],
                limit: int) -> list[SyncChange]:
    """The next change rows of a pull, in seq order (see pull.py for the three kinds)."""
    seq, kel, present = col(SyncChange.seq), col(SyncChange.kelurahan_code), col(SyncChange.present)
    common, added, removed = sorted(common), sorted(added), sorted(removed)
    parts = []
    if common:
        parts.append(and_(kel.in_(common), seq > since))
    if added:
        parts.append(and_(kel.in_(added), present))
    if removed:
        parts.append(and_(kel.in_(removed), or_(present, seq > since)))
    stmt = (select(SyncChange).where(seq > after_seq, seq <= upper, or_(false(), *parts))
            .order_by(seq).limit(limit))
    return list(session.execute(stmt).scalars())


def households_by_id(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Household]:
    ids = list(ids)
    if not ids:
        return {}
    rows = session.execute(select(Household).where(col(Household.id).in_(ids))).scalars()
    return {h.id: h for h in rows}


def members_by_id(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Member]:
    ids = list(ids)
    if not ids:
        return {}
    rows = session.execute(select(Member).where(col(Member.id).in_(ids))).scalars()
    return {m.id: m for m in rows}
