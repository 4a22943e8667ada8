"""The person record the engine matches, and reading it from a CSV file.

A record carries only what matching needs; any field but ``record_id`` may be missing.
Reading a file refuses bad input with a message in English and Bahasa Indonesia that
names the row and the column, and applies nothing (the whole file is read first).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("record_id", "full_name", "birth_date", "sex", "nik", "kk_number", "address",
           "kelurahan_code", "phone")
_SEX = {"male": "male", "m": "male", "l": "male", "laki-laki": "male", "laki": "male", "lk": "male",
        "pria": "male", "1": "male", "female": "female", "f": "female", "p": "female",
        "perempuan": "female", "pr": "female", "wanita": "female", "2": "female"}
_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%Y")


@dataclass(frozen=True, slots=True)
class PersonRecord:
    record_id: str
    full_name: str | None = None
    birth_date: dt.date | None = None
    sex: str | None = None  # "male" / "female"
    nik: str | None = None
    kk_number: str | None = None
    address: str | None = None
    kelurahan_code: str | None = None
    phone: str | None = None

    def as_row(self, *, drop_nik: bool = False) -> tuple[str, ...]:
        return (self.record_id, self.full_name or "",
                self.birth_date.isoformat() if self.birth_date else "", self.sex or "",
                "" if drop_nik else self.nik or "", self.kk_number or "", self.address or "",
                self.kelurahan_code or "", self.phone or "")


class CsvInputError(ValueError):
    """A bad input file; ``message`` is English, ``message_id`` Bahasa Indonesia."""

    def __init__(self, message: str, message_id: str, *, row: int | None = None,
                 column: str | None = None) -> None:
        where = f"row {row}, column {column}: " if row is not None and column else (
            f"row {row}: " if row is not None else "")
        where_id = f"baris {row}, kolom {column}: " if row is not None and column else (
            f"baris {row}: " if row is not None else "")
        super().__init__(where + message)
        self.message = where + message
        self.message_id = where_id + message_id
        self.row = row
        self.column = column


def parse_date(text: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def parse_sex(text: str) -> str | None:
    text = text.strip().lower()
    if not text:
        return None
    if text not in _SEX:
        raise ValueError(text)
    return _SEX[text]


def records_from_rows(rows: Iterable[dict[str, str | None]], *, first_row: int = 2
                      ) -> Iterator[PersonRecord]:
    """Records from CSV dict rows (row numbers as a spreadsheet shows them: header is 1)."""
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=first_row):
        def get(col: str, row: dict[str, str | None] = row) -> str:
            return (row.get(col) or "").strip()

        record_id = get("record_id")
        if not record_id:
            raise CsvInputError("record_id is empty", "record_id kosong", row=number,
                                column="record_id")
        if record_id in seen:
            raise CsvInputError(
                f"duplicate record_id {record_id!r} (first on row {seen[record_id]})",
                f"record_id {record_id!r} ganda (pertama di baris {seen[record_id]})",
                row=number, column="record_id")
        seen[record_id] = number
        try:
            birth = parse_date(get("birth_date"))
        except ValueError:
            raise CsvInputError(
                f"unreadable date {get('birth_date')!r}; use YYYY-MM-DD or DD-MM-YYYY",
                f"tanggal {get('birth_date')!r} tidak terbaca; tulis YYYY-MM-DD atau DD-MM-YYYY",
                row=number, column="birth_date") from None
        try:
            sex = parse_sex(get("sex"))
        except ValueError:
            raise CsvInputError(
                f"unknown sex {get('sex')!r}; use male/female (L/P)",
                f"jenis kelamin {get('sex')!r} tidak dikenal; tulis L atau P",
                row=number, column="sex") from None
        yield PersonRecord(record_id, get("full_name") or None, birth, sex, get("nik") or None,
                           get("kk_number") or None, get("address") or None,
                           get("kelurahan_code") or None, get("phone") or None)


def read_csv(path: Path) -> list[PersonRecord]:
    """Every record of the file, or :class:`CsvInputError` for the first problem."""
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CsvInputError(f"cannot open {path}: {exc.strerror}",
                            f"berkas {path} tidak bisa dibuka: {exc.strerror}") from None
    with fh:
        try:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            if "record_id" not in header:
                raise CsvInputError(
                    f"the header has no record_id column (found: {', '.join(header) or 'nothing'})",
                    f"baris judul tidak punya kolom record_id (ada: {', '.join(header) or 'kosong'})",
                    row=1)
            reader.fieldnames = header
            return list(records_from_rows(reader))
        except UnicodeDecodeError:
            raise CsvInputError("the file is not UTF-8 text", "berkas bukan teks UTF-8") from None
        except csv.Error as exc:
            raise CsvInputError(f"not a readable CSV file ({exc})",
                                f"bukan berkas CSV yang terbaca ({exc})") from None
