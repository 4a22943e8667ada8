"""Coverage vs targets (and the targets import), data quality, appeals by status."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app.appeals.models import Appeal
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.reconcile.records import CsvInputError
from app.reconcile.store import DukcapilCheck, MatchCandidate, MergeRecord
from app.registry.models import Household, Member
from app.reports import cli as report_cli_module
from app.reports import targets
from app.reports.models import KelurahanTarget
from app.reports.queries import coverage, quality
from app.sync.models import SyncConflict
from tests.conftest import Account
from tests.eligibility_db.helpers import ACTOR, write_csv, write_xlsx
from tests.reports.helpers import FAUDU, HIRI_KEC, MOTI, MOTI_KEC, SELATAN, TOMAJIKO, build

HEADER = ["KODE_KELURAHAN", "NAMA", "KELUARGA", "JIWA"]


def _import(db: Session, path: Path) -> targets.TargetResult:
    return targets.import_targets(session=db, path=path, source="Dukcapil 2026-06", as_of=None, actor=ACTOR)


class TestTargets:
    def test_kemendagri_and_bps_codes_idempotent_and_audited(self, db: Session, tmp_path: Path) -> None:
        path = write_csv(
            tmp_path / "t.csv",
            [HEADER, [FAUDU, "Faudu", 4, 12], ["8271013006", "Tomajiko (BPS code)", "2", ""]],
        )
        first = _import(db, path)
        assert (first.status, first.written, first.unchanged) == ("imported", 2, 0)
        tomajiko = db.get(KelurahanTarget, TOMAJIKO)
        assert tomajiko is not None and (tomajiko.families, tomajiko.persons) == (2, None)
        again = _import(db, path)
        assert (again.written, again.unchanged) == (0, 2)
        changed = write_xlsx(tmp_path / "t.xlsx", [["TARGET REGISTRASI"], HEADER, [FAUDU, "Faudu", 5, 12]])
        third = _import(db, changed)
        assert (third.written, third.unchanged) == (1, 0)
        entries = db.exec(
            select(AuditEntry).where(col(AuditEntry.action) == "target.set").order_by(col(AuditEntry.id))
        ).all()
        assert [e.entity_id for e in entries].count(FAUDU) == 2
        assert entries[-1].changes["families"] == [4, 5]

    def test_any_bad_row_refuses_the_whole_file(self, db: Session, tmp_path: Path) -> None:
        path = write_csv(
            tmp_path / "bad.csv",
            [
                HEADER,
                [FAUDU, "Faudu", 4, 12],
                ["82.71.09.1001", "nowhere", 3, ""],
                [TOMAJIKO, "Tomajiko", "-1", ""],
                [MOTI, "Moti", 3, "banyak"],
                [FAUDU, "again", 1, ""],
            ],
        )
        result = _import(db, path)
        assert result.status == "refused"
        assert [(p.row, p.column, p.rule) for p in result.problems] == [
            (3, "KODE_KELURAHAN", "known_kelurahan"),
            (4, "KELUARGA", "non_negative_integer"),
            (5, "JIWA", "non_negative_integer"),
            (6, "KODE_KELURAHAN", "unique_kelurahan"),
        ]
        assert db.exec(select(KelurahanTarget)).all() == []

    def test_cli_refuses_with_a_report_and_imports(
        self, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        @contextmanager
        def session() -> Iterator[Session]:
            yield db

        monkeypatch.setattr(report_cli_module, "cli_session", session)
        runner = CliRunner()
        bad = write_csv(tmp_path / "bad.csv", [HEADER, [FAUDU, "Faudu", "x", ""]])
        out = runner.invoke(
            report_cli_module.report_cli, ["targets", "import", str(bad), "--source", "Dukcapil"]
        )
        assert out.exit_code == 2
        report = (tmp_path / "bad.report.csv").read_text()
        assert "KELUARGA" in report and "non_negative_integer" in report
        good = write_csv(tmp_path / "good.csv", [HEADER, [FAUDU, "Faudu", 8, 20]])
        out = runner.invoke(
            report_cli_module.report_cli, ["targets", "import", str(good), "--source", "Dukcapil"]
        )
        assert out.exit_code == 0, out.output
        target = db.get(KelurahanTarget, FAUDU)
        assert target is not None and target.families == 8
        # a bad date and a file the CSV sniffer cannot read: clear refusals, no traceback
        out = runner.invoke(
            report_cli_module.report_cli,
            ["targets", "import", str(good), "--source", "Dukcapil", "--as-of", "2026-13-01"],
        )
        assert out.exit_code == 2 and "YYYY-MM-DD" in out.output
        odd = tmp_path / "odd.csv"
        odd.write_text("satu kolom saja\n" + "x\n" * 3, encoding="utf-8")
        out = runner.invoke(report_cli_module.report_cli, ["targets", "import", str(odd), "--source", "D"])
        assert out.exit_code == 2, out.output  # refused (no KELUARGA column), not a traceback
        assert isinstance(out.exception, SystemExit)

    def test_a_file_without_the_columns_is_refused(self, db: Session, tmp_path: Path) -> None:
        with pytest.raises(CsvInputError):
            _import(db, write_csv(tmp_path / "x.csv", [["NAMA", "JUMLAH"], ["Faudu", 3]]))


class TestCoverage:
    def test_families_and_persons_per_kelurahan_and_channel_vs_target(
        self, db: Session, tmp_path: Path
    ) -> None:
        build(db)
        _import(
            db, write_csv(tmp_path / "t.csv", [HEADER, [FAUDU, "Faudu", 8, 30], [SELATAN, "Sasa", 2, ""]])
        )
        rows, sources = coverage(db, scope=None)
        by = {r.kelurahan_code: r for r in rows}
        assert len(rows) == 78 and sources == ["enumerator", "import", "sms", "ussd"]
        faudu = by[FAUDU]
        assert (faudu.families, faudu.persons) == (4, 12)
        assert faudu.by_source == {"enumerator": 2, "sms": 1, "ussd": 1}
        assert (faudu.percent_families, faudu.percent_persons) == (50.0, 40.0)
        assert (
            by[MOTI].by_source == {"import": 2} and by[MOTI].persons == 5 and by[MOTI].target_families is None
        )
        assert (by[SELATAN].families, by[SELATAN].percent_families, by[SELATAN].percent_persons) == (
            1,
            50.0,
            None,
        )

    def test_scoped_api(self, db: Session, client: TestClient, make_account: Callable[..., Account]) -> None:
        build(db)
        supervisor = make_account(Role.supervisor, kecamatan=MOTI_KEC)
        body = client.get("/reports/coverage", headers=supervisor.headers).json()
        assert {r["kecamatan_code"] for r in body["rows"]} == {MOTI_KEC}
        assert body["families"] == 2 and body["persons"] == 5


class TestQuality:
    def test_counts(self, db: Session) -> None:
        reg = build(db)
        ids = reg.ids
        for name, status in zip(
            "abcdefgh", ["field_verified"] * 3 + ["self_reported"] * 4 + ["dukcapil_matched"], strict=True
        ):
            h = db.get(Household, ids[name])
            assert h is not None
            h.verification_status = status
            db.add(h)
        for a, b, status in (("a", "b", "pending"), ("c", "d", "distinct"), ("f", "g", "pending")):
            db.add(
                MatchCandidate(
                    kind="household",
                    household_a=ids[a],
                    household_b=ids[b],
                    kecamatan_code="82.71.07",
                    kecamatan_b="82.71.07",
                    weight=9.0,
                    decision="review",
                    status=status,
                    source="batch",
                )
            )
        db.add(MergeRecord(survivor_id=ids["h"], merged_id=ids["m"]))
        for name, status in (("a", "open"), ("f", "open"), ("b", "resolved")):
            db.add(
                SyncConflict(
                    entity="household",
                    entity_id=ids[name],
                    household_id=ids[name],
                    kelurahan_code=FAUDU if name != "f" else MOTI,
                    field="address",
                    policy="review",
                    server_version=2,
                    device_id="tab-1",
                    mutation_seq=1,
                    status=status,
                )
            )
        head = db.exec(
            select(Member).where(col(Member.household_id) == ids["a"], Member.relation == "head")
        ).one()
        db.add(DukcapilCheck(member_id=head.id, household_id=ids["a"], status="name_differs", source="x"))
        db.flush()
        figures = {(f.indicator, f.category): f.count for f in quality(db, scope=None)}
        assert figures == {
            ("verification_status", "field_verified"): 3,
            ("verification_status", "self_reported"): 4,
            ("verification_status", "dukcapil_matched"): 1,
            ("duplicates", "pending"): 2,
            ("duplicates", "distinct"): 1,
            ("merges", "in_force"): 1,
            ("merges", "undone"): 0,
            ("sync_conflicts", "open"): 2,
            ("sync_conflicts", "resolved"): 1,
            ("dukcapil", "name_differs"): 1,
        }
        moti = {(f.indicator, f.category): f.count for f in quality(db, scope=None, kecamatan=MOTI_KEC)}
        assert moti[("duplicates", "pending")] == 1 and moti[("sync_conflicts", "open")] == 1
        assert ("dukcapil", "name_differs") not in moti and moti[("merges", "in_force")] == 0

    def test_api_says_what_is_not_reported(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        admin = make_account(Role.admin)
        body = client.get("/reports/quality", headers=admin.headers).json()
        assert "invalid NIKs corrected" in body["not_reported"][0]


class TestAppeals:
    def test_by_status_per_kecamatan_with_filters(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        reg = build(db)
        for name, kel, status, programme in (
            ("a", FAUDU, "filed", "pkh"),
            ("b", FAUDU, "upheld", None),
            ("e", TOMAJIKO, "filed", "pkh"),
            ("f", MOTI, "rejected", "pkh"),
        ):
            db.add(
                Appeal(
                    id=uuid.uuid4(),
                    household_id=reg.ids[name],
                    kelurahan_code=kel,
                    filed_by_channel="sms",
                    about="decision",
                    programme_id=programme,
                    reason="x",
                    status=status,
                )
            )
        db.flush()
        admin = make_account(Role.admin)
        body = client.get("/reports/appeals", headers=admin.headers).json()
        rows = {r["code"]: r for r in body["rows"]}
        assert rows[HIRI_KEC]["by_status"]["filed"] == 2 and rows[HIRI_KEC]["by_status"]["upheld"] == 1
        assert rows[MOTI_KEC]["total"] == 1 and body["total"] == 4
        body = client.get(
            f"/reports/appeals?programme=pkh&kecamatan={HIRI_KEC}", headers=admin.headers
        ).json()
        assert [(r["code"], r["total"]) for r in body["rows"] if r["total"]] == [(FAUDU, 1), (TOMAJIKO, 1)]
        r = client.get("/reports/appeals?filed_from=2026-02-01&filed_to=2026-01-01", headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "filed_to"
        body = client.get("/reports/appeals?filed_to=2000-01-01", headers=admin.headers).json()
        assert body["total"] == 0
