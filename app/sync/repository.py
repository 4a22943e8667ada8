"""Queries of the sync module (the change feed, the ledger, field history, conflicts)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, bindparam, delete, false, or_, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from app import bulk, pii
from app.audit.models import AuditEntry
from app.registry.models import Household, Member
from app.sync.models import Device, SyncChange, SyncCounter, SyncMutation, SyncSmsPart

_LEDGER = SyncMutation.__table__  # type: ignore[attr-defined]


def claim_mutations(session: Session, rows: list[dict[str, Any]]) -> set[int]:
    """``claim_mutation`` for a whole batch in one statement; returns the seqs claimed."""
    if not rows:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        # one row of arrays instead of 500 rows of parameters: the statement text stays short
        # (psycopg parses a long one on every call), the claim semantics are the same
        first = rows[0]
        result = session.execute(_PG_CLAIM, {
            "device_id": first["device_id"], "received_at": first["received_at"],
            "empty": pii.sealed_json_text(_LEDGER.c.result, {}),
            "seqs": [r["seq"] for r in rows], "hashes": [r["content_hash"] for r in rows],
            "entities": [r["entity"] for r in rows], "ids": [r["entity_id"] for r in rows]})
        return {int(seq) for seq in result.scalars()}
    stmt = (sqlite.insert(_LEDGER).on_conflict_do_nothing(index_elements=["device_id", "seq"])
            .returning(_LEDGER.c.seq))
    return {int(seq) for seq in session.execute(stmt, rows).scalars()}


_PG_CLAIM = text("""
    INSERT INTO sync_mutation (device_id, seq, content_hash, entity, entity_id, outcome, result,
                               received_at)
    SELECT :device_id, t.seq, t.content_hash, t.entity, t.entity_id, 'processing', CAST(:empty AS json),
           :received_at
    FROM unnest(CAST(:seqs AS bigint[]), CAST(:hashes AS text[]), CAST(:entities AS text[]),
                CAST(:ids AS uuid[])) AS t(seq, content_hash, entity, entity_id)
    ON CONFLICT (device_id, seq) DO NOTHING
    RETURNING seq""")



def ledger_entries(session: Session, device_id: str, seqs: Iterable[int]) -> dict[int, SyncMutation]:
    seqs = sorted(set(seqs))
    if not seqs:
        return {}
    stmt = select(SyncMutation).where(col(SyncMutation.device_id) == device_id,
                                      col(SyncMutation.seq).in_(seqs))
    return {m.seq: m for m in session.execute(stmt).scalars()}


def record_results(session: Session, device_id: str, results: list[tuple[int, str, dict[str, Any]]]
                   ) -> None:
    """Store the outcome of each claimed mutation (one UPDATE .. FROM unnest on PostgreSQL,
    an executemany UPDATE elsewhere)."""
    if not results:
        return
    if session.get_bind().dialect.name == "postgresql":
        bulk.execute(session, _PG_RECORD, {"device_id": device_id, "seqs": [r[0] for r in results],
                                     "outcomes": [r[1] for r in results],
                                     "results": [pii.sealed_json_text(_LEDGER.c.result, r[2])
                                                 for r in results]})
        return
    stmt = (update(_LEDGER).where(_LEDGER.c.device_id == bindparam("did"), _LEDGER.c.seq == bindparam("s"))
            .values(outcome=bindparam("o"), result=bindparam("r")))
    session.execute(stmt, [{"did": device_id, "s": seq, "o": outcome, "r": result}
                           for seq, outcome, result in results])


_PG_RECORD = """
    UPDATE sync_mutation SET outcome = t.outcome, result = t.result::json
    FROM unnest(CAST(%(seqs)b AS bigint[]), CAST(%(outcomes)b AS text[]),
                CAST(%(results)b AS text[])) AS t(seq, outcome, result)
    WHERE sync_mutation.device_id = %(device_id)s AND sync_mutation.seq = t.seq"""


def lock_households(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Household]:
    """Households by id (deleted too), row-locked in id order so two batches cannot deadlock."""
    stmt = (select(Household).where(col(Household.id).in_(sorted(set(ids))))
            .order_by(col(Household.id)).with_for_update())
    return {h.id: h for h in session.execute(stmt.execution_options(populate_existing=True)).scalars()}


def field_history(session: Session, entity: str, ids: Iterable[uuid.UUID], after_version: int
                  ) -> dict[str, list[tuple[int, str | None, dict[str, Any]]]]:
    """(version, device, changes) of every write after ``after_version``, per record id."""
    stmt = select(col(AuditEntry.entity_id), col(AuditEntry.entity_version), col(AuditEntry.device_id),
                  col(AuditEntry.changes)).where(
        col(AuditEntry.entity_type) == entity, col(AuditEntry.entity_id).in_(sorted({str(i) for i in ids})),
        col(AuditEntry.entity_version) > after_version)
    out: dict[str, list[tuple[int, str | None, dict[str, Any]]]] = {}
    for entity_id, version, device_id, changes in session.execute(stmt):
        out.setdefault(entity_id, []).append((version, device_id, changes))
    return out


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


def changed_fields(history: list[tuple[int, str | None, dict[str, Any]]], base_version: int,
                   device_id: str) -> set[str]:
    """Fields written after ``base_version`` by anyone but this device (a record's history
    as ``field_history`` gives it)."""
    return {name for version, writer, changes in history
            if version > base_version and writer != device_id for name in changes}


def fields_changed_since(session: Session, entity: str, entity_id: uuid.UUID, base_version: int,
                         device_id: str) -> set[str]:
    history = field_history(session, entity, [entity_id], base_version).get(str(entity_id), [])
    return changed_fields(history, base_version, device_id)


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


# --- SMS fallback ------------------------------------------------------------------------------

def device_by_sms_number(session: Session, number: int) -> Device | None:
    stmt = select(Device).where(col(Device.sms_number) == number)
    return session.execute(stmt).scalars().first()


def sms_parts(session: Session, device_id: str, seq: int) -> list[SyncSmsPart]:
    stmt = (select(SyncSmsPart).where(col(SyncSmsPart.device_id) == device_id, col(SyncSmsPart.seq) == seq)
            .order_by(col(SyncSmsPart.part_index)))
    return list(session.execute(stmt).scalars())


def keep_sms_part(session: Session, part: SyncSmsPart) -> None:
    """Store a part once; the same part again (a resent SMS, a concurrent delivery) is a no-op."""
    if session.get(SyncSmsPart, (part.device_id, part.seq, part.part_index)) is not None:
        return
    nested = session.begin_nested()
    session.add(part)
    try:
        session.flush()
    except IntegrityError:
        nested.rollback()
        return
    nested.commit()


def drop_sms_parts(session: Session, device_id: str, seq: int) -> None:
    session.execute(delete(SyncSmsPart).where(col(SyncSmsPart.device_id) == device_id,
                                              col(SyncSmsPart.seq) == seq))
