"""The issue's definition of done, with two reference clients against a real server.

Two tablets (``sync_protocol.client.DeviceClient``, each with its own SQLite replica) edit
the same families offline, the same field and different fields, sync in either order over
real HTTP to uvicorn, and end with the server's state; every losing value is in the review
queue; replaying a push changes nothing.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from app.audit.models import AuditEntry
from app.auth import repository as auth_repository
from app.auth.models import User
from app.media.models import MediaLink
from app.registry.models import Household, Member
from app.sync.models import SyncConflict
from sync_protocol.client import DeviceClient
from tests import factories as f
from tests.conftest import LiveApp, password_hash

PASSWORD = "correct horse battery"


@pytest.fixture
def server(live_app: LiveApp, live_server: str) -> str:
    with Session(live_app.engine) as session:
        for name in ("enum.a", "enum.b"):
            auth_repository.add_user(
                session, User(username=name, password_hash=password_hash(), role="enumerator"), [f.HIRI_FAUDU]
            )
        session.commit()
    return live_server


def _device(tmp_path: Path, server: str, name: str) -> DeviceClient:
    client = DeviceClient(tmp_path / f"{name}.db", retry=None)
    client.enrol(server, f"enum.{name}", PASSWORD, f"tablet-{name}-0001")
    return client


def _server_view(engine: Any) -> dict[str, dict[str, Any]]:
    with Session(engine) as s:
        return {
            str(h.id): {
                "version": h.version,
                "address": h.address,
                "asset_tv": h.asset_tv,
                "livestock_goat_sheep": h.livestock_goat_sheep,
                "roof_condition": h.roof_condition,
            }
            for h in s.execute(select(Household).where(Household.deleted_at.is_(None))).scalars()
        }  # type: ignore[union-attr]


def _replica_view(device: DeviceClient) -> dict[str, dict[str, Any]]:
    out = {}
    for rec in device.households():
        data = rec.data or {}
        out[rec.id] = {
            "version": rec.version,
            "address": data.get("address", ""),
            "asset_tv": data.get("asset_tv"),
            "livestock_goat_sheep": data.get("livestock_goat_sheep"),
            "roof_condition": data.get("roof_condition"),
        }
    return out


@pytest.mark.parametrize("first", ["a", "b"])
def test_two_tablets_converge_and_lose_nothing(
    tmp_path: Path, server: str, live_app: LiveApp, first: str
) -> None:
    a, b = _device(tmp_path, server, "a"), _device(tmp_path, server, "b")
    try:
        families = [a.create_household(f.household(survey_date="2026-11-01")) for _ in range(3)]
        a.sync()
        b.sync()
        assert {r.id for r in b.households()} == {str(h) for h in families}
        one, two, three = (str(h) for h in families)
        # offline on both tablets:
        a.update("household", one, {"asset_tv": True})  # different fields ...
        b.update("household", one, {"livestock_goat_sheep": 4})  # ... merge
        a.update("household", two, {"address": "Jl. Pantai 1"})  # same field, review policy
        b.update("household", two, {"address": "Jl. Bukit 2"})
        a.update("household", three, {"roof_condition": "poor", "survey_date": "2026-11-10"})
        b.update("household", three, {"roof_condition": "good", "survey_date": "2026-11-20"})
        order = (a, b) if first == "a" else (b, a)
        for device in order:
            device.sync()
        for device in (a, b):  # a last round so both see each other's writes
            device.sync()
        server_view = _server_view(live_app.engine)
        assert _replica_view(a) == server_view == _replica_view(b)
        assert server_view[one]["asset_tv"] is True and server_view[one]["livestock_goat_sheep"] == 4
        assert server_view[three]["roof_condition"] == "good"  # the later visit (b, the 20th)
        with Session(live_app.engine) as s:
            conflicts = s.execute(select(SyncConflict)).scalars().all()
        by_field = {(c.entity_id.hex, c.field): c for c in conflicts}
        address = next(c for c in conflicts if c.field == "address")
        loser = "Jl. Bukit 2" if first == "a" else "Jl. Pantai 1"
        assert (address.status, address.device_value) == ("open", loser)
        roof = next(c for c in conflicts if c.field == "roof_condition")
        assert {roof.server_value, roof.device_value} == {"poor", "good"}
        assert len(by_field) == len(conflicts)
        assert a.status().pending == 0 and b.status().pending == 0
    finally:
        a.close()
        b.close()


def test_replaying_every_push_changes_nothing(tmp_path: Path, server: str, live_app: LiveApp) -> None:
    """Re-send each batch the tablet sent, byte for byte: all duplicates, no new rows."""
    sent: list[bytes] = []
    real = httpx.HTTPTransport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/push"):
                sent.append(request.read())
            return real.handle_request(request)

    device = DeviceClient(tmp_path / "r.db", transport=Recording())
    device.enrol(server, "enum.a", PASSWORD, "tablet-replay-01")
    try:
        hid = device.create_household(f.household())
        device.sync()
        device.update("household", str(hid), {"asset_tv": True})
        device.sync()
    finally:
        device.close()
        real.close()
    assert len(sent) == 2
    # the same device enrols again (same user, same id): a fresh token for the same ledger
    r = httpx.post(
        f"{server}/sync/v1/devices",
        json={"device_id": "tablet-replay-01"},
        headers={"Sigap-Sync-Version": "1", "Authorization": "Bearer " + _user_token(server)},
    )
    headers = {
        "Sigap-Sync-Version": "1",
        "Authorization": f"Bearer {r.json()['device_token']}",
        "Content-Type": "application/json",
    }
    with Session(live_app.engine) as s:
        counts = [
            s.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (Household, Member, AuditEntry)
        ]
    for body in sent:
        raw = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
        replay = httpx.post(f"{server}/sync/v1/push", content=raw, headers=headers)
        assert replay.status_code == 200
        assert {x["outcome"] for x in replay.json()["results"]} == {"duplicate"}
    with Session(live_app.engine) as s:
        assert [
            s.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (Household, Member, AuditEntry)
        ] == counts


def _user_token(server: str) -> str:
    r = httpx.post(f"{server}/auth/token", data={"username": "enum.a", "password": PASSWORD})
    return str(r.json()["access_token"])


def test_the_sigap_device_command_against_a_real_server(
    tmp_path: Path, server: str, live_app: LiveApp
) -> None:
    """What a field team does by hand: enrol, record a family offline, sync, check status."""
    store = tmp_path / "cli.db"
    family = tmp_path / "family.json"
    family.write_text(json.dumps(f.household()))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sync_protocol.cli", "--store", str(store), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={"SIGAP_DEVICE_PASSWORD": PASSWORD, "PATH": "/usr/bin:/bin"},
        )

    enrolled = run("enrol", "--server", server, "--username", "enum.a", "--device-id", "tablet-cli-0001")
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    created = run("create", str(family))
    assert created.returncode == 0, created.stdout + created.stderr
    household_id = created.stdout.split("Keluarga dicatat: ")[1].split()[0]
    picture = tmp_path / "rumah.jpg"
    picture.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 40)
    uploaded = run("photo", household_id, str(picture))
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    synced = run("sync")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    with Session(live_app.engine) as s:
        assert s.execute(select(func.count()).select_from(Household)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(MediaLink)).scalar_one() == 1
    status = run("status")
    assert status.returncode == 0 and "tablet-cli-0001" in status.stdout, status.stdout


def test_a_photo_travels_through_the_reference_client(tmp_path: Path, server: str, live_app: LiveApp) -> None:
    """tus upload from the client (in chunks), then the link rides the next sync."""
    device = _device(tmp_path, server, "a")
    try:
        hid = device.create_household(f.household())
        photo = tmp_path / "rumah.jpg"
        photo.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 1200)  # ~300 KiB
        digest = device.upload_media(
            photo, kind="house_photo", content_type="image/jpeg", chunk_size=64 * 1024
        )
        device.attach_media(hid, digest, "house_photo")
        report = device.sync()
        assert report.outcomes == {"applied": 2} and device.status().pending == 0
    finally:
        device.close()
    r = httpx.post(f"{server}/auth/token", data={"username": "enum.a", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    listed = httpx.get(f"{server}/media", params={"household_id": str(hid)}, headers=headers).json()
    assert [x["sha256"] for x in listed["data"]] == [digest]
    assert httpx.get(f"{server}/media/{digest}", headers=headers).content == photo.read_bytes()
