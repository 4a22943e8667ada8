"""Pull: the changes a device has not seen, in its scope, in pages, with tombstones.

The cursor (signed, opaque to devices) holds ``[since, held, after, target]``:

- ``since``: every change up to this sequence number in ``held`` has been delivered;
- ``held``: the kelurahan the device held as of ``since``;
- ``after``: the position inside the current pass (0 at its start);
- ``target``: the scope this pass is delivering.

A pass compares ``held`` with the device's scope now.  Kelurahan in both get the changes
after ``since``; a newly assigned one gets every present record (its initial sync); one
no longer assigned gets a tombstone for every record the device may hold there.  The pass
ends when a page comes back with ``has_more`` false; its cursor then starts the next pass
from the highest sequence number read.  If the scope changes in mid-pass, the pass restarts
from its beginning (repeating a page is harmless: changes are idempotent upserts).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import Session, col, select

from app.auth.permissions import Principal
from app.errors import BadCursor
from app.pagination import decode_cursor, encode_cursor
from app.registry.models import FieldTask, Household, Member
from app.registry.present import masked_household, masked_member
from app.sync import repository
from app.sync.models import SyncChange
from app.wilayah.models import Kelurahan
from sync_protocol.messages import Change, ChangeKind, EntityType, PullResponse, TombstoneReason

_KIND = "sync-pull"
_HOUSEHOLD_SKIP = frozenset({"id", "version", "created_by", "updated_by", "deleted_at",
                             "created_at", "updated_at", "kk_bidx"})
_TASK_SKIP = frozenset({"id", "household_id", "kelurahan_code", "version"})
_MEMBER_SKIP = frozenset({"id", "household_id", "version", "deleted_at", "created_at",
                          "updated_at", "nik_bidx"})


def scope_of(session: Session, principal: Principal) -> list[str]:
    if principal.kelurahan_scope is not None:
        return sorted(principal.kelurahan_scope)
    return sorted(session.exec(select(Kelurahan.code)).all())


def _decode(cursor: str | None, key: bytes) -> tuple[int, list[str], int, list[str] | None]:
    if cursor is None:
        return 0, [], 0, None
    pos = decode_cursor(cursor, key=key, kind=_KIND)
    try:
        since, held, after, target = pos
        if not (isinstance(since, int) and isinstance(after, int) and isinstance(held, list)
                and isinstance(target, list)):
            raise ValueError
        return since, [str(k) for k in held], after, [str(k) for k in target]
    except ValueError:
        raise BadCursor("cursor is malformed: pass the cursor exactly as received") from None


def _compact(data: dict[str, Any], skip: frozenset[str]) -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        if v is None or k in skip:
            continue
        out[k] = v.isoformat() if hasattr(v, "isoformat") else v
    return out


def _household_data(h: Household, principal: Principal) -> dict[str, Any]:
    return _compact(masked_household(h, principal), _HOUSEHOLD_SKIP)


def _member_data(m: Member, principal: Principal) -> dict[str, Any]:
    data = masked_member(m, principal)
    if principal.full_identifiers:
        data["birth_year"] = None  # the birth date travels whole: no need for the year too
    return _compact(data, _MEMBER_SKIP)


def pull(session: Session, *, principal: Principal, cursor: str | None, limit: int,
         key: bytes) -> PullResponse:
    since, held, after, target = _decode(cursor, key)
    scope = scope_of(session, principal)
    if target != scope:  # a new pass, or the scope changed in mid-pass: (re)start it
        after, target = 0, scope
    now, before = set(scope), set(held)
    upper = repository.counter_value(session)
    rows = repository.change_page(session, after_seq=after, upper=upper, since=since,
                                  common=now & before, added=now - before, removed=before - now,
                                  limit=limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    changes = _changes(session, rows, principal, now)
    next_pos = [since, held, rows[-1].seq, scope] if has_more else [max(upper, since), scope, 0, scope]
    return PullResponse(changes=changes, has_more=has_more, scope=scope,
                        cursor=encode_cursor(next_pos, key=key, kind=_KIND))


def _changes(session: Session, rows: list[SyncChange], principal: Principal,
             scope: set[str]) -> list[Change]:
    live = [r for r in rows if r.present and r.kelurahan_code in scope]
    households = repository.households_by_id(
        session, {r.entity_id for r in live if r.entity == "household"})
    members = repository.members_by_id(session, {r.entity_id for r in live if r.entity == "member"})
    tasks = _tasks_by_id(session, {r.entity_id for r in live if r.entity == "task"})
    records: dict[str, dict[Any, Any]] = {"household": households, "member": members, "task": tasks}
    live_keys = {(r.entity, r.entity_id, r.kelurahan_code) for r in live}
    out = []
    for r in rows:
        record: Household | Member | FieldTask | None = None
        if (r.entity, r.entity_id, r.kelurahan_code) in live_keys:
            record = records[r.entity].get(r.entity_id)
        base = {"entity": EntityType(r.entity), "id": r.entity_id, "household_id": r.household_id,
                "kelurahan_code": r.kelurahan_code}
        moved = isinstance(record, Household) and record.kelurahan_code not in scope
        deleted = getattr(record, "deleted_at", None) is not None
        if record is None or deleted or moved:
            # deleted or moved since this row was read: the tombstone is what holds now
            reason = (TombstoneReason.deleted if r.reason == "deleted" or deleted
                      else TombstoneReason.out_of_scope)
            out.append(Change(kind=ChangeKind.tombstone, version=record.version if record else r.version,
                              reason=reason, **base))
            continue
        if isinstance(record, Household):
            data = _household_data(record, principal)
        elif isinstance(record, Member):
            data = _member_data(record, principal)
        else:
            data = _compact(record.model_dump(), _TASK_SKIP)
        out.append(Change(kind=ChangeKind.upsert, version=record.version, data=data, **base))
    return out


def _tasks_by_id(session: Session, ids: set[Any]) -> dict[Any, FieldTask]:
    if not ids:
        return {}
    return {t.id: t for t in session.exec(select(FieldTask).where(col(FieldTask.id).in_(ids)))}


def etag(response: PullResponse, principal: Principal) -> str:
    """Fixed by what the page holds: each change's kind, record and version (a version
    fixes a record's content), the next cursor, and whether identifiers are masked."""
    digest = hashlib.sha256(f"{response.cursor}|{int(principal.full_identifiers)}".encode())
    for c in response.changes:
        digest.update(f"|{c.kind.value}{c.entity.value}{c.id}{c.version}{c.kelurahan_code}".encode())
    return '"' + digest.hexdigest()[:32] + '"'
