"""Enumerator SMS fallback end to end: the reference tablet encodes, the server handles the SMS
through the push pipeline, the tablet takes the ack.  Bad input changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from app.audit.models import AuditEntry
from app.auth.models import Role, User
from app.config import Settings
from app.registry.models import Household, Member
from app.registry.synthetic import SyntheticRegistry
from app.sync.models import Device, SyncConflict, SyncMutation, SyncSmsPart
from app.sync.sms_fallback import REPLIES, handle_enumerator_sms, is_enumerator_sms
from sync_protocol import smscodec
from sync_protocol.cli import app as device_cli
from sync_protocol.client import DeviceClient, RetryPolicy, as_mutation
from tests import factories as f
from tests.conftest import Account
from tests.sync.conftest import V1

PASSWORD = "correct horse battery"
MODELS = (Household, Member, AuditEntry, SyncMutation, SyncConflict, SyncSmsPart)


class Tablets:
    def __init__(self, client: TestClient, make_account: Callable[..., Account], tmp_path: Path) -> None:
        self.client, self.make_account, self.tmp_path = client, make_account, tmp_path
        self.opened: list[DeviceClient] = []

    def new(self, account: Account | None = None) -> DeviceClient:
        account = account or self.make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU, f.HIRI_TOMAJIKO))
        device = DeviceClient(self.tmp_path / f"{uuid.uuid4().hex}.db", transport=self.client._transport,
                              retry=RetryPolicy(max_attempts=1))
        device.enrol("http://testserver", account.user.username, PASSWORD, f"tab-{uuid.uuid4().hex[:10]}")
        self.opened.append(device)
        return device


@pytest.fixture
def tablets(client: TestClient, make_account: Callable[..., Account], tmp_path: Path) -> Iterator[Tablets]:
    made = Tablets(client, make_account, tmp_path)
    yield made
    for device in made.opened:
        device.close()


def deliver(db: Session, settings: Settings, texts: list[str]) -> list[str]:
    """What the SMS gateway does: one call per inbound SMS, then the commit, then the reply."""
    replies = []
    for text in texts:
        assert is_enumerator_sms(text)
        replies.append(handle_enumerator_sms(db, settings, "+6281234567890", text))
        db.commit()
    return replies


def snapshot(db: Session) -> dict[str, Any]:
    counts = {m.__name__: db.execute(select(func.count()).select_from(m)).scalar_one() for m in MODELS}
    pushes = sorted(str(d.last_push_at) for d in db.execute(select(Device)).scalars())
    return {**counts, "pushes": pushes}


def family(size: int = 4, seed: int = 1) -> dict[str, Any]:
    data = SyntheticRegistry(seed=seed).household_of(size)
    data["kelurahan_code"] = f.HIRI_FAUDU
    data["kk_number"] = f.kk()
    data.pop("id")
    for m in data["members"]:
        m.pop("id")
        if m.get("nik"):
            m["nik"] = f.nik(date.fromisoformat(m["birth_date"]), m["sex"])
    return data


def registry_view(db: Session, hid: uuid.UUID) -> dict[str, Any]:
    """A household and its members as stored, without ids, identifiers and times."""
    skip = {"id", "household_id", "kk_number", "kk_bidx", "nik", "nik_bidx", "created_at", "updated_at",
            "created_by", "updated_by"}
    h = db.get(Household, hid)
    assert h is not None
    members = db.execute(select(Member).where(Member.household_id == hid)).scalars()
    return {"household": {k: v for k, v in h.model_dump().items() if k not in skip},
            "members": sorted(({k: v for k, v in m.model_dump().items() if k not in skip} for m in members),
                              key=lambda m: m["full_name"] + m["relation"])}


class TestEnrolment:
    def test_enrolment_gives_a_number_and_key_and_keeps_them(self, tablets: Tablets, client: TestClient,
                                                             make_account: Callable[..., Account]) -> None:
        account = make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))
        first = tablets.new(account).store.meta().enrolment
        other = tablets.new().store.meta().enrolment
        assert first is not None and other is not None and first.sms_key and other.sms_key
        assert first.sms_number != other.sms_number and first.sms_key != other.sms_key
        assert len(smscodec.key_from_text(first.sms_key)) == 16
        token = client.post("/auth/token", data={"username": account.user.username, "password": PASSWORD})
        again = client.post("/sync/v1/devices", json={"device_id": first.device_id},
                            headers={**V1, "Authorization": f"Bearer {token.json()['access_token']}"}).json()
        assert (again["sms_number"], again["sms_key"]) == (first.sms_number, first.sms_key)
        admin = tablets.make_account(Role.admin)
        listed = client.get("/sync/v1/devices", headers={**V1, **admin.headers}).json()
        assert all("sms_key" not in d for d in listed["data"])


class TestHouseholdBySms:
    def test_a_family_by_sms_is_the_family_an_http_push_makes(
            self, tablets: Tablets, db: Session, settings: Settings) -> None:
        by_sms, by_http = tablets.new(), tablets.new()
        sms_id = by_sms.create_household(family())
        http_id = by_http.create_household(family())  # the same family, other KK and NIKs
        (message,) = by_sms.sms_encode()
        replies = deliver(db, settings, message.texts)
        assert replies[-1].startswith(f"SIGAP OK {message.seq} ")
        assert by_http.sync().outcomes == {"applied": 1}
        assert registry_view(db, sms_id)["household"] == registry_view(db, http_id)["household"]
        sms_members = registry_view(db, sms_id)["members"]
        assert len(sms_members) == 4 and sms_members[0]["version"] == 1
        stored = db.get(Household, sms_id)
        assert stored is not None and stored.source == "enumerator"
        assert stored.verification_status == "field_verified"
        audit = db.execute(select(AuditEntry).where(AuditEntry.entity_id == str(sms_id))).scalars().one()
        enrolment = by_sms.store.meta().enrolment
        assert enrolment is not None and audit.device_id == enrolment.device_id

    def test_same_fields_as_sent_and_the_http_resend_is_a_duplicate(
            self, tablets: Tablets, db: Session, settings: Settings) -> None:
        tablet = tablets.new()
        data = family(5, seed=9)
        hid = tablet.create_household(data)
        (message,) = tablet.sms_encode()
        assert tablet.store.pending()[0].sms_sent_at is not None
        deliver(db, settings, message.texts)
        household = db.get(Household, hid)
        assert household is not None and household.address == data["address"]
        assert household.latitude == data["latitude"] and household.rt == data["rt"]
        names = set(db.execute(select(Member.full_name).where(Member.household_id == hid)).scalars())
        assert names == {m["full_name"] for m in data["members"]}
        # no ack reached the tablet: the next HTTP sync sends it again and the ledger knows it
        report = tablet.sync()
        assert report.outcomes == {"duplicate": 1} and tablet.status().pending == 0

    def test_replay_gives_the_same_ack_and_changes_nothing(
            self, tablets: Tablets, db: Session, settings: Settings) -> None:
        tablet = tablets.new()
        tablet.create_household(family(2))
        (message,) = tablet.sms_encode()
        first = deliver(db, settings, message.texts)
        assert len(first) == 1 and first[0].startswith("SIGAP OK")
        before = snapshot(db)
        assert deliver(db, settings, message.texts) == first
        after = snapshot(db)
        assert {k: v for k, v in after.items() if k != "pushes"} == {
            k: v for k, v in before.items() if k != "pushes"}

    def test_four_members_in_one_sms(self, tablets: Tablets, db: Session, settings: Settings) -> None:
        tablet = tablets.new()
        hid = tablet.create_household(family(4, seed=5))
        (message,) = tablet.sms_encode()
        assert len(message.texts) == 1
        (reply,) = deliver(db, settings, message.texts)
        assert reply.startswith(f"SIGAP OK {message.seq} ")
        assert db.execute(select(func.count()).where(Member.household_id == hid)).scalar_one() == 4

    def test_the_tablet_takes_the_ack_and_does_not_resend(
            self, tablets: Tablets, db: Session, settings: Settings) -> None:
        tablet = tablets.new()
        hid = tablet.create_household(family(8))
        (message,) = tablet.sms_encode()
        *parts, reply = deliver(db, settings, message.texts)
        assert [p.startswith("SIGAP TERIMA") for p in parts] == [True] * (len(message.texts) - 1)
        result = tablet.sms_ack(reply)
        assert (result.status, result.seq, result.word) == ("acknowledged", message.seq, "OK")
        assert tablet.status().pending == 0 and tablet.sms_encode() == []
        assert tablet.sms_ack(reply).status == "already"
        report = tablet.sync()
        assert report.pushed == 0
        record = tablet.record("household", hid)
        assert record is not None and record.version == 1 and not record.local_only

    def test_a_forged_ack_changes_nothing_on_the_tablet(self, tablets: Tablets) -> None:
        tablet = tablets.new()
        tablet.create_household(family())
        (message,) = tablet.sms_encode()
        forged = smscodec.format_ack("OK", message.seq, "AAAAAAAA", "Data diterima.")
        assert tablet.sms_ack(forged).status == "bad_code"
        assert tablet.sms_ack("SIGAP GAGAL: apa saja").status == "not_an_ack"
        assert tablet.status().pending == 1

    def test_eight_members_in_two_sms_in_any_order(
            self, tablets: Tablets, db: Session, settings: Settings) -> None:
        tablet = tablets.new()
        hid = tablet.create_household(family(8, seed=3))
        (message,) = tablet.sms_encode()
        assert len(message.texts) == 2
        (waiting,) = deliver(db, settings, message.texts[1:])
        assert waiting == REPLIES["part"].format(seq=message.seq, index=2, total=2)
        assert db.get(Household, hid) is None
        (done,) = deliver(db, settings, message.texts[:1])
        assert done.startswith(f"SIGAP OK {message.seq} ")
        assert db.execute(select(func.count()).where(Member.household_id == hid)).scalar_one() == 8
        assert db.execute(select(func.count()).select_from(SyncSmsPart)).scalar_one() == 0
        before = snapshot(db)
        assert deliver(db, settings, message.texts) == [done, done]  # late or repeated parts
        assert snapshot(db) == before

    def test_an_update_and_a_member_create_by_sms(
            self, tablets: Tablets, db: Session, settings: Settings) -> None:
        tablet = tablets.new()
        hid = tablet.create_household(family(2))
        tablet.sync()
        tablet.update("household", hid, {"asset_tv": True, "floor_area_m2": 64})
        mid = tablet.add_member(hid, {"full_name": "Nur Baru", "sex": "female", "relation": "grandchild",
                                      "birth_date": "2024-02-03"})
        messages = tablet.sms_encode()
        assert [len(m.texts) for m in messages] == [1, 1]
        replies = deliver(db, settings, [t for m in messages for t in m.texts])
        assert all(r.startswith("SIGAP OK") for r in replies)
        household = db.get(Household, hid)
        assert household is not None and (household.asset_tv, household.floor_area_m2) == (True, 64)
        member = db.get(Member, mid)
        assert member is not None and member.full_name == "Nur Baru"


class TestConflictsAndRejections:
    def test_a_conflict_by_sms_lands_in_the_review_queue_as_by_http(
            self, tablets: Tablets, db: Session, settings: Settings) -> None:
        first, second, by_http = tablets.new(), tablets.new(), tablets.new()
        hid = first.create_household(family())
        first.sync()
        second.sync()
        by_http.sync()
        first.update("household", hid, {"address": "Jl. Server No. 1"})
        first.sync()
        second.update("household", hid, {"address": "Jl. Tablet No. 2"})
        by_http.update("household", hid, {"address": "Jl. Lewat Internet No. 3"})
        (message,) = second.sms_encode()
        (reply,) = deliver(db, settings, message.texts)
        assert reply.startswith(f"SIGAP KONFLIK {message.seq} ")
        by_http.sync()
        rows = db.execute(select(SyncConflict).where(SyncConflict.entity_id == hid)
                          .order_by(SyncConflict.created_at)).scalars().all()
        assert [(r.field, r.policy, r.status, r.server_value) for r in rows] == [
            ("address", "review", "open", "Jl. Server No. 1")] * 2
        assert [r.device_value for r in rows] == ["Jl. Tablet No. 2", "Jl. Lewat Internet No. 3"]
        household = db.get(Household, hid)
        assert household is not None and household.address == "Jl. Server No. 1"
        assert second.sms_ack(reply).status == "acknowledged"
        assert [a.kind for a in second.status().attention] == ["conflict"]

    def test_a_refused_record_by_sms_is_refused_as_by_http(
            self, tablets: Tablets, db: Session, settings: Settings) -> None:
        tablet = tablets.new()
        data = family(1)
        data["members"][0]["nik"] = "8271079905800001"  # day 99: no such date
        hid = tablet.create_household(data)
        (message,) = tablet.sms_encode()
        before = snapshot(db)
        (reply,) = deliver(db, settings, message.texts)
        assert reply.startswith(f"SIGAP TOLAK {message.seq} ") and "members[0].nik" in reply
        assert db.get(Household, hid) is None
        after = snapshot(db)
        assert after["Household"] == before["Household"]
        assert after["SyncMutation"] == before["SyncMutation"] + 1  # the refusal is remembered
        assert tablet.sms_ack(reply).status == "acknowledged"
        (item,) = tablet.status().attention
        assert (item.kind, item.details[0]["field"]) == ("rejected", "fields.members[0].nik")


class TestBadInput:
    @pytest.fixture
    def sent(self, tablets: Tablets) -> tuple[DeviceClient, list[str]]:
        tablet = tablets.new()
        tablet.create_household(family(8))  # two SMS: the part tests need a part
        (message,) = tablet.sms_encode()
        return tablet, message.texts

    def _refused(self, db: Session, settings: Settings, text: str, reply: str) -> None:
        before = snapshot(db)
        assert deliver(db, settings, [text]) == [reply]
        assert snapshot(db) == before

    @pytest.mark.parametrize("text", ["K2 ", "K2 !!!!", "K2 halo apa kabar", "K2 000000000000000000000000",
                                      "K2 " + "A" * 5, "K2 Zm9v", "K2 " + "?" * 157, "K2 abc_def",
                                      "K2 Aw8pL+x", "K2 aGVsbG8gd29ybGQ@"])
    def test_garbage(self, db: Session, settings: Settings, text: str) -> None:
        self._refused(db, settings, text, REPLIES["garbled"])

    def test_truncated(self, db: Session, settings: Settings, sent: tuple[DeviceClient, list[str]]) -> None:
        text = sent[1][0]
        for cut in (len(text) - 1, len(text) - 4, len(text) - 30, 12):
            before = snapshot(db)
            (reply,) = deliver(db, settings, [text[:cut]])
            assert reply in (REPLIES["garbled"], REPLIES["bad_tag"])
            assert snapshot(db) == before

    def test_another_devices_key(self, db: Session, settings: Settings, sent: tuple[DeviceClient, list[str]],
                                 tablets: Tablets) -> None:
        tablet, _ = sent
        enrolment = tablet.store.meta().enrolment
        other = tablets.new().store.meta().enrolment
        assert enrolment is not None and enrolment.sms_number and other is not None and other.sms_key
        pending = tablet.store.pending()[0]
        texts = smscodec.encode(as_mutation(pending), device_id=enrolment.device_id,
                                device_number=enrolment.sms_number, key=smscodec.key_from_text(other.sms_key))
        self._refused(db, settings, texts[0], REPLIES["bad_tag"])

    def test_unknown_device_number(self, db: Session, settings: Settings) -> None:
        texts = smscodec.seal(b"\x00" * 20, key=bytes(16), device_number=999_999, seq=1)
        self._refused(db, settings, texts[0], REPLIES["unknown_device"])

    def test_revoked_device(self, db: Session, settings: Settings, client: TestClient,
                            sent: tuple[DeviceClient, list[str]],
                            make_account: Callable[..., Account]) -> None:
        tablet, texts = sent
        enrolment = tablet.store.meta().enrolment
        assert enrolment is not None
        r = client.post(f"/sync/v1/devices/{enrolment.device_id}/revoke", json={"reason": "hilang"},
                        headers={**V1, **make_account(Role.admin).headers})
        assert r.status_code == 200, r.text
        self._refused(db, settings, texts[0], REPLIES["revoked"])

    def test_a_disabled_enumerator(self, db: Session, settings: Settings,
                                   sent: tuple[DeviceClient, list[str]]) -> None:
        tablet, texts = sent
        enrolment = tablet.store.meta().enrolment
        assert enrolment is not None
        device = db.get(Device, enrolment.device_id)
        assert device is not None
        user = db.get(User, device.user_id)
        assert user is not None
        user.is_active = False
        db.add(user)
        db.commit()
        self._refused(db, settings, texts[0], REPLIES["inactive"])

    def test_a_replayed_part_of_another_seq_is_refused(
            self, db: Session, settings: Settings, sent: tuple[DeviceClient, list[str]]) -> None:
        frame = smscodec.parse_frame(sent[1][0])
        assert frame.total > 1
        # same device, next seq, same part
        moved = replace(frame, seq=frame.seq + 1).text
        self._refused(db, settings, moved, REPLIES["bad_tag"])


def test_the_sms_commands_of_sigap_device(tablets: Tablets, db: Session, settings: Settings,
                                          tmp_path: Path) -> None:
    tablet = tablets.new()
    tablet.create_household(family(8))
    store = tablet.store.path
    tablet.close()
    tablets.opened.remove(tablet)
    runner = CliRunner()
    encoded = runner.invoke(device_cli, ["--store", str(store), "sms-encode"])
    assert encoded.exit_code == 0, encoded.output
    texts = [line for line in encoded.stdout.splitlines() if line.startswith("K2 ")]
    assert len(texts) == 2
    replies = deliver(db, settings, texts)
    ack = smscodec.parse_ack(replies[-1])
    assert ack is not None
    wrong = "AAAAAAAA" if ack.code != "AAAAAAAA" else "BBBBBBBB"
    forged = smscodec.format_ack(ack.word, ack.seq, wrong, ack.note)
    bad = runner.invoke(device_cli, ["--store", str(store), "sms-ack", forged])
    assert bad.exit_code == 1 and "Balasan ditolak" in bad.output
    acked = runner.invoke(device_cli, ["--store", str(store), "sms-ack", replies[-1]])
    assert acked.exit_code == 0 and f"seq {ack.seq} diterima" in acked.stdout, acked.output
    again = runner.invoke(device_cli, ["--store", str(store), "sms-encode"])
    assert again.exit_code == 0 and "K2 " not in again.stdout
