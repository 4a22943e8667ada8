"""The eligibility commands end to end, as an official runs them, on a real database of their
own (SQLite file and PostgreSQL): seed, desil import (refused, then the valid rows), estimate,
calibrate, rules load (refused, then stored) / list / dry-run / activate, score run twice,
and the one-run-at-a-time guard with a crashed run taken over."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine, func, select, update
from sqlmodel import Session
from typer.testing import CliRunner

from app.cli import cli
from app.db import build_engine, utcnow
from app.eligibility.loader import DEFAULT_RULES
from app.eligibility.store import (
    DesilEstimate,
    EligibilityDecision,
    FamilyDesil,
    RuleSetRecord,
    ScoreRun,
)
from app.registry.models import Household, Member

runner = CliRunner()
DAY = "2026-06-01"


class Ran:
    """A command's exit code and its output with line wrapping undone (rich wraps at 80)."""

    def __init__(self, result: Result) -> None:
        self.exit_code = result.exit_code
        self.raw = result.output
        self.output = " ".join(result.output.split())


def sigap(*args: object) -> Ran:
    return Ran(runner.invoke(cli, [str(a) for a in args], catch_exceptions=False))


def ok(*args: object) -> str:
    result = sigap(*args)
    assert result.exit_code == 0, result.raw
    return result.output


def scalar(engine: Engine, stmt: object) -> object:
    with Session(engine) as s:
        return s.execute(stmt).scalar_one()  # type: ignore[call-overload]


def heads(engine: Engine) -> list[tuple[str, str | None]]:
    stmt = (
        select(Member.nik, Household.kk_number)
        .join(Household, Member.household_id == Household.id)  # type: ignore[arg-type]
        .where(Member.relation == "head", Member.nik.is_not(None))  # type: ignore[union-attr]
        .order_by(Member.nik)
    )
    with Session(engine) as s:
        return [(n, k) for n, k in s.execute(stmt)]


def current_decisions(engine: Engine) -> int:
    stmt = select(func.count()).select_from(EligibilityDecision).where(EligibilityDecision.current)
    return int(scalar(engine, stmt))  # type: ignore[arg-type]


def test_officials_flow(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # tables built at call time do not wrap their cells
    ok("migrate")
    ok("seed", "--demo", "40")
    engine = build_engine(database_url)
    try:
        families = heads(engine)
        assert len(families) >= 30

        # -- desil import: one bad row refuses the whole file; the report names the rows
        path = tmp_path / "dtsen.csv"
        rows = [["NIK_KRT", "NO_KK", "DESIL"]]
        rows += [[nik, kk or "", str(i % 10 + 1)] for i, (nik, kk) in enumerate(families[:30])]
        rows += [["8271019999999999", "", "3"], [families[30][0], "", "11"]]
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
        refused = sigap("desil", "import", path, "--period", "2026-Q1")
        assert refused.exit_code == 2, refused.output
        assert "nothing imported" in refused.output
        assert scalar(engine, select(func.count()).select_from(FamilyDesil)) == 0
        report = (tmp_path / "dtsen.report.csv").read_text(encoding="utf-8")
        assert "33" in report and "desil" in report.lower()  # the desil 11 row (header = row 1)
        bad_period = sigap("desil", "import", path, "--period", "2026-5")
        assert bad_period.exit_code == 2 and "2026-5" in bad_period.output

        ok("desil", "import", path, "--period", "2026-Q1", "--accept-valid")
        assert scalar(engine, select(func.count()).select_from(FamilyDesil)) == 30
        again = ok("desil", "import", path, "--period", "2026-Q1", "--accept-valid")
        assert "already imported" in again
        assert scalar(engine, select(func.count()).select_from(FamilyDesil)) == 30

        # -- PMT estimate for everyone (calibration needs both), then the calibration report
        ok("desil", "estimate", "--all", "--reference-date", DAY)
        estimates = scalar(engine, select(func.count()).select_from(DesilEstimate))
        assert estimates == len(families) or estimates == scalar(
            engine, select(func.count()).select_from(Household)
        )
        calibration = tmp_path / "calibration.txt"
        out = ok("desil", "calibrate", "--output", calibration)
        assert " ".join(calibration.read_text(encoding="utf-8").split()) in out

        # -- rules: the seed set is active; a broken file is refused with its line; a new one
        listed = ok("rules", "list")
        assert "ternate-bansos@2026.1" in listed and "active" in listed
        text = DEFAULT_RULES.read_text(encoding="utf-8")
        broken = tmp_path / "broken.yaml"
        broken.write_text(text.replace("- desil: {max: 4}", "- desil: {max: eleven}", 1), encoding="utf-8")
        refused = sigap("rules", "load", broken)
        assert refused.exit_code == 2 and "broken.yaml" in refused.output
        assert "line" in refused.output or "baris" in refused.output
        stricter = tmp_path / "stricter.yaml"
        stricter.write_text(
            text.replace('version: "2026.1"', 'version: "2026.2"').replace(
                "sembako_max_desil: 5", "sembako_max_desil: 2"
            ),
            encoding="utf-8",
        )
        ok("rules", "load", stricter)
        with Session(engine) as s:
            drafts = s.execute(select(RuleSetRecord.label, RuleSetRecord.status)).all()
        assert ("ternate-bansos@2026.2", "draft") in drafts

        # -- first run, then an unchanged re-run writes nothing
        ok("score", "run", "--reference-date", DAY)
        first = current_decisions(engine)
        assert first > 0
        ok("score", "run", "--reference-date", DAY)
        assert current_decisions(engine) == first
        with Session(engine) as s:
            runs = s.execute(select(ScoreRun.status, ScoreRun.written).order_by(ScoreRun.id)).all()
        assert [r[0] for r in runs] == ["finished", "finished"] and runs[1][1] == 0

        # -- dry run of the stricter set: Sembako families change, nothing is written
        dry = ok("rules", "dry-run", stricter)
        assert "sembako" in dry
        assert current_decisions(engine) == first
        ok("rules", "activate", "ternate-bansos@2026.2")
        ok("score", "run", "--reference-date", DAY)
        with Session(engine) as s:
            sembako = s.execute(
                select(func.count())
                .select_from(EligibilityDecision)
                .join(FamilyDesil, FamilyDesil.household_id == EligibilityDecision.household_id)  # type: ignore[arg-type]
                .where(
                    EligibilityDecision.current,
                    EligibilityDecision.programme_id == "sembako",
                    EligibilityDecision.outcome == "eligible",
                    FamilyDesil.desil > 2,
                )
            ).scalar_one()
        assert sembako == 0

        # -- one run at a time: a live run refuses the next (exit 3), a dead one is taken over
        with Session(engine) as s:
            record = s.execute(select(RuleSetRecord).where(RuleSetRecord.status == "active")).scalar_one()
            live = ScoreRun(
                rule_set_id=record.id or 0,
                ruleset_label=record.label,
                reference_date=utcnow().date(),
                started_by="other-terminal",
            )
            s.add(live)
            s.commit()
            live_id = live.id
        busy = sigap("score", "run", "--reference-date", DAY)
        assert busy.exit_code == 3, busy.output
        assert f"#{live_id}" in busy.output and "masih berjalan" in busy.output
        with Session(engine) as s:
            s.execute(
                update(ScoreRun)
                .where(ScoreRun.id == live_id)  # type: ignore[arg-type]
                .values(heartbeat_at=utcnow() - timedelta(minutes=11))
            )
            s.commit()
        ok("score", "run", "--reference-date", DAY)
        with Session(engine) as s:
            dead = s.get(ScoreRun, live_id)
            assert dead is not None and dead.status == "abandoned" and dead.error
            statuses = s.execute(select(ScoreRun.status).order_by(ScoreRun.id)).scalars().all()
        assert statuses[-1] == "finished" and "running" not in statuses
    finally:
        engine.dispose()
