"""Device enrolment and revocation."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from app.auth.models import Role
from tests import factories as f
from tests.conftest import Account
from tests.sync.conftest import V1, Tablet


def test_enrolment_returns_scope_limits_and_a_working_token(
    enrol: Callable[..., Tablet], client: TestClient, make_account: Callable[..., Account]
) -> None:
    account = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
    r = client.post(
        "/sync/v1/devices",
        json={"device_id": "tab-hiri-007", "label": "Tablet 7"},
        headers={**V1, **account.headers},
    )
    body = r.json()
    assert r.status_code == 201
    assert (body["scope"], body["limits"]["max_batch"], body["protocol_versions"]) == (
        [f.HIRI_FAUDU],
        500,
        [1],
    )
    pulled = client.get("/sync/v1/pull", headers={**V1, "Authorization": f"Bearer {body['device_token']}"})
    assert pulled.status_code == 200 and pulled.json()["scope"] == [f.HIRI_FAUDU]


def test_bad_device_ids_and_someone_elses_device(
    client: TestClient, enrol: Callable[..., Tablet], make_account: Callable[..., Account]
) -> None:
    account = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
    for bad in ("short", "has space in it", "x" * 65):
        r = client.post("/sync/v1/devices", json={"device_id": bad}, headers={**V1, **account.headers})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "device_id"
    t = enrol()
    r = client.post("/sync/v1/devices", json={"device_id": t.device_id}, headers={**V1, **account.headers})
    assert r.status_code == 409
    dinsos = make_account(Role.dinsos)
    r = client.post("/sync/v1/devices", json={"device_id": "dinsos-tab-1"}, headers={**V1, **dinsos.headers})
    assert r.status_code == 403


def test_revocation_stops_push_and_pull_with_a_reason(
    enrol: Callable[..., Tablet], client: TestClient, make_account: Callable[..., Account]
) -> None:
    t = enrol()
    sup = make_account(Role.supervisor, kecamatan="82.71.07")
    far = make_account(Role.supervisor, kecamatan="82.71.01")
    r = client.post(
        f"/sync/v1/devices/{t.device_id}/revoke",
        json={"reason": "tablet hilang"},
        headers={**V1, **far.headers},
    )
    assert r.status_code == 403
    listed = client.get("/sync/v1/devices", headers={**V1, **sup.headers}).json()
    assert t.device_id in {d["device_id"] for d in listed["data"]}
    assert t.device_id not in {
        d["device_id"] for d in client.get("/sync/v1/devices", headers={**V1, **far.headers}).json()["data"]
    }
    r = client.post(
        f"/sync/v1/devices/{t.device_id}/revoke",
        json={"reason": "tablet hilang"},
        headers={**V1, **sup.headers},
    )
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    for resp in (
        client.get("/sync/v1/pull", headers=t.headers),
        client.post(
            "/sync/v1/push",
            json={
                "mutations": [
                    t.mutation("household", "delete", "00000000-0000-4000-8000-000000000000", base_version=1)
                ]
            },
            headers=t.headers,
        ),
    ):
        assert resp.status_code == 401
        assert resp.json()["error"] == "device_revoked" and "tablet hilang" in resp.json()["detail"]
    r = client.post("/sync/v1/devices", json={"device_id": t.device_id}, headers={**V1, **t.account.headers})
    assert r.status_code == 401 and r.json()["error"] == "device_revoked"
    assert client.get("/sync/v1/devices", headers={**V1, **t.account.headers}).status_code == 403


def test_a_disabled_user_loses_the_device_too(
    enrol: Callable[..., Tablet], client: TestClient, db: object
) -> None:
    from sqlmodel import Session

    assert isinstance(db, Session)
    t = enrol()
    t.account.user.is_active = False
    db.add(t.account.user)
    db.commit()
    assert client.get("/sync/v1/pull", headers=t.headers).status_code == 401
