"""A resident's STATUS reply (SMS and USSD) carries the family's eligibility: the programmes
it qualifies for and the desil they rest on (an estimate always labelled PERKIRAAN), or why
not, in one GSM-7 SMS."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlmodel import Session

from app.channels import gsm7, texts
from app.channels.service import status_reply
from app.registry.models import Household
from tests.eligibility_db.test_scoring import _official, _run


def _reply(db: Session, household_id: object) -> str:
    household = db.get(Household, household_id)
    assert household is not None
    return status_reply(db, household)


def test_before_any_scoring_run_there_is_no_result_yet(db: Session) -> None:
    from tests.eligibility_db.helpers import young_family
    fam = young_family(db)
    assert _reply(db, fam.id).endswith("Hasil kelayakan belum ada.")


def test_an_eligible_family_reads_its_programmes_and_official_desil(db: Session, tmp_path: Path) -> None:
    from tests.eligibility_db.helpers import family, young_family
    poor, well_off = young_family(db), family(db, asset_car=True, power_va=3500)
    _official(db, tmp_path, [(poor.head_nik, 3), (well_off.head_nik, 8)])
    _run(db)
    reply = _reply(db, poor.id)
    assert "Layak: PKH" in reply and "desil 3 BPS" in reply and gsm7.fits_one_sms(reply), reply
    refused = _reply(db, well_off.id)
    assert "Belum layak (desil 8 BPS" in refused and "SANGGAH#alasan" in refused, refused


def test_every_combination_fits_one_sms_and_an_estimate_says_so() -> None:
    everything = ("pkh", "sembako", "blt", "pbi_jk", "pip")
    variants = [
        texts.Eligibility(everything, False, 1, "official", "2026-Q1"),
        texts.Eligibility(everything[:2], False, 4, "estimate", None),
        texts.Eligibility((), True, None, None, None),
        texts.Eligibility((), False, 10, "official", "2026-Q4"),
        texts.Eligibility(("some_future_programme_id",), False, 2, "estimate", None),
    ]
    for verification in ("self_reported", "field_verified", "dukcapil_matched", "rejected"):
        for e in variants:
            text = texts.status(nik="8271********0001", registered_on=date(2026, 12, 28), channel="import",
                                verification=verification, eligibility=e)
            assert gsm7.fits_one_sms(text), text
            assert ("PERKIRAAN" in text) == (e.desil_source == "estimate"), text


def test_a_long_decided_appeal_gives_way_to_the_eligibility_line(db: Session, tmp_path: Path) -> None:
    from datetime import timedelta

    from app.appeals.models import Appeal
    from app.db import utcnow
    from tests.eligibility_db.helpers import young_family
    fam = young_family(db)
    _official(db, tmp_path, [(fam.head_nik, 3)])
    _run(db)
    appeal = Appeal(household_id=fam.id, kelurahan_code=fam.kelurahan, filed_by_channel="sms",
                    about="desil", reason="x", status="rejected", closed_at=utcnow() - timedelta(days=5))
    db.add(appeal)
    db.flush()
    assert "Sanggah Anda: ditolak" in _reply(db, fam.id)
    appeal.closed_at = utcnow() - timedelta(days=31)
    db.add(appeal)
    db.flush()
    assert "Layak: PKH" in _reply(db, fam.id)
