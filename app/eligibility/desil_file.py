"""An official desil file from BPS/DTSEN (CSV or XLSX): read, checked row by row, nothing stored.

The whole file is read and every row checked before anything is used. Problems with the
file itself (unreadable, no header with a desil and a NIK or KK column, merged cells in the
table, no rows, a wrong ``--period``) refuse it outright (:class:`CsvInputError`); problems
with single rows (invalid NIK or KK, desil outside 1-10, a period that is not ``YYYY-Qn`` or
not the import's, a duplicate) are collected as :class:`RowProblem`, each with its row (as a
spreadsheet numbers it) and column (as the file spells it) and the reason in Bahasa Indonesia
and English. The caller imports nothing when there is any (unless asked to take the valid rows).

The header is found, not assumed: the first of the first 20 rows that names a desil column and
a NIK or KK column (title rows above it, as spreadsheets exported for officials have, are
skipped). Columns are recognised by name, case-insensitively, spaces/dots/dashes read as ``_``.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zipfile import BadZipFile

from app.reconcile.records import CsvInputError
from app.registry.identifiers import IdentifierInvalid, parse_kk, parse_nik

PERIOD_RE = re.compile(r"^\d{4}-Q[1-4]$")
HEADER_SEARCH_ROWS = 20
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "nik": ("NIK", "NIK_KRT", "NIK_KEPALA_KELUARGA", "NIK_KEPALA", "NIK_KK", "NO_NIK", "NOMOR_NIK"),
    "kk": ("NO_KK", "NOKK", "NKK", "NOMOR_KK", "KK", "KK_NUMBER", "NO_KARTU_KELUARGA"),
    "desil": ("DESIL", "DESIL_NASIONAL", "DESIL_NAS", "PERINGKAT_DESIL", "DECILE", "DESIL_KESEJAHTERAAN"),
    "period": ("PERIODE", "PERIOD", "PERIODE_DATA"),
}
_ALIAS_TO_COLUMN = {alias: column for column, aliases in HEADER_ALIASES.items() for alias in aliases}


def header_key(text: str) -> str:
    return re.sub(r"[\s.\-]+", "_", text.strip().lstrip("\ufeff")).upper()


def check_period(text: str) -> str:
    """``2026-Q1``; CsvInputError otherwise."""
    value = text.strip().upper()
    if not PERIOD_RE.match(value):
        raise CsvInputError(
            f"period {text!r} is not YYYY-Qn (e.g. 2026-Q1)",
            f"periode {text!r} bukan YYYY-Qn (contoh 2026-Q1)",
        )
    return value


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int
    column: str | None
    reason_en: str
    reason_id: str
    nik: str | None = None
    kk: str | None = None
    desil: str | None = None

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason_id} / {self.reason_en}"


@dataclass(frozen=True, slots=True)
class DesilRow:
    row: int
    nik: str | None
    kk: str | None
    desil: int


@dataclass
class DesilFile:
    name: str
    sha256: str
    period: str
    header_row: int
    columns: dict[str, str]  # canonical -> as written
    rows: list[DesilRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows) + len({p.row for p in self.problems})


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _find_header(rows: list[tuple[int, list[Any]]]) -> tuple[int, dict[str, str], int]:
    """(row number, canonical -> written, index in ``rows``) of the header."""
    first_seen: list[str] = []
    for index, (number, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        written = [_text(c) for c in cells]
        if not first_seen and any(written):
            first_seen = [w for w in written if w]
        found: dict[str, str] = {}
        doubled: tuple[str, str, str] | None = None
        for w in written:
            column = _ALIAS_TO_COLUMN.get(header_key(w)) if w else None
            if column is None:
                continue
            if column in found:
                doubled = (column, found[column], w)
            found.setdefault(column, w)
        if "desil" in found and ("nik" in found or "kk" in found):
            if doubled:
                col, a, b = doubled
                raise CsvInputError(
                    f"columns {a!r} and {b!r} both mean {col}; keep one",
                    f"kolom {a!r} dan {b!r} sama-sama berarti {col}; sisakan satu",
                    row=number,
                )
            return number, found, index
    shown = ", ".join(first_seen) or "nothing"
    raise CsvInputError(
        f"no header row with a DESIL column and a NIK (NIK_KRT) or NO_KK column in the first "
        f"{HEADER_SEARCH_ROWS} rows (first row found: {shown})",
        f"tidak ada baris judul dengan kolom DESIL dan NIK (NIK_KRT) atau NO_KK di {HEADER_SEARCH_ROWS} "
        f"baris pertama (baris pertama: {shown if first_seen else 'kosong'})",
    )


def _csv_rows(path: Path) -> list[tuple[int, list[Any]]]:
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CsvInputError(
            "the file is not UTF-8 text; save it as CSV UTF-8",
            "berkas bukan teks UTF-8; simpan sebagai CSV UTF-8",
        ) from None
    lines = raw.splitlines()
    sample = next((line for line in lines if line.strip()), "")
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;|\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return [(n, cells) for n, cells in enumerate(csv.reader(lines, dialect=dialect), start=1)]
    except csv.Error as exc:
        raise CsvInputError(
            f"not a readable CSV file ({exc})", f"bukan berkas CSV yang terbaca ({exc})"
        ) from None


def _xlsx_rows(path: Path) -> tuple[list[tuple[int, list[Any]]], list[tuple[str, int]]]:
    """The first sheet's rows and its merged ranges (text, last row)."""
    import openpyxl  # imported here: only XLSX imports need it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, OSError, ValueError) as exc:
        raise CsvInputError(
            f"not a readable XLSX file ({type(exc).__name__})",
            f"bukan berkas XLSX yang terbaca ({type(exc).__name__})",
        ) from None
    try:
        sheet = book.worksheets[0]
        merged = [(str(r.coord), int(r.max_row)) for r in sheet.merged_cells.ranges]
        rows = [(n, list(cells)) for n, cells in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        book.close()
    return rows, merged


def _identifier(value: Any, kind: str, row: int, column: str) -> tuple[str | None, RowProblem | None]:
    label, label_id = ("NIK", "NIK") if kind == "nik" else ("KK number", "Nomor KK")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None, RowProblem(
            row,
            column,
            f"{label} is stored as a number (a spreadsheet keeps only 15 digits); format the column as text",
            f"{label_id} tersimpan sebagai angka (spreadsheet hanya menyimpan 15 "
            "digit); jadikan kolom ini teks",
        )
    text = _text(value)
    if not text:
        return None, None
    try:
        return (parse_nik(text).nik if kind == "nik" else parse_kk(text)), None
    except IdentifierInvalid as exc:
        return None, RowProblem(
            row,
            column,
            f"{label} {text!r}: {exc.problem.message}",
            f"{label_id} {text!r}: {exc.problem.message_id}",
        )


def _desil(value: Any, row: int, column: str) -> tuple[int | None, RowProblem | None]:
    text = _text(value)
    number: int | None = None
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif text.isascii() and text.isdigit():
        number = int(text)
    if number is None:
        return None, RowProblem(
            row,
            column,
            f"desil {text!r} is not a whole number 1-10" if text else "desil is empty",
            f"desil {text!r} bukan bilangan bulat 1-10" if text else "desil kosong",
        )
    if not 1 <= number <= 10:
        return None, RowProblem(
            row, column, f"desil {number} is outside 1-10", f"desil {number} di luar 1-10"
        )
    return number, None


def _check_rows(
    rows: list[tuple[int, list[Any]]],
    columns: dict[str, str],
    index: dict[str, int],
    period: str,
    out: DesilFile,
) -> None:
    seen: dict[tuple[str, str], int] = {}
    for number, cells in rows:

        def cell(column: str, cells: list[Any] = cells) -> Any:
            i = index.get(column)
            return cells[i] if i is not None and i < len(cells) else None

        if not any(_text(c) for c in cells):
            continue  # blank line
        shown = {
            "nik": _text(cell("nik")) or None,
            "kk": _text(cell("kk")) or None,
            "desil": _text(cell("desil")) or None,
        }
        problems: list[RowProblem] = []
        nik, p1 = _identifier(cell("nik"), "nik", number, columns.get("nik", "NIK"))
        kk, p2 = _identifier(cell("kk"), "kk", number, columns.get("kk", "NO_KK"))
        desil, p3 = _desil(cell("desil"), number, columns["desil"])
        problems += [p for p in (p1, p2, p3) if p is not None]
        if nik is None and kk is None and p1 is None and p2 is None:
            problems.append(
                RowProblem(number, None, "neither a NIK nor a KK number", "NIK dan nomor KK kosong")
            )
        if "period" in columns:
            written = _text(cell("period")).upper()
            if not PERIOD_RE.match(written):
                problems.append(
                    RowProblem(
                        number,
                        columns["period"],
                        f"period {written!r} is not YYYY-Qn",
                        f"periode {written!r} bukan YYYY-Qn",
                    )
                )
            elif written != period:
                problems.append(
                    RowProblem(
                        number,
                        columns["period"],
                        f"period {written} differs from the import's {period}",
                        f"periode {written} berbeda dari periode impor {period}",
                    )
                )
        for kind, value in (("nik", nik), ("kk", kk)):
            if value is None:
                continue
            first = seen.get((kind, value))
            if first is not None:
                label = "NIK" if kind == "nik" else "KK"
                problems.append(
                    RowProblem(
                        number,
                        columns[kind],
                        f"duplicate row: {label} also on row {first}",
                        f"baris ganda: {label} juga di baris {first}",
                    )
                )
            else:
                seen[(kind, value)] = number
        if problems:
            out.problems += [RowProblem(p.row, p.column, p.reason_en, p.reason_id, **shown) for p in problems]
        else:
            assert desil is not None
            out.rows.append(DesilRow(number, nik, kk, desil))


def read_desil_file(path: Path, *, period: str) -> DesilFile:
    """The file's rows and its row problems; CsvInputError when the file itself is refused."""
    period = check_period(period)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise CsvInputError(
            f"cannot open {path}: {exc.strerror}", f"berkas {path} tidak bisa dibuka: {exc.strerror}"
        ) from None
    if not content.strip():
        raise CsvInputError("the file is empty", "berkas kosong")
    merged: list[tuple[str, int]] = []
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        rows, merged = _xlsx_rows(path)
    else:
        rows = _csv_rows(path)
    header_row, columns, at = _find_header(rows)
    in_table = [coord for coord, last_row in merged if last_row >= header_row]
    if in_table:
        ranges = ", ".join(in_table[:5])
        raise CsvInputError(
            f"merged cells in the table ({ranges}); unmerge them so every row has its values",
            f"ada sel gabungan di tabel ({ranges}); pisahkan agar tiap baris punya nilainya",
            row=header_row,
        )
    header = [_text(c) for c in rows[at][1]]
    index = {canon: header.index(written) for canon, written in columns.items()}
    out = DesilFile(
        name=path.name,
        sha256=hashlib.sha256(content).hexdigest(),
        period=period,
        header_row=header_row,
        columns=columns,
    )
    _check_rows(rows[at + 1 :], columns, index, period, out)
    if not out.rows and not out.problems:
        raise CsvInputError("the file holds no rows under its header", "berkas tidak berisi baris data")
    return out


def iter_problem_lines(problems: list[RowProblem]) -> Iterator[str]:
    for p in sorted(problems, key=lambda p: p.row):
        yield str(p)
