"""HTTP layer of the reports: every report as JSON, CSV or XLSX, published or internal.

``format=csv|xlsx`` needs ``report:export`` and is audited (``report.export``);
``publish=true`` (CSV/XLSX only) suppresses small cells so no family can be singled out.
Supervisors and enumerators see their area only (``principal.kelurahan_scope``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.appeals.rules import AppealStatus
from app.db import SessionDep
from app.reports import queries, tabulate
from app.reports.families_router import router as families_router
from app.reports.http import (
    RESPONSES,
    FromQ,
    KecamatanQ,
    OutputQ,
    PeriodQ,
    Reader,
    ToQ,
    date_range,
    publishable,
)
from app.reports.programmes import programme_report
from app.reports.queries import DESIL_KEYS, Source, Unit
from app.reports.schemas import (
    AppealsPublic,
    AppealsRowPublic,
    CoveragePublic,
    CoverageRowPublic,
    MatrixPublic,
    MatrixRowPublic,
    ProgrammeCounts,
    ProgrammeReportPublic,
    ProgrammeRowPublic,
    QualityFigurePublic,
    QualityPublic,
)
from app.reports.tables import Table

router = APIRouter(prefix="/reports", tags=["reports"])
NOT_REPORTED = [
    "invalid NIKs corrected / NIK tidak valid yang diperbaiki: the registry refuses an invalid NIK at entry "
    "and the audit log keeps identifiers masked, so a correction of an invalid NIK cannot be told apart "
    "from any other NIK change; not reported rather than guessed (docs/reports.md)",
]


@router.get("/desil-matrix", response_model=MatrixPublic, responses=RESPONSES)
def desil_matrix(
    request: Request,
    session: SessionDep,
    principal: Reader,
    out: OutputQ,
    kecamatan: KecamatanQ = None,
    unit: Unit = "families",
    source: Annotated[
        Source, Query(description="all (with the official/estimate split), official, estimate")
    ] = "all",
    registered_from: FromQ = None,
    registered_to: ToQ = None,
) -> Any:
    """Kecamatan (or the kelurahan of one kecamatan) x desil 1-10 and "belum ada desil", in
    families or persons, with row and column totals; estimates are always told apart."""
    registered = date_range(registered_from, registered_to, "registered_to")
    publishable(
        out.publish,
        kecamatan=kecamatan,
        source=source,
        registered_from=registered_from,
        registered_to=registered_to,
    )
    m = queries.desil_matrix(
        session,
        scope=principal.kelurahan_scope,
        kecamatan=kecamatan,
        unit=unit,
        source=source,
        registered=registered,
    )
    filters = {
        "kecamatan": kecamatan,
        "unit": unit,
        "source": source,
        "registered_from": registered_from,
        "registered_to": registered_to,
    }
    response = out.file(principal, filters, lambda: tabulate.matrix_table(m))
    if response is not None:
        return response
    return MatrixPublic(
        level=m.level,
        kecamatan=m.kecamatan,
        unit=m.unit,
        source=m.source,
        columns=list(DESIL_KEYS),
        column_labels=dict(tabulate.DESIL_LABELS),
        rows=[
            MatrixRowPublic(
                code=r.code,
                name=r.name,
                cells=r.cells,
                total=r.total,
                official=r.official,
                estimate=r.estimate,
            )
            for r in m.rows
        ],
        column_totals=m.column_totals,
        total=m.total,
        official_totals=m.official_totals,
        estimate_totals=m.estimate_totals,
    )


@router.get("/programmes", response_model=ProgrammeReportPublic, responses=RESPONSES)
def programmes(
    request: Request,
    session: SessionDep,
    principal: Reader,
    out: OutputQ,
    period: PeriodQ,
    programme: Annotated[
        str | None, Query(description="one programme of the active rule set (default: all)")
    ] = None,
    kecamatan: KecamatanQ = None,
) -> Any:
    """Per programme, area and desil: eligible (current decisions), receiving (recipient list of
    the period), exclusion and inclusion errors; in the programme's unit and in families
    (a published file has the programme's unit only: the families columns would repeat or
    bound its hidden cells)."""
    publishable(out.publish, programme=programme, kecamatan=kecamatan)
    r = programme_report(
        session, scope=principal.kelurahan_scope, period=period, programme=programme, kecamatan=kecamatan
    )
    filters = {"period": period, "programme": programme, "kecamatan": kecamatan}
    response = out.file(
        principal, filters, lambda: tabulate.programme_table(r, families=not out.publish)
    )
    if response is not None:
        return response
    totals: dict[str, dict[str, int]] = {
        p: dict.fromkeys(("eligible", "receiving", "exclusion", "inclusion"), 0) for p in r.programmes
    }
    for row in r.rows:
        for k, v in row.counts.subjects.items():
            totals.setdefault(row.programme, dict.fromkeys(row.counts.subjects, 0))[k] += v
    return ProgrammeReportPublic(
        period=r.period,
        level=r.level,
        programmes=r.programmes,
        rows=[
            ProgrammeRowPublic(
                programme=x.programme,
                unit=x.unit,
                area_code=x.area_code,
                area_name=x.area_name,
                desil=x.desil,
                subjects=ProgrammeCounts(**x.counts.subjects),
                families=ProgrammeCounts(**x.counts.families),
            )
            for x in r.rows
        ],
        totals={p: ProgrammeCounts(**t) for p, t in totals.items()},
    )


@router.get("/coverage", response_model=CoveragePublic, responses=RESPONSES)
def coverage(
    request: Request,
    session: SessionDep,
    principal: Reader,
    out: OutputQ,
    kecamatan: Annotated[str | None, Query(description="only the kelurahan of this kecamatan")] = None,
    registered_from: FromQ = None,
    registered_to: ToQ = None,
) -> Any:
    """Registered canonical families and persons per kelurahan and channel vs the target
    imported with ``sigap report targets import``."""
    registered = date_range(registered_from, registered_to, "registered_to")
    publishable(
        out.publish, kecamatan=kecamatan, registered_from=registered_from, registered_to=registered_to
    )
    rows, sources = queries.coverage(
        session, scope=principal.kelurahan_scope, kecamatan=kecamatan, registered=registered
    )
    filters = {"kecamatan": kecamatan, "registered_from": registered_from, "registered_to": registered_to}
    response = out.file(principal, filters, lambda: tabulate.coverage_table(rows, sources))
    if response is not None:
        return response
    return CoveragePublic(
        sources=sources,
        rows=[
            CoverageRowPublic(
                kecamatan_code=r.kecamatan_code,
                kecamatan_name=r.kecamatan_name,
                kelurahan_code=r.kelurahan_code,
                kelurahan_name=r.kelurahan_name,
                target_families=r.target_families,
                target_persons=r.target_persons,
                families=r.families,
                persons=r.persons,
                by_source=r.by_source,
                percent_families=r.percent_families,
                percent_persons=r.percent_persons,
            )
            for r in rows
        ],
        families=sum(r.families for r in rows),
        persons=sum(r.persons for r in rows),
        target_families=sum(r.target_families or 0 for r in rows),
        target_persons=sum(r.target_persons or 0 for r in rows),
    )


@router.get("/quality", response_model=QualityPublic, responses=RESPONSES)
def quality(
    request: Request,
    session: SessionDep,
    principal: Reader,
    out: OutputQ,
    kecamatan: Annotated[str | None, Query(description="only this kecamatan")] = None,
) -> Any:
    """Verification status of canonical families, duplicate candidates by status, merges,
    sync conflicts by status, Dukcapil checks of canonical members by result."""
    publishable(out.publish, kecamatan=kecamatan)
    figures = queries.quality(session, scope=principal.kelurahan_scope, kecamatan=kecamatan)
    response = out.file(
        principal,
        {"kecamatan": kecamatan},
        lambda: _with_notes(tabulate.quality_table(figures), NOT_REPORTED),
    )
    if response is not None:
        return response
    totals: dict[str, int] = {}
    for f in figures:
        totals[f.indicator] = totals.get(f.indicator, 0) + f.count
    return QualityPublic(
        figures=[
            QualityFigurePublic(
                indicator=f.indicator,
                category=f.category,
                count=f.count,
                share=round(100.0 * f.count / totals[f.indicator], 1) if totals[f.indicator] else None,
            )
            for f in figures
        ],
        not_reported=NOT_REPORTED,
    )


@router.get("/appeals", response_model=AppealsPublic, responses=RESPONSES)
def appeals(
    request: Request,
    session: SessionDep,
    principal: Reader,
    out: OutputQ,
    kecamatan: KecamatanQ = None,
    programme: Annotated[str | None, Query(description="appeals about this programme only")] = None,
    filed_from: Annotated[date | None, Query(description="filed on or after (YYYY-MM-DD)")] = None,
    filed_to: Annotated[date | None, Query(description="filed on or before (YYYY-MM-DD)")] = None,
) -> Any:
    """Appeals (sanggah) by status per kecamatan (or kelurahan of one kecamatan)."""
    filed = date_range(filed_from, filed_to, "filed_to")
    publishable(out.publish, programme=programme, filed_from=filed_from, filed_to=filed_to)
    areas, counts = queries.appeals(
        session, scope=principal.kelurahan_scope, kecamatan=kecamatan, programme=programme, filed=filed
    )
    statuses = [s.value for s in AppealStatus]
    level = "kecamatan" if kecamatan is None else "kelurahan"
    filters = {"kecamatan": kecamatan, "programme": programme, "filed_from": filed_from, "filed_to": filed_to}
    response = out.file(principal, filters, lambda: tabulate.appeals_table(level, areas, counts, statuses))
    if response is not None:
        return response
    rows = [
        AppealsRowPublic(
            code=c,
            name=n,
            by_status={s: counts.get((c, s), 0) for s in statuses},
            total=sum(counts.get((c, s), 0) for s in statuses),
        )
        for c, n in areas
    ]
    totals = {s: sum(r.by_status[s] for r in rows) for s in statuses}
    return AppealsPublic(level=level, statuses=statuses, rows=rows, totals=totals, total=sum(totals.values()))


def _with_notes(table: Table, notes: list[str]) -> Table:
    table.notes.extend(notes)
    return table


router.include_router(families_router)
