"""HTTP layer of appeals: parse, call the service, present.  No rules here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from app.appeals import repository, service
from app.appeals.models import Appeal, AppealEvent
from app.appeals.rules import AppealStatus, FiledBy
from app.appeals.schemas import (
    AppealCreate,
    AppealDetail,
    AppealEventPublic,
    AppealList,
    AppealPublic,
    AppealStatusChange,
)
from app.auth.dependencies import SettingsDep, actor_from, require
from app.auth.models import Role
from app.auth.permissions import Action, Principal
from app.db import SessionDep
from app.errors import (
    BadCursor,
    Forbidden,
    InvalidData,
    NotAuthenticated,
    NotFound,
    OutOfArea,
    VersionMismatch,
    error_responses,
)
from app.pagination import decode_cursor, encode_cursor
from app.registry import service as registry
from app.registry.identifiers import mask
from app.wilayah import repository as wilayah_repo

router = APIRouter(tags=["appeals"])
Reader = Annotated[Principal, Depends(require(Action.appeal_read))]
Filer = Annotated[Principal, Depends(require(Action.appeal_file))]
Mover = Annotated[Principal, Depends(require(Action.appeal_status))]
_AUTH = (NotAuthenticated, Forbidden)
_CURSOR_KIND = "appeals"


def _public(appeal: Appeal, principal: Principal) -> AppealPublic:
    data = appeal.model_dump()
    if not principal.full_identifiers:
        data["phone"] = mask(appeal.phone)
    return AppealPublic.model_validate(data)


def _detail(appeal: Appeal, events: list[AppealEvent], principal: Principal) -> AppealDetail:
    return AppealDetail(**_public(appeal, principal).model_dump(),
                        events=[AppealEventPublic.model_validate(e.model_dump()) for e in events])


@router.post("/appeals", response_model=AppealDetail, status_code=status.HTTP_201_CREATED,
             responses=error_responses(*_AUTH, OutOfArea, InvalidData, service.AppealOpen))
def file_appeal(data: AppealCreate, request: Request, session: SessionDep, settings: SettingsDep,
                principal: Filer) -> AppealDetail:
    """File an appeal (sanggah) for a family of your area, within the appeal window.

    Opens a re-verification visit for the kelurahan's enumerators.  An open appeal on the
    same subject and programme gets 409 `appeal_open` with its id."""
    try:
        household = registry.load_household(session=session, household_id=data.household_id,
                                            principal=principal)
    except NotFound:
        raise InvalidData.one("household_id", "household_exists",
                              f"household {data.household_id} does not exist") from None
    if principal.role is Role.enumerator:
        channel = FiledBy.agent if data.for_resident else FiledBy.enumerator
    else:
        channel = FiledBy.dinsos
    appeal, _ = service.file_appeal(session=session, settings=settings, household=household, about=data.about,
                                    programme_id=data.programme_id, reason=data.reason.strip(),
                                    channel=channel, actor=actor_from(principal, request), phone=data.phone)
    return _detail(appeal, repository.events(session, [appeal.id])[appeal.id], principal)


@router.get("/appeals", response_model=AppealList, responses=error_responses(*_AUTH, InvalidData, BadCursor))
def list_appeals(
    settings: SettingsDep, session: SessionDep, principal: Reader,
    status_: Annotated[AppealStatus | None, Query(alias="status")] = None,
    kecamatan: Annotated[str | None, Query(description="Kemendagri (82.71.01) or BPS code")] = None,
    kelurahan: Annotated[str | None, Query(description="Kemendagri (dotted) or BPS code")] = None,
    household_id: uuid.UUID | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1, description="page size (capped by the server)")] = None,
) -> AppealList:
    """Appeals of families in your area, oldest first; filter by status and area."""
    kec_code = kel_code = None
    if kecamatan is not None:
        kec_code = wilayah_repo.resolve_kecamatan_code(session, kecamatan)
        if kec_code is None:
            raise InvalidData.one("kecamatan", "kecamatan_exists", f"kecamatan {kecamatan!r} does not exist")
    if kelurahan is not None:
        kel_code = wilayah_repo.resolve_kelurahan_code(session, kelurahan)
        if kel_code is None:
            raise InvalidData.one("kelurahan", "kelurahan_exists", f"kelurahan {kelurahan!r} does not exist")
    after = None
    if cursor:
        position = decode_cursor(cursor, key=settings.cursor_key, kind=_CURSOR_KIND)
        try:
            after = (datetime.fromisoformat(position[0]), uuid.UUID(position[1]))
        except (IndexError, TypeError, ValueError):
            raise BadCursor("cursor position is malformed") from None
    size = min(limit or settings.page_size_default, settings.page_size_max)
    filters = repository.AppealFilter(status=status_.value if status_ else None, kecamatan_code=kec_code,
                                      kelurahan_code=kel_code, household_id=household_id)
    rows, more = repository.page(session, filters, principal.kelurahan_scope, after=after, size=size)
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor([last.created_at.isoformat(), str(last.id)], key=settings.cursor_key,
                                    kind=_CURSOR_KIND)
    data = [_public(a, principal) for a in rows]
    return AppealList(data=data, count=len(data), next_cursor=next_cursor)


@router.get("/appeals/{appeal_id}", response_model=AppealDetail,
            responses=error_responses(*_AUTH, OutOfArea, NotFound))
def get_appeal(appeal_id: uuid.UUID, session: SessionDep, principal: Reader) -> AppealDetail:
    """One appeal with its history (every status, who set it, when, the note)."""
    appeal = service.load(session=session, appeal_id=appeal_id, principal=principal)
    return _detail(appeal, repository.events(session, [appeal.id])[appeal.id], principal)


@router.post("/appeals/{appeal_id}/status", response_model=AppealDetail,
             responses=error_responses(*_AUTH, OutOfArea, NotFound, InvalidData, VersionMismatch))
def change_status(appeal_id: uuid.UUID, data: AppealStatusChange, request: Request, session: SessionDep,
                  principal: Mover) -> AppealDetail:
    """Move an appeal to its next status (see docs/appeals.md for who may set which).

    `re_surveyed` closes the re-verification visit; `rejected` needs a note."""
    appeal = service.change_status(session=session, appeal_id=appeal_id, status=data.status,
                                   note=data.note.strip() if data.note else None, version=data.version,
                                   principal=principal, actor=actor_from(principal, request))
    return _detail(appeal, repository.events(session, [appeal.id])[appeal.id], principal)
