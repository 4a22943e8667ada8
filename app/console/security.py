"""Console login state: the access token in a cookie, CSRF tokens, the caller of a page.

The session cookie holds the same JWT the API issues (HttpOnly, SameSite=Strict, Secure over
https). Every POST form carries a CSRF token: an HMAC, keyed by the server secret, of a random
per-browser nonce (its own cookie) and the session cookie, so a token is useless in another
browser or after logging in or out (the OWASP "signed double-submit cookie"), masked afresh on
every page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Form, Request, Response

from app.auth.dependencies import SESSION_COOKIE, SettingsDep, principal_from_token
from app.auth.permissions import Action, Principal
from app.config import Settings
from app.db import SessionDep
from app.errors import Forbidden, NotAuthenticated

CSRF_COOKIE = "sigap_csrf"
CSRF_FIELD = "csrf"
LOGIN_PATH = "/console/login"


class LoginRequired(Exception):
    """No valid session: the page redirects to the login form (and back after it)."""


class CsrfRefused(Exception):
    """A POST without a valid CSRF token: refused before anything is read or written."""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def csrf_nonce(request: Request) -> str:
    """This browser's nonce; a new one (set on the response by ``render``) if it has none."""
    nonce = getattr(request.state, "csrf_nonce", None) or request.cookies.get(CSRF_COOKIE)
    if not nonce or len(nonce) > 64:
        nonce = secrets.token_urlsafe(24)
        request.state.csrf_new = True
    request.state.csrf_nonce = nonce
    return nonce


def _expected(request: Request, settings: Settings) -> bytes:
    message = f"console-csrf|{csrf_nonce(request)}|{request.cookies.get(SESSION_COOKIE, '')}"
    return hmac.new(settings.secret_key.encode(), message.encode(), hashlib.sha256).digest()


def csrf_token(request: Request, settings: Settings) -> str:
    """The token for this page, masked with a fresh random pad on every page: the secret part
    never repeats in a compressed response (BREACH), while every page's token stays valid."""
    pad = secrets.token_bytes(32)
    return (pad + bytes(a ^ b for a, b in zip(pad, _expected(request, settings), strict=True))).hex()


def _unmask(token: str) -> bytes | None:
    try:
        raw = bytes.fromhex(token)
    except ValueError:
        return None
    if len(raw) != 64:
        return None
    return bytes(a ^ b for a, b in zip(raw[:32], raw[32:], strict=True))


def set_csrf_cookie(request: Request, response: Response) -> None:
    if getattr(request.state, "csrf_new", False):
        response.set_cookie(
            CSRF_COOKIE,
            request.state.csrf_nonce,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path="/console",
        )


def check_csrf(
    request: Request, settings: SettingsDep, csrf: Annotated[str, Form(max_length=256)] = ""
) -> None:
    """Dependency of every console POST: the form's token must match this browser's cookies."""
    given = _unmask(csrf)
    if (
        not request.cookies.get(CSRF_COOKIE)
        or given is None
        or not hmac.compare_digest(given, _expected(request, settings))
    ):
        raise CsrfRefused


def set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )


def console_principal(request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
    """The caller, from the session cookie; no cookie or a stale token means the login page."""
    try:
        return principal_from_token(
            session=session, settings=settings, token=request.cookies.get(SESSION_COOKIE)
        )
    except NotAuthenticated:
        raise LoginRequired from None


ConsolePrincipal = Annotated[Principal, Depends(console_principal)]
CsrfChecked = Depends(check_csrf)


def allowed(principal: Principal, action: Action) -> Principal:
    """``require(action)`` of the API for a console page: the same role table, the same refusal."""
    if not principal.can(action):
        raise Forbidden(f"role {principal.role.value} may not {action.value}")
    return principal


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a console path of this site, never another site."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"
