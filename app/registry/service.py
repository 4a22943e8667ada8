"""Business rules of the registry: create, update, soft delete, head transfer, history.

Every write goes through here whatever the channel (REST API now; sync, SMS, USSD and
imports later), is validated against the merged record, flushed (never committed) and
audited with a field diff.  Identity rules (one head, one household per NIK and per KK
number) are enforced by partial unique indexes; this module turns a violation into an
error that names the field.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from app import bulk, pii
from app.audit import service as audit
from app.audit.models import AuditEntry
from app.audit.service import ActorRef, diff
from app.auth.permissions import Principal
from app.db import as_utc, utcnow
from app.errors import (
    AppError,
    Conflict,
    DuplicateIdentity,
    FieldProblem,
    Forbidden,
    InvalidData,
    NotFound,
    OutOfArea,
    VersionMismatch,
)
from app.registry import repository, rules, tasks
from app.registry.codes import (
    STATUSES_SETTABLE,
    VERIFICATION_TRANSITIONS,
    SourceChannel,
    VerificationStatus,
)
from app.registry.identifiers import IdentifierInvalid, parse_kk, parse_nik
from app.registry.models import (
    HOUSEHOLD_SYSTEM_FIELDS,
    MEMBER_SYSTEM_FIELDS,
    Household,
    KkHistory,
    Member,
)
from app.registry.schemas import (
    MAX_MEMBERS,
    HouseholdCreate,
    HouseholdUpdate,
    MemberCreate,
    MemberUpdate,
)
from app.sync import changes as changefeed
from app.wilayah import repository as wilayah_repo

log = logging.getLogger("sigap.registry")
_HOUSEHOLD_TABLE = Household.__table__  # type: ignore[attr-defined]
_HOUSEHOLD_COLUMNS = tuple(c.name for c in _HOUSEHOLD_TABLE.columns)
_MEMBER_TABLE = Member.__table__  # type: ignore[attr-defined]
_KK_HISTORY_TABLE = KkHistory.__table__  # type: ignore[attr-defined]
_SOURCES = frozenset(c.value for c in SourceChannel)


def _state(row: SQLModel, exclude: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in row.model_dump().items() if k not in exclude}


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _SCALARS:  # the common case, without hasattr's failed lookup
        return value
    if isinstance(value, Enum):  # the codes: ._value_ is a plain attribute, .value a property
        return value._value_
    return value.value if hasattr(value, "value") else value


def _resolve_kelurahan(session: Session, code: str, principal: Principal, field: str) -> str:
    resolved = wilayah_repo.resolve_kelurahan_code(session, code)
    if resolved is None:
        raise InvalidData.one(field, "kelurahan_exists", f"kelurahan {code!r} does not exist")
    if not principal.covers(resolved):
        raise OutOfArea(f"kelurahan {resolved} is outside your assigned area")
    return resolved


def _load_household(session: Session, household_id: uuid.UUID, principal: Principal,
                    *, for_update: bool = False) -> Household:
    household = repository.get_household(session, household_id, principal.kelurahan_scope,
                                         for_update=for_update)
    if household is not None:
        return household
    if repository.household_exists(session, household_id):
        raise OutOfArea("this household is outside your assigned area")
    raise NotFound(f"household {household_id} not found")


def _load_member(session: Session, member_id: uuid.UUID, principal: Principal
                 ) -> tuple[Member, Household]:
    """The member and its household, both row-locked, the household FIRST.

    Every write path locks in the order household -> member (head transfer and household
    delete lock the household, then touch members), so concurrent writers cannot deadlock.
    """
    found = repository.get_member(session, member_id, principal.kelurahan_scope)
    if found is None:
        if repository.member_exists(session, member_id):
            raise OutOfArea("this member's household is outside your assigned area")
        raise NotFound(f"member {member_id} not found")
    household = _load_household(session, found[1].id, principal, for_update=True)
    member = repository.lock_member(session, member_id)
    if member is None:  # deleted between the two statements
        raise NotFound(f"member {member_id} not found")
    return member, household


def load_household(*, session: Session, household_id: uuid.UUID, principal: Principal) -> Household:
    """One active household in the caller's area (403 outside it, 404 if absent)."""
    return _load_household(session, household_id, principal)


def _check_version(kind: str, current: int, sent: int) -> None:
    if current != sent:
        raise VersionMismatch(
            f"{kind} was changed by someone else (you sent version {sent}, current is {current});"
            " reload it and apply your change again", detail={"current_version": current})


def _raise_if(problems: list[FieldProblem]) -> None:
    if problems:
        raise InvalidData(problems)


NikClaim = tuple[str, str | None, uuid.UUID]  # (field, NIK, member id), captured before writing


def _violated(exc: IntegrityError) -> str:
    """The violated constraint: PostgreSQL names it; SQLite names the columns."""
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None) or str(exc.orig)


_NIK_INDEX = ("uq_member_active_nik", "member.nik_bidx")
_KK_INDEX = ("uq_household_active_kk", "household.kk_bidx")
_HEAD_INDEX = ("uq_member_one_head", "member.household_id")
_PRIMARY_KEYS = ("pk_household", "pk_member", "household.id", "member.id")


def _identity_error(session: Session, exc: IntegrityError, claims: Iterable[NikClaim],
                    principal: Principal) -> AppError:
    """Name the field behind a unique-index violation (its savepoint is already rolled back)."""
    violated = _violated(exc)
    if any(name in violated for name in _NIK_INDEX):
        taken = _nik_taken(session, claims, principal)
        if taken is not None:
            return taken
    if any(name in violated for name in _KK_INDEX):
        return _kk_taken()
    if any(name in violated for name in _HEAD_INDEX):
        return InvalidData.one("members", "one_head", "a household has exactly one head")
    if any(name in violated for name in _PRIMARY_KEYS):
        return Conflict("a record with this id already exists", detail=[FieldProblem(
            field="id", rule="id_unique", message="id already used by another record")])
    log.warning("unmapped integrity error on %s", violated.split("\n")[0])
    return Conflict("the change conflicts with existing data")


def _nik_taken(session: Session, claims: Iterable[NikClaim], principal: Principal) -> AppError | None:
    for field, nik, member_id in claims:
        holder = repository.active_member_holding_nik(session, nik) if nik else None
        if holder is not None and holder.id != member_id:
            where = (f"household {holder.household_id}"
                     if repository.get_household(session, holder.household_id,
                                                 principal.kelurahan_scope) else
                     "a household outside your area")
            return DuplicateIdentity(
                f"{field}: this NIK already belongs to an active member of {where}; a person "
                "is in one household only. The second claim is a case for reconciliation",
                detail=[FieldProblem(field=field, rule="nik_one_active_household",
                                     message="NIK already registered in another household")])
    return None


def _kk_taken() -> AppError:
    return DuplicateIdentity(
        "kk_number: another active household already carries this KK number",
        detail=[FieldProblem(field="kk_number", rule="kk_one_active_household",
                             message="KK number already registered to another household")])


@contextmanager
def _identity_guard(session: Session, *, claims: Iterable[NikClaim], principal: Principal,
                    kk: tuple[str | None, uuid.UUID] | None = None) -> Iterator[None]:
    """Run the writes of the block in a savepoint and flush them there.

    A unique-index violation rolls back only this savepoint, so the transaction stays usable
    to find out who holds the NIK, and the caller gets an error naming the field.  (The
    savepoint must open BEFORE the objects are added: opening one autoflushes.  The claims
    are plain values because the rollback expires the ORM objects.)

    While an index key rotation is under way (two index keys configured), the unique indexes
    hold per key only: the NIK and KK claims (``kk``: the number and its household) are then
    looked up under every key first.
    """
    claims = list(claims)
    if pii.several_index_keys():
        taken = _nik_taken(session, claims, principal)
        if taken is None and kk is not None and kk[0] and \
                repository.active_household_holding_kk(session, kk[0], other_than=kk[1]):
            taken = _kk_taken()
        if taken is not None:
            raise taken
    nested = session.begin_nested()
    try:
        yield
        session.flush()
    except IntegrityError as exc:
        nested.rollback()
        raise _identity_error(session, exc, claims, principal) from None
    except BaseException:
        nested.rollback()
        raise
    nested.commit()


def _check_status_allowed(status: str, principal: Principal) -> None:
    if status not in STATUSES_SETTABLE[principal.role]:
        raise Forbidden(f"role {principal.role.value} may not set verification_status {status}"
                        " (Dukcapil matching is recorded by an admin or the matching import)")


def _check_transition(old: str, new: str) -> None:
    if old != new and VerificationStatus(new) not in VERIFICATION_TRANSITIONS[VerificationStatus(old)]:
        raise InvalidData.one("verification_status", "verification_transition",
                              f"cannot go from {old} to {new}")


def _new_member(household_id: uuid.UUID, data: MemberCreate) -> Member:
    return Member(**_member_row(household_id, data, utcnow()))


def _member_row(household_id: uuid.UUID, data: MemberCreate, now: datetime) -> dict[str, Any]:
    """Every column of a new member (a Core INSERT row, or the fields of an ORM object)."""
    row = {k: _plain(v) for k, v in data.model_dump().items()}
    row.update(id=row["id"] or uuid.uuid4(), household_id=household_id, version=1,
               created_at=now, updated_at=now, deleted_at=None)
    return row


@dataclass
class NewHousehold:
    """A registration checked and turned into rows, not written yet (see write_households)."""

    row: dict[str, Any]              # every column of the household
    members: list[dict[str, Any]]    # every column of each member
    kk_row: dict[str, Any] | None    # its first KK-history row
    audit: list[dict[str, Any]]      # one audit row per household and member
    claims: list[NikClaim]


def prepare_household(*, session: Session, data: HouseholdCreate, actor: ActorRef,
                      principal: Principal) -> NewHousehold:
    """Every rule of a registration that needs no write; raises the first error found."""
    kelurahan = _resolve_kelurahan(session, data.kelurahan_code, principal, "kelurahan_code")
    problems = rules.head_problems([m.relation.value for m in data.members])
    for i, m in enumerate(data.members):
        problems += rules.member_problems(m.model_dump(), prefix=f"members[{i}].")
    _raise_if(problems)

    # the channel an actor writes through is the record's source (api for admin tools)
    source = actor.channel if actor.channel in _SOURCES else SourceChannel.api.value
    default_status = (VerificationStatus.field_verified if source == SourceChannel.enumerator
                      else VerificationStatus.self_reported)
    if data.verification_status is not None:
        _check_status_allowed(data.verification_status.value, principal)
    values = {k: _plain(v) for k, v in data.model_dump(exclude={"members", "id"}).items()}
    values.update(kelurahan_code=kelurahan, source=source,
                  verification_status=_plain(data.verification_status or default_status),
                  address=values.get("address") or "")
    now = utcnow()
    row: dict[str, Any] = dict.fromkeys(_HOUSEHOLD_COLUMNS)
    row.update(values, id=data.id or uuid.uuid4(), created_by=actor.user_id,
               updated_by=actor.user_id, created_at=now, updated_at=now, version=1)
    # Members and the KK-history row go in as Core rows: building ORM objects for them was
    # a third of a registration's cost, and nothing reads them back in this unit of work.
    # Their created_at are a microsecond apart so members list in the order given.
    members = [_member_row(row["id"], m, now + timedelta(microseconds=i))
               for i, m in enumerate(data.members)]
    kk_row = ({"household_id": row["id"], "kk_number": row["kk_number"], "valid_from": now,
               "valid_until": None, "reason": "registered", "recorded_by": actor.user_id}
              if row["kk_number"] else None)
    entries = [
        audit.entry(actor=actor, action="create", entity_type="household",
                    entity_id=str(row["id"]), household_id=row["id"], version=1,
                    changes=audit.created(row, HOUSEHOLD_SYSTEM_FIELDS)),
        *(audit.entry(actor=actor, action="create", entity_type="member",
                      entity_id=str(m["id"]), household_id=row["id"], version=1,
                      changes=audit.created(m, MEMBER_SYSTEM_FIELDS)) for m in members)]
    claims = [(f"members[{i}].nik", m["nik"], m["id"]) for i, m in enumerate(members)]
    return NewHousehold(row=row, members=members, kk_row=kk_row, audit=entries, claims=claims)


def _publish_new(session: Session, new: NewHousehold) -> None:
    changefeed.note(session, entity="household", entity_id=new.row["id"], household_id=new.row["id"],
                    kelurahan_code=new.row["kelurahan_code"], version=1)
    for member in new.members:
        changefeed.note_member(session, member, new.row["kelurahan_code"])


def create_household(*, session: Session, data: HouseholdCreate, actor: ActorRef,
                     principal: Principal) -> Household:
    new = prepare_household(session=session, data=data, actor=actor, principal=principal)
    household = Household(**new.row)
    with _identity_guard(session, claims=new.claims, principal=principal,
                         kk=(new.row["kk_number"], new.row["id"])):
        session.add(household)
        session.flush()  # the household row first: members reference it
        bulk.insert(session, _MEMBER_TABLE, new.members)
        if new.kk_row:
            bulk.insert(session, _KK_HISTORY_TABLE, [new.kk_row])
    audit.write(session, new.audit)
    _publish_new(session, new)
    return household


def write_households(session: Session, batch: list[NewHousehold]) -> None:
    """Write prepared registrations with one statement per table (a sync push's fast path).

    Raises IntegrityError if any identity rule is broken: the caller rolls back its savepoint
    and registers them one by one to find out which (create_household names the field).
    """
    if not batch:
        return
    bulk.insert(session, _HOUSEHOLD_TABLE, [n.row for n in batch])
    bulk.insert(session, _MEMBER_TABLE, [m for n in batch for m in n.members])
    bulk.insert(session, _KK_HISTORY_TABLE, [n.kk_row for n in batch if n.kk_row])
    audit.write(session, [e for n in batch for e in n.audit])
    for new in batch:
        _publish_new(session, new)


PLAIN_HOUSEHOLD_EXCLUDED = frozenset({"kelurahan_code", "kk_number", "kk_change_reason",
                                      "verification_status"})


def apply_plain_changes(*, session: Session, household: Household, changes: dict[str, Any],
                        actor: ActorRef) -> dict[str, Any]:
    """Write validated field changes without side effects to a household already row-locked
    (no kelurahan move, KK number or status change: those need update_household).  Returns
    the audit row, for the caller to write with others in one statement."""
    if PLAIN_HOUSEHOLD_EXCLUDED & set(changes):
        raise ValueError(f"not plain fields: {sorted(PLAIN_HOUSEHOLD_EXCLUDED & set(changes))}")
    before = {k: getattr(household, k) for k in changes}
    for key, value in changes.items():
        setattr(household, key, "" if key == "address" and value is None else value)
    _touch(household, actor)
    changefeed.note_household(session, household)
    return audit.entry(actor=actor, action="update", entity_type="household",
                       entity_id=str(household.id), household_id=household.id,
                       version=household.version,
                       changes=diff(before, {k: getattr(household, k) for k in changes}))


def _touch(row: Household | Member, actor: ActorRef) -> None:
    row.version += 1
    row.updated_at = utcnow()
    if isinstance(row, Household):
        row.updated_by = actor.user_id


def update_household(*, session: Session, household_id: uuid.UUID, data: HouseholdUpdate,
                     actor: ActorRef, principal: Principal) -> Household:
    household = _load_household(session, household_id, principal, for_update=True)
    _check_version("household", household.version, data.version)
    before = _state(household, HOUSEHOLD_SYSTEM_FIELDS)
    changes = {k: _plain(getattr(data, k)) for k in data.model_fields_set
               if k not in {"version", "kk_change_reason"}}
    if "kelurahan_code" in changes:
        if changes["kelurahan_code"] is None:
            raise InvalidData.one("kelurahan_code", "required", "kelurahan_code cannot be empty")
        changes["kelurahan_code"] = _resolve_kelurahan(session, changes["kelurahan_code"],
                                                       principal, "kelurahan_code")
    if "verification_status" in changes:
        if changes["verification_status"] is None:
            raise InvalidData.one("verification_status", "required", "cannot be empty")
        _check_status_allowed(changes["verification_status"], principal)
        _check_transition(household.verification_status, changes["verification_status"])
    if data.kk_change_reason is not None and "kk_number" not in changes:
        raise InvalidData.one("kk_change_reason", "needs_kk_number",
                              "kk_change_reason is only accepted together with a new kk_number")
    if "address" in changes and changes["address"] is None:
        changes["address"] = ""
    after = {**before, **changes}
    if after == before:
        return household
    moved_from = before["kelurahan_code"] if after["kelurahan_code"] != before["kelurahan_code"] else None
    with _identity_guard(session, claims=[], principal=principal,
                         kk=(after.get("kk_number"), household.id)):
        if after.get("kk_number") != before.get("kk_number"):
            _record_kk_change(session, household, after.get("kk_number"), data.kk_change_reason,
                              actor)
        for key, value in changes.items():
            setattr(household, key, value)
        _touch(household, actor)
    audit.record(session, actor=actor, action="update", entity_type="household",
                 entity_id=str(household.id), household_id=household.id,
                 changes=diff(before, after), version=household.version)
    changefeed.note_household(session, household, previous_kelurahan=moved_from)
    if moved_from is not None:  # members and open tasks travel with their household
        for member in repository.members_of(session, [household.id]).get(household.id, []):
            changefeed.note_member(session, member, household.kelurahan_code,
                                previous_kelurahan=moved_from)
        tasks.follow_move(session, household, moved_from)
    if before["verification_status"] == "self_reported" != after["verification_status"]:
        tasks.close_tasks(session, household.id, "done", kind=tasks.VERIFY_LEAD)  # the visit was made
    return household


def _record_kk_change(session: Session, household: Household, new_kk: str | None,
                      reason: str | None, actor: ActorRef) -> None:
    now = utcnow()
    current = repository.open_kk_history(session, household.id)
    if current is not None:
        current.valid_until = now
        session.add(current)
    if new_kk:
        session.add(KkHistory(household_id=household.id, kk_number=new_kk, valid_from=now,
                              reason=reason, recorded_by=actor.user_id))


def delete_household(*, session: Session, household_id: uuid.UUID, version: int | None,
                     actor: ActorRef, principal: Principal) -> None:
    household = _load_household(session, household_id, principal, for_update=True)
    if version is not None:
        _check_version("household", household.version, version)
    now = utcnow()
    entries = []
    for member in repository.members_of(session, [household.id]).get(household.id, []):
        member.deleted_at = now
        _touch(member, actor)
        session.add(member)
        entries.append(audit.entry(actor=actor, action="delete", entity_type="member",
                                   entity_id=str(member.id), household_id=household.id,
                                   changes={"deleted_at": [None, now.isoformat()]},
                                   version=member.version))
        changefeed.note_member(session, member, household.kelurahan_code)
    household.deleted_at = now
    _touch(household, actor)
    session.add(household)
    current = repository.open_kk_history(session, household.id)
    if current is not None:
        current.valid_until = now
        session.add(current)
    session.flush()
    entries.append(audit.entry(actor=actor, action="delete", entity_type="household",
                               entity_id=str(household.id), household_id=household.id,
                               changes={"deleted_at": [None, now.isoformat()]},
                               version=household.version))
    audit.write(session, entries)
    changefeed.note_household(session, household)
    tasks.close_tasks(session, household.id, "cancelled")


def _members_after(session: Session, household: Household, changed: Member | None = None,
                   removed: uuid.UUID | None = None) -> list[Member]:
    current = repository.members_of(session, [household.id]).get(household.id, [])
    out = [m for m in current if m.id != removed and (changed is None or m.id != changed.id)]
    if changed is not None:
        out.append(changed)
    return out


def add_member(*, session: Session, household_id: uuid.UUID, data: MemberCreate,
               actor: ActorRef, principal: Principal) -> Member:
    household = _load_household(session, household_id, principal, for_update=True)
    member = _new_member(household.id, data)
    after = _members_after(session, household, member)
    problems = rules.member_problems(member.model_dump())
    problems += rules.head_problems([m.relation for m in after], field="relation")
    if len(after) > MAX_MEMBERS:
        problems.append(FieldProblem(field="members", rule="too_long",
                                     message=f"a household has at most {MAX_MEMBERS} members"))
    _raise_if(problems)
    with _identity_guard(session, claims=[("nik", member.nik, member.id)], principal=principal):
        session.add(member)
        household.updated_at = utcnow()
        session.add(household)
    audit.record(session, actor=actor, action="create", entity_type="member", entity_id=str(member.id),
                 household_id=household.id, changes=diff({}, _state(member, MEMBER_SYSTEM_FIELDS)),
                 version=member.version)
    changefeed.note_member(session, member, household.kelurahan_code)
    return member


def update_member(*, session: Session, member_id: uuid.UUID, data: MemberUpdate,
                  actor: ActorRef, principal: Principal) -> Member:
    member, household = _load_member(session, member_id, principal)
    _check_version("member", member.version, data.version)
    before = _state(member, MEMBER_SYSTEM_FIELDS)
    changes = {k: _plain(getattr(data, k)) for k in data.model_fields_set if k != "version"}
    for required in ("full_name", "sex", "relation", "alive"):
        if required in changes and changes[required] is None:
            raise InvalidData.one(required, "required", f"{required} cannot be empty")
    after = {**before, **changes}
    problems = rules.member_problems(after)
    if after["relation"] != before["relation"]:
        relations = [m.relation for m in _members_after(session, household) if m.id != member.id]
        problems += rules.head_problems([*relations, after["relation"]], field="relation")
    _raise_if(problems)
    if after == before:
        return member
    with _identity_guard(session, claims=[("nik", after["nik"], member.id)], principal=principal):
        for key, value in changes.items():
            setattr(member, key, value)
        _touch(member, actor)
        household.updated_at = utcnow()
        session.add_all([member, household])
    audit.record(session, actor=actor, action="update", entity_type="member", entity_id=str(member.id),
                 household_id=household.id, changes=diff(before, after), version=member.version)
    changefeed.note_member(session, member, household.kelurahan_code)
    return member


def delete_member(*, session: Session, member_id: uuid.UUID, version: int | None,
                  actor: ActorRef, principal: Principal) -> None:
    member, household = _load_member(session, member_id, principal)
    if version is not None:
        _check_version("member", member.version, version)
    if member.relation == "head":
        raise InvalidData.one("relation", "one_head",
                              "cannot remove the head: transfer the head role first")
    member.deleted_at = utcnow()
    _touch(member, actor)
    household.updated_at = member.updated_at
    session.add_all([member, household])
    session.flush()
    audit.record(session, actor=actor, action="delete", entity_type="member", entity_id=str(member.id),
                 household_id=household.id, changes={"deleted_at": [None, member.deleted_at.isoformat()]},
                 version=member.version)
    changefeed.note_member(session, member, household.kelurahan_code)


def transfer_head(*, session: Session, household_id: uuid.UUID, new_head_id: uuid.UUID,
                  previous_head_relation: str, actor: ActorRef, principal: Principal) -> Household:
    """Make another member the head in one step (e.g. when the head has died)."""
    household = _load_household(session, household_id, principal, for_update=True)
    members = {m.id: m for m in _members_after(session, household)}
    new_head = members.get(new_head_id)
    if new_head is None:
        raise InvalidData.one("member_id", "member_of_household",
                              "member_id is not an active member of this household")
    if new_head.relation == "head":
        return household
    if previous_head_relation == "head":
        raise InvalidData.one("previous_head_relation", "one_head",
                              "the previous head needs a relation other than head")
    old_head = next((m for m in members.values() if m.relation == "head"), None)
    if old_head is None:  # only reachable through data damaged outside the API
        raise Conflict("this household has no head to hand over from")
    for member, relation in ((old_head, previous_head_relation), (new_head, "head")):
        before = member.relation
        member.relation = relation
        _touch(member, actor)
        session.add(member)
        # demote first: the one-head index is checked row by row
        session.flush()
        audit.record(session, actor=actor, action="update", entity_type="member",
                     entity_id=str(member.id), household_id=household.id,
                     changes={"relation": [before, relation]}, version=member.version)
        changefeed.note_member(session, member, household.kelurahan_code)
    household.updated_at = utcnow()
    session.add(household)
    session.flush()
    return household


def list_page(*, session: Session, filters: repository.HouseholdFilter, principal: Principal,
              after: tuple[datetime, uuid.UUID] | None, size: int) -> tuple[list[Household], bool]:
    """One keyset page in the caller's area, and whether another page follows."""
    rows = repository.list_households(session, filters=filters, scope=principal.kelurahan_scope,
                                      after=after, limit=size + 1)
    return rows[:size], len(rows) > size


def household_history(*, session: Session, household_id: uuid.UUID, principal: Principal
                      ) -> tuple[list[AuditEntry], list[KkHistory]]:
    if repository.get_household(session, household_id, principal.kelurahan_scope,
                                include_deleted=True) is None:
        _load_household(session, household_id, principal)  # raises 403 or 404
    return (repository.audit_of_household(session, household_id),
            repository.kk_history(session, household_id))


def build_filter(*, session: Session, kecamatan: str | None, kelurahan: str | None,
                 verification_status: str | None, source: str | None,
                 updated_since: datetime | None, member_nik: str | None,
                 kk_number: str | None) -> repository.HouseholdFilter:
    """Turn list/export query parameters into a filter, naming the parameter that is wrong."""
    kec_code = kel_code = None
    if kecamatan is not None:
        kec_code = wilayah_repo.resolve_kecamatan_code(session, kecamatan)
        if kec_code is None:
            raise InvalidData.one("kecamatan", "kecamatan_exists",
                                  f"kecamatan {kecamatan!r} does not exist")
    if kelurahan is not None:
        kel_code = wilayah_repo.resolve_kelurahan_code(session, kelurahan)
        if kel_code is None:
            raise InvalidData.one("kelurahan", "kelurahan_exists",
                                  f"kelurahan {kelurahan!r} does not exist")
    return repository.HouseholdFilter(
        kecamatan_code=kec_code, kelurahan_code=kel_code,
        verification_status=verification_status, source=source,
        updated_since=as_utc(updated_since),
        member_nik=checked_identifier(member_nik, "member_nik", kind="nik"),
        kk_number=checked_identifier(kk_number, "kk_number", kind="kk"))


def checked_identifier(value: str | None, field: str, *, kind: str) -> str | None:
    """A NIK or KK from a query parameter, normalised, or a 422 naming ``field``."""
    if value is None:
        return None
    try:
        return parse_nik(value).nik if kind == "nik" else parse_kk(value)
    except IdentifierInvalid as exc:
        raise InvalidData.one(field, exc.problem.rule, exc.problem.message) from None
