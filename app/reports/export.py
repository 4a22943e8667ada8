"""CSV and XLSX files of a report: the table, its notes, and who made it, when, with which
filters (a footer under the table; in XLSX also the workbook properties). Published files
(``publish``) are suppressed first (:func:`app.reports.tables.suppress`). Every file made is
recorded in the audit log (action ``report.export``) by :func:`record_export`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from fastapi import Response
from sqlmodel import Session

from app.audit import service as audit
from app.audit.service import ActorRef
from app.reports.tables import SUPPRESSED, Table, suppress

Format = Literal["json", "csv", "xlsx"]
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Made:
    """Who made a file, when, from which request."""

    by: str
    role: str
    at: datetime
    filters: dict[str, Any]
    publish: bool
    k: int


def _safe(value: object) -> object:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and value != SUPPRESSED:
        return "'" + value
    return value


def footer(table: Table, made: Made) -> list[str]:
    filters = ", ".join(f"{k}={v}" for k, v in sorted(made.filters.items()) if v not in (None, "")) or "-"
    lines = list(table.notes)
    if made.publish:
        lines.append(
            f"Untuk publikasi: sel dengan 1-{made.k - 1} dan sel yang dapat dihitung ulang dari jumlah "
            f"disembunyikan ({SUPPRESSED}); NIK/KK tidak dicantumkan / published: cells below {made.k} "
            f"and cells recomputable from totals are hidden ({SUPPRESSED}); no NIK/KK"
        )
    lines.append(
        f"Dibuat oleh / made by: {made.by} ({made.role}); pada / at: {made.at:%Y-%m-%d %H:%M:%S} UTC; "
        f"filter: {filters}; sumber / source: Sigap"
    )
    return lines


def prepare(table: Table, *, publish: bool, k: int) -> Table:
    return suppress(table, k) if publish else table


def to_csv(table: Table, made: Made) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([table.title])
    writer.writerow([c.label for c in table.columns])
    for row in table.rows:
        writer.writerow([_safe(row.get(c.key)) for c in table.columns])
    writer.writerow([])
    for text in footer(table, made):
        writer.writerow([_safe(text)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: spreadsheet programs read UTF-8


def to_xlsx(table: Table, made: Made) -> bytes:
    import openpyxl  # a large import, only when a workbook is asked for

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title=table.name[:31])
    sheet.append([table.title])
    sheet.append([c.label for c in table.columns])
    for row in table.rows:
        sheet.append([_safe(row.get(c.key)) for c in table.columns])
    sheet.append([])
    lines = footer(table, made)
    for text in lines:
        sheet.append([_safe(text)])
    book.properties.creator = made.by
    book.properties.title = table.title
    book.properties.description = lines[-1]
    book.properties.created = made.at.replace(tzinfo=None)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def file_response(table: Table, fmt: Format, made: Made) -> Response:
    stamp = made.at.strftime("%Y%m%d-%H%M%S")
    name = f"sigap-{table.name}-{stamp}{'-publikasi' if made.publish else ''}.{fmt}"
    if fmt == "csv":
        body, media = to_csv(table, made), CSV_TYPE
    else:
        body, media = to_xlsx(table, made), XLSX_TYPE
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def record_export(session: Session, *, actor: ActorRef, table: Table, fmt: Format, made: Made) -> None:
    record_file(
        session,
        actor=actor,
        report=table.name,
        rows=len(table.rows),
        suppressed=len(table.suppressed),
        fmt=fmt,
        made=made,
    )


def record_file(
    session: Session,
    *,
    actor: ActorRef,
    report: str,
    rows: int,
    suppressed: int,
    fmt: str,
    made: Made,
) -> None:
    """The audit entry of any report file that leaves Sigap (tables and trend CSVs alike)."""
    audit.record(
        session,
        actor=actor,
        action="report.export",
        entity_type="report",
        entity_id=report,
        changes={
            "report": report,
            "filters": {k: v for k, v in made.filters.items() if v is not None},
            "format": fmt,
            "publish": made.publish,
            "min_cell": made.k if made.publish else None,
            "rows": rows,
            "suppressed": suppressed,
        },
    )
