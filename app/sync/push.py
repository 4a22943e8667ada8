"""Processing a push: idempotent per (device, seq), per-field merge, conflicts recorded.

Each mutation is claimed in the ledger by its primary key, then applied inside its own
savepoint through the registry service (the same validation and audit as the REST API).
A mutation that fails is rolled back alone and its rejection is stored, so a replay of
the batch answers exactly as the first time.  Nothing here commits: the request's
transaction commits the whole batch before the response is sent.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app import pii
from app.audit import service as audit
from app.audit.service import ActorRef
from app.auth.permissions import Principal
from app.db import utcnow
from app.errors import AppError, FieldProblem, InvalidData, NotFound, OutOfArea, validation_problems
from app.media import service as media
from app.registry import service as registry
from app.registry.codes import VerificationStatus
from app.registry.models import HOUSEHOLD_SYSTEM_FIELDS, MEMBER_SYSTEM_FIELDS, Household, Member
from app.registry.schemas import HouseholdCreate, HouseholdUpdate, MemberCreate, MemberUpdate
from app.sync import changes as changefeed
from app.sync import repository
from app.sync.models import Device, SyncConflict
from sync_protocol.merge import FieldDecision, FieldPolicies, MergeContext, MergeResult, Policy, merge_fields
from sync_protocol.messages import (
    EntityType,
    FieldConflict,
    Mutation,
    MutationResult,
    Operation,
    Outcome,
    Problem,
    PushResponse,
    Resolution,
)

DELETED_FIELD = "_deleted"  # pseudo-field of delete-versus-edit conflicts


@dataclass
class PushContext:
    session: Session
    principal: Principal
    actor: ActorRef
    device: Device
    policies: FieldPolicies
    rejected_creates: dict[uuid.UUID, int] = field(default_factory=dict)  # id -> seq, this batch


class Rejected(AppError):
    """A mutation-level refusal that is not a registry error (status chosen per case)."""

    def __init__(self, status: int, rule: str, field_name: str, message: str) -> None:
        super().__init__(message, detail=[FieldProblem(field=field_name, rule=rule, message=message)])
        self.status_code = status


def content_hash(m: Mutation) -> str:
    canonical = json.dumps(m.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def push(ctx: PushContext, mutations: list[Mutation]) -> PushResponse:
    """Claim the batch in the ledger, apply it in seq order, store every result."""
    session, device_id = ctx.session, ctx.device.id
    ordered = sorted(mutations, key=lambda m: m.seq)
    digests = [content_hash(m) for m in ordered]
    first_index: dict[int, int] = {}
    for i, m in enumerate(ordered):
        first_index.setdefault(m.seq, i)
    now = utcnow()
    claimed = repository.claim_mutations(session, [
        {"device_id": device_id, "seq": m.seq, "content_hash": digests[i], "entity": m.entity.value,
         "entity_id": m.id, "outcome": "processing", "result": {}, "received_at": now}
        for i, m in enumerate(ordered) if first_index[m.seq] == i])
    stored = repository.ledger_entries(session, device_id, {m.seq for m in ordered} - claimed)
    results: dict[int, MutationResult] = {}
    todo: list[tuple[int, Mutation]] = []
    for i, m in enumerate(ordered):
        if first_index[m.seq] != i:
            continue  # a seq repeated inside this batch: answered after the first one below
        if m.seq in claimed:
            todo.append((i, m))
        else:
            results[i] = _replay(m, digests[i], stored[m.seq].content_hash,
                                 stored[m.seq].result, stored[m.seq].entity, str(stored[m.seq].entity_id))
    for kind, run in _runs(todo):
        if kind == "create":
            _bulk_create(ctx, run, results)
        elif kind == "update":
            _bulk_update(ctx, run, results)
        else:
            for i, m in run:
                results[i] = _apply_one(ctx, m)
    repository.record_results(session, device_id, [
        (m.seq, results[i].outcome.value, results[i].model_dump(mode="json")) for i, m in todo])
    for i, m in enumerate(ordered):
        if i not in results:
            first = first_index[m.seq]
            results[i] = _replay(m, digests[i], digests[first], results[first].model_dump(mode="json"),
                                 ordered[first].entity.value, str(ordered[first].id))
    ctx.device.last_push_at = now
    session.add(ctx.device)
    return PushResponse(results=[results[i] for i in range(len(ordered))], server_time=utcnow())


def _replay(m: Mutation, digest: str, stored_digest: str, stored: dict[str, Any], entity: str,
            entity_id: str) -> MutationResult:
    if stored_digest != digest:
        return _result(m, Outcome.rejected, status=409, problems=[Problem(
            field="seq", rule="seq_reused",
            message=f"seq {m.seq} was already used by this device for a different mutation "
                    f"({entity} {entity_id}); every edit needs a new seq")])
    original = MutationResult.model_validate(stored)
    return original.model_copy(update={"outcome": Outcome.duplicate,
                                       "original_outcome": original.outcome})


def _kind(m: Mutation) -> str:
    if m.entity is not EntityType.household:
        return "one"
    if m.op is Operation.create:
        return "create"
    if (m.op is Operation.update and m.base_version is not None and m.fields
            and not registry.PLAIN_HOUSEHOLD_EXCLUDED & set(m.fields)):  # side effects: one by one
        return "update"
    return "one"


def _runs(todo: list[tuple[int, Mutation]]) -> list[tuple[str, list[tuple[int, Mutation]]]]:
    """Consecutive mutations of one fast kind, each record at most once per run.

    Within a run the mutations touch different records, so applying them together gives
    what applying them in seq order would; a record's second mutation starts a new run.
    """
    runs: list[tuple[str, list[tuple[int, Mutation]]]] = []
    seen: set[uuid.UUID] = set()
    for i, m in todo:
        kind = _kind(m)
        if kind != "one" and runs and runs[-1][0] == kind and m.id not in seen:
            runs[-1][1].append((i, m))
            seen.add(m.id)
            continue
        runs.append((kind, [(i, m)]))
        seen = {m.id}
    return runs


def _apply_one(ctx: PushContext, m: Mutation) -> MutationResult:
    """One mutation in its own savepoint: a failure rolls back that mutation alone."""
    session = ctx.session
    saved = changefeed.checkpoint(session)
    nested = session.begin_nested()
    try:
        result = _apply(ctx, m)
        nested.commit()
    except AppError as exc:
        nested.rollback()
        changefeed.restore(session, saved)
        result = _rejection(m, exc)
        if m.op is Operation.create:
            ctx.rejected_creates[m.id] = m.seq
    return result


def _bulk_create(ctx: PushContext, run: list[tuple[int, Mutation]],
                 results: dict[int, MutationResult]) -> None:
    """Household registrations checked one by one, written with one statement per table.

    If the database refuses the batch (a NIK or KK number already taken, also by another
    registration of the same batch), it is redone one registration at a time so that each
    refusal names its field.
    """
    prepared: list[tuple[int, Mutation, registry.NewHousehold]] = []
    for i, m in run:
        try:
            data = _household_create(m)
            prepared.append((i, m, registry.prepare_household(
                session=ctx.session, data=data, actor=ctx.actor, principal=ctx.principal)))
        except AppError as exc:
            results[i] = _rejection(m, exc)
            ctx.rejected_creates[m.id] = m.seq
    if pii.several_index_keys():  # an index key rotation: each claim is checked under every key
        for i, m, _ in prepared:
            results[i] = _apply_one(ctx, m)
        return
    saved = changefeed.checkpoint(ctx.session)
    nested = ctx.session.begin_nested()
    try:
        registry.write_households(ctx.session, [new for _, _, new in prepared])
        nested.commit()
    except IntegrityError:
        nested.rollback()
        changefeed.restore(ctx.session, saved)
        for i, m, _ in prepared:
            results[i] = _apply_one(ctx, m)
        return
    for i, m, _ in prepared:
        results[i] = _result(m, Outcome.applied, version=1, status=201)


def _bulk_update(ctx: PushContext, run: list[tuple[int, Mutation]],
                 results: dict[int, MutationResult]) -> None:
    """Plain field updates of households: one locking read, one history read, one flush."""
    session = ctx.session
    rows = repository.lock_households(session, [m.id for _, m in run])
    history = repository.field_history(session, "household", [m.id for _, m in run],
                                       min(m.base_version or 0 for _, m in run))
    entries: list[dict[str, Any]] = []
    for i, m in run:
        row = rows.get(m.id)
        if row is None or row.deleted_at is not None:
            results[i] = _apply_one(ctx, m)  # not found, or the edit-versus-delete conflict
            continue
        try:
            results[i], entry = _merge_update(ctx, m, row, history.get(str(m.id), []))
        except AppError as exc:
            results[i] = _rejection(m, exc)
            continue
        if entry is not None:
            entries.append(entry)
    session.flush()
    audit.write(session, entries)


def _merge_update(ctx: PushContext, m: Mutation, row: Household,
                  history: list[tuple[int, str | None, dict[str, Any]]]
                  ) -> tuple[MutationResult, dict[str, Any] | None]:
    assert m.base_version is not None
    _check_row(ctx, m, row, row)
    device, parsed = _device_values(m, row)
    merge = _merge(ctx, m, row, row, device,
                   repository.changed_fields(history, m.base_version, ctx.device.id))
    conflicts = _conflict_rows(ctx, m, row, row, merge, flush=False)
    entry = None
    if merge.apply:
        entry = registry.apply_plain_changes(session=ctx.session, household=row, actor=ctx.actor,
                                             changes={k: parsed[k] for k in merge.apply})
    return _result(m, merge.outcome, version=row.version, merged_fields=merge.merged_fields,
                   conflicts=conflicts), entry


def _result(m: Mutation, outcome: Outcome, **kw: Any) -> MutationResult:
    return MutationResult(seq=m.seq, entity=m.entity, id=m.id, outcome=outcome, **kw)


def _rejection(m: Mutation, exc: AppError) -> MutationResult:
    detail = exc.detail if isinstance(exc.detail, list) else []
    problems = [Problem(**(p.model_dump() if isinstance(p, BaseModel) else p)) for p in detail]
    if not problems:
        problems = [Problem(field="id", rule=exc.code, message=exc.message)]
    return _result(m, Outcome.rejected, status=exc.status_code, message=exc.message,
                   problems=problems)


def invalid_fields(exc: ValidationError, prefix: str = "fields.") -> InvalidData:
    problems = validation_problems(RequestValidationError(exc.errors()))
    return InvalidData([p.model_copy(update={"field": prefix + p.field}) for p in problems])


def _validate(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_fields(exc) from None


def _apply(ctx: PushContext, m: Mutation) -> MutationResult:
    if m.entity is EntityType.media:
        return _apply_media(ctx, m)
    if m.op is Operation.create:
        return _create(ctx, m)
    if m.base_version is None:
        raise Rejected(422, "required", "base_version", f"base_version is required for {m.op.value}")
    if m.op is Operation.update:
        return _update(ctx, m)
    if m.fields:
        raise Rejected(422, "empty_for_delete", "fields", "a delete carries no fields")
    return _delete(ctx, m)


# --- create ----------------------------------------------------------------------------------

def _check_own_id(m: Mutation) -> None:
    if "id" in m.fields and str(m.fields["id"]) != str(m.id):
        raise Rejected(422, "id_matches", "fields.id", "fields.id differs from the mutation id")


def _household_create(m: Mutation) -> HouseholdCreate:
    _check_own_id(m)
    if m.household_id not in (None, m.id):
        raise Rejected(422, "id_matches", "household_id", "a household's household_id is its id")
    data: HouseholdCreate = _validate(HouseholdCreate, {**m.fields, "id": str(m.id)})
    return data


def _create(ctx: PushContext, m: Mutation) -> MutationResult:
    if m.entity is EntityType.household:
        household = registry.create_household(session=ctx.session, data=_household_create(m),
                                              actor=ctx.actor, principal=ctx.principal)
        return _result(m, Outcome.applied, version=household.version, status=201)
    _check_own_id(m)
    if m.household_id is None:
        raise Rejected(422, "required", "household_id", "a member create needs household_id")
    data = _validate(MemberCreate, {**m.fields, "id": str(m.id)})
    _check_parent(ctx, m.household_id)
    member = registry.add_member(session=ctx.session, household_id=m.household_id, data=data,
                                 actor=ctx.actor, principal=ctx.principal)
    return _result(m, Outcome.applied, version=member.version, status=201)


def _check_parent(ctx: PushContext, household_id: uuid.UUID) -> None:
    """A record whose household's create was rejected is rejected too, saying so."""
    seq = ctx.rejected_creates.get(household_id)
    if seq is None and repository.locate(ctx.session, "household", household_id) is None:
        seq = repository.rejected_create(ctx.session, ctx.device.id, "household", household_id)
    if seq is not None:
        raise Rejected(422, "depends_on_rejected", "household_id",
                       f"household {household_id} was not created: mutation seq {seq} was rejected")


# --- update and delete -------------------------------------------------------------------------

def _current(ctx: PushContext, m: Mutation) -> tuple[Household | Member, Household]:
    found = repository.locate(ctx.session, m.entity.value, m.id)
    if found is None:
        raise NotFound(f"{m.entity.value} {m.id} not found")
    row, household = found
    _check_row(ctx, m, row, household)
    return row, household


def _check_row(ctx: PushContext, m: Mutation, row: Household | Member, household: Household) -> None:
    """In the device's area, and not edited on a version the server never had."""
    if not ctx.principal.covers(household.kelurahan_code):
        raise OutOfArea(f"this {m.entity.value} is outside your assigned area")
    assert m.base_version is not None
    if m.base_version > row.version:
        raise Rejected(422, "base_version_future", "base_version",
                       f"base_version {m.base_version} is newer than the server's version {row.version}")


def _server_state(row: Household | Member, names: Iterable[str]) -> dict[str, Any]:
    """The server's current values of these fields, as JSON (only what the merge compares)."""
    skip = HOUSEHOLD_SYSTEM_FIELDS if isinstance(row, Household) else MEMBER_SYSTEM_FIELDS
    return {k: audit.jsonable(getattr(row, k)) for k in names if k not in skip}


def _device_values(m: Mutation, row: Household | Member) -> tuple[dict[str, Any], dict[str, Any]]:
    """The device's changed fields, validated: (as JSON, to compare; as Python, to store)."""
    schema = HouseholdUpdate if isinstance(row, Household) else MemberUpdate
    if "version" in m.fields:
        raise Rejected(422, "extra_forbidden", "fields.version", "version is not a field: use base_version")
    parsed = _validate(schema, {**m.fields, "version": 1})
    python = {k: getattr(getattr(parsed, k), "value", getattr(parsed, k)) for k in m.fields}
    return {k: audit.jsonable(v) for k, v in python.items()}, python


def _visit(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _merge(ctx: PushContext, m: Mutation, row: Household | Member, household: Household,
           device: dict[str, Any], changed: set[str]) -> MergeResult:
    device = {k: v for k, v in device.items() if k != "kk_change_reason"}
    device_visit = _visit(device.get("survey_date")) or (m.recorded_at.date() if m.recorded_at else None)
    return merge_fields(
        entity=m.entity.value, device=device, server=_server_state(row, device), changed_on_server=changed,
        policies=ctx.policies, context=MergeContext(
            server_verified=household.verification_status == VerificationStatus.dukcapil_matched,
            device_visit=device_visit, server_visit=household.survey_date))


def _conflict_rows(ctx: PushContext, m: Mutation, row: Household | Member, household: Household,
                   merge: MergeResult, *, flush: bool = True) -> list[FieldConflict]:
    """Keep both values of every same-field conflict, whatever the policy decided."""
    out = []
    for d in merge.decisions:
        pending = d.resolution is Resolution.pending_review
        conflict = SyncConflict(
            entity=m.entity.value, entity_id=m.id, household_id=household.id,
            kelurahan_code=household.kelurahan_code, field=d.field, policy=d.policy.value,
            base_version=m.base_version, server_version=row.version, server_value=d.server_value,
            device_value=d.device_value, device_id=ctx.device.id, mutation_seq=m.seq,
            submitted_by=ctx.principal.user_id, status="open" if pending else "auto_resolved",
            resolution=None if pending else
            ("device" if d.resolution is Resolution.device_applied else "server"))
        ctx.session.add(conflict)
        out.append(FieldConflict(conflict_id=conflict.id, field=d.field, server_value=d.server_value,
                                 device_value=d.device_value, policy=d.policy.value,
                                 resolution=d.resolution))
    if flush and out:
        ctx.session.flush()
    return out


def _review(ctx: PushContext, m: Mutation, row: Household | Member, household: Household,
            server_value: Any, device_value: Any, message: str) -> MutationResult:
    """A delete-versus-edit conflict: always a supervisor's decision."""
    merge = MergeResult(decisions=[FieldDecision(field=DELETED_FIELD, server_value=server_value,
                                                 device_value=device_value, policy=Policy.review,
                                                 resolution=Resolution.pending_review)])
    conflicts = _conflict_rows(ctx, m, row, household, merge)
    return _result(m, Outcome.conflict, version=row.version, status=409, conflicts=conflicts,
                   message=message)


def _update(ctx: PushContext, m: Mutation) -> MutationResult:
    row, household = _current(ctx, m)
    assert m.base_version is not None
    device, _ = _device_values(m, row)
    if row.deleted_at is not None:
        return _review(ctx, m, row, household, True, device,
                       "edited a record that was deleted on the server: a supervisor decides")
    reason = device.get("kk_change_reason")
    changed = repository.fields_changed_since(ctx.session, m.entity.value, m.id, m.base_version,
                                              ctx.device.id)
    merge = _merge(ctx, m, row, household, device, changed)
    conflicts = _conflict_rows(ctx, m, row, household, merge)
    version = row.version
    if merge.apply:
        if isinstance(row, Household):
            if reason is not None and "kk_number" in merge.apply:
                merge.apply["kk_change_reason"] = reason
            updated: Household | Member = registry.update_household(
                session=ctx.session, household_id=row.id,
                data=_validate(HouseholdUpdate, {**merge.apply, "version": row.version}),
                actor=ctx.actor, principal=ctx.principal)
        else:
            updated = registry.update_member(
                session=ctx.session, member_id=row.id,
                data=_validate(MemberUpdate, {**merge.apply, "version": row.version}),
                actor=ctx.actor, principal=ctx.principal)
        version = updated.version
    return _result(m, merge.outcome, version=version, merged_fields=merge.merged_fields,
                   conflicts=conflicts)


def _delete(ctx: PushContext, m: Mutation) -> MutationResult:
    row, household = _current(ctx, m)
    assert m.base_version is not None
    if row.deleted_at is not None:
        return _result(m, Outcome.applied, version=row.version, message="already deleted")
    changed = repository.fields_changed_since(ctx.session, m.entity.value, m.id, m.base_version,
                                              ctx.device.id)
    if changed:
        server = _server_state(row, changed)
        return _review(ctx, m, row, household, {k: server.get(k) for k in sorted(changed)}, True,
                       "deleted a record that was edited on the server: a supervisor decides")
    if isinstance(row, Household):
        registry.delete_household(session=ctx.session, household_id=row.id, version=None,
                                  actor=ctx.actor, principal=ctx.principal)
    else:
        registry.delete_member(session=ctx.session, member_id=row.id, version=None,
                               actor=ctx.actor, principal=ctx.principal)
    return _result(m, Outcome.applied, version=row.version)


_MEDIA_FIELDS = frozenset({"sha256", "kind"})


def _apply_media(ctx: PushContext, m: Mutation) -> MutationResult:
    """Attach an uploaded file (tus, /sync/v1/media) to a household, or detach it."""
    if m.op is Operation.update:
        raise Rejected(422, "not_supported", "op", "a media link is created or deleted, not updated")
    if m.op is Operation.delete:
        media.unlink_media(session=ctx.session, link_id=m.id, actor=ctx.actor, principal=ctx.principal)
        return _result(m, Outcome.applied, version=1)
    unknown = sorted(set(m.fields) - _MEDIA_FIELDS)
    if unknown:
        raise Rejected(422, "extra_forbidden", f"fields.{unknown[0]}", "unknown field")
    if m.household_id is None:
        raise Rejected(422, "required", "household_id", "a media link needs household_id")
    for name in sorted(_MEDIA_FIELDS):
        if not isinstance(m.fields.get(name), str):
            raise Rejected(422, "required", f"fields.{name}", f"{name} is required (a string)")
    _check_parent(ctx, m.household_id)
    media.link_media(session=ctx.session, link_id=m.id, household_id=m.household_id,
                     sha256=m.fields["sha256"], kind=m.fields["kind"], actor=ctx.actor,
                     principal=ctx.principal)
    return _result(m, Outcome.applied, version=1, status=201)
