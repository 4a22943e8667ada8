"""The review queue: conflicts a field policy could not decide, resolved by supervisors.

A resolution that changes the record is an ordinary registry write (validated, audited,
versioned), so devices receive it through pull like any other change.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from app.audit.service import ActorRef, record
from app.auth.permissions import Principal
from app.db import utcnow
from app.errors import Conflict, InvalidData, NotFound, OutOfArea
from app.registry import service as registry
from app.registry.schemas import HouseholdUpdate, MemberUpdate
from app.sync import repository
from app.sync.models import SyncConflict
from app.sync.push import DELETED_FIELD, invalid_fields


def list_conflicts(*, session: Session, principal: Principal, status: str | None,
                   kelurahan: str | None, limit: int, offset: int) -> tuple[list[SyncConflict], int]:
    stmt = select(SyncConflict)
    if principal.kelurahan_scope is not None:
        stmt = stmt.where(col(SyncConflict.kelurahan_code).in_(sorted(principal.kelurahan_scope)))
    if status:
        stmt = stmt.where(SyncConflict.status == status)
    if kelurahan:
        stmt = stmt.where(SyncConflict.kelurahan_code == kelurahan)
    rows = session.exec(stmt.order_by(col(SyncConflict.created_at), col(SyncConflict.id))
                        .offset(offset).limit(limit + 1)).all()
    return list(rows[:limit]), len(rows)


def get_conflict(*, session: Session, principal: Principal, conflict_id: uuid.UUID,
                 for_update: bool = False) -> SyncConflict:
    conflict = session.get(SyncConflict, conflict_id, with_for_update=for_update)
    if conflict is None:
        raise NotFound(f"conflict {conflict_id} not found")
    if not principal.covers(conflict.kelurahan_code):
        raise OutOfArea("this conflict is outside your area")
    return conflict


def resolve(*, session: Session, principal: Principal, conflict_id: uuid.UUID, choice: str,
            value: Any, value_given: bool, note: str | None, actor: ActorRef) -> SyncConflict:
    conflict = get_conflict(session=session, principal=principal, conflict_id=conflict_id,
                            for_update=True)
    if conflict.status != "open":
        raise Conflict(f"this conflict is already {conflict.status} ({conflict.resolution})")
    if choice == "value" and not value_given:
        raise InvalidData.one("value", "required", "choice 'value' needs a value")
    if choice != "value" and value_given:
        raise InvalidData.one("value", "only_with_value_choice", "value is only read with choice 'value'")
    if conflict.field == DELETED_FIELD:
        resolved = _resolve_delete(session, conflict, choice, principal, actor)
    else:
        resolved = conflict.server_value
        if choice != "server":
            resolved = conflict.device_value if choice == "device" else value
            _write_field(session, conflict, resolved, principal, actor)
    conflict.status, conflict.resolution = "resolved", choice
    conflict.resolved_value = resolved
    conflict.resolved_by, conflict.resolved_at, conflict.note = principal.user_id, utcnow(), note
    session.add(conflict)
    session.flush()
    record(session, actor=actor, action="update", entity_type="sync_conflict",
           entity_id=str(conflict.id), household_id=conflict.household_id,
           changes={"status": ["open", "resolved"], "resolution": [None, choice]})
    return conflict


def _resolve_delete(session: Session, conflict: SyncConflict, choice: str, principal: Principal,
                    actor: ActorRef) -> Any:
    if choice == "value":
        raise InvalidData.one("choice", "choice_for_delete",
                              "a delete conflict is resolved with 'server' or 'device'")
    if choice == "server":
        return conflict.server_value
    if conflict.device_value is not True:  # an edit of a record deleted on the server
        raise InvalidData.one("choice", "restore_unsupported",
                              "the record was deleted on the server; restoring is not supported:"
                              " register it again with the device's values (kept in device_value)")
    found = repository.locate(session, conflict.entity, conflict.entity_id)
    if found is not None and found[0].deleted_at is None:
        if conflict.entity == "household":
            registry.delete_household(session=session, household_id=conflict.entity_id, version=None,
                                      actor=actor, principal=principal)
        else:
            registry.delete_member(session=session, member_id=conflict.entity_id, version=None,
                                   actor=actor, principal=principal)
    return True


def _write_field(session: Session, conflict: SyncConflict, value: Any, principal: Principal,
                 actor: ActorRef) -> None:
    found = repository.locate(session, conflict.entity, conflict.entity_id)
    if found is None or found[0].deleted_at is not None:
        raise Conflict("the record was deleted since: resolve with 'server'")
    row = found[0]
    schema = HouseholdUpdate if conflict.entity == "household" else MemberUpdate
    try:
        data = schema.model_validate({conflict.field: value, "version": row.version})
    except ValidationError as exc:
        raise invalid_fields(exc, prefix="value.") from None
    if conflict.entity == "household":
        registry.update_household(session=session, household_id=row.id, data=data,  # type: ignore[arg-type]
                                  actor=actor, principal=principal)
    else:
        registry.update_member(session=session, member_id=row.id, data=data,  # type: ignore[arg-type]
                               actor=actor, principal=principal)
