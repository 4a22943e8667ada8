"""SMS keywords: tolerant parsing, and a one-SMS Bahasa reply for every mistake."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.channels import gsm7
from app.channels.sms_grammar import HELP, Command, Keyword, ParseError, parse

NIK = "8271071705800001"   # Ternate, born 17-05-1980, male
KK = "8271071203150001"


@pytest.mark.parametrize("text", [
    f"DAFTAR#{NIK}#{KK}#4", f"daftar#{NIK}#{KK}#4", f"REG {NIK} {KK} 4", f"Reg*{NIK}*{KK}*4",
    f"  daftar # {NIK} # {KK} # 4  ", "DAFTAR#8271 0717 0580 0001#8271 0712 0315 0001#4",
    f"daftar,{NIK};{KK},4", f"REGISTRASI\n{NIK}\n{KK}\n4",
])
def test_registration_in_every_spelling(text: str) -> None:
    assert parse(text) == Command(Keyword.daftar, nik=NIK, kk=KK, members=4)


@pytest.mark.parametrize(("text", "expected"), [
    ("STATUS", Command(Keyword.status)), ("cek", Command(Keyword.status)),
    (f"STATUS#{NIK}#2580", Command(Keyword.status, nik=NIK, pin="2580")),
    (f"cek {NIK} 258013", Command(Keyword.status, nik=NIK, pin="258013")),
    ("PIN#2580", Command(Keyword.pin, pin="2580")), ("pin 97531", Command(Keyword.pin, pin="97531")),
    ("BATAL", Command(Keyword.batal)), ("bantuan", Command(Keyword.bantuan)), ("?", Command(Keyword.bantuan)),
    ("STOP", Command(Keyword.stop)), ("unreg", Command(Keyword.stop)), ("STOP ya", Command(Keyword.stop)),
])
def test_other_keywords(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "rule", "says"), [
    ("", "empty", "DAFTAR#NIK#NoKK#jumlah"),
    ("##", "empty", "DAFTAR#NIK#NoKK#jumlah"),
    ("halo pak 😀", "unknown_keyword", "Perintah tidak dikenal"),
    (f"DAFTAR#{NIK}#{KK}", "format", "Format: DAFTAR#NIK#NoKK#jumlah"),
    (f"DAFTAR#{NIK[:-1]}#{KK}#4", "nik_invalid", "NIK harus 16 angka (tertulis 15)"),
    (f"DAFTAR#8271079905800001#{KK}#4", "nik_invalid", "NIK salah"),
    (f"DAFTAR#{NIK}#8271079915150001#4", "kk_invalid", "No KK salah"),
    (f"DAFTAR#{NIK}#{KK}#0", "members_range", "1-30"),
    (f"DAFTAR#{NIK}#{KK}#empat", "members_range", "1-30"),
    (f"DAFTAR#{NIK}#{KK}#31", "members_range", "1-30"),
    (f"STATUS#{NIK}", "format", "NIK dan PIN"),
    ("PIN#12", "pin_format", "4-6 angka"), ("PIN#1111", "pin_weak", "mudah ditebak"),
    ("PIN#1234", "pin_weak", "mudah ditebak"), ("PIN", "format", "PIN baru"),
    ("PIN#١٢٣٤٥", "pin_format", "4-6 angka"),  # Arabic-Indic digits are not ASCII digits
])
def test_mistakes_get_a_reply_naming_the_problem(text: str, rule: str, says: str) -> None:
    result = parse(text)
    assert isinstance(result, ParseError) and result.rule == rule, result
    assert says in result.reply and gsm7.fits_one_sms(result.reply), result.reply


def test_help_fits_one_sms() -> None:
    assert gsm7.fits_one_sms(HELP) and gsm7.fits_one_sms("Perintah tidak dikenal. " + HELP)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200)
       | st.from_regex(r"(?i)(daftar|reg|status|cek|pin)[#* ,;].{0,60}", fullmatch=True))
def test_any_text_gets_a_command_or_a_one_sms_reply(text: str) -> None:
    result = parse(text)
    assert isinstance(result, Command | ParseError)
    if isinstance(result, ParseError):
        assert gsm7.fits_one_sms(result.reply), result.reply
