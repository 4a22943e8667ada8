"""Appeals (sanggah) against an eligibility decision, a desil, or the registry's data.

``appeal`` is the appeal as it stands; ``appeal_event`` is its history, append-only: one row
per status (the filing included), with who, through which channel, when and a note.

One open appeal per household, subject (``about``) and programme is a database rule:
``open_key`` is ``"<about>:<programme or ->"`` while the appeal is open and NULL once it is
decided, and ``(household_id, open_key)`` is unique.  NULLs never collide, on SQLite and on
PostgreSQL alike, so decided appeals do not block a new one.

``programme_id`` is the programme's id from the rules file (``pkh``, ``sembako``...), as
text: the decision tables live in the eligibility package and are linked by it, not by a
foreign key.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import utcnow

_TS = DateTime(timezone=True)


class Appeal(SQLModel, table=True):
    __tablename__ = "appeal"
    __table_args__ = (
        UniqueConstraint("household_id", "open_key", name="uq_appeal_open"),
        Index("ix_appeal_status_list", "status", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    household_id: uuid.UUID = Field(foreign_key="household.id", index=True)
    kelurahan_code: str = Field(foreign_key="kelurahan.code", max_length=13)  # the household's, at filing
    filed_by_channel: str = Field(max_length=12)     # sms, ussd, agent, enumerator, dinsos
    filed_by: int | None = Field(default=None, foreign_key="app_user.id")  # staff who filed it
    phone: str | None = Field(default=None, max_length=16)   # the resident's phone (E.164)
    about: str = Field(max_length=12)                # decision, desil, data
    programme_id: str | None = Field(default=None, max_length=32)
    reason: str = Field(max_length=500)
    status: str = Field(default="filed", max_length=16)
    open_key: str | None = Field(default=None, max_length=48)  # see the module docstring
    task_id: uuid.UUID | None = Field(default=None, foreign_key="field_task.id")  # the re-verification visit
    window_closes_on: date | None = None  # the last day to file, as it stood at filing (None: no limit)
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    closed_at: datetime | None = Field(default=None, sa_type=_TS)


class AppealEvent(SQLModel, table=True):
    """One status an appeal entered (append-only: never updated, never deleted)."""

    __tablename__ = "appeal_event"

    id: int | None = Field(default=None, primary_key=True)
    appeal_id: uuid.UUID = Field(foreign_key="appeal.id", index=True)
    from_status: str | None = Field(default=None, max_length=16)   # None: the filing
    to_status: str = Field(max_length=16)
    by_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    by_name: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    note: str | None = Field(default=None, max_length=500)
    at: datetime = Field(default_factory=utcnow, sa_type=_TS)
