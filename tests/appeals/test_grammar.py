"""SANGGAH as residents type it, and the USSD sanggah menu: pure, no database."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.channels import gsm7
from app.channels.sms_grammar import Command, Keyword, ParseError, parse
from app.channels.ussd import FileAppeal, respond
from tests.channels.test_ussd import PLACES

NIK = "8271071705800001"


@pytest.mark.parametrize(("text", "nik", "pin", "about", "programme", "reason"), [
    ("SANGGAH#rumah kami rusak", None, None, "decision", None, "rumah kami rusak"),
    ("sanggah rumah kami rusak", None, None, "decision", None, "rumah kami rusak"),
    ("Keberatan#DESIL kami harusnya 2", None, None, "desil", None, "DESIL kami harusnya 2"),
    ("SANGGAH#PKH#anak 3 orang", None, None, "decision", "pkh", "PKH anak 3 orang"),
    ("SANGGAH#bpnt, tidak dapat", None, None, "decision", "sembako", "bpnt, tidak dapat"),
    (f"SANGGAH#{NIK}#2580#data salah", NIK, "2580", "data", None, "data salah"),
    ("SANGGAH#8271 0717 0580 0001#258013#PIP anak sekolah", NIK, "258013", "decision", "pip",
     "PIP anak sekolah"),
    (f"sanggah {NIK} 2580 rumah rusak", NIK, "2580", "decision", None, "rumah rusak"),
    ("SANGGAH#12 orang dalam 1 rumah", None, None, "decision", None, "12 orang dalam 1 rumah"),
])
def test_sanggah_in_every_spelling(text: str, nik: str | None, pin: str | None, about: str,
                                   programme: str | None, reason: str) -> None:
    assert parse(text) == Command(Keyword.sanggah, nik=nik, pin=pin, reason=reason, about=about,
                                  programme=programme)


def test_a_long_reason_is_kept_up_to_500_characters() -> None:
    result = parse("SANGGAH#" + "rumah rusak " * 60)
    assert isinstance(result, Command) and result.reason is not None and len(result.reason) == 500


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"(?i)(sanggah|keberatan)[#* ,;].{0,80}", fullmatch=True))
def test_any_sanggah_gets_a_command_or_a_one_sms_reply(text: str) -> None:
    result = parse(text)
    if isinstance(result, ParseError):
        assert gsm7.fits_one_sms(result.reply), result.reply
    else:
        assert result.keyword is Keyword.sanggah and result.reason and len(result.reason) >= 3


def test_the_ussd_sanggah_menu() -> None:
    screen, action = respond("6*1*4*2580*1", PLACES)
    assert screen.end and action == FileAppeal(about="decision", programme=None, pin="2580",
                                               reason="Hasil bansos: Layak tapi tidak dapat bansos (USSD)")
    assert respond("6*1*4*2580*2", PLACES)[1] is None
    assert respond("6*9", PLACES)[0].text.startswith("Pilihan salah.\nSanggah")
    assert respond("6*1*9", PLACES)[0].text.startswith("Pilihan salah.\nAlasan:")
    assert respond("6*1*2*12", PLACES)[0].text.startswith("PIN 4-6 angka.")
    assert respond("6*1*0", PLACES)[0].text.startswith("Sanggah (keberatan) atas:")  # back
    for path in ["6", "6*3", "6*3*5", "6*3*5*2580", "6*3*5*2580*7", "6*9", "6*3*9"]:
        assert gsm7.fits_one_sms(respond(path, PLACES)[0].text), path
