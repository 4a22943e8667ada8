"""`sigap dedup synth` and `sigap dedup link` on small files, including bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.reconcile import evaluate

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["dedup", *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    persons, truth = tmp / "persons.csv", tmp / "truth.csv"
    code, out = run("synth", "--households", "300", "--out", str(persons), "--truth", str(truth),
                    "--seed", "3")
    assert code == 0, out
    return persons, truth


def test_link_a_file(synthetic: tuple[Path, Path], tmp_path: Path) -> None:
    persons, truth = synthetic
    output, review = tmp_path / "clusters.csv", tmp_path / "review.csv"
    code, out = run("link", "--input", str(persons), "--output", str(output), "--review", str(review))
    assert code == 0, out
    assert "candidate pairs" in out and "gabung otomatis / auto-merge" in out
    with output.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with persons.open(newline="", encoding="utf-8") as fh:
        ids = [r["record_id"] for r in csv.DictReader(fh)]
    assert list(rows[0]) == ["record_id", "cluster_id", "match_weight"]
    assert [r["record_id"] for r in rows] == ids  # every record, in input order
    merged = [r for r in rows if r["match_weight"]]
    assert merged and all(float(r["match_weight"]) >= 18 for r in merged)
    assert all(r["match_weight"] == "" for r in rows if r["cluster_id"] == r["record_id"]
               and sum(1 for x in rows if x["cluster_id"] == r["cluster_id"]) == 1)
    scores = evaluate.pair_scores({r["record_id"]: r["cluster_id"] for r in rows},
                                  evaluate.read_truth(truth))
    assert scores.precision >= 0.95 and scores.recall >= 0.8, scores.line()
    with review.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header[:3] == ["record_id_a", "record_id_b", "match_weight"] and "reasons_id" in header


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class TestBadInput:
    def fails(self, tmp_path: Path, text: str) -> str:
        source = write(tmp_path / "in.csv", text)
        code, out = run("link", "--input", str(source), "--output", str(tmp_path / "out.csv"))
        assert code == 2
        assert not (tmp_path / "out.csv").exists()
        return " ".join(out.split())

    def test_missing_record_id_column(self, tmp_path: Path) -> None:
        out = self.fails(tmp_path, "id,full_name\n1,Ahmad\n")
        assert "baris 1: baris judul tidak punya kolom record_id" in out
        assert "row 1: the header has no record_id column (found: id, full_name)" in out

    def test_duplicate_record_id(self, tmp_path: Path) -> None:
        out = self.fails(tmp_path, "record_id,full_name\nA1,Ahmad\nA2,Siti\nA1,Rizal\n")
        assert "baris 4, kolom record_id: record_id 'A1' ganda (pertama di baris 2)" in out
        assert "row 4, column record_id: duplicate record_id 'A1' (first on row 2)" in out

    def test_unreadable_date(self, tmp_path: Path) -> None:
        out = self.fails(tmp_path, "record_id,birth_date\nA1,1980-02-30\n")
        assert "baris 2, kolom birth_date: tanggal '1980-02-30' tidak terbaca" in out
        assert "row 2, column birth_date: unreadable date '1980-02-30'" in out

    def test_empty_record_id(self, tmp_path: Path) -> None:
        out = self.fails(tmp_path, "record_id,full_name\n,Ahmad\n")
        assert "baris 2, kolom record_id: record_id kosong" in out

    def test_unknown_sex(self, tmp_path: Path) -> None:
        out = self.fails(tmp_path, "record_id,sex\nA1,X\n")
        assert "row 2, column sex" in out

    def test_missing_file(self, tmp_path: Path) -> None:
        code, out = run("link", "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o.csv"))
        assert code == 2 and "tidak bisa dibuka" in " ".join(out.split())


def test_minimal_columns_are_enough(tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", "record_id,full_name,birth_date\n"
                   "A1,Joesoef Sangaji,12-03-1950\nA2,Yusuf Sangaji,1950-03-12\nA3,Siti Umar,\n")
    code, out = run("link", "--input", str(source), "--output", str(tmp_path / "out.csv"))
    assert code == 0, out
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as fh:
        assert [r["record_id"] for r in csv.DictReader(fh)] == ["A1", "A2", "A3"]
