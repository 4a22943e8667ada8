"""The kecamatan x desil matrix: hand-computed counts, the same numbers as a hand-written SQL
aggregate, drill-down, area scoping and refusals; on both engines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from app.auth.models import Role
from app.db import utcnow
from app.registry.models import Household
from app.reports.queries import DESIL_KEYS, Period, desil_matrix
from tests.conftest import Account
from tests.reports.helpers import (
    ESTIMATE,
    FAMILIES,
    FAUDU,
    HIRI_KEC,
    MOTI_KEC,
    OFFICIAL,
    PERSONS,
    TOMAJIKO,
    build,
)


def _cells(expected: dict[str, int]) -> dict[str, int]:
    return {k: expected.get(k, 0) for k in DESIL_KEYS}


class TestCounts:
    def test_families_by_kecamatan_with_split_and_totals(self, db: Session) -> None:
        build(db)
        m = desil_matrix(db, scope=None)
        assert m.level == "kecamatan" and len(m.rows) == 8  # every kecamatan, zeros too
        rows = {r.code: r for r in m.rows}
        for code, row in rows.items():
            assert row.cells == _cells(FAMILIES.get(code, {})), code
            assert row.official == _cells(OFFICIAL.get(code, {})), code
            assert row.estimate == _cells(ESTIMATE.get(code, {})), code
            assert row.total == sum(FAMILIES.get(code, {}).values())
        assert rows[HIRI_KEC].name == "Pulau Hiri"
        assert m.column_totals == _cells({"1": 1, "2": 3, "5": 1, "9": 1, "none": 2})
        assert m.total == 8  # the merged family is not counted

    def test_persons_count_canonical_members(self, db: Session) -> None:
        build(db)
        m = desil_matrix(db, scope=None, unit="persons")
        for r in m.rows:
            assert r.cells == _cells(PERSONS.get(r.code, {})), r.code
        assert m.total == 23

    def test_source_filter(self, db: Session) -> None:
        build(db)
        official = desil_matrix(db, scope=None, source="official")
        assert {r.code: r.cells for r in official.rows if r.total} == {
            k: _cells(v) for k, v in OFFICIAL.items()
        }
        assert official.total == 4 and official.official_totals is None
        estimate = desil_matrix(db, scope=None, source="estimate")
        assert estimate.total == 2 and estimate.column_totals == _cells({"2": 1, "5": 1})

    def test_drill_down_to_kelurahan(self, db: Session) -> None:
        build(db)
        m = desil_matrix(db, scope=None, kecamatan=HIRI_KEC)
        rows = {r.code: r for r in m.rows}
        assert m.level == "kelurahan" and set(rows) >= {FAUDU, TOMAJIKO}
        assert all(code.startswith(HIRI_KEC + ".") for code in rows)
        assert rows[FAUDU].cells == _cells({"2": 2, "5": 1, "none": 1})
        assert rows[TOMAJIKO].cells == _cells({"9": 1})
        assert rows[TOMAJIKO].name == "Tomajiko"

    def test_registration_date_range(self, db: Session) -> None:
        reg = build(db)
        old = db.get(Household, reg.ids["b"])
        assert old is not None
        old.created_at = utcnow() - timedelta(days=400)
        db.add(old)
        db.flush()
        recent = desil_matrix(db, scope=None, registered=Period(date.today() - timedelta(days=30), None))
        assert recent.total == 7
        assert {r.code: r.cells["2"] for r in recent.rows}[HIRI_KEC] == 1


HAND_SQL = """
WITH official AS (
  SELECT household_id, desil,
         ROW_NUMBER() OVER (PARTITION BY household_id ORDER BY period DESC) AS rn
  FROM family_desil),
estimate AS (
  SELECT household_id, desil,
         ROW_NUMBER() OVER (PARTITION BY household_id ORDER BY computed_at DESC, id DESC) AS rn
  FROM desil_estimate)
SELECT kl.kecamatan_code,
       CASE WHEN o.household_id IS NOT NULL THEN o.desil ELSE e.desil END AS desil,
       COUNT(*) AS families
FROM household h
JOIN kelurahan kl ON kl.code = h.kelurahan_code
LEFT JOIN official o ON o.household_id = h.id AND o.rn = 1
LEFT JOIN estimate e ON e.household_id = h.id AND e.rn = 1
WHERE h.deleted_at IS NULL
GROUP BY kl.kecamatan_code, CASE WHEN o.household_id IS NOT NULL THEN o.desil ELSE e.desil END
"""


def test_matrix_equals_a_hand_written_sql_aggregate(db: Session) -> None:
    build(db)
    expected: dict[str, dict[str, int]] = {}
    for kec, desil, n in db.execute(text(HAND_SQL)):
        expected.setdefault(kec, {})["none" if desil is None else str(desil)] = int(n)
    m = desil_matrix(db, scope=None)
    assert {r.code: r.cells for r in m.rows if r.total} == {k: _cells(v) for k, v in expected.items()}
    assert expected == FAMILIES  # and both agree with the hand count


class TestApi:
    def test_json_and_scoping(
        self, db: Session, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        build(db)
        dinsos = make_account(Role.dinsos)
        body = client.get("/reports/desil-matrix", headers=dinsos.headers).json()
        assert body["total"] == 8 and body["columns"][-1] == "none"
        assert body["column_labels"]["none"].startswith("Belum ada desil")
        supervisor = make_account(Role.supervisor, kecamatan=MOTI_KEC)
        body = client.get("/reports/desil-matrix", headers=supervisor.headers).json()
        assert [r["code"] for r in body["rows"]] == [MOTI_KEC]
        assert body["total"] == 2 and body["rows"][0]["official"]["1"] == 1
        body = client.get(f"/reports/desil-matrix?kecamatan={MOTI_KEC}", headers=supervisor.headers).json()
        assert body["level"] == "kelurahan" and all(
            r["code"].startswith(MOTI_KEC + ".") for r in body["rows"]
        )
        assert [(r["code"], r["total"]) for r in body["rows"] if r["total"]] == [("82.71.04.1001", 2)]
        out = client.get(f"/reports/desil-matrix?kecamatan={HIRI_KEC}", headers=supervisor.headers)
        assert out.status_code == 403 and out.json()["error"] == "out_of_area"
        enumerator = make_account(Role.enumerator, kelurahan=(TOMAJIKO,))  # no report:read
        assert client.get("/reports/desil-matrix", headers=enumerator.headers).json()["error"] == "forbidden"

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("kecamatan=82.71.99", "kecamatan"),
            ("format=pdf", "format"),
            ("unit=households", "unit"),
            ("source=bps", "source"),
            ("registered_from=2026-05-01&registered_to=2026-04-01", "registered_to"),
            ("registered_from=2026-13-01", "registered_from"),
            ("publish=true", "publish"),  # publication is a file, not JSON
        ],
    )
    def test_bad_input_names_the_field(
        self, client: TestClient, make_account: Callable[..., Account], query: str, field: str
    ) -> None:
        admin = make_account(Role.admin)
        r = client.get(f"/reports/desil-matrix?{query}", headers=admin.headers)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "validation_error"
        assert [p["field"] for p in r.json()["detail"]] == [field]

    def test_needs_login(self, client: TestClient) -> None:
        assert client.get("/reports/desil-matrix").status_code == 401
