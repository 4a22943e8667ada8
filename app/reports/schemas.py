"""API models of the reports (JSON); CSV and XLSX carry the same figures as tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

DesilCells = dict[str, int]  # "1".."10", "none" -> count


class MatrixRowPublic(BaseModel):
    code: str
    name: str
    cells: DesilCells
    total: int
    official: DesilCells | None = Field(
        None, description="source=all: the cells counted under an official desil"
    )
    estimate: DesilCells | None = Field(
        None, description="source=all: the cells counted under a PMT ESTIMATE"
    )


class MatrixPublic(BaseModel):
    level: Literal["kecamatan", "kelurahan"]
    kecamatan: str | None
    unit: Literal["families", "persons"]
    source: Literal["all", "official", "estimate"]
    columns: list[str] = Field(description='"1".."10" and "none" (belum ada desil)')
    column_labels: dict[str, str]
    rows: list[MatrixRowPublic]
    column_totals: DesilCells
    total: int
    official_totals: DesilCells | None = None
    estimate_totals: DesilCells | None = None


class ProgrammeCounts(BaseModel):
    eligible: int
    receiving: int
    exclusion: int
    inclusion: int


class ProgrammeRowPublic(BaseModel):
    programme: str
    unit: str = Field(description="family | person: what `subjects` counts")
    area_code: str
    area_name: str
    desil: str = Field(description='"1".."10" or "none"')
    subjects: ProgrammeCounts
    families: ProgrammeCounts


class ProgrammeReportPublic(BaseModel):
    period: str
    level: Literal["kecamatan", "kelurahan"]
    programmes: dict[str, str] = Field(description="programme id -> unit (family | person)")
    rows: list[ProgrammeRowPublic]
    totals: dict[str, ProgrammeCounts] = Field(description="per programme, in its unit (subjects)")


class CoverageRowPublic(BaseModel):
    kecamatan_code: str
    kecamatan_name: str
    kelurahan_code: str
    kelurahan_name: str
    target_families: int | None
    target_persons: int | None
    families: int
    persons: int
    by_source: dict[str, int] = Field(
        description="household.source (enumerator, sms, ussd, import, api) -> families"
    )
    percent_families: float | None
    percent_persons: float | None


class CoveragePublic(BaseModel):
    sources: list[str]
    rows: list[CoverageRowPublic]
    families: int
    persons: int
    target_families: int
    target_persons: int


class QualityFigurePublic(BaseModel):
    indicator: str
    category: str
    count: int
    share: float | None = Field(description="percent of the indicator's total")


class QualityPublic(BaseModel):
    figures: list[QualityFigurePublic]
    not_reported: list[str] = Field(description="figures the data cannot support honestly, and why")


class AppealsRowPublic(BaseModel):
    code: str
    name: str
    by_status: dict[str, int]
    total: int


class AppealsPublic(BaseModel):
    level: Literal["kecamatan", "kelurahan"]
    statuses: list[str]
    rows: list[AppealsRowPublic]
    totals: dict[str, int]
    total: int


class FamilyPublic(BaseModel):
    household_id: uuid.UUID
    kecamatan_code: str
    kecamatan_name: str
    kelurahan_code: str
    kelurahan_name: str
    kk_number: str | None = Field(description="masked unless your role sees identifiers in full")
    head_name: str | None
    head_nik: str | None = Field(description="masked unless your role sees identifiers in full")
    desil: int | None
    desil_source: str | None = Field(description="official | estimate | null (belum ada desil)")
    desil_basis: str | None = Field(description="BPS period or PMT model version")
    channel: str = Field(description="how the family was registered (household.source)")
    verification_status: str
    created_at: datetime


class FamilyList(BaseModel):
    data: list[FamilyPublic]
    count: int
    next_cursor: str | None
