"""HTTP layer of eligibility: decisions with reasons, desil history, rule sets (read only).

A scoring run is started by ``sigap score run`` (cron) or ``POST /score-runs``: the request
claims the run (one at a time) and answers 202 at once; the work goes on after the response
(a background task with a session of its own), its progress readable at ``GET /score-runs/{id}``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, status
from sqlmodel import Session

from app.appeals.service import today_in_ternate
from app.auth.dependencies import SettingsDep, actor_from, require
from app.auth.permissions import Action, Principal
from app.db import RowId, SessionDep, as_utc
from app.eligibility import recipient_service, rules_service, scoring
from app.eligibility import repository as repo
from app.eligibility.decide import OUTCOME_LABELS
from app.eligibility.facts import NO_DESIL, DesilInfo
from app.eligibility.recipient_repository import ErrorRow
from app.eligibility.schemas import (
    DecisionList,
    DecisionPublic,
    DesilHistory,
    DesilPublic,
    EligibilityErrorList,
    EligibilityErrorPublic,
    EstimatePublic,
    HouseholdEligibility,
    KecamatanErrorCount,
    OfficialDesilPublic,
    ReasonPublic,
    RuleSetPublic,
    ScoreRunPublic,
    ScoreRunRequest,
)
from app.eligibility.store import EligibilityDecision, ScoreRun
from app.errors import (
    BadCursor,
    Forbidden,
    InvalidData,
    NotAuthenticated,
    NotFound,
    OutOfArea,
    error_responses,
)
from app.pagination import decode_cursor, encode_cursor
from app.registry import service as registry

router = APIRouter(tags=["eligibility"])
Reader = Annotated[Principal, Depends(require(Action.eligibility_read))]
Scorer = Annotated[Principal, Depends(require(Action.score_run))]
_AUTH = (NotAuthenticated, Forbidden)
_CURSOR_KIND = "eligibility-decisions"
Outcome = Literal["eligible", "not_eligible", "needs_data"]
ErrorKindQuery = Literal["exclusion", "inclusion"]


def _desil(info: DesilInfo) -> DesilPublic:
    return DesilPublic(
        desil=info.desil,
        source=info.source,
        period=info.period,
        model_version=info.model_version,
        estimate=info.source == "estimate",
        label_id=info.label("id"),
        label_en=info.label("en"),
    )


def _decision_desil(d: EligibilityDecision | ErrorRow) -> DesilInfo:
    if d.desil is None:
        return NO_DESIL
    if d.desil_source == "official":
        return DesilInfo.official(d.desil, d.desil_period or "")
    return DesilInfo.estimate(d.desil, getattr(d, "desil_model", None) or "")


def _decision(d: EligibilityDecision) -> DecisionPublic:
    assert d.id is not None
    reasons = [ReasonPublic(**r) for r in d.reasons]
    return DecisionPublic(
        id=d.id,
        household_id=d.household_id,
        member_id=d.member_id,
        programme_id=d.programme_id,
        unit=d.unit,
        outcome=d.outcome,
        outcome_id=OUTCOME_LABELS.get(d.outcome, (d.outcome, d.outcome))[0],
        reasons=reasons,
        text_id="; ".join(r.text_id for r in reasons),
        text_en="; ".join(r.text_en for r in reasons),
        missing=d.missing,
        inputs=d.inputs,
        desil=_desil(_decision_desil(d)),
        rule_set=d.ruleset_label,
        rule_set_digest=d.ruleset_digest,
        reference_date=d.reference_date,
        run_id=d.run_id,
        decided_at=as_utc(d.decided_at),
    )


def _household(session: Session, household_id: uuid.UUID, principal: Principal) -> uuid.UUID:
    return registry.load_household(session=session, household_id=household_id, principal=principal).id


@router.get(
    "/households/{household_id}/eligibility",
    response_model=HouseholdEligibility,
    responses=error_responses(*_AUTH, OutOfArea, NotFound),
)
def household_eligibility(
    household_id: uuid.UUID, session: SessionDep, principal: Reader
) -> HouseholdEligibility:
    """The family's current decisions, each with its reasons in Bahasa Indonesia and English."""
    hid = _household(session, household_id, principal)
    active = repo.active_rule_set(session)
    return HouseholdEligibility(
        household_id=hid,
        desil=_desil(repo.latest_desil(session, [hid]).get(hid, NO_DESIL)),
        rule_set=active.label if active else None,
        decisions=[_decision(d) for d in repo.household_decisions(session, hid)],
    )


@router.get(
    "/households/{household_id}/desil",
    response_model=DesilHistory,
    responses=error_responses(*_AUTH, OutOfArea, NotFound),
)
def household_desil(household_id: uuid.UUID, session: SessionDep, principal: Reader) -> DesilHistory:
    """Official desil by BPS period and PMT estimates (always labelled ESTIMATE) by model."""
    hid = _household(session, household_id, principal)
    official, estimates = repo.desil_history(session, hid)
    return DesilHistory(
        household_id=hid,
        current=_desil(repo.latest_desil(session, [hid]).get(hid, NO_DESIL)),
        official=[
            OfficialDesilPublic(
                period=f.period,
                desil=f.desil,
                import_id=f.import_id,
                file_name=i.file_name,
                imported_at=as_utc(i.imported_at),
            )
            for f, i in official
        ],
        estimates=[
            EstimatePublic(
                model_version=e.model_version,
                desil=e.desil,
                predicted_pc_spending=e.predicted_pc_spending,
                missing=e.missing,
                contributions=e.contributions,
                computed_at=as_utc(e.computed_at),
            )
            for e in estimates
        ],
    )


@router.get(
    "/eligibility/decisions",
    response_model=DecisionList,
    responses=error_responses(*_AUTH, InvalidData, BadCursor),
)
def list_decisions(
    settings: SettingsDep,
    session: SessionDep,
    principal: Reader,
    programme: Annotated[str | None, Query(description="e.g. pkh, sembako, pbi_jk")] = None,
    outcome: Outcome | None = None,
    kecamatan: Annotated[str | None, Query(description="Kemendagri code, e.g. 82.71.07")] = None,
    kelurahan: Annotated[str | None, Query(description="Kemendagri code, e.g. 82.71.07.1001")] = None,
    desil: Annotated[int | None, Query(ge=1, le=10)] = None,
    no_desil: Annotated[
        bool, Query(description="only decisions made without a desil (belum ada desil)")
    ] = False,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> DecisionList:
    """Current decisions in your area, filtered; paged with the cursor."""
    size = min(limit or settings.page_size_default, settings.page_size_max)
    after = None
    if cursor:
        position: list[Any] = decode_cursor(cursor, key=settings.cursor_key, kind=_CURSOR_KIND)
        if not position or not isinstance(position[0], int):
            raise BadCursor("cursor position is malformed")
        after = position[0]
    rows = repo.decisions_page(
        session,
        programme=programme,
        outcome=outcome,
        kecamatan=kecamatan,
        kelurahan=kelurahan,
        desil=desil,
        no_desil=no_desil,
        scope=principal.kelurahan_scope,
        after=after,
        size=size,
    )
    more = len(rows) > size
    page = [d for d, _kel in rows[:size]]
    next_cursor = (
        encode_cursor([page[-1].id], key=settings.cursor_key, kind=_CURSOR_KIND) if more and page else None
    )
    return DecisionList(data=[_decision(d) for d in page], count=len(page), next_cursor=next_cursor)


@router.get("/rule-sets", response_model=list[RuleSetPublic], responses=error_responses(*_AUTH))
def list_rule_sets(session: SessionDep, principal: Reader) -> list[RuleSetPublic]:
    """Every stored rule set (draft, active, retired); load and activate them with ``sigap rules``."""
    return [
        RuleSetPublic(
            id=r.id or 0,
            label=r.label,
            version=r.version,
            digest=r.digest,
            status=r.status,
            created_by=r.created_by,
            created_at=as_utc(r.created_at),
            activated_by=r.activated_by,
            activated_at=as_utc(r.activated_at) if r.activated_at else None,
        )
        for r in repo.rule_sets(session)
    ]


def _error(e: ErrorRow) -> EligibilityErrorPublic:
    text_id, text_en = recipient_service.reason_texts(e)
    return EligibilityErrorPublic(
        kind=e.kind,
        household_id=e.household_id,
        member_id=e.member_id,
        outcome=e.outcome,
        outcome_id=OUTCOME_LABELS.get(e.outcome, (e.outcome, e.outcome))[0] if e.outcome else None,
        reasons=[ReasonPublic(**r) for r in e.reasons] if e.outcome else [],
        text_id=text_id,
        text_en=text_en,
        desil=_desil(_decision_desil(e)),
        decision_id=e.decision_id,
        kecamatan_code=e.kecamatan_code,
        kecamatan_name=e.kecamatan_name,
        kelurahan_code=e.kelurahan_code,
        kelurahan_name=e.kelurahan_name,
    )


@router.get(
    "/eligibility/errors",
    response_model=EligibilityErrorList,
    responses=error_responses(*_AUTH, InvalidData, BadCursor),
)
def list_errors(
    settings: SettingsDep,
    session: SessionDep,
    principal: Reader,
    programme: Annotated[str, Query(description="a programme of the active rule set, e.g. pkh")],
    period: Annotated[
        str, Query(pattern=r"^\d{4}-Q[1-4]$", description="recipient list period, e.g. 2026-Q1")
    ],
    kind: Annotated[
        ErrorKindQuery,
        Query(description="exclusion: eligible, not receiving; inclusion: receiving, not eligible"),
    ],
    kecamatan: Annotated[str | None, Query(description="Kemendagri code, e.g. 82.71.07")] = None,
    kelurahan: Annotated[str | None, Query(description="Kemendagri code, e.g. 82.71.07.1001")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> EligibilityErrorList:
    """Exclusion or inclusion errors of a programme and period in your area, with the current
    decision's reasons, by kecamatan and kelurahan; paged, with counts per kecamatan."""
    recipient_service.programme_unit(session=session, programme_id=programme)
    size = min(limit or settings.page_size_default, settings.page_size_max)
    cursor_kind = f"eligibility-errors-{kind}"
    after = None
    if cursor:
        position: list[Any] = decode_cursor(cursor, key=settings.cursor_key, kind=cursor_kind)
        if not position or not isinstance(position[0], int):
            raise BadCursor("cursor position is malformed")
        after = position[0]
    scope = principal.kelurahan_scope
    rows = recipient_service.list_errors(
        session=session,
        kind=kind,
        programme_id=programme,
        period=period,
        kecamatan=kecamatan,
        kelurahan=kelurahan,
        scope=scope,
        after=after,
        size=size,
    )
    page = rows[:size]
    more = len(rows) > size
    next_cursor = encode_cursor([page[-1].key], key=settings.cursor_key, kind=cursor_kind) if more else None
    counts = recipient_service.error_summary(
        session=session,
        programme_id=programme,
        period=period,
        kinds=(kind,),
        kecamatan=kecamatan,
        kelurahan=kelurahan,
        scope=scope,
    )
    return EligibilityErrorList(
        data=[_error(e) for e in page],
        count=len(page),
        next_cursor=next_cursor,
        by_kecamatan=[
            KecamatanErrorCount(
                kecamatan_code=a.kecamatan_code,
                kecamatan_name=a.kecamatan_name,
                errors=a.exclusion if kind == "exclusion" else a.inclusion,
            )
            for a in counts
        ],
    )


def _run(r: ScoreRun) -> ScoreRunPublic:
    return ScoreRunPublic(
        id=r.id or 0,
        rule_set=r.ruleset_label,
        reference_date=r.reference_date,
        status=r.status,
        started_by=r.started_by,
        started_at=as_utc(r.started_at),
        heartbeat_at=as_utc(r.heartbeat_at),
        finished_at=as_utc(r.finished_at) if r.finished_at else None,
        error=r.error,
        planned=r.planned,
        families=r.families,
        persons=r.persons,
        written=r.written,
        unchanged=r.unchanged,
        retired=r.retired,
        counts=r.counts,
    )


@router.get("/score-runs", response_model=list[ScoreRunPublic], responses=error_responses(*_AUTH))
def list_score_runs(
    session: SessionDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=200, description="the latest runs first")] = 20,
) -> list[ScoreRunPublic]:
    """Scoring runs, the latest first, with their status and progress."""
    return [_run(r) for r in repo.recent_runs(session, limit=limit)]


@router.get(
    "/score-runs/{run_id}", response_model=ScoreRunPublic, responses=error_responses(*_AUTH, NotFound)
)
def get_score_run(run_id: RowId, session: SessionDep, principal: Reader) -> ScoreRunPublic:
    """One run: status, progress (``families`` of ``planned``), counts when finished."""
    run = repo.get_run(session, run_id)
    if run is None:
        raise NotFound(f"Penilaian #{run_id} tidak ada / no scoring run #{run_id}")
    return _run(run)


@router.post(
    "/score-runs",
    response_model=ScoreRunPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(*_AUTH, scoring.ScoreRunBusy, InvalidData),
)
def start_score_run(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    principal: Scorer,
    data: ScoreRunRequest | None = None,
) -> ScoreRunPublic:
    """Start a scoring run of every canonical family with the active rule set (idempotent:
    unchanged decisions are not rewritten). Answers 202 with the run at once; 409
    ``score_run_busy`` while another run is alive (from here or ``sigap score run``)."""
    actor = actor_from(principal, request)
    record = rules_service.ensure_active(session=session, actor=actor)
    if record is None:
        raise InvalidData.one(
            "rule_set", "active", "Tidak ada aturan program yang aktif / no active rule set (sigap rules)"
        )
    day = (data.reference_date if data else None) or today_in_ternate()
    run = scoring.claim_run(session=session, record=record, reference_date=day, actor=actor)
    session.commit()  # the claim is visible before the work starts
    assert run.id is not None
    background.add_task(scoring.run_claimed, request.app.state.session_factory, run.id, actor)
    return _run(run)
