"""Rendering: templates, the CSRF token of each page, security headers, errors as pages.

``ConsoleRoute`` turns what a console handler raises into a page instead of the API's JSON:
no session -> the login page; a refused CSRF token -> 403; a service's ``AppError`` -> its
status with the sentence from ``texts``. The session dependency has already rolled back by
then, so a refused action leaves nothing half-applied.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from app.appeals.service import WIT
from app.auth.dependencies import SESSION_COOKIE
from app.auth.permissions import Action, Principal
from app.console import texts
from app.console.security import (
    LOGIN_PATH,
    CsrfRefused,
    LoginRequired,
    clear_session,
    csrf_token,
    set_csrf_cookie,
)
from app.eligibility.fields import code_label
from app.errors import AppError

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(texts=texts, Action=Action)
templates.env.trim_blocks = templates.env.lstrip_blocks = True
templates.env.filters["kode"] = lambda value: code_label(value, "id")  # head -> kepala keluarga
templates.env.filters["wit"] = lambda moment: moment.astimezone(WIT).strftime("%Y-%m-%d pukul %H.%M")

# nothing is loaded from anywhere but this site; no script at all
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _harden(response: Response) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"  # pages hold personal data


def render(
    request: Request, name: str, *, principal: Principal | None = None, status: int = 200, **context: Any
) -> HTMLResponse:
    csrf = csrf_token(request, request.app.state.settings)
    done = request.query_params.get("ok")
    response = templates.TemplateResponse(
        request,
        name,
        {"principal": principal, "csrf": csrf, "done": texts.DONE.get(done or ""), **context},
        status_code=status,
    )
    set_csrf_cookie(request, response)
    _harden(response)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)  # after a POST: the browser GETs the page


def error_page(request: Request, status: int, message: str, detail: str | None = None) -> HTMLResponse:
    return render(request, "error.html", status=status, message=message, detail=detail)


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method != "GET":  # the form's page, not its action, after logging in
                    target = "/console"
                response: Response = redirect(f"{LOGIN_PATH}?next={quote(target, safe='')}")
                if SESSION_COOKIE in request.cookies:  # stale or revoked: drop it
                    clear_session(request, response)
                return response
            except CsrfRefused:
                return error_page(request, 403, texts.CSRF_REFUSED)
            except RequestValidationError as exc:  # e.g. an id in the address beyond any row's
                named = "; ".join(
                    f"{'.'.join(str(part) for part in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
                )
                return error_page(request, 422, texts.INVALID_REQUEST, named)
            except AppError as exc:
                return error_page(request, exc.status_code, texts.error_message(exc), exc.message)

        return route
