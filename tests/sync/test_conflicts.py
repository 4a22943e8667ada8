"""Two tablets edit the same family offline: merges, policies, the review queue."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth.models import Role
from app.registry.models import Household, Member
from tests import factories as f
from tests.conftest import Account
from tests.sync.conftest import Tablet


def _family(t: Tablet, **kw: Any) -> tuple[uuid.UUID, list[dict[str, Any]]]:
    hid = uuid.uuid4()
    fields = f.household(**kw)
    for m in fields["members"]:
        m["id"] = str(uuid.uuid4())
    (r,) = t.push(t.mutation("household", "create", hid, fields))
    assert r["outcome"] == "applied"
    return hid, fields["members"]


def _supervisor(make_account: Callable[..., Account]) -> Account:
    return make_account(Role.supervisor, kecamatan="82.71.07")


def test_different_fields_merge(enrol: Callable[..., Tablet], db: Session) -> None:
    a, b = enrol(), enrol()
    hid, _ = _family(a)
    (ra,) = a.push(a.mutation("household", "update", hid, {"asset_tv": True}, base_version=1))
    (rb,) = b.push(b.mutation("household", "update", hid, {"livestock_goat_sheep": 3}, base_version=1))
    assert (ra["outcome"], rb["outcome"], rb["merged_fields"], rb["version"]) == (
        "applied",
        "merged",
        ["asset_tv"],
        3,
    )
    h = db.get(Household, hid)
    assert h is not None and (h.asset_tv, h.livestock_goat_sheep) == (True, 3)


def test_same_value_on_both_sides_is_not_a_conflict(enrol: Callable[..., Tablet]) -> None:
    a, b = enrol(), enrol()
    hid, _ = _family(a)
    a.push(a.mutation("household", "update", hid, {"asset_tv": True}, base_version=1))
    (rb,) = b.push(b.mutation("household", "update", hid, {"asset_tv": True}, base_version=1))
    assert (rb["outcome"], rb["conflicts"], rb["version"]) == ("applied", [], 2)  # nothing left to write


def test_observation_from_the_later_visit_wins_and_the_loser_is_kept(
    enrol: Callable[..., Tablet], client: TestClient, make_account: Callable[..., Account], db: Session
) -> None:
    a, b = enrol(), enrol()
    hid, _ = _family(a, survey_date="2026-11-01")
    # b visited on the 20th, a on the 10th; a syncs first
    (ra,) = a.push(
        a.mutation(
            "household",
            "update",
            hid,
            {"roof_condition": "poor", "survey_date": "2026-11-10"},
            base_version=1,
        )
    )
    assert ra["outcome"] == "applied", ra
    (rb,) = b.push(
        b.mutation(
            "household",
            "update",
            hid,
            {"roof_condition": "good", "survey_date": "2026-11-20"},
            base_version=1,
        )
    )
    assert rb["outcome"] == "conflict"
    decided = {c["field"]: c for c in rb["conflicts"]}
    assert decided["roof_condition"]["resolution"] == "device_applied"
    assert decided["roof_condition"]["server_value"] == "poor"
    assert db.get(Household, hid).roof_condition == "good"  # type: ignore[union-attr]
    # an older visit synced later loses, and its value is still on record
    c = enrol()
    (rc,) = c.push(
        c.mutation(
            "household",
            "update",
            hid,
            {"roof_condition": "poor", "survey_date": "2026-11-05"},
            base_version=1,
        )
    )
    lost = {x["field"]: x for x in rc["conflicts"]}["roof_condition"]
    assert (lost["resolution"], lost["device_value"]) == ("server_kept", "poor")
    sup = _supervisor(make_account)
    listed = client.get("/conflicts", params={"status": "auto_resolved"}, headers=sup.headers).json()
    assert {(x["field"], x["device_value"]) for x in listed["data"]} >= {("roof_condition", "poor")}


def test_undecidable_goes_to_review_and_resolution_reaches_devices(
    enrol: Callable[..., Tablet], client: TestClient, make_account: Callable[..., Account], db: Session
) -> None:
    a, b = enrol(), enrol()
    hid, _ = _family(a)
    _, cursor = b.pull_all()
    a.push(a.mutation("household", "update", hid, {"address": "Jl. Pantai 1"}, base_version=1))
    (rb,) = b.push(b.mutation("household", "update", hid, {"address": "Jl. Bukit 2"}, base_version=1))
    (conflict,) = rb["conflicts"]
    assert (rb["outcome"], conflict["resolution"], conflict["policy"]) == (
        "conflict",
        "pending_review",
        "review",
    )
    assert db.get(Household, hid).address == "Jl. Pantai 1"  # type: ignore[union-attr]
    sup = _supervisor(make_account)
    queue = client.get("/conflicts", headers=sup.headers).json()
    item = next(x for x in queue["data"] if x["id"] == conflict["conflict_id"])
    assert (item["server_value"], item["device_value"], item["status"]) == (
        "Jl. Pantai 1",
        "Jl. Bukit 2",
        "open",
    )
    # out of area: a supervisor of another kecamatan does not see it
    other = make_account(Role.supervisor, kecamatan="82.71.01")
    assert client.get(f"/conflicts/{conflict['conflict_id']}", headers=other.headers).status_code == 403
    r = client.post(
        f"/conflicts/{conflict['conflict_id']}/resolve",
        json={"choice": "device", "note": "cek lapangan"},
        headers=sup.headers,
    )
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert (
        client.post(
            f"/conflicts/{conflict['conflict_id']}/resolve", json={"choice": "server"}, headers=sup.headers
        ).status_code
        == 409
    )
    changes, _ = b.pull_all(cursor)
    final = [c for c in changes if c["id"] == str(hid)][-1]
    assert (final["data"]["address"], final["version"]) == ("Jl. Bukit 2", 3)


def test_resolving_with_an_invalid_value_names_the_rule(
    enrol: Callable[..., Tablet], client: TestClient, make_account: Callable[..., Account]
) -> None:
    a, b = enrol(), enrol()
    hid, _ = _family(a)
    a.push(a.mutation("household", "update", hid, {"rt": "003"}, base_version=1))
    (rb,) = b.push(b.mutation("household", "update", hid, {"rt": "004"}, base_version=1))
    cid = rb["conflicts"][0]["conflict_id"]
    sup = _supervisor(make_account)
    r = client.post(
        f"/conflicts/{cid}/resolve", json={"choice": "value", "value": "12345"}, headers=sup.headers
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "value.rt"
    r = client.post(f"/conflicts/{cid}/resolve", json={"choice": "value"}, headers=sup.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["rule"] == "required"
    r = client.post(f"/conflicts/{cid}/resolve", json={"choice": "value", "value": "5"}, headers=sup.headers)
    assert r.status_code == 200 and r.json()["resolved_value"] == "5"


def test_identity_of_a_verified_family_keeps_the_server_value(
    enrol: Callable[..., Tablet], db: Session
) -> None:
    a, b = enrol(), enrol()
    hid, members = _family(a)
    head = members[0]["id"]
    h = db.get(Household, hid)
    assert h is not None
    h.verification_status = "dukcapil_matched"
    db.add(h)
    db.commit()
    a.push(a.mutation("member", "update", head, {"full_name": "Abdul Hamid Umar"}, base_version=1))
    (rb,) = b.push(b.mutation("member", "update", head, {"full_name": "Abd. Hamid"}, base_version=1))
    (c,) = rb["conflicts"]
    assert (c["policy"], c["resolution"], c["device_value"]) == (
        "server_if_verified",
        "server_kept",
        "Abd. Hamid",
    )
    assert db.get(Member, uuid.UUID(head)).full_name == "Abdul Hamid Umar"  # type: ignore[union-attr]


def test_delete_against_edit_and_edit_against_delete_go_to_review(
    enrol: Callable[..., Tablet], client: TestClient, make_account: Callable[..., Account], db: Session
) -> None:
    a, b = enrol(), enrol()
    hid, _ = _family(a)
    a.push(a.mutation("household", "update", hid, {"asset_fridge": True}, base_version=1))
    (deleted,) = b.push(b.mutation("household", "delete", hid, base_version=1))
    assert deleted["outcome"] == "conflict" and deleted["conflicts"][0]["field"] == "_deleted"
    assert db.get(Household, hid).deleted_at is None  # type: ignore[union-attr]
    sup = _supervisor(make_account)
    cid = deleted["conflicts"][0]["conflict_id"]
    r = client.post(f"/conflicts/{cid}/resolve", json={"choice": "device"}, headers=sup.headers)
    assert r.status_code == 200
    assert db.get(Household, hid).deleted_at is not None  # type: ignore[union-attr]
    # a third tablet that still had version 2 edits the now-deleted family
    c = enrol()
    (edited,) = c.push(c.mutation("household", "update", hid, {"asset_ac": True}, base_version=2))
    assert edited["outcome"] == "conflict" and edited["conflicts"][0]["device_value"] == {"asset_ac": True}


def test_own_earlier_edits_are_not_conflicts(enrol: Callable[..., Tablet]) -> None:
    """Two edits queued offline on one tablet both carry the base it had: not a conflict."""
    t = enrol()
    hid, _ = _family(t)
    first, second = t.push(
        t.mutation("household", "update", hid, {"address": "Jl. A"}, base_version=1),
        t.mutation("household", "update", hid, {"address": "Jl. B"}, base_version=1),
    )
    assert (first["outcome"], second["outcome"], second["version"]) == ("applied", "applied", 3)
