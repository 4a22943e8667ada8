"""API models of the eligibility database side (decisions, desil, rule sets)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class DesilPublic(BaseModel):
    desil: int | None = Field(description="1-10; null: no desil yet (belum ada desil)")
    source: str | None = Field(description="official (BPS import) or estimate (PMT, computed here)")
    period: str | None = Field(description="official: the BPS period, e.g. 2026-Q1")
    model_version: str | None = Field(description="estimate: the PMT model version")
    estimate: bool = Field(description="true when the desil is an ESTIMATE (PERKIRAAN), never official")
    label_id: str = Field(description="e.g. 'desil 3 (PERKIRAAN, model pmt-2026.1)'")
    label_en: str


class ReasonPublic(BaseModel):
    kind: str
    rule: str
    holds: bool | None
    text_id: str = Field(description="the reason in Bahasa Indonesia")
    text_en: str


class DecisionPublic(BaseModel):
    id: int
    household_id: uuid.UUID
    member_id: uuid.UUID | None = Field(description="person-level programmes: who")
    programme_id: str
    unit: str
    outcome: str = Field(description="eligible / not_eligible / needs_data")
    outcome_id: str = Field(description="layak / tidak layak / perlu data")
    reasons: list[ReasonPublic]
    text_id: str = Field(description="the reasons joined, Bahasa Indonesia")
    text_en: str
    missing: list[str] = Field(description="needs_data: the inputs that would decide it")
    inputs: dict[str, Any] = Field(description="every input the rule read, with its value")
    desil: DesilPublic
    rule_set: str
    rule_set_digest: str
    reference_date: date
    run_id: int
    decided_at: datetime


class HouseholdEligibility(BaseModel):
    household_id: uuid.UUID
    desil: DesilPublic = Field(description="the desil the next run will use")
    rule_set: str | None = Field(description="the active rule set")
    decisions: list[DecisionPublic] = Field(description="the current decisions")


class OfficialDesilPublic(BaseModel):
    period: str
    desil: int
    import_id: int
    file_name: str
    imported_at: datetime


class EstimatePublic(BaseModel):
    model_version: str
    desil: int | None
    label: str = Field(default="PERKIRAAN / ESTIMATE")
    predicted_pc_spending: int | None = Field(description="Rupiah per person per month (estimated)")
    missing: list[str]
    contributions: list[list[Any]] = Field(description="[variable, value used, effect in log points]")
    computed_at: datetime


class DesilHistory(BaseModel):
    household_id: uuid.UUID
    current: DesilPublic
    official: list[OfficialDesilPublic] = Field(description="by period, newest first")
    estimates: list[EstimatePublic] = Field(description="by model version, newest first")


class DecisionList(BaseModel):
    data: list[DecisionPublic]
    count: int
    next_cursor: str | None


class ScoreRunPublic(BaseModel):
    id: int
    rule_set: str = Field(description="label of the rule set the run applies")
    reference_date: date = Field(description="ages and windows are computed at this date")
    status: str = Field(description="running | finished | failed | abandoned (its process died)")
    started_by: str
    started_at: datetime
    heartbeat_at: datetime = Field(description="moved after every batch of families")
    finished_at: datetime | None
    error: str | None = Field(description="why the run failed or was abandoned")
    planned: int = Field(description="canonical families when the run started")
    families: int = Field(description="families scored so far (the progress)")
    persons: int
    written: int = Field(description="decisions written (new or changed)")
    unchanged: int = Field(description="decisions that stayed as they were")
    retired: int = Field(description="current decisions no longer produced (merged away, rule removed)")
    counts: dict[str, Any] = Field(description="programme -> outcome -> {written, unchanged}")


class ScoreRunRequest(BaseModel):
    model_config = {"extra": "forbid"}

    reference_date: date | None = Field(
        default=None, description="default: today; ages and windows are computed at this date"
    )


class RuleSetPublic(BaseModel):
    id: int
    label: str
    version: str
    digest: str
    status: str
    created_by: str
    created_at: datetime
    activated_by: str | None
    activated_at: datetime | None


class EligibilityErrorPublic(BaseModel):
    kind: str = Field(
        description="exclusion (eligible, not receiving) or inclusion (receiving, not eligible)"
    )
    household_id: uuid.UUID
    member_id: uuid.UUID | None = Field(description="person programmes: who")
    outcome: str | None = Field(
        description="the current decision: eligible / not_eligible / needs_data; "
        "null: no current decision for this recipient"
    )
    outcome_id: str | None = Field(description="layak / tidak layak / perlu data")
    reasons: list[ReasonPublic]
    text_id: str = Field(description="the decision's reasons joined, Bahasa Indonesia")
    text_en: str
    desil: DesilPublic
    decision_id: int | None
    kecamatan_code: str
    kecamatan_name: str
    kelurahan_code: str
    kelurahan_name: str


class KecamatanErrorCount(BaseModel):
    kecamatan_code: str
    kecamatan_name: str
    errors: int = Field(description="errors of the requested kind in your area and filters")


class EligibilityErrorList(BaseModel):
    data: list[EligibilityErrorPublic]
    count: int
    next_cursor: str | None
    by_kecamatan: list[KecamatanErrorCount] = Field(description="counts of the whole result, not the page")
