"""The PMT estimate on hand-built families, its missing-data rules, and the calibration report."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from app.eligibility.calibration import calibration_report
from app.eligibility.facts import FamilyFacts, facts_from_rows
from app.eligibility.pmt import DEFAULT_MODEL, estimate, load_model
from tests.eligibility.factories import MODEST_HOUSE, REF, Row, family, head, member

MODEL = load_model()


def kids(*ages: int) -> list[Any]:
    return [member(f"c{i}", age=a, education="sd") for i, a in enumerate(ages)]


def poor() -> FamilyFacts:
    """Most of BPS's 14 criteria: small earth-floor house, bamboo walls, no toilet, unsafe water,
    no electricity, firewood, a fisher head with no schooling, no assets."""
    return family(head(education="none", occupation="fisher"), member("s", relation="spouse", age=38),
                  *kids(1, 4, 8, 11, 14), floor_area_m2=24, floor_material="earth", wall_material="bamboo",
                  roof_material="thatch_leaves", water_source="unprotected_well", toilet_facility="none",
                  lighting_source="none", power_va=0, cooking_fuel="firewood", asset_motorbike=False,
                  asset_smartphone=False, asset_tv=False)


def well_off() -> FamilyFacts:
    return family(head(education="d4_s1", occupation="civil_servant"),
                  member("s", relation="spouse", age=42, education="d4_s1"), *kids(12),
                  floor_area_m2=150, floor_material="ceramic", roof_material="concrete",
                  water_source="bottled", power_va=3500, cooking_fuel="lpg_above_3kg", asset_car=True,
                  asset_ac=True, asset_fridge=True, asset_computer=True, asset_internet=True,
                  asset_bank_account=True)


class TestEstimate:
    def test_a_poor_family_lands_in_desil_1(self) -> None:
        e = estimate(MODEL, poor(), REF)
        assert e.desil == 1 and e.missing == ()
        assert e.predicted_pc_spending is not None and e.predicted_pc_spending < 600_000

    def test_a_well_off_family_lands_in_desil_10(self) -> None:
        assert estimate(MODEL, well_off(), REF).desil == 10

    def test_a_modest_family_is_in_the_middle(self) -> None:
        e = estimate(MODEL, family(member("s", relation="spouse", age=40), *kids(5, 10)), REF)
        assert e.desil is not None and 3 <= e.desil <= 6

    def test_always_labelled_an_estimate_with_its_version(self) -> None:
        e = estimate(MODEL, poor(), REF)
        assert (e.kind, e.label_id, e.label_en, e.model_version) == (
            "estimate", "PERKIRAAN", "ESTIMATE", "pmt-2026.1")
        info = e.desil_info()
        assert info.source == "estimate" and info.label("id") == "desil 1 (PERKIRAAN, model pmt-2026.1)"
        assert e.as_dict()["label"] == "PERKIRAAN"

    def test_contributions_add_up_to_the_prediction(self) -> None:
        e = estimate(MODEL, well_off(), REF)
        assert e.predicted_log_pc_spending is not None
        total = MODEL.reference_log_pc_spending + sum(c.effect for c in e.contributions)
        assert e.predicted_log_pc_spending == pytest.approx(total, abs=1e-5)
        effects = {c.variable: c for c in e.contributions}
        assert effects["asset_car"].effect == pytest.approx(0.30)
        assert effects["floor_material"].value == "ceramic"

    @pytest.mark.parametrize("area", [10, 20, 40, 80, 160])
    def test_monotonic_in_floor_area(self, area: int) -> None:
        smaller = estimate(MODEL, family(*kids(5), floor_area_m2=area), REF)
        larger = estimate(MODEL, family(*kids(5), floor_area_m2=area * 2), REF)
        assert smaller.predicted_log_pc_spending is not None and larger.predicted_log_pc_spending is not None
        assert larger.predicted_log_pc_spending > smaller.predicted_log_pc_spending
        assert larger.desil is not None and smaller.desil is not None and larger.desil >= smaller.desil

    def test_more_members_in_the_same_house_is_poorer(self) -> None:
        values = [estimate(MODEL, family(*kids(*range(3, 3 + n))), REF).predicted_log_pc_spending
                  for n in range(0, 7)]
        assert all(a is not None and b is not None and b < a for a, b in pairwise(values))

    def test_deterministic(self) -> None:
        assert estimate(MODEL, poor(), REF) == estimate(MODEL, poor(), REF)


class TestMissing:
    def test_a_few_missing_are_imputed_and_listed(self) -> None:
        e = estimate(MODEL, family(*kids(5), floor_material=None, asset_tv=None), REF)
        assert e.desil is not None
        assert e.missing == ("floor_material", "asset_tv")
        imputed = {c.variable: c.value for c in e.contributions}
        assert imputed["floor_material"] == "cement_brick" and imputed["asset_tv"] is False

    def test_too_many_missing_is_no_estimate(self) -> None:
        blank = dict.fromkeys(("floor_area_m2", "floor_material", "wall_material", "roof_material",
                               "water_source", "toilet_facility", "cooking_fuel"))
        e = estimate(MODEL, family(*kids(5), **blank), REF)
        assert e.needs_data and e.desil is None and e.predicted_log_pc_spending is None
        assert len(e.missing) == 7 and e.desil_info().desil is None

    def test_no_members_is_no_estimate(self) -> None:
        e = estimate(MODEL, facts_from_rows(Row("h", dict(MODEST_HOUSE)), []), REF)
        assert e.needs_data and "household_size" in e.missing

    def test_an_unknown_code_counts_as_missing(self) -> None:
        e = estimate(MODEL, family(*kids(5), floor_material="gold_leaf"), REF)
        assert "floor_material" in e.missing

    def test_bad_model_file_names_the_problem(self, tmp_path: Path) -> None:
        path = tmp_path / "pmt.toml"
        path.write_text(DEFAULT_MODEL.read_text(encoding="utf-8").replace(
            'name = "asset_tv"', 'name = "asset_spaceship"'), encoding="utf-8")
        with pytest.raises(ValueError, match="asset_spaceship"):
            load_model(path)


class TestCalibration:
    def test_arithmetic(self) -> None:
        pairs = [(1, 1), (1, 2), (2, 4), (3, 3), (10, 9), (10, 10), (5, 1), (5, 5)]
        r = calibration_report(pairs)
        assert r.n == 8 and r.exact == 4 and r.within_one == 6
        assert r.share_exact == 0.5 and r.share_within_one == 0.75
        assert r.matrix[0][1] == 1 and r.matrix[4][0] == 1 and r.matrix[9][9] == 1
        assert r.official_counts == (2, 1, 1, 0, 2, 0, 0, 0, 0, 2)
        assert r.estimated_counts == (2, 1, 1, 1, 1, 0, 0, 0, 1, 1)
        assert sum(map(sum, r.matrix)) == 8
        assert r.mean_abs_error == pytest.approx((0 + 1 + 2 + 0 + 1 + 0 + 4 + 0) / 8)
        assert r.exact_share_by_official()[0] == 0.5 and r.exact_share_by_official()[3] is None

    def test_table(self) -> None:
        text = calibration_report([(1, 1), (2, 3)]).table()
        assert "exact: 1 (50.0%)" in text and "within one decile: 2 (100.0%)" in text
        assert len(text.splitlines()) == 2 + 10 + 2

    def test_empty(self) -> None:
        r = calibration_report([])
        assert r.n == 0 and r.share_exact is None and "no pairs" in r.table()

    @pytest.mark.parametrize("pair", [(0, 1), (1, 11), (True, 1), (2.0, 3)])
    def test_refuses_values_outside_1_10(self, pair: tuple[Any, Any]) -> None:
        with pytest.raises(ValueError, match="1-10"):
            calibration_report([pair])
