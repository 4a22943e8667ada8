"""Household proposals from person links (pure, no database)."""

from __future__ import annotations

from app.reconcile.households import HOUSEHOLD, MEMBER, HouseholdInfo, PersonLink, propose
from app.reconcile.linker import AUTO_MERGE, REVIEW


def info(hid: str, size: int, head: str | None = None, kk: str | None = None) -> HouseholdInfo:
    return HouseholdInfo(hid, size, head if head is not None else f"{hid}1", kk, "82.71.02")


def link(a: str, b: str, decision: str = AUTO_MERGE, weight: float = 25.0) -> PersonLink:
    return PersonLink(a, b, a[:2], b[:2], weight, 0.99, decision)


HOUSES = {h: info(h, 4) for h in ("HA", "HB", "HC", "HD")}


class TestHouseholdCandidates:
    def test_heads_linked_and_all_automatic_merges(self) -> None:
        [p] = propose([link("HA1", "HB1"), link("HA2", "HB2")], HOUSES)
        assert (p.kind, p.decision, p.household_a, p.household_b) == (HOUSEHOLD, AUTO_MERGE, "HA", "HB")
        assert {r.code for r in p.reasons} == {"heads_linked", "members_linked"}
        assert p.weight == 25.0

    def test_orientation_is_by_household_id(self) -> None:
        [p] = propose([link("HB1", "HA1")], HOUSES)
        assert (p.household_a, p.household_b) == ("HA", "HB")
        assert (p.links[0].a, p.links[0].b) == ("HA1", "HB1")

    def test_one_review_link_makes_the_household_a_review(self) -> None:
        [p] = propose([link("HA1", "HB1"), link("HA2", "HB2", REVIEW, 10.0)], HOUSES)
        assert (p.kind, p.decision) == (HOUSEHOLD, REVIEW)

    def test_half_the_smaller_family_without_the_heads_is_a_review(self) -> None:
        houses = {"HA": info("HA", 4), "HB": info("HB", 2)}
        [p] = propose([link("HA2", "HB2")], houses)
        assert (p.kind, p.decision) == (HOUSEHOLD, REVIEW)
        assert [r.code for r in p.reasons] == ["members_linked"]

    def test_same_kk_is_a_household_candidate(self) -> None:
        houses = {"HA": info("HA", 5, kk="8271"), "HB": info("HB", 5, kk="8271")}
        [p] = propose([link("HA3", "HB3", REVIEW, 9.0)], houses)
        assert p.kind == HOUSEHOLD and "same_kk" in {r.code for r in p.reasons}

    def test_auto_link_to_a_third_family_is_ambiguous(self) -> None:
        out = propose([link("HA1", "HB1"), link("HA1", "HC1")], HOUSES)
        assert [(p.household_a, p.household_b, p.decision) for p in out] == [
            ("HA", "HB", REVIEW), ("HA", "HC", REVIEW)]
        assert all("ambiguous" in {r.code for r in p.reasons} for p in out)

    def test_known_partners_from_elsewhere_count(self) -> None:
        [p] = propose([link("HA1", "HB1")], HOUSES, known_partners={"HB": {"HD"}})
        assert p.decision == REVIEW


class TestMemberCandidates:
    def test_a_child_in_two_families(self) -> None:
        [p] = propose([link("HA3", "HB1")], {"HA": info("HA", 5), "HB": info("HB", 3)})
        assert (p.kind, p.decision) == (MEMBER, REVIEW)
        assert [r.code for r in p.reasons] == ["member_in_two_families"]

    def test_a_person_twice_in_one_family(self) -> None:
        [p] = propose([link("HA3", "HA2")], HOUSES)
        assert (p.kind, p.household_a, p.household_b, p.decision) == (MEMBER, "HA", "HA", REVIEW)
        assert (p.links[0].a, p.links[0].b) == ("HA2", "HA3")
