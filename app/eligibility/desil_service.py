"""Official desil imports (matched to canonical households), PMT estimates and calibration.

Services flush, never commit; the CLI owns the transaction (one per import file: all or
nothing; one per batch for estimates).
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from sqlalchemy import update
from sqlmodel import Session, col

from app import bulk
from app.audit import service as audit
from app.audit.service import ActorRef
from app.db import utcnow
from app.eligibility import repository as repo
from app.eligibility.calibration import CalibrationReport, calibration_report
from app.eligibility.desil_file import DesilFile, DesilRow, RowProblem
from app.eligibility.pmt import PmtModel, estimate
from app.eligibility.store import DesilEstimate, DesilImport, FamilyDesil
from app.registry.identifiers import mask

RowStatus = Literal["matched", "unmatched", "ambiguous", "invalid"]
STATUS_TEXT: dict[str, tuple[str, str]] = {
    "matched": ("padan", "matched"),
    "unmatched": ("tidak padan", "unmatched"),
    "ambiguous": ("meragukan", "ambiguous"),
    "invalid": ("tidak valid", "invalid"),
}
REPORT_HEADER = ("baris/row", "status", "NIK", "NO_KK", "DESIL", "alasan", "reason")
_FAMILY_DESIL = FamilyDesil.__table__  # type: ignore[attr-defined]
_ESTIMATE = DesilEstimate.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ReportLine:
    row: int
    status: RowStatus
    nik: str | None
    kk: str | None
    desil: str | None
    reason_id: str
    reason_en: str


@dataclass
class ImportResult:
    status: Literal["imported", "refused", "already_imported"]
    import_id: int | None = None
    rows: int = 0
    matched: int = 0
    written: int = 0
    unchanged: int = 0
    report: list[ReportLine] = field(default_factory=list)

    def count(self, status: RowStatus) -> int:
        return sum(1 for line in self.report if line.status == status)


@dataclass(frozen=True, slots=True)
class _Match:
    row: DesilRow
    household_id: uuid.UUID | None
    status: RowStatus
    reason_id: str = ""
    reason_en: str = ""


def _problem_line(p: RowProblem) -> ReportLine:
    where_id = f"kolom {p.column}: " if p.column else ""
    where_en = f"column {p.column}: " if p.column else ""
    return ReportLine(p.row, "invalid", p.nik, p.kk, p.desil, where_id + p.reason_id, where_en + p.reason_en)


def match_rows(session: Session, rows: list[DesilRow]) -> list[_Match]:
    """Each row's canonical household: by the head's NIK and/or the KK (now or in its history)."""
    by_nik = repo.members_by_nik(session, sorted({r.nik for r in rows if r.nik}))
    by_kk = repo.households_by_kk(session, sorted({r.kk for r in rows if r.kk}))
    out: list[_Match] = []
    for r in rows:
        member = by_nik.get(r.nik) if r.nik else None
        head = member[0] if member is not None and member[1] == "head" else None
        kk_homes = by_kk.get(r.kk, set()) if r.kk else set()
        if head is not None and kk_homes and head not in kk_homes:
            out.append(
                _Match(
                    r,
                    None,
                    "ambiguous",
                    "NIK kepala keluarga dan nomor KK menunjuk dua keluarga berbeda",
                    "the head's NIK and the KK number point to two different families",
                )
            )
        elif head is not None:
            out.append(_Match(r, head, "matched"))
        elif len(kk_homes) == 1:
            out.append(_Match(r, next(iter(kk_homes)), "matched"))
        elif len(kk_homes) > 1:
            out.append(
                _Match(
                    r,
                    None,
                    "ambiguous",
                    f"nomor KK dipakai {len(kk_homes)} keluarga (sekarang atau dulu)",
                    f"the KK number is carried by {len(kk_homes)} families (now or in their history)",
                )
            )
        elif member is not None:
            out.append(
                _Match(
                    r,
                    None,
                    "unmatched",
                    "NIK milik anggota keluarga yang bukan kepala keluarga; periksa apakah keluarga "
                    "sudah pisah KK",
                    "the NIK belongs to a member who is not the head of the family; "
                    "check whether the family has split",
                )
            )
        else:
            out.append(
                _Match(
                    r,
                    None,
                    "unmatched",
                    "tidak ada keluarga dengan NIK kepala keluarga atau nomor KK ini",
                    "no family in the registry has this head's NIK or this KK number",
                )
            )
    rows_of: dict[uuid.UUID, list[int]] = defaultdict(list)
    for m in out:
        if m.household_id is not None:
            rows_of[m.household_id].append(m.row.row)
    final = []
    for m in out:
        shared = rows_of.get(m.household_id, []) if m.household_id else []
        if len(shared) > 1:
            others = ", ".join(str(n) for n in shared if n != m.row.row)
            m = _Match(
                m.row,
                None,
                "ambiguous",
                f"baris {others} menunjuk keluarga yang sama",
                f"rows {others} match the same family",
            )
        final.append(m)
    return final


def import_desil(
    *, session: Session, data: DesilFile, actor: ActorRef, accept_valid: bool = False
) -> ImportResult:
    """Store the matched rows of a checked file; flushes. Nothing is stored when the file has
    row problems (unless ``accept_valid``) or was already imported for the same period."""
    result = ImportResult(status="refused", rows=data.total)
    result.report = [_problem_line(p) for p in data.problems]
    if data.problems and not accept_valid:
        return result
    earlier = repo.find_import(session, data.sha256, data.period)
    if earlier is not None:
        result.status, result.import_id = "already_imported", earlier.id
        return result
    matches = match_rows(session, data.rows)
    result.report += [
        ReportLine(m.row.row, m.status, m.row.nik, m.row.kk, str(m.row.desil), m.reason_id, m.reason_en)
        for m in matches
        if m.status != "matched"
    ]
    result.report.sort(key=lambda line: line.row)
    matched = [m for m in matches if m.household_id is not None]
    record = DesilImport(
        file_name=data.name[:200],
        sha256=data.sha256,
        period=data.period,
        imported_by=actor.name[:80],
        accept_valid=accept_valid,
        rows=data.total,
        matched=len(matched),
        unmatched=result.count("unmatched"),
        ambiguous=result.count("ambiguous"),
        invalid=len({p.row for p in data.problems}),
    )
    session.add(record)
    session.flush()
    assert record.id is not None
    existing = repo.family_desil_rows(
        session, [m.household_id for m in matched if m.household_id], data.period
    )
    now = utcnow()
    new_rows, changes = [], []
    for m in matched:
        assert m.household_id is not None
        before = existing.get(m.household_id)
        if before is None:
            new_rows.append(
                {
                    "household_id": m.household_id,
                    "period": data.period,
                    "desil": m.row.desil,
                    "source": "bps",
                    "import_id": record.id,
                    "row_number": m.row.row,
                    "updated_at": now,
                }
            )
        elif before[1] != m.row.desil:
            session.execute(
                update(FamilyDesil)
                .where(col(FamilyDesil.id) == before[0])
                .values(
                    desil=m.row.desil, import_id=record.id, row_number=m.row.row, updated_at=now
                )
            )
            changes.append(
                audit.entry(
                    actor=actor,
                    action="desil.update",
                    entity_type="family_desil",
                    entity_id=str(before[0]),
                    household_id=m.household_id,
                    changes={"desil": [before[1], m.row.desil], "import_id": [None, record.id]},
                )
            )
        else:
            result.unchanged += 1
    bulk.insert(session, _FAMILY_DESIL, new_rows)
    record.written, record.unchanged = len(new_rows) + len(changes), result.unchanged
    audit.write(
        session,
        [
            *changes,
            audit.entry(
                actor=actor,
                action="desil.import",
                entity_type="desil_import",
                entity_id=str(record.id),
                changes={
                    "file": [None, record.file_name],
                    "sha256": [None, record.sha256],
                    "period": [None, record.period],
                    "matched": [None, record.matched],
                    "written": [None, record.written],
                },
            ),
        ],
    )
    session.flush()
    result.status, result.import_id = "imported", record.id
    result.matched, result.written = len(matched), record.written
    return result


def write_report(path: Path, lines: list[ReportLine]) -> None:
    """The rows not imported, with the reason in both languages. NIK and KK are masked: the
    row number finds the line in the operator's own file."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(REPORT_HEADER)
        for line in lines:
            writer.writerow(
                (
                    line.row,
                    line.status,
                    mask(line.nik) or "",
                    mask(line.kk) or "",
                    line.desil or "",
                    line.reason_id,
                    line.reason_en,
                )
            )


# ---------------------------------------------------------------- estimates


@dataclass
class EstimateSummary:
    households: int = 0
    written: int = 0
    unchanged: int = 0
    needs_data: int = 0
    by_desil: Counter[int] = field(default_factory=Counter)


def estimate_fingerprint(est_dict: dict[str, object]) -> str:
    raw = json.dumps(est_dict, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def estimate_households(
    *,
    session: Session,
    model: PmtModel,
    reference_date: date,
    include_official: bool = False,
    batch_size: int = 500,
    checkpoint: Callable[[int], None] | None = None,
) -> EstimateSummary:
    """Estimate every canonical household (without an official desil unless ``include_official``);
    store new or changed estimates; flushes per batch and calls ``checkpoint(done)``."""
    summary = EstimateSummary()
    after: uuid.UUID | None = None
    while True:
        ids = repo.household_ids_page(
            session, after=after, size=batch_size, without_official=not include_official
        )
        if not ids:
            break
        after = ids[-1]
        known = repo.estimate_rows(session, ids, model.version)
        now = utcnow()
        inserts = []
        for facts, _kel in repo.family_facts(session, ids):
            est = estimate(model, facts, reference_date)
            data = est.as_dict()
            fp = estimate_fingerprint(data)
            hid = uuid.UUID(facts.key)
            summary.households += 1
            if est.desil is None:
                summary.needs_data += 1
            else:
                summary.by_desil[est.desil] += 1
            values = {
                "desil": est.desil,
                "predicted_log_pc_spending": est.predicted_log_pc_spending,
                "predicted_pc_spending": est.predicted_pc_spending,
                "contributions": data["contributions"],
                "missing": list(est.missing),
                "fingerprint": fp,
                "computed_at": now,
            }
            before = known.get(hid)
            if before is None:
                inserts.append({"household_id": hid, "model_version": model.version, **values})
            elif before[1] != fp:
                session.execute(
                    update(DesilEstimate)
                    .where(col(DesilEstimate.id) == before[0])
                    .values(**values)
                )
                summary.written += 1
            else:
                summary.unchanged += 1
        bulk.insert(session, _ESTIMATE, inserts)
        summary.written += len(inserts)
        session.flush()
        if checkpoint is not None:
            checkpoint(summary.households)
    return summary


def calibrate(*, session: Session, model_version: str) -> CalibrationReport:
    return calibration_report(repo.calibration_pairs(session, model_version))
