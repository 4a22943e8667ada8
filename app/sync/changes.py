"""The change feed devices pull from, and the sequence numbers that order it.

Every registry write notes the records it touched (``note``).  Just before the
transaction commits, the notes become rows of ``sync_change`` carrying new sequence
numbers taken from the single ``sync_counter`` row.  Taking them that late, under that
row's lock, is what makes the feed safe to read by ``seq > cursor``: the lock is held until
commit, so a transaction that takes numbers later also commits later, and a reader that
sees number N can never later find a smaller number appear.  (PostgreSQL without this
would hand out sequence values in one order and commit in another; SQLite serialises
writers anyway.)  The lock is held only for the final upsert, not for the request.

``sync_change`` keeps one row per (record, kelurahan): a record changed ten times is sent
once; when a household moves, its row in the old kelurahan turns into a tombstone
(``present`` false, reason ``moved``) that devices of that kelurahan pull.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from app import bulk
from app.sync.models import SyncChange, SyncCounter

_PENDING = "sigap_sync_pending"
_TABLE = SyncChange.__table__  # type: ignore[attr-defined]
_COUNTER = SyncCounter.__table__  # type: ignore[attr-defined]
_KEY = ("entity", "entity_id", "kelurahan_code")


@dataclass(frozen=True)
class Note:
    entity: str
    entity_id: uuid.UUID
    household_id: uuid.UUID
    kelurahan_code: str
    version: int
    deleted: bool
    left: frozenset[str] = frozenset()  # kelurahan the record moved out of in this transaction


def _pending(session: Session) -> dict[tuple[str, uuid.UUID], Note]:
    pending: dict[tuple[str, uuid.UUID], Note] = session.info.setdefault(_PENDING, {})
    return pending


def note(session: Session, *, entity: str, entity_id: uuid.UUID, household_id: uuid.UUID,
         kelurahan_code: str, version: int, deleted: bool = False,
         previous_kelurahan: str | None = None) -> None:
    """Record that a household or member changed; published when the transaction commits."""
    pending = _pending(session)
    left: set[str] = set()
    earlier = pending.get((entity, entity_id))
    if earlier is not None:
        left |= earlier.left | {earlier.kelurahan_code}
    if previous_kelurahan is not None:
        left.add(previous_kelurahan)
    left.discard(kelurahan_code)
    pending[(entity, entity_id)] = Note(entity, entity_id, household_id, kelurahan_code, version,
                                        deleted, frozenset(left))


def checkpoint(session: Session) -> dict[tuple[str, uuid.UUID], Note]:
    """A copy of the notes so far, to restore when a savepoint is rolled back."""
    return dict(_pending(session))


def restore(session: Session, saved: dict[tuple[str, uuid.UUID], Note]) -> None:
    session.info[_PENDING] = dict(saved)


def _rows(notes: list[Note]) -> list[dict[str, Any]]:
    rows = []
    for n in notes:
        rows += [{"entity": n.entity, "entity_id": n.entity_id, "kelurahan_code": k,
                  "household_id": n.household_id, "version": n.version, "present": False,
                  "reason": "moved"} for k in sorted(n.left)]
        rows.append({"entity": n.entity, "entity_id": n.entity_id,
                     "kelurahan_code": n.kelurahan_code, "household_id": n.household_id,
                     "version": n.version, "present": not n.deleted,
                     "reason": "deleted" if n.deleted else None})
    return rows


def _upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_TABLE)
    return stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={c: stmt.excluded[c] for c in _UPDATED})


def publish(session: Session) -> int:
    """Turn the pending notes into change rows with fresh sequence numbers; returns the count.

    Called by the before-commit hook; callable directly by code that must know the numbers.
    """
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return 0
    session.flush()
    rows = _rows(list(pending.values()))
    top = session.execute(
        update(_COUNTER).where(_COUNTER.c.id == 1)
        .values(value=_COUNTER.c.value + len(rows)).returning(_COUNTER.c.value)).scalar_one()
    first = int(top) - len(rows) + 1
    for offset, row in enumerate(rows):
        row["seq"] = first + offset
    if session.get_bind().dialect.name == "postgresql":
        # one statement of arrays (app.bulk); a publish never holds a key twice (one note per
        # record, and the kelurahan it left are not the one it is in), which ON CONFLICT
        # DO UPDATE of a single statement requires
        bulk.execute(session, *bulk.pg_unnest(_TABLE, rows, _PG_ON_CONFLICT))
    else:
        session.execute(_upsert(session.get_bind().dialect.name), rows)
    return len(rows)


_UPDATED = ("seq", "household_id", "version", "present", "reason")
_PG_ON_CONFLICT = (f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
                   + ", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATED))


@event.listens_for(Session, "before_commit")
def _publish_before_commit(session: Session) -> None:
    publish(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_on_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended (commit or rollback)
        session.info.pop(_PENDING, None)


def note_household(session: Session, household: Any, *, previous_kelurahan: str | None = None) -> None:
    note(session, entity="household", entity_id=household.id, household_id=household.id,
         kelurahan_code=household.kelurahan_code, version=household.version,
         deleted=household.deleted_at is not None, previous_kelurahan=previous_kelurahan)


def note_member(session: Session, member: Any, kelurahan_code: str, *,
                previous_kelurahan: str | None = None) -> None:
    """``member`` is a Member or a row dict of one (the Core insert of a registration)."""
    row: dict[str, Any] = member if isinstance(member, dict) else {
        k: getattr(member, k) for k in ("id", "household_id", "version", "deleted_at")}
    note(session, entity="member", entity_id=row["id"], household_id=row["household_id"],
         kelurahan_code=kelurahan_code, version=row["version"],
         deleted=row["deleted_at"] is not None, previous_kelurahan=previous_kelurahan)

