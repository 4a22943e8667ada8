"""A tablet uploads a photo with tus, then links it to a family with a sync mutation."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.conftest import Account
from tests.media import tusutil

V1 = {"Sigap-Sync-Version": "1"}


def _device_headers(client: TestClient, account: Account) -> dict[str, str]:
    r = client.post(
        "/sync/v1/devices",
        json={"device_id": f"tab-{uuid.uuid4().hex[:10]}"},
        headers={**V1, **account.headers},
    )
    assert r.status_code == 201, r.text
    return {**V1, "Authorization": f"Bearer {r.json()['device_token']}"}


def test_upload_then_link_by_mutation(
    client: TestClient, enumerator: Account, household_id: uuid.UUID
) -> None:
    device = _device_headers(client, enumerator)
    photo = tusutil.payload(150_000)
    tusutil.upload(client, device, photo)
    link = uuid.uuid4()
    mutation = {
        "seq": 1,
        "entity": "media",
        "op": "create",
        "id": str(link),
        "household_id": str(household_id),
        "fields": {"sha256": tusutil.sha(photo), "kind": "house_photo"},
    }
    unknown = {
        **mutation,
        "seq": 2,
        "id": str(uuid.uuid4()),
        "fields": {"sha256": "ab" * 32, "kind": "house_photo"},
    }
    update = {**mutation, "seq": 3, "op": "update", "base_version": 1}
    r = client.post("/sync/v1/push", json={"mutations": [mutation, unknown, update]}, headers=device)
    results = r.json()["results"]
    assert [x["outcome"] for x in results] == ["applied", "rejected", "rejected"]
    assert (results[1]["problems"][0]["field"], results[1]["problems"][0]["rule"]) == (
        "sha256",
        "media_uploaded",
    )
    assert results[2]["problems"][0]["rule"] == "not_supported"
    listed = client.get(
        "/media", params={"household_id": str(household_id)}, headers=enumerator.headers
    ).json()
    assert [x["sha256"] for x in listed["data"]] == [tusutil.sha(photo)]
    served = client.get(f"/media/{tusutil.sha(photo)}", headers=enumerator.headers)
    assert served.status_code == 200 and served.content == photo
    delete = {"seq": 4, "entity": "media", "op": "delete", "id": str(link), "base_version": 1}
    assert (
        client.post("/sync/v1/push", json={"mutations": [delete]}, headers=device).json()["results"][0][
            "outcome"
        ]
        == "applied"
    )
    assert (
        client.get("/media", params={"household_id": str(household_id)}, headers=enumerator.headers).json()[
            "data"
        ]
        == []
    )
