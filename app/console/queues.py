"""Supervisors' review queues in the console: duplicate candidates and sync conflicts.

Every read and every decision goes through the services the API uses (app.reconcile.review,
app.sync.conflicts) with the same Principal; a refused decision is rolled back to a savepoint
and the page is shown again with the reason in Bahasa Indonesia.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from app.audit.service import ActorRef
from app.auth.dependencies import actor_from
from app.auth.permissions import Action, Principal
from app.console import texts
from app.console.pages import ConsoleRoute, redirect, render
from app.console.security import ConsolePrincipal, CsrfChecked, allowed
from app.db import RowId, SessionDep
from app.errors import AppError
from app.reconcile import review
from app.reconcile import router as reconcile_api
from app.registry import present
from app.sync import conflicts
from app.sync.models import SyncConflict

router = APIRouter(prefix="/review", route_class=ConsoleRoute)
PAGE = 50
Note = Annotated[str | None, Form(max_length=500)]
# household columns not compared side by side (bookkeeping, or shown elsewhere on the page)
_NOT_COMPARED = frozenset({"id", "version", "created_at", "updated_at", "deleted_at", "members", "warnings"})


def _figures_changed(request: Request, session: Session) -> None:
    """The dashboard recounts once this decision is committed (its checklist counts the queues)."""
    request.app.state.dashboard_cache.clear_after_commit(session)


def _actor(principal: Principal, request: Request) -> ActorRef:
    return replace(actor_from(principal, request), channel="console")


# ---- duplicate candidates -------------------------------------------------------------------


@router.get("/duplicates", response_class=HTMLResponse)
def candidates(
    request: Request,
    session: SessionDep,
    principal: ConsolePrincipal,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    allowed(principal, Action.dedup_review)
    rows, more = review.list_candidates(
        session, principal, status="pending", kind=None, kecamatan=None, limit=PAGE, offset=offset
    )
    return render(
        request, "candidates.html", principal=principal, rows=rows, more=more, offset=offset, page=PAGE
    )


def _candidate_page(
    request: Request,
    session: Session,
    principal: Principal,
    candidate_id: int,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    detail = reconcile_api.get_candidate(candidate_id, session, principal)  # masked, area-checked
    households = {h.id: h for h in detail.households}
    pair = [households.get(detail.household_a), households.get(detail.household_b)]
    members = {m.id: m for h in detail.households for m in h.members}
    fields = []
    if pair[0] and pair[1]:
        a, b = pair[0].model_dump(), pair[1].model_dump()
        fields = [
            (k, a[k], b[k], a[k] != b[k])
            for k in a
            if k not in _NOT_COMPARED and (a[k] is not None or b[k] is not None)
        ]
    merge = None
    if detail.merge_id is not None:
        merge = reconcile_api.get_merge(detail.merge_id, session, principal)
    return render(
        request,
        "candidate.html",
        principal=principal,
        c=detail,
        pair=pair,
        fields=fields,
        members=members,
        merge=merge,
        error=error,
        status=status,
    )


@router.get("/duplicates/{candidate_id}", response_class=HTMLResponse)
def candidate(
    candidate_id: RowId, request: Request, session: SessionDep, principal: ConsolePrincipal
) -> Response:
    allowed(principal, Action.dedup_review)
    return _candidate_page(request, session, principal, candidate_id)


@router.post("/duplicates/{candidate_id}/decision", dependencies=[CsrfChecked])
def decide(
    candidate_id: RowId,
    request: Request,
    session: SessionDep,
    principal: ConsolePrincipal,
    decision: Annotated[Literal["merge", "distinct"], Form()],
    survivor_id: Annotated[uuid.UUID | None, Form()] = None,
    note: Note = None,
) -> Response:
    allowed(principal, Action.dedup_review)
    try:
        with session.begin_nested():
            review.decide(
                session,
                principal,
                _actor(principal, request),
                candidate_id,
                decision=decision,
                survivor_id=survivor_id,
                note=note or None,
            )
    except AppError as exc:
        return _candidate_page(
            request, session, principal, candidate_id, error=texts.error_message(exc), status=exc.status_code
        )
    _figures_changed(request, session)
    return redirect(f"/console/review/duplicates/{candidate_id}?ok={decision}")


@router.post("/merges/{merge_id}/undo", dependencies=[CsrfChecked])
def undo(
    merge_id: RowId, request: Request, session: SessionDep, principal: ConsolePrincipal, note: Note = None
) -> Response:
    allowed(principal, Action.dedup_review)
    record = review.get_merge(session, principal, merge_id)
    back = record.candidate_id
    try:
        with session.begin_nested():
            review.undo(session, principal, _actor(principal, request), merge_id, note or None)
    except AppError as exc:
        if back is None:
            raise
        return _candidate_page(
            request, session, principal, back, error=texts.error_message(exc), status=exc.status_code
        )
    _figures_changed(request, session)
    return redirect(f"/console/review/duplicates/{back}?ok=undo" if back else "/console/review/duplicates")


# ---- sync conflicts -------------------------------------------------------------------------


def _shown(conflict: SyncConflict, value: Any, principal: Principal) -> Any:
    """A conflict's value as this role may see it (NIK/KK/phone masked like everywhere else)."""
    return present.mask_changes({conflict.field: [value]}, principal)[conflict.field][0]


@router.get("/conflicts", response_class=HTMLResponse)
def conflict_list(
    request: Request,
    session: SessionDep,
    principal: ConsolePrincipal,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    allowed(principal, Action.conflict_resolve)
    rows, total = conflicts.list_conflicts(
        session=session, principal=principal, status="open", kelurahan=None, limit=PAGE, offset=offset
    )
    shown = [(c, _shown(c, c.server_value, principal), _shown(c, c.device_value, principal)) for c in rows]
    return render(
        request,
        "conflicts.html",
        principal=principal,
        rows=shown,
        more=total > PAGE,
        offset=offset,
        page=PAGE,
    )


def _conflict_page(
    request: Request,
    session: Session,
    principal: Principal,
    conflict_id: uuid.UUID,
    *,
    error: str | None = None,
    status: int = 200,
    entered: str = "",
) -> Response:
    c = conflicts.get_conflict(session=session, principal=principal, conflict_id=conflict_id)
    return render(
        request,
        "conflict.html",
        principal=principal,
        c=c,
        error=error,
        status=status,
        server=_shown(c, c.server_value, principal),
        device=_shown(c, c.device_value, principal),
        resolved=_shown(c, c.resolved_value, principal),
        entered=entered,
    )


@router.get("/conflicts/{conflict_id}", response_class=HTMLResponse)
def conflict(
    conflict_id: uuid.UUID, request: Request, session: SessionDep, principal: ConsolePrincipal
) -> Response:
    allowed(principal, Action.conflict_resolve)
    return _conflict_page(request, session, principal, conflict_id)


def typed_value(text: str, like: tuple[Any, ...]) -> Any:
    """The entered text as the field's type, taken from the two values in conflict: a number
    where they are numbers, true/false where they are booleans, else the text as typed (so a
    code like "007" stays a string)."""
    text = text.strip()
    if text == "":
        return None
    kinds = {type(v) for v in like if v is not None}
    if kinds and kinds <= {int, float}:
        try:
            number = json.loads(text.replace(",", "."))
        except ValueError:
            return text  # the registry's validation names the field and the rule
        return number if isinstance(number, int | float) else text
    if kinds == {bool}:
        return {"ya": True, "true": True, "tidak": False, "false": False}.get(text.lower(), text)
    return text


@router.post("/conflicts/{conflict_id}/resolve", dependencies=[CsrfChecked])
def resolve(
    conflict_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: ConsolePrincipal,
    choice: Annotated[Literal["server", "device", "value"], Form()],
    value: Annotated[str, Form(max_length=500)] = "",
    note: Note = None,
) -> Response:
    allowed(principal, Action.conflict_resolve)
    c = conflicts.get_conflict(session=session, principal=principal, conflict_id=conflict_id)
    given = choice == "value"
    typed = typed_value(value, (c.server_value, c.device_value)) if given else None
    try:
        with session.begin_nested():
            conflicts.resolve(
                session=session,
                principal=principal,
                conflict_id=conflict_id,
                choice=choice,
                value=typed,
                value_given=given and value.strip() != "",
                note=note or None,
                actor=_actor(principal, request),
            )
    except AppError as exc:
        return _conflict_page(
            request,
            session,
            principal,
            conflict_id,
            error=texts.error_message(exc),
            status=exc.status_code,
            entered=value,
        )
    _figures_changed(request, session)
    return redirect(f"/console/review/conflicts/{conflict_id}?ok=resolved")
