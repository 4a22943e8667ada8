"""The programme rules of seed_data/programmes.yaml, decided on hand-built families."""

from __future__ import annotations

import datetime as dt

import pytest

from app.eligibility.decide import Decision, evaluate
from app.eligibility.facts import NO_DESIL, DesilInfo, FamilyFacts
from app.eligibility.loader import DEFAULT_RULES, load_ruleset, parse_ruleset
from app.eligibility.rules import RuleSet
from tests.eligibility.factories import REF, born, family, head, member

RULES = load_ruleset()
D3 = DesilInfo.official(3, "2026-Q1")


def decide(facts: FamilyFacts, desil: DesilInfo = D3, *, day: dt.date = REF,
           rules: RuleSet = RULES) -> dict[tuple[str, str | None], Decision]:
    return {(d.programme_id, d.member_key): d for d in evaluate(rules, facts, desil, day)}


def outcome(facts: FamilyFacts, programme: str, desil: DesilInfo = D3, *, day: dt.date = REF,
            member_key: str | None = None) -> str:
    return decide(facts, desil, day=day)[(programme, member_key)].outcome


class TestPkh:
    def test_a_child_aged_0_6_in_desil_3_is_eligible_with_both_languages(self) -> None:
        d = decide(family(member("c1", age=3)))[("pkh", None)]
        assert d.outcome == "eligible"
        assert d.text("id") == "desil 3 (BPS 2026-Q1) <= 4; ada anak usia 0-6"
        assert d.text("en") == "desil 3 (BPS 2026-Q1) <= 4; has a child aged 0-6"
        assert d.ruleset == "ternate-bansos@2026.1" and len(d.ruleset_digest) == 64

    def test_no_component_is_not_eligible_and_says_so(self) -> None:
        d = decide(family(member("s", relation="spouse", age=40)))[("pkh", None)]
        assert d.outcome == "not_eligible"
        assert "tidak ada komponen PKH" in d.text("id") and "no PKH component" in d.text("en")

    @pytest.mark.parametrize("values", [
        {"pregnant": True, "age": 28},
        {"disability": "physical", "disability_severe": True, "age": 35},
        {"age": 15, "education": "smp", "school_participation": "in_school"},
    ])
    def test_each_component_qualifies(self, values: dict[str, object]) -> None:
        assert outcome(family(member("x", **values)), "pkh") == "eligible"

    def test_school_age_child_who_finished_12_years_is_no_component(self) -> None:
        assert outcome(family(member("x", age=19, education="sma")), "pkh") == "not_eligible"

    @pytest.mark.parametrize(("age", "expected"), [(6, "eligible"), (21, "eligible"), (22, "not_eligible")])
    def test_school_age_bounds_6_and_21_are_inclusive(self, age: int, expected: str) -> None:
        f = family(member("x", age=age, education="smp"))
        assert outcome(f, "pkh") == expected

    def test_child_turns_7_on_the_reference_date_still_school_age_but_not_0_6(self) -> None:
        f = family(member("x", age=7, education="sd"))
        d = decide(f)[("pkh", None)]
        assert d.outcome == "eligible"
        assert "ada anak usia 6-21 belum tamat 12 tahun sekolah" in d.text("id")
        assert "0-6" not in d.text("id")

    def test_child_the_day_before_the_seventh_birthday_is_still_0_6(self) -> None:
        f = family(member("x", birth_date=born(7) + dt.timedelta(days=1), education=None,
                          school_participation="never"))
        assert "has a child aged 0-6" in decide(f)[("pkh", None)].text("en")

    @pytest.mark.parametrize(("age", "expected"), [(59, "not_eligible"), (60, "eligible")])
    def test_elderly_threshold_is_the_setting(self, age: int, expected: str) -> None:
        f = family(head(age=age))
        assert RULES.settings["elderly_min_age"] == 60
        assert outcome(f, "pkh") == expected

    def test_elderly_on_the_day_before_the_birthday_is_not_yet(self) -> None:
        f = family(head(birth_date=born(60) + dt.timedelta(days=1)))
        assert outcome(f, "pkh") == "not_eligible"

    @pytest.mark.parametrize(("desil", "expected"), [(4, "eligible"), (5, "not_eligible")])
    def test_desil_boundary(self, desil: int, expected: str) -> None:
        f = family(member("c", age=2))
        assert outcome(f, "pkh", DesilInfo.official(desil, "2026-Q1")) == expected

    def test_desil_5_reason_uses_greater_than(self) -> None:
        d = decide(family(member("c", age=2)), DesilInfo.official(5, "2026-Q1"))[("pkh", None)]
        assert d.text("id") == "desil 5 (BPS 2026-Q1) > 4"

    def test_an_estimate_is_named_as_such(self) -> None:
        d = decide(family(member("c", age=2)), DesilInfo.estimate(3, "pmt-2026.1"))[("pkh", None)]
        assert d.outcome == "eligible"
        assert d.text("id").startswith("desil 3 (PERKIRAAN, model pmt-2026.1) <= 4")
        assert d.text("en").startswith("desil 3 (ESTIMATE, model pmt-2026.1) <= 4")


class TestFeb29:
    BIRTH = dt.date(2020, 2, 29)

    @pytest.mark.parametrize(("day", "age"), [
        (dt.date(2026, 2, 28), 5), (dt.date(2026, 3, 1), 6),   # common year: the birthday is 1 March
        (dt.date(2024, 2, 28), 3), (dt.date(2024, 2, 29), 4),  # leap year: on the day
    ])
    def test_age(self, day: dt.date, age: int) -> None:
        f = family(member("x", birth_date=self.BIRTH))
        assert dict(evaluate(RULES, f, D3, day)[0].inputs)["member[x].age"] == age

    def test_leap_day_child_leaves_0_6_only_on_1_march_of_the_year_she_turns_7(self) -> None:
        f = family(member("x", birth_date=self.BIRTH, education="sd"))
        assert "0-6" in decide(f, day=dt.date(2027, 2, 28))[("pkh", None)].text("en")
        assert "0-6" not in decide(f, day=dt.date(2027, 3, 1))[("pkh", None)].text("en")


class TestExclusions:
    @pytest.mark.parametrize(("house", "who", "reason_id"), [
        ({"asset_car": True}, None, "dikecualikan: memiliki mobil"),
        ({"power_va": 2200}, None, "dikecualikan: daya listrik tinggi"),
        ({}, {"occupation": "civil_servant", "relation": "spouse"}, "dikecualikan: ada anggota keluarga PNS"),
        ({}, {"occupation": "military_police", "relation": "child", "age": 23}, "TNI/Polri"),
    ])
    def test_exclusion_overrides_eligibility_with_the_reason(self, house: dict[str, object],
                                                             who: dict[str, object] | None,
                                                             reason_id: str) -> None:
        extra = [member("w", **who)] if who else []  # type: ignore[arg-type]
        f = family(member("c", age=2), *extra, **house)
        for prog in ("pkh", "sembako", "blt"):
            d = decide(f)[(prog, None)]
            assert d.outcome == "not_eligible", prog
            assert reason_id in d.text("id")
            assert d.reasons[0].kind == "exclusion" and d.text("en").startswith("excluded: ")

    def test_power_just_below_the_threshold_is_not_excluded(self) -> None:
        assert outcome(family(member("c", age=2), power_va=1300), "pkh") == "eligible"

    def test_deceased_head(self) -> None:
        f = family(head(alive=False, death_date=dt.date(2026, 1, 5)), member("c", age=2))
        d = decide(f)[("sembako", None)]
        assert d.outcome == "not_eligible"
        assert "kepala keluarga telah meninggal" in d.text("id") and "has died" in d.text("en")

    def test_a_head_who_died_after_the_reference_date_was_alive_then(self) -> None:
        f = family(head(alive=False, death_date=dt.date(2026, 8, 1)), member("c", age=2))
        assert outcome(f, "sembako") == "eligible"

    def test_exclusion_wins_even_without_a_desil(self) -> None:
        assert outcome(family(asset_car=True), "sembako", NO_DESIL) == "not_eligible"

    def test_a_child_with_no_occupation_does_not_block_the_civil_servant_check(self) -> None:
        f = family(member("c", age=2, occupation=None))
        assert outcome(f, "sembako") == "eligible"


class TestNeedsData:
    def test_no_desil(self) -> None:
        d = decide(family(member("c", age=2)), NO_DESIL)[("pkh", None)]
        assert d.outcome == "needs_data" and d.missing == ("desil",)
        assert d.text("id") == "belum ada desil" and d.text("en") == "no desil yet"

    def test_unknown_pregnancy_matters_only_when_it_could_decide(self) -> None:
        f = family(member("s", relation="spouse", age=30, pregnant=None))
        d = decide(f)[("pkh", None)]
        assert d.outcome == "needs_data" and d.missing == ("member[s].pregnant",)
        # in desil 8 the answer is no whatever the pregnancy
        assert outcome(f, "pkh", DesilInfo.official(8, "2026-Q1")) == "not_eligible"

    def test_a_man_is_not_unknown_pregnant(self) -> None:
        f = family(member("s", relation="other", sex="male", age=30, pregnant=None))
        assert outcome(f, "pkh") == "not_eligible"

    def test_unknown_power_leaves_the_exclusion_unchecked(self) -> None:
        d = decide(family(member("c", age=2), power_va=None))[("pkh", None)]
        assert d.outcome == "needs_data" and d.missing == ("household.power_va",)
        assert "daya listrik tinggi" in d.text("id") and "cannot be checked yet" in d.text("en")

    def test_a_known_component_outweighs_an_unknown_one(self) -> None:
        f = family(member("c", age=2), member("s", relation="spouse", age=30, pregnant=None))
        assert outcome(f, "pkh") == "eligible"


class TestFamilyProgrammes:
    @pytest.mark.parametrize(("desil", "sembako", "blt"), [(4, "eligible", "eligible"),
                                                           (5, "eligible", "not_eligible"),
                                                           (6, "not_eligible", "not_eligible")])
    def test_desil_bounds(self, desil: int, sembako: str, blt: str) -> None:
        f = family()
        info = DesilInfo.official(desil, "2026-Q1")
        assert (outcome(f, "sembako", info), outcome(f, "blt", info)) == (sembako, blt)

    def test_sembako_setting_to_4(self) -> None:
        alt = parse_ruleset(DEFAULT_RULES.read_text(encoding="utf-8").replace(
            "sembako_max_desil: 5", "sembako_max_desil: 4"))
        assert alt.digest != RULES.digest and alt.settings["sembako_max_desil"] == 4
        f = family()
        d5 = DesilInfo.official(5, "2026-Q1")
        assert decide(f, d5, rules=alt)[("sembako", None)].outcome == "not_eligible"


class TestPersonProgrammes:
    def test_pbi_one_decision_per_member(self) -> None:
        f = family(member("a", age=10), member("b", age=40, relation="spouse"))
        keys = sorted(k for (p, k) in decide(f) if p == "pbi_jk")
        assert keys == ["a", "b", "m0-head"]
        assert all(decide(f)[("pbi_jk", k)].outcome == "eligible" for k in keys)

    def test_pbi_desil_6_is_not_eligible_unless_the_reactivation_exception(self) -> None:
        f = family(member("sick", age=50, relation="parent", chronic_illness=True, health_insurance="pbi_jk"))
        d6 = DesilInfo.official(6, "2026-Q1")
        got = decide(f, d6)
        assert got[("pbi_jk", "m0-head")].outcome == "not_eligible"
        sick = got[("pbi_jk", "sick")]
        assert sick.outcome == "eligible"
        assert sick.text("id") == "pengecualian reaktivasi PBI-JK (penyakit kronis/katastropik)"

    def test_pbi_deceased_member_is_excluded_with_the_reason(self) -> None:
        f = family(member("gone", age=70, relation="parent", alive=False, death_date=dt.date(2026, 3, 1)))
        d = decide(f)[("pbi_jk", "gone")]
        assert d.outcome == "not_eligible" and d.text("en").startswith("excluded: deceased")

    def test_pip_target_is_6_to_21(self) -> None:
        f = family(member("five", age=5, school_participation="never", education=None),
                   member("six", age=6, school_participation="in_school", education=None),
                   member("t21", age=21, school_participation="in_school", education="sma"),
                   member("t22", age=22, school_participation="in_school"),
                   member("out", age=12, school_participation="no_longer", education="sd"))
        got = {k: d.outcome for (p, k), d in decide(f).items() if p == "pip"}
        assert got == {"six": "eligible", "t21": "eligible", "out": "not_eligible"}
        assert "partisipasi sekolah: tidak sekolah lagi" in decide(f)[("pip", "out")].text("id")

    def test_pip_unknown_birth_date_needs_data(self) -> None:
        f = family(member("x", age=None, school_participation="in_school"))
        d = decide(f)[("pip", "x")]
        assert d.outcome == "needs_data" and d.missing == ("member[x].age",)
        assert d.reasons[0].kind == "target"

    def test_a_member_born_after_the_reference_date_is_not_counted(self) -> None:
        f = family(member("baby", birth_date=REF + dt.timedelta(days=3)))
        got = decide(f)
        assert ("pbi_jk", "baby") not in got
        assert got[("pkh", None)].outcome == "not_eligible"


class TestDecisionRecord:
    def test_inputs_are_recorded_sorted_and_include_the_desil(self) -> None:
        d = decide(family(member("c", age=2)))[("pkh", None)]
        keys = [k for k, _ in d.inputs]
        assert keys == sorted(keys)
        inputs = dict(d.inputs)
        assert inputs["desil"] == 3 and inputs["desil.source"] == "official"
        assert inputs["desil.period"] == "2026-Q1"
        assert inputs["household.power_va"] == 900 and inputs["member[c].age"] == 2

    def test_as_dict_is_json_and_fingerprint_stable(self) -> None:
        f = family(member("c", age=2))
        a, b = evaluate(RULES, f, D3, REF), evaluate(RULES, f, D3, REF)
        assert a == b
        assert [x.fingerprint() for x in a] == [x.fingerprint() for x in b]
        d = a[0].as_dict()
        assert d["reference_date"] == "2026-06-30" and d["reasons"][0]["text_id"].startswith("desil 3")

    def test_member_order_does_not_change_the_decisions(self) -> None:
        ms = [member("a", age=2), member("b", age=40, relation="spouse"), member("c", age=70)]
        one = evaluate(RULES, family(*ms), D3, REF)
        two = evaluate(RULES, family(*reversed(ms)), D3, REF)
        assert one == two
