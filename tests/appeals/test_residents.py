"""Residents appeal by SMS and USSD and read the appeal in their status reply, on both
engines, with the channel's own rules: the phone or the PIN as credential, retries answered
from the record, limits per phone and per NIK, one SMS of GSM-7 Bahasa per reply."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from app.appeals import service as appeals
from app.appeals.models import Appeal
from app.appeals.rules import AppealStatus
from app.auth.models import Role
from app.channels import gsm7, service, texts
from app.channels.models import ChannelMessage
from app.channels.service import InboundSms
from app.config import Settings
from app.registry.models import FieldTask
from tests.appeals.conftest import STAFF, principal
from tests.channels.conftest import KK, NIK, PHONE
from tests.channels.test_journeys import register_path

Dial = Callable[..., tuple[str, int]]
OTHER_PHONE = "081298765432"


def sms(db: Session, settings: Settings, text: str, phone: str = "081234567890",
        provider_id: str | None = None) -> str | None:
    reply = service.handle_sms(db, settings, InboundSms("test", phone, text, provider_id)).reply
    assert reply is None or (gsm7.fits_one_sms(reply) and NIK not in reply), reply
    return reply


def count(db: Session, model: type) -> int:
    return int(db.exec(select(func.count()).select_from(model)).one())


@pytest.fixture
def cfg(client: TestClient) -> Settings:
    return client.app.state.settings  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def registered(db: Session, cfg: Settings) -> None:
    """A family of Tafraka registered by SMS from PHONE, with PIN 2580."""
    assert "Terima kasih" in (sms(db, cfg, f"DAFTAR#{NIK}#{KK}#4#Tafraka") or "")
    assert sms(db, cfg, "PIN#2580") == texts.PIN_SAVED


class TestSms:
    def test_sanggah_from_the_registered_phone(self, db: Session, cfg: Settings, registered: None) -> None:
        reply = sms(db, cfg, "SANGGAH#PKH anak kami 3 orang masih sekolah, tidak dapat PKH", provider_id="m1")
        assert reply == texts.appeal_filed(cfg.ussd_code)
        appeal = db.exec(select(Appeal)).one()
        assert (appeal.filed_by_channel, appeal.about, appeal.programme_id) == ("sms", "decision", "pkh")
        assert (appeal.phone, appeal.filed_by) == (PHONE, None)
        assert appeal.reason.startswith("PKH anak kami")
        tasks = db.exec(select(FieldTask.kind).where(FieldTask.household_id == appeal.household_id)).all()
        assert sorted(tasks) == ["reverify_appeal", "verify_lead"]
        message = db.exec(select(ChannelMessage).where(ChannelMessage.provider_id == "m1")).one()
        assert (message.kind, message.outcome) == ("sanggah", "appeal_filed")
        # the gateway's retry gets the stored reply; the resident's second SMS the open appeal
        assert sms(db, cfg, "SANGGAH#PKH anak kami 3 orang", provider_id="m1") == reply
        again = sms(db, cfg, "SANGGAH#PKH tolong", provider_id="m2")
        assert again is not None and again.startswith("Sanggah Anda sudah tercatat sejak")
        assert "menunggu kunjungan" in again
        assert count(db, Appeal) == 1
        # another subject is another appeal
        assert sms(db, cfg, "SANGGAH#DESIL kami seharusnya desil 2") == texts.appeal_filed(cfg.ussd_code)
        assert count(db, Appeal) == 2

    def test_sanggah_with_nik_and_pin_from_another_phone(self, db: Session, cfg: Settings,
                                                         registered: None) -> None:
        assert sms(db, cfg, f"SANGGAH#{NIK}#1357#rumah rusak", phone=OTHER_PHONE) == texts.pin_wrong(
            2, cfg.channel_pin_lock_hours)
        assert sms(db, cfg, "SANGGAH#8271071705800009#2580#rumah rusak",
                   phone=OTHER_PHONE) == texts.NIK_OR_PIN_WRONG
        assert count(db, Appeal) == 0
        assert sms(db, cfg, f"SANGGAH#{NIK}#2580#DATA anggota keluarga kami 6 orang",
                   phone=OTHER_PHONE) == texts.appeal_filed(cfg.ussd_code)
        appeal = db.exec(select(Appeal)).one()
        assert (appeal.about, appeal.phone) == ("data", "+6281298765432")

    def test_an_unregistered_phone_and_bad_formats(self, db: Session, cfg: Settings) -> None:
        assert sms(db, cfg, "SANGGAH#rumah kami rusak") == texts.APPEAL_NEEDS_REGISTRATION
        for text, says in [("SANGGAH", "Tulis alasan sanggah"), ("SANGGAH#ok", "Tulis alasan sanggah"),
                           (f"SANGGAH#{NIK[:-1]}#2580#rusak", "NIK harus 16 angka"),
                           (f"SANGGAH#{NIK}#25#rusak", "PIN harus 4-6 angka"),
                           (f"SANGGAH#{NIK}#2580", "Tulis alasan sanggah")]:
            reply = sms(db, cfg, text)
            assert reply is not None and says in reply, (text, reply)
        assert count(db, Appeal) == 0

    def test_window_closed_is_told_in_bahasa(self, db: Session, cfg: Settings, registered: None) -> None:
        cfg.appeal_window_opens, cfg.appeal_window_days = date(2026, 1, 5), 30
        assert sms(db, cfg, "SANGGAH#rumah kami rusak") == (
            "Masa sanggah sudah ditutup pada 03-02-2026. Untuk keberatan, hubungi kantor kelurahan atau "
            "Dinas Sosial.")
        cfg.appeal_window_opens = date(2099, 1, 5)
        assert sms(db, cfg, "SANGGAH#rumah kami rusak") == (
            "Masa sanggah belum dibuka. Sanggah bisa dikirim mulai 05-01-2099.")
        assert count(db, Appeal) == 0

    def test_limits_per_phone_and_per_nik_apply(self, db: Session, cfg: Settings, registered: None) -> None:
        cfg.channel_phone_per_hour = 3  # two messages already: DAFTAR and PIN
        assert sms(db, cfg, "SANGGAH#rumah kami rusak") is not None
        assert sms(db, cfg, "SANGGAH#DESIL rumah kami rusak") is None
        cfg.channel_phone_per_hour, cfg.channel_nik_per_day = 50, 2  # DAFTAR named the NIK once
        assert sms(db, cfg, f"SANGGAH#{NIK}#2580#DATA salah", phone=OTHER_PHONE) is not None
        assert sms(db, cfg, f"SANGGAH#{NIK}#2580#PIP salah", phone=OTHER_PHONE) is None
        assert count(db, Appeal) == 2


class TestStatusReply:
    def test_every_status_of_the_appeal_reads_in_one_sms(self, db: Session, cfg: Settings,
                                                         registered: None) -> None:
        before = sms(db, cfg, "STATUS")
        assert before is not None and "Hasil kelayakan belum ada" in before
        sms(db, cfg, "SANGGAH#DESIL rumah kami rusak")
        appeal = db.exec(select(Appeal)).one()
        expected = {"filed": "Sanggah Anda: diterima, menunggu kunjungan.",
                    "visit_scheduled": "Sanggah Anda: sedang dijadwalkan kunjungan.",
                    "re_surveyed": "Sanggah Anda: sudah disurvei ulang.",
                    "sent_to_bps": "Sanggah Anda: diperiksa BPS.",
                    "upheld": "Sanggah Anda: dikabulkan, hasil diperbarui."}
        for status in ["filed", "visit_scheduled", "re_surveyed", "sent_to_bps", "upheld"]:
            if status != "filed":
                appeals.change_status(session=db, appeal_id=appeal.id, status=AppealStatus(status), note=None,
                                      version=appeal.version, principal=principal(Role.dinsos), actor=STAFF)
            reply = sms(db, cfg, "STATUS", phone=PHONE.replace("+62", "0"))
            assert reply is not None and reply.endswith(expected[status]), reply
            assert "8271********0001" in reply and "menunggu verifikasi" in reply
            cfg.channel_phone_per_hour += 1

    def test_the_longest_status_with_every_appeal_fits_one_sms(self) -> None:
        for verification in ("self_reported", "field_verified", "dukcapil_matched", "rejected"):
            for appeal in [None, *AppealStatus]:
                text = texts.status(nik="8271********0001", registered_on=date(2026, 12, 28), channel="api",
                                    verification=verification, appeal=appeal)
                assert gsm7.fits_one_sms(text)
                assert ("Sanggah Anda" in text) == (appeal is not None)


class TestUssd:
    def test_sanggah_by_ussd_with_the_pin(self, dial: Dial, db: Session) -> None:
        assert dial("*".join([*register_path(dial), "1"]))[0].startswith("END Terima kasih")
        body, _ = dial("", session_id="s2")
        assert body.endswith("\n6 Sanggah")
        body, _ = dial("6*2*1*2580", session_id="s2")
        assert body == "CON Kirim sanggah?\nDesil: Ekonomi memburuk\n1 Kirim\n2 Batal"
        final = "6*2*1*2580*1"
        body, _ = dial(final, session_id="s2")
        assert body == "END " + texts.appeal_filed("*123#")
        assert dial(final, session_id="s2")[0] == body  # the gateway's retry: same screen, once
        appeal = db.exec(select(Appeal)).one()
        assert (appeal.filed_by_channel, appeal.about, appeal.reason) == (
            "ussd", "desil", "Desil: Ekonomi memburuk (USSD)")
        status, _ = dial("2*2580", session_id="s3")
        assert status.startswith("END SIGAP: Keluarga NIK 8271********0001")
        assert status.endswith("Sanggah Anda: diterima, menunggu kunjungan.")
        again, _ = dial(final, session_id="s4")  # a new session on the same subject: the open one
        assert again.startswith("END Sanggah Anda sudah tercatat")
        wrong, _ = dial("6*1*1*1357*1", session_id="s5")
        assert "PIN salah" in wrong
        assert count(db, Appeal) == 1

    def test_an_unregistered_phone_is_sent_to_the_kelurahan(self, dial: Dial, db: Session) -> None:
        body, _ = dial("6*1*4*2580*1")
        assert body == "END " + texts.USSD_APPEAL_NOT_REGISTERED
        assert count(db, Appeal) == 0
