"""Monthly snapshots (``sigap report snapshot``) and the trend endpoints that read them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner, Result

from app import cli as main_cli
from app.audit.models import AuditEntry
from app.audit.service import ActorRef
from app.auth.models import Role
from app.db import utcnow
from app.eligibility import repository as eligibility_repo
from app.eligibility import rules_service, scoring
from app.eligibility.store import DesilImport, EligibilityDecision, FamilyDesil
from app.errors import InvalidData
from app.registry.models import Household, Member
from app.reports import progress_cli, snapshots
from app.reports.progress_models import ReportSnapshot, ReportSnapshotDesil, ReportSnapshotProgramme
from tests import factories as f
from tests.conftest import Account
from tests.eligibility_db.helpers import ACTOR, family, young_family

HIRI = "82.71.07"
SELATAN = "82.71.02"
CLI_ACTOR = ActorRef(user_id=None, name="test-snapshot", channel="cli")


def _take(db: Session, period: str, *, replace: bool = False) -> snapshots.SnapshotResult:
    return snapshots.take_snapshot(session=db, period=period, actor=CLI_ACTOR, replace=replace)


def _official(db: Session, household_id: Any, desil: int, period: str = "2026-Q1") -> None:
    imp = db.exec(select(DesilImport)).first()
    if imp is None:
        imp = DesilImport(file_name="x.csv", sha256="1" * 64, period=period, imported_by="test")
        db.add(imp)
        db.flush()
    assert imp.id is not None
    db.add(FamilyDesil(household_id=household_id, period=period, desil=desil, import_id=imp.id, row_number=2))
    db.flush()


def _live(db: Session) -> Counter[tuple[str, int, str, str]]:
    """The aggregate computed the slow way, in Python: the desil scoring would use, per family."""
    households = db.exec(select(Household).where(col(Household.deleted_at).is_(None))).all()
    persons = Counter(
        hid for hid in db.exec(select(Member.household_id).where(col(Member.deleted_at).is_(None))).all()
    )
    desil = eligibility_repo.latest_desil(db, [h.id for h in households])
    out: Counter[tuple[str, int, str, str]] = Counter()
    for h in households:
        info = desil.get(h.id)
        d = 0 if info is None or info.desil is None else info.desil
        source = "none" if info is None or info.desil is None else str(info.source)
        out[(h.kelurahan_code, d, source, "families")] += 1
        out[(h.kelurahan_code, d, source, "persons")] += persons[h.id]
    return out


def _stored(db: Session, period: str) -> Counter[tuple[str, int, str, str]]:
    out: Counter[tuple[str, int, str, str]] = Counter()
    rows = db.exec(
        select(ReportSnapshotDesil)
        .where(ReportSnapshotDesil.period == period)
        .execution_options(populate_existing=True)
    ).all()
    for r in rows:
        out[(r.kelurahan_code, r.desil, r.desil_source, "families")] += r.families
        out[(r.kelurahan_code, r.desil, r.desil_source, "persons")] += r.persons
    return out


def _programmes(db: Session, period: str) -> dict[tuple[str, str, str, str], tuple[int, int]]:
    rows = db.exec(select(ReportSnapshotProgramme).where(ReportSnapshotProgramme.period == period)).all()
    return {
        (r.kelurahan_code, r.programme_id, r.rule_set_label, r.outcome): (r.families, r.subjects)
        for r in rows
    }


def _score(db: Session) -> None:
    record = rules_service.ensure_active(session=db, actor=ACTOR)
    assert record is not None
    scoring.score_all(session=db, record=record, reference_date=date(2026, 6, 1), actor=ACTOR)


def _scenario(db: Session) -> dict[str, Any]:
    fams = {
        "poor": young_family(db),
        "plain": family(db),
        "selatan": family(db, f.SELATAN_KELURAHAN),
        "tomajiko": family(db, f.HIRI_TOMAJIKO),
    }
    _official(db, fams["poor"].id, 2)
    _official(db, fams["selatan"].id, 7)
    return fams


def _delete(db: Session, household_id: Any) -> None:
    row = db.get(Household, household_id)
    assert row is not None
    row.deleted_at = utcnow()
    db.add(row)
    db.flush()


class TestTake:
    def test_counts_equal_the_live_aggregate_and_do_not_move_after_edits(self, db: Session) -> None:
        fams = _scenario(db)
        _score(db)
        live = _live(db)
        result = _take(db, "2026-05")
        assert result.status == "taken" and result.families == 4
        assert result.persons == sum(v for k, v in live.items() if k[3] == "persons")
        assert _stored(db, "2026-05") == live
        assert _stored(db, "2026-05")[(f.HIRI_FAUDU, 2, "official", "families")] == 1
        assert _stored(db, "2026-05")[(f.HIRI_FAUDU, 0, "none", "families")] == 1
        # the programmes: the current decisions, with their rule set
        decisions = db.exec(select(EligibilityDecision).where(col(EligibilityDecision.current))).all()
        progs = _programmes(db, "2026-05")
        assert sum(s for _, s in progs.values()) == len(decisions) == result.decisions
        expected_pkh = sum(1 for d in decisions if d.programme_id == "pkh" and d.outcome == "eligible")
        got_pkh = sum(v[0] for k, v in progs.items() if k[1] == "pkh" and k[3] == "eligible")
        assert got_pkh == expected_pkh >= 1
        assert {k[2] for k in progs} == {"ternate-bansos@2026.1"}
        # later edits: a new family, a deleted one, a new desil
        family(db)
        _delete(db, fams["plain"].id)
        _official(db, fams["tomajiko"].id, 4)
        assert _live(db) != live
        assert _stored(db, "2026-05") == live
        header = db.get(ReportSnapshot, "2026-05", populate_existing=True)
        assert header is not None and header.families == 4

    def test_idempotent_per_period(self, db: Session) -> None:
        _scenario(db)
        first = _take(db, "2026-05")
        before = _stored(db, "2026-05")
        family(db)
        again = _take(db, "2026-05")
        assert again.status == "already_taken"
        assert (again.families, again.taken_at) == (first.families, first.taken_at)
        assert _stored(db, "2026-05") == before
        audits = db.exec(select(AuditEntry).where(AuditEntry.entity_type == "report_snapshot")).all()
        assert [a.action for a in audits] == ["create"]

    def test_replace_retakes_and_is_audited(self, db: Session) -> None:
        fams = _scenario(db)
        _take(db, "2026-05")
        family(db, f.SELATAN_KELURAHAN)
        _delete(db, fams["poor"].id)
        result = _take(db, "2026-05", replace=True)
        assert result.status == "replaced" and result.families == 4
        assert _stored(db, "2026-05") == _live(db)
        header = db.get(ReportSnapshot, "2026-05", populate_existing=True)
        assert header is not None and header.replaced == 1
        audit = db.exec(
            select(AuditEntry).where(
                AuditEntry.entity_type == "report_snapshot", AuditEntry.action == "replace"
            )
        ).one()
        assert audit.entity_id == "2026-05" and "taken_at" in audit.changes
        # replacing a period never taken simply takes it
        assert _take(db, "2026-06", replace=True).status == "taken"

    def test_empty_registry_and_bad_period(self, db: Session) -> None:
        result = _take(db, "2026-01")
        assert (result.families, result.persons, result.decisions) == (0, 0, 0)
        for bad in ("2026-13", "2026-1", "26-01", "2026-Q1", ""):
            with pytest.raises(InvalidData) as err:
                _take(db, bad)
            assert err.value.problems[0].field == "period"

    def test_current_period_is_ternate_time(self) -> None:
        from datetime import UTC, datetime

        # 31 Dec 20:00 UTC is already 1 Jan in Ternate (UTC+9)
        assert snapshots.current_period(datetime(2026, 12, 31, 20, 0, tzinfo=UTC)) == "2027-01"


def test_concurrent_runs_take_one_snapshot(db_kind: str, tmp_path: Any) -> None:
    """Two crons at once: the second waits for the first and changes nothing (own database:
    both must really commit)."""
    import threading
    import time

    from tests.conftest import reference_database

    with reference_database(db_kind, tmp_path, pool_size=4) as eng:
        with Session(eng) as setup:
            family(setup)
            family(setup, f.SELATAN_KELURAHAN)
            setup.commit()
        results: dict[str, snapshots.SnapshotResult] = {}
        first = Session(eng)
        results["first"] = _take(first, "2026-08")

        def second() -> None:
            with Session(eng) as other:
                results["second"] = _take(other, "2026-08")
                other.commit()

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert "second" not in results  # waiting for the first transaction
        first.commit()
        first.close()
        thread.join(timeout=30)
        assert results["first"].status == "taken" and results["second"].status == "already_taken"
        with Session(eng) as check:
            assert _stored(check, "2026-08") == _live(check)
            audits = check.exec(select(AuditEntry).where(AuditEntry.entity_type == "report_snapshot")).all()
            assert len(audits) == 1


class TestCli:
    @pytest.fixture
    def run(self, db: Session, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
        @contextmanager
        def session() -> Iterator[Session]:
            yield db

        monkeypatch.setattr(progress_cli, "cli_session", session)
        return lambda *args: CliRunner().invoke(main_cli.cli, ["report", "snapshot", *map(str, args)])

    def test_snapshot_again_and_replace(self, db: Session, run: Callable[..., Result]) -> None:
        _scenario(db)
        first = run("--period", "2026-07")
        assert first.exit_code == 0, first.output
        assert "2026-07" in first.output and "4 keluarga" in first.output
        again = run("--period", "2026-07")
        assert again.exit_code == 0 and "already taken" in again.output
        family(db)
        replaced = run("--period", "2026-07", "--replace")
        assert replaced.exit_code == 0 and "replaced" in replaced.output and "5 keluarga" in replaced.output

    def test_default_period_is_this_month(self, db: Session, run: Callable[..., Result]) -> None:
        result = run()
        assert result.exit_code == 0, result.output
        assert db.get(ReportSnapshot, snapshots.current_period()) is not None

    def test_bad_period_exits_2(self, db: Session, run: Callable[..., Result]) -> None:
        result = run("--period", "2026-13")
        assert result.exit_code == 2 and "YYYY-MM" in result.output
        assert db.exec(select(func.count()).select_from(ReportSnapshot)).one() == 0


def _get(client: TestClient, who: Account, path: str, **params: Any) -> Any:
    return client.get(path, params=params, headers=who.headers)


class TestTrends:
    @pytest.fixture
    def months(self, db: Session) -> dict[str, Any]:
        """May: 4 families (3 in Hiri, 1 in Selatan); June: +1 in Faudu, Selatan's deleted."""
        fams = _scenario(db)
        _score(db)
        _take(db, "2026-05")
        family(db)
        _delete(db, fams["selatan"].id)
        _take(db, "2026-06")
        family(db)  # live data after the last snapshot: never in a trend
        db.commit()
        return fams

    @staticmethod
    def _series(body: Any) -> dict[str, list[int]]:
        return {s["code"]: [p["value"] for p in s["points"]] for s in body["series"]}

    def test_per_kecamatan_then_per_kelurahan(
        self, client: TestClient, admin: Account, months: dict[str, Any]
    ) -> None:
        body = _get(client, admin, "/reports/trends/desil").json()
        assert body["level"] == "kecamatan" and [s["period"] for s in body["snapshots"]] == [
            "2026-05",
            "2026-06",
        ]
        assert self._series(body) == {HIRI: [3, 4], SELATAN: [1, 0]}
        assert [p["value"] for p in body["totals"]] == [4, 4]
        assert body["snapshots"][0]["rule_set_label"] == "ternate-bansos@2026.1"
        body = _get(client, admin, "/reports/trends/desil", kecamatan=HIRI).json()
        assert body["level"] == "kelurahan"
        assert self._series(body) == {f.HIRI_FAUDU: [2, 3], f.HIRI_TOMAJIKO: [1, 1]}
        persons = _get(client, admin, "/reports/trends/desil", kecamatan=HIRI, unit="persons").json()
        assert self._series(persons)[f.HIRI_TOMAJIKO] == [3, 3]

    def test_filters(self, client: TestClient, admin: Account, months: dict[str, Any]) -> None:
        official = _get(client, admin, "/reports/trends/desil", source="official").json()
        assert self._series(official) == {HIRI: [1, 1], SELATAN: [1, 0]}
        d2 = _get(client, admin, "/reports/trends/desil", desil=2).json()
        assert self._series(d2) == {HIRI: [1, 1]}
        none = _get(client, admin, "/reports/trends/desil", desil=0, source="none").json()
        assert self._series(none) == {HIRI: [2, 3]}
        june = _get(client, admin, "/reports/trends/desil", **{"from": "2026-06", "to": "2026-12"}).json()
        assert [s["period"] for s in june["snapshots"]] == ["2026-06"]

    def test_programmes(self, client: TestClient, admin: Account, months: dict[str, Any]) -> None:
        body = _get(client, admin, "/reports/trends/programmes", programme="pkh").json()
        assert {s["programme_id"] for s in body["series"]} == {"pkh"}
        hiri = next(s for s in body["series"] if s["code"] == HIRI)
        assert [p["value"] for p in hiri["points"]] == [1, 1]  # the young family, desil 2
        assert hiri["points"][0]["rule_sets"] == ["ternate-bansos@2026.1"]
        every = _get(client, admin, "/reports/trends/programmes", outcome="needs_data").json()
        assert len({s["programme_id"] for s in every["series"]}) > 1
        bad = _get(client, admin, "/reports/trends/programmes", programme="nope")
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "programme"

    def test_bad_input_names_the_field(
        self, client: TestClient, admin: Account, months: dict[str, Any]
    ) -> None:
        for params, field in (
            ({"from": "2026-13"}, "from"),
            ({"to": "June"}, "to"),
            ({"from": "2026-06", "to": "2026-05"}, "to"),
            ({"kecamatan": "82.71.99"}, "kecamatan"),
            ({"desil": "11"}, "desil"),
            ({"source": "bps"}, "source"),
            ({"unit": "kg"}, "unit"),
        ):
            r = _get(client, admin, "/reports/trends/desil", **params)
            assert r.status_code == 422, params
            assert r.json()["detail"][0]["field"] == field, r.json()

    def test_area_scope(
        self, client: TestClient, make_account: Callable[..., Account], months: dict[str, Any]
    ) -> None:
        spv = make_account(Role.supervisor, kecamatan=HIRI)
        body = _get(client, spv, "/reports/trends/desil").json()
        assert self._series(body) == {HIRI: [3, 4]}
        assert _get(client, spv, "/reports/trends/desil", kecamatan=SELATAN).status_code == 403
        assert _get(client, spv, "/reports/trends/programmes", kecamatan=SELATAN).status_code == 403
        dinsos = make_account(Role.dinsos)
        assert set(self._series(_get(client, dinsos, "/reports/trends/desil").json())) == {HIRI, SELATAN}
        enumerator = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
        assert _get(client, enumerator, "/reports/trends/desil").status_code == 403
        assert client.get("/reports/trends/desil").status_code == 401

    def test_csv(self, client: TestClient, admin: Account, months: dict[str, Any]) -> None:
        r = _get(client, admin, "/reports/trends/desil", kecamatan=HIRI, format="csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        lines = r.content.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("periode/period,kode/code")
        assert f"2026-06,{f.HIRI_FAUDU},Faudu,,3," in lines
        r = _get(client, admin, "/reports/trends/programmes", programme="pkh", format="csv")
        assert any(
            line.startswith(f"2026-05,{HIRI},") and ",pkh,1,ternate-bansos@2026.1" in line
            for line in r.content.decode("utf-8-sig").splitlines()
        )

    def test_snapshot_list(self, client: TestClient, admin: Account, months: dict[str, Any]) -> None:
        body = _get(client, admin, "/reports/snapshots").json()
        assert [(s["period"], s["families"]) for s in body] == [("2026-05", 4), ("2026-06", 4)]
