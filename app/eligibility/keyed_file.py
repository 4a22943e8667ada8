"""A file of rows keyed by NIK and/or KK (CSV or XLSX): read, checked row by row, nothing stored.

Shared by the official desil import (``desil_file``: a DESIL value per row) and the recipient
lists (``recipient_file``: no value, the row itself says "receives"). A :class:`FileSpec`
names the value column (if any), its aliases and how a cell becomes a value.

The whole file is read and every row checked before anything is used. Problems with the
file itself (unreadable, no header with the value column and a NIK or KK column, merged cells
in the table, no rows, a wrong ``--period``) refuse it outright (:class:`CsvInputError`);
problems with single rows (invalid NIK or KK, a bad value, a period that is not ``YYYY-Qn`` or
not the import's, a duplicate) are collected as :class:`RowProblem`, each with its row (as a
spreadsheet numbers it) and column (as the file spells it) and the reason in Bahasa Indonesia
and English. The caller imports nothing when there is any (unless asked to take the valid rows).

The header is found, not assumed: the first of the first 20 rows that names the value column
(if the spec has one) and a NIK or KK column (title rows above it, as spreadsheets exported
for officials have, are skipped). Columns are recognised by name, case-insensitively,
spaces/dots/dashes read as ``_``.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zipfile import BadZipFile

from app.reconcile.records import CsvInputError
from app.registry.identifiers import IdentifierInvalid, parse_kk, parse_nik

PERIOD_RE = re.compile(r"^\d{4}-Q[1-4]$")
HEADER_SEARCH_ROWS = 20
KEY_ALIASES: dict[str, tuple[str, ...]] = {
    "nik": ("NIK", "NIK_KRT", "NIK_KEPALA_KELUARGA", "NIK_KEPALA", "NIK_KK", "NO_NIK", "NOMOR_NIK"),
    "kk": ("NO_KK", "NOKK", "NKK", "NOMOR_KK", "KK", "KK_NUMBER", "NO_KARTU_KELUARGA"),
    "period": ("PERIODE", "PERIOD", "PERIODE_DATA"),
}


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
    value: str | None = None  # the value cell as written (desil files)

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason_id} / {self.reason_en}"


ValueParser = Callable[[Any, int, str], "tuple[int | None, RowProblem | None]"]


@dataclass(frozen=True, slots=True)
class FileSpec:
    """What a kind of file holds besides the NIK / KK / PERIODE keys."""

    value: str | None  # canonical name of the required value column ("desil"), or None
    value_aliases: tuple[str, ...] = ()
    parse_value: ValueParser | None = None
    nik_hint: str = "NIK (NIK_KRT)"  # how the NIK column is named in the "no header" message
    # a key that may appear on one row only (person programmes: several members share a KK)
    unique_keys: tuple[str, ...] = ("nik", "kk")
    nik_aliases: tuple[str, ...] = ()  # more names of the NIK column for this kind of file

    def alias_to_column(self) -> dict[str, str]:
        aliases = dict(KEY_ALIASES)
        aliases["nik"] = aliases["nik"] + self.nik_aliases
        if self.value is not None:
            aliases[self.value] = self.value_aliases
        return {alias: column for column, names in aliases.items() for alias in names}


@dataclass(frozen=True, slots=True)
class KeyedRow:
    row: int
    nik: str | None
    kk: str | None
    value: int | None = None  # the parsed value column (None when the spec has none)


@dataclass
class KeyedFile:
    name: str
    sha256: str
    period: str
    header_row: int
    columns: dict[str, str]  # canonical -> as written
    rows: list[KeyedRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows) + len({p.row for p in self.problems})


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _find_header(rows: list[tuple[int, list[Any]]], spec: FileSpec) -> tuple[int, dict[str, str], int]:
    """(row number, canonical -> written, index in ``rows``) of the header."""
    alias_to_column = spec.alias_to_column()
    first_seen: list[str] = []
    for index, (number, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        written = [cell_text(c) for c in cells]
        if not first_seen and any(written):
            first_seen = [w for w in written if w]
        found: dict[str, str] = {}
        doubled: tuple[str, str, str] | None = None
        for w in written:
            column = alias_to_column.get(header_key(w)) if w else None
            if column is None:
                continue
            if column in found:
                doubled = (column, found[column], w)
            found.setdefault(column, w)
        if (spec.value is None or spec.value in found) and ("nik" in found or "kk" in found):
            if doubled:
                col, a, b = doubled
                raise CsvInputError(
                    f"columns {a!r} and {b!r} both mean {col}; keep one",
                    f"kolom {a!r} dan {b!r} sama-sama berarti {col}; sisakan satu",
                    row=number,
                )
            return number, found, index
    shown = ", ".join(first_seen) or "nothing"
    value_en = f"a {spec.value.upper()} column and " if spec.value else ""
    value_id = f"kolom {spec.value.upper()} dan " if spec.value else ""
    raise CsvInputError(
        f"no header row with {value_en}a {spec.nik_hint} or NO_KK column in the first "
        f"{HEADER_SEARCH_ROWS} rows (first row found: {shown})",
        f"tidak ada baris judul dengan {value_id}kolom {spec.nik_hint} atau NO_KK di {HEADER_SEARCH_ROWS} "
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
    text = cell_text(value)
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


def _check_rows(
    rows: list[tuple[int, list[Any]]],
    columns: dict[str, str],
    index: dict[str, int],
    period: str,
    spec: FileSpec,
    out: KeyedFile,
) -> None:
    seen: dict[tuple[str, str], int] = {}
    for number, cells in rows:

        def cell(column: str, cells: list[Any] = cells) -> Any:
            i = index.get(column)
            return cells[i] if i is not None and i < len(cells) else None

        if not any(cell_text(c) for c in cells):
            continue  # blank line
        shown = {
            "nik": cell_text(cell("nik")) or None,
            "kk": cell_text(cell("kk")) or None,
            "value": (cell_text(cell(spec.value)) or None) if spec.value else None,
        }
        problems: list[RowProblem] = []
        nik, p1 = _identifier(cell("nik"), "nik", number, columns.get("nik", "NIK"))
        kk, p2 = _identifier(cell("kk"), "kk", number, columns.get("kk", "NO_KK"))
        value: int | None = None
        p3: RowProblem | None = None
        if spec.value is not None and spec.parse_value is not None:
            value, p3 = spec.parse_value(cell(spec.value), number, columns[spec.value])
        problems += [p for p in (p1, p2, p3) if p is not None]
        if nik is None and kk is None and p1 is None and p2 is None:
            problems.append(
                RowProblem(number, None, "neither a NIK nor a KK number", "NIK dan nomor KK kosong")
            )
        if "period" in columns:
            written = cell_text(cell("period")).upper()
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
        for kind, ident in (("nik", nik), ("kk", kk)):
            if ident is None or kind not in spec.unique_keys:
                continue
            first = seen.get((kind, ident))
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
                seen[(kind, ident)] = number
        if problems:
            out.problems += [RowProblem(p.row, p.column, p.reason_en, p.reason_id, **shown) for p in problems]
        else:
            out.rows.append(KeyedRow(number, nik, kk, value))


def read_keyed_file(path: Path, *, period: str, spec: FileSpec) -> KeyedFile:
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
    header_row, columns, at = _find_header(rows, spec)
    in_table = [coord for coord, last_row in merged if last_row >= header_row]
    if in_table:
        ranges = ", ".join(in_table[:5])
        raise CsvInputError(
            f"merged cells in the table ({ranges}); unmerge them so every row has its values",
            f"ada sel gabungan di tabel ({ranges}); pisahkan agar tiap baris punya nilainya",
            row=header_row,
        )
    header = [cell_text(c) for c in rows[at][1]]
    index = {canon: header.index(written) for canon, written in columns.items()}
    out = KeyedFile(
        name=path.name,
        sha256=hashlib.sha256(content).hexdigest(),
        period=period,
        header_row=header_row,
        columns=columns,
    )
    _check_rows(rows[at + 1 :], columns, index, period, spec, out)
    if not out.rows and not out.problems:
        raise CsvInputError("the file holds no rows under its header", "berkas tidak berisi baris data")
    return out


def iter_problem_lines(problems: list[RowProblem]) -> Iterator[str]:
    for p in sorted(problems, key=lambda p: p.row):
        yield str(p)
