"""A Dukcapil extract file: the persons of the civil registry, as a data-sharing agreement delivers them.

Reading it refuses bad input the way ``records.read_csv`` does: the whole file is read and
checked before anything is used, and the first problem is reported in Bahasa Indonesia and
English with its row (as a spreadsheet numbers it: the header is row 1) and its column (as
the file spells it). See docs/dukcapil.md for the format.

Columns are recognised by name, case-insensitively, with spaces, dots and dashes read as
``_``; other columns (AGAMA, PEKERJAAN, ALAMAT, ...) are ignored.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.reconcile.records import CsvInputError, parse_date, parse_sex


@dataclass(frozen=True, slots=True)
class DukcapilPerson:
    """One person as Dukcapil records them."""

    nik: str
    full_name: str
    birth_date: dt.date
    sex: str  # "male" / "female"
    kk_number: str | None = None
    birth_place: str | None = None
    deceased: bool = False
    death_date: dt.date | None = None


# canonical column -> the header spellings accepted (after _header_key)
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "nik": ("NIK", "NO_NIK", "NOMOR_NIK"),
    "kk_number": ("KK_NUMBER", "NO_KK", "NKK", "NOMOR_KK", "KK"),
    "full_name": ("FULL_NAME", "NAMA_LGKP", "NAMA_LENGKAP", "NAMA"),
    "birth_place": ("BIRTH_PLACE", "TMPT_LHR", "TEMPAT_LAHIR", "TMP_LHR"),
    "birth_date": ("BIRTH_DATE", "TGL_LHR", "TANGGAL_LAHIR", "TGL_LAHIR"),
    "sex": ("SEX", "JENIS_KLMIN", "JENIS_KELAMIN", "JK", "KELAMIN"),
    "death_date": ("DEATH_DATE", "TGL_KEMATIAN", "TANGGAL_KEMATIAN", "TGL_MATI", "TGL_WAFAT"),
    "status": ("STATUS", "STAT_HIDUP", "STATUS_HIDUP", "KET_HIDUP", "STATUS_KEMATIAN"),
}
REQUIRED = ("nik", "full_name", "birth_date", "sex")
_SIAK_NAME = {"nik": "NIK", "full_name": "NAMA_LGKP", "birth_date": "TGL_LHR", "sex": "JENIS_KLMIN"}
_ALIAS_TO_COLUMN = {alias: column for column, aliases in HEADER_ALIASES.items() for alias in aliases}
# The words of a life-status column. Numeric codes are refused on purpose: their meaning
# differs between exports, and guessing wrong would flag living people as deceased.
_ALIVE = frozenset({"hidup", "alive", "living"})
_DECEASED = frozenset({"mati", "meninggal", "meninggal dunia", "wafat", "almarhum", "almarhumah",
                       "deceased", "dead"})
_NIK_JUNK = re.compile(r"[\s.\-']")
_SCIENTIFIC = re.compile(r"^\d(?:[.,]\d+)?e\+?\d+$", re.IGNORECASE)
_EARLIEST_BIRTH = dt.date(1880, 1, 1)


def _header_key(text: str) -> str:
    return re.sub(r"[\s.\-]+", "_", text.strip().lstrip("\ufeff")).upper()


def map_header(header: list[str]) -> dict[str, str]:
    """canonical column -> the header as written; CsvInputError (row 1) if one is missing or doubled."""
    found: dict[str, str] = {}
    for written in header:
        column = _ALIAS_TO_COLUMN.get(_header_key(written))
        if column is None:
            continue
        if column in found:
            raise CsvInputError(
                f"columns {found[column]!r} and {written!r} both mean {column}; keep one",
                f"kolom {found[column]!r} dan {written!r} sama-sama berarti {column}; sisakan satu",
                row=1)
        found[column] = written
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        wanted = ", ".join(f"{_SIAK_NAME[c]} ({c})" for c in missing)
        shown = ", ".join(header)
        raise CsvInputError(f"the header lacks {wanted} (found: {shown or 'nothing'})",
                            f"baris judul tidak punya kolom {wanted} (ada: {shown or 'kosong'})",
                            row=1)
    return found


def _number16(text: str, label: str, row: int, column: str) -> str:
    if _SCIENTIFIC.match(text):
        raise CsvInputError(
            f"{label} {text!r} was turned into a number by a spreadsheet (digits lost); "
            "export the column as text",
            f"{label} {text!r} diubah menjadi angka oleh spreadsheet (angka hilang); "
            "simpan kolom ini sebagai teks", row=row, column=column)
    digits = _NIK_JUNK.sub("", text)
    if not (digits.isascii() and digits.isdigit() and len(digits) == 16):
        raise CsvInputError(f"{label} {text!r} is not 16 digits", f"{label} {text!r} bukan 16 angka",
                            row=row, column=column)
    return digits


def _date(text: str, row: int, column: str, *, today: dt.date) -> dt.date | None:
    try:
        value = parse_date(text)
    except ValueError:
        raise CsvInputError(
            f"unreadable date {text!r}; use YYYY-MM-DD or DD-MM-YYYY",
            f"tanggal {text!r} tidak terbaca; tulis YYYY-MM-DD atau DD-MM-YYYY",
            row=row, column=column) from None
    if value is not None and not _EARLIEST_BIRTH <= value <= today:
        raise CsvInputError(f"date {text!r} is not possible (before 1880 or in the future)",
                            f"tanggal {text!r} tidak mungkin (sebelum 1880 atau di masa depan)",
                            row=row, column=column)
    return value


def persons_from_rows(rows: Iterable[dict[str, str | None]], columns: dict[str, str], *,
                      first_row: int = 2, today: dt.date | None = None) -> Iterator[DukcapilPerson]:
    """Persons from CSV dict rows keyed by the written header; ``columns`` from :func:`map_header`."""
    today = today or dt.date.today()
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=first_row):
        def get(column: str, row: dict[str, str | None] = row) -> str:
            written = columns.get(column)
            return (row.get(written) or "").strip() if written else ""

        def where(column: str) -> str:
            return columns.get(column, column)

        if not any((v or "").strip() for v in row.values()):
            continue  # a blank line, e.g. at the end of a spreadsheet export
        for column in REQUIRED:
            if not get(column):
                raise CsvInputError(f"{column} is empty", f"{where(column)} kosong",
                                    row=number, column=where(column))
        nik = _number16(get("nik"), "NIK", number, where("nik"))
        if nik in seen:
            raise CsvInputError(f"NIK appears twice (first on row {seen[nik]})",
                                f"NIK muncul dua kali (pertama di baris {seen[nik]})",
                                row=number, column=where("nik"))
        seen[nik] = number
        kk = _number16(get("kk_number"), "KK", number, where("kk_number")) if get("kk_number") else None
        birth = _date(get("birth_date"), number, where("birth_date"), today=today)
        try:
            sex = parse_sex(get("sex"))
        except ValueError:
            raise CsvInputError(f"unknown sex {get('sex')!r}; use LAKI-LAKI/PEREMPUAN (L/P)",
                                f"jenis kelamin {get('sex')!r} tidak dikenal; tulis LAKI-LAKI/PEREMPUAN"
                                " (L/P)", row=number, column=where("sex")) from None
        death = _date(get("death_date"), number, where("death_date"), today=today)
        status = " ".join(get("status").lower().split())
        if status and status not in _ALIVE | _DECEASED:
            raise CsvInputError(
                f"unknown life status {get('status')!r}; use HIDUP or MATI",
                f"status {get('status')!r} tidak dikenal; tulis HIDUP atau MATI",
                row=number, column=where("status"))
        if status in _ALIVE and death is not None:
            raise CsvInputError(
                "the status says alive but a death date is given",
                "status HIDUP tetapi tanggal kematian terisi", row=number, column=where("status"))
        assert birth is not None and sex is not None  # required above
        if death is not None and death < birth:
            raise CsvInputError("the death date is before the birth date",
                                "tanggal kematian sebelum tanggal lahir",
                                row=number, column=where("death_date"))
        yield DukcapilPerson(nik=nik, full_name=" ".join(get("full_name").split()), birth_date=birth,
                             sex=sex, kk_number=kk, birth_place=get("birth_place") or None,
                             deceased=status in _DECEASED or death is not None, death_date=death)


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    """Comma by default; semicolon, pipe or tab when the header line uses one of them."""
    try:
        return csv.Sniffer().sniff(sample.splitlines()[0] if sample else "", delimiters=",;|\t")
    except csv.Error:
        return csv.excel


def read_extract(path: Path, *, today: dt.date | None = None) -> list[DukcapilPerson]:
    """Every person of the file, or :class:`CsvInputError` for the first problem."""
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CsvInputError(f"cannot open {path}: {exc.strerror}",
                            f"berkas {path} tidak bisa dibuka: {exc.strerror}") from None
    with fh:
        try:
            dialect = _dialect(fh.read(8192))
            fh.seek(0)  # (the utf-8-sig decoder skips a byte-order mark again)
            reader = csv.DictReader(fh, dialect=dialect)
            header = [h.strip() for h in (reader.fieldnames or [])]
            columns = map_header(header)
            reader.fieldnames = header
            persons = list(persons_from_rows(reader, columns, today=today))
        except UnicodeDecodeError:
            raise CsvInputError("the file is not UTF-8 text; save it as CSV UTF-8",
                                "berkas bukan teks UTF-8; simpan sebagai CSV UTF-8") from None
        except csv.Error as exc:
            raise CsvInputError(f"not a readable CSV file ({exc})",
                                f"bukan berkas CSV yang terbaca ({exc})") from None
    if not persons:
        # an empty extract would make every NIK "unknown": refuse it rather than flag a city
        raise CsvInputError("the extract holds no persons", "berkas ekstrak tidak berisi data penduduk")
    return persons


def file_source(path: Path) -> str:
    """What ``dukcapil_check.source`` records for an extract: its name and a content hash."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"extract:{path.name[:52]}#{digest}"


# The header ``write_extract`` uses: Dukcapil's SIAK spellings.
SIAK_HEADER = ("NIK", "NO_KK", "NAMA_LGKP", "TMPT_LHR", "TGL_LHR", "JENIS_KLMIN", "STAT_HIDUP",
               "TGL_KEMATIAN")


def write_extract(path: Path, persons: Iterable[DukcapilPerson]) -> int:
    """Write persons as an extract (SIAK header, DD-MM-YYYY dates); returns the count.

    For tests and demonstrations: the inverse of :func:`read_extract`.
    """
    count = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(SIAK_HEADER)
        for p in persons:
            writer.writerow((p.nik, p.kk_number or "", p.full_name.upper(), (p.birth_place or "").upper(),
                             p.birth_date.strftime("%d-%m-%Y"),
                             "LAKI-LAKI" if p.sex == "male" else "PEREMPUAN",
                             "MATI" if p.deceased else "HIDUP",
                             p.death_date.strftime("%d-%m-%Y") if p.death_date else ""))
            count += 1
    return count
