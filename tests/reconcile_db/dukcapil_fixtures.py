"""Generated Dukcapil extracts for the tests: the registry's own members written back as
Dukcapil would hold them, with deliberate mismatches. No hand-typed personal data."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from app.audit.service import ActorRef
from app.auth.models import Role
from app.auth.permissions import Principal
from app.reconcile.dukcapil import ExtractFileAdapter
from app.reconcile.dukcapil_extract import DukcapilPerson, write_extract
from app.registry import service as registry
from app.registry.models import Household, Member
from app.registry.schemas import HouseholdCreate

ENUMERATOR = ActorRef(user_id=None, name="enum-test", channel="enumerator")  # -> field_verified
SMS = ActorRef(user_id=None, name="sms-test", channel="sms")                 # -> self_reported
PRINCIPAL = Principal(user_id=0, username="test", role=Role.admin, kelurahan_scope=None,
                      full_identifiers=True)
# what a mismatch does to Dukcapil's copy of a member
MISMATCHES = ("unknown", "name", "birth_date", "sex", "deceased", "old_spelling")


def register(session: Session, data: dict[str, Any], *, actor: ActorRef = ENUMERATOR) -> Household:
    return registry.create_household(session=session, data=HouseholdCreate.model_validate(data),
                                     actor=actor, principal=PRINCIPAL)


def members_of(session: Session, household_id: uuid.UUID) -> list[Member]:
    stmt = (select(Member).where(Member.household_id == household_id, col(Member.deleted_at).is_(None))
            .order_by(col(Member.created_at)))
    return list(session.exec(stmt.execution_options(populate_existing=True)))


def as_dukcapil(member: Member, kk: str | None, mismatch: str | None = None) -> DukcapilPerson | None:
    """Dukcapil's record of a registry member, optionally with one deliberate mismatch."""
    assert member.nik and member.birth_date
    person = DukcapilPerson(nik=member.nik, full_name=member.full_name.upper(),
                            birth_date=member.birth_date, sex=member.sex, kk_number=kk,
                            birth_place="TERNATE")
    match mismatch:
        case None:
            return person
        case "unknown":
            return None
        case "name":
            return dataclasses.replace(person, full_name="RIDWAN KAMARULLAH")
        case "birth_date":
            return dataclasses.replace(person, birth_date=person.birth_date + timedelta(days=365))
        case "sex":
            return dataclasses.replace(person, sex="female" if person.sex == "male" else "male")
        case "deceased":
            return dataclasses.replace(person, deceased=True, death_date=date(2025, 3, 1))
        case "old_spelling":  # the registry has the old spelling; Dukcapil the EYD one
            return dataclasses.replace(person, full_name="MUHAMMAD YUSUF")
    raise ValueError(mismatch)


def extract_persons(session: Session, household_ids: Iterable[uuid.UUID],
                    mismatches: Mapping[uuid.UUID, str] | None = None) -> list[DukcapilPerson]:
    """Dukcapil's view of these households' members with NIKs; ``mismatches``: member id -> kind."""
    mismatches = mismatches or {}
    out = []
    for hid in household_ids:
        kk = session.get(Household, hid).kk_number  # type: ignore[union-attr]
        for m in members_of(session, hid):
            if m.nik:
                person = as_dukcapil(m, kk, mismatches.get(m.id))
                if person is not None:
                    out.append(person)
    return out


def adapter_for(session: Session, household_ids: Iterable[uuid.UUID],
                mismatches: Mapping[uuid.UUID, str] | None = None) -> ExtractFileAdapter:
    return ExtractFileAdapter(extract_persons(session, household_ids, mismatches), source="test-extract")


def write_extract_for(path: Path, session: Session, household_ids: Iterable[uuid.UUID],
                      mismatches: Mapping[uuid.UUID, str] | None = None) -> Path:
    write_extract(path, extract_persons(session, household_ids, mismatches))
    return path
