"""HTTP layer of sync v1 (devices, push, pull) and of the conflict review queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from app.auth.dependencies import SettingsDep, actor_from, require
from app.auth.permissions import Action, Principal
from app.db import SessionDep, as_utc
from app.errors import (
    AppError,
    BadCursor,
    Conflict,
    DeviceRevoked,
    Forbidden,
    InvalidData,
    NotAuthenticated,
    NotFound,
    OutOfArea,
    PayloadTooLarge,
    error_responses,
)
from app.sync import conflicts, devices
from app.sync import pull as pull_service
from app.sync import push as push_service
from app.sync.models import Device, SyncConflict
from sync_protocol.merge import FieldPolicies
from sync_protocol.messages import (
    MAX_SUPPORTED_VERSION,
    MIN_SUPPORTED_VERSION,
    VERSION_HEADER,
    EnrolRequest,
    EnrolResponse,
    Limits,
    PullResponse,
    PushRequest,
    PushResponse,
)
from sync_protocol.smscodec import key_text

SUPPORTED = list(range(MIN_SUPPORTED_VERSION, MAX_SUPPORTED_VERSION + 1))


class UnsupportedProtocol(AppError):
    status_code = 426
    code = "unsupported_protocol_version"


def protocol_version(response: Response, sigap_sync_version: Annotated[str | None, Header(
        alias=VERSION_HEADER, description="sync protocol version of the client (1)")] = None) -> int:
    supported = ",".join(map(str, SUPPORTED))
    if sigap_sync_version is None or not sigap_sync_version.strip().isdigit() \
            or int(sigap_sync_version) not in SUPPORTED:
        raise UnsupportedProtocol(
            f"sync protocol version {sigap_sync_version or '(none)'} is not supported; this server"
            f" speaks {supported}: update the Sigap app (send the {VERSION_HEADER} header)",
            headers={"Sigap-Sync-Supported": supported})
    response.headers[VERSION_HEADER] = sigap_sync_version.strip()
    return int(sigap_sync_version)


router = APIRouter(prefix="/sync/v1", tags=["sync"], dependencies=[Depends(protocol_version)])
review_router = APIRouter(prefix="/conflicts", tags=["sync review"])
Writer = Annotated[Principal, Depends(require(Action.household_write))]
DeviceAdmin = Annotated[Principal, Depends(require(Action.device_admin))]
Reviewer = Annotated[Principal, Depends(require(Action.conflict_resolve))]
_AUTH = (NotAuthenticated, DeviceRevoked, Forbidden, UnsupportedProtocol)


def device_principal(principal: Writer) -> Principal:
    if principal.device_id is None:
        raise NotAuthenticated("this endpoint needs a device token: enrol the device at "
                               "POST /sync/v1/devices")
    return principal


DevicePrincipal = Annotated[Principal, Depends(device_principal)]


def _limits(request: Request) -> Limits:
    s = request.app.state.settings
    return Limits(max_batch=s.sync_max_batch, max_page=s.sync_max_page, max_body_bytes=s.max_body_bytes)


# --- devices ---------------------------------------------------------------------------------

class DevicePublic(BaseModel):
    device_id: str
    label: str
    username: str
    enrolled_at: datetime
    last_push_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None


class DeviceList(BaseModel):
    data: list[DevicePublic]
    count: int


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200, description="shown to the enumerator")


def _device_public(device: Device, username: str) -> DevicePublic:
    return DevicePublic(device_id=device.id, label=device.label, username=username,
                        enrolled_at=as_utc(device.enrolled_at) or device.enrolled_at,
                        last_push_at=as_utc(device.last_push_at),
                        revoked_at=as_utc(device.revoked_at), revoke_reason=device.revoke_reason)


@router.post("/devices", response_model=EnrolResponse, status_code=status.HTTP_201_CREATED,
             responses=error_responses(*_AUTH, Conflict))
def enrol_device(data: EnrolRequest, session: SessionDep, settings: SettingsDep, principal: Writer,
                 request: Request) -> EnrolResponse:
    """Enrol this device for the logged-in enumerator; returns the device token."""
    device, token, expires_in = devices.enrol(
        session=session, principal=principal, settings=settings, device_id=data.device_id,
        label=data.label, actor=actor_from(principal, request))
    scope = pull_service.scope_of(session, principal)
    return EnrolResponse(device_id=device.id, device_token=token, expires_in=expires_in,
                         username=principal.username, scope=scope, limits=_limits(request),
                         protocol_versions=SUPPORTED, sms_number=device.sms_number,
                         sms_key=key_text(device.sms_key) if device.sms_key else None)


@router.get("/devices", response_model=DeviceList, responses=error_responses(*_AUTH))
def list_devices(session: SessionDep, principal: DeviceAdmin) -> DeviceList:
    """Enrolled devices of the enumerators in your area."""
    rows = devices.list_devices(session=session, principal=principal)
    return DeviceList(data=[_device_public(d, u.username) for d, u in rows], count=len(rows))


@router.post("/devices/{device_id}/revoke", response_model=DevicePublic,
             responses=error_responses(*_AUTH, NotFound, OutOfArea))
def revoke_device(device_id: Annotated[str, Field(max_length=64)], data: RevokeRequest,
                  session: SessionDep, principal: DeviceAdmin, request: Request) -> DevicePublic:
    """Revoke a device: its later pushes and pulls get 401 device_revoked with the reason."""
    device, user = devices.revoke(session=session, principal=principal, device_id=device_id,
                                  reason=data.reason, actor=actor_from(principal, request))
    return _device_public(device, user.username)


# --- push and pull ---------------------------------------------------------------------------

def _json(model: BaseModel, *, exclude_none: bool = False, headers: Any = None) -> Response:
    """The model as JSON, serialised once (a returned model would be validated again
    against response_model: a tenth of a 500-mutation push)."""
    return Response(model.model_dump_json(exclude_none=exclude_none), media_type="application/json",
                    headers=dict(headers) if headers else None)


@router.post("/push", response_model=PushResponse,
             responses=error_responses(*_AUTH, PayloadTooLarge, InvalidData))
def push(data: PushRequest, session: SessionDep, settings: SettingsDep, principal: DevicePrincipal,
         request: Request, version: Annotated[int, Depends(protocol_version)]) -> Response:
    """Apply a batch of mutations; one result per mutation, sent after the batch committed."""
    if len(data.mutations) > settings.sync_max_batch:
        raise PayloadTooLarge(
            f"mutations: a push holds at most {settings.sync_max_batch} mutations (sync_max_batch);"
            f" this one has {len(data.mutations)}: split it")
    device = session.get(Device, principal.device_id)
    assert device is not None
    policies: FieldPolicies = request.app.state.sync_policies
    ctx = push_service.PushContext(session=session, principal=principal,
                                   actor=actor_from(principal, request), device=device,
                                   policies=policies)
    return _json(push_service.push(ctx, data.mutations), headers={VERSION_HEADER: str(version)})


@router.get("/pull", response_model=PullResponse, response_model_exclude_none=True,
            responses={304: {"description": "nothing new since this ETag"},
                       **error_responses(*_AUTH, BadCursor)})
def pull(session: SessionDep, settings: SettingsDep, principal: DevicePrincipal,
         version: Annotated[int, Depends(protocol_version)],
         cursor: Annotated[str | None, Query(max_length=4096)] = None,
         limit: Annotated[int | None, Query(ge=1)] = None,
         if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """Changes in your scope since ``cursor`` (none: initial sync), in pages."""
    size = min(limit or settings.sync_max_page, settings.sync_max_page)
    page = pull_service.pull(session, principal=principal, cursor=cursor, limit=size,
                             key=settings.cursor_key)
    tag = pull_service.etag(page, principal)
    if if_none_match is not None and if_none_match.strip() == tag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    return _json(page, exclude_none=True, headers={"ETag": tag, "Cache-Control": "no-store",
                                                   VERSION_HEADER: str(version)})


# --- review queue ----------------------------------------------------------------------------

class ConflictPublic(BaseModel):
    id: uuid.UUID
    entity: str
    entity_id: uuid.UUID
    household_id: uuid.UUID
    kelurahan_code: str
    field: str
    policy: str
    base_version: int | None
    server_version: int
    server_value: Any
    device_value: Any
    device_id: str
    mutation_seq: int
    status: Literal["open", "auto_resolved", "resolved"]
    resolution: str | None
    resolved_value: Any
    resolved_at: datetime | None
    note: str | None
    created_at: datetime


class ConflictList(BaseModel):
    data: list[ConflictPublic]
    count: int
    has_more: bool


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    choice: Literal["server", "device", "value"]
    value: Any = Field(default=None, description="the value to write, with choice 'value'")
    note: str | None = Field(default=None, max_length=500)


def _conflict_public(c: SyncConflict) -> ConflictPublic:
    data = c.model_dump()
    data.update(created_at=as_utc(c.created_at), resolved_at=as_utc(c.resolved_at))
    return ConflictPublic.model_validate(data)


@review_router.get("", response_model=ConflictList, responses=error_responses(NotAuthenticated, Forbidden))
def list_conflicts(session: SessionDep, principal: Reviewer,
                   status_: Annotated[Literal["open", "auto_resolved", "resolved"] | None,
                                      Query(alias="status")] = "open",
                   kelurahan: Annotated[str | None, Query(max_length=13)] = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50,
                   offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> ConflictList:
    """Conflicts in your area, oldest first (default: the open review queue)."""
    rows, total = conflicts.list_conflicts(session=session, principal=principal, status=status_,
                                           kelurahan=kelurahan, limit=limit, offset=offset)
    return ConflictList(data=[_conflict_public(c) for c in rows], count=len(rows),
                        has_more=total > limit)


@review_router.get("/{conflict_id}", response_model=ConflictPublic,
                   responses=error_responses(NotAuthenticated, Forbidden, NotFound, OutOfArea))
def get_conflict(conflict_id: uuid.UUID, session: SessionDep, principal: Reviewer) -> ConflictPublic:
    return _conflict_public(conflicts.get_conflict(session=session, principal=principal,
                                                   conflict_id=conflict_id))


@review_router.post("/{conflict_id}/resolve", response_model=ConflictPublic,
                    responses=error_responses(NotAuthenticated, Forbidden, NotFound, OutOfArea,
                                              Conflict, InvalidData))
def resolve_conflict(conflict_id: uuid.UUID, data: ResolveRequest, session: SessionDep,
                     principal: Reviewer, request: Request) -> ConflictPublic:
    """Keep the server value, take the device value, or enter another; a write reaches devices
    through pull."""
    conflict = conflicts.resolve(
        session=session, principal=principal, conflict_id=conflict_id, choice=data.choice,
        value=data.value, value_given="value" in data.model_fields_set, note=data.note,
        actor=actor_from(principal, request))
    return _conflict_public(conflict)

