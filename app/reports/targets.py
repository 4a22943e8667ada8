"""Registration targets per kelurahan (``kelurahan_target``), imported from a CSV or XLSX file.

All or nothing: every row is checked first (the kelurahan code, Kemendagri ``82.71.07.1001``
or BPS ``8271020001``, must be one of Kota Ternate's; families a whole number >= 0; persons,
if given, too; a kelurahan at most once) and any problem refuses the whole file with a
row-by-row report naming the row (as a spreadsheet numbers it), the column and the rule.
Importing the same figures again changes nothing; a changed figure replaces the old one,
which stays in the audit log (action ``target.set``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zipfile import BadZipFile

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import ActorRef
from app.db import utcnow
from app.reconcile.records import CsvInputError
from app.reports.models import KelurahanTarget
from app.wilayah.models import Kelurahan

CODE_ALIASES = (
    "KODE_KELURAHAN",
    "KODE_WILAYAH",
    "KODE_KEMENDAGRI",
    "KODE_BPS",
    "KODE",
    "KELURAHAN_CODE",
    "CODE",
)
FAMILIES_ALIASES = ("KELUARGA", "JUMLAH_KELUARGA", "JUMLAH_KK", "TARGET_KELUARGA", "FAMILIES")
PERSONS_ALIASES = ("JIWA", "JUMLAH_JIWA", "PENDUDUK", "JUMLAH_PENDUDUK", "TARGET_JIWA", "PERSONS")
_INT = re.compile(r"^\d+$")


@dataclass(frozen=True, slots=True)
class TargetProblem:
    row: int
    column: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"baris / row {self.row}, kolom / column {self.column}: {self.rule}: {self.message}"


@dataclass(frozen=True, slots=True)
class TargetRow:
    row: int
    kelurahan_code: str
    families: int
    persons: int | None


@dataclass
class TargetResult:
    status: str  # imported | refused
    rows: list[TargetRow] = field(default_factory=list)
    problems: list[TargetProblem] = field(default_factory=list)
    written: int = 0
    unchanged: int = 0


def _key(text: Any) -> str:
    return re.sub(r"[\s.\-/]+", "_", str(text or "").strip().lstrip("\ufeff")).upper()


def _raw_rows(path: Path) -> list[list[Any]]:
    if not path.is_file():
        raise CsvInputError(f"file {path} does not exist", f"berkas {path} tidak ada")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (BadZipFile, OSError, KeyError, ValueError) as exc:
            raise CsvInputError(
                f"{path.name} is not a readable XLSX file ({exc})", f"{path.name} bukan XLSX"
            ) from None
        sheet = book.worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        book.close()
        return rows
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CsvInputError(f"{path.name} is not UTF-8 text", f"{path.name} bukan teks UTF-8") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text.strip() else csv.excel
    except csv.Error:  # one column, or no delimiter the sniffer is sure of: read it as plain CSV
        dialect = csv.excel
    return [list(r) for r in csv.reader(text.splitlines(), dialect)]


def _find(header: list[str], aliases: tuple[str, ...]) -> int | None:
    for alias in aliases:
        if alias in header:
            return header.index(alias)
    return None


def read_targets(session: Session, path: Path) -> TargetResult:
    """Every row checked; ``status`` refused (with problems) or imported-to-be (rows)."""
    raw = _raw_rows(path)
    for h, candidate in enumerate(raw[:20]):  # noqa: B007 - h is the header row after the loop
        header = [_key(c) for c in candidate]
        code_i, fam_i = _find(header, CODE_ALIASES), _find(header, FAMILIES_ALIASES)
        if code_i is not None and fam_i is not None:
            break
    else:
        raise CsvInputError(
            f"no header row with a kelurahan code column ({', '.join(CODE_ALIASES)}) and a families column "
            f"({', '.join(FAMILIES_ALIASES)}) in the first 20 rows",
            "tidak ada baris judul dengan kolom kode kelurahan dan kolom jumlah keluarga",
        )
    per_i = _find(header, PERSONS_ALIASES)
    names = [str(c).strip() for c in raw[h]]
    known = {k.code: k.code for k in session.exec(select(Kelurahan))}
    known.update({str(k.bps_code): k.code for k in session.exec(select(Kelurahan)) if k.bps_code})
    result = TargetResult(status="imported")
    seen: dict[str, int] = {}
    for number, cells in enumerate(raw[h + 1 :], start=h + 2):
        if all(c is None or str(c).strip() == "" for c in cells):
            continue

        def cell(i: int | None, cells: list[Any] = cells) -> str:
            if i is None or i >= len(cells) or cells[i] is None:
                return ""
            value = cells[i]
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            return str(value).strip()

        problems: list[TargetProblem] = []
        code_text = cell(code_i)
        code = known.get(code_text)
        if code is None:
            problems.append(
                TargetProblem(
                    number,
                    names[code_i],
                    "known_kelurahan",
                    f"{code_text!r} bukan kode kelurahan Kota Ternate (Kemendagri 82.71.07.1001 atau "
                    "BPS 8271020001) / not a Ternate kelurahan code",
                )
            )
        elif code in seen:
            problems.append(
                TargetProblem(
                    number,
                    names[code_i],
                    "unique_kelurahan",
                    f"kelurahan {code} sudah ada di baris {seen[code]} / already on row {seen[code]}",
                )
            )
        families_text = cell(fam_i)
        if not _INT.match(families_text):
            problems.append(
                TargetProblem(
                    number,
                    names[fam_i],
                    "non_negative_integer",
                    f"{families_text!r} bukan bilangan bulat >= 0 / not a whole number >= 0",
                )
            )
        persons_text = cell(per_i)
        if persons_text and not _INT.match(persons_text):
            problems.append(
                TargetProblem(
                    number,
                    names[per_i] if per_i is not None else "-",
                    "non_negative_integer",
                    f"{persons_text!r} bukan bilangan bulat >= 0 / not a whole number >= 0",
                )
            )
        if problems:
            result.problems.extend(problems)
            continue
        assert code is not None
        seen[code] = number
        result.rows.append(
            TargetRow(number, code, int(families_text), int(persons_text) if persons_text else None)
        )
    if not result.rows and not result.problems:
        raise CsvInputError("the file has no data rows", "berkas tidak berisi baris data")
    if result.problems:
        result.status = "refused"
    return result


def import_targets(
    *, session: Session, path: Path, source: str, as_of: date | None, actor: ActorRef
) -> TargetResult:
    """Check the whole file, then write every row (or none); audited per changed kelurahan."""
    result = read_targets(session, path)
    if result.status == "refused":
        return result
    existing = {
        t.kelurahan_code: t
        for t in session.exec(
            select(KelurahanTarget).where(
                col(KelurahanTarget.kelurahan_code).in_([r.kelurahan_code for r in result.rows])
            )
        )
    }
    entries = []
    for r in result.rows:
        after = {"families": r.families, "persons": r.persons, "source": source, "as_of": as_of}
        old = existing.get(r.kelurahan_code)
        before = (
            {"families": old.families, "persons": old.persons, "source": old.source, "as_of": old.as_of}
            if old
            else {}
        )
        changes = audit.diff(before, after)
        if not changes:
            result.unchanged += 1
            continue
        target = old or KelurahanTarget(
            kelurahan_code=r.kelurahan_code, families=0, source=source, updated_by=actor.name
        )
        target.families, target.persons, target.source, target.as_of = r.families, r.persons, source, as_of
        target.updated_by, target.updated_at = actor.name, utcnow()
        session.add(target)
        entries.append(
            audit.entry(
                actor=actor,
                action="target.set",
                entity_type="kelurahan_target",
                entity_id=r.kelurahan_code,
                changes=changes | {"file": [None, path.name]},
            )
        )
        result.written += 1
    session.flush()
    if entries:
        audit.write(session, entries)
    return result


def write_report(path: Path, problems: list[TargetProblem]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["baris / row", "kolom / column", "aturan / rule", "keterangan / message"])
        for p in problems:
            writer.writerow([p.row, p.column, p.rule, p.message])
