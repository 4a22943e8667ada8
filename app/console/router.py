"""Console pages: login, logout, the dashboard and a household (HTTP only; no rules here)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from app.appeals import repository as appeals_repo
from app.appeals.models import Appeal
from app.auth import service as auth_service
from app.auth import throttle
from app.auth.dependencies import SESSION_COOKIE, SettingsDep
from app.auth.permissions import Action
from app.auth.security import create_access_token, decode_access_token
from app.console import charts, data
from app.console.pages import HERE, ConsoleRoute, redirect, render
from app.console.queues import router as queues_router
from app.console.security import (
    ConsolePrincipal,
    CsrfChecked,
    allowed,
    clear_session,
    safe_next,
    set_session,
)
from app.console.texts import LOGIN_FAILED, LOGIN_LOCKED, error_message
from app.db import SessionDep
from app.eligibility import router as eligibility_api
from app.errors import InvalidData, NotAuthenticated, TooManyLogins
from app.registry import present
from app.registry import router as registry_api
from app.registry import service as registry
from app.reports.checklist import STATUS_LABELS
from app.wilayah.models import Kelurahan

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=safe_next(next))


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    try:
        user = auth_service.authenticate(
            session=session, settings=settings, username=username, password=password,
            client=throttle.client_of(request),
        )
    except NotAuthenticated:  # counted: the page is an answer, the session commits
        return render(
            request, "login.html", status=401, error=LOGIN_FAILED, next=safe_next(next), username=username
        )
    except TooManyLogins as exc:
        locked = render(
            request, "login.html", status=429, error=LOGIN_LOCKED.format(minutes=exc.minutes),
            next=safe_next(next), username=username,
        )
        locked.headers.update(exc.headers or {})  # Retry-After
        return locked
    assert user.id is not None
    token, lifetime = create_access_token(settings=settings, user_id=user.id, role=user.role)
    response = redirect(safe_next(next))
    set_session(request, response, token, lifetime)
    return response


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Clear the cookie AND end its token: a copy of the cookie (a shared office computer, a
    proxy log) no longer opens the console or the API."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with contextlib.suppress(NotAuthenticated):  # expired or not ours: nothing left to end
            auth_service.revoke(session, decode_access_token(settings=settings, token=token))
    response = redirect("/console/login?ok=logout")
    clear_session(request, response)
    return response


@router.get("", response_class=HTMLResponse)
def dashboard(
    request: Request,
    session: SessionDep,
    principal: ConsolePrincipal,
    refresh: Annotated[bool, Query(description="recount now instead of the cached figures")] = False,
) -> Response:
    allowed(principal, Action.eligibility_read)
    # the aggregates are reports: the same permission as the report API (enumerators: none)
    settings = request.app.state.settings
    cache: data.DashboardCache = request.app.state.dashboard_cache
    figures = cache.get(
        data.cache_key(principal), lambda: data.compute(session, settings, principal), refresh=refresh
    )
    matrix, trends = figures.matrix, figures.trends
    totals = {k: sum(r.counts[k] for r in matrix) for k in data.DESIL_KEYS}
    return render(
        request,
        "dashboard.html",
        principal=principal,
        computed_at=figures.computed_at,
        cache_seconds=cache.ttl,
        matrix=matrix,
        totals=totals,
        grand_total=sum(totals.values()),
        estimated=sum(r.estimated for r in matrix),
        keys=data.DESIL_KEYS,
        matrix_chart=charts.desil_stacked_bars(matrix),
        coverage=figures.coverage,
        coverage_chart=charts.coverage_bars(figures.coverage),
        trends=trends,
        trend_chart=charts.trend_lines(trends) if trends else None,
        checklist=figures.checklist,
        status_labels=STATUS_LABELS,
        can_report=principal.can(Action.report_read),
        can_export=principal.can(Action.report_export),
    )


@router.get("/households", response_class=HTMLResponse)
def find_household(
    request: Request,
    session: SessionDep,
    principal: ConsolePrincipal,
    q: Annotated[str, Query(max_length=120)] = "",
    by: Literal["name", "nik", "kk"] = "name",
) -> Response:
    """The API's search (fuzzy name, exact NIK or KK, current or former) within the caller's area."""
    allowed(principal, Action.household_read)
    q = q.strip()
    if len(q) < 2:
        return render(request, "search.html", principal=principal, q=q, by=by, hits=None)
    query = {"name": None, "nik": None, "kk": None, by: q}
    try:
        found = registry_api.search_households(session=session, principal=principal, limit=20, **query)
    except InvalidData as exc:
        return render(
            request,
            "search.html",
            principal=principal,
            q=q,
            by=by,
            hits=None,
            error=error_message(exc),
            status=422,
        )
    return render(request, "search.html", principal=principal, q=q, by=by, hits=found.data)


@router.get("/households/{household_id}", response_class=HTMLResponse)
def household(
    household_id: uuid.UUID, request: Request, session: SessionDep, principal: ConsolePrincipal
) -> Response:
    allowed(principal, Action.household_read)
    row = registry.load_household(session=session, household_id=household_id, principal=principal)
    shown = present.one_household(session, row, principal)  # NIK/KK masked as in the API
    entries, kks = registry.household_history(session=session, household_id=household_id, principal=principal)
    history = present.history_public(household_id, entries, kks, principal)
    eligibility = desil = None
    if principal.can(Action.eligibility_read):
        eligibility = eligibility_api.household_eligibility(household_id, session, principal)
        desil = eligibility_api.household_desil(household_id, session, principal)
    appeals: list[Appeal] = []
    if principal.can(Action.appeal_read):
        appeals, _ = appeals_repo.page(
            session,
            appeals_repo.AppealFilter(household_id=household_id),
            principal.kelurahan_scope,
            after=None,
            size=50,
        )
    kelurahan = session.get(Kelurahan, row.kelurahan_code)
    return render(
        request,
        "household.html",
        principal=principal,
        h=shown,
        history=history,
        eligibility=eligibility,
        desil=desil,
        appeals=appeals,
        kelurahan=kelurahan.name if kelurahan else row.kelurahan_code,
        phone_of=lambda p: present.maybe_mask(p, principal),
    )


router.include_router(queues_router)


def install_console(app: FastAPI) -> None:
    """The console's pages and its one stylesheet (cached by the browser: it rarely changes)."""
    app.state.dashboard_cache = data.DashboardCache(app.state.settings.dashboard_cache_seconds)
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
