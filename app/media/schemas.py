"""API models of media."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.media.models import MediaKind


class MediaLinkPublic(BaseModel):
    id: uuid.UUID
    household_id: uuid.UUID
    sha256: str = Field(description="lowercase hex SHA-256 of the file")
    kind: MediaKind
    content_type: str
    size: int = Field(description="bytes")
    created_at: datetime
    url: str = Field(description="GET this path to download the file")


class MediaLinkList(BaseModel):
    data: list[MediaLinkPublic]
    count: int
