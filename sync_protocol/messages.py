"""Wire messages of sync v1 (JSON over HTTP; see docs/sync-protocol.md).

Pydantic models only: the server validates requests with them and the reference device
client builds its requests with them, so both ends share one definition.  Record payloads
(``fields`` of a mutation, ``data`` of a change) stay plain dicts here: their columns are
the registry's, validated by the server against its own schemas.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

PROTOCOL_VERSION = 1
MIN_SUPPORTED_VERSION = 1
MAX_SUPPORTED_VERSION = 1
VERSION_HEADER = "Sigap-Sync-Version"

DEFAULT_BATCH_LIMIT = 500   # most mutations in one push
DEFAULT_PAGE_LIMIT = 500    # most changes in one pull page (a client may ask for fewer)

DeviceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{8,64}$")]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntityType(StrEnum):
    household = "household"
    member = "member"
    media = "media"  # a link between an uploaded file and a household (create/delete only)
    task = "task"    # a field visit to make (pull only), e.g. verify a self-registration


class Operation(StrEnum):
    create = "create"
    update = "update"
    delete = "delete"


class Outcome(StrEnum):
    applied = "applied"        # written as sent; nothing changed on the server meanwhile
    merged = "merged"          # written; the server had changed OTHER fields since base_version
    conflict = "conflict"      # at least one field changed on both sides: see ``conflicts``
    rejected = "rejected"      # not written: see ``status`` and ``problems``
    duplicate = "duplicate"    # this (device, seq) was processed before: original result replayed


class Resolution(StrEnum):
    server_kept = "server_kept"        # the field policy kept the server's value
    device_applied = "device_applied"  # the field policy took the device's value
    pending_review = "pending_review"  # a supervisor decides; the server value stays meanwhile


# --- enrolment -------------------------------------------------------------------------------

class EnrolRequest(_Message):
    device_id: DeviceId = Field(description="stable id the device chose, 8-64 of [A-Za-z0-9._-]")
    label: str = Field(default="", max_length=80, description="e.g. the tablet's asset tag")


class Limits(BaseModel):
    max_batch: int = Field(description="most mutations accepted in one push")
    max_page: int = Field(description="most changes returned in one pull page")
    max_body_bytes: int = Field(description="largest request body accepted (after gzip decoding)")


class EnrolResponse(BaseModel):
    device_id: str
    device_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="seconds until the device token expires")
    username: str
    scope: list[str] = Field(description="kelurahan codes the device will receive")
    limits: Limits
    protocol_versions: list[int]
    sms_number: int | None = Field(
        default=None, description="short device number carried in every enumerator SMS (SMS fallback)")
    sms_key: str | None = Field(
        default=None, description="base64 of the device's 16-byte SMS key; keep it secret, it is "
                                  "only sent in enrolment responses (docs/sms-fallback.md)")


# --- push ------------------------------------------------------------------------------------

class Mutation(_Message):
    seq: int = Field(ge=1, le=2**53, description="per-device sequence number; never reused")
    entity: EntityType
    id: uuid.UUID = Field(description="client-generated UUID of the record")
    op: Operation
    base_version: int | None = Field(
        default=None, ge=0,
        description="record version the device last saw (required for update and delete)")
    household_id: uuid.UUID | None = Field(
        default=None, description="for member and media creates: the household it belongs to")
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description="create: the whole record; update: only the changed fields")
    recorded_at: datetime | None = Field(
        default=None, description="device clock when the edit was made (informational only)")


class PushRequest(_Message):
    mutations: list[Mutation] = Field(min_length=1)


class Problem(BaseModel):
    field: str
    rule: str
    message: str


class FieldConflict(BaseModel):
    conflict_id: uuid.UUID
    field: str
    server_value: Any = None
    device_value: Any = None
    policy: str
    resolution: Resolution


class MutationResult(BaseModel):
    seq: int
    entity: EntityType
    id: uuid.UUID
    outcome: Outcome
    original_outcome: Outcome | None = Field(
        default=None, description="for duplicate: the outcome first reported")
    version: int | None = Field(default=None, description="server version after the mutation")
    status: int = Field(default=200, description="HTTP-like status of this mutation alone")
    message: str = ""
    merged_fields: list[str] = Field(
        default_factory=list, description="fields the server had changed since base_version")
    conflicts: list[FieldConflict] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)


class PushResponse(BaseModel):
    results: list[MutationResult]
    server_time: datetime


# --- pull ------------------------------------------------------------------------------------

class ChangeKind(StrEnum):
    upsert = "upsert"
    tombstone = "tombstone"


class TombstoneReason(StrEnum):
    deleted = "deleted"
    out_of_scope = "out_of_scope"  # moved to a kelurahan, or the device lost an assignment


class Change(BaseModel):
    kind: ChangeKind
    entity: EntityType
    id: uuid.UUID
    household_id: uuid.UUID
    kelurahan_code: str
    version: int
    reason: TombstoneReason | None = None
    data: dict[str, Any] | None = Field(
        default=None, description="upsert: the whole record; fields that are null are omitted")


class PullResponse(BaseModel):
    changes: list[Change]
    cursor: str = Field(description="pass it back unchanged as ?cursor= on the next pull")
    has_more: bool
    scope: list[str] = Field(description="kelurahan codes this device may hold")


class UnsupportedVersion(BaseModel):
    error: str = "unsupported_protocol_version"
    detail: str
    supported: list[int]
