"""Official desil imports: matching through canonical records, refusals, reports, idempotency."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from app.eligibility import desil_service
from app.eligibility.desil_file import read_desil_file
from app.eligibility.store import DesilImport, FamilyDesil
from app.reconcile.records import CsvInputError
from app.registry.models import KkHistory, Member
from tests import factories as f
from tests.eligibility_db.helpers import ACTOR, Family, family, write_csv, write_xlsx

HEADER = ["NIK_KRT", "NO_KK", "NAMA_KRT", "DESIL_NASIONAL"]


def _import(db: Session, path: Path, period: str = "2026-Q1", **kw: bool) -> desil_service.ImportResult:
    data = read_desil_file(path, period=period)
    return desil_service.import_desil(session=db, data=data, actor=ACTOR, **kw)


def _desils(db: Session) -> dict[object, tuple[str, int]]:
    rows = db.exec(select(FamilyDesil).execution_options(populate_existing=True)).all()
    return {r.household_id: (r.period, r.desil) for r in rows}


def _count(db: Session) -> tuple[int, int]:
    return (len(db.exec(select(FamilyDesil)).all()), len(db.exec(select(DesilImport)).all()))


class TestHappyPath:
    def test_csv_by_nik_and_kk(self, db: Session, tmp_path: Path) -> None:
        a, b, c = family(db), family(db), family(db)
        path = write_csv(
            tmp_path / "dtsen.csv",
            [HEADER, [a.head_nik, a.kk, "A", 3], [b.head_nik, "", "B", 7], ["", c.kk, "C", 1]],
        )
        result = _import(db, path)
        assert result.status == "imported" and result.matched == 3 and result.written == 3
        assert _desils(db) == {a.id: ("2026-Q1", 3), b.id: ("2026-Q1", 7), c.id: ("2026-Q1", 1)}
        assert result.report == []

    def test_xlsx_with_title_rows_above_the_header(self, db: Session, tmp_path: Path) -> None:
        a = family(db)
        path = write_xlsx(
            tmp_path / "dtsen.xlsx",
            [
                ["DATA DTSEN KOTA TERNATE"],
                ["Periode 2026-Q1"],
                [],
                ["NIK", "NOKK", "DESIL"],
                [a.head_nik, a.kk, 4],
            ],
            merge="A1:C1",
        )  # a merged title above the table is fine
        data = read_desil_file(path, period="2026-Q1")
        assert data.header_row == 4
        assert desil_service.import_desil(session=db, data=data, actor=ACTOR).written == 1
        assert _desils(db)[a.id] == ("2026-Q1", 4)

    def test_semicolon_csv_and_old_kk_in_history(self, db: Session, tmp_path: Path) -> None:
        a = family(db)
        old_kk = f.kk("827107")
        db.add(KkHistory(household_id=a.id, kk_number=old_kk, reason="pisah KK"))
        db.flush()
        path = write_csv(tmp_path / "d.csv", [["no kk", "desil"], [old_kk, "2"]], delimiter=";")
        assert _import(db, path).matched == 1
        assert _desils(db)[a.id] == ("2026-Q1", 2)

    def test_reimport_changes_nothing_and_history_is_kept(self, db: Session, tmp_path: Path) -> None:
        a = family(db)
        q1 = write_csv(tmp_path / "q1.csv", [HEADER, [a.head_nik, a.kk, "A", 3]])
        assert _import(db, q1).written == 1
        before = _count(db)
        again = _import(db, q1)
        assert again.status == "already_imported" and _count(db) == before
        q2 = write_csv(tmp_path / "q2.csv", [HEADER, [a.head_nik, a.kk, "A", 5]])
        assert _import(db, q2, period="2026-Q2").written == 1
        rows = db.exec(
            select(FamilyDesil).where(FamilyDesil.household_id == a.id).order_by(col(FamilyDesil.period))
        ).all()
        assert [(r.period, r.desil) for r in rows] == [("2026-Q1", 3), ("2026-Q2", 5)]

    def test_same_values_in_another_file_are_unchanged(self, db: Session, tmp_path: Path) -> None:
        a = family(db)
        _import(db, write_csv(tmp_path / "1.csv", [HEADER, [a.head_nik, a.kk, "A", 3]]))
        result = _import(db, write_csv(tmp_path / "2.csv", [HEADER, [a.head_nik, a.kk, "A (fixed)", 3]]))
        assert result.status == "imported" and result.written == 0 and result.unchanged == 1


class TestUnmatchedAndAmbiguous:
    def test_report_names_each_row_with_reasons_in_both_languages(self, db: Session, tmp_path: Path) -> None:
        a, b, ok = family(db), family(db), family(db)
        spouse = db.exec(select(Member).where(Member.household_id == a.id, Member.relation == "spouse")).one()
        stranger = f.nik(date(1970, 1, 1))
        path = write_csv(
            tmp_path / "d.csv",
            [
                HEADER,
                [a.head_nik, b.kk, "two families", 2],  # ambiguous: NIK -> a, KK -> b
                [stranger, "", "unknown", 3],  # unmatched
                [spouse.nik, "", "not the head", 4],  # unmatched: a member, not the head
                [ok.head_nik, ok.kk, "fine", 5],
            ],
        )
        result = _import(db, path)
        assert result.matched == 1 and _desils(db) == {ok.id: ("2026-Q1", 5)}
        by_row = {line.row: line for line in result.report}
        assert by_row[2].status == "ambiguous" and "two different families" in by_row[2].reason_en
        assert "dua keluarga berbeda" in by_row[2].reason_id
        assert by_row[3].status == "unmatched" and "tidak ada keluarga" in by_row[3].reason_id
        assert by_row[4].status == "unmatched" and "not the head" in by_row[4].reason_en
        out = tmp_path / "report.csv"
        desil_service.write_report(out, result.report)
        lines = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
        assert lines[0] == list(desil_service.REPORT_HEADER)
        assert [r[0] for r in lines[1:]] == ["2", "3", "4"]
        assert stranger not in out.read_text() and "****" in out.read_text()  # NIK masked

    def test_two_rows_for_one_family_are_ambiguous(self, db: Session, tmp_path: Path) -> None:
        a = family(db)
        path = write_csv(tmp_path / "d.csv", [HEADER, [a.head_nik, "", "x", 2], ["", a.kk, "y", 3]])
        result = _import(db, path)
        assert result.matched == 0 and {line.status for line in result.report} == {"ambiguous"}
        assert _desils(db) == {}

    def test_merged_away_household_is_not_matched(self, db: Session, tmp_path: Path) -> None:
        from app.db import utcnow
        from app.registry.models import Household

        survivor, gone = family(db), family(db)
        row = db.get(Household, gone.id)
        assert row is not None
        row.merged_into_id, row.deleted_at = survivor.id, utcnow()
        db.flush()
        result = _import(db, write_csv(tmp_path / "d.csv", [HEADER, ["", gone.kk, "x", 2]]))
        assert result.matched == 0 and result.report[0].status == "unmatched"


class TestBadInput:
    @pytest.mark.parametrize(
        ("rows", "problem"),
        [
            ([["NIK", "DESIL"], ["82710115058000", "3"]], "16"),  # invalid NIK
            ([["NIK", "DESIL"], ["{nik}", "11"]], "outside 1-10"),
            ([["NIK", "DESIL"], ["{nik}", "0"]], "outside 1-10"),
            ([["NIK", "DESIL"], ["{nik}", "tiga"]], "whole number"),
            ([["NIK", "DESIL"], ["{nik}", "3"], ["{nik}", "3"]], "duplicate row"),
            ([["NIK", "DESIL", "PERIODE"], ["{nik}", "3", "2026-1"]], "not YYYY-Qn"),
            ([["NIK", "DESIL", "PERIODE"], ["{nik}", "3", "2025-Q4"]], "differs"),
            ([["NIK", "NO_KK", "DESIL"], ["", "", "3"]], "neither"),
        ],
    )
    def test_row_problems_refuse_the_whole_file(
        self, db: Session, tmp_path: Path, rows: list[list[str]], problem: str
    ) -> None:
        a = family(db)
        good = family(db)
        rows = [[c.replace("{nik}", a.head_nik) for c in r] for r in rows]
        rows.insert(1, [good.head_nik] + ["4"] + (["2026-Q1"] if "PERIODE" in rows[0] else []))
        if rows[0] == ["NIK", "NO_KK", "DESIL"]:
            rows[1] = [good.head_nik, "", "4"]
        data = read_desil_file(write_csv(tmp_path / "bad.csv", rows), period="2026-Q1")
        assert any(problem in p.reason_en for p in data.problems), data.problems
        assert all(p.row >= 2 for p in data.problems)
        before = _count(db)
        result = desil_service.import_desil(session=db, data=data, actor=ACTOR)
        assert result.status == "refused" and _count(db) == before  # nothing imported
        assert any(line.status == "invalid" for line in result.report)
        # asked for: the valid rows go in, the invalid ones are reported
        result = desil_service.import_desil(session=db, data=data, actor=ACTOR, accept_valid=True)
        assert result.status == "imported" and _desils(db)[good.id] == ("2026-Q1", 4)

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("", "empty"),
            ("NAMA,ALAMAT\nx,y\n", "no header row"),
            ("NIK,DESIL\n", "no rows"),
            ("NIK,NIK_KRT,DESIL\n1,2,3\n", "both mean nik"),
        ],
    )
    def test_file_problems(self, tmp_path: Path, content: str, message: str) -> None:
        path = tmp_path / "bad.csv"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(CsvInputError) as err:
            read_desil_file(path, period="2026-Q1")
        assert message in err.value.message and err.value.message_id

    @pytest.mark.parametrize("period", ["2026Q1", "2026-Q5", "Q1-2026", "2026-03"])
    def test_wrong_period(self, tmp_path: Path, period: str) -> None:
        path = write_csv(tmp_path / "d.csv", [["NIK", "DESIL"], ["8271011505800001", "3"]])
        with pytest.raises(CsvInputError, match="YYYY-Qn"):
            read_desil_file(path, period=period)

    def test_xlsx_merged_cells_in_the_table(self, tmp_path: Path) -> None:
        path = write_xlsx(
            tmp_path / "m.xlsx", [["NIK", "DESIL"], ["8271011505800001", 3], ["", 3]], merge="B2:B3"
        )
        with pytest.raises(CsvInputError) as err:
            read_desil_file(path, period="2026-Q1")
        assert "merged cells" in err.value.message and "B2:B3" in err.value.message
        assert "sel gabungan" in err.value.message_id

    def test_xlsx_numeric_nik_is_refused(self, db: Session, tmp_path: Path) -> None:
        a: Family = family(db)
        path = write_xlsx(tmp_path / "n.xlsx", [["NIK", "DESIL"], [int(a.head_nik), 3]])
        data = read_desil_file(path, period="2026-Q1")
        assert data.problems and "stored as a number" in data.problems[0].reason_en

    def test_not_an_xlsx(self, tmp_path: Path) -> None:
        path = tmp_path / "x.xlsx"
        path.write_text("NIK,DESIL\n", encoding="utf-8")
        with pytest.raises(CsvInputError, match="XLSX"):
            read_desil_file(path, period="2026-Q1")
