"""SMS keywords, as residents know them from SIM registration: ``DAFTAR#NIK#NoKK#jumlah``.

Parsing is tolerant: any case, ``#``, ``*``, ``,`` or ``;`` between fields, or only spaces;
a NIK typed in groups (``8271 0717 ...``) when the fields are separated by ``#``.  Every
answer to a mistake is one SMS in Bahasa Indonesia (GSM-7, at most 160 characters) that
shows the right format.  Nothing here touches the database: the handler acts on the
``Command`` and builds the reply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from app.channels.gsm7 import fits_one_sms
from app.registry.identifiers import IdentifierInvalid, parse_kk, parse_nik

MAX_MEMBERS = 30
MAX_PLACE = 40


class Keyword(StrEnum):
    daftar = "DAFTAR"
    status = "STATUS"
    pin = "PIN"
    batal = "BATAL"
    bantuan = "BANTUAN"
    stop = "STOP"
    kel = "KEL"
    sanggah = "SANGGAH"


ALIASES: dict[str, Keyword] = {
    "DAFTAR": Keyword.daftar, "REG": Keyword.daftar, "REGISTRASI": Keyword.daftar,
    "STATUS": Keyword.status, "CEK": Keyword.status, "STAT": Keyword.status,
    "PIN": Keyword.pin,
    "BATAL": Keyword.batal, "CANCEL": Keyword.batal,
    "BANTUAN": Keyword.bantuan, "HELP": Keyword.bantuan, "INFO": Keyword.bantuan, "?": Keyword.bantuan,
    "STOP": Keyword.stop, "UNREG": Keyword.stop, "BERHENTI": Keyword.stop,
    "KEL": Keyword.kel, "KELURAHAN": Keyword.kel, "DESA": Keyword.kel,
    "SANGGAH": Keyword.sanggah, "SANGGAHAN": Keyword.sanggah, "KEBERATAN": Keyword.sanggah,
}
# The first word of a SANGGAH reason may name what it is about: (about, programme id).  The
# programme ids are those of seed_data/programmes.yaml; an unknown word is just the reason.
SUBJECTS: dict[str, tuple[str, str | None]] = {
    "DESIL": ("desil", None), "DATA": ("data", None),
    "PKH": ("decision", "pkh"), "BPNT": ("decision", "sembako"), "SEMBAKO": ("decision", "sembako"),
    "BLT": ("decision", "blt"), "PBI": ("decision", "pbi_jk"), "KIS": ("decision", "pbi_jk"),
    "PIP": ("decision", "pip"),
}
MAX_REASON = 500
MIN_REASON = 3

FORMAT = {
    Keyword.daftar: "DAFTAR#NIK#NoKK#jumlah#kelurahan",
    Keyword.status: "STATUS atau STATUS#NIK#PIN",
    Keyword.pin: "PIN#1234 (4-6 angka)",
    Keyword.kel: "KEL#nama kelurahan",
    Keyword.sanggah: "SANGGAH#alasan, dari HP lain SANGGAH#NIK#PIN#alasan",
}
HELP = ("SIGAP Ternate: DAFTAR#NIK#NoKK#jumlah utk daftar. STATUS utk cek. PIN#1234 ganti PIN. "
        "BATAL batalkan. STOP berhenti. Gratis.")


@dataclass(frozen=True)
class Command:
    keyword: Keyword
    nik: str | None = None
    kk: str | None = None
    members: int | None = None
    pin: str | None = None
    kelurahan: str | None = None  # DAFTAR's optional 4th field, or KEL's text: a name to match
    reason: str | None = None     # SANGGAH: the resident's words ...
    about: str = "decision"       # ... what they are about (decision, desil, data) ...
    programme: str | None = None  # ... and the programme, when the first word names one


@dataclass(frozen=True)
class ParseError:
    """A message that is not a valid command, with the reply that tells the resident why."""

    rule: str
    reply: str


_STRONG = re.compile(r"[#*,;]+")
_SPACES = re.compile(r"\s+")
_PIN = re.compile(r"^[0-9]{4,6}$")
_HEAD = re.compile(r"^[\s#*,;]*([^\s#*,;]*)[\s#*,;]*(.*)$", re.S)


def _fields(body: str, expected: int) -> list[str]:
    """The fields after the keyword: by strong separators when they give ``expected`` fields
    (spaces inside a field are then dropped, e.g. a NIK typed in groups), else by spaces."""
    strong = [f for f in (_SPACES.sub("", part) for part in _STRONG.split(body)) if f]
    if len(strong) == expected:
        return strong
    return [f for f in _SPACES.split(_STRONG.sub(" ", body).strip()) if f]


def _error(rule: str, reply: str) -> ParseError:
    assert fits_one_sms(reply), reply
    return ParseError(rule, reply)


def _format_error(keyword: Keyword, what: str) -> ParseError:
    return _error("format", f"{what}. Format: {FORMAT[keyword]}")


def parse(text: str) -> Command | ParseError:
    """Any inbound SMS text (already decoded) -> a Command, or a ParseError with its reply."""
    cleaned = text.replace("\x00", "").strip()
    if not cleaned.strip("#*,; \t\r\n"):
        return _error("empty", HELP)
    match = _HEAD.match(cleaned)
    assert match is not None  # the pattern matches any string
    head, body = match.group(1), match.group(2)
    keyword = ALIASES.get(head.upper())
    if keyword is None:
        return _error("unknown_keyword", "Perintah tidak dikenal. " + HELP)
    if keyword is Keyword.daftar:
        return _daftar(body)
    if keyword is Keyword.status:
        return _status(body)
    if keyword is Keyword.kel:
        name = _place(body)
        if not name:
            return _format_error(keyword, "Tulis nama kelurahan")
        return Command(Keyword.kel, kelurahan=name)
    if keyword is Keyword.sanggah:
        return _sanggah(body)
    if keyword is Keyword.pin:
        fields = _fields(body, 1)
        if len(fields) != 1:
            return _format_error(keyword, "Tulis PIN baru")
        return _checked_pin(fields[0], lambda pin: Command(Keyword.pin, pin=pin))
    return Command(keyword)  # BATAL, BANTUAN, STOP: words after them ("STOP ya") are ignored


def _place(text: str) -> str:
    """A kelurahan name as typed: separators and runs of spaces become one space."""
    return _SPACES.sub(" ", _STRONG.sub(" ", text)).strip()[:MAX_PLACE]


def _daftar(body: str) -> Command | ParseError:
    """Three fields, and optionally the kelurahan as a fourth (``DAFTAR#NIK#KK#4#Kota Baru``)."""
    strong = [p for p in (part.strip() for part in _STRONG.split(body)) if p]
    if len(strong) >= 4:
        fields = [_SPACES.sub("", f) for f in strong[:3]]
        place: str | None = _place(" ".join(strong[3:]))
    else:
        fields = _fields(body, 3)
        fields, place = fields[:3], _place(" ".join(fields[3:])) or None
    if len(fields) != 3:
        return _format_error(Keyword.daftar, "Data kurang lengkap")
    nik, kk, count = fields
    try:
        nik = parse_nik(nik).nik
    except IdentifierInvalid as exc:
        return _error("nik_invalid", f"NIK salah: {exc.problem.message_id}. Periksa KTP lalu kirim "
                                     f"lagi: {FORMAT[Keyword.daftar]}")
    try:
        kk = parse_kk(kk)
    except IdentifierInvalid as exc:
        return _error("kk_invalid", f"No KK salah: {exc.problem.message_id}. Periksa Kartu Keluarga "
                                    f"lalu kirim lagi: {FORMAT[Keyword.daftar]}")
    if not (count.isascii() and count.isdigit()) or not 1 <= int(count) <= MAX_MEMBERS:
        return _error("members_range", f"Jumlah anggota keluarga harus angka 1-{MAX_MEMBERS}. "
                                       f"Format: {FORMAT[Keyword.daftar]}")
    return Command(Keyword.daftar, nik=nik, kk=kk, members=int(count), kelurahan=place or None)


def _status(body: str) -> Command | ParseError:
    fields = _fields(body, 2)
    if not fields:
        return Command(Keyword.status)
    if len(fields) != 2:
        return _format_error(Keyword.status, "Untuk cek dari HP lain, kirim NIK dan PIN")
    try:
        nik = parse_nik(fields[0]).nik
    except IdentifierInvalid as exc:
        return _error("nik_invalid", f"NIK salah: {exc.problem.message_id}. Format: {FORMAT[Keyword.status]}")
    return _checked_pin(fields[1], lambda pin: Command(Keyword.status, nik=nik, pin=pin))


_DIGITS = re.compile(r"^[0-9 ]+$")
# NIK#PIN#..., the NIK maybe in groups of four; or, with spaces only, NIK PIN ...
_SANGGAH_STRONG = re.compile(r"^([0-9][0-9 ]*[0-9])\s*[#*,;]+\s*([0-9]+)(?:\s*[#*,;\s]\s*(.*))?$", re.S)
_SANGGAH_SPACED = re.compile(r"^([0-9]{10,20})\s+([0-9]+)(?:\s+(.*))?$", re.S)


def _sanggah(body: str) -> Command | ParseError:
    """``SANGGAH#alasan`` or ``SANGGAH#NIK#PIN#alasan``: a NIK is a leading run of digits
    (16, in groups or not) followed by the PIN; anything else is the reason."""
    nik = pin = None
    stripped = body.strip(" \t\r\n#*,;")
    head = _SANGGAH_STRONG.match(stripped) or _SANGGAH_SPACED.match(stripped)
    rest = body
    if head is not None and len(head.group(1).replace(" ", "")) >= 10:
        try:
            nik = parse_nik(head.group(1).replace(" ", "")).nik
        except IdentifierInvalid as exc:
            return _error("nik_invalid",
                          f"NIK salah: {exc.problem.message_id}. Format: SANGGAH#NIK#PIN#alasan")
        pin, rest = head.group(2), head.group(3) or ""
        if not (4 <= len(pin) <= 6):
            return _error("pin_format", "PIN harus 4-6 angka. Format: SANGGAH#NIK#PIN#alasan")
    reason = _SPACES.sub(" ", re.sub(r"[#*]+", " ", rest)).strip(" ,;")
    if len(reason) < MIN_REASON or _DIGITS.match(reason):
        return _format_error(Keyword.sanggah, "Tulis alasan sanggah")
    first = re.split(r"[\s,;.:]+", reason, maxsplit=1)[0].upper()
    about, programme = SUBJECTS.get(first, ("decision", None))
    return Command(Keyword.sanggah, nik=nik, pin=pin, reason=reason[:MAX_REASON], about=about,
                   programme=programme)


def _checked_pin(value: str, make: Callable[[str], Command]) -> Command | ParseError:
    if not (value.isascii() and _PIN.match(value)):
        return _error("pin_format", "PIN harus 4-6 angka. Contoh: PIN#2580")
    if len(set(value)) == 1 or value in "0123456789" or value in "9876543210":
        return _error("pin_weak", "PIN terlalu mudah ditebak (angka sama/berurutan). Pilih PIN lain.")
    return make(value)
