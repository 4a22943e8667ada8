"""``GET /reports/families``: the canonical families behind any figure of the reports."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.auth.dependencies import SettingsDep
from app.auth.permissions import Principal
from app.db import SessionDep, as_utc
from app.errors import BadCursor, InvalidData, error_responses
from app.pagination import decode_cursor, encode_cursor
from app.registry.present import maybe_mask
from app.reports.http import (
    RESPONSES,
    FamilyReader,
    FromQ,
    OutputQ,
    ToQ,
    date_range,
)
from app.reports.programmes import FamilyFilter, Kind, check_family_filter, families_page
from app.reports.schemas import FamilyList, FamilyPublic
from app.reports.tables import Column, Table

router = APIRouter()  # mounted under /reports by app.reports.router
_CURSOR_KIND = "report-families"


@router.get("/families", response_model=FamilyList, responses={**RESPONSES, **error_responses(BadCursor)})
def families(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: FamilyReader,
    out: OutputQ,
    kecamatan: Annotated[str | None, Query(description="Kemendagri code, e.g. 82.71.07")] = None,
    kelurahan: Annotated[str | None, Query(description="Kemendagri code, e.g. 82.71.07.1001")] = None,
    desil: Annotated[str | None, Query(description='"1".."10" or "none" (belum ada desil)')] = None,
    source: Annotated[str | None, Query(pattern="^(official|estimate)$", description="desil source")] = None,
    channel: Annotated[
        str | None, Query(description="registration channel (household.source), e.g. sms")
    ] = None,
    programme: Annotated[
        str | None, Query(description="with kind: a programme of the active rule set")
    ] = None,
    period: Annotated[
        str | None, Query(pattern=r"^\d{4}-Q[1-4]$", description="with kind, e.g. 2026-Q1")
    ] = None,
    kind: Annotated[Kind | None, Query(description="eligible | receiving | exclusion | inclusion")] = None,
    registered_from: FromQ = None,
    registered_to: ToQ = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Any:
    """The canonical families behind a figure of the reports (needs household:read), by
    household id; NIK/KK masked unless your role sees them in full. Never publishable."""
    if out.publish:
        raise InvalidData.one(
            "publish",
            "not_publishable",
            "daftar keluarga tidak untuk publikasi / a list of families is never published",
        )
    f = FamilyFilter(
        kecamatan=kecamatan,
        kelurahan=kelurahan,
        desil=desil,
        source=source,
        channel=channel,
        kind=kind,
        programme=programme,
        period=period,
        registered=date_range(registered_from, registered_to, "registered_to"),
    )
    scope = principal.kelurahan_scope
    check_family_filter(session, f, scope)
    if out.format != "json":
        rows = []
        after: uuid.UUID | None = None
        while True:
            page = families_page(session, f=f, scope=scope, after=after, size=5000)
            rows.extend(page[:5000])
            if len(page) <= 5000:
                break
            after = page[4999].household_id
        filters = {
            "kecamatan": kecamatan,
            "kelurahan": kelurahan,
            "desil": desil,
            "source": source,
            "channel": channel,
            "programme": programme,
            "period": period,
            "kind": kind,
            "registered_from": registered_from,
            "registered_to": registered_to,
        }
        made = out.file(principal, filters, lambda: _families_table([_family(r, principal) for r in rows]))
        assert made is not None
        return made
    size = min(limit or settings.page_size_default, settings.page_size_max)
    start = None
    if cursor:
        position: list[Any] = decode_cursor(cursor, key=settings.cursor_key, kind=_CURSOR_KIND)
        try:
            start = uuid.UUID(str(position[0]))
        except (ValueError, IndexError):
            raise BadCursor("cursor position is malformed") from None
    rows = families_page(session, f=f, scope=scope, after=start, size=size)
    page = rows[:size]
    next_cursor = (
        encode_cursor([str(page[-1].household_id)], key=settings.cursor_key, kind=_CURSOR_KIND)
        if len(rows) > size and page
        else None
    )
    return FamilyList(data=[_family(r, principal) for r in page], count=len(page), next_cursor=next_cursor)


def _family(r: Any, principal: Principal) -> FamilyPublic:
    return FamilyPublic(
        household_id=r.household_id,
        kecamatan_code=r.kecamatan_code,
        kecamatan_name=r.kecamatan_name,
        kelurahan_code=r.kelurahan_code,
        kelurahan_name=r.kelurahan_name,
        kk_number=maybe_mask(r.kk_number, principal),
        head_name=r.head_name,
        head_nik=maybe_mask(r.head_nik, principal),
        desil=r.desil,
        desil_source=r.desil_source,
        desil_basis=r.desil_basis,
        channel=r.channel,
        verification_status=r.verification_status,
        created_at=as_utc(r.created_at),
    )


def _families_table(rows: list[FamilyPublic]) -> Table:
    keys = list(FamilyPublic.model_fields)
    return Table(
        "families",
        "Daftar keluarga / families",
        [Column(k, k, "text") for k in keys],
        [{k: _cell(getattr(r, k)) for k in keys} for r in rows],
    )


def _cell(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
