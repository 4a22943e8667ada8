"""A resident's whole journey through the channel service and the real app, on both engines:
register by USSD (Africa's Talking adapter), get the SMS confirmation queued, check status
by USSD and by SMS, and every refusal on the way (forged callbacks, retries, wrong PINs,
throttling, STOP)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, col, select

from app import pii
from app.audit.models import AuditEntry
from app.channels import gsm7, service, texts
from app.channels.models import ChannelMessage, Contact, OutboundSms, UssdSession
from app.channels.service import InboundSms
from app.config import Settings
from app.registry.models import FieldTask, Household, Member
from app.sync.models import SyncChange
from tests.channels.conftest import KK, NIK, PHONE

Dial = Callable[..., tuple[str, int]]
OTHER_NIK = "8271075203900002"  # born 12-03-1990, female


def walk_to(dial: Dial, path: list[str], name: str, **kw: object) -> list[str]:
    """Extend ``path`` with the inputs (pages with 98, then the number) that pick ``name``."""
    for _ in range(20):
        body, status = dial("*".join(path), **kw)
        assert status == 200, body
        for line in body.splitlines():
            m = re.match(r"^(\d+) (.+)$", line)
            if m and m.group(2) == name[:22]:
                return [*path, m.group(1)]
        assert "98 Berikutnya" in body, f"{name} not in menu:\n{body}"
        path = [*path, "98"]
    raise AssertionError("menu never ends")


def register_path(dial: Dial, *, nik: str = NIK, kk: str = KK, kecamatan: str = "Pulau Hiri",
                  kelurahan: str = "Tafraka", **kw: object) -> list[str]:
    path = walk_to(dial, ["1", nik, "1", kk], kecamatan, **kw)
    path = walk_to(dial, path, kelurahan, **kw)
    return [*path, "4", "1", "4", "1", "2580", "2580"]


def count(db: Session, model: type, *where: object) -> int:
    return int(db.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[arg-type]


def test_register_by_ussd_then_check_status(dial: Dial, db: Session, client: TestClient) -> None:
    path = register_path(dial)
    body, status = dial("*".join(path))
    assert status == 200 and body.startswith("CON Kirim pendaftaran?") and "8271********0001" in body
    body, status = dial("*".join([*path, "1"]))
    assert status == 200 and body.startswith("END Terima kasih"), body

    household = db.exec(select(Household).where(pii.lookup(Household.kk_bidx, "kk", KK))).one()
    assert (household.source, household.verification_status) == ("ussd", "self_reported")
    assert household.kelurahan_code == "82.71.07.1006" and household.phone == PHONE
    assert (household.roof_material, household.floor_material, household.asset_motorbike) == (
        "zinc", "earth", True)
    head = db.exec(select(Member).where(Member.household_id == household.id)).one()
    assert (head.nik, head.relation, head.sex, head.full_name) == (NIK, "head", "male", service.LEAD_NAME)
    # the same registry write as any channel: audited as ussd, in the change feed
    audit = db.exec(select(AuditEntry).where(AuditEntry.entity_id == str(household.id))).one()
    assert audit.channel == "ussd" and "8271" not in (audit.actor_name or "")[-4:]
    task = db.exec(select(FieldTask).where(FieldTask.household_id == household.id)).one()
    assert (task.kind, task.status, task.kelurahan_code) == ("verify_lead", "open", "82.71.07.1006")
    assert count(db, SyncChange, SyncChange.entity == "task", SyncChange.entity_id == task.id) == 1
    sms = db.exec(select(OutboundSms).where(OutboundSms.phone == PHONE)).one()
    assert sms.purpose == "registered" and NIK not in sms.text and "PIN#" not in sms.text
    assert "8271********0001" in sms.text and gsm7.fits_one_sms(sms.text)
    assert sms.status == "sent"  # the log sender ran after the response

    # status by USSD in a new session: needs the PIN
    body, _ = dial("2*2580", session_id="s2")
    assert body.startswith("END SIGAP: Keluarga NIK 8271********0001") and "menunggu verifikasi" in body
    # status by SMS from the registered phone: no PIN needed
    answer = service.handle_sms(db, client.app.state.settings,  # type: ignore[attr-defined]
                                InboundSms("test", "081234567890", "cek"))
    assert answer.reply is not None and "menunggu verifikasi petugas" in answer.reply


def test_a_retried_final_step_registers_once(dial: Dial, db: Session) -> None:
    final = "*".join([*register_path(dial), "1"])
    first = dial(final)
    assert dial(final) == first  # the gateway retried: same reply ...
    assert count(db, Household, pii.lookup(Household.kk_bidx, "kk", KK)) == 1  # ... and nothing twice
    assert count(db, OutboundSms, OutboundSms.phone == PHONE) == 1


def test_nothing_is_saved_before_the_confirmation_and_cancel_saves_nothing(dial: Dial, db: Session) -> None:
    path = register_path(dial)
    for i in range(len(path) + 1):
        dial("*".join(path[:i]))
    assert dial("*".join([*path, "2"]))[0].startswith("END Pendaftaran dibatalkan")
    assert count(db, Household) == 0 and count(db, Contact) == 0 and count(db, OutboundSms) == 0


def test_a_timed_out_registration_resumes_in_a_new_session(dial: Dial, db: Session) -> None:
    path = register_path(dial)
    dial("*".join(path[:6]), session_id="old")  # the network dropped here
    body, _ = dial("", session_id="new")
    assert "5 Lanjutkan pendaftaran" in body
    resumed, _ = dial("5", session_id="new")
    assert resumed == dial("*".join(path[:6]), session_id="old")[0]  # the same screen as where it stopped
    rest = path[6:]
    body, _ = dial("*".join(["5", *rest, "1"]), session_id="new")
    assert body.startswith("END Terima kasih"), body
    assert count(db, Household, pii.lookup(Household.kk_bidx, "kk", KK)) == 1
    body, _ = dial("", session_id="third")  # finished: nothing left to resume
    assert "Lanjutkan" not in body


def test_forged_and_unconfigured_callbacks_are_refused_and_change_nothing(dial: Dial, db: Session,
                                                                           client: TestClient) -> None:
    final = "*".join([*register_path(dial), "1"])
    for key in (None, "wrong", ""):
        body, status = dial(final, key=key, session_id=f"forged-{key}")
        assert status == 403 and "gateway_forbidden" in body
    assert count(db, Household) == 0
    assert count(db, UssdSession, col(UssdSession.session_id).startswith("forged")) == 0
    client.app.state.settings.gateway_secrets = {}  # type: ignore[attr-defined]
    body, status = dial("", session_id="x")
    assert status == 403 and "not configured" in body


def test_bad_gateway_input_gets_a_4xx_naming_the_field(dial: Dial, client: TestClient, db: Session) -> None:
    body, status = dial("", phone="12")
    assert status == 422 and "phoneNumber" in body
    r = client.post("/channels/ussd/africastalking", params={"key": "at-secret-123"},
                    data={"phoneNumber": "081234567890", "text": ""})
    assert r.status_code == 422 and "sessionId" in r.text
    r = client.post("/channels/ussd/africastalking", params={"key": "at-secret-123"},
                    data={"sessionId": "s", "phoneNumber": "081234567890", "text": "1*" * 300})
    assert r.status_code == 422 and "text" in r.text
    body, _ = dial("1", session_id="s9")
    body2, status = dial("1", session_id="s9", phone="081298765432")  # another phone on a session
    assert status == 422 and "sessionId" in body2
    assert count(db, Household) == 0


def test_every_menu_screen_on_the_real_places_fits_one_screen(dial: Dial) -> None:
    path = register_path(dial)
    for i in range(len(path) + 1):
        body, _ = dial("*".join(path[:i]), session_id=f"fit{i}")
        assert gsm7.fits_one_sms(body[4:]), body
    # every kelurahan page of every kecamatan
    first, _ = dial("1*" + NIK + "*1*" + KK, session_id="k")
    assert first.startswith("CON Kecamatan:")


# -- SMS (through the service; the adapters have their own tests) ------------------------------


def sms(db: Session, settings: Settings, text: str, phone: str = "081234567890",
        provider_id: str | None = None) -> str | None:
    return service.handle_sms(db, settings, InboundSms("test", phone, text, provider_id)).reply


@pytest.fixture
def cfg(client: TestClient) -> Settings:
    return client.app.state.settings  # type: ignore[attr-defined,no-any-return]


def test_sms_registration_asks_for_the_kelurahan_then_registers(db: Session, cfg: Settings) -> None:
    assert sms(db, cfg, f"DAFTAR#{NIK}#{KK}#4") == texts.ASK_KELURAHAN
    assert count(db, Household) == 0
    reply = sms(db, cfg, "kel tafraka")
    assert reply is not None and reply.startswith("Terima kasih") and "Tafraka" in reply
    household = db.exec(select(Household).where(pii.lookup(Household.kk_bidx, "kk", KK))).one()
    assert (household.source, household.kelurahan_code) == ("sms", "82.71.07.1006")
    contact = db.exec(select(Contact).where(Contact.phone == PHONE)).one()
    assert contact.pending is None and contact.declared_members == 4
    assert sms(db, cfg, "PIN#2580") == texts.PIN_SAVED
    status = sms(db, cfg, f"STATUS#{NIK}#2580", phone="081298765432")
    assert status is not None and "menunggu verifikasi" in status


def test_sms_registration_in_one_message_and_a_misspelt_kelurahan(db: Session, cfg: Settings) -> None:
    reply = sms(db, cfg, f"DAFTAR#{NIK}#{KK}#4#Tafrakka")  # one letter doubled: still clear
    assert reply is not None and reply.startswith("Terima kasih"), reply
    reply = sms(db, cfg, f"DAFTAR#{OTHER_NIK}#8271071203150002#2#Zzyzx", phone="081298765432")
    assert reply is not None and "tidak ditemukan" in reply and gsm7.fits_one_sms(reply)
    assert count(db, Household) == 1


def test_a_nik_already_registered_is_refused_without_saying_more(db: Session, cfg: Settings) -> None:
    sms(db, cfg, f"DAFTAR#{NIK}#{KK}#4#Tafraka")
    reply = sms(db, cfg, f"DAFTAR#{NIK}#8271071203150002#4#Tafraka", phone="081298765432")
    assert reply == texts.NIK_TAKEN and count(db, Household) == 1


def test_three_wrong_pins_lock_status_checks_for_a_day(db: Session, cfg: Settings) -> None:
    sms(db, cfg, f"DAFTAR#{NIK}#{KK}#4#Tafraka")
    sms(db, cfg, "PIN#2580")
    attacker = "081298765432"
    first = sms(db, cfg, f"STATUS#{NIK}#1357", phone=attacker)
    assert first is not None and "Sisa 2 kali" in first
    assert "Sisa 1 kali" in (sms(db, cfg, f"STATUS#{NIK}#1358", phone=attacker) or "")
    assert "dikunci 24 jam" in (sms(db, cfg, f"STATUS#{NIK}#1359", phone=attacker) or "")
    # now even the right PIN is refused, and nothing about the family leaks
    locked = sms(db, cfg, f"STATUS#{NIK}#2580", phone=attacker)
    assert locked is not None and "dikunci" in locked and "verifikasi" not in locked
    contact = db.exec(select(Contact).where(Contact.phone == PHONE)).one()
    assert contact.locked_until is not None
    # a day later the right PIN works again
    contact.locked_until = contact.locked_until - timedelta(hours=25)
    db.add(contact)
    assert "menunggu verifikasi" in (sms(db, cfg, f"STATUS#{NIK}#2580", phone=attacker) or "")


def test_an_unknown_nik_reads_like_a_wrong_pin(db: Session, cfg: Settings) -> None:
    assert sms(db, cfg, f"STATUS#{NIK}#2580") == texts.NIK_OR_PIN_WRONG


def test_a_retried_message_is_answered_from_the_record(db: Session, cfg: Settings) -> None:
    first = sms(db, cfg, f"DAFTAR#{NIK}#{KK}#4#Tafraka", provider_id="m-1")
    assert sms(db, cfg, f"DAFTAR#{NIK}#{KK}#4#Tafraka", provider_id="m-1") == first
    assert count(db, Household) == 1
    assert count(db, ChannelMessage, ChannelMessage.provider_id == "m-1") == 1


def test_throttled_phones_and_niks_get_no_reply(db: Session, cfg: Settings) -> None:
    for _ in range(cfg.channel_phone_per_hour):
        assert sms(db, cfg, "BANTUAN") == texts.HELP_SMS
    assert sms(db, cfg, "BANTUAN") is None
    # a NIK named from many phones
    for i in range(cfg.channel_nik_per_day):
        assert sms(db, cfg, f"STATUS#{NIK}#2580", phone=f"08129876543{i}") is not None
    assert sms(db, cfg, f"STATUS#{NIK}#2580", phone="081311112222") is None


def test_batal_removes_a_lead_and_its_task(db: Session, cfg: Settings) -> None:
    sms(db, cfg, f"DAFTAR#{NIK}#{KK}#4#Tafraka")
    assert sms(db, cfg, "BATAL") == texts.CANCELLED_LEAD
    household = db.exec(select(Household).where(pii.lookup(Household.kk_bidx, "kk", KK))).one()
    assert household.deleted_at is not None
    task = db.exec(select(FieldTask).where(FieldTask.household_id == household.id)).one()
    assert task.status == "cancelled"
    assert sms(db, cfg, "STATUS") is not None  # the phone is no longer linked
    assert sms(db, cfg, f"DAFTAR#{NIK}#{KK}#4#Tafraka") is not None
    assert count(db, Household, col(Household.deleted_at).is_(None)) == 1  # may register again


def test_stop_silences_confirmations(db: Session, cfg: Settings) -> None:
    assert sms(db, cfg, "STOP") == texts.STOPPED
    assert service.queue_sms(db, PHONE, "x", purpose="test") is None
    sms(db, cfg, "BANTUAN")  # writing again opts in again
    assert service.queue_sms(db, PHONE, "x", purpose="test") is not None


def test_garbage_gets_help_and_changes_nothing(db: Session, cfg: Settings) -> None:
    for text in ("halo 😀", "", "DAFTAR#1234#5678#x", f"DAFTAR#{NIK}#{KK}#99", "\x00\x00"):
        reply = sms(db, cfg, text)
        assert reply is not None and gsm7.fits_one_sms(reply)
    assert count(db, Household) == 0 and count(db, Contact) == 0


def test_identifiers_never_appear_in_replies_or_the_message_log(db: Session, cfg: Settings) -> None:
    sms(db, cfg, f"DAFTAR#{NIK}#{KK}#4")
    sms(db, cfg, "KEL#Tafraka")
    sms(db, cfg, "PIN#2580")
    sms(db, cfg, f"STATUS#{NIK}#2580", phone="081298765432")
    for row in db.exec(select(ChannelMessage)).all():
        assert NIK not in (row.reply or "") and KK not in (row.reply or "")
    for row in db.exec(select(OutboundSms)).all():
        assert NIK not in row.text



def test_ussd_confirmations_are_logged_and_limited_per_nik(dial: Dial, db: Session, cfg: Settings) -> None:
    dial("*".join([*register_path(dial), "1"]))
    (logged,) = db.exec(select(ChannelMessage).where(ChannelMessage.kind == "ussd_register")).all()
    assert logged.outcome == "registered" and logged.nik_key and NIK not in logged.nik_key
    cfg.channel_nik_per_day = 1
    other = {"phone": "081298765432", "session_id": "other"}
    body, status = dial("*".join([*register_path(dial, kk="8271071203150002", **other), "1"]), **other)
    assert status == 200 and body == "END " + texts.USSD_BUSY
    assert count(db, Household) == 1
    assert count(db, ChannelMessage, ChannelMessage.outcome == "throttled_nik") == 1
