"""The synthetic generator feeds the demo, tests and benchmarks: its families must be valid."""

from __future__ import annotations

from app.registry import rules
from app.registry.schemas import HouseholdCreate
from app.registry.synthetic import SyntheticRegistry

HIRI = ["82.71.07.1001", "82.71.07.1002"]


class TestSyntheticFamilies:
    def test_every_family_passes_the_registry_rules(self) -> None:
        for data in SyntheticRegistry(seed=11, kelurahan_codes=HIRI).households(500):
            family = HouseholdCreate.model_validate(data)
            assert rules.head_problems([m.relation.value for m in family.members]) == []
            for m in family.members:
                assert rules.member_problems(m.model_dump()) == [], m

    def test_deterministic_per_seed(self) -> None:
        first = list(SyntheticRegistry(seed=3, kelurahan_codes=HIRI).households(20))
        again = list(SyntheticRegistry(seed=3, kelurahan_codes=HIRI).households(20))
        assert first == again

    def test_two_seeds_do_not_share_identifiers(self) -> None:
        def identifiers(seed: int) -> set[str]:
            out = set()
            for h in SyntheticRegistry(seed=seed, kelurahan_codes=HIRI).households(2000):
                out.add(h["kk_number"])
                out |= {m["nik"] for m in h["members"] if m["nik"]}
            return out

        assert identifiers(1) & identifiers(2) == set()

    def test_about_four_members_a_family(self) -> None:
        families = list(SyntheticRegistry(seed=5, kelurahan_codes=HIRI).households(4000))
        average = sum(len(h["members"]) for h in families) / len(families)
        assert 3.7 < average < 4.3
