"""Dry run: counting what would change between two rule sets."""

from __future__ import annotations

from app.eligibility.compare import compare
from app.eligibility.decide import Decision, evaluate
from app.eligibility.facts import DesilInfo, FamilyFacts
from app.eligibility.loader import DEFAULT_RULES, load_ruleset, parse_ruleset
from app.eligibility.rules import RuleSet
from tests.eligibility.factories import REF, family, member

OLD = load_ruleset()
NEW = parse_ruleset(DEFAULT_RULES.read_text(encoding="utf-8")
                    .replace("sembako_max_desil: 5", "sembako_max_desil: 4")
                    .replace('version: "2026.1"', 'version: "2026.2"'))


def families() -> list[tuple[FamilyFacts, DesilInfo, str]]:
    out = []
    for i, desil in enumerate([3, 4, 5, 5, 5, 6]):
        kec = "Ternate Utara" if i % 2 else "Ternate Selatan"
        out.append((family(member(f"c{i}", age=3), key=f"hh-{i}"), DesilInfo.official(desil, "2026-Q1"), kec))
    return out


def run(rules: RuleSet) -> list[Decision]:
    return [d for f, desil, _ in families() for d in evaluate(rules, f, desil, REF)]


def test_sembako_1_4_moves_the_desil_5_families_only() -> None:
    groups = {f.key: (kec, f"desil {desil.desil}") for f, desil, kec in families()}
    result = compare(run(OLD), run(NEW), group_by=groups)
    assert {r.programme_id for r in result.changes} == {"sembako"}
    assert result.families_changing("sembako") == 3 and result.families_changing("pkh") == 0
    moved = {(r.group, r.before, r.after): r.families for r in result.changes}
    assert moved == {(("Ternate Selatan", "desil 5"), "eligible", "not_eligible"): 2,   # hh-2, hh-4
                     (("Ternate Utara", "desil 5"), "eligible", "not_eligible"): 1}     # hh-3
    assert "sembako" in result.table() and "Ternate Utara / desil 5" in result.table()


def test_unchanged_rules_change_nothing() -> None:
    result = compare(run(OLD), run(OLD))
    assert result.changes == () and "(no change)" in result.table()
    total = sum(r.subjects for r in result.rows)
    assert total == len(run(OLD))


def test_person_level_counts_persons_and_families() -> None:
    f = family(member("a", age=8, school_participation="in_school"),
               member("b", age=10, school_participation="in_school"), key="hh-x")
    old = evaluate(OLD, f, DesilInfo.official(5, "2026-Q1"), REF)
    new = evaluate(OLD, f, DesilInfo.official(6, "2026-Q1"), REF)
    result = compare(old, new, group_by=lambda key: "kec")
    pip = [r for r in result.changes if r.programme_id == "pip"]
    assert [(r.before, r.after, r.families, r.subjects) for r in pip] == [("eligible", "not_eligible", 1, 2)]


def test_appearing_and_disappearing_subjects_are_absent_on_one_side() -> None:
    f = family(member("a", age=8, school_participation="in_school"), key="hh-y")
    result = compare([], evaluate(OLD, f, DesilInfo.official(3, "2026-Q1"), REF))
    assert all(r.before == "absent" for r in result.rows)
    assert result.families_changing("pip") == 1
