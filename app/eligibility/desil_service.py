"""Official desil imports (matched to canonical households), PMT estimates and calibration.

Reading the file is :mod:`keyed_file`'s and matching its rows :mod:`keyed_match`'s (shared
with the recipient lists).

Services flush, never commit; the CLI owns the transaction (one per import file: all or
nothing; one per batch for estimates).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, col

from app import bulk
from app.audit import service as audit
from app.audit.service import ActorRef
from app.db import utcnow
from app.eligibility import keyed_match
from app.eligibility import repository as repo
from app.eligibility.calibration import CalibrationReport, calibration_report
from app.eligibility.desil_file import DesilFile
from app.eligibility.keyed_match import ImportResult, ReportLine
from app.eligibility.pmt import PmtModel, estimate
from app.eligibility.store import DesilEstimate, DesilImport, FamilyDesil

REPORT_HEADER = ("baris/row", "status", "NIK", "NO_KK", "DESIL", "alasan", "reason")
_FAMILY_DESIL = FamilyDesil.__table__  # type: ignore[attr-defined]
_ESTIMATE = DesilEstimate.__table__  # type: ignore[attr-defined]


def _import_id(record: DesilImport | None) -> int | None:
    return record.id if record is not None else None


def import_desil(
    *, session: Session, data: DesilFile, actor: ActorRef, accept_valid: bool = False
) -> ImportResult:
    """Store the matched rows of a checked file; flushes. Nothing is stored when the file has
    row problems (unless ``accept_valid``) or was already imported for the same period."""
    result = ImportResult(status="refused")
    matched = keyed_match.match_file(
        session,
        data,
        result,
        accept_valid=accept_valid,
        earlier_import=lambda: _import_id(repo.find_import(session, data.sha256, data.period)),
    )
    if matched is None:
        return result
    record = DesilImport(
        file_name=data.name[:200],
        sha256=data.sha256,
        period=data.period,
        imported_by=actor.name[:80],
        accept_valid=accept_valid,
        **result.record_counts(data),
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
                    "desil": m.row.value,
                    "source": "bps",
                    "import_id": record.id,
                    "row_number": m.row.row,
                    "updated_at": now,
                }
            )
        elif before[1] != m.row.value:
            session.execute(
                update(FamilyDesil)
                .where(col(FamilyDesil.id) == before[0])
                .values(desil=m.row.value, import_id=record.id, row_number=m.row.row, updated_at=now)
            )
            changes.append(
                audit.entry(
                    actor=actor,
                    action="desil.update",
                    entity_type="family_desil",
                    entity_id=str(before[0]),
                    household_id=m.household_id,
                    changes={"desil": [before[1], m.row.value], "import_id": [None, record.id]},
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
    result.written = record.written
    return result


def write_report(path: Path, lines: list[ReportLine]) -> None:
    """The rows not imported (see :func:`keyed_match.write_report`)."""
    keyed_match.write_report(path, lines, value_header="DESIL")


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
                    update(DesilEstimate).where(col(DesilEstimate.id) == before[0]).values(**values)
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
