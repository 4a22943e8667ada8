"""Table rows -> API models, masking NIK, KK and phone for roles that do not need them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from app.audit.models import AuditEntry
from app.auth.permissions import Principal
from app.db import as_utc
from app.registry import repository, rules
from app.registry.identifiers import mask
from app.registry.models import Household, KkHistory, Member
from app.registry.schemas import (
    HistoryEntry,
    HouseholdHistory,
    HouseholdPublic,
    KkHistoryEntry,
    MemberPublic,
)


def masked_member(member: Member, principal: Principal) -> dict[str, Any]:
    """A member's columns as this role may see them (REST and sync pull alike)."""
    data = member.model_dump()
    data["birth_year"] = member.birth_date.year if member.birth_date else None
    if not principal.full_identifiers:
        # NIK digits 7-12 ARE the birth date: with the full date beside it the mask is void
        data["nik"] = mask(member.nik)
        data["birth_date"] = None
    return data


def masked_household(household: Household, principal: Principal) -> dict[str, Any]:
    """A household's columns as this role may see them (REST and sync pull alike)."""
    data = household.model_dump()
    if not principal.full_identifiers:
        data["kk_number"] = mask(household.kk_number)
        data["phone"] = mask(household.phone)
    return data


def member_public(member: Member, principal: Principal) -> MemberPublic:
    data = masked_member(member, principal)
    data["created_at"] = as_utc(member.created_at)
    data["updated_at"] = as_utc(member.updated_at)
    return MemberPublic.model_validate(data)


def household_public(household: Household, members: Sequence[Member],
                     principal: Principal) -> HouseholdPublic:
    data = masked_household(household, principal)
    warnings = []
    for i, m in enumerate(members):
        warnings += rules.member_warnings({"nik": m.nik}, prefix=f"members[{i}].")
    for key in ("created_at", "updated_at", "deleted_at"):
        data[key] = as_utc(data[key])
    data["kecamatan_code"] = household.kelurahan_code[:8]
    data["members"] = [member_public(m, principal) for m in members]
    data["warnings"] = warnings
    return HouseholdPublic.model_validate(data)


def households_public(session: Session, households: Sequence[Household],
                      principal: Principal) -> list[HouseholdPublic]:
    """One query for all members of the page (no N+1)."""
    members = repository.members_of(session, [h.id for h in households])
    return [household_public(h, members.get(h.id, []), principal) for h in households]


def one_household(session: Session, household: Household, principal: Principal) -> HouseholdPublic:
    return households_public(session, [household], principal)[0]


_IDENTIFIER_FIELDS = frozenset({"nik", "kk_number", "phone"})


def maybe_mask(value: str | None, principal: Principal) -> str | None:
    return value if principal.full_identifiers else mask(value)


def _masked_value(field: str, value: object) -> object:
    if not isinstance(value, str):
        return value
    if field in _IDENTIFIER_FIELDS:
        return mask(value)
    if field == "birth_date":
        return value[:4]  # the year: the full date would unmask the NIK beside it
    return value


def mask_changes(changes: dict[str, list[object]], principal: Principal) -> dict[str, list[object]]:
    """Audit diffs shown to a role without full identifiers: NIK/KK/phone masked, birth
    dates reduced to the year (as in member_public)."""
    if principal.full_identifiers:
        return changes
    return {k: [_masked_value(k, v) for v in pair] for k, pair in changes.items()}


def history_public(household_id: uuid.UUID, entries: Sequence[AuditEntry],
                   kks: Sequence[KkHistory], principal: Principal) -> HouseholdHistory:
    return HouseholdHistory(
        household_id=household_id,
        entries=[HistoryEntry(occurred_at=as_utc(e.occurred_at) or e.occurred_at,
                              actor=e.actor_name, channel=e.channel, action=e.action,
                              entity_type=e.entity_type, entity_id=e.entity_id,
                              changes=mask_changes(e.changes, principal))
                 for e in entries],
        kk_numbers=[KkHistoryEntry(
            kk_number=maybe_mask(k.kk_number, principal) or "",
            valid_from=as_utc(k.valid_from) or k.valid_from, valid_until=as_utc(k.valid_until),
            reason=k.reason) for k in kks])
