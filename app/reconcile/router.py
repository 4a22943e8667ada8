"""HTTP layer of the duplicate review queue (``/reconcile``): parse, call, present."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.auth.dependencies import actor_from, require
from app.auth.permissions import Action, Principal
from app.db import RowId, SessionDep, as_utc
from app.errors import (
    Conflict,
    Forbidden,
    InvalidData,
    NotAuthenticated,
    NotFound,
    OutOfArea,
    error_responses,
)
from app.reconcile import review
from app.reconcile.store import MatchCandidate, MergeRecord
from app.registry import present
from app.registry.schemas import HouseholdPublic

router = APIRouter(prefix="/reconcile", tags=["reconciliation"])
Reviewer = Annotated[Principal, Depends(require(Action.dedup_review))]
_READ = error_responses(NotAuthenticated, Forbidden, NotFound, OutOfArea)
_WRITE = error_responses(NotAuthenticated, Forbidden, NotFound, OutOfArea, Conflict, InvalidData)
CandidateStatus = Literal["pending", "merged", "distinct", "superseded"]


class Contribution(BaseModel):
    feature: str
    level: str
    weight: float = Field(description="log2(m/u): how much this evidence moved the match weight")
    reason: str
    reason_id: str = Field(description="the reason in Bahasa Indonesia")


class PersonLink(BaseModel):
    a: uuid.UUID = Field(description="member of household_a")
    b: uuid.UUID = Field(description="member of household_b")
    weight: float
    probability: float
    decision: str
    contributions: list[Contribution]


class CandidateReason(BaseModel):
    code: str = Field(description="e.g. heads_linked, same_kk, members_linked")
    reason: str
    reason_id: str = Field(description="the reason in Bahasa Indonesia")


class CandidateSummary(BaseModel):
    id: int
    kind: Literal["household", "member"] = Field(
        description="household: the same family registered twice; member: one person in two families")
    status: CandidateStatus
    decision: Literal["auto_merge", "review"]
    weight: float
    household_a: uuid.UUID
    household_b: uuid.UUID
    kecamatan_code: str
    kecamatan_b: str
    source: str
    created_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    note: str | None
    merge_id: int | None
    reasons: list[CandidateReason] = Field(description="why the two households were proposed")


class CandidateList(BaseModel):
    data: list[CandidateSummary]
    count: int
    has_more: bool


class CandidateDetail(CandidateSummary):
    """Both records side by side, and every reason of every person link."""

    links: list[PersonLink]
    households: list[HouseholdPublic] = Field(
        description="household_a then household_b as they are now; only those in your area")
    outside_area: list[uuid.UUID] = Field(
        description="a household of the pair outside your area: not shown (a city-wide admin decides)")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["merge", "distinct"] = Field(
        description="merge: one family (kind household only); distinct: two families, never proposed again")
    survivor_id: uuid.UUID | None = Field(
        default=None, description="the household that survives a merge (default: by the survivorship rules)")
    note: str | None = Field(default=None, max_length=500)


class UndoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500)


class MergePublic(BaseModel):
    id: int
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    candidate_id: int | None
    automatic: bool
    member_pairs: list[list[uuid.UUID]] = Field(description="[survivor member, merged member] joined")
    changes: list[dict[str, Any]] = Field(
        description="every value written (old -> new, the rule) and every value not taken ('other')")
    created_by: int | None
    created_at: datetime
    undone_at: datetime | None
    undone_by: int | None
    undo_kept: list[dict[str, Any]] | None = Field(
        description="after an undo: the values left as they were because they were edited since")


class DecisionResult(BaseModel):
    candidate: CandidateSummary
    merge: MergePublic | None


def _summary(c: MatchCandidate) -> dict[str, Any]:
    data = c.model_dump(exclude={"links", "updated_at"})
    data.update(created_at=as_utc(c.created_at), decided_at=as_utc(c.decided_at))
    return data


def _masked(changes: list[dict[str, Any]], principal: Principal) -> list[dict[str, Any]]:
    """NIK, KK and phone masked, birth dates cut to the year, for roles without full identifiers."""
    out = []
    for c in changes:
        values = [c.get("old"), c.get("new"), c.get("other"), c.get("current")]
        old, new, other, current = present.mask_changes({c["field"]: values}, principal)[c["field"]]
        out.append({**c, "old": old, "new": new, **({"other": other} if "other" in c else {}),
                    **({"current": current} if "current" in c else {})})
    return out


def _merge_public(record: MergeRecord, principal: Principal) -> MergePublic:
    data = record.model_dump(exclude={"before"})
    data.update(created_at=as_utc(record.created_at), undone_at=as_utc(record.undone_at),
                changes=_masked(record.changes, principal),
                undo_kept=_masked(record.undo_kept, principal) if record.undo_kept is not None else None)
    return MergePublic.model_validate(data)


@router.get("/candidates", response_model=CandidateList, responses=_READ)
def list_candidates(session: SessionDep, principal: Reviewer,
                    status_: Annotated[CandidateStatus | None, Query(alias="status")] = "pending",
                    kind: Annotated[Literal["household", "member"] | None, Query()] = None,
                    kecamatan: Annotated[str | None, Query(max_length=8)] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> CandidateList:
    """Duplicate candidates touching your area, strongest first (default: the pending queue)."""
    rows, more = review.list_candidates(session, principal, status=status_, kind=kind,
                                        kecamatan=kecamatan, limit=limit, offset=offset)
    return CandidateList(data=[CandidateSummary.model_validate(_summary(c)) for c in rows],
                         count=len(rows), has_more=more)


@router.get("/candidates/{candidate_id}", response_model=CandidateDetail, responses=_READ)
def get_candidate(candidate_id: RowId, session: SessionDep, principal: Reviewer) -> CandidateDetail:
    """Both households side by side with every reason the engine linked them for."""
    candidate, a, b = review.get_candidate(session, principal, candidate_id)
    return CandidateDetail.model_validate({
        **_summary(candidate), "links": candidate.links,
        "households": [present.one_household(session, h, principal) for h in (a, b)
                       if principal.covers(h.kelurahan_code)],
        "outside_area": [h.id for h in (a, b) if not principal.covers(h.kelurahan_code)]})


@router.post("/candidates/{candidate_id}/decision", response_model=DecisionResult, responses=_WRITE)
def decide(candidate_id: RowId, data: Decision, session: SessionDep, principal: Reviewer,
           request: Request) -> DecisionResult:
    """Merge the pair into one family, or mark it as two families (never proposed again)."""
    candidate, record = review.decide(session, principal, actor_from(principal, request), candidate_id,
                                      decision=data.decision, survivor_id=data.survivor_id, note=data.note)
    return DecisionResult(candidate=CandidateSummary.model_validate(_summary(candidate)),
                          merge=_merge_public(record, principal) if record else None)


@router.get("/merges/{merge_id}", response_model=MergePublic, responses=_READ)
def get_merge(merge_id: RowId, session: SessionDep, principal: Reviewer) -> MergePublic:
    """What a merge did: every value written and every value not taken."""
    return _merge_public(review.get_merge(session, principal, merge_id), principal)


@router.post("/merges/{merge_id}/undo", response_model=MergePublic, responses=_WRITE)
def undo_merge(merge_id: RowId, data: UndoRequest, session: SessionDep, principal: Reviewer,
               request: Request) -> MergePublic:
    """Unmerge: both households and their members come back as they were before the merge
    (values edited since are kept and listed in ``undo_kept``); the pair is marked distinct."""
    record = review.undo(session, principal, actor_from(principal, request), merge_id, data.note)
    return _merge_public(record, principal)
