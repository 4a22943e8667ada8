"""CSV and XLSX exports: round trip, who made them (footer and audit), publication
(suppression that cannot be undone from the totals, no NIK/KK), permissions."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from fractions import Fraction

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.eligibility import rules_service
from app.reports import export
from app.reports.queries import DESIL_KEYS, CoverageRow
from app.reports.tables import SUPPRESSED, Column, Equation, Table, line, suppress
from app.reports.tabulate import coverage_table
from tests.conftest import Account
from tests.eligibility_db.helpers import ACTOR
from tests.reports.helpers import FAMILIES, HIRI_KEC, build

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _xlsx_rows(body: bytes) -> list[list[object]]:
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def _exports(db: Session) -> list[AuditEntry]:
    return list(db.exec(select(AuditEntry).where(col(AuditEntry.action) == "report.export")).all())


class TestFiles:
    def test_csv_round_trip_with_footer_and_audit(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        build(db)
        dinsos = make_account(Role.dinsos, username="ibu-dinsos")
        r = client.get("/reports/desil-matrix?format=csv&source=official", headers=dinsos.headers)
        assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"].startswith('attachment; filename="sigap-desil-matrix-')
        assert r.headers["content-disposition"].endswith('.csv"')
        rows = _csv_rows(r.content)
        header = rows[1]
        assert (
            header[:2] == ["kode kecamatan / code", "nama kecamatan / name"]
            and header[-1] == "jumlah / total"
        )
        hiri = next(row for row in rows if row and row[0] == HIRI_KEC)
        assert [int(x) for x in hiri[2:]] == [0, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 3]
        assert any("ibu-dinsos" in row[0] and "source=official" in row[0] for row in rows if row)
        (entry,) = _exports(db)
        assert entry.actor_name == "ibu-dinsos" and entry.entity_id == "desil-matrix"
        assert entry.changes["format"] == "csv" and entry.changes["publish"] is False
        assert entry.changes["filters"]["source"] == "official"

    def test_a_file_that_could_not_be_made_is_not_recorded_as_exported(
        self, db: Session, client: TestClient, make_account: Callable[..., Account],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        build(db)
        dinsos = make_account(Role.dinsos)

        def broken(*_args: object) -> bytes:
            raise RuntimeError("disk full while writing the workbook")

        monkeypatch.setattr(export, "to_xlsx", broken)
        with pytest.raises(RuntimeError):
            client.get("/reports/desil-matrix?format=xlsx", headers=dinsos.headers)
        assert _exports(db) == []  # the audit names only files that left Sigap
        assert client.get("/reports/desil-matrix?format=csv", headers=dinsos.headers).status_code == 200
        assert len(_exports(db)) == 1

    def test_xlsx_round_trip(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        build(db)
        admin = make_account(Role.admin, username="root-admin")
        r = client.get("/reports/desil-matrix?format=xlsx&unit=persons", headers=admin.headers)
        assert r.status_code == 200 and r.headers["content-type"] == XLSX
        assert r.headers["content-disposition"].endswith('.xlsx"')
        rows = _xlsx_rows(r.content)
        assert rows[0][0] == "Keluarga per kecamatan dan desil"
        assert rows[1][2] == "sumber desil / desil source"
        hiri_all = next(row for row in rows if row[0] == HIRI_KEC and row[2] == "semua / all")
        assert hiri_all[3:] == [0, 6, 0, 0, 3, 0, 0, 0, 3, 0, 3, 15]
        total = next(row for row in rows if row[0] == "total" and row[2] == "semua / all")
        assert total[-1] == 23
        assert any(isinstance(row[0], str) and "root-admin" in row[0] for row in rows)
        book = openpyxl.load_workbook(io.BytesIO(r.content))
        assert book.properties.creator == "root-admin"
        assert len(_exports(db)) == 1

    @pytest.mark.parametrize(
        "path",
        [
            "/reports/coverage",
            "/reports/quality",
            "/reports/appeals",
            "/reports/programmes?period=2026-Q1",
            "/reports/families?kecamatan=82.71.07",
        ],
    )
    def test_every_report_exports(
        self, db: Session, client: TestClient, make_account: Callable[..., Account], path: str
    ) -> None:
        build(db)
        rules_service.ensure_active(session=db, actor=ACTOR)
        admin = make_account(Role.admin)
        sep = "&" if "?" in path else "?"
        for fmt in ("csv", "xlsx"):
            r = client.get(f"{path}{sep}format={fmt}", headers=admin.headers)
            assert r.status_code == 200, r.text
        assert len(_exports(db)) == 2

    def test_supervisor_exports_their_area_enumerator_reads_no_report(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        build(db)
        supervisor = make_account(Role.supervisor, kecamatan="82.71.04")
        r = client.get("/reports/desil-matrix?format=csv", headers=supervisor.headers)
        assert r.status_code == 200
        assert [row[0] for row in _csv_rows(r.content)[2:4]] == ["82.71.04", "82.71.04"]
        enumerator = make_account(Role.enumerator, kelurahan=("82.71.07.1001",))
        for fmt in ("json", "csv"):
            r = client.get(f"/reports/desil-matrix?format={fmt}", headers=enumerator.headers)
            assert r.status_code == 403
        assert len(_exports(db)) == 1


    def test_a_trend_csv_is_an_audited_export_and_area_readers_get_no_city_totals(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        from app.reports.snapshots import take_snapshot

        build(db)
        take_snapshot(session=db, period="2026-10", actor=ACTOR)
        db.commit()
        dinsos = make_account(Role.dinsos)
        r = client.get("/reports/trends/desil?format=csv", headers=dinsos.headers)
        assert r.status_code == 200 and "2026-10" in r.text
        (entry,) = _exports(db)
        assert entry.entity_id == "trend-desil" and entry.changes["format"] == "csv"
        city = client.get("/reports/snapshots", headers=dinsos.headers).json()
        assert city[0]["families"] > 0
        supervisor = make_account(Role.supervisor, kecamatan=HIRI_KEC)
        area = client.get("/reports/snapshots", headers=supervisor.headers).json()
        assert area[0]["families"] is None and area[0]["persons"] is None and area[0]["decisions"] is None


class TestPublished:
    def test_published_matrix_hides_small_cells_and_cannot_be_undone(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        build(db)
        admin = make_account(Role.admin)  # sees NIK in full elsewhere: never in a published file
        r = client.get("/reports/desil-matrix?format=csv&publish=true", headers=admin.headers)
        assert r.status_code == 200 and "-publikasi.csv" in r.headers["content-disposition"]
        rows = _csv_rows(r.content)
        data = [row for row in rows[2:] if len(row) > 3]
        # every figure of this registry is below 5: nothing but zeros may remain
        for row in data:
            for value in row[3:]:
                assert value == SUPPRESSED or int(value) == 0 or int(value) >= 5, row
        assert all(SUPPRESSED in row for row in data if row[0] in FAMILIES and row[2] == "semua / all")
        (entry,) = _exports(db)
        assert entry.changes["publish"] is True and entry.changes["suppressed"] > 0
        assert not any(len(c) == 16 and c.isdigit() for row in rows for c in row)

    def test_only_the_city_table_without_filters_is_published(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        """A narrowed table shares figures with the city one (official = all - estimate, a
        kecamatan's kelurahan add up to its row): publishing both would give hidden cells back."""
        build(db)
        admin = make_account(Role.admin)
        for url in (
            f"/reports/desil-matrix?format=csv&publish=true&kecamatan={HIRI_KEC}",
            "/reports/desil-matrix?format=csv&publish=true&source=official",
            "/reports/desil-matrix?format=xlsx&publish=true&registered_from=2026-01-01",
            "/reports/programmes?format=csv&publish=true&period=2026-Q1&programme=pkh",
            f"/reports/coverage?format=csv&publish=true&kecamatan={HIRI_KEC}",
            f"/reports/quality?format=csv&publish=true&kecamatan={HIRI_KEC}",
            "/reports/appeals?format=csv&publish=true&filed_to=2026-12-31",
        ):
            r = client.get(url, headers=admin.headers)
            assert r.status_code == 422, (url, r.text)
            assert r.json()["detail"][0]["field"] == "publish"
            assert r.json()["detail"][0]["rule"] == "city_table_only"
        assert _exports(db) == []
        # the same narrowed tables are fine for internal use
        r = client.get(f"/reports/desil-matrix?format=csv&kecamatan={HIRI_KEC}", headers=admin.headers)
        assert r.status_code == 200

    def test_a_published_programme_file_has_no_families_twin_columns(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        """The families columns equal (family programmes) or bound (person programmes) the
        programme's own counts: beside them a hidden count would be shown again."""
        build(db)
        admin = make_account(Role.admin)
        internal = client.get("/reports/programmes?format=csv&period=2026-Q1", headers=admin.headers)
        assert internal.status_code == 200 and "keluarga / families" in internal.text
        published = client.get(
            "/reports/programmes?format=csv&publish=true&period=2026-Q1", headers=admin.headers
        )
        assert published.status_code == 200, published.text
        header = _csv_rows(published.content)[1]
        assert not any("families" in h or "keluarga" in h for h in header), header

    def test_a_date_beyond_the_calendar_is_refused_not_a_crash(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        admin = make_account(Role.admin)
        for url in ("/reports/desil-matrix?registered_to=9999-12-31", "/reports/appeals?filed_to=9999-12-31"):
            r = client.get(url, headers=admin.headers)
            assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "max", r.text

    def test_families_list_is_never_published(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        admin = make_account(Role.admin)
        r = client.get("/reports/families?format=csv&publish=true", headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "publish"


# ---------------------------------------------------------------- suppression, no database


def determined(hidden: set[tuple[int, str]], equations: list[Equation]) -> set[tuple[int, str]]:
    """Independent check with exact fractions: the hidden cells fixed by the equations."""
    cells = sorted(hidden)
    index = {c: i for i, c in enumerate(cells)}
    matrix = []
    for eq in equations:
        row = [Fraction(0)] * len(cells)
        for cell, coef in eq:
            if cell in index:
                row[index[cell]] += coef
        if any(row):
            matrix.append(row)
    pivot_cols: list[int] = []
    r = 0
    for c in range(len(cells)):
        p = next((i for i in range(r, len(matrix)) if matrix[i][c] != 0), None)
        if p is None:
            continue
        matrix[r], matrix[p] = matrix[p], matrix[r]
        matrix[r] = [v / matrix[r][c] for v in matrix[r]]
        for i in range(len(matrix)):
            if i != r and matrix[i][c] != 0:
                f = matrix[i][c]
                matrix[i] = [a - f * b for a, b in zip(matrix[i], matrix[r], strict=True)]
        pivot_cols.append(c)
        r += 1
    return {cells[c] for i, c in enumerate(pivot_cols) if sum(1 for v in matrix[i] if v != 0) == 1}


def grid(values: list[list[int]]) -> Table:
    keys = [str(j) for j in range(len(values[0]))]
    rows: list[dict[str, object]] = [
        {**{k: v for k, v in zip(keys, r, strict=True)}, "t": sum(r)} for r in values
    ]
    rows.append({**{k: sum(r[j] for r in values) for j, k in enumerate(keys)}, "t": sum(map(sum, values))})
    n = len(values)
    equations = [line([(i, k) for k in keys], (i, "t")) for i in range(n + 1)]
    equations += [line([(i, k) for i in range(n)], (n, k)) for k in [*keys, "t"]]
    return Table("t", "t", [Column(k, k) for k in [*keys, "t"]], rows, equations)


class TestSuppression:
    def test_one_small_cell_takes_a_rectangle(self) -> None:
        assert determined({(0, "0")}, grid([[3, 10], [20, 30]]).equations) == {(0, "0")}  # the check can fail
        t = suppress(grid([[3, 10], [20, 30]]), 5)
        assert t.suppressed == {(0, "0"), (0, "1"), (1, "0"), (1, "1")}
        assert t.rows[2] == {"0": 23, "1": 40, "t": 63}  # the totals stay published

    def test_no_suppressed_value_is_recoverable(self) -> None:
        rng = random.Random(8)
        for _ in range(150):
            width = rng.randint(1, 11)
            values = [
                [rng.choice([0, 0, 1, 2, 4, 5, 7, 30]) for _ in range(width)]
                for _ in range(rng.randint(1, 8))
            ]
            t = grid(values)
            original = {c: t.value(c) for c in t.count_cells()}
            suppress(t, 5)
            assert {c for c, v in original.items() if 0 < v < 5} <= t.suppressed
            assert not determined(t.suppressed, t.equations), values
            for c in t.suppressed:
                assert t.value(c) == SUPPRESSED

    def test_recoverable_through_a_combination_of_lines(self) -> None:
        # official + estimate = all, per desil: hiding one official cell alone gives it away
        rows: list[dict[str, object]] = [{"a": 12, "t": 12}, {"a": 3, "t": 3}, {"a": 9, "t": 9}]
        eqs = [
            line([(0, "a")], (0, "t")),
            line([(1, "a")], (1, "t")),
            line([(2, "a")], (2, "t")),
            [((0, "a"), 1), ((1, "a"), -1), ((2, "a"), -1)],
        ]
        t = suppress(Table("x", "x", [Column("a", "a"), Column("t", "t")], rows, eqs), 5)
        assert not determined(t.suppressed, eqs) and (1, "a") in t.suppressed

    def test_desil_keys_are_the_published_columns(self) -> None:
        assert DESIL_KEYS[-1] == "none" and len(DESIL_KEYS) == 11


def test_a_percentage_is_hidden_with_its_count() -> None:
    rows = [
        CoverageRow(
            "82.71.07", "Pulau Hiri", f"82.71.07.100{i}", f"K{i}", 40, None, n, 3 * n, {"enumerator": n}
        )
        for i, n in enumerate((3, 20, 30))
    ]
    t = suppress(coverage_table(rows, ["enumerator"]), 5)
    assert t.rows[0]["families"] == SUPPRESSED and t.rows[0]["percent_families"] == SUPPRESSED
    assert t.rows[0]["target_families"] == 40  # targets are public figures
    assert not determined(t.suppressed, t.equations)
