"""The duplicate review queue over HTTP: a supervisor of Pulau Hiri sees the pair side by side
with the reasons, merges it, reads what the merge did, and undoes it; bad requests are
refused with the field named and change nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth.models import Role
from app.reconcile.store import MatchCandidate
from app.registry.models import Household
from tests.conftest import Account
from tests.reconcile_db.test_merge import family  # noqa: F401 (the fixture)

HIRI = "82.71.07"


def test_a_supervisor_merges_and_unmerges_a_family(
        client: TestClient, db: Session, family: dict[str, Any],  # noqa: F811
        make_account: Callable[..., Account]) -> None:
    spv = make_account(Role.supervisor, kecamatan=HIRI)
    db.commit()
    cid = family["candidate"].id
    listed = client.get("/reconcile/candidates", headers=spv.headers).json()
    assert [c["id"] for c in listed["data"]] == [cid]

    detail = client.get(f"/reconcile/candidates/{cid}", headers=spv.headers).json()
    assert {h["id"] for h in detail["households"]} == {str(family["lead"].id), str(family["visited"].id)}
    assert detail["links"][0]["weight"] == 21.5
    # a supervisor without full identifiers sees masked NIKs
    nik = next(m["nik"] for h in detail["households"] for m in h["members"] if m["nik"])
    assert "*" in nik

    r = client.post(f"/reconcile/candidates/{cid}/decision", headers=spv.headers,
                    json={"decision": "merge", "note": "keluarga yang sama, dicek di lapangan"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["candidate"]["status"] == "merged"
    merge = result["merge"]
    assert merge["survivor_id"] == str(family["visited"].id) and not merge["automatic"]
    filled = {c["field"]: c for c in merge["changes"] if c["entity"] == "household"}
    assert filled["phone"]["rule"] == "filled" and "*" in filled["phone"]["new"]
    assert client.get(f"/households/{family['lead'].id}", headers=spv.headers).status_code == 404

    again = client.post(f"/reconcile/candidates/{cid}/decision", headers=spv.headers,
                        json={"decision": "distinct"})
    assert again.status_code == 409 and again.json()["error"] == "conflict"

    shown = client.get(f"/reconcile/merges/{merge['id']}", headers=spv.headers).json()
    assert shown["id"] == merge["id"] and shown["undone_at"] is None
    undone = client.post(f"/reconcile/merges/{merge['id']}/undo", headers=spv.headers, json={})
    assert undone.status_code == 200, undone.text
    assert undone.json()["undone_at"] is not None
    assert client.get(f"/households/{family['lead'].id}", headers=spv.headers).status_code == 200
    assert client.post(f"/reconcile/merges/{merge['id']}/undo", headers=spv.headers,
                       json={}).status_code == 409
    listed = client.get("/reconcile/candidates?status=distinct", headers=spv.headers).json()
    assert [c["id"] for c in listed["data"]] == [cid]


def test_marking_a_pair_distinct_is_audited_and_final(
        client: TestClient, db: Session, family: dict[str, Any], admin: Account) -> None:  # noqa: F811
    cid = family["candidate"].id
    db.commit()
    r = client.post(f"/reconcile/candidates/{cid}/decision", headers=admin.headers,
                    json={"decision": "distinct", "note": "kakak beradik, bukan orang yang sama"})
    assert r.status_code == 200 and r.json()["merge"] is None
    assert r.json()["candidate"]["status"] == "distinct"
    history = client.get(f"/households/{family['lead'].id}/history", headers=admin.headers).json()
    assert "not_duplicate" in {e["action"] for e in history["entries"]}
    assert client.get("/reconcile/candidates", headers=admin.headers).json()["data"] == []


def test_who_may_see_and_decide(client: TestClient, db: Session, family: dict[str, Any],  # noqa: F811
                                make_account: Callable[..., Account]) -> None:
    cid = family["candidate"].id
    elsewhere = make_account(Role.supervisor, kecamatan="82.71.01")
    for role in (Role.enumerator, Role.dinsos):
        account = make_account(role, kelurahan=("82.71.07.1001",)) if role is Role.enumerator \
            else make_account(role)
        assert client.get("/reconcile/candidates", headers=account.headers).status_code == 403
    assert client.get("/reconcile/candidates", headers=elsewhere.headers).json()["data"] == []
    r = client.get(f"/reconcile/candidates/{cid}", headers=elsewhere.headers)
    assert r.status_code == 403 and r.json()["error"] == "out_of_area"
    r = client.post(f"/reconcile/candidates/{cid}/decision", headers=elsewhere.headers,
                    json={"decision": "merge"})
    assert r.status_code == 403
    assert client.get("/reconcile/candidates/999999", headers=elsewhere.headers).status_code == 404
    assert client.get("/reconcile/candidates").status_code == 401


def test_bad_decisions_name_the_field_and_change_nothing(
        client: TestClient, db: Session, family: dict[str, Any], admin: Account) -> None:  # noqa: F811
    cid = family["candidate"].id
    db.commit()
    for body, field in (({"decision": "maybe"}, "decision"),
                        ({"decision": "merge", "survivor": "x"}, "survivor"),
                        ({"decision": "merge", "survivor_id": "not-a-uuid"}, "survivor_id"),
                        ({"decision": "merge", "note": "x" * 501}, "note")):
        r = client.post(f"/reconcile/candidates/{cid}/decision", headers=admin.headers, json=body)
        assert r.status_code == 422, body
        assert r.json()["detail"][0]["field"] == field
    r = client.post(f"/reconcile/candidates/{cid}/decision", headers=admin.headers,
                    content=b"{not json", )
    assert r.status_code == 422
    r = client.post(f"/reconcile/candidates/{cid}/decision", headers=admin.headers,
                    json={"decision": "merge", "survivor_id": "6f1c7a52-2d7e-4a43-9a7a-6c1b3f1f0a11"})
    assert r.status_code == 409 and "survivor_id" in r.json()["detail"]["message"]
    db.expire_all()
    candidate = db.get(MatchCandidate, cid)
    lead = db.get(Household, family["lead"].id)
    assert candidate is not None and candidate.status == "pending"
    assert lead is not None and lead.deleted_at is None


def test_a_person_in_two_families_is_not_merged_as_a_family(
        client: TestClient, db: Session, family: dict[str, Any], admin: Account) -> None:  # noqa: F811
    candidate = family["candidate"]
    candidate.kind = "member"
    db.add(candidate)
    db.commit()
    r = client.post(f"/reconcile/candidates/{candidate.id}/decision", headers=admin.headers,
                    json={"decision": "merge"})
    assert r.status_code == 409 and r.json()["detail"]["kind"] == "member"


def test_a_pair_across_two_areas_shows_only_the_household_in_yours(
        client: TestClient, db: Session, family: dict[str, Any],  # noqa: F811
        make_account: Callable[..., Account]) -> None:
    moti = Household(**{**family["visited"].model_dump(), "id": uuid.uuid4(), "kk_number": None,
                        "kelurahan_code": "82.71.04.1001"})
    db.add(moti)
    db.flush()
    a, b = sorted((family["lead"].id, moti.id), key=str)
    candidate = MatchCandidate(kind="household", household_a=a, household_b=b, kecamatan_code="82.71.07",
                               kecamatan_b="82.71.04", weight=12.0, decision="review", links=[],
                               source="batch")
    db.add(candidate)
    spv = make_account(Role.supervisor, kecamatan=HIRI)
    db.commit()
    detail = client.get(f"/reconcile/candidates/{candidate.id}", headers=spv.headers).json()
    assert [h["id"] for h in detail["households"]] == [str(family["lead"].id)]
    assert detail["outside_area"] == [str(moti.id)]


def test_undo_lists_values_edited_since_masked(
        client: TestClient, db: Session, family: dict[str, Any],  # noqa: F811
        make_account: Callable[..., Account]) -> None:
    spv = make_account(Role.supervisor, kecamatan=HIRI)
    db.commit()
    cid = family["candidate"].id
    merged = client.post(f"/reconcile/candidates/{cid}/decision", headers=spv.headers,
                         json={"decision": "merge"}).json()["merge"]
    visited = db.get(Household, family["visited"].id)
    assert visited is not None
    visited.phone = "+6285298765432"
    db.add(visited)
    db.commit()
    undone = client.post(f"/reconcile/merges/{merged['id']}/undo", headers=spv.headers, json={}).json()
    (kept,) = undone["undo_kept"]
    assert kept["field"] == "phone" and kept["current"] != "+6285298765432" and "*" in kept["current"]


def test_a_residents_phone_is_masked_the_same_way_in_the_audit_trail() -> None:
    from app.channels.service import _actor
    assert _actor("+6281234567890", "sms").name == "sms:+628******7890"


def test_a_merge_is_read_only_where_both_families_are_in_your_area(
        client: TestClient, db: Session, family: dict[str, Any],  # noqa: F811
        make_account: Callable[..., Account], admin: Account) -> None:
    cid = family["candidate"].id
    db.commit()
    merge_id = client.post(f"/reconcile/candidates/{cid}/decision", headers=admin.headers,
                           json={"decision": "merge"}).json()["merge"]["id"]
    hiri, elsewhere = make_account(Role.supervisor, kecamatan=HIRI), make_account(Role.supervisor,
                                                                                   kecamatan="82.71.01")
    assert client.get(f"/reconcile/merges/{merge_id}", headers=hiri.headers).status_code == 200
    r = client.get(f"/reconcile/merges/{merge_id}", headers=elsewhere.headers)
    assert r.status_code == 403 and r.json()["error"] == "out_of_area"
    assert client.post(f"/reconcile/merges/{merge_id}/undo", headers=elsewhere.headers,
                       json={}).status_code == 403
