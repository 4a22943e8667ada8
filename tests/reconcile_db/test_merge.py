"""Merging a family registered twice, and undoing it, on real SQLite and PostgreSQL.

The story: a family of Faudu (Pulau Hiri) registered itself by SMS (a lead: the head only,
his NIK with a typo, the name as typed, a phone), and an enumerator later visited and
registered it fully (head, wife, child, the house). Reconciliation proposes the pair; the
merge keeps the visited record, fills what it lacked from the lead, and keeps every value it
did not take; the unmerge gives both records back.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.appeals.models import Appeal
from app.audit.models import AuditEntry
from app.audit.service import ActorRef
from app.auth.models import Role
from app.auth.permissions import Principal
from app.eligibility.store import ProgrammeRecipient, RecipientImport
from app.errors import Conflict
from app.reconcile import canonical, merge
from app.reconcile.store import DukcapilCheck, MatchCandidate, MergeRecord
from app.registry import service as registry
from app.registry import tasks
from app.registry.models import FieldTask, Household, KkHistory, Member
from app.registry.schemas import HouseholdCreate, HouseholdUpdate, MemberUpdate
from app.sync.models import SyncChange
from tests import factories as f

ADMIN = Principal(user_id=0, username="t", role=Role.admin, kelurahan_scope=None, full_identifiers=True)
SMS = ActorRef(user_id=None, name="sms:+6281234567890", channel="sms")
FIELD = ActorRef(user_id=None, name="enumerator", channel="api")
SUPERVISOR = ActorRef(user_id=None, name="supervisor", channel="api")
HEAD_BIRTH = date(1968, 3, 9)


def _create(db: Session, data: dict[str, Any], actor: ActorRef) -> Household:
    household = registry.create_household(session=db, data=HouseholdCreate.model_validate(data),
                                          actor=actor, principal=ADMIN)
    db.flush()
    return household


def _members(db: Session, household_id: uuid.UUID) -> dict[str, Member]:
    rows = db.exec(select(Member).where(Member.household_id == household_id,
                                        col(Member.deleted_at).is_(None))).all()
    return {m.relation: m for m in rows}


@pytest.fixture
def family(db: Session) -> dict[str, Any]:
    head_nik = f.nik(HEAD_BIRTH)
    typo = head_nik[:12] + str((int(head_nik[12]) + 1) % 10) + head_nik[13:]
    lead = _create(db, {
        "kelurahan_code": f.HIRI_FAUDU, "kk_number": None, "address": "", "phone": "+6281234567890",
        "verification_status": "self_reported",
        "members": [{"full_name": "moh joesoef", "sex": "male", "relation": "head", "nik": typo,
                     "birth_date": HEAD_BIRTH.isoformat()},
                    {"full_name": "Fadli Joesoef", "sex": "male", "relation": "child",
                     "birth_date": "2008-01-12"}],
    }, SMS)
    visited = _create(db, f.household(
        verification_status="field_verified", survey_date="2026-10-02", floor_material="wood_board",
        members=[{"full_name": "H. Muhammad Yusuf", "sex": "male", "relation": "head", "nik": None,
                  "birth_date": HEAD_BIRTH.isoformat(), "occupation": "fisher"},
                 f.member("spouse", "female", date(1972, 6, 1), full_name="Hj. Salma Yusuf"),
                 f.member("child", "female", date(2012, 4, 4), full_name="Nur Yusuf")]), FIELD)
    task = tasks.open_task(db, lead, kind=tasks.VERIFY_LEAD, note="Pendaftaran SMS, 2 orang")
    a, b = sorted((lead, visited), key=lambda h: str(h.id))
    lead_head, visited_head = _members(db, lead.id)["head"], _members(db, visited.id)["head"]
    link = {"a": str(lead_head.id if a is lead else visited_head.id),
            "b": str(visited_head.id if a is lead else lead_head.id),
            "weight": 21.5, "probability": 0.999, "decision": "auto_merge", "contributions": []}
    candidate = MatchCandidate(kind="household", household_a=a.id, household_b=b.id,
                               kecamatan_code="82.71.07", kecamatan_b="82.71.07", weight=21.5,
                               decision="review", links=[link], source="batch")
    db.add(candidate)
    db.flush()
    return {"lead": lead, "visited": visited, "candidate": candidate, "task": task,
            "lead_head": lead_head, "visited_head": visited_head, "typo": typo}


def test_the_visited_record_survives_and_takes_what_it_lacked(db: Session, family: dict[str, Any]) -> None:
    lead, visited = family["lead"], family["visited"]
    record = merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=False)

    assert (record.survivor_id, record.merged_id) == (visited.id, lead.id)
    db.refresh(lead)
    db.refresh(visited)
    assert lead.deleted_at is not None and lead.merged_into_id == visited.id
    # the lead's phone fills the visited record; the visited record's own values stay
    assert visited.phone == "+6281234567890"
    assert visited.floor_material == "wood_board"
    head = _members(db, visited.id)["head"]
    assert head.id == family["visited_head"].id
    assert head.nik == family["typo"]          # filled: the survivor had none
    assert head.full_name == "H. Muhammad Yusuf"  # kept; the lead's spelling is in the record
    kept = [c for c in record.changes if c["rule"] == "kept_survivor" and c["field"] == "full_name"]
    assert kept and kept[0]["other"] == "moh joesoef"
    # the lead's head is merged into the visited head; its unpaired child moved over
    old_head = db.get(Member, family["lead_head"].id)
    assert old_head is not None and old_head.merged_into_id == head.id and old_head.deleted_at
    names = {m.full_name for m in db.exec(select(Member).where(Member.household_id == visited.id,
                                                              col(Member.deleted_at).is_(None))).all()}
    assert names == {"H. Muhammad Yusuf", "Hj. Salma Yusuf", "Nur Yusuf", "Fadli Joesoef"}
    # the open visit of the lead now belongs to the survivor
    task = db.get(FieldTask, family["task"].id)
    assert task is not None and task.household_id == visited.id and task.status == "open"
    # the snapshot holds both households and all five people as they were
    assert set(record.before["households"]) == {str(lead.id), str(visited.id)}
    assert len(record.before["members"]) == 5
    # audited on both records; the candidate is closed; tablets get a tombstone for the lead
    actions = {(e.entity_id, e.action) for e in db.exec(select(AuditEntry)).all()}
    assert (str(visited.id), "merge") in actions and (str(lead.id), "merged_into") in actions
    assert family["candidate"].status == "merged" and family["candidate"].merge_id == record.id
    db.commit()
    tomb = db.exec(select(SyncChange).where(SyncChange.entity_id == lead.id)).one()
    assert tomb.present is False


def test_merged_away_records_are_invisible_to_active_queries(db: Session, family: dict[str, Any],
                                                              client: Any, admin: Any) -> None:
    merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=True)
    db.commit()
    listed = client.get(f"/households?kelurahan={f.HIRI_FAUDU}", headers=admin.headers).json()
    ids = {h["id"] for h in listed["data"]}
    assert str(family["visited"].id) in ids and str(family["lead"].id) not in ids
    # and the database refuses a merged record that is still active
    with pytest.raises(IntegrityError), db.begin_nested():
        db.execute(update(Household).where(col(Household.id) == family["visited"].id)
                   .values(merged_into_id=family["lead"].id))


def test_unmerge_restores_both_records(db: Session, family: dict[str, Any]) -> None:
    lead, visited = family["lead"], family["visited"]
    before_visited = visited.model_dump(exclude={"version", "created_at", "updated_at", "updated_by"})
    record = merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=True)
    db.commit()

    undone = merge.unmerge(db, record.id or 0, actor=SUPERVISOR)
    db.commit()
    db.refresh(lead)
    db.refresh(visited)
    assert lead.deleted_at is None and lead.merged_into_id is None
    assert visited.model_dump(exclude={"version", "created_at", "updated_at", "updated_by"}) == before_visited
    assert _members(db, visited.id)["head"].nik is None
    lead_members = _members(db, lead.id)
    assert lead_members["head"].nik == family["typo"]
    assert lead_members["child"].full_name == "Fadli Joesoef"
    assert len(_members(db, visited.id)) == 3
    task = db.get(FieldTask, family["task"].id)
    assert task is not None and task.household_id == lead.id
    assert not db.exec(select(KkHistory).where(KkHistory.household_id == visited.id,
                                               col(KkHistory.reason).startswith("penggabungan"))).all()
    assert undone.undone_at is not None and undone.undo_kept == []
    assert family["candidate"].status == "distinct"
    with pytest.raises(Conflict):
        merge.unmerge(db, record.id or 0, actor=SUPERVISOR)


def test_unmerge_keeps_edits_made_since_and_says_so(db: Session, family: dict[str, Any]) -> None:
    visited = family["visited"]
    record = merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=True)
    db.commit()
    db.refresh(visited)
    registry.update_household(session=db, household_id=visited.id,
                              data=HouseholdUpdate(version=visited.version, phone="+6285298765432"),
                              actor=FIELD, principal=ADMIN)
    head = _members(db, visited.id)["head"]
    registry.update_member(session=db, member_id=head.id,
                           data=MemberUpdate(version=head.version, occupation="farmer"),
                           actor=FIELD, principal=ADMIN)
    db.commit()

    undone = merge.unmerge(db, record.id or 0, actor=SUPERVISOR)
    db.refresh(visited)
    assert visited.phone == "+6285298765432"
    assert [k["field"] for k in undone.undo_kept or []] == ["phone"]
    assert _members(db, visited.id)["head"].occupation == "farmer"


def test_unmerge_refuses_when_an_identity_was_taken_since(db: Session, family: dict[str, Any]) -> None:
    visited = family["visited"]
    record = merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=True)
    db.commit()
    # the survivor's head got a NIK of his own, and a new family took the lead head's NIK
    head = _members(db, visited.id)["head"]
    registry.update_member(session=db, member_id=head.id,
                           data=MemberUpdate(version=head.version, nik=f.nik(HEAD_BIRTH)),
                           actor=FIELD, principal=ADMIN)
    _create(db, f.household(f.HIRI_TOMAJIKO, members=[f.member(nik=family["typo"], birth=HEAD_BIRTH)]),
            FIELD)
    db.commit()

    with pytest.raises(Conflict, match="cannot come back"):
        merge.unmerge(db, record.id or 0, actor=SUPERVISOR)
    db.rollback()
    lead = db.get(Household, family["lead"].id)
    assert lead is not None and lead.merged_into_id == visited.id
    stored = db.get(MergeRecord, record.id)
    assert stored is not None and stored.undone_at is None


def test_a_decided_candidate_cannot_be_merged_again(db: Session, family: dict[str, Any]) -> None:
    merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=True)
    with pytest.raises(Conflict, match="not pending"):
        merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=True)


def test_the_survivor_can_be_chosen_and_must_be_one_of_the_two(db: Session, family: dict[str, Any]) -> None:
    with pytest.raises(Conflict, match="survivor_id"):
        merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=False,
                              survivor_id=uuid.uuid4())
    record = merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=False,
                                   survivor_id=family["lead"].id)
    assert record.survivor_id == family["lead"].id
    # the lead had no head of the visit: the visited family's unpaired members moved in, and the
    # visited head, joined to the lead's head, gave its answers where the lead had none
    head = _members(db, family["lead"].id)["head"]
    assert head.occupation == "fisher"


def test_a_person_dukcapil_matched_gives_the_golden_identity(db: Session, family: dict[str, Any]) -> None:
    lead_head = family["lead_head"]
    db.add(DukcapilCheck(member_id=lead_head.id, household_id=family["lead"].id, status="matched",
                         details={}, source="test extract"))
    db.flush()
    merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=False)
    head = _members(db, family["visited"].id)["head"]
    # the lead's head was matched with Dukcapil: his spelling wins; the visit's answers stay
    assert (head.full_name, head.nik, head.occupation) == ("moh joesoef", family["typo"], "fisher")


def test_canonical_queries_never_return_a_merged_away_record(db: Session, family: dict[str, Any]) -> None:
    merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=True)
    households = {h.id for h in db.exec(canonical.households()).all()}
    members = db.exec(canonical.members()).all()
    assert family["visited"].id in households and family["lead"].id not in households
    assert family["lead_head"].id not in {m.id for m in members}
    assert {m.household_id for m in members} <= households


def test_open_appeals_follow_the_family_and_come_back(db: Session, family: dict[str, Any]) -> None:
    lead, visited = family["lead"], family["visited"]

    def appeal(household: Household, about: str) -> Appeal:
        row = Appeal(household_id=household.id, kelurahan_code=household.kelurahan_code,
                     filed_by_channel="sms", about=about, reason="data salah", open_key=f"{about}:")
        db.add(row)
        return row
    moved, clash, theirs = appeal(lead, "desil"), appeal(lead, "data"), appeal(visited, "data")
    db.flush()
    record = merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=True)
    assert (moved.household_id, clash.household_id, theirs.household_id) == (visited.id, lead.id, visited.id)
    merge.unmerge(db, record.id or 0, actor=SUPERVISOR)
    assert (moved.household_id, clash.household_id) == (lead.id, lead.id)


def test_programme_recipients_follow_the_family_and_come_back(db: Session, family: dict[str, Any]) -> None:
    lead, visited = family["lead"], family["visited"]
    batch = RecipientImport(programme_id="pkh", period="2026-Q1", file_name="bank.csv", sha256="0" * 64,
                            imported_by="test")
    db.add(batch)
    db.flush()
    head = family["lead_head"]
    as_family = ProgrammeRecipient(programme_id="pkh", period="2026-Q1", household_id=lead.id,
                                   subject="family", import_id=batch.id or 0, row_number=2)
    as_person = ProgrammeRecipient(programme_id="pbi_jk", period="2026-Q1", household_id=lead.id,
                                   member_id=head.id, subject=str(head.id), import_id=batch.id or 0,
                                   row_number=3)
    db.add_all([as_family, as_person])
    db.flush()
    record = merge.merge_candidate(db, family["candidate"], actor=SUPERVISOR, automatic=True)
    survivor_head = family["visited_head"].id
    assert (as_family.household_id, as_family.subject) == (visited.id, "family")
    assert (as_person.household_id, as_person.member_id, as_person.subject) == (
        visited.id, survivor_head, str(survivor_head))
    merge.unmerge(db, record.id or 0, actor=SUPERVISOR)
    assert as_family.household_id == lead.id
    assert (as_person.household_id, as_person.member_id, as_person.subject) == (
        lead.id, head.id, str(head.id))


def test_snapshot_values_come_back_with_their_column_types() -> None:
    from datetime import datetime

    row = Member(household_id=uuid.uuid4(), full_name="x", sex="male", relation="head")
    assert merge._restore_value(row, "birth_date", "1980-05-17") == date(1980, 5, 17)
    assert type(merge._restore_value(row, "birth_date", "1980-05-17")) is date
    assert type(merge._restore_value(row, "updated_at", "2026-11-28T10:00:00+00:00")) is datetime
    assert merge._restore_value(row, "merged_into_id", str(row.household_id)) == row.household_id
    assert merge._restore_value(row, "pregnant", False) is False
