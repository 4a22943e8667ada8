"""API models of the trends, the progress checklist and the pilot milestones."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.reports.checklist import STAGE_CODES

StageCode = Literal[
    "registration",
    "field_verification",
    "dukcapil_matching",
    "reconciliation",
    "scoring",
    "announcement",
    "appeal_window",
]
assert set(StageCode.__args__) == set(STAGE_CODES)  # type: ignore[attr-defined]


class SnapshotPublic(BaseModel):
    period: str = Field(description="YYYY-MM")
    taken_at: datetime
    taken_by: str
    rule_set_label: str | None = Field(description="the rule set active when the snapshot was taken")
    families: int | None = Field(description="city-wide total; null for a reader whose area is smaller")
    persons: int | None = Field(description="city-wide total; null for a reader whose area is smaller")
    decisions: int | None = Field(description="city-wide total; null for a reader whose area is smaller")
    replaced: int = Field(description="how many times the period was retaken (--replace)")


class TrendPoint(BaseModel):
    period: str
    value: int
    rule_sets: list[str] = Field(default_factory=list, description="rule sets behind the figure (programmes)")


class TrendSeries(BaseModel):
    code: str = Field(description="kecamatan or kelurahan code (Kemendagri)")
    name: str
    programme_id: str | None = None
    points: list[TrendPoint]


class TrendResponse(BaseModel):
    level: Literal["kecamatan", "kelurahan"]
    unit: str
    snapshots: list[SnapshotPublic] = Field(description="the periods in range, oldest first")
    series: list[TrendSeries]
    totals: list[TrendPoint] = Field(description="the sum of the series per period")


class AreaPublic(BaseModel):
    level: Literal["city", "area", "kecamatan", "kelurahan"] = Field(
        description="area: the caller's own area (a supervisor's kecamatan) when none was asked for"
    )
    code: str | None
    name: str


class MilestonePublic(BaseModel):
    id: int
    stage: str
    kecamatan_code: str | None = Field(description="null: city-wide")
    decided_on: date
    note: str
    recorded_by: str
    recorded_at: datetime


class StagePublic(BaseModel):
    stage: str
    label_id: str
    label_en: str
    indicator_id: str
    indicator_en: str
    manual: bool = Field(description="a meeting or a decision, recorded as a milestone (not computed)")
    value: int | None
    target: int | None
    share: float | None = Field(description="value / target, 0-1, when there is a target")
    status: str = Field(description="not_started | in_progress | done | no_target | stale")
    status_id: str
    status_en: str
    note_id: str
    note_en: str
    details: dict[str, int | str | None]
    milestone: MilestonePublic | None = None


class AreaChecklist(BaseModel):
    area: AreaPublic
    stages: list[StagePublic]


class ChecklistResponse(AreaChecklist):
    generated_at: datetime
    rule_set: str | None
    breakdown: list[AreaChecklist] = Field(
        description="the same checklist per kecamatan (city) or per kelurahan (kecamatan)"
    )


class MilestoneCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: StageCode = Field(description="usually 'announcement'; a computed stage only gets it as a note")
    kecamatan_code: str | None = Field(default=None, description="null: city-wide", max_length=8)
    decided_on: date = Field(description="the day of the meeting or decision (not in the future)")
    note: str = Field(min_length=1, max_length=1000, description="what was decided, by whom")


class MilestoneList(BaseModel):
    data: list[MilestonePublic]
    count: int
