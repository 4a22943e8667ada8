"""The supervisors' duplicate review queue: list, look side by side, decide, undo.

A supervisor sees a candidate when either household is in their area and may decide it only
when both are (a family split across two kecamatan is decided by a city-wide admin).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import ActorRef
from app.auth.permissions import Principal
from app.db import utcnow
from app.errors import Conflict, NotFound, OutOfArea
from app.reconcile import merge
from app.reconcile.store import MatchCandidate, MergeRecord
from app.registry.models import Household


def _scope_filter(principal: Principal) -> Any:
    if principal.kelurahan_scope is None:
        return None
    in_area = select(Household.id).where(col(Household.kelurahan_code).in_(sorted(principal.kelurahan_scope)))
    return or_(col(MatchCandidate.household_a).in_(in_area), col(MatchCandidate.household_b).in_(in_area))


def list_candidates(session: Session, principal: Principal, *, status: str | None, kind: str | None,
                    kecamatan: str | None, limit: int, offset: int) -> tuple[list[MatchCandidate], bool]:
    """Strongest first: the pairs most likely to be one family are the quickest to decide."""
    stmt = select(MatchCandidate)
    scope = _scope_filter(principal)
    if scope is not None:
        stmt = stmt.where(scope)
    if status:
        stmt = stmt.where(MatchCandidate.status == status)
    if kind:
        stmt = stmt.where(MatchCandidate.kind == kind)
    if kecamatan:
        stmt = stmt.where(or_(col(MatchCandidate.kecamatan_code) == kecamatan,
                              col(MatchCandidate.kecamatan_b) == kecamatan))
    rows = session.exec(stmt.order_by(col(MatchCandidate.weight).desc(), col(MatchCandidate.id))
                        .offset(offset).limit(limit + 1)).all()
    return list(rows[:limit]), len(rows) > limit


def households_of(session: Session, candidate: MatchCandidate) -> tuple[Household, Household]:
    a, b = session.get(Household, candidate.household_a), session.get(Household, candidate.household_b)
    if a is None or b is None:  # the foreign keys are not declared: households are never deleted
        raise NotFound(f"a household of candidate {candidate.id} is missing")
    return a, b


def get_candidate(session: Session, principal: Principal, candidate_id: int
                  ) -> tuple[MatchCandidate, Household, Household]:
    candidate = session.exec(select(MatchCandidate).where(MatchCandidate.id == candidate_id)).first()
    if candidate is None:
        raise NotFound(f"candidate {candidate_id} not found")
    a, b = households_of(session, candidate)
    if not (principal.covers(a.kelurahan_code) or principal.covers(b.kelurahan_code)):
        raise OutOfArea("this candidate is outside your area")
    return candidate, a, b


def _both_in_area(principal: Principal, *households: Household) -> None:
    outside = [h.kelurahan_code for h in households if not principal.covers(h.kelurahan_code)]
    if outside:
        raise OutOfArea("one of the two households is outside your area; a city-wide admin decides "
                        "this pair", detail={"kelurahan_code": outside})


def decide(session: Session, principal: Principal, actor: ActorRef, candidate_id: int, *,
           decision: str, survivor_id: uuid.UUID | None, note: str | None
           ) -> tuple[MatchCandidate, MergeRecord | None]:
    # no lock yet: a merge locks the two households, then the candidate (merge.merge_candidate),
    # the order every writer keeps; "distinct" locks the candidate alone
    candidate, a, b = get_candidate(session, principal, candidate_id)
    _both_in_area(principal, a, b)
    if decision != "merge":
        session.refresh(candidate, with_for_update=True)
    if candidate.status != "pending":
        raise Conflict(f"candidate {candidate_id} was already decided: {candidate.status}",
                       detail={"status": candidate.status})
    if decision == "merge":
        if candidate.kind != "household":
            raise Conflict("a person found in two families is resolved by editing the families "
                           "(remove the member from the wrong one), not by merging them",
                           detail={"kind": candidate.kind})
        record = merge.merge_candidate(session, candidate, actor=actor, automatic=False,
                                       survivor_id=survivor_id)
        candidate.note = note
        session.add(candidate)
        return candidate, record
    now = utcnow()
    candidate.status, candidate.note, candidate.updated_at = "distinct", note, now
    candidate.decided_by, candidate.decided_at = actor.user_id, now
    session.add(candidate)
    audit.write(session, [audit.entry(actor=actor, action="not_duplicate", entity_type="household",
                                      entity_id=str(h.id), household_id=h.id, version=h.version,
                                      changes={"candidate_id": [None, candidate.id],
                                               "other_household": [None, str(o.id)]})
                          for h, o in ((a, b), (b, a))])
    session.flush()
    return candidate, None


def get_merge(session: Session, principal: Principal, merge_id: int) -> MergeRecord:
    record = session.get(MergeRecord, merge_id)
    if record is None:
        raise NotFound(f"merge {merge_id} not found")
    # the record holds both households' values: both must be in the caller's area
    households = [session.get(Household, h) for h in (record.survivor_id, record.merged_id)]
    if any(h is None or not principal.covers(h.kelurahan_code) for h in households):
        raise OutOfArea("this merge is outside your area")
    return record


def undo(session: Session, principal: Principal, actor: ActorRef, merge_id: int,
         note: str | None) -> MergeRecord:
    get_merge(session, principal, merge_id)  # both households in the caller's area
    return merge.unmerge(session, merge_id, actor=actor, note=note)
