"""Tables of the reports: registration targets per kelurahan."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

from app.db import utcnow

_TS = DateTime(timezone=True)


class KelurahanTarget(SQLModel, table=True):
    """How many families (and persons) a kelurahan is expected to register, e.g. from
    Dukcapil's family counts; one row per kelurahan, replaced by a later import (the old
    value is in the audit log)."""

    __tablename__ = "kelurahan_target"

    kelurahan_code: str = Field(primary_key=True, foreign_key="kelurahan.code", max_length=13)
    families: int = Field(ge=0)
    persons: int | None = Field(default=None, ge=0)
    source: str = Field(max_length=80)  # e.g. "Dukcapil Kota Ternate 2026-06"
    as_of: date | None = None
    updated_by: str = Field(max_length=80)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
