"""Hostile and unusual input found in review: each once produced a 500, a leak or a silent
wrong answer."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.registry.identifiers import IdentifierInvalid, parse_kk, redact_identifiers
from app.registry.models import Household, KkHistory, Member
from tests import factories as f
from tests.conftest import Account


def create(client: TestClient, account: Account, payload: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/households", json=payload, headers=account.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def counts(db: Session) -> tuple[int, ...]:
    return tuple(int(db.exec(select(func.count()).select_from(m)).one())
                 for m in (Household, Member, AuditEntry, KkHistory))


class TestMaskingCannotBeUndone:
    def test_masked_roles_do_not_get_the_birth_date_that_spells_the_nik(
            self, client: TestClient, admin: Account, make_account: Callable[..., Account]) -> None:
        body = create(client, admin, f.household())
        dinsos = make_account(Role.dinsos)
        seen = client.get(f"/households/{body['id']}", headers=dinsos.headers).json()
        head = seen["members"][0]
        assert head["birth_date"] is None and head["birth_year"] == 1980
        full_nik = body["members"][0]["nik"]
        assert full_nik[6:12] not in client.get(f"/households/{body['id']}",
                                                headers=dinsos.headers).text
        # the roles that see the NIK anyway keep the full date
        assert body["members"][0]["birth_date"] == "1980-05-17"

    def test_history_does_not_give_the_birth_date_either(
            self, client: TestClient, admin: Account, make_account: Callable[..., Account]) -> None:
        body = create(client, admin, f.household())
        dinsos = make_account(Role.dinsos)
        r = client.get(f"/households/{body['id']}/history", headers=dinsos.headers)
        assert r.status_code == 200
        head_create = next(e for e in r.json()["entries"]
                           if e["entity_id"] == body["members"][0]["id"])
        assert head_create["changes"]["birth_date"] == [None, "1980"]
        assert "1980-05-17" not in r.text and body["members"][0]["nik"] not in r.text
        full = client.get(f"/households/{body['id']}/history", headers=admin.headers)
        assert "1980-05-17" in full.text

    def test_warning_does_not_reveal_the_region_digits(
            self, client: TestClient, admin: Account, make_account: Callable[..., Account]) -> None:
        head = f.member(nik=f.nik(date(1980, 5, 17), region="737101"))
        body = create(client, admin, f.household(members=[head]))
        seen = client.get(f"/households/{body['id']}", headers=make_account(Role.dinsos).headers)
        assert seen.json()["warnings"][0]["rule"] == "region_not_ternate"
        assert "737101" not in seen.text


class TestHostileCharacters:
    @pytest.mark.parametrize(("mutate", "field", "rule"), [
        (lambda p: p["members"][0].update(nik="827107170580\u0660\u0660\u0660\u0662"),
         "members[0].nik", "digits_only"),  # Arabic-Indic digits
        (lambda p: p.update(kk_number="８２７１０７１２０３１５０００２"), "kk_number", "digits_only"),
        (lambda p: p.update(rt="\u0661\u0662"), "rt", "string_pattern_mismatch"),
        (lambda p: p.update(address="Jl. Kie\x00Raha"), "address", "no_control_characters"),
        (lambda p: p["members"][0].update(full_name="Abdul\x00"), "members[0].full_name",
         "no_control_characters"),
        (lambda p: p.update(kelurahan_code="82.71\x00"), "kelurahan_code", "no_control_characters"),
        (lambda p: p.update(phone="00180312345678901"), "phone", "phone_subscriber"),
    ])
    def test_rejected_with_422_and_nothing_written(
            self, client: TestClient, admin: Account, db: Session,
            mutate: Callable[[dict[str, Any]], None], field: str, rule: str) -> None:
        payload = f.household()
        mutate(payload)
        before = counts(db)
        r = client.post("/households", json=payload, headers=admin.headers)
        assert r.status_code == 422, r.text
        assert (field, rule) in [(p["field"], p["rule"]) for p in r.json()["detail"]]
        assert counts(db) == before

    @pytest.mark.parametrize(("path", "params"), [
        ("/households/search", {"nik": "827107²705800001"}),
        ("/households/search", {"kk": "827107²203150002"}),
        ("/households", {"member_nik": "827107²705800001"}),
        ("/households", {"kk_number": "827107²203150002"}),
    ])
    def test_odd_digits_in_queries_are_422(self, client: TestClient, admin: Account,
                                           path: str, params: dict[str, str]) -> None:
        r = client.get(path, params=params, headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "digits_only"

    @pytest.mark.parametrize("url", ["/households?kelurahan=82.71%00", "/households%00"])
    def test_nul_in_the_url_is_400(self, client: TestClient, admin: Account, url: str) -> None:
        r = client.get(url, headers=admin.headers)
        assert r.status_code == 400 and "NUL" in r.json()["detail"]

    def test_nul_in_the_login_form_is_a_plain_401(self, client: TestClient) -> None:
        r = client.post("/auth/token", data={"username": "ad\x00min", "password": "x"})
        assert r.status_code == 401

    def test_nul_in_user_fields(self, client: TestClient, admin: Account) -> None:
        r = client.post("/users", headers=admin.headers, json={
            "username": "nul.user", "password": "a-long-password", "role": "dinsos",
            "full_name": "Nul\x00"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "full_name"


class TestValueRules:
    def test_kk_issue_date_must_exist(self) -> None:
        with pytest.raises(IdentifierInvalid) as exc:
            parse_kk("8271073102150002")  # 31 February
        assert exc.value.problem.rule == "issue_date_digits"

    def test_rt_rw_are_stored_as_three_digits(self, client: TestClient, admin: Account) -> None:
        body = create(client, admin, f.household(rt="2", rw="11"))
        assert (body["rt"], body["rw"]) == ("002", "011")

    def test_kk_change_reason_needs_a_new_kk(self, client: TestClient, admin: Account) -> None:
        hid = create(client, admin, f.household())["id"]
        r = client.patch(f"/households/{hid}", json={"version": 1, "kk_change_reason": "pindah"},
                         headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "needs_kk_number"

    def test_members_are_capped_when_added_one_by_one(self, client: TestClient, admin: Account,
                                                      db: Session) -> None:
        members = [f.member("head")] + [f.member("child", birth=date(2010, 1, 1 + i))
                                        for i in range(29)]
        hid = create(client, admin, f.household(members=members))["id"]
        r = client.post(f"/households/{hid}/members", json=f.member("child", birth=date(2011, 2, 2)),
                        headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "too_long"

    def test_updated_since_with_ternate_offset(self, client: TestClient, admin: Account) -> None:
        hid = create(client, admin, f.household())["id"]
        wit = timezone(timedelta(hours=9))
        an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).astimezone(wit).isoformat()
        in_an_hour = (datetime.now(UTC) + timedelta(hours=1)).astimezone(wit).isoformat()
        ids = lambda since: {h["id"] for h in client.get(  # noqa: E731
            "/households", params={"updated_since": since, "limit": 500},
            headers=admin.headers).json()["data"]}
        assert hid in ids(an_hour_ago)
        assert hid not in ids(in_an_hour)

    def test_page_size_cap_applies(self, client: TestClient, admin: Account, app: Any) -> None:
        for _ in range(3):
            create(client, admin, f.household())
        app.state.settings = app.state.settings.model_copy(update={"page_size_max": 2})
        body = client.get("/households", params={"limit": 50}, headers=admin.headers).json()
        assert body["count"] == 2 and body["next_cursor"]


class TestRolesAndStatus:
    def test_enumerator_cannot_claim_dukcapil_matching(
            self, client: TestClient, make_account: Callable[..., Account], db: Session) -> None:
        enum = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
        before = counts(db)
        r = client.post("/households", json=f.household(verification_status="dukcapil_matched"),
                        headers=enum.headers)
        assert r.status_code == 403 and counts(db) == before
        hid = create(client, enum, f.household())["id"]
        r = client.patch(f"/households/{hid}", json={"version": 1,
                                                     "verification_status": "dukcapil_matched"},
                         headers=enum.headers)
        assert r.status_code == 403

    def test_supervisor_created_with_a_bps_kecamatan_code(self, client: TestClient,
                                                          admin: Account) -> None:
        r = client.post("/users", headers=admin.headers, json={
            "username": "spv.bps", "password": "a-long-password", "role": "supervisor",
            "kecamatan_code": "8271013"})
        assert r.status_code == 201, r.text
        assert r.json()["kecamatan_code"] == "82.71.07"

    def test_password_change_ends_older_tokens(self, client: TestClient, admin: Account,
                                               db: Session) -> None:
        from app.audit.service import SYSTEM
        from app.auth.service import set_password

        assert client.get("/auth/me", headers=admin.headers).status_code == 200
        admin.user.password_changed_at = None
        set_password(session=db, user=admin.user, password="another-long-password", actor=SYSTEM)
        # the token's iat has one-second resolution: make the change clearly later
        admin.user.password_changed_at = datetime.now(UTC) + timedelta(seconds=2)
        db.add(admin.user)
        db.commit()
        r = client.get("/auth/me", headers=admin.headers)
        assert r.status_code == 401 and "Password changed" in r.json()["detail"]


class TestIdentityOnUpdate:
    def test_member_nik_clash_on_update_names_field_and_rule(
            self, client: TestClient, admin: Account) -> None:
        first = create(client, admin, f.household())
        second = create(client, admin, f.household())
        taken = first["members"][0]
        target = second["members"][0]
        r = client.patch(f"/members/{target['id']}", json={
            "version": 1, "nik": taken["nik"], "birth_date": taken["birth_date"]},
            headers=admin.headers)
        assert r.status_code == 409, r.text
        assert r.json()["detail"][0]["field"] == "nik"
        assert r.json()["detail"][0]["rule"] == "nik_one_active_household"


class TestHistoryAfterDelete:
    def test_history_stays_readable_and_lists_each_member_deletion(
            self, client: TestClient, admin: Account) -> None:
        body = create(client, admin, f.household())
        client.delete(f"/households/{body['id']}", headers=admin.headers)
        r = client.get(f"/households/{body['id']}/history", headers=admin.headers)
        assert r.status_code == 200
        deletes = [(e["entity_type"], e["entity_id"]) for e in r.json()["entries"]
                   if e["action"] == "delete"]
        assert ("household", body["id"]) in deletes
        assert {m["id"] for m in body["members"]} <= {eid for kind, eid in deletes
                                                       if kind == "member"}

    def test_history_of_an_unknown_household_is_404(self, client: TestClient,
                                                     admin: Account) -> None:
        r = client.get(f"/households/{uuid.uuid4()}/history", headers=admin.headers)
        assert r.status_code == 404


class TestStoredDataOutsideTodaysRules:
    def test_a_row_from_before_a_rule_is_still_listed_and_exported(
            self, client: TestClient, admin: Account, db: Session) -> None:
        hid = create(client, admin, f.household())["id"]
        row = db.get(Household, uuid.UUID(hid))
        assert row is not None
        row.power_va = 1000  # not a PLN class today
        row.rt = "1a"
        db.add(row)
        db.commit()
        r = client.get(f"/households/{hid}", headers=admin.headers)
        assert r.status_code == 200 and r.json()["power_va"] == 1000
        export = client.get("/households/export.csv", headers=admin.headers)
        assert hid in export.text


class TestCsvInjection:
    def test_formula_text_is_neutralised(self, client: TestClient, admin: Account) -> None:
        head = f.member(full_name='=HYPERLINK("http://evil","x")')
        create(client, admin, f.household(members=[head], address="+1+2"))
        text = client.get("/households/export.csv", headers=admin.headers).text
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
        names = {r["head_name"] for r in rows}
        assert "'=HYPERLINK(\"http://evil\",\"x\")" in names
        assert "'+1+2" in {r["address"] for r in rows}
        assert not any(r["head_name"].startswith("=") for r in rows)


class TestRedaction:
    @pytest.mark.parametrize("text", ["8271 0717 0580 0001", "8271-0717-0580-0001",
                                      "8271.0717.0580.0001", "/households/8271071705800001"])
    def test_grouped_niks_are_masked_in_logs(self, text: str) -> None:
        assert "0717" not in redact_identifiers(text)
