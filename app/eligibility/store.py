"""The database side of eligibility: desil (official and estimated), rule sets, runs, decisions.

- ``desil_import``: every official desil file imported (name, sha256, period, who, counts).
  ``(sha256, period)`` is unique: the same file for the same period is imported once.
- ``family_desil``: the official desil of a household for a BPS period (``2026-Q1``), one row
  per (household, period); earlier periods stay (the history). A corrected file for the same
  period replaces the value and the import id; the old value is in the audit log.
- ``desil_estimate``: the PMT ESTIMATE of a household, one row per (household, model version),
  replaced when a re-estimate differs; a new model version adds rows beside the old.
- ``rule_set``: every programme rule file loaded (its text, digest, ``id@version`` label);
  ``draft`` -> ``active`` -> ``retired``; a partial unique index allows ONE active set. Only
  files that validated are ever stored, so an invalid set cannot become active.
- ``score_run``: one scoring run (rule set, reference date, counts, status).
- ``eligibility_decision``: a decision with its reasons (both languages), inputs, desil and
  provenance, rule set and run. History is kept in the same table by a ``current`` flag: one
  current row per (household, subject, programme), enforced by a partial unique index; a row
  is superseded (``current`` false, ``superseded_at``/``superseded_by_run``) only when a new
  decision's fingerprint differs, so re-running with unchanged data and rules writes nothing.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.db import utcnow

_TS = DateTime(timezone=True)
FAMILY_SUBJECT = "family"  # eligibility_decision.subject of a family-level decision


class DesilImport(SQLModel, table=True):
    __tablename__ = "desil_import"
    __table_args__ = (UniqueConstraint("sha256", "period", name="uq_desil_import_file_period"),)

    id: int | None = Field(default=None, primary_key=True)
    file_name: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    period: str = Field(max_length=7)
    imported_by: str = Field(max_length=80)
    imported_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    accept_valid: bool = False
    rows: int = 0
    matched: int = 0
    unmatched: int = 0
    ambiguous: int = 0
    invalid: int = 0
    written: int = 0  # new or changed family_desil rows
    unchanged: int = 0


class FamilyDesil(SQLModel, table=True):
    __tablename__ = "family_desil"
    __table_args__ = (
        UniqueConstraint("household_id", "period", name="uq_family_desil_household_period"),
        Index("ix_family_desil_latest", "household_id", "period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    household_id: uuid.UUID = Field(foreign_key="household.id")
    period: str = Field(max_length=7)  # YYYY-Qn
    desil: int
    source: str = Field(default="bps", max_length=8)
    import_id: int = Field(foreign_key="desil_import.id", index=True)
    row_number: int  # in the imported file (header = row 1)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS)


class DesilEstimate(SQLModel, table=True):
    __tablename__ = "desil_estimate"
    __table_args__ = (
        UniqueConstraint("household_id", "model_version", name="uq_desil_estimate_household_model"),
    )

    id: int | None = Field(default=None, primary_key=True)
    household_id: uuid.UUID = Field(foreign_key="household.id", index=True)
    model_version: str = Field(max_length=40)
    desil: int | None = None  # None: too much missing, needs data
    predicted_log_pc_spending: float | None = None
    predicted_pc_spending: int | None = None  # Rupiah per person per month
    contributions: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    missing: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    fingerprint: str = Field(max_length=64)
    computed_at: datetime = Field(default_factory=utcnow, sa_type=_TS)


class RuleSetRecord(SQLModel, table=True):
    __tablename__ = "rule_set"
    __table_args__ = (
        Index(
            "uq_rule_set_one_active",
            "status",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=80, unique=True)  # ternate-bansos@2026.1
    ruleset_id: str = Field(max_length=40)
    version: str = Field(max_length=40)
    digest: str = Field(max_length=64)
    source_name: str = Field(max_length=200)
    source_text: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="draft", max_length=8)  # draft | active | retired
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    activated_by: str | None = Field(default=None, max_length=80)
    activated_at: datetime | None = Field(default=None, sa_type=_TS)
    retired_at: datetime | None = Field(default=None, sa_type=_TS)


class ScoreRun(SQLModel, table=True):
    """A scoring run. ONE may be ``running`` at a time (a partial unique index, so two runs
    started at the same moment cannot both claim it); a run whose heartbeat stopped (the
    process died) is ``abandoned`` by the next run that starts (app/eligibility/scoring.py)."""

    __tablename__ = "score_run"
    __table_args__ = (
        Index(
            "uq_score_run_one_running",
            "status",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule_set_id: int = Field(foreign_key="rule_set.id")
    ruleset_label: str = Field(max_length=80)
    reference_date: date
    started_by: str = Field(max_length=80)
    started_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    finished_at: datetime | None = Field(default=None, sa_type=_TS)
    status: str = Field(default="running", max_length=10)  # running | finished | failed | abandoned
    heartbeat_at: datetime = Field(default_factory=utcnow, sa_type=_TS)  # moved after every batch
    error: str | None = Field(default=None, max_length=300)  # why it failed or was abandoned
    planned: int = 0  # canonical families when it started (the progress bar's total)
    families: int = 0
    persons: int = 0
    written: int = 0
    unchanged: int = 0
    retired: int = 0  # current decisions no longer produced (merged away, rule removed)
    # programme -> outcome -> {"written": n, "unchanged": n}
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class EligibilityDecision(SQLModel, table=True):
    __tablename__ = "eligibility_decision"
    __table_args__ = (
        Index(
            "uq_eligibility_decision_current",
            "household_id",
            "programme_id",
            "subject",
            unique=True,
            sqlite_where=text("current"),
            postgresql_where=text("current"),
        ),
        Index("ix_eligibility_decision_household", "household_id", "current"),
        Index("ix_eligibility_decision_list", "current", "programme_id", "outcome", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    household_id: uuid.UUID = Field(foreign_key="household.id")
    member_id: uuid.UUID | None = Field(default=None)  # person-level programmes
    subject: str = Field(max_length=36)  # member id, or "family"
    programme_id: str = Field(max_length=40)
    unit: str = Field(max_length=8)  # family | person
    outcome: str = Field(max_length=14)  # eligible | not_eligible | needs_data
    reasons: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    missing: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    desil: int | None = None
    desil_source: str | None = Field(default=None, max_length=8)  # official | estimate
    desil_period: str | None = Field(default=None, max_length=7)  # official: BPS period
    desil_model: str | None = Field(default=None, max_length=40)  # estimate: PMT model version
    rule_set_id: int = Field(foreign_key="rule_set.id")
    ruleset_label: str = Field(max_length=80)
    ruleset_digest: str = Field(max_length=64)
    reference_date: date
    fingerprint: str = Field(max_length=64)
    run_id: int = Field(foreign_key="score_run.id", index=True)
    decided_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    current: bool = True
    superseded_at: datetime | None = Field(default=None, sa_type=_TS)
    superseded_by_run: int | None = Field(default=None)


class RecipientImport(SQLModel, table=True):
    """A recipient list file (programme or bank) imported for a programme and period."""

    __tablename__ = "recipient_import"
    __table_args__ = (UniqueConstraint("sha256", "programme_id", "period", name="uq_recipient_import_file"),)

    id: int | None = Field(default=None, primary_key=True)
    programme_id: str = Field(max_length=40)
    period: str = Field(max_length=7)
    file_name: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    imported_by: str = Field(max_length=80)
    imported_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    accept_valid: bool = False
    rows: int = 0
    matched: int = 0
    unmatched: int = 0
    ambiguous: int = 0
    invalid: int = 0
    written: int = 0  # new programme_recipient rows
    unchanged: int = 0  # already listed for this programme and period


class ProgrammeRecipient(SQLModel, table=True):
    """Who actually receives a programme in a period: a family (``member_id`` null) or a
    person. ``subject`` is the member id or ``family`` (as in ``eligibility_decision``), so
    the unique constraint holds without relying on NULLs comparing equal."""

    __tablename__ = "programme_recipient"
    __table_args__ = (
        UniqueConstraint(
            "programme_id", "period", "household_id", "subject", name="uq_programme_recipient_subject"
        ),
        Index("ix_programme_recipient_household", "household_id", "programme_id", "period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    programme_id: str = Field(max_length=40)
    period: str = Field(max_length=7)  # YYYY-Qn
    household_id: uuid.UUID = Field(foreign_key="household.id")
    member_id: uuid.UUID | None = Field(default=None, foreign_key="member.id")
    subject: str = Field(max_length=36)  # member id, or "family"
    import_id: int = Field(foreign_key="recipient_import.id", index=True)
    row_number: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
