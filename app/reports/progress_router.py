"""HTTP layer of the trends, the progress checklist and the pilot milestones.

Trends read the monthly snapshots only (``sigap report snapshot``), never live data: a later
edit never rewrites a past month. Snapshots are taken by the CLI (cron), not by a request.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from app.auth.dependencies import SettingsDep, actor_from, require
from app.auth.permissions import Action, Principal
from app.db import SessionDep, as_utc, utcnow
from app.errors import Forbidden, InvalidData, NotAuthenticated, OutOfArea, error_responses
from app.reports import export
from app.reports import progress_repository as repo
from app.reports import progress_service as service
from app.reports.checklist import STATUS_LABELS, Stage
from app.reports.progress_models import PilotMilestone, ReportSnapshot
from app.reports.progress_schemas import (
    AreaChecklist,
    AreaPublic,
    ChecklistResponse,
    MilestoneCreate,
    MilestoneList,
    MilestonePublic,
    SnapshotPublic,
    StageCode,
    StagePublic,
    TrendPoint,
    TrendResponse,
    TrendSeries,
)
from app.reports.snapshots import PERIOD_PATTERN

router = APIRouter(tags=["reports: trends and progress"])
Reader = Annotated[Principal, Depends(require(Action.report_read))]
Recorder = Annotated[Principal, Depends(require(Action.milestone_record))]
_AUTH = (NotAuthenticated, Forbidden)
Period = Annotated[str | None, Query(pattern=PERIOD_PATTERN, description="YYYY-MM")]
Kecamatan = Annotated[str | None, Query(description="Kemendagri code, e.g. 82.71.07")]
Format = Annotated[Literal["json", "csv"], Query(description="csv: one row per series and period")]
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}
}
CSV_HEADER = ("periode/period", "kode/code", "wilayah/area", "program/programme", "nilai/value",
              "aturan/rule_sets")  # fmt: skip


def _snapshot(s: ReportSnapshot, principal: Principal) -> SnapshotPublic:
    city = principal.kelurahan_scope is None  # the totals are the city's: not for an area's reader
    return SnapshotPublic(
        period=s.period,
        taken_at=service.snapshot_time(s),
        taken_by=s.taken_by,
        rule_set_label=s.rule_set_label,
        families=s.families if city else None,
        persons=s.persons if city else None,
        decisions=s.decisions if city else None,
        replaced=s.replaced,
    )


def _trend(t: service.Trend, unit: str, principal: Principal) -> TrendResponse:
    return TrendResponse(
        level="kelurahan" if t.level == "kelurahan" else "kecamatan",
        unit=unit,
        snapshots=[_snapshot(s, principal) for s in t.snapshots],
        series=[
            TrendSeries(
                code=s.code,
                name=s.name,
                programme_id=s.programme_id,
                points=[TrendPoint(period=p, value=v, rule_sets=r) for p, v, r in s.points],
            )
            for s in t.series
        ],
        totals=[TrendPoint(period=p, value=v, rule_sets=r) for p, v, r in t.totals],
    )


def _milestone(m: PilotMilestone) -> MilestonePublic:
    assert m.id is not None
    recorded = as_utc(m.recorded_at)
    assert recorded is not None
    return MilestonePublic(
        id=m.id,
        stage=m.stage,
        kecamatan_code=m.kecamatan_code,
        decided_on=m.decided_on,
        note=m.note,
        recorded_by=m.recorded_by,
        recorded_at=recorded,
    )


def _csv(
    t: TrendResponse, name: str, request: Request, principal: Principal, filters: dict[str, Any]
) -> Response:
    """UTF-8 with BOM (Excel opens it right), headers in both languages. A file leaves Sigap:
    it needs report:export and is audited as every report export is (``report.export``)."""
    if not principal.can(Action.report_export):
        raise Forbidden(f"role {principal.role.value} may not {Action.report_export.value}")
    made = export.Made(
        by=principal.username,
        role=principal.role.value,
        at=utcnow(),
        filters={k: str(v) for k, v in filters.items() if v is not None},
        publish=False,
        k=0,
    )
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for s in t.series:
        for p in s.points:
            writer.writerow((p.period, s.code, s.name, s.programme_id or "", p.value, " ".join(p.rule_sets)))
    # recorded once the file is made; a GET's own transaction is read-only
    with request.app.state.session_factory() as audit_writer:
        export.record_file(
            audit_writer,
            actor=actor_from(principal, request),
            report=f"trend-{name}",
            rows=sum(len(s.points) for s in t.series),
            suppressed=0,
            fmt="csv",
            made=made,
        )
        audit_writer.commit()
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="sigap-tren-{name}-{t.unit}.csv"'},
    )


@router.get("/reports/snapshots", response_model=list[SnapshotPublic], responses=error_responses(*_AUTH))
def list_snapshots(session: SessionDep, principal: Reader) -> list[SnapshotPublic]:
    """The periods snapshotted (``sigap report snapshot``), with the rule set and city totals."""
    return [_snapshot(s, principal) for s in repo.snapshots_between(session, None, None)]


@router.get(
    "/reports/trends/desil",
    response_model=TrendResponse,
    responses={**_CSV, **error_responses(*_AUTH, OutOfArea, InvalidData)},
)
def desil_trend(
    request: Request,
    session: SessionDep,
    principal: Reader,
    kecamatan: Kecamatan = None,
    desil: Annotated[int | None, Query(ge=0, le=10, description="1-10; 0: belum ada desil")] = None,
    source: Annotated[
        Literal["official", "estimate", "none"] | None,
        Query(description="official (BPS), estimate (PMT), none (belum ada desil)"),
    ] = None,
    unit: Literal["families", "persons"] = "families",
    from_: Annotated[str | None, Query(alias="from", pattern=PERIOD_PATTERN, description="YYYY-MM")] = None,
    to: Period = None,
    format: Format = "json",
) -> TrendResponse | Response:
    """Families (or persons) per period, from the snapshots: a series per kecamatan, or per
    kelurahan of ``kecamatan``; filtered by desil and desil source; your area only."""
    trend = service.desil_trend(
        session=session,
        principal=principal,
        kecamatan=kecamatan,
        desil=desil,
        source=source,
        persons=unit == "persons",
        start=from_,
        end=to,
    )
    body = _trend(trend, unit, principal)
    if format != "csv":
        return body
    filters = {"kecamatan": kecamatan, "desil": desil, "source": source, "unit": unit,
               "from": from_, "to": to}  # fmt: skip
    return _csv(body, "desil", request, principal, filters)


@router.get(
    "/reports/trends/programmes",
    response_model=TrendResponse,
    responses={**_CSV, **error_responses(*_AUTH, OutOfArea, InvalidData)},
)
def programme_trend(
    request: Request,
    session: SessionDep,
    principal: Reader,
    programme: Annotated[str | None, Query(description="e.g. pkh; all programmes if absent")] = None,
    kecamatan: Kecamatan = None,
    outcome: Literal["eligible", "not_eligible", "needs_data"] = "eligible",
    unit: Annotated[
        Literal["families", "subjects"],
        Query(description="families, or subjects (persons for person-level programmes)"),
    ] = "families",
    from_: Annotated[str | None, Query(alias="from", pattern=PERIOD_PATTERN, description="YYYY-MM")] = None,
    to: Period = None,
    format: Format = "json",
) -> TrendResponse | Response:
    """Decisions of an outcome (default eligible) per period, from the snapshots: a series per
    programme and kecamatan (or kelurahan of ``kecamatan``), each point naming its rule sets."""
    trend = service.programme_trend(
        session=session,
        principal=principal,
        programme=programme,
        kecamatan=kecamatan,
        outcome=outcome,
        subjects=unit == "subjects",
        start=from_,
        end=to,
    )
    body = _trend(trend, unit, principal)
    if format != "csv":
        return body
    filters = {"programme": programme, "kecamatan": kecamatan, "outcome": outcome, "unit": unit,
               "from": from_, "to": to}  # fmt: skip
    return _csv(body, "program", request, principal, filters)


def _stage(s: Stage) -> StagePublic:
    status_id, status_en = STATUS_LABELS[s.status]
    m = s.milestone
    return StagePublic(
        stage=s.info.code,
        label_id=s.info.label_id,
        label_en=s.info.label_en,
        indicator_id=s.info.indicator_id,
        indicator_en=s.info.indicator_en,
        manual=s.info.manual,
        value=s.value,
        target=s.target,
        share=s.share,
        status=s.status.value,
        status_id=status_id,
        status_en=status_en,
        note_id=s.note_id,
        note_en=s.note_en,
        details=s.details,
        milestone=None
        if m is None or m.recorded_at is None
        else MilestonePublic(
            id=m.id,
            stage=m.stage,
            kecamatan_code=m.kecamatan_code,
            decided_on=m.decided_on,
            note=m.note,
            recorded_by=m.recorded_by,
            recorded_at=m.recorded_at,
        ),
    )


def _area(a: service.Area) -> AreaPublic:
    return AreaPublic.model_validate({"level": a.level, "code": a.code, "name": a.name})


@router.get(
    "/reports/checklist",
    response_model=ChecklistResponse,
    responses=error_responses(*_AUTH, OutOfArea, InvalidData),
)
def checklist(
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    kecamatan: Kecamatan = None,
    kelurahan: Annotated[str | None, Query(description="Kemendagri code, e.g. 82.71.07.1001")] = None,
) -> ChecklistResponse:
    """The pilot's stages for the city, a kecamatan or a kelurahan (your area only), each with
    its indicator, value, target and status, computed from the data; the same per kecamatan
    or per kelurahan below it in ``breakdown``."""
    result = service.build_checklist(
        session=session, settings=settings, principal=principal, kecamatan=kecamatan, kelurahan=kelurahan
    )
    return ChecklistResponse(
        area=_area(result.main.area),
        stages=[_stage(s) for s in result.main.stages],
        generated_at=result.generated_at,
        rule_set=result.rule_set,
        breakdown=[
            AreaChecklist(area=_area(b.area), stages=[_stage(s) for s in b.stages]) for b in result.breakdown
        ],
    )


@router.post(
    "/reports/milestones",
    response_model=MilestonePublic,
    status_code=201,
    responses=error_responses(*_AUTH, InvalidData),
)
def record_milestone(
    data: MilestoneCreate, request: Request, session: SessionDep, principal: Recorder
) -> MilestonePublic:
    """Record a stage that is a meeting or a decision (the announcement of results), with its
    date and a note; city-wide or for one kecamatan. Admin and Dinas Sosial only; audited."""
    row = service.record_milestone(
        session=session,
        stage=data.stage,
        kecamatan_code=data.kecamatan_code,
        decided_on=data.decided_on,
        note=data.note,
        actor=actor_from(principal, request),
    )
    return _milestone(row)


@router.get("/reports/milestones", response_model=MilestoneList, responses=error_responses(*_AUTH))
def list_milestones(
    session: SessionDep, principal: Reader, stage: Annotated[StageCode | None, Query()] = None
) -> MilestoneList:
    """Recorded milestones, newest first: city-wide ones and those of your kecamatan."""
    rows = service.list_milestones(session=session, principal=principal, stage=stage)
    return MilestoneList(data=[_milestone(m) for m in rows], count=len(rows))
