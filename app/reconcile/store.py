"""The database side of reconciliation: blocking keys, candidates, merges, the worker's cursor.

- ``match_key``: the blocking keys of every canonical member (``blocking.BlockingIndex.keys``
  and the NIK typo keys), so the candidates of one new household are a few indexed lookups
  in the database, and the batch run can join them there.
- ``match_candidate``: a pair the engine proposed (household level, with the person links
  behind it, or a member found in two families), its weight, its decision and every reason;
  the supervisors' review queue is its ``pending`` rows.
- ``merge_record``: every merge, with the complete state of both households before it, so
  that an unmerge restores both records and nothing is ever dropped without history (those
  states and the changes hold NIKs: sealed, see app/pii.py).
- ``dukcapil_check``: the last identity check of each member against Dukcapil.
- ``reconcile_state``: small named values (the worker's change-feed cursor, the model a batch
  run estimated, the last run's summary).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import utcnow
from app.pii import SealedJSON

_TS = DateTime(timezone=True)


class MatchKey(SQLModel, table=True):
    __tablename__ = "match_key"
    __table_args__ = (Index("ix_match_key_lookup", "rule", "key"),)

    member_id: uuid.UUID = Field(primary_key=True)
    rule: str = Field(primary_key=True, max_length=12)
    key: str = Field(primary_key=True, max_length=40)
    household_id: uuid.UUID = Field(index=True)


class MatchCandidate(SQLModel, table=True):
    """A proposed link. ``household_a`` < ``household_b`` (as strings); one row per pair."""

    __tablename__ = "match_candidate"
    __table_args__ = (
        UniqueConstraint("kind", "household_a", "household_b", name="uq_match_candidate_pair"),
        Index("ix_match_candidate_queue", "status", "kecamatan_code", "weight"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # household (same family twice) | member (one person in two families)
    kind: str = Field(max_length=12)
    household_a: uuid.UUID = Field(index=True)
    household_b: uuid.UUID = Field(index=True)
    kecamatan_code: str = Field(max_length=8)  # of household_a; supervisors of either see it
    kecamatan_b: str = Field(max_length=8)
    weight: float
    # auto_merge | review
    decision: str = Field(max_length=12)
    # pending | merged | distinct (a person decided) | superseded (a record changed or went)
    status: str = Field(default="pending", max_length=12)
    # [{"a": member id, "b": member id, "weight", "probability", "decision",
    #   "contributions": [{feature, level, weight, reason, reason_id}]}]
    links: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # why the pair is a household or a member candidate, and why not automatic:
    # [{"code", "reason", "reason_id"}] (app/reconcile/households.py)
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    source: str = Field(max_length=12)  # batch | incremental
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    decided_by: int | None = Field(default=None, foreign_key="app_user.id")
    decided_at: datetime | None = Field(default=None, sa_type=_TS)
    note: str | None = Field(default=None, max_length=500)
    merge_id: int | None = None


class MergeRecord(SQLModel, table=True):
    __tablename__ = "merge_record"

    id: int | None = Field(default=None, primary_key=True)
    survivor_id: uuid.UUID = Field(foreign_key="household.id", index=True)
    merged_id: uuid.UUID = Field(foreign_key="household.id", index=True)
    candidate_id: int | None = Field(default=None, foreign_key="match_candidate.id")
    # {"households": {id: state}, "members": {id: state}} before the merge
    before: dict[str, Any] = Field(default_factory=dict,
                                   sa_column=Column(SealedJSON("merge_record.before"), nullable=False))
    # what the merge wrote: [{"entity", "id", "field", "old", "new", "from", "rule"}]
    changes: list[dict[str, Any]] = Field(default_factory=list,
                                         sa_column=Column(SealedJSON("merge_record.changes"), nullable=False))
    # [[survivor member, merged member]] joined as one person
    member_pairs: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    automatic: bool = False
    created_by: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    undone_at: datetime | None = Field(default=None, sa_type=_TS)
    undone_by: int | None = Field(default=None, foreign_key="app_user.id")
    # fields the unmerge left as they were because they had been edited since the merge
    undo_kept: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(SealedJSON("merge_record.undo_kept"), nullable=True))


class DukcapilCheck(SQLModel, table=True):
    __tablename__ = "dukcapil_check"

    member_id: uuid.UUID = Field(foreign_key="member.id", primary_key=True)
    household_id: uuid.UUID = Field(foreign_key="household.id", index=True)
    # matched | nik_unknown | name_differs | birth_date_differs | sex_differs | deceased | no_nik
    status: str = Field(max_length=20)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source: str = Field(max_length=80)
    checked_at: datetime = Field(default_factory=utcnow, sa_type=_TS)


class ReconcileState(SQLModel, table=True):
    __tablename__ = "reconcile_state"

    name: str = Field(primary_key=True, max_length=32)
    number: int | None = Field(default=None, sa_type=BigInteger)
    value: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
