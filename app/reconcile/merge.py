"""Merging two household records of one family, and undoing it.

(Skeleton: the signatures the worker and the API code against; the body lands next.)
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from app.audit.service import ActorRef
from app.reconcile.store import MatchCandidate, MergeRecord


def merge_candidate(session: Session, candidate: MatchCandidate, *, actor: ActorRef,
                    automatic: bool, survivor_id: uuid.UUID | None = None) -> MergeRecord:
    """Merge the two households of ``candidate`` (kind ``household``) into one; flushes."""
    raise NotImplementedError


def unmerge(session: Session, merge_id: int, *, actor: ActorRef) -> MergeRecord:
    """Restore both households of a merge; flushes."""
    raise NotImplementedError
