"""The appeals API on both engines: who may file, read and move appeals, in which area, and
every bad input answered with the field and the rule (and nothing written)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from app.appeals.models import Appeal, AppealEvent
from app.auth.models import Role
from app.config import Settings
from app.registry.models import FieldTask, Household
from tests import factories as f
from tests.conftest import Account

MakeAccount = Callable[..., Account]


def body(household: Household, **extra: Any) -> dict[str, Any]:
    return {"household_id": str(household.id), "about": "decision", "programme_id": "pkh",
            "reason": "Suami sudah tidak bekerja sejak Juni", **extra}


def count(db: Session, model: type) -> int:
    return int(db.exec(select(func.count()).select_from(model)).one())


@pytest.fixture
def hiri(make_account: MakeAccount) -> Account:
    return make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))


@pytest.fixture
def moti(make_account: MakeAccount) -> Account:
    return make_account(Role.enumerator, kelurahan=(f.MOTI_KELURAHAN,))


class TestFiling:
    @pytest.mark.parametrize(("role", "for_resident", "channel"), [
        ("enumerator", True, "agent"), ("enumerator", False, "enumerator"),
        ("dinsos", False, "dinsos"), ("admin", False, "dinsos")])
    def test_staff_file_in_their_area_with_their_channel(self, client: TestClient, make_account: MakeAccount,
                                                         household: Household, db: Session, role: str,
                                                         for_resident: bool, channel: str) -> None:
        account = make_account(role, kelurahan=(f.HIRI_FAUDU,) if role == "enumerator" else ())
        r = client.post("/appeals", json=body(household, for_resident=for_resident, phone="0812-3456-7890"),
                        headers=account.headers)
        assert r.status_code == 201, r.text
        out = r.json()
        assert (out["filed_by_channel"], out["status"], out["version"]) == (channel, "filed", 1)
        assert out["filed_by"] == account.user.id and out["programme_id"] == "pkh"
        assert [e["to_status"] for e in out["events"]] == ["filed"]
        # identifiers in full for admin and enumerator only (full_identifier_roles)
        assert out["phone"] == ("+6281234567890" if role != "dinsos" else "+628******7890")
        task = db.get(FieldTask, uuid.UUID(out["task_id"]))
        assert task is not None and task.kind == "reverify_appeal"

    def test_supervisors_and_other_areas_may_not_file(self, client: TestClient, make_account: MakeAccount,
                                                      household: Household, moti: Account,
                                                      db: Session) -> None:
        supervisor = make_account(Role.supervisor, kecamatan="82.71.07")
        r = client.post("/appeals", json=body(household), headers=supervisor.headers)
        assert (r.status_code, r.json()["error"]) == (403, "forbidden")
        r = client.post("/appeals", json=body(household), headers=moti.headers)
        assert (r.status_code, r.json()["error"]) == (403, "out_of_area")
        assert client.post("/appeals", json=body(household)).status_code == 401
        assert count(db, Appeal) == 0

    def test_a_duplicate_is_409_with_the_open_appeal(self, client: TestClient, admin: Account,
                                                      household: Household) -> None:
        first = client.post("/appeals", json=body(household), headers=admin.headers).json()
        r = client.post("/appeals", json=body(household, reason="lagi"), headers=admin.headers)
        assert r.status_code == 409 and r.json()["error"] == "appeal_open"
        assert r.json()["detail"]["appeal_id"] == first["id"]

    def test_window_closed_names_the_window(self, client: TestClient, admin: Account, settings: Settings,
                                            household: Household, db: Session) -> None:
        settings.appeal_window_opens = date(2020, 1, 6)
        r = client.post("/appeals", json=body(household), headers=admin.headers)
        assert r.status_code == 422
        (problem,) = r.json()["detail"]
        assert problem["field"] == "appeal_window" and problem["rule"] == "window_closed"
        assert "2020-02-04" in problem["message"]
        assert count(db, Appeal) == 0 and count(db, FieldTask) == 0

    @pytest.mark.parametrize(("change", "field", "rule"), [
        ({"about": "bansos"}, "about", "enum"),
        ({"reason": "x" * 501}, "reason", "string_too_long"),
        ({"reason": "  "}, "reason", "string_too_short"),
        ({"programme_id": "PKH; DROP"}, "programme_id", "string_pattern_mismatch"),
        ({"household_id": 12}, "household_id", "uuid_type"),
        ({"household_id": str(uuid.UUID(int=1))}, "household_id", "household_exists"),
        ({"for_resident": "yes"}, "for_resident", "bool_type"),
        ({"phone": "12"}, "phone", "phone_indonesian"),
        ({"desil": 3}, "desil", "extra_forbidden"),
        ({"reason": "a\x00b"}, "reason", "no_control_characters"),
    ])
    def test_bad_input_names_the_field(self, client: TestClient, admin: Account, household: Household,
                                       db: Session, change: dict[str, Any], field: str, rule: str) -> None:
        r = client.post("/appeals", json=body(household, **change), headers=admin.headers)
        assert r.status_code in (400, 422), r.text
        if r.status_code == 422:
            problems = {(p["field"], p["rule"]) for p in r.json()["detail"]}
            assert (field, rule) in problems, problems
        assert count(db, Appeal) == 0

    def test_malformed_json(self, client: TestClient, admin: Account) -> None:
        r = client.post("/appeals", content=b'{"household_id": ',
                        headers={**admin.headers, "Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body"


class TestReadingAndMoving:
    def test_list_and_detail_are_scoped_to_the_area(self, client: TestClient, admin: Account, hiri: Account,
                                                    moti: Account, make_account: MakeAccount,
                                                    household: Household) -> None:
        created = client.post("/appeals", json=body(household), headers=admin.headers).json()
        for account, seen in [(hiri, 1), (moti, 0), (make_account(Role.supervisor, kecamatan="82.71.04"), 0),
                              (make_account(Role.supervisor, kecamatan="82.71.07"), 1), (admin, 1)]:
            listed = client.get("/appeals", headers=account.headers).json()
            assert listed["count"] == seen, account.user.role
        assert client.get(f"/appeals/{created['id']}", headers=moti.headers).status_code == 403
        assert client.get(f"/appeals/{uuid.uuid4()}", headers=admin.headers).status_code == 404
        one = client.get(f"/appeals/{created['id']}", headers=hiri.headers).json()
        assert one["events"][0]["to_status"] == "filed"
        for query, seen in [({"status": "filed"}, 1), ({"status": "upheld"}, 0),
                            ({"kecamatan": "82.71.07"}, 1), ({"kelurahan": "8271013005"}, 1),
                            ({"kelurahan": f.MOTI_KELURAHAN}, 0)]:
            assert client.get("/appeals", params=query, headers=admin.headers).json()["count"] == seen, query
        for query, field in [({"status": "open"}, "status"), ({"kecamatan": "99.99"}, "kecamatan"),
                             ({"kelurahan": "nowhere"}, "kelurahan")]:
            r = client.get("/appeals", params=query, headers=admin.headers)
            assert r.status_code == 422 and r.json()["detail"][0]["field"] == field

    def test_pages_follow_the_cursor(self, client: TestClient, admin: Account, household: Household) -> None:
        for about in ("decision", "desil", "data"):
            client.post("/appeals", json=body(household, about=about), headers=admin.headers)
        first = client.get("/appeals", params={"limit": 2}, headers=admin.headers).json()
        rest = client.get("/appeals", params={"limit": 2, "cursor": first["next_cursor"]},
                          headers=admin.headers).json()
        assert (first["count"], rest["count"], rest["next_cursor"]) == (2, 1, None)
        assert client.get("/appeals", params={"cursor": "forged"}, headers=admin.headers).status_code == 400

    def test_who_moves_an_appeal_where(self, client: TestClient, admin: Account, hiri: Account, moti: Account,
                                       make_account: MakeAccount, household: Household, db: Session) -> None:
        appeal = client.post("/appeals", json=body(household), headers=admin.headers).json()
        url = f"/appeals/{appeal['id']}/status"
        supervisor = make_account(Role.supervisor, kecamatan="82.71.07")
        r = client.post(url, json={"status": "visit_scheduled", "version": 1}, headers=moti.headers)
        assert r.status_code == 403
        r = client.post(url, json={"status": "rejected", "note": "x", "version": 1}, headers=hiri.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "role_may_not_set"
        r = client.post(url, json={"status": "visit_scheduled", "version": 1}, headers=hiri.headers)
        assert r.status_code == 200 and r.json()["version"] == 2
        r = client.post(url, json={"status": "re_surveyed", "version": 1}, headers=hiri.headers)
        assert r.status_code == 409 and r.json()["error"] == "version_mismatch"
        r = client.post(url, json={"status": "re_surveyed", "note": "Rumah dicek", "version": 2},
                        headers=hiri.headers)
        assert r.status_code == 200
        r = client.post(url, json={"status": "upheld", "version": 3}, headers=supervisor.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "transition"
        r = client.post(url, json={"status": "sent_to_bps", "version": 3}, headers=supervisor.headers)
        assert r.status_code == 200
        r = client.post(url, json={"status": "rejected", "version": 4}, headers=supervisor.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "note"
        r = client.post(url, json={"status": "rejected", "note": "BPS: desil tetap", "version": 4},
                        headers=make_account(Role.dinsos).headers)
        assert r.status_code == 200
        events = r.json()["events"]
        assert [e["to_status"] for e in events] == ["filed", "visit_scheduled", "re_surveyed", "sent_to_bps",
                                                    "rejected"]
        assert events[2]["by_user_id"] == hiri.user.id and events[2]["channel"] == "enumerator"
        assert events[-1]["note"] == "BPS: desil tetap"
        assert count(db, AppealEvent) == 5

    @pytest.mark.parametrize("payload", [{"status": "visit_scheduled"}, {"status": "done", "version": 1},
                                         {"status": "visit_scheduled", "version": "1"},
                                         {"status": "rejected", "version": 1, "note": "x" * 501}])
    def test_bad_status_changes_name_the_field(self, client: TestClient, admin: Account,
                                               household: Household, payload: dict[str, Any]) -> None:
        appeal = client.post("/appeals", json=body(household), headers=admin.headers).json()
        r = client.post(f"/appeals/{appeal['id']}/status", json=payload, headers=admin.headers)
        assert r.status_code == 422
        assert r.json()["detail"][0]["field"] in ("version", "status", "note")
