"""Writing audit entries: every write records actor, channel, time and a field diff."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from app import bulk
from app.audit.models import AuditEntry
from app.db import utcnow
from app.registry.identifiers import mask


@dataclass(frozen=True)
class ActorRef:
    """Who is writing and through which channel (api, enumerator, sms, ussd, import, system)."""

    user_id: int | None
    name: str
    channel: str
    request_id: str | None = None
    device_id: str | None = None  # the enrolled tablet a sync push came from


SYSTEM = ActorRef(user_id=None, name="system", channel="system")


def jsonable(value: Any) -> Any:
    """A stored value as JSON would carry it (dates ISO, UUIDs as text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for every field whose value changed."""
    keys = sorted(set(before) | set(after))
    return {
        k: [jsonable(before.get(k)), jsonable(after.get(k))] for k in keys if before.get(k) != after.get(k)
    }


_PLAIN_JSON = frozenset({str, int, float, bool})


def created(after: Mapping[str, Any], exclude: frozenset[str] = frozenset()) -> dict[str, list[Any]]:
    """``diff({}, after)`` without the fields in ``exclude``: the diff of a new record, made
    in one pass (a registration's audit rows are most of its Python time)."""
    out: dict[str, list[Any]] = {}
    for k in sorted(after):  # the keys only: sorting the items compares tuples
        v = after[k]
        if v is not None and k not in exclude:
            out[k] = [None, v if type(v) in _PLAIN_JSON else jsonable(v)]
    return out


IDENTIFIER_FIELDS = frozenset({"nik", "kk_number", "head_nik"})


def _masked(changes: dict[str, Any]) -> dict[str, Any]:
    if IDENTIFIER_FIELDS.isdisjoint(changes):
        return changes
    return {k: ([mask(v) if isinstance(v, str) else v for v in pair]
                if k in IDENTIFIER_FIELDS and isinstance(pair, list) else pair)
            for k, pair in changes.items()}


def entry(
    *,
    actor: ActorRef,
    action: str,
    entity_type: str,
    entity_id: str,
    changes: dict[str, Any],
    household_id: uuid.UUID | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """One audit row; ``version`` is the record's version after the write (sync reads the
    fields changed since a device's base version from here). NIK and KK values are kept
    masked: the log is append-only, so a value written here could never be sealed again
    under a new key (app/pii.py); the record itself and its history carry them sealed."""
    return {
        "occurred_at": utcnow(),
        "actor_id": actor.user_id,
        "actor_name": actor.name,
        "channel": actor.channel,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "household_id": household_id,
        "changes": _masked(changes),
        "request_id": actor.request_id,
        "entity_version": version,
        "device_id": actor.device_id,
    }


def write(session: Session, entries: list[dict[str, Any]]) -> None:
    """Append entries in one statement, inside the caller's transaction.

    A Core INSERT, not ORM objects: the log is append-only and never read back in the same
    unit of work, and building ORM instances was a third of the cost of a registration.
    On PostgreSQL one INSERT .. SELECT FROM unnest (app.bulk), however many entries.
    """
    bulk.insert(session, _TABLE, entries)


def record(
    session: Session,
    *,
    actor: ActorRef,
    action: str,
    entity_type: str,
    entity_id: str,
    changes: dict[str, Any],
    household_id: uuid.UUID | None = None,
    version: int | None = None,
) -> None:
    write(
        session,
        [
            entry(
                actor=actor,
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                changes=changes,
                household_id=household_id,
                version=version,
            )
        ],
    )


_TABLE = AuditEntry.__table__  # type: ignore[attr-defined]
