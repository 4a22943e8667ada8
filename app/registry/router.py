"""HTTP layer of the registry: parse, call the service, present.  No rules here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.auth.dependencies import SettingsDep, actor_from, require
from app.auth.permissions import Action, Principal
from app.db import ID_MAX, SessionDep
from app.errors import (
    BadCursor,
    Conflict,
    DuplicateIdentity,
    Forbidden,
    InvalidData,
    NotAuthenticated,
    NotFound,
    OutOfArea,
    VersionMismatch,
    error_responses,
)
from app.pagination import decode_cursor, encode_cursor
from app.registry import export, present, repository, search, service
from app.registry.codes import Relation, SourceChannel, VerificationStatus
from app.registry.schemas import (
    HouseholdCreate,
    HouseholdHistory,
    HouseholdList,
    HouseholdPublic,
    HouseholdUpdate,
    MemberCreate,
    MemberPublic,
    MemberUpdate,
    SearchHit,
    SearchResult,
)

router = APIRouter(tags=["households"])
Reader = Annotated[Principal, Depends(require(Action.household_read))]
Writer = Annotated[Principal, Depends(require(Action.household_write))]
Exporter = Annotated[Principal, Depends(require(Action.household_export))]
_AUTH = (NotAuthenticated, Forbidden)
_WRITE_ERRORS = error_responses(*_AUTH, OutOfArea, NotFound, InvalidData, VersionMismatch,
                                DuplicateIdentity, Conflict)
_CURSOR_KIND = "households"


class HeadTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: uuid.UUID = Field(description="the member who becomes head")
    previous_head_relation: Relation = Field(description="the old head's relation from now on")


def household_filter(
    session: SessionDep,
    kecamatan: Annotated[str | None, Query(description="Kemendagri (82.71.01) or BPS code")] = None,
    kelurahan: Annotated[str | None, Query(description="Kemendagri (dotted) or BPS code")] = None,
    verification_status: VerificationStatus | None = None,
    source: SourceChannel | None = None,
    updated_since: datetime | None = None,
    member_nik: Annotated[str | None, Query(description="households with this member NIK")] = None,
    kk_number: str | None = None,
) -> repository.HouseholdFilter:
    return service.build_filter(
        session=session, kecamatan=kecamatan, kelurahan=kelurahan,
        verification_status=verification_status.value if verification_status else None,
        source=source.value if source else None, updated_since=updated_since,
        member_nik=member_nik, kk_number=kk_number)


FilterDep = Annotated[repository.HouseholdFilter, Depends(household_filter)]


@router.get("/households", response_model=HouseholdList,
            responses=error_responses(*_AUTH, InvalidData, BadCursor))
def list_households(
    settings: SettingsDep, session: SessionDep, principal: Reader, filters: FilterDep,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1, description="page size (capped by the server)")] = None,
) -> HouseholdList:
    """Households in your area, oldest first, with members; filter and page with the cursor."""
    size = min(limit or settings.page_size_default, settings.page_size_max)
    after = None
    if cursor:
        position = decode_cursor(cursor, key=settings.cursor_key, kind=_CURSOR_KIND)
        try:
            after = (datetime.fromisoformat(position[0]), uuid.UUID(position[1]))
        except (IndexError, TypeError, ValueError):
            raise BadCursor("cursor position is malformed") from None
    page, more = service.list_page(session=session, filters=filters, principal=principal,
                                   after=after, size=size)
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = encode_cursor([last.created_at.isoformat(), str(last.id)],
                                    key=settings.cursor_key, kind=_CURSOR_KIND)
    data = present.households_public(session, page, principal)
    return HouseholdList(data=data, count=len(data), next_cursor=next_cursor)


@router.post("/households", response_model=HouseholdPublic, status_code=status.HTTP_201_CREATED,
             responses=_WRITE_ERRORS)
def create_household(data: HouseholdCreate, request: Request, session: SessionDep,
                     principal: Writer) -> HouseholdPublic:
    """Register a family with its members (exactly one head)."""
    household = service.create_household(session=session, data=data, principal=principal,
                                         actor=actor_from(principal, request))
    return present.one_household(session, household, principal)


@router.get("/households/search", response_model=SearchResult,
            responses=error_responses(*_AUTH, InvalidData))
def search_households(
    session: SessionDep, principal: Reader,
    nik: Annotated[str | None, Query(description="exact NIK of any member")] = None,
    kk: Annotated[str | None, Query(description="exact KK number, current or former")] = None,
    name: Annotated[str | None, Query(min_length=2, max_length=120,
                                      description="fuzzy member name")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> SearchResult:
    """Find households by exact NIK, exact KK number (incl. history) or fuzzy name."""
    given = [k for k, v in (("nik", nik), ("kk", kk), ("name", name)) if v]
    if len(given) != 1:
        raise InvalidData.one("query", "exactly_one_of",
                              "give exactly one of nik, kk or name")
    hits: list[SearchHit] = []
    if nik:
        rows = search.by_nik(session, service.checked_identifier(nik, "nik", kind="nik") or "",
                             principal)
        hits = [SearchHit(household=h, score=100.0, matched_on="nik")
                for h in present.households_public(session, rows, principal)]
    elif kk:
        rows = search.by_kk(session, service.checked_identifier(kk, "kk", kind="kk") or "",
                            principal)
        hits = [SearchHit(household=h, score=100.0, matched_on="kk_number")
                for h in present.households_public(session, rows, principal)]
    else:
        ranked = search.by_name(session, name or "", principal, limit=limit)
        public = present.households_public(session, [h for h, _, _ in ranked], principal)
        hits = [SearchHit(household=p, score=round(score, 1), matched_on="name",
                          matched_name=matched) for p, (_, score, matched) in zip(public, ranked,
                                                                                 strict=True)]
    return SearchResult(data=hits[:limit], count=len(hits[:limit]))


@router.get("/households/export.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "CSV, one row per household"},
                       **error_responses(*_AUTH, InvalidData)})
def export_households(request: Request, principal: Exporter, filters: FilterDep
                      ) -> StreamingResponse:
    """Stream the filtered list as CSV (UTF-8 with BOM); identifiers masked per role."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        export.iter_csv(request.app.state.session_factory, filters=filters, principal=principal),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="sigap-keluarga-{stamp}.csv"'})


@router.get("/households/{household_id}", response_model=HouseholdPublic,
            responses=error_responses(*_AUTH, OutOfArea, NotFound))
def get_household(household_id: uuid.UUID, session: SessionDep, principal: Reader
                  ) -> HouseholdPublic:
    household = service.load_household(session=session, household_id=household_id,
                                       principal=principal)
    return present.one_household(session, household, principal)


@router.patch("/households/{household_id}", response_model=HouseholdPublic,
              responses=_WRITE_ERRORS)
def update_household(household_id: uuid.UUID, data: HouseholdUpdate, request: Request,
                     session: SessionDep, principal: Writer) -> HouseholdPublic:
    """Change the fields you send; ``version`` must be the one you last read (else 409)."""
    household = service.update_household(session=session, household_id=household_id, data=data,
                                         principal=principal, actor=actor_from(principal, request))
    return present.one_household(session, household, principal)


@router.delete("/households/{household_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=_WRITE_ERRORS)
def delete_household(household_id: uuid.UUID, request: Request, session: SessionDep,
                     principal: Writer,
                     version: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None) -> Response:
    """Soft delete: the household and its members leave every list; history is kept."""
    service.delete_household(session=session, household_id=household_id, version=version,
                             principal=principal, actor=actor_from(principal, request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/households/{household_id}/history", response_model=HouseholdHistory,
            responses=error_responses(*_AUTH, OutOfArea, NotFound))
def household_history(household_id: uuid.UUID, session: SessionDep, principal: Reader
                      ) -> HouseholdHistory:
    """Every change to the household and its members: who, channel, when, before/after."""
    entries, kks = service.household_history(session=session, household_id=household_id,
                                             principal=principal)
    return present.history_public(household_id, entries, kks, principal)


@router.post("/households/{household_id}/members", response_model=MemberPublic,
             status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
def add_member(household_id: uuid.UUID, data: MemberCreate, request: Request,
               session: SessionDep, principal: Writer) -> MemberPublic:
    member = service.add_member(session=session, household_id=household_id, data=data,
                                principal=principal, actor=actor_from(principal, request))
    return present.member_public(member, principal)


@router.put("/households/{household_id}/head", response_model=HouseholdPublic,
            responses=_WRITE_ERRORS)
def transfer_head(household_id: uuid.UUID, data: HeadTransfer, request: Request,
                  session: SessionDep, principal: Writer) -> HouseholdPublic:
    """Make another member the head (e.g. after the head died) in one atomic step."""
    household = service.transfer_head(
        session=session, household_id=household_id, new_head_id=data.member_id,
        previous_head_relation=data.previous_head_relation.value, principal=principal,
        actor=actor_from(principal, request))
    return present.one_household(session, household, principal)


@router.patch("/members/{member_id}", response_model=MemberPublic, responses=_WRITE_ERRORS)
def update_member(member_id: uuid.UUID, data: MemberUpdate, request: Request,
                  session: SessionDep, principal: Writer) -> MemberPublic:
    member = service.update_member(session=session, member_id=member_id, data=data,
                                   principal=principal, actor=actor_from(principal, request))
    return present.member_public(member, principal)


@router.delete("/members/{member_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=_WRITE_ERRORS)
def delete_member(member_id: uuid.UUID, request: Request, session: SessionDep,
                  principal: Writer,
                  version: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None) -> Response:
    service.delete_member(session=session, member_id=member_id, version=version,
                          principal=principal, actor=actor_from(principal, request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
