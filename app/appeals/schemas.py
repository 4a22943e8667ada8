"""API models of appeals."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, Strict

from app.appeals.rules import About, AppealStatus, FiledBy
from app.input import InputModel
from app.registry.schemas import Phone

MAX_REASON = 500
Reason = Annotated[str, Field(min_length=3, max_length=MAX_REASON, pattern=r"\S",
                              description="why the family appeals, in its own words")]
Note = Annotated[str, Field(max_length=MAX_REASON)]
ProgrammeId = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$",
                                   description="the programme's id in the rules file, e.g. pkh, sembako")]


class AppealCreate(InputModel):
    household_id: uuid.UUID
    about: About = Field(description="decision, desil, or data (the registry's data is wrong)")
    programme_id: ProgrammeId | None = None
    reason: Reason
    for_resident: Annotated[bool, Strict()] = Field(
        default=False, description="an enumerator files at the resident's request (channel agent); "
                                   "false: on what the enumerator saw (channel enumerator)")
    phone: Phone | None = Field(default=None, description="the resident's phone, for updates")


class AppealStatusChange(InputModel):
    status: AppealStatus
    note: Note | None = None
    version: Annotated[int, Strict(), Field(ge=1, description="the appeal's version you last read")]


class AppealEventPublic(BaseModel):
    from_status: AppealStatus | None
    to_status: AppealStatus
    by_user_id: int | None
    by_name: str
    channel: str
    note: str | None
    at: datetime


class AppealPublic(BaseModel):
    id: uuid.UUID
    household_id: uuid.UUID
    kelurahan_code: str = Field(description="the household's kelurahan when the appeal was filed")
    filed_by_channel: FiledBy
    filed_by: int | None
    phone: str | None = Field(description="masked for roles that do not see identifiers in full")
    about: About
    programme_id: str | None
    reason: str
    status: AppealStatus
    task_id: uuid.UUID | None = Field(description="the re-verification visit (field task)")
    window_closes_on: date | None
    version: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class AppealDetail(AppealPublic):
    events: list[AppealEventPublic]


class AppealList(BaseModel):
    data: list[AppealPublic]
    count: int
    next_cursor: str | None
