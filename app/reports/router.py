"""HTTP layer of the reports: every report as JSON, CSV or XLSX, published or internal.

``format=csv|xlsx`` needs ``report:export`` and is audited (``report.export``);
``publish=true`` (CSV/XLSX only) suppresses small cells so no family can be singled out.
Supervisors and enumerators see their area only (``principal.kelurahan_scope``).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import Session

from app.appeals.rules import AppealStatus
from app.auth.dependencies import SettingsDep, actor_from, require
from app.auth.permissions import Action, Principal
from app.config import Settings
from app.db import SessionDep, as_utc, utcnow
from app.errors import BadCursor, Forbidden, InvalidData, NotAuthenticated, OutOfArea, error_responses
from app.pagination import decode_cursor, encode_cursor
from app.registry.present import maybe_mask
from app.reports import export, queries, tabulate
from app.reports.export import Format, Made
from app.reports.programmes import FamilyFilter, Kind, check_family_filter, families_page, programme_report
from app.reports.queries import DESIL_KEYS, Period, Source, Unit
from app.reports.schemas import (
    AppealsPublic,
    AppealsRowPublic,
    CoveragePublic,
    CoverageRowPublic,
    FamilyList,
    FamilyPublic,
    MatrixPublic,
    MatrixRowPublic,
    ProgrammeCounts,
    ProgrammeReportPublic,
    ProgrammeRowPublic,
    QualityFigurePublic,
    QualityPublic,
)
from app.reports.tables import Column, Table

router = APIRouter(prefix="/reports", tags=["reports"])
Reader = Annotated[Principal, Depends(require(Action.report_read))]
FamilyReader = Annotated[Principal, Depends(require(Action.household_read))]
_ERRORS = error_responses(NotAuthenticated, Forbidden, OutOfArea, InvalidData)
_FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {export.CSV_TYPE.split(";")[0]: {}, export.XLSX_TYPE: {}},
        "description": "JSON, or with format=csv|xlsx the report as a file (Content-Disposition names it)",
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {**_ERRORS, **_FILES}
_CURSOR_KIND = "report-families"
NOT_REPORTED = [
    "invalid NIKs corrected / NIK tidak valid yang diperbaiki: the registry refuses an invalid NIK at entry "
    "and the audit log keeps identifiers masked, so a correction of an invalid NIK cannot be told apart "
    "from any other NIK change; not reported rather than guessed (docs/reports.md)",
]

FormatQ = Annotated[Format, Query(description="json (default), csv or xlsx (a file; needs report:export)")]
PublishQ = Annotated[
    bool,
    Query(
        description="csv/xlsx for publication: small cells suppressed, no NIK/KK (k = SIGAP_REPORT_MIN_CELL)"
    ),
]
KecamatanQ = Annotated[
    str | None, Query(description="Kemendagri code, e.g. 82.71.07: rows become its kelurahan")
]
FromQ = Annotated[date | None, Query(description="registered on or after (YYYY-MM-DD)")]
ToQ = Annotated[date | None, Query(description="registered on or before (YYYY-MM-DD)")]
PeriodQ = Annotated[str, Query(pattern=r"^\d{4}-Q[1-4]$", description="recipient list period, e.g. 2026-Q1")]


def _period(start: date | None, end: date | None, field: str) -> Period:
    if start is not None and end is not None and end < start:
        raise InvalidData.one(
            field, "after_start", f"{field} sebelum tanggal awal / is before the start date"
        )
    return Period(start, end)


def _file_or_json(
    *,
    request: Request,
    session: Session,
    settings: Settings,
    principal: Principal,
    fmt: Format,
    publish: bool,
    filters: dict[str, Any],
    table: Any,
) -> Response | None:
    """None for JSON; else the audited file (``table`` is called only then)."""
    if fmt == "json":
        if publish:
            raise InvalidData.one(
                "publish", "file_only", "publish hanya untuk format csv/xlsx / only for csv or xlsx"
            )
        return None
    if not principal.can(Action.report_export):
        raise Forbidden(f"role {principal.role.value} may not {Action.report_export.value}")
    k = settings.report_min_cell
    made = Made(
        by=principal.username, role=principal.role.value, at=utcnow(), filters=filters, publish=publish, k=k
    )
    built: Table = export.prepare(table(), publish=publish, k=k)
    export.record_export(session, actor=actor_from(principal, request), table=built, fmt=fmt, made=made)
    return export.file_response(built, fmt, made)


@router.get("/desil-matrix", response_model=MatrixPublic, responses=_RESPONSES)
def desil_matrix(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    kecamatan: KecamatanQ = None,
    unit: Unit = "families",
    source: Annotated[
        Source, Query(description="all (with the official/estimate split), official, estimate")
    ] = "all",
    registered_from: FromQ = None,
    registered_to: ToQ = None,
    format: FormatQ = "json",
    publish: PublishQ = False,
) -> Any:
    """Kecamatan (or the kelurahan of one kecamatan) x desil 1-10 and "belum ada desil", in
    families or persons, with row and column totals; estimates are always told apart."""
    registered = _period(registered_from, registered_to, "registered_to")
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
    response = _file_or_json(
        request=request,
        session=session,
        settings=settings,
        principal=principal,
        fmt=format,
        publish=publish,
        filters=_jsonable(filters),
        table=lambda: tabulate.matrix_table(m),
    )
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


@router.get("/programmes", response_model=ProgrammeReportPublic, responses=_RESPONSES)
def programmes(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    period: PeriodQ,
    programme: Annotated[
        str | None, Query(description="one programme of the active rule set (default: all)")
    ] = None,
    kecamatan: KecamatanQ = None,
    format: FormatQ = "json",
    publish: PublishQ = False,
) -> Any:
    """Per programme, area and desil: eligible (current decisions), receiving (recipient list of
    the period), exclusion and inclusion errors; in the programme's unit and in families."""
    r = programme_report(
        session, scope=principal.kelurahan_scope, period=period, programme=programme, kecamatan=kecamatan
    )
    filters = {"period": period, "programme": programme, "kecamatan": kecamatan}
    response = _file_or_json(
        request=request,
        session=session,
        settings=settings,
        principal=principal,
        fmt=format,
        publish=publish,
        filters=filters,
        table=lambda: tabulate.programme_table(r),
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


@router.get("/coverage", response_model=CoveragePublic, responses=_RESPONSES)
def coverage(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    kecamatan: Annotated[str | None, Query(description="only the kelurahan of this kecamatan")] = None,
    registered_from: FromQ = None,
    registered_to: ToQ = None,
    format: FormatQ = "json",
    publish: PublishQ = False,
) -> Any:
    """Registered canonical families and persons per kelurahan and channel vs the target
    imported with ``sigap report targets import``."""
    registered = _period(registered_from, registered_to, "registered_to")
    rows, sources = queries.coverage(
        session, scope=principal.kelurahan_scope, kecamatan=kecamatan, registered=registered
    )
    filters = {"kecamatan": kecamatan, "registered_from": registered_from, "registered_to": registered_to}
    response = _file_or_json(
        request=request,
        session=session,
        settings=settings,
        principal=principal,
        fmt=format,
        publish=publish,
        filters=_jsonable(filters),
        table=lambda: tabulate.coverage_table(rows, sources),
    )
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


@router.get("/quality", response_model=QualityPublic, responses=_RESPONSES)
def quality(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    kecamatan: Annotated[str | None, Query(description="only this kecamatan")] = None,
    format: FormatQ = "json",
    publish: PublishQ = False,
) -> Any:
    """Verification status of canonical families, duplicate candidates by status, merges,
    sync conflicts by status, Dukcapil checks of canonical members by result."""
    figures = queries.quality(session, scope=principal.kelurahan_scope, kecamatan=kecamatan)
    response = _file_or_json(
        request=request,
        session=session,
        settings=settings,
        principal=principal,
        fmt=format,
        publish=publish,
        filters={"kecamatan": kecamatan},
        table=lambda: _with_notes(tabulate.quality_table(figures), NOT_REPORTED),
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


@router.get("/appeals", response_model=AppealsPublic, responses=_RESPONSES)
def appeals(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    kecamatan: KecamatanQ = None,
    programme: Annotated[str | None, Query(description="appeals about this programme only")] = None,
    filed_from: Annotated[date | None, Query(description="filed on or after (YYYY-MM-DD)")] = None,
    filed_to: Annotated[date | None, Query(description="filed on or before (YYYY-MM-DD)")] = None,
    format: FormatQ = "json",
    publish: PublishQ = False,
) -> Any:
    """Appeals (sanggah) by status per kecamatan (or kelurahan of one kecamatan)."""
    filed = _period(filed_from, filed_to, "filed_to")
    areas, counts = queries.appeals(
        session, scope=principal.kelurahan_scope, kecamatan=kecamatan, programme=programme, filed=filed
    )
    statuses = [s.value for s in AppealStatus]
    level = "kecamatan" if kecamatan is None else "kelurahan"
    filters = {"kecamatan": kecamatan, "programme": programme, "filed_from": filed_from, "filed_to": filed_to}
    response = _file_or_json(
        request=request,
        session=session,
        settings=settings,
        principal=principal,
        fmt=format,
        publish=publish,
        filters=_jsonable(filters),
        table=lambda: tabulate.appeals_table(level, areas, counts, statuses),
    )
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


@router.get("/families", response_model=FamilyList, responses={**_RESPONSES, **error_responses(BadCursor)})
def families(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    _reader: FamilyReader,
    kecamatan: Annotated[str | None, Query(description="Kemendagri code, e.g. 82.71.07")] = None,
    kelurahan: Annotated[str | None, Query(description="Kemendagri code, e.g. 82.71.07.1001")] = None,
    desil: Annotated[str | None, Query(description='"1".."10" or "none" (belum ada desil)')] = None,
    source: Annotated[str | None, Query(pattern="^(official|estimate)$", description="desil source")] = None,
    channel: Annotated[
        str | None, Query(description="registration channel (household.source), e.g. sms")
    ] = None,
    programme: Annotated[
        str | None, Query(description="with kind: a programme of the active rule set")
    ] = None,
    period: Annotated[
        str | None, Query(pattern=r"^\d{4}-Q[1-4]$", description="with kind, e.g. 2026-Q1")
    ] = None,
    kind: Annotated[Kind | None, Query(description="eligible | receiving | exclusion | inclusion")] = None,
    registered_from: FromQ = None,
    registered_to: ToQ = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    format: FormatQ = "json",
    publish: PublishQ = False,
) -> Any:
    """The canonical families behind a figure of the reports (needs household:read), by
    household id; NIK/KK masked unless your role sees them in full. Never publishable."""
    if publish:
        raise InvalidData.one(
            "publish",
            "not_publishable",
            "daftar keluarga tidak untuk publikasi / a list of families is never published",
        )
    f = FamilyFilter(
        kecamatan=kecamatan,
        kelurahan=kelurahan,
        desil=desil,
        source=source,
        channel=channel,
        kind=kind,
        programme=programme,
        period=period,
        registered=_period(registered_from, registered_to, "registered_to"),
    )
    scope = principal.kelurahan_scope
    check_family_filter(session, f, scope)
    if format != "json":
        rows = []
        after: uuid.UUID | None = None
        while True:
            page = families_page(session, f=f, scope=scope, after=after, size=5000)
            rows.extend(page[:5000])
            if len(page) <= 5000:
                break
            after = page[4999].household_id
        filters = {
            "kecamatan": kecamatan,
            "kelurahan": kelurahan,
            "desil": desil,
            "source": source,
            "channel": channel,
            "programme": programme,
            "period": period,
            "kind": kind,
            "registered_from": registered_from,
            "registered_to": registered_to,
        }
        out = _file_or_json(
            request=request,
            session=session,
            settings=settings,
            principal=principal,
            fmt=format,
            publish=False,
            filters=_jsonable(filters),
            table=lambda: _families_table([_family(r, principal) for r in rows]),
        )
        assert out is not None
        return out
    size = min(limit or settings.page_size_default, settings.page_size_max)
    start = None
    if cursor:
        position: list[Any] = decode_cursor(cursor, key=settings.cursor_key, kind=_CURSOR_KIND)
        try:
            start = uuid.UUID(str(position[0]))
        except (ValueError, IndexError):
            raise BadCursor("cursor position is malformed") from None
    rows = families_page(session, f=f, scope=scope, after=start, size=size)
    page = rows[:size]
    next_cursor = (
        encode_cursor([str(page[-1].household_id)], key=settings.cursor_key, kind=_CURSOR_KIND)
        if len(rows) > size and page
        else None
    )
    return FamilyList(data=[_family(r, principal) for r in page], count=len(page), next_cursor=next_cursor)


def _family(r: Any, principal: Principal) -> FamilyPublic:
    return FamilyPublic(
        household_id=r.household_id,
        kecamatan_code=r.kecamatan_code,
        kecamatan_name=r.kecamatan_name,
        kelurahan_code=r.kelurahan_code,
        kelurahan_name=r.kelurahan_name,
        kk_number=maybe_mask(r.kk_number, principal),
        head_name=r.head_name,
        head_nik=maybe_mask(r.head_nik, principal),
        desil=r.desil,
        desil_source=r.desil_source,
        desil_basis=r.desil_basis,
        channel=r.channel,
        verification_status=r.verification_status,
        created_at=as_utc(r.created_at),
    )


def _families_table(rows: list[FamilyPublic]) -> Table:
    keys = list(FamilyPublic.model_fields)
    return Table(
        "families",
        "Daftar keluarga / families",
        [Column(k, k, "text") for k in keys],
        [{k: _cell(getattr(r, k)) for k in keys} for r in rows],
    )


def _cell(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _with_notes(table: Table, notes: list[str]) -> Table:
    table.notes.extend(notes)
    return table


def _jsonable(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in filters.items()}
