"""Household REST API: create, read, update, delete, bad input, roles and areas."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app import pii
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.registry.identifiers import mask
from app.registry.models import Household, KkHistory, Member
from tests import factories as f
from tests.conftest import Account


def count(db: Session, model: type[Household] | type[Member] | type[AuditEntry] | type[KkHistory]
          ) -> int:
    return int(db.exec(select(func.count()).select_from(model)).one())


def create(client: TestClient, account: Account, payload: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/households", json=payload, headers=account.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def enumerator(make_account: Callable[..., Account]) -> Account:
    return make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))


class TestCreate:
    def test_creates_household_with_members_history_and_audit(
            self, client: TestClient, admin: Account, db: Session) -> None:
        payload = f.household()
        body = create(client, admin, payload)
        assert body["kelurahan_code"] == f.HIRI_FAUDU and body["kecamatan_code"] == "82.71.07"
        assert body["source"] == "api" and body["verification_status"] == "self_reported"
        assert body["version"] == 1 and len(body["members"]) == 3
        assert body["kk_number"] == payload["kk_number"]
        assert [m["relation"] for m in body["members"]].count("head") == 1
        hid = body["id"]
        audits = db.exec(select(AuditEntry).where(AuditEntry.entity_id == hid)).all()
        assert [a.action for a in audits] == ["create"]
        # identifiers are kept masked in the append-only log (app/pii.py)
        assert audits[0].changes["kk_number"] == [None, mask(payload["kk_number"])]
        assert audits[0].actor_name == admin.user.username and audits[0].channel == "api"
        kk_rows = db.exec(select(KkHistory).where(
            pii.lookup(KkHistory.kk_bidx, "kk", payload["kk_number"]))).all()
        assert len(kk_rows) == 1 and kk_rows[0].valid_until is None

    def test_members_come_back_in_the_order_given(self, client: TestClient, admin: Account) -> None:
        members = [f.member("head")] + [
            f.member("child", birth=date(2010, 1, d), full_name=f"Anak {d}") for d in range(1, 9)]
        body = create(client, admin, f.household(members=members))
        assert [m["full_name"] for m in body["members"]] == [m["full_name"] for m in members]
        again = client.get(f"/households/{body['id']}", headers=admin.headers).json()
        assert [m["id"] for m in again["members"]] == [m["id"] for m in body["members"]]

    def test_enumerator_registration_is_field_verified(
            self, client: TestClient, enumerator: Account) -> None:
        body = create(client, enumerator, f.household())
        assert body["source"] == "enumerator" and body["verification_status"] == "field_verified"

    def test_client_generated_id_is_kept_and_cannot_be_reused(
            self, client: TestClient, admin: Account, db: Session) -> None:
        hid = "0b9f6c1e-3a52-4a8e-9d7c-3c1f0e2b7a11"
        assert create(client, admin, f.household(id=hid))["id"] == hid
        before = count(db, Household)
        r = client.post("/households", json=f.household(id=hid), headers=admin.headers)
        assert r.status_code == 409 and r.json()["detail"][0]["rule"] == "id_unique"
        assert count(db, Household) == before

    def test_bps_kelurahan_code_is_accepted(self, client: TestClient, admin: Account) -> None:
        assert create(client, admin, f.household(kelurahan="8271013005"))["kelurahan_code"] == \
            f.HIRI_FAUDU

    def test_nik_outside_ternate_is_a_warning_not_an_error(
            self, client: TestClient, admin: Account) -> None:
        head = f.member(nik=f.nik(date(1980, 5, 17), region="737101"))
        body = create(client, admin, f.household(members=[head]))
        assert [w["rule"] for w in body["warnings"]] == ["region_not_ternate"]


BAD_BODIES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("invalid NIK length", lambda p: p["members"][0].update(nik="123"), "members[0].nik", "length_16"),
    ("NIK birth date mismatch", lambda p: p["members"][1].update(birth_date="1985-02-03"),
     "members[1].nik", "nik_birth_date"),
    ("NIK sex mismatch", lambda p: p["members"][0].update(sex="female"), "members[0].nik", "nik_sex"),
    ("invalid KK", lambda p: p.update(kk_number="82710712031500"), "kk_number", "length_16"),
    ("invalid phone", lambda p: p.update(phone="+1 202 555 0100"), "phone", "phone_indonesian"),
    ("unknown field", lambda p: p.update(colour="blue"), "colour", "extra_forbidden"),
    ("unknown member field", lambda p: p["members"][0].update(salary=1), "members[0].salary",
     "extra_forbidden"),
    ("string for int", lambda p: p.update(power_va="900"), "power_va", "int_type"),
    ("string for bool", lambda p: p.update(asset_car="yes"), "asset_car", "bool_type"),
    ("bad code", lambda p: p.update(floor_material="gold"), "floor_material", "enum"),
    ("power class", lambda p: p.update(power_va=1000), "power_va", "power_va_class"),
    ("two heads", lambda p: p["members"][1].update(relation="head"), "members", "one_head"),
    ("no head", lambda p: p["members"][0].update(relation="other_relative"), "members", "one_head"),
    ("no members", lambda p: p.update(members=[]), "members", "too_short"),
    ("same NIK twice", lambda p: p["members"][1].update(nik=p["members"][0]["nik"], sex="male",
                                                        birth_date=p["members"][0]["birth_date"]),
     "body", "nik_unique_in_household"),
    ("pregnant man", lambda p: p["members"][0].update(pregnant=True), "members[0].pregnant",
     "pregnant_female_only"),
    ("future birth", lambda p: p["members"][2].update(birth_date="2999-01-01", nik=None),
     "members[2].birth_date", "not_in_future"),
    ("rt letters", lambda p: p.update(rt="1a"), "rt", "string_pattern_mismatch"),
    ("latitude", lambda p: p.update(latitude=45.0), "latitude", "less_than_equal"),
    ("missing kelurahan", lambda p: p.pop("kelurahan_code"), "kelurahan_code", "missing"),
    ("unknown kelurahan", lambda p: p.update(kelurahan_code="82.71.07.9999"), "kelurahan_code",
     "kelurahan_exists"),
]


class TestBadInputChangesNothing:
    @pytest.mark.parametrize(("case", "mutate", "field", "rule"), BAD_BODIES,
                             ids=[c[0] for c in BAD_BODIES])
    def test_rejected_with_field_and_rule(self, client: TestClient, admin: Account, db: Session,
                                          case: str, mutate: Callable[[dict[str, Any]], None],
                                          field: str, rule: str) -> None:
        payload = f.household()
        mutate(payload)
        before = (count(db, Household), count(db, Member), count(db, AuditEntry),
                  count(db, KkHistory))
        r = client.post("/households", json=payload, headers=admin.headers)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"] == "validation_error"
        assert {"field": field, "rule": rule} in [
            {"field": p["field"], "rule": p["rule"]} for p in body["detail"]], body
        assert (count(db, Household), count(db, Member), count(db, AuditEntry),
                count(db, KkHistory)) == before

    def test_malformed_json(self, client: TestClient, admin: Account, db: Session) -> None:
        before = count(db, Household)
        r = client.post("/households", content=b'{"kelurahan_code": "82.71.07.1001",',
                        headers={**admin.headers, "Content-Type": "application/json"})
        assert r.status_code == 422
        assert r.json()["detail"][0]["field"] == "body"
        assert r.json()["detail"][0]["rule"] == "json_invalid"
        assert count(db, Household) == before

    def test_json_that_is_not_an_object(self, client: TestClient, admin: Account) -> None:
        r = client.post("/households", json=[1, 2], headers=admin.headers)
        assert r.status_code == 422 and r.json()["error"] == "validation_error"

    def test_too_many_members(self, client: TestClient, admin: Account) -> None:
        payload = f.household(members=[f.member("head")] + [
            f.member("child", birth=date(2010, 1, 1 + i % 28)) for i in range(30)])
        r = client.post("/households", json=payload, headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "too_long"


class TestIdentityRules:
    def test_nik_in_another_active_household_is_a_conflict_not_an_overwrite(
            self, client: TestClient, admin: Account, db: Session) -> None:
        first = create(client, admin, f.household())
        head_nik = first["members"][0]["nik"]
        before = (count(db, Household), count(db, Member))
        clash = f.household(members=[f.member("head"), f.member(
            "child", birth=date(1980, 5, 17), nik=head_nik, full_name="Abdul Hamid")])
        r = client.post("/households", json=clash, headers=admin.headers)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "duplicate_identity"
        assert r.json()["detail"][0] == {"field": "members[1].nik",
                                         "rule": "nik_one_active_household",
                                         "message": "NIK already registered in another household"}
        assert (count(db, Household), count(db, Member)) == before
        # the first household is untouched
        again = client.get(f"/households/{first['id']}", headers=admin.headers).json()
        assert again["members"][0]["nik"] == head_nik and again["version"] == 1

    def test_kk_in_another_active_household_is_a_conflict(
            self, client: TestClient, admin: Account) -> None:
        first = create(client, admin, f.household())
        r = client.post("/households", json=f.household(kk_number=first["kk_number"]),
                        headers=admin.headers)
        assert r.status_code == 409 and r.json()["detail"][0]["field"] == "kk_number"

    def test_nik_is_free_again_after_the_household_is_deleted(
            self, client: TestClient, admin: Account) -> None:
        first = create(client, admin, f.household())
        assert client.delete(f"/households/{first['id']}", headers=admin.headers).status_code == 204
        members = [{k: v for k, v in m.items() if k in {"nik", "full_name", "sex", "relation",
                                                        "birth_date"}}
                   for m in first["members"]]
        create(client, admin, f.household(members=members, kk_number=first["kk_number"]))


class TestUpdate:
    def test_partial_update_bumps_version_and_audits_the_diff(
            self, client: TestClient, admin: Account, db: Session) -> None:
        hid = create(client, admin, f.household())["id"]
        r = client.patch(f"/households/{hid}", json={"version": 1, "floor_material": "earth",
                                                     "asset_car": None}, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2 and r.json()["floor_material"] == "earth"
        assert r.json()["power_va"] == 900  # untouched
        update = db.exec(select(AuditEntry).where(AuditEntry.entity_id == hid,
                                                  AuditEntry.action == "update")).one()
        assert update.changes == {"floor_material": ["cement_brick", "earth"]}

    def test_stale_version_is_409_and_changes_nothing(
            self, client: TestClient, admin: Account) -> None:
        hid = create(client, admin, f.household())["id"]
        client.patch(f"/households/{hid}", json={"version": 1, "rt": "003"}, headers=admin.headers)
        r = client.patch(f"/households/{hid}", json={"version": 1, "rt": "009"},
                         headers=admin.headers)
        assert r.status_code == 409 and r.json()["error"] == "version_mismatch"
        assert r.json()["detail"]["current_version"] == 2
        assert client.get(f"/households/{hid}", headers=admin.headers).json()["rt"] == "003"

    def test_unchanged_update_is_a_no_op(self, client: TestClient, admin: Account) -> None:
        body = create(client, admin, f.household())
        r = client.patch(f"/households/{body['id']}", json={"version": 1, "rt": body["rt"]},
                         headers=admin.headers)
        assert r.json()["version"] == 1

    def test_kk_change_keeps_history(self, client: TestClient, admin: Account) -> None:
        body = create(client, admin, f.household())
        new_kk = f.kk()
        r = client.patch(f"/households/{body['id']}", json={
            "version": 1, "kk_number": new_kk, "kk_change_reason": "pisah KK"},
            headers=admin.headers)
        assert r.status_code == 200
        history = client.get(f"/households/{body['id']}/history", headers=admin.headers).json()
        kks = history["kk_numbers"]
        assert [k["kk_number"] for k in kks] == [body["kk_number"], new_kk]
        assert kks[0]["valid_until"] is not None and kks[1]["valid_until"] is None
        assert kks[1]["reason"] == "pisah KK"
        # the old KK still finds the family
        found = client.get("/households/search", params={"kk": body["kk_number"]},
                           headers=admin.headers).json()
        assert [h["household"]["id"] for h in found["data"]] == [body["id"]]

    def test_verification_status_follows_the_chain(
            self, client: TestClient, admin: Account) -> None:
        hid = create(client, admin, f.household())["id"]
        r = client.patch(f"/households/{hid}", json={"version": 1,
                                                     "verification_status": "dukcapil_matched"},
                         headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "verification_transition"
        r = client.patch(f"/households/{hid}", json={"version": 1,
                                                     "verification_status": "field_verified"},
                         headers=admin.headers)
        assert r.status_code == 200 and r.json()["verification_status"] == "field_verified"

    def test_unknown_household_is_404(self, client: TestClient, admin: Account) -> None:
        r = client.patch("/households/6b3f0a44-7d43-4a5e-8f39-7c1a9b0e2d55", json={"version": 1},
                         headers=admin.headers)
        assert r.status_code == 404 and r.json()["error"] == "not_found"

    def test_version_is_required(self, client: TestClient, admin: Account) -> None:
        hid = create(client, admin, f.household())["id"]
        r = client.patch(f"/households/{hid}", json={"rt": "003"}, headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "version"


class TestMembers:
    def test_add_update_delete_member(self, client: TestClient, admin: Account, db: Session) -> None:
        body = create(client, admin, f.household())
        r = client.post(f"/households/{body['id']}/members",
                        json=f.member("child", "male", date(2019, 3, 4), full_name="Rizal Hamid"),
                        headers=admin.headers)
        assert r.status_code == 201, r.text
        mid = r.json()["id"]
        r = client.patch(f"/members/{mid}", json={"version": 1, "disability": "hearing"},
                         headers=admin.headers)
        assert r.status_code == 200 and r.json()["version"] == 2
        assert client.delete(f"/members/{mid}", params={"version": 2},
                             headers=admin.headers).status_code == 204
        members = client.get(f"/households/{body['id']}", headers=admin.headers).json()["members"]
        assert mid not in {m["id"] for m in members}
        history = client.get(f"/households/{body['id']}/history", headers=admin.headers).json()
        assert [(e["entity_type"], e["action"]) for e in history["entries"]][-3:] == [
            ("member", "create"), ("member", "update"), ("member", "delete")]

    def test_a_second_head_is_refused(self, client: TestClient, admin: Account) -> None:
        body = create(client, admin, f.household())
        r = client.post(f"/households/{body['id']}/members",
                        json=f.member("head", birth=date(1970, 1, 1)), headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "one_head"
        spouse = next(m for m in body["members"] if m["relation"] == "spouse")
        r = client.patch(f"/members/{spouse['id']}", json={"version": 1, "relation": "head"},
                         headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "one_head"

    def test_the_head_cannot_be_deleted_but_can_be_transferred(
            self, client: TestClient, admin: Account) -> None:
        body = create(client, admin, f.household())
        head = next(m for m in body["members"] if m["relation"] == "head")
        spouse = next(m for m in body["members"] if m["relation"] == "spouse")
        r = client.delete(f"/members/{head['id']}", headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "one_head"
        r = client.patch(f"/members/{head['id']}", json={
            "version": 1, "alive": False, "death_date": "2026-10-01"}, headers=admin.headers)
        assert r.status_code == 200
        r = client.put(f"/households/{body['id']}/head", json={
            "member_id": spouse["id"], "previous_head_relation": "spouse"}, headers=admin.headers)
        assert r.status_code == 200, r.text
        relations = {m["id"]: m["relation"] for m in r.json()["members"]}
        assert relations[spouse["id"]] == "head" and relations[head["id"]] == "spouse"

    def test_member_nik_change_checked_against_birth_date(
            self, client: TestClient, admin: Account) -> None:
        body = create(client, admin, f.household())
        child = next(m for m in body["members"] if m["relation"] == "child")
        r = client.patch(f"/members/{child['id']}", json={
            "version": 1, "birth_date": "2015-09-29"}, headers=admin.headers)
        assert r.status_code == 422 and r.json()["detail"][0] == {
            "field": "nik", "rule": "nik_birth_date",
            "message": r.json()["detail"][0]["message"]}


class TestDelete:
    def test_soft_delete_hides_but_keeps_history(self, client: TestClient, admin: Account,
                                                  db: Session) -> None:
        hid = create(client, admin, f.household())["id"]
        r = client.delete(f"/households/{hid}", params={"version": 1}, headers=admin.headers)
        assert r.status_code == 204
        assert client.get(f"/households/{hid}", headers=admin.headers).status_code == 404
        listed = client.get("/households", params={"kelurahan": f.HIRI_FAUDU, "limit": 500},
                            headers=admin.headers).json()
        assert hid not in {h["id"] for h in listed["data"]}
        row = db.exec(select(Household).where(Household.id == __import__("uuid").UUID(hid))).one()
        assert row.deleted_at is not None
        assert all(m.deleted_at is not None for m in db.exec(
            select(Member).where(Member.household_id == row.id)).all())

    def test_stale_delete_is_refused(self, client: TestClient, admin: Account) -> None:
        hid = create(client, admin, f.household())["id"]
        client.patch(f"/households/{hid}", json={"version": 1, "rt": "004"}, headers=admin.headers)
        r = client.delete(f"/households/{hid}", params={"version": 1}, headers=admin.headers)
        assert r.status_code == 409
        assert client.get(f"/households/{hid}", headers=admin.headers).status_code == 200


class TestRolesAndAreas:
    def test_enumerator_cannot_write_outside_assigned_kelurahan(
            self, client: TestClient, enumerator: Account, admin: Account, db: Session) -> None:
        before = count(db, Household)
        r = client.post("/households", json=f.household(kelurahan=f.HIRI_TOMAJIKO),
                        headers=enumerator.headers)
        assert r.status_code == 403 and r.json()["error"] == "out_of_area"
        assert count(db, Household) == before
        other = create(client, admin, f.household(kelurahan=f.MOTI_KELURAHAN))
        r = client.patch(f"/households/{other['id']}", json={"version": 1, "rt": "005"},
                         headers=enumerator.headers)
        assert r.status_code == 403 and r.json()["error"] == "out_of_area"
        assert client.get(f"/households/{other['id']}",
                          headers=enumerator.headers).status_code == 403
        member_id = other["members"][0]["id"]
        r = client.patch(f"/members/{member_id}", json={"version": 1, "occupation": "fisher"},
                         headers=enumerator.headers)
        assert r.status_code == 403

    def test_enumerator_cannot_move_a_family_out_of_their_area(
            self, client: TestClient, enumerator: Account) -> None:
        hid = create(client, enumerator, f.household())["id"]
        r = client.patch(f"/households/{hid}", json={"version": 1,
                                                     "kelurahan_code": f.MOTI_KELURAHAN},
                         headers=enumerator.headers)
        assert r.status_code == 403

    def test_lists_are_scoped_in_the_query(self, client: TestClient, admin: Account,
                                           enumerator: Account,
                                           make_account: Callable[..., Account]) -> None:
        mine = create(client, admin, f.household(kelurahan=f.HIRI_FAUDU))["id"]
        other = create(client, admin, f.household(kelurahan=f.SELATAN_KELURAHAN))["id"]
        seen = {h["id"] for h in client.get("/households", params={"limit": 500},
                                            headers=enumerator.headers).json()["data"]}
        assert mine in seen and other not in seen
        # asking explicitly for another area returns nothing rather than leaking
        r = client.get("/households", params={"kelurahan": f.SELATAN_KELURAHAN},
                       headers=enumerator.headers)
        assert r.status_code == 200 and r.json()["count"] == 0
        spv = make_account(Role.supervisor, kecamatan="82.71.07")
        seen = {h["id"] for h in client.get("/households", params={"limit": 500},
                                            headers=spv.headers).json()["data"]}
        assert mine in seen and other not in seen
        dinsos = make_account(Role.dinsos)
        seen = {h["id"] for h in client.get("/households", params={"limit": 500},
                                            headers=dinsos.headers).json()["data"]}
        assert {mine, other} <= seen

    def test_read_only_roles_cannot_write(self, client: TestClient,
                                          make_account: Callable[..., Account]) -> None:
        for account in (make_account(Role.supervisor, kecamatan="82.71.07"),
                        make_account(Role.dinsos)):
            r = client.post("/households", json=f.household(), headers=account.headers)
            assert r.status_code == 403 and r.json()["error"] == "forbidden"

    def test_identifiers_are_masked_for_roles_that_do_not_need_them(
            self, client: TestClient, admin: Account, make_account: Callable[..., Account]) -> None:
        body = create(client, admin, f.household(phone="0812-3456-7890"))
        dinsos = make_account(Role.dinsos)
        seen = client.get(f"/households/{body['id']}", headers=dinsos.headers).json()
        nik = body["members"][0]["nik"]
        assert seen["members"][0]["nik"] == nik[:4] + "********" + nik[-4:]
        assert seen["kk_number"] == body["kk_number"][:4] + "********" + body["kk_number"][-4:]
        assert seen["phone"] != body["phone"] and seen["phone"].startswith("+628")
        history = client.get(f"/households/{body['id']}/history", headers=dinsos.headers).text
        assert nik not in history and body["kk_number"] not in history
        assert body["kk_number"] in client.get(f"/households/{body['id']}/history",
                                               headers=admin.headers).text
