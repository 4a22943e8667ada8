"""Tables of the trends and the progress checklist: monthly snapshots and pilot milestones.

- ``report_snapshot``: one row per period (``YYYY-MM``) taken: when, by whom, the rule set in
  force and the totals. Its primary key is what makes ``sigap report snapshot`` idempotent.
- ``report_snapshot_desil``: families and persons per kelurahan x desil x desil source for
  the period, as ``desil_in_use()`` counted them when the snapshot was taken. ``desil`` 0 and
  ``desil_source`` ``none`` are "belum ada desil" (plain values, so the key needs no NULLs).
- ``report_snapshot_programme``: current decisions per kelurahan x programme x outcome, with
  the rule set that made them: trends compare like with like.
- ``pilot_milestone``: a stage that is a meeting or a decision (the announcement), recorded
  by an authorised user with its date and a note; ``kecamatan_code`` NULL = city-wide.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DateTime, Index, Text
from sqlmodel import Field, SQLModel

from app.db import utcnow

_TS = DateTime(timezone=True)
NO_DESIL = 0
NO_SOURCE = "none"


class ReportSnapshot(SQLModel, table=True):
    __tablename__ = "report_snapshot"

    period: str = Field(primary_key=True, max_length=7)  # YYYY-MM
    taken_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    taken_by: str = Field(max_length=80)
    rule_set_label: str | None = Field(default=None, max_length=80)  # the active set, if any
    families: int = 0
    persons: int = 0
    decisions: int = 0
    replaced: int = 0  # how many times the period was retaken (--replace)


class ReportSnapshotDesil(SQLModel, table=True):
    __tablename__ = "report_snapshot_desil"

    period: str = Field(primary_key=True, foreign_key="report_snapshot.period", max_length=7)
    kelurahan_code: str = Field(primary_key=True, foreign_key="kelurahan.code", max_length=13)
    desil: int = Field(primary_key=True)  # 1-10; 0 = belum ada desil
    desil_source: str = Field(primary_key=True, max_length=8)  # official | estimate | none
    families: int
    persons: int


class ReportSnapshotProgramme(SQLModel, table=True):
    __tablename__ = "report_snapshot_programme"

    period: str = Field(primary_key=True, foreign_key="report_snapshot.period", max_length=7)
    kelurahan_code: str = Field(primary_key=True, foreign_key="kelurahan.code", max_length=13)
    programme_id: str = Field(primary_key=True, max_length=40)
    rule_set_label: str = Field(primary_key=True, max_length=80)
    outcome: str = Field(primary_key=True, max_length=14)  # eligible | not_eligible | needs_data
    unit: str = Field(max_length=8)  # family | person
    families: int  # distinct households
    subjects: int  # decisions: families, or persons for person-level programmes


class PilotMilestone(SQLModel, table=True):
    __tablename__ = "pilot_milestone"
    __table_args__ = (Index("ix_pilot_milestone_stage", "stage", "kecamatan_code", "decided_on"),)

    id: int | None = Field(default=None, primary_key=True)
    stage: str = Field(max_length=24)
    kecamatan_code: str | None = Field(default=None, foreign_key="kecamatan.code", max_length=8)
    decided_on: date
    note: str = Field(sa_type=Text)
    recorded_by: str = Field(max_length=80)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
