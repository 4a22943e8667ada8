"""Pull: scope, pages, tombstones, cursors, ETags, reassignment, and commit order."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.audit.service import SYSTEM, ActorRef
from app.auth.models import EnumeratorAssignment, Role
from app.auth.permissions import Principal
from app.channels import service as channels
from app.config import Settings
from app.db import new_session
from app.registry import service as registry
from app.registry.schemas import HouseholdCreate
from app.wilayah.models import Kelurahan
from tests import factories as f
from tests.conftest import Account, LiveApp
from tests.sync.conftest import V1, Tablet


def _ids(changes: list[dict[str, Any]], kind: str = "upsert", entity: str = "household") -> set[str]:
    return {c["id"] for c in changes if c["kind"] == kind and c["entity"] == entity}


def _create(t: Tablet, **kw: Any) -> uuid.UUID:
    hid = uuid.uuid4()
    (r,) = t.push(t.mutation("household", "create", hid, f.household(**kw)))
    assert r["outcome"] == "applied", r
    return hid


def test_initial_sync_is_scoped_and_carries_members(enrol: Callable[..., Tablet]) -> None:
    hiri = enrol()
    moti = enrol(kelurahan=(f.MOTI_KELURAHAN,))
    mine = _create(hiri)
    theirs = _create(moti, kelurahan=f.MOTI_KELURAHAN)
    changes, _ = enrol(hiri.account).pull_all()  # a second tablet of the same enumerator
    assert str(mine) in _ids(changes) and str(theirs) not in _ids(changes)
    members = [c for c in changes if c["entity"] == "member" and c["household_id"] == str(mine)]
    assert len(members) == 3 and all(c["data"]["full_name"] for c in members)
    assert all(c["kelurahan_code"] in (f.HIRI_FAUDU, f.HIRI_TOMAJIKO) for c in changes)
    assert "members" not in changes[0]["data"] and None not in changes[0]["data"].values()


def test_incremental_pull_sends_only_what_changed(enrol: Callable[..., Tablet]) -> None:
    t = enrol()
    a, b = _create(t), _create(t)
    _, cursor = t.pull_all()
    t.push(t.mutation("household", "update", b, {"asset_tv": True}, base_version=1))
    changes, cursor = t.pull_all(cursor)
    assert [(c["id"], c["version"], c["data"]["asset_tv"]) for c in changes] == [(str(b), 2, True)]
    assert str(a) not in _ids(changes)
    assert t.pull_all(cursor)[0] == []


def test_pages_and_a_repeated_page(enrol: Callable[..., Tablet], client: TestClient) -> None:
    t = enrol()
    for _ in range(4):
        _create(t)
    r1 = client.get("/sync/v1/pull", params={"limit": 5}, headers=t.headers)
    body = r1.json()
    assert body["has_more"] is True and len(body["changes"]) == 5
    r2 = client.get("/sync/v1/pull", params={"limit": 5, "cursor": body["cursor"]}, headers=t.headers)
    again = client.get("/sync/v1/pull", params={"limit": 5, "cursor": body["cursor"]}, headers=t.headers)
    assert again.json() == r2.json()  # a dropped response is repeated exactly
    tag = again.headers["ETag"]
    r304 = client.get(
        "/sync/v1/pull",
        params={"limit": 5, "cursor": body["cursor"]},
        headers={**t.headers, "If-None-Match": tag},
    )
    assert r304.status_code == 304 and r304.content == b""
    changes, _ = t.pull_all(limit=3)
    assert len(_ids(changes)) == 4 and len(_ids(changes, entity="member")) == 12


def test_tombstones_for_deletes_and_moves(
    enrol: Callable[..., Tablet], make_account: Callable[..., Account]
) -> None:
    both = enrol()
    faudu_only = enrol(kelurahan=(f.HIRI_FAUDU,))
    gone, moving = _create(both), _create(both)
    _, cursor = faudu_only.pull_all()
    both.push(
        both.mutation("household", "delete", gone, base_version=1),
        both.mutation("household", "update", moving, {"kelurahan_code": f.HIRI_TOMAJIKO}, base_version=1),
    )
    changes, _ = faudu_only.pull_all(cursor)
    tomb = {c["id"]: c["reason"] for c in changes if c["kind"] == "tombstone" and c["entity"] == "household"}
    assert tomb == {str(gone): "deleted", str(moving): "out_of_scope"}
    moved_members = [c for c in changes if c["entity"] == "member" and c["household_id"] == str(moving)]
    assert {c["reason"] for c in moved_members} == {"out_of_scope"} and len(moved_members) == 3
    # the device holding both kelurahan sees the move as an upsert in the new one, last
    moved = [c for c in both.pull_all()[0] if c["id"] == str(moving)]
    assert moved[-1]["kind"] == "upsert" and moved[-1]["kelurahan_code"] == f.HIRI_TOMAJIKO


def test_reassignment_sends_tombstones_and_the_new_kelurahan(
    enrol: Callable[..., Tablet], db: Session
) -> None:
    t = enrol(kelurahan=(f.HIRI_FAUDU,))
    other = enrol(kelurahan=(f.HIRI_TOMAJIKO,))
    old, new = _create(t), _create(other, kelurahan=f.HIRI_TOMAJIKO)
    _, cursor = t.pull_all()
    # the supervisor moves the enumerator from Faudu to Tomajiko
    assignment = db.get(EnumeratorAssignment, (t.account.user.id, f.HIRI_FAUDU))
    db.delete(assignment)
    db.add(EnumeratorAssignment(user_id=t.account.user.id or 0, kelurahan_code=f.HIRI_TOMAJIKO))
    db.commit()
    changes, _ = t.pull_all(cursor)
    assert {(c["id"], c.get("reason")) for c in changes if c["entity"] == "household"} == {
        (str(old), "out_of_scope"),
        (str(new), None),
    }
    assert len([c for c in changes if c["entity"] == "member" and c["kind"] == "tombstone"]) == 3


def test_a_tampered_cursor_is_refused(enrol: Callable[..., Tablet], client: TestClient) -> None:
    t = enrol()
    _, cursor = t.pull_all()
    payload, sig = cursor.split(".")
    r = client.get("/sync/v1/pull", params={"cursor": payload[:-2] + "xx." + sig}, headers=t.headers)
    assert r.status_code == 400 and r.json()["error"] == "invalid_cursor"


def test_self_registrations_reach_the_enumerator(enrol: Callable[..., Tablet], db: Session) -> None:
    t = enrol()
    _, cursor = t.pull_all()
    sms = ActorRef(user_id=None, name="sms-gateway", channel="sms")
    principal = Principal(
        user_id=0, username="sms", role=Role.admin, kelurahan_scope=None, full_identifiers=True
    )
    household = registry.create_household(
        session=db, data=HouseholdCreate.model_validate(f.household()), actor=sms, principal=principal
    )
    db.commit()
    (change, *_members), _ = t.pull_all(cursor)
    assert change["id"] == str(household.id)
    assert (change["data"]["source"], change["data"]["verification_status"]) == ("sms", "self_reported")


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_a_change_committed_late_is_not_missed(live_app: LiveApp) -> None:
    """T1 starts writing first but commits last; a pull in between must not skip past it.

    With sequence numbers taken at write time, T1 would hold a SMALLER number than T2; a
    device pulling after T2's commit would move its cursor past T1's number and never see
    T1.  Sigap takes the numbers at commit, under the counter row's lock.
    """
    eng = live_app.engine
    principal = Principal(
        user_id=0, username="t", role=Role.admin, kelurahan_scope=None, full_identifiers=True
    )
    first = new_session(eng)
    h1 = registry.create_household(
        session=first, data=HouseholdCreate.model_validate(f.household()), actor=SYSTEM, principal=principal
    )
    first.flush()  # T1 has written its rows, not yet committed
    second = new_session(eng)
    h2 = registry.create_household(
        session=second, data=HouseholdCreate.model_validate(f.household()), actor=SYSTEM, principal=principal
    )
    second.commit()  # T2 commits first
    with TestClient(live_app.app) as client:
        t = Tablet(
            client=client,
            account=None,
            device_id="late-commit",  # type: ignore[arg-type]
            token=_device_token(client, live_app),
        )
        seen, cursor = t.pull_all()
        assert str(h2.id) in _ids(seen) and str(h1.id) not in _ids(seen)
        first.commit()  # T1 commits last
        later, _ = t.pull_all(cursor)
        assert str(h1.id) in _ids(later), "T1's change was skipped by the cursor"
    first.close()
    second.close()


def _device_token(client: TestClient, live_app: LiveApp) -> str:
    r = client.post("/sync/v1/devices", json={"device_id": "late-commit"}, headers={**V1, **live_app.headers})
    assert r.status_code == 201, r.text
    return str(r.json()["device_token"])


def test_a_self_registration_sends_its_verification_task_to_the_kelurahan(
        enrol: Callable[..., Tablet], db: Session, settings: Settings) -> None:
    hiri, moti = enrol(), enrol(kelurahan=(f.MOTI_KELURAHAN,))
    _, cursor = hiri.pull_all()
    _, moti_cursor = moti.pull_all()
    faudu = db.get(Kelurahan, f.HIRI_FAUDU)
    assert faudu is not None
    daftar = f"DAFTAR#8271071705800001#8271071203150001#4#{faudu.name}"
    sms = channels.InboundSms("test", "081234567890", daftar)
    assert (channels.handle_sms(db, settings, sms).outcome) == "registered"
    db.commit()
    changes, cursor = hiri.pull_all(cursor)
    (task,) = [c for c in changes if c["entity"] == "task"]
    assert task["kind"] == "upsert" and task["kelurahan_code"] == f.HIRI_FAUDU
    assert (task["data"]["kind"], task["data"]["status"]) == ("verify_lead", "open")
    assert task["household_id"] in _ids(changes)  # the lead itself comes in the same pull
    assert moti.pull_all(moti_cursor)[0] == []  # another kelurahan sees nothing
    # the resident cancels: the task is closed on the tablet too
    assert channels.handle_sms(db, settings, channels.InboundSms("test", "081234567890", "BATAL")).outcome \
        == "cancelled_lead"
    db.commit()
    changes, _ = hiri.pull_all(cursor)
    (task,) = [c for c in changes if c["entity"] == "task"]
    assert task["data"]["status"] == "cancelled"
