"""Whole-record rules and name normalisation: pure functions."""

from __future__ import annotations

from datetime import date

from app.registry.names import normalise_name
from app.registry.rules import head_problems, member_problems, member_warnings


class TestMemberRules:
    def test_valid_member_has_no_problems(self) -> None:
        state = {"nik": "8271074508900001", "birth_date": date(1990, 8, 5), "sex": "female",
                 "pregnant": True}
        assert member_problems(state) == []

    def test_field_names_carry_the_prefix(self) -> None:
        state = {"nik": "8271074508900001", "birth_date": date(1991, 8, 5), "sex": "female"}
        problems = member_problems(state, prefix="members[2].")
        assert [(p.field, p.rule) for p in problems] == [("members[2].nik", "nik_birth_date")]

    def test_only_women_can_be_pregnant(self) -> None:
        problems = member_problems({"sex": "male", "pregnant": True})
        assert [p.rule for p in problems] == ["pregnant_female_only"]

    def test_death_date_needs_deceased_and_after_birth(self) -> None:
        rules = {p.rule for p in member_problems(
            {"sex": "male", "alive": True, "death_date": date(2020, 1, 1),
             "birth_date": date(2021, 1, 1)})}
        assert rules == {"death_date_requires_deceased", "after_birth_date"}

    def test_severity_needs_a_disability(self) -> None:
        assert [p.rule for p in member_problems({"disability": "none", "disability_severe": True})] \
            == ["severity_needs_disability"]


class TestHead:
    def test_exactly_one(self) -> None:
        assert head_problems(["head", "spouse", "child"]) == []
        assert head_problems(["spouse"])[0].rule == "one_head"
        assert "got 2" in head_problems(["head", "head"])[0].message


class TestWarnings:
    def test_nik_from_outside_ternate_warns(self) -> None:
        warnings = member_warnings({"nik": "7371010508900001"}, prefix="members[0].")
        assert [(w.field, w.rule) for w in warnings] == [("members[0].nik", "region_not_ternate")]

    def test_ternate_nik_does_not_warn(self) -> None:
        assert member_warnings({"nik": "8271010508900001"}) == []


class TestNames:
    def test_titles_and_punctuation_are_dropped(self) -> None:
        assert normalise_name("Hj. Siti Aminah, S.Pd.") == "siti aminah"
        assert normalise_name("Drs. H. Abdul Kadir") == "abdul kadir"

    def test_an_initial_is_kept(self) -> None:
        assert normalise_name("M. Yusuf") == "m yusuf"

    def test_a_name_that_is_only_a_title_survives(self) -> None:
        assert normalise_name("Haji") == "haji"
