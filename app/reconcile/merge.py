"""Merging two household records of one family into a golden record, and undoing it.

One record survives (``choose_survivor``: Dukcapil-matched over field-verified over
self-reported, then the latest field visit, then the older record); the other is merged
into it and becomes inactive (``merged_into_id`` set, ``deleted_at`` set: a CHECK in the
database keeps the two together, so no query of active records can see it).

Survivorship, field by field (``HOUSEHOLD_RULES``, ``MEMBER_IDENTITY``):
- identity (KK, kelurahan, address, RT/RW, phone, coordinates): the survivor's value;
- housing observations, assets, programmes received: the household with the latest field
  visit (``survey_date``);
- a person's identity (NIK, name, sex, birth place and date): the record Dukcapil matched,
  otherwise the survivor's; a person's other answers follow the latest visit;
- an empty value is always filled from the other record.

Nothing is dropped without history: ``merge_record.before`` holds both households and all
their members as they were, ``merge_record.changes`` every value written and every value
not taken (``rule`` ``kept_survivor`` / ``kept_latest_visit``, with the other value), and
the audit trail of both records says what the merge did. Members of the merged household
not joined to a survivor member move to the survivor household, as do its open field tasks,
its residents' SMS/USSD contacts, its photos, its open appeals (sanggah) and its rows in the
programmes' recipient lists.

``unmerge`` restores both records: every value the merge wrote goes back unless it was
edited since (then the edit stays and is listed in ``undo_kept``), the merged household and
its members become active again, moved members, tasks, contacts and photos go back, and the
candidate is marked ``distinct`` so the worker does not merge the pair again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, get_args

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.appeals.models import Appeal
from app.audit import service as audit
from app.audit.service import ActorRef, jsonable
from app.channels.models import Contact
from app.db import as_utc, utcnow
from app.eligibility.store import ProgrammeRecipient
from app.errors import Conflict, NotFound
from app.media.models import MediaLink
from app.reconcile.store import DukcapilCheck, MatchCandidate, MergeRecord
from app.registry.models import (
    HOUSEHOLD_SYSTEM_FIELDS,
    MEMBER_SYSTEM_FIELDS,
    FieldTask,
    Household,
    KkHistory,
    Member,
)
from app.sync import changes as changefeed

_RANK = {"dukcapil_matched": 3, "field_verified": 2, "self_reported": 1, "rejected": 0}
HOUSEHOLD_IDENTITY = ("kk_number", "kelurahan_code", "address", "rt", "rw", "phone",
                      "latitude", "longitude")
_HOUSEHOLD_OWN = frozenset({"source", "verification_status"})  # the survivor's, never mixed
MEMBER_IDENTITY = ("nik", "full_name", "sex", "birth_place", "birth_date")
_MEMBER_OWN = frozenset({"relation"})
# rows that point at a household and follow it into the survivor (entity name -> model)
# (appeals before tasks: appeals.change_status locks an appeal, then its task)
_REFERENCES: dict[str, Any] = {"appeal": Appeal, "field_task": FieldTask, "channel_contact": Contact,
                               "media_link": MediaLink}
# what unmerge may put back: the references, and the recipient rows (moved by _move_recipients)
_RESTORABLE: dict[str, Any] = {**_REFERENCES, "programme_recipient": ProgrammeRecipient}
_INT_KEYS = (Contact, ProgrammeRecipient)


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _household_fields() -> list[str]:
    return [c.name for c in Household.__table__.columns  # type: ignore[attr-defined]
            if c.name not in HOUSEHOLD_SYSTEM_FIELDS and c.name not in _HOUSEHOLD_OWN]


def _member_fields() -> list[str]:
    return [c.name for c in Member.__table__.columns  # type: ignore[attr-defined]
            if c.name not in MEMBER_SYSTEM_FIELDS and c.name not in _MEMBER_OWN]


def _visit(h: Household) -> date:
    return h.survey_date or date.min


def choose_survivor(a: Household, b: Household) -> tuple[Household, Household]:
    """(survivor, merged): verified over self-reported, then the latest visit, then the older."""
    def rank(h: Household) -> tuple[int, date, float]:
        created = as_utc(h.created_at)
        return _RANK.get(h.verification_status, 0), _visit(h), -(created.timestamp() if created else 0.0)
    return (a, b) if rank(a) >= rank(b) else (b, a)


def _state(row: Household | Member) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in row.model_dump().items()}


def _active_members(session: Session, household_id: uuid.UUID) -> list[Member]:
    return list(session.exec(select(Member).where(Member.household_id == household_id,
                                                  col(Member.deleted_at).is_(None))
                             .order_by(col(Member.created_at), col(Member.id))).all())


def _locked(session: Session, household_id: uuid.UUID) -> Household:
    row = session.exec(select(Household).where(Household.id == household_id)
                       .with_for_update()).first()
    if row is None:
        raise NotFound(f"household {household_id} not found")
    return row


class _Writer:
    """Applies a merge's writes to the survivor's rows and remembers each one."""

    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []

    def pick(self, entity: str, row: Household | Member, field: str, other: Any, *,
             prefer_other: bool, rule: str) -> None:
        mine = getattr(row, field)
        if _empty(other) or mine == other:
            return
        if _empty(mine) or prefer_other:
            setattr(row, field, other)
            self.changes.append({"entity": entity, "id": str(row.id), "field": field,
                                 "old": jsonable(mine), "new": jsonable(other),
                                 "rule": "filled" if _empty(mine) else rule})
        else:  # the other value is not taken: kept here, and in the merge record's snapshot
            self.changes.append({"entity": entity, "id": str(row.id), "field": field,
                                 "old": jsonable(mine), "new": jsonable(mine), "other": jsonable(other),
                                 "rule": "kept_survivor"})

    def move(self, entity: str, row_id: object, field: str, old: Any, new: Any) -> None:
        self.changes.append({"entity": entity, "id": str(row_id), "field": field,
                             "old": jsonable(old), "new": jsonable(new), "rule": "moved"})


def _pairs(candidate: MatchCandidate, survivor: Household, s_members: dict[uuid.UUID, Member],
           m_members: dict[uuid.UUID, Member]) -> list[tuple[Member, Member]]:
    """The links of the candidate as (survivor member, merged member), one to one, strongest first."""
    flip = survivor.id != candidate.household_a
    used: set[uuid.UUID] = set()
    out = []
    for link in sorted(candidate.links, key=lambda x: -float(x.get("weight", 0))):
        a, b = uuid.UUID(str(link["a"])), uuid.UUID(str(link["b"]))
        s_id, m_id = (b, a) if flip else (a, b)
        if s_id in used or m_id in used or s_id not in s_members or m_id not in m_members:
            continue
        used |= {s_id, m_id}
        out.append((s_members[s_id], m_members[m_id]))
    return out


def _dukcapil_matched(session: Session, member_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(member_ids)
    if not ids:
        return set()
    rows = session.exec(select(DukcapilCheck.member_id).where(col(DukcapilCheck.member_id).in_(ids),
                                                              DukcapilCheck.status == "matched")).all()
    return set(rows)


def merge_candidate(session: Session, candidate: MatchCandidate, *, actor: ActorRef,
                    automatic: bool, survivor_id: uuid.UUID | None = None) -> MergeRecord:
    """Merge the two households of ``candidate`` (kind ``household``) into one; flushes.

    Raises ``Conflict`` if the candidate is not pending or a household is no longer active.
    """
    if candidate.kind != "household":
        raise Conflict("only a household candidate can be merged", detail={"kind": candidate.kind})
    if candidate.status != "pending":
        raise Conflict(f"candidate {candidate.id} is {candidate.status}, not pending",
                       detail={"status": candidate.status})
    first, second = sorted((candidate.household_a, candidate.household_b), key=str)
    # lock order everywhere: the two households (sorted), then the candidate row; then check
    # again that it is still pending (a reviewer or the worker may have decided it meanwhile)
    ha, hb = _locked(session, first), _locked(session, second)
    session.refresh(candidate, with_for_update=True)
    if candidate.status != "pending":
        raise Conflict(f"candidate {candidate.id} is {candidate.status}, not pending",
                       detail={"status": candidate.status})
    if ha.deleted_at is not None or hb.deleted_at is not None:
        raise Conflict("a household of this candidate was deleted or merged since",
                       detail={"households": [str(h.id) for h in (ha, hb) if h.deleted_at]})
    if survivor_id is None:
        survivor, merged = choose_survivor(ha, hb)
    elif survivor_id in (ha.id, hb.id):
        survivor, merged = (ha, hb) if ha.id == survivor_id else (hb, ha)
    else:
        raise Conflict("survivor_id must be one of the candidate's two households",
                       detail={"survivor_id": str(survivor_id)})
    s_list, m_list = _active_members(session, survivor.id), _active_members(session, merged.id)
    before = {"households": {str(h.id): _state(h) for h in (survivor, merged)},
              "members": {str(m.id): _state(m) for m in s_list + m_list}}
    pairs = _pairs(candidate, survivor, {m.id: m for m in s_list}, {m.id: m for m in m_list})
    paired = {m.id for _, m in pairs}
    now = utcnow()
    w = _Writer()

    # 1. the merged records become inactive first: that frees their NIKs, KK and head slot
    # (flushed on their own: one flush orders its UPDATEs by primary key, not as written here)
    for s, m in pairs:
        m.deleted_at, m.merged_into_id = now, s.id
        _touch(m, now)
    merged.deleted_at, merged.merged_into_id = now, survivor.id
    _touch(merged, now, actor)
    session.add_all([merged, *(m for _, m in pairs)])
    session.flush()

    # 2. the golden household record
    latest_is_merged = _visit(merged) > _visit(survivor)
    for field in _household_fields():
        identity = field in HOUSEHOLD_IDENTITY
        w.pick("household", survivor, field, getattr(merged, field),
               prefer_other=not identity and latest_is_merged,
               rule="survivor" if identity else "latest_visit")
    if merged.kk_number and merged.kk_number != survivor.kk_number:
        # the merged record's KK stays findable in the survivor's KK history
        session.add(KkHistory(household_id=survivor.id, kk_number=merged.kk_number,
                              valid_from=now, valid_until=now,
                              reason=_kk_reason(merged.id),
                              recorded_by=actor.user_id))
        w.move("kk_history", survivor.id, "kk_number", None, merged.kk_number)

    # 3. the golden person records
    matched = _dukcapil_matched(session, [x.id for pair in pairs for x in pair])
    for s, m in pairs:
        take_identity = m.id in matched and s.id not in matched
        for field in _member_fields():
            identity = field in MEMBER_IDENTITY
            w.pick("member", s, field, getattr(m, field),
                   prefer_other=take_identity if identity else latest_is_merged,
                   rule="dukcapil" if identity else "latest_visit")

    # 4. the merged household's other members join the survivor household
    has_head = any(x.relation == "head" for x in s_list)
    moved: list[Member] = []
    for m in m_list:
        if m.id in paired:
            continue
        w.move("member", m.id, "household_id", merged.id, survivor.id)
        m.household_id = survivor.id
        if m.relation == "head" and has_head:
            w.move("member", m.id, "relation", "head", "other_relative")
            m.relation = "other_relative"
        moved.append(m)

    # 5. what points at the merged household follows it
    for entity, model in _REFERENCES.items():
        stmt = select(model).where(model.household_id == merged.id)
        if model is FieldTask:
            stmt = stmt.where(FieldTask.status == "open")
        if model is MediaLink:
            stmt = stmt.where(col(MediaLink.deleted_at).is_(None))
        if model is Appeal:  # open appeals; one the survivor already has on the same subject stays
            taken = select(Appeal.open_key).where(Appeal.household_id == survivor.id,
                                                  col(Appeal.open_key).is_not(None))
            stmt = stmt.where(col(Appeal.open_key).is_not(None), col(Appeal.open_key).not_in(taken))
        for row in session.exec(stmt).all():
            w.move(entity, row.id, "household_id", merged.id, survivor.id)
            row.household_id = survivor.id
            if isinstance(row, FieldTask):
                row.kelurahan_code = survivor.kelurahan_code
                row.version += 1
                row.updated_at = now
            session.add(row)

    _move_recipients(session, w, survivor, merged, {m.id: s.id for s, m in pairs})

    changed_members = {uuid.UUID(c["id"]) for c in w.changes if c["entity"] == "member"}
    survivor_members = [s for s, _ in pairs if s.id in changed_members] + moved
    for s in survivor_members:
        _touch(s, now)
    _touch(survivor, now, actor)
    session.add_all([survivor, *survivor_members])
    try:
        session.flush()
    except IntegrityError as exc:  # an identity the merge would duplicate (should not happen)
        raise Conflict("the merge would break an identity rule of the registry",
                       detail={"error": str(exc.orig).splitlines()[0]}) from exc

    record = MergeRecord(survivor_id=survivor.id, merged_id=merged.id, candidate_id=candidate.id,
                         before=before, changes=w.changes,
                         member_pairs=[[str(s.id), str(m.id)] for s, m in pairs],
                         automatic=automatic, created_by=actor.user_id, created_at=now)
    session.add(record)
    session.flush()
    candidate.status, candidate.merge_id, candidate.updated_at = "merged", record.id, now
    candidate.decided_by, candidate.decided_at = actor.user_id, now
    session.add(candidate)
    _supersede_others(session, merged.id, keep=candidate.id)
    _audit_merge(session, actor, record, survivor, merged, pairs, w.changes)
    _publish(session, survivor, merged, [m for _, m in pairs] + survivor_members, moved_from={
        m.id: merged.kelurahan_code for m in moved if merged.kelurahan_code != survivor.kelurahan_code})
    session.flush()
    return record


def _move_recipients(session: Session, w: _Writer, survivor: Household, merged: Household,
                     joined: dict[uuid.UUID, uuid.UUID]) -> None:
    """Who receives a programme follows the family (else the targeting-error report would call
    the survivor "eligible, not receiving"); a person joined to a survivor member becomes that
    member. A row the survivor already has (same programme, period, subject) stays put."""
    rows = session.exec(select(ProgrammeRecipient).where(ProgrammeRecipient.household_id == merged.id)).all()
    for row in rows:
        member = joined.get(row.member_id, row.member_id) if row.member_id else None
        subject = str(member) if member else row.subject
        clash = session.exec(select(ProgrammeRecipient.id).where(
            ProgrammeRecipient.programme_id == row.programme_id, ProgrammeRecipient.period == row.period,
            ProgrammeRecipient.household_id == survivor.id, ProgrammeRecipient.subject == subject)).first()
        if clash is not None:
            continue
        w.move("programme_recipient", row.id, "household_id", merged.id, survivor.id)
        row.household_id = survivor.id
        if subject != row.subject:
            w.move("programme_recipient", row.id, "member_id", row.member_id, member)
            w.move("programme_recipient", row.id, "subject", row.subject, subject)
            row.member_id, row.subject = member, subject
        session.add(row)


def _kk_reason(merged_id: uuid.UUID) -> str:
    return f"penggabungan dengan rumah tangga {merged_id}"


def _touch(row: Household | Member, now: datetime, actor: ActorRef | None = None) -> None:
    row.version += 1
    row.updated_at = now
    if isinstance(row, Household) and actor is not None:
        row.updated_by = actor.user_id


def _supersede_others(session: Session, household_id: uuid.UUID, *, keep: int | None) -> None:
    """Pending candidates of a household that is no longer active are out of date."""
    rows = session.exec(select(MatchCandidate).where(
        MatchCandidate.status == "pending",
        (MatchCandidate.household_a == household_id) | (MatchCandidate.household_b == household_id))).all()
    for row in rows:
        if row.id != keep:
            row.status, row.updated_at = "superseded", utcnow()
            session.add(row)


def _audit_merge(session: Session, actor: ActorRef, record: MergeRecord, survivor: Household,
                 merged: Household, pairs: list[tuple[Member, Member]],
                 changes: list[dict[str, Any]]) -> None:
    by_row: dict[str, dict[str, list[Any]]] = {}
    for c in changes:
        if c["entity"] in ("household", "member") and c["old"] != c["new"]:
            by_row.setdefault(c["id"], {})[c["field"]] = [c["old"], c["new"]]
    how = "otomatis" if record.automatic else "oleh pengawas"
    entries = [audit.entry(actor=actor, action="merge", entity_type="household",
                           entity_id=str(survivor.id), household_id=survivor.id,
                           version=survivor.version,
                           changes={**by_row.get(str(survivor.id), {}),
                                    "merged_from": [None, str(merged.id)],
                                    "merge_id": [None, record.id]}),
               audit.entry(actor=actor, action="merged_into", entity_type="household",
                           entity_id=str(merged.id), household_id=merged.id, version=merged.version,
                           changes={"merged_into_id": [None, str(survivor.id)],
                                    "deleted_at": [None, jsonable(merged.deleted_at)],
                                    "merge_id": [None, record.id],
                                    "how": [None, how]})]
    for s, m in pairs:
        entries.append(audit.entry(actor=actor, action="merged_into", entity_type="member",
                                   entity_id=str(m.id), household_id=merged.id, version=m.version,
                                   changes={"merged_into_id": [None, str(s.id)],
                                            "merge_id": [None, record.id]}))
    for row_id, fields in by_row.items():
        if row_id != str(survivor.id):
            entries.append(audit.entry(actor=actor, action="merge", entity_type="member",
                                       entity_id=row_id, household_id=survivor.id, version=None,
                                       changes={**fields, "merge_id": [None, record.id]}))
    audit.write(session, entries)


def _publish(session: Session, survivor: Household, other: Household, members: Iterable[Member],
             moved_from: dict[uuid.UUID, str]) -> None:
    changefeed.note_household(session, survivor)
    changefeed.note_household(session, other)
    for m in members:
        home = survivor if m.household_id == survivor.id else other
        changefeed.note_member(session, m, home.kelurahan_code, previous_kelurahan=moved_from.get(m.id))
    apart = survivor.kelurahan_code != other.kelurahan_code
    for task in session.exec(select(FieldTask).where(
            col(FieldTask.household_id).in_([survivor.id, other.id]), FieldTask.status == "open")).all():
        # a task may have crossed from one household's kelurahan to the other's: the tablets of
        # the one it left get a tombstone (harmless for a task they never had)
        left = (other if task.kelurahan_code == survivor.kelurahan_code else survivor).kelurahan_code
        changefeed.note(session, entity="task", entity_id=task.id, household_id=task.household_id,
                        kelurahan_code=task.kelurahan_code, version=task.version,
                        previous_kelurahan=left if apart else None)


def unmerge(session: Session, merge_id: int, *, actor: ActorRef, note: str | None = None) -> MergeRecord:
    """Restore both households of a merge; flushes. Raises ``Conflict`` if it cannot."""
    record = session.exec(select(MergeRecord).where(MergeRecord.id == merge_id).with_for_update()).first()
    if record is None:
        raise NotFound(f"merge {merge_id} not found")
    if record.undone_at is not None:
        raise Conflict(f"merge {merge_id} was already undone",
                       detail={"undone_at": jsonable(record.undone_at)})
    first, second = sorted((record.survivor_id, record.merged_id), key=str)
    locked = {h.id: h for h in (_locked(session, first), _locked(session, second))}
    survivor, merged = locked[record.survivor_id], locked[record.merged_id]
    if survivor.deleted_at is not None:
        raise Conflict("the surviving household was deleted or merged again since; undo that first",
                       detail={"household_id": str(survivor.id)})
    if merged.merged_into_id != survivor.id:
        raise Conflict("the merged household is no longer merged into the survivor",
                       detail={"household_id": str(merged.id)})
    now = utcnow()
    try:  # one savepoint: a refusal leaves nothing of the undo behind, whatever the caller does
        with session.begin_nested():
            kept, touched = _restore(session, record, survivor, merged, now, actor)
    except IntegrityError as exc:
        raise Conflict("the merged household cannot come back: one of its identities (NIK, KK or "
                       "head) is now held by another active record",
                       detail={"error": str(exc.orig).splitlines()[0]}) from exc

    record.undone_at, record.undone_by, record.undo_kept = now, actor.user_id, kept
    session.add(record)
    if record.candidate_id is not None:
        candidate = session.get(MatchCandidate, record.candidate_id)
        if candidate is not None:
            candidate.status, candidate.updated_at = "distinct", now
            candidate.decided_by, candidate.decided_at = actor.user_id, now
            candidate.note = (note or "penggabungan dibatalkan")[:500]
            session.add(candidate)
    audit.write(session, [
        audit.entry(actor=actor, action="unmerge", entity_type="household", entity_id=str(h.id),
                    household_id=h.id, version=h.version,
                    changes={"merge_id": [record.id, None],
                             **({"merged_into_id": [str(survivor.id), None]} if h is merged else {}),
                             **({"kept_since_merge": [None, [k["field"] for k in kept]]}
                                if h is survivor and kept else {})})
        for h in (survivor, merged)])
    _publish(session, survivor, merged, touched.values(), moved_from={
        m.id: survivor.kelurahan_code for m in touched.values()
        if m.household_id == merged.id and merged.kelurahan_code != survivor.kelurahan_code})
    session.flush()
    return record


def _restore(session: Session, record: MergeRecord, survivor: Household, merged: Household,
             now: datetime, actor: ActorRef) -> tuple[list[dict[str, Any]], dict[uuid.UUID, Member]]:
    """The writes of an unmerge (see ``unmerge``): the values the merge wrote go back unless
    edited since (returned as kept), then the merged household and its joined members return."""
    kept: list[dict[str, Any]] = []
    touched: dict[uuid.UUID, Member] = {}
    members = {m.id: m for m in session.exec(select(Member).where(
        col(Member.household_id).in_([survivor.id, merged.id]))).all()}

    # 1. the survivor side first (frees any NIK or KK the merge had copied over)
    for c in reversed(record.changes):
        if c["old"] == c["new"] or c["entity"] == "kk_history":
            continue
        row: Any
        if c["entity"] == "household":
            row = survivor
        elif c["entity"] == "member":
            row = members.get(uuid.UUID(c["id"]))
        else:
            model = _RESTORABLE[c["entity"]]
            row = session.get(model, int(c["id"]) if model in _INT_KEYS else uuid.UUID(c["id"]))
        if row is None:
            kept.append({**c, "current": None, "why": "gone"})
            continue
        current = jsonable(getattr(row, c["field"]))
        if c["field"] == "household_id":
            current = str(current)
        if current != c["new"]:
            kept.append({**c, "current": current, "why": "edited since the merge"})
            continue
        value = _restore_value(row, c["field"], c["old"])
        setattr(row, c["field"], value)
        if isinstance(row, Member):
            touched[row.id] = row
        elif isinstance(row, FieldTask):
            row.kelurahan_code = merged.kelurahan_code if value == merged.id else survivor.kelurahan_code
            row.version += 1
            row.updated_at = now
        if not isinstance(row, Household):
            session.add(row)
    for kk in session.exec(select(KkHistory).where(KkHistory.household_id == survivor.id,
                                                   KkHistory.reason == _kk_reason(merged.id))).all():
        session.delete(kk)
    session.flush()

    # 2. the merged household and its joined members come back
    merged.deleted_at, merged.merged_into_id = None, None
    _touch(merged, now, actor)
    for s_id, m_id in record.member_pairs:
        m = members.get(uuid.UUID(m_id))
        if m is not None and m.merged_into_id == uuid.UUID(s_id):
            m.deleted_at, m.merged_into_id = None, None
            touched[m.id] = m
    for m in touched.values():
        _touch(m, now)
    _touch(survivor, now, actor)
    session.add_all([survivor, merged, *touched.values()])
    session.flush()
    return kept, touched



def _restore_value(row: Any, field: str, old: Any) -> Any:
    """A JSON value of the snapshot back into the column's Python type."""
    if old is None:
        return None
    if field in ("household_id", "merged_into_id", "member_id"):
        return uuid.UUID(old)
    annotation = type(row).model_fields[field].annotation
    kinds = set(get_args(annotation)) | {annotation}
    if isinstance(old, str) and datetime in kinds:
        return datetime.fromisoformat(old)
    if isinstance(old, str) and date in kinds:
        return date.fromisoformat(old)
    return old
