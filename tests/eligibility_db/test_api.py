"""The eligibility API: decisions with reasons in both languages, desil history, rule sets, areas."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth.models import Role
from app.eligibility import desil_service, rules_service, scoring
from app.eligibility.desil_file import read_desil_file
from tests import factories as f
from tests.conftest import Account
from tests.eligibility_db.helpers import ACTOR, family, write_csv, young_family

DAY = date(2026, 6, 1)


def _scored(db: Session, tmp_path: Path) -> tuple[object, object]:
    hiri = young_family(db)
    moti = family(db, f.MOTI_KELURAHAN)
    path = write_csv(tmp_path / "d.csv", [["NIK", "DESIL"], [hiri.head_nik, "3"]])
    desil_service.import_desil(session=db, data=read_desil_file(path, period="2026-Q1"), actor=ACTOR)
    record = rules_service.ensure_active(session=db, actor=ACTOR)
    assert record is not None
    scoring.score_all(session=db, record=record, reference_date=DAY, actor=ACTOR)
    db.commit()
    return hiri.id, moti.id


class TestHouseholdEligibility:
    def test_decisions_with_reasons_and_provenance(
        self, client: TestClient, db: Session, admin: Account, tmp_path: Path
    ) -> None:
        hiri, _ = _scored(db, tmp_path)
        body = client.get(f"/households/{hiri}/eligibility", headers=admin.headers).json()
        assert body["rule_set"] == "ternate-bansos@2026.1"
        assert body["desil"] == {
            "desil": 3,
            "source": "official",
            "period": "2026-Q1",
            "model_version": None,
            "estimate": False,
            "label_id": "desil 3 (BPS 2026-Q1)",
            "label_en": "desil 3 (BPS 2026-Q1)",
        }
        pkh = next(d for d in body["decisions"] if d["programme_id"] == "pkh")
        assert pkh["outcome"] == "eligible" and pkh["outcome_id"] == "layak"
        assert pkh["text_id"].startswith("desil 3 (BPS 2026-Q1) <= 4")
        assert pkh["text_en"] and pkh["run_id"] and pkh["rule_set_digest"]
        persons = [d for d in body["decisions"] if d["unit"] == "person"]
        assert persons and all(d["member_id"] for d in persons)

    def test_desil_history(self, client: TestClient, db: Session, admin: Account, tmp_path: Path) -> None:
        hiri, moti = _scored(db, tmp_path)
        body = client.get(f"/households/{hiri}/desil", headers=admin.headers).json()
        assert [(o["period"], o["desil"]) for o in body["official"]] == [("2026-Q1", 3)]
        assert body["current"]["source"] == "official"
        none = client.get(f"/households/{moti}/desil", headers=admin.headers).json()
        assert none["current"]["desil"] is None and none["current"]["label_id"] == "belum ada desil"

    def test_out_of_area_and_not_found(
        self, client: TestClient, db: Session, tmp_path: Path, make_account: Callable[..., Account]
    ) -> None:
        hiri, moti = _scored(db, tmp_path)
        enum = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
        assert client.get(f"/households/{hiri}/eligibility", headers=enum.headers).status_code == 200
        assert client.get(f"/households/{moti}/eligibility", headers=enum.headers).status_code == 403
        missing = "00000000-0000-0000-0000-000000000000"
        assert client.get(f"/households/{missing}/desil", headers=enum.headers).status_code == 404
        assert client.get(f"/households/{hiri}/eligibility").status_code == 401


class TestDecisionList:
    def test_filters_paging_and_area(
        self,
        client: TestClient,
        db: Session,
        admin: Account,
        tmp_path: Path,
        make_account: Callable[..., Account],
    ) -> None:
        hiri, moti = _scored(db, tmp_path)
        page = client.get(
            "/eligibility/decisions", params={"programme": "pkh", "limit": 1}, headers=admin.headers
        ).json()
        assert page["count"] == 1 and page["next_cursor"]
        rest = client.get(
            "/eligibility/decisions",
            params={"programme": "pkh", "cursor": page["next_cursor"]},
            headers=admin.headers,
        ).json()
        ids = {d["household_id"] for d in page["data"] + rest["data"]}
        assert ids == {str(hiri), str(moti)}
        eligible = client.get(
            "/eligibility/decisions",
            params={"programme": "pkh", "outcome": "eligible", "desil": 3},
            headers=admin.headers,
        ).json()
        assert [d["household_id"] for d in eligible["data"]] == [str(hiri)]
        moti_only = client.get(
            "/eligibility/decisions",
            params={"kecamatan": "82.71.04", "programme": "pkh"},
            headers=admin.headers,
        ).json()
        assert [d["household_id"] for d in moti_only["data"]] == [str(moti)]
        spv = make_account(Role.supervisor, kecamatan="82.71.07")
        mine = client.get("/eligibility/decisions", headers=spv.headers).json()
        assert {d["household_id"] for d in mine["data"]} == {str(hiri)}
        dinsos = make_account(Role.dinsos)
        assert client.get("/eligibility/decisions", headers=dinsos.headers).status_code == 200
        bad = client.get("/eligibility/decisions", params={"cursor": "x.y"}, headers=admin.headers)
        assert bad.status_code == 400


class TestRuleSets:
    def test_list(self, client: TestClient, db: Session, admin: Account, tmp_path: Path) -> None:
        _scored(db, tmp_path)
        body = client.get("/rule-sets", headers=admin.headers).json()
        assert [(r["label"], r["status"]) for r in body] == [("ternate-bansos@2026.1", "active")]
