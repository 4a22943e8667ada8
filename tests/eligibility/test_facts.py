"""Facts from real registry rows (SQLModel objects, no database) and the desil's provenance."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from app.eligibility import DesilInfo, evaluate, facts_from_rows, load_ruleset, parse_ruleset
from app.registry.models import Household, Member
from tests.eligibility.factories import REF, family, member

RULES = load_ruleset()


def test_sqlmodel_rows_work_and_deleted_members_are_left_out() -> None:
    hh = Household(kelurahan_code="82.71.01.1001", source="enumerator", verification_status="field_verified",
                   power_va=900, asset_car=False)
    head = Member(household_id=hh.id, full_name="Abdul Hamid", sex="male", relation="head",
                  birth_date=dt.date(1980, 5, 1), occupation="fisher")
    child = Member(household_id=hh.id, full_name="Siti Hamid", sex="female", relation="child",
                   birth_date=dt.date(2023, 1, 2))
    gone = Member(household_id=hh.id, full_name="Old record", sex="male", relation="child",
                  birth_date=dt.date(2022, 1, 2), deleted_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    facts = facts_from_rows(hh, [child, head, gone])
    assert facts.key == str(hh.id) and len(facts.members) == 2
    assert facts.head is not None and facts.head.key == str(head.id)
    men = [m for m in facts.members if m.sex == "male"]
    assert men[0].pregnant is False  # a man is not "unknown pregnant"
    decisions = evaluate(RULES, facts, DesilInfo.official(2, "2026-Q1"), REF)
    [pkh] = [d for d in decisions if d.programme_id == "pkh"]
    assert pkh.outcome == "eligible" and "ada anak usia 0-6" in pkh.text("id")
    assert isinstance(uuid.UUID(pkh.family_key), uuid.UUID)


def test_facts_are_immutable() -> None:
    facts = family(member("c", age=2))
    with pytest.raises(TypeError):
        facts.household["power_va"] = 450  # type: ignore[index]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"desil": 11, "source": "official", "period": "2026-Q1"}, "1-10"),
    ({"desil": 3, "source": "official"}, "BPS period"),
    ({"desil": 3, "source": "estimate"}, "model version"),
    ({"desil": None, "source": "official"}, "without a desil"),
])
def test_desil_info_refuses_incomplete_provenance(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DesilInfo(**kwargs)  # type: ignore[arg-type]


def test_a_programme_may_require_an_official_desil() -> None:
    rules = parse_ruleset('id: t\nversion: "1"\nprogrammes:\n  - id: p\n    name: P\n    unit: family\n'
                          '    when: {desil: {max: 4, source: official}}\n')
    f = family()
    [est] = evaluate(rules, f, DesilInfo.estimate(2, "pmt-2026.1"), REF)
    assert est.outcome == "needs_data" and est.missing == ("official desil",)
    assert "PERKIRAAN" in est.text("id") and "needs an official BPS desil" in est.text("en")
    [off] = evaluate(rules, f, DesilInfo.official(2, "2026-Q1"), REF)
    assert off.outcome == "eligible"
