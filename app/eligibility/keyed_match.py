"""Matching the rows of a keyed file (desil, recipients) to canonical households, and the
report of the rows not imported. Shared by ``desil_service`` and ``recipient_service``.

``unit="family"``: the head's NIK -> the household whose active head has it; the KK -> the
households carrying it now or in their KK history. ``unit="person"`` (PBI-JK, PIP): the NIK
-> the member carrying it (any relation), the KK only a cross-check. A NIK and KK pointing at
two different households, a KK carried by several households, or two rows of the file
reaching the same subject: **ambiguous**. Nothing found: **unmatched**.
"""

from __future__ import annotations

import csv
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict

from sqlmodel import Session

from app.eligibility import repository as repo
from app.eligibility.keyed_file import KeyedFile, KeyedRow, RowProblem
from app.registry.identifiers import mask

RowStatus = Literal["matched", "unmatched", "ambiguous", "invalid"]
Unit = Literal["family", "person"]
STATUS_TEXT: dict[str, tuple[str, str]] = {
    "matched": ("padan", "matched"),
    "unmatched": ("tidak padan", "unmatched"),
    "ambiguous": ("meragukan", "ambiguous"),
    "invalid": ("tidak valid", "invalid"),
}
_TWO_FAMILIES = (
    "NIK dan nomor KK menunjuk dua keluarga berbeda",
    "the NIK and the KK number point to two different families",
)
_TWO_HEAD_FAMILIES = (
    "NIK kepala keluarga dan nomor KK menunjuk dua keluarga berbeda",
    "the head's NIK and the KK number point to two different families",
)
_NOT_HEAD = (
    "NIK milik anggota keluarga yang bukan kepala keluarga; periksa apakah keluarga sudah pisah KK",
    "the NIK belongs to a member who is not the head of the family; check whether the family has split",
)
_NO_FAMILY = (
    "tidak ada keluarga dengan NIK kepala keluarga atau nomor KK ini",
    "no family in the registry has this head's NIK or this KK number",
)
_NO_PERSON = (
    "tidak ada warga dengan NIK ini di registri",
    "no person in the registry has this NIK",
)
_PERSON_NEEDS_NIK = (
    "program perorangan: baris perlu NIK penerima, nomor KK saja tidak cukup",
    "a person programme: the row needs the recipient's NIK, a KK number alone is not enough",
)


@dataclass(frozen=True, slots=True)
class ReportLine:
    row: int
    status: RowStatus
    nik: str | None
    kk: str | None
    value: str | None
    reason_id: str
    reason_en: str


@dataclass(frozen=True, slots=True)
class Match:
    row: KeyedRow
    household_id: uuid.UUID | None
    status: RowStatus
    reason_id: str = ""
    reason_en: str = ""
    member_id: uuid.UUID | None = None  # person unit

    def report_line(self) -> ReportLine:
        value = None if self.row.value is None else str(self.row.value)
        return ReportLine(
            self.row.row, self.status, self.row.nik, self.row.kk, value, self.reason_id, self.reason_en
        )


def problem_line(p: RowProblem) -> ReportLine:
    where_id = f"kolom {p.column}: " if p.column else ""
    where_en = f"column {p.column}: " if p.column else ""
    return ReportLine(p.row, "invalid", p.nik, p.kk, p.value, where_id + p.reason_id, where_en + p.reason_en)


def _not(r: KeyedRow, status: RowStatus, text: tuple[str, str]) -> Match:
    return Match(r, None, status, text[0], text[1])


def _family(r: KeyedRow, member: tuple[uuid.UUID, str, uuid.UUID] | None, homes: set[uuid.UUID]) -> Match:
    head = member[0] if member is not None and member[1] == "head" else None
    if head is not None and homes and head not in homes:
        return _not(r, "ambiguous", _TWO_HEAD_FAMILIES)
    if head is not None:
        return Match(r, head, "matched")
    if len(homes) == 1:
        return Match(r, next(iter(homes)), "matched")
    if len(homes) > 1:
        return Match(
            r,
            None,
            "ambiguous",
            f"nomor KK dipakai {len(homes)} keluarga (sekarang atau dulu)",
            f"the KK number is carried by {len(homes)} families (now or in their history)",
        )
    return _not(r, "unmatched", _NOT_HEAD if member is not None else _NO_FAMILY)


def _person(r: KeyedRow, member: tuple[uuid.UUID, str, uuid.UUID] | None, homes: set[uuid.UUID]) -> Match:
    if r.nik is None:
        return _not(r, "unmatched", _PERSON_NEEDS_NIK)
    if member is None:
        return _not(r, "unmatched", _NO_PERSON)
    if r.kk is not None and homes and member[0] not in homes:
        return _not(r, "ambiguous", _TWO_FAMILIES)
    return Match(r, member[0], "matched", member_id=member[2])


def match_rows(session: Session, rows: list[KeyedRow], *, unit: Unit = "family") -> list[Match]:
    """Each row's canonical household (and member, ``unit="person"``), or why not."""
    by_nik = repo.members_by_nik(session, sorted({r.nik for r in rows if r.nik}))
    by_kk = repo.households_by_kk(session, sorted({r.kk for r in rows if r.kk}))
    decide = _family if unit == "family" else _person
    out = [
        decide(r, by_nik.get(r.nik) if r.nik else None, by_kk.get(r.kk, set()) if r.kk else set())
        for r in rows
    ]
    rows_of: dict[tuple[uuid.UUID, uuid.UUID | None], list[int]] = defaultdict(list)
    for m in out:
        if m.household_id is not None:
            rows_of[(m.household_id, m.member_id)].append(m.row.row)
    final = []
    for m in out:
        shared = rows_of.get((m.household_id, m.member_id), []) if m.household_id else []
        if len(shared) > 1:
            others = ", ".join(str(n) for n in shared if n != m.row.row)
            who_id, who_en = ("keluarga", "family") if unit == "family" else ("orang", "person")
            m = Match(
                m.row,
                None,
                "ambiguous",
                f"baris {others} menunjuk {who_id} yang sama",
                f"rows {others} match the same {who_en}",
            )
        final.append(m)
    return final


def write_report(path: Path, lines: list[ReportLine], *, value_header: str | None = "DESIL") -> None:
    """The rows not imported, with the reason in both languages. NIK and KK are masked: the
    row number finds the line in the operator's own file."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        head: tuple[str, ...] = ("baris/row", "status", "NIK", "NO_KK")
        head += (value_header,) if value_header else ()
        writer.writerow((*head, "alasan", "reason"))
        for line in lines:
            cells: tuple[object, ...] = (line.row, line.status, mask(line.nik) or "", mask(line.kk) or "")
            if value_header:
                cells += (line.value or "",)
            writer.writerow((*cells, line.reason_id, line.reason_en))


class ImportCounts(TypedDict):
    rows: int
    matched: int
    unmatched: int
    ambiguous: int
    invalid: int


@dataclass
class ImportResult:
    """What an import of a keyed file did (desil, recipients): the rows, the matches, what
    was written or already there, and the report of the rows not imported."""

    status: Literal["imported", "refused", "already_imported"]
    import_id: int | None = None
    rows: int = 0
    matched: int = 0
    written: int = 0
    unchanged: int = 0
    report: list[ReportLine] = field(default_factory=list)

    def count(self, status: RowStatus) -> int:
        return sum(1 for line in self.report if line.status == status)

    def record_counts(self, data: KeyedFile) -> ImportCounts:
        """The counts every import record stores (``desil_import``, ``recipient_import``)."""
        return ImportCounts(
            rows=data.total,
            matched=self.matched,
            unmatched=self.count("unmatched"),
            ambiguous=self.count("ambiguous"),
            invalid=len({p.row for p in data.problems}),
        )


def match_file(
    session: Session,
    data: KeyedFile,
    result: ImportResult,
    *,
    accept_valid: bool,
    earlier_import: Callable[[], int | None],
    unit: Unit = "family",
) -> list[Match] | None:
    """The start every import shares: the file's problems into the report; refused (None,
    status ``refused``) if there are any and ``accept_valid`` is off; ``already_imported``
    (None) if ``earlier_import()`` finds the same file; else the matched rows, the report
    completed with the rows not matched and ``result.matched`` set."""
    result.rows = data.total
    result.report = [problem_line(p) for p in data.problems]
    if data.problems and not accept_valid:
        result.status = "refused"
        return None
    earlier = earlier_import()
    if earlier is not None:
        result.status, result.import_id = "already_imported", earlier
        return None
    matches = match_rows(session, data.rows, unit=unit)
    result.report += [m.report_line() for m in matches if m.status != "matched"]
    result.report.sort(key=lambda line: line.row)
    matched = [m for m in matches if m.household_id is not None]
    result.matched = len(matched)
    return matched
