"""Score runs: decisions stored with reasons, idempotent, canonical records only; rule sets."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from app.db import utcnow
from app.eligibility import rules_service, scoring
from app.eligibility.facts import HOUSEHOLD_ATTRIBUTES
from app.eligibility.loader import DEFAULT_RULES
from app.eligibility.rules import RuleSetInvalid
from app.eligibility.store import EligibilityDecision, FamilyDesil, RuleSetRecord
from app.errors import Conflict
from app.registry.models import Household
from tests.eligibility_db.helpers import ACTOR, family, write_csv, young_family

DAY = date(2026, 6, 1)


def _official(db: Session, tmp_path: Path, pairs: list[tuple[str, int]]) -> None:
    from app.eligibility import desil_service
    from app.eligibility.desil_file import read_desil_file

    path = write_csv(tmp_path / "d.csv", [["NIK_KRT", "DESIL"], *[[n, str(d)] for n, d in pairs]])
    result = desil_service.import_desil(session=db, data=read_desil_file(path, period="2026-Q1"), actor=ACTOR)
    assert result.matched == len(pairs)


def _run(db: Session, day: date = DAY) -> scoring.RunSummary:
    record = rules_service.ensure_active(session=db, actor=ACTOR)
    assert record is not None
    return scoring.score_all(session=db, record=record, reference_date=day, actor=ACTOR, batch_size=2)


def _snapshot(db: Session) -> list[tuple[object, ...]]:
    rows = db.exec(
        select(EligibilityDecision)
        .order_by(col(EligibilityDecision.id))
        .execution_options(populate_existing=True)
    ).all()
    return [
        (
            r.id,
            r.household_id,
            r.subject,
            r.programme_id,
            r.outcome,
            r.fingerprint,
            r.current,
            r.superseded_at,
        )
        for r in rows
    ]


def _current(db: Session, household_id: object) -> dict[tuple[str, str], EligibilityDecision]:
    rows = db.exec(
        select(EligibilityDecision)
        .where(EligibilityDecision.household_id == household_id, col(EligibilityDecision.current))
        .execution_options(populate_existing=True)
    ).all()
    return {(r.programme_id, r.subject): r for r in rows}


class TestScoreRun:
    def test_decisions_with_reasons_and_provenance(self, db: Session, tmp_path: Path) -> None:
        poor = young_family(db)
        _official(db, tmp_path, [(poor.head_nik, 3)])
        summary = _run(db)
        assert summary.families >= 1 and summary.written > 0
        pkh = _current(db, poor.id)[("pkh", "family")]
        assert pkh.outcome == "eligible", pkh.reasons
        assert pkh.desil == 3 and pkh.desil_source == "official" and pkh.desil_period == "2026-Q1"
        assert pkh.ruleset_label == "ternate-bansos@2026.1" and pkh.run_id == summary.run_id
        texts = [r["text_id"] for r in pkh.reasons]
        assert any("desil 3 (BPS 2026-Q1)" in t for t in texts)
        assert all(r["text_en"] for r in pkh.reasons)
        assert pkh.inputs["desil"] == 3

    def test_second_run_writes_nothing(self, db: Session, tmp_path: Path) -> None:
        a, b = young_family(db), family(db)
        _official(db, tmp_path, [(a.head_nik, 2)])
        first = _run(db)
        before = _snapshot(db)
        second = _run(db)
        assert (
            second.written == 0
            and second.retired == 0
            and second.unchanged == first.written + first.unchanged
        )
        assert _snapshot(db) == before  # no new rows, no changed rows
        assert b.id in {row[1] for row in before}

    def test_changed_desil_supersedes_only_what_changed(self, db: Session, tmp_path: Path) -> None:
        a = young_family(db)
        _official(db, tmp_path, [(a.head_nik, 3)])
        _run(db)
        old = _current(db, a.id)[("pkh", "family")]
        row = db.exec(select(FamilyDesil).where(FamilyDesil.household_id == a.id)).one()
        row.desil = 9
        db.add(row)
        db.flush()
        second = _run(db)
        assert second.written > 0
        new = _current(db, a.id)[("pkh", "family")]
        assert new.outcome == "not_eligible" and new.id != old.id
        kept = db.get(EligibilityDecision, old.id, populate_existing=True)
        assert kept is not None and not kept.current and kept.superseded_by_run == second.run_id

    def test_merged_away_household_loses_its_decisions(self, db: Session) -> None:
        survivor, gone = family(db), family(db)
        _run(db)
        assert _current(db, gone.id)
        row = db.get(Household, gone.id)
        assert row is not None
        row.merged_into_id, row.deleted_at = survivor.id, utcnow()
        db.add(row)
        db.flush()
        summary = _run(db)
        assert summary.retired > 0
        assert _current(db, gone.id) == {}
        assert _current(db, survivor.id)
        old = db.exec(
            select(func.count())
            .select_from(EligibilityDecision)
            .where(EligibilityDecision.household_id == gone.id)
        ).one()
        assert old > 0  # history kept, not current

    def test_estimate_is_used_and_labelled_when_no_official(self, db: Session) -> None:
        from app.eligibility import desil_service
        from app.eligibility.pmt import load_model

        assets = {name: False for name in HOUSEHOLD_ATTRIBUTES if name.startswith("asset_")}
        a = family(
            db,
            **assets,
            tenure="own",
            floor_area_m2=36,
            wall_material="wood_board",
            water_source="protected_well",
            lighting_source="pln_metered",
        )
        desil_service.estimate_households(session=db, model=load_model(), reference_date=DAY)
        _run(db)
        sembako = _current(db, a.id)[("sembako", "family")]
        assert sembako.desil is not None, sembako.reasons
        assert sembako.desil_source == "estimate" and sembako.desil_model
        assert any("PERKIRAAN" in r["text_id"] and "ESTIMATE" in r["text_en"] for r in sembako.reasons)


class TestRuleSets:
    def test_seed_set_is_loaded_and_active_on_first_use(self, db: Session) -> None:
        active = rules_service.ensure_active(session=db, actor=ACTOR)
        assert active is not None and active.status == "active" and active.label == "ternate-bansos@2026.1"
        assert rules_service.ensure_active(session=db, actor=ACTOR) == active  # once

    def test_invalid_file_is_refused_and_not_stored(self, db: Session) -> None:
        text = DEFAULT_RULES.read_text(encoding="utf-8").replace("max: 4", "max: 11", 1)
        with pytest.raises(RuleSetInvalid) as err:
            rules_service.load_rules(session=db, text=text, source_name="bad.yaml", actor=ACTOR)
        assert err.value.first.line > 0 and "out of range" in err.value.first.reason
        assert db.exec(select(func.count()).select_from(RuleSetRecord)).one() == 0

    def test_load_activate_and_dry_run(self, db: Session, tmp_path: Path) -> None:
        a = young_family(db)
        _official(db, tmp_path, [(a.head_nik, 5)])
        _run(db)
        assert _current(db, a.id)[("pkh", "family")].outcome == "not_eligible"
        text = (
            DEFAULT_RULES.read_text(encoding="utf-8")
            .replace('version: "2026.1"', 'version: "2026.2"', 1)
            .replace("desil: {max: 4}", "desil: {max: 5}")
        )
        before = _snapshot(db)
        candidate = rules_service.parse_ruleset(text, source="new.yaml")
        result = rules_service.dry_run(session=db, ruleset=candidate, reference_date=DAY, batch_size=2)
        assert result.changing.get("pkh", 0) >= 1
        assert any(
            k[0] == "pkh" and k[3] == "not_eligible" and k[4] == "eligible" for k, _ in result.changes()
        )
        assert _snapshot(db) == before  # nothing written
        record, created = rules_service.load_rules(session=db, text=text, source_name="new.yaml", actor=ACTOR)
        assert created and record.status == "draft"
        assert (
            rules_service.load_rules(session=db, text=text, source_name="new.yaml", actor=ACTOR)[1] is False
        )
        with pytest.raises(Conflict):
            rules_service.load_rules(
                session=db, text=text + "\n# changed\n", source_name="x.yaml", actor=ACTOR
            )
        rules_service.activate(session=db, label="ternate-bansos@2026.2", actor=ACTOR)
        statuses = {
            r.label: r.status
            for r in db.exec(select(RuleSetRecord).execution_options(populate_existing=True))
        }
        assert statuses == {"ternate-bansos@2026.1": "retired", "ternate-bansos@2026.2": "active"}
        _run(db)
        now = _current(db, a.id)[("pkh", "family")]
        assert now.outcome == "eligible" and now.ruleset_label == "ternate-bansos@2026.2"


class TestCalibration:
    def test_estimate_against_official(self, db: Session, tmp_path: Path) -> None:
        from app.eligibility import desil_service
        from app.eligibility.pmt import load_model

        assets = {name: False for name in HOUSEHOLD_ATTRIBUTES if name.startswith("asset_")}
        a = family(
            db,
            **assets,
            tenure="own",
            floor_area_m2=36,
            wall_material="wood_board",
            water_source="protected_well",
            lighting_source="pln_metered",
        )
        family(db)  # no official desil: not a pair
        _official(db, tmp_path, [(a.head_nik, 2)])
        model = load_model()
        only_missing = desil_service.estimate_households(session=db, model=model, reference_date=DAY)
        assert a.id not in {None} and only_missing.households >= 1
        everyone = desil_service.estimate_households(
            session=db, model=model, reference_date=DAY, include_official=True
        )
        assert (
            everyone.households == only_missing.households + 1
            and everyone.unchanged == only_missing.households
        )
        report = desil_service.calibrate(session=db, model_version=model.version)
        assert report.n == 1 and sum(report.matrix[1]) == 1
        assert "PMT calibration" in report.table()
