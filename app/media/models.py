"""Media tables: tus uploads in progress, stored objects (by SHA-256) and household links."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, DateTime
from sqlmodel import Field, SQLModel

from app.db import utcnow

_TS = DateTime(timezone=True)


class MediaKind(StrEnum):
    house_photo = "house_photo"
    consent_form = "consent_form"


class UploadStatus(StrEnum):
    uploading = "uploading"
    complete = "complete"
    failed = "failed"


class MediaUpload(SQLModel, table=True):
    """One tus upload; its id is the upload URL's last segment.  The row's offset is the
    truth: bytes of the part file beyond it were never acknowledged."""

    __tablename__ = "media_upload"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_by: int = Field(foreign_key="app_user.id", index=True)
    device_id: str | None = Field(default=None, max_length=64)
    # "upload_" prefix: OFFSET is a reserved word in SQL
    upload_length: int = Field(sa_type=BigInteger)
    upload_offset: int = Field(default=0, sa_type=BigInteger)
    sha256: str = Field(max_length=64)  # declared by the client, lowercase hex
    kind: str = Field(max_length=16)
    content_type: str = Field(max_length=100)
    filename: str | None = Field(default=None, max_length=255)
    household_id: uuid.UUID | None = Field(default=None, foreign_key="household.id")
    status: str = Field(default=UploadStatus.uploading.value, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    completed_at: datetime | None = Field(default=None, sa_type=_TS)


class MediaObject(SQLModel, table=True):
    """A verified file, stored once under its SHA-256 whoever uploaded it and how often."""

    __tablename__ = "media_object"

    sha256: str = Field(primary_key=True, max_length=64)
    size: int = Field(sa_type=BigInteger)
    content_type: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)


class MediaLink(SQLModel, table=True):
    """An object attached to a household (client-generated id; soft-deleted)."""

    __tablename__ = "media_link"

    id: uuid.UUID = Field(primary_key=True)
    household_id: uuid.UUID = Field(foreign_key="household.id", index=True)
    sha256: str = Field(foreign_key="media_object.sha256", max_length=64, index=True)
    kind: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    created_by: int | None = Field(default=None, foreign_key="app_user.id")
    deleted_at: datetime | None = Field(default=None, sa_type=_TS)
