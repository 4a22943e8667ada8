"""check_household: a duplicate family registered again is proposed, with its reasons."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from app.reconcile.engine import EngineState
from app.reconcile.service import check_household
from app.reconcile.store import MatchCandidate, MatchKey
from app.registry.models import Household
from app.registry.names import LEAD_NAME
from app.registry.service import delete_household
from app.seeding import SEED_ACTOR, SYSTEM_PRINCIPAL
from tests import factories
from tests.reconcile_db.helpers import load_generated, person, register

KEL = factories.SELATAN_KELURAHAN
HEAD_BIRTH, WIFE_BIRTH, SON_BIRTH = date(1965, 3, 12), date(1968, 7, 1), date(1995, 10, 4)


def family_a(session: Session) -> uuid.UUID:
    return register(session, factories.household(KEL, members=[
        person("Yusuf Sangaji", "head", "male", HEAD_BIRTH,
               nik=factories.nik(HEAD_BIRTH, "male", "827102", 4711)),
        person("Fatma Umasangadji", "spouse", "female", WIFE_BIRTH),
        person("Ahmad Sangaji", "child", "male", SON_BIRTH, nik=None)]))


def family_b(session: Session) -> uuid.UUID:
    """The same family again: old spelling, a NIK typo (serial 4711 -> 4717), no KK shared."""
    return register(session, factories.household(KEL, address="Jln Kie Raha no 7", members=[
        person("Joesoef Sangadji", "head", "male", HEAD_BIRTH,
               nik=factories.nik(HEAD_BIRTH, "male", "827102", 4717)),
        person("Hj. Fatma Umasangaji", "spouse", "female", WIFE_BIRTH, nik=None),
        person("Ahmad Sangaji", "child", "male", SON_BIRTH, nik=None)]))


@pytest.fixture
def state(db: Session) -> EngineState:
    load_generated(db, 40)
    return EngineState.load(db)


def candidates(db: Session) -> list[MatchCandidate]:
    return list(db.scalars(select(MatchCandidate).order_by(col(MatchCandidate.id))).all())


class TestCheckHousehold:
    def test_the_same_family_registered_twice_is_a_household_candidate(
            self, db: Session, state: EngineState) -> None:
        a = family_a(db)
        assert check_household(db, a, state, merge_auto=False) == []
        b = family_b(db)
        [row] = check_household(db, b, state, merge_auto=False)
        assert row.kind == "household" and row.status == "pending" and row.source == "incremental"
        assert {row.household_a, row.household_b} == {a, b}
        assert str(row.household_a) < str(row.household_b)
        assert row.kecamatan_code == "82.71.02" and row.kecamatan_b == "82.71.02"
        assert {r["code"] for r in row.reasons} >= {"heads_linked", "members_linked"}
        assert len(row.links) == 3
        by_name = {next(c["level"] for c in x["contributions"] if c["feature"] == "name"): x
                   for x in row.links}
        head = by_name["spelling"]  # Joesoef Sangadji / Yusuf Sangaji
        features = {c["feature"]: c for c in head["contributions"]}
        assert features["birth_date"]["level"] == "exact"
        assert features["nik"]["level"] == "same_birth_digits"
        assert all(c["reason_id"] for c in head["contributions"])
        assert row.weight == max(x["weight"] for x in row.links) >= 8

    def test_match_keys_follow_the_household(self, db: Session, state: EngineState) -> None:
        a = family_a(db)
        check_household(db, a, state, merge_auto=False)
        keys = db.scalars(select(MatchKey).where(col(MatchKey.household_id) == a)).all()
        assert {k.rule for k in keys} >= {"nik", "kk", "name_place", "birth_name"}
        delete_household(session=db, household_id=a, version=None, actor=SEED_ACTOR,
                         principal=SYSTEM_PRINCIPAL)
        assert check_household(db, a, state) == []
        assert not db.scalars(select(MatchKey).where(col(MatchKey.household_id) == a)).all()

    def test_a_member_in_two_families(self, db: Session, state: EngineState) -> None:
        a = family_a(db)
        other = register(db, factories.household("82.71.01.1002", members=[
            person("Rizal Tomagola", "head", "male", date(1990, 1, 20)),
            person("Nurhayati Buamona", "spouse", "female", date(1993, 5, 9)),
            person("Ahmad Sangaji", "other_relative", "male", SON_BIRTH, nik=None),
            person("Siti Tomagola", "child", "female", date(2016, 2, 2))]))
        check_household(db, a, state, merge_auto=False)
        [row] = check_household(db, other, state, merge_auto=False)
        assert (row.kind, row.decision) == ("member", "review")
        assert [r["code"] for r in row.reasons] == ["member_in_two_families"]
        assert len(row.links) == 1

    def test_decided_pairs_are_not_proposed_again(self, db: Session, state: EngineState) -> None:
        a = family_a(db)
        check_household(db, a, state, merge_auto=False)
        b = family_b(db)
        [row] = check_household(db, b, state, merge_auto=False)
        row.status = "distinct"
        db.flush()
        assert check_household(db, a, state, merge_auto=False) == []
        assert check_household(db, b, state, merge_auto=False) == []
        assert [r.status for r in candidates(db)] == ["distinct"]

    def test_pending_is_updated_and_superseded_when_no_longer_proposed(
            self, db: Session, state: EngineState) -> None:
        a = family_a(db)
        check_household(db, a, state, merge_auto=False)
        b = family_b(db)
        [first] = check_household(db, b, state, merge_auto=False)
        [again] = check_household(db, a, state, merge_auto=False)
        assert again.id == first.id and again.status == "pending"
        delete_household(session=db, household_id=b, version=None, actor=SEED_ACTOR,
                         principal=SYSTEM_PRINCIPAL)
        check_household(db, b, state, merge_auto=False)
        assert [r.status for r in candidates(db)] == ["superseded"]
        # proposed again (b undeleted is not possible; a re-check of a proposes nothing)
        assert check_household(db, a, state, merge_auto=False) == []

    def test_an_automatic_household_candidate_is_merged(self, db: Session, state: EngineState) -> None:
        head = date(1970, 8, 14)
        nik = factories.nik(head, "male", "827102", 5120)
        a = register(db, factories.household(KEL, members=[
            person("Abdul Karim Marsaoly", "head", "male", head, nik=nik),
            person("Siti Aisyah Tomagola", "spouse", "female", date(1972, 4, 21))]))
        check_household(db, a, state)
        b = register(db, factories.household(KEL, members=[
            person("Abd. Karim Marsaoly", "head", "male", head, nik=None),
            person("Siti Aisyah Tomagola", "spouse", "female", date(1972, 4, 21), nik=None)]))
        [row] = check_household(db, b, state)
        assert row.kind == "household" and row.decision == "auto_merge"
        assert row.status == "merged" and row.merge_id is not None
        # the older record survives (both self-reported, no visit); the other is merged into it
        merged = db.get(Household, b)
        assert merged is not None and merged.merged_into_id == a and merged.deleted_at is not None

    def test_leads_without_a_name_do_not_match_each_other_by_their_placeholder(
            self, db: Session, state: EngineState) -> None:
        """SMS/USSD leads carry LEAD_NAME until the visit: it is no name, so it makes no name
        blocking key (every lead of a kelurahan would share one block) and no name evidence."""
        def lead(nik: str) -> uuid.UUID:
            return register(db, {"kelurahan_code": KEL, "verification_status": "self_reported",
                                 "members": [{"full_name": LEAD_NAME, "sex": "male", "relation": "head",
                                              "nik": nik}]})
        first = lead(factories.nik(date(1971, 1, 5), "male", "827102", 3001))
        second = lead(factories.nik(date(1983, 9, 20), "male", "827102", 3002))
        assert check_household(db, first, state, merge_auto=False) == []
        assert check_household(db, second, state, merge_auto=False) == []
        rules = db.scalars(select(MatchKey.rule).where(col(MatchKey.household_id).in_([first, second]))).all()
        assert not {"name_place", "birth_name"} & set(rules) and "nik" in rules
