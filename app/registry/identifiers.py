"""NIK, KK and phone-number checks as pure functions.

Every failure names its rule and carries the message in English (API) and Bahasa
Indonesia (SMS/USSD replies), so channels reuse these checks without re-wording them.
There is no check digit in NIK or KK: we can check structure, region prefix and the
birth-date digits against what the person states.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from stdnum import numdb

TERNATE_PREFIX = "8271"
_NON_DIGITS = re.compile(r"[\s.\-]")
# sixteen digits, possibly written in groups ("8271 0717 0580 0001", "8271-0717-...")
_SIXTEEN_DIGITS = re.compile(r"(?<!\d)\d(?:[ .\-]?\d){15}(?!\d)")


@dataclass(frozen=True)
class Problem:
    rule: str
    message: str
    message_id: str


class IdentifierInvalid(ValueError):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass(frozen=True)
class NikInfo:
    nik: str
    region: str  # PPKKCC, where the NIK was first issued
    birth_day: int
    birth_month: int
    birth_yy: int
    sex: str  # "male" / "female"

    @property
    def in_ternate(self) -> bool:
        return self.region.startswith(TERNATE_PREFIX)

    def matches_birth_date(self, birth_date: dt.date) -> bool:
        return (birth_date.day, birth_date.month, birth_date.year % 100) == (
            self.birth_day, self.birth_month, self.birth_yy)


@lru_cache(maxsize=4096)
def _region_known(prefix4: str) -> bool:
    """Province + regency/city known to the Kemendagri list shipped with python-stdnum."""
    info = numdb.get("id/loc").info(prefix4)
    return len(info) >= 2 and bool(info[0][1]) and bool(info[1][1])


def _digits(value: str, *, field_label: str, field_label_id: str) -> str:
    cleaned = _NON_DIGITS.sub("", value)
    # ASCII only: str.isdigit() also accepts Arabic-Indic, full-width and superscript digits
    if not (cleaned.isascii() and cleaned.isdigit()):
        raise IdentifierInvalid(Problem(
            "digits_only", f"{field_label} must contain digits only",
            f"{field_label_id} hanya boleh berisi angka"))
    if len(cleaned) != 16:
        raise IdentifierInvalid(Problem(
            "length_16", f"{field_label} must be exactly 16 digits (got {len(cleaned)})",
            f"{field_label_id} harus 16 angka (tertulis {len(cleaned)})"))
    return cleaned


def _check_region(number: str, label: str, label_id: str) -> None:
    if not _region_known(number[:4]):
        raise IdentifierInvalid(Problem(
            "region_prefix", f"{label} starts with an unknown province/regency code {number[:4]}",
            f"Kode wilayah {label_id} ({number[:4]}) tidak dikenal"))
    if number[4:6] == "00":
        raise IdentifierInvalid(Problem(
            "region_prefix", f"{label} has kecamatan code 00, which does not exist",
            f"Kode kecamatan pada {label_id} tidak boleh 00"))


def _plausible_date(day: int, month: int, yy: int) -> bool:
    for century in (1900, 2000):
        try:
            dt.date(century + yy, month, day)
            return True
        except ValueError:
            continue
    return False


def parse_nik(value: str) -> NikInfo:
    """Structure check of a NIK; raises IdentifierInvalid naming the broken rule."""
    nik = _digits(value, field_label="NIK", field_label_id="NIK")
    _check_region(nik, "NIK", "NIK")
    raw_day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    sex = "female" if raw_day > 40 else "male"
    day = raw_day - 40 if raw_day > 40 else raw_day
    if not _plausible_date(day, month, yy):
        raise IdentifierInvalid(Problem(
            "birth_date_digits",
            "NIK digits 7-12 must be a birth date DDMMYY (day +40 for women)",
            "Angka ke-7 s.d. 12 NIK harus tanggal lahir DDMMYY (tanggal +40 untuk perempuan)"))
    if nik[12:] == "0000":
        raise IdentifierInvalid(Problem(
            "serial", "NIK serial (last 4 digits) cannot be 0000",
            "Nomor urut NIK (4 angka terakhir) tidak boleh 0000"))
    return NikInfo(nik=nik, region=nik[:6], birth_day=day, birth_month=month, birth_yy=yy, sex=sex)


def nik_birth_digits(birth: dt.date, sex: str) -> str:
    """Digits 7-12 of the NIK of a person born on ``birth``: DDMMYY, day +40 for women
    (what ``parse_nik`` reads back)."""
    return f"{birth.day + (40 if sex == 'female' else 0):02d}{birth.month:02d}{birth.year % 100:02d}"


def nik_consistency(info: NikInfo, *, birth_date: dt.date | None, sex: str | None) -> list[Problem]:
    """Problems where the NIK contradicts the stated birth date or sex."""
    problems: list[Problem] = []
    if birth_date is not None and not info.matches_birth_date(birth_date):
        problems.append(Problem(
            "nik_birth_date",
            f"NIK encodes birth date {info.birth_day:02d}-{info.birth_month:02d}-"
            f"..{info.birth_yy:02d}, which differs from birth_date {birth_date.isoformat()}",
            "Tanggal lahir pada NIK tidak sama dengan tanggal lahir yang diisi"))
    if sex is not None and sex != info.sex:
        problems.append(Problem(
            "nik_sex",
            f"NIK encodes sex {info.sex} (day {'+40' if info.sex == 'female' else 'without +40'}),"
            f" which differs from sex {sex}",
            "Jenis kelamin pada NIK tidak sama dengan yang diisi"))
    return problems


def parse_kk(value: str) -> str:
    """Structure check of a family-card (KK) number: region, issue date DDMMYY, serial."""
    kk = _digits(value, field_label="KK number", field_label_id="Nomor KK")
    _check_region(kk, "KK number", "Nomor KK")
    if not _plausible_date(int(kk[6:8]), int(kk[8:10]), int(kk[10:12])):
        raise IdentifierInvalid(Problem(
            "issue_date_digits", "KK digits 7-12 must be the issue date DDMMYY",
            "Angka ke-7 s.d. 12 Nomor KK harus tanggal terbit DDMMYY"))
    if kk[12:] == "0000":
        raise IdentifierInvalid(Problem(
            "serial", "KK serial (last 4 digits) cannot be 0000",
            "Nomor urut KK (4 angka terakhir) tidak boleh 0000"))
    return kk


def normalise_phone(value: str) -> str:
    """Indonesian phone number to E.164 (``+62...``); raises IdentifierInvalid."""
    try:
        parsed = phonenumbers.parse(value, "ID")
    except phonenumbers.NumberParseException as exc:
        raise IdentifierInvalid(Problem(
            "phone_format", f"not a phone number ({exc.args[0] if exc.args else 'unparseable'})",
            "Nomor HP tidak dikenali")) from None
    if parsed.country_code != 62 or not phonenumbers.is_valid_number(parsed):
        raise IdentifierInvalid(Problem(
            "phone_indonesian", "must be a valid Indonesian phone number, e.g. 0812-3456-7890",
            "Nomor HP harus nomor Indonesia yang sah, contoh 081234567890"))
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.number_type(parsed) not in _REACHABLE or len(e164) > 16:
        raise IdentifierInvalid(Problem(
            "phone_subscriber", "must be a mobile or fixed-line number of a household",
            "Nomor HP harus nomor seluler atau telepon rumah"))
    return e164


_REACHABLE = frozenset({phonenumbers.PhoneNumberType.MOBILE,
                        phonenumbers.PhoneNumberType.FIXED_LINE,
                        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})


def mask(value: str | None) -> str | None:
    """``8271011234560001`` -> ``8271********0001``: enough to recognise, not to reuse."""
    if value is None:
        return None
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def redact_identifiers(text: str) -> str:
    """Mask every 16-digit run (NIK/KK) inside free text, e.g. a log line."""
    return _SIXTEEN_DIGITS.sub(lambda m: mask(m.group(0)) or "", text)
