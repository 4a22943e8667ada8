"""FastAPI dependencies: the caller (Principal), permission checks and the audit actor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from app.audit.service import ActorRef
from app.auth import repository, service
from app.auth.models import Role
from app.auth.permissions import Action, Principal
from app.auth.security import decode_access_token
from app.config import Settings
from app.db import SessionDep, as_utc
from app.errors import DeviceRevoked, Forbidden, NotAuthenticated
from app.sync.models import Device

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


# The web console keeps the same access token in this cookie (HttpOnly, SameSite=Strict).
SESSION_COOKIE = "sigap_session"
# The API accepts the cookie for reads only: a cookie rides along with any request the browser
# makes, so a state-changing API call must carry the token explicitly (no CSRF through the API).
# The console's own forms are POSTs with a CSRF token (app/console/security.py).
COOKIE_METHODS = frozenset({"GET", "HEAD"})


def get_principal(request: Request, session: SessionDep, settings: SettingsDep,
                  token: Annotated[str | None, Depends(oauth2_scheme)]) -> Principal:
    if not token and request.method in COOKIE_METHODS:
        token = request.cookies.get(SESSION_COOKIE)
    return principal_from_token(session=session, settings=settings, token=token)


def principal_from_token(*, session: Session, settings: Settings, token: str | None) -> Principal:
    if not token:
        raise NotAuthenticated("Not authenticated: send 'Authorization: Bearer <token>'")
    claims = decode_access_token(settings=settings, token=token)
    if service.is_revoked(session, claims):
        raise NotAuthenticated("Logged out: log in again")
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise NotAuthenticated("Invalid token subject") from None
    user = repository.get_user(session, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("User is disabled or no longer exists")
    if user.role != claims.get("role"):
        raise NotAuthenticated("Role changed since this token was issued: log in again")
    changed = as_utc(user.password_changed_at)
    if changed is not None and int(claims.get("iat", 0)) < int(changed.timestamp()):
        raise NotAuthenticated("Password changed since this token was issued: log in again")
    principal = service.principal_for(session=session, user=user, settings=settings)
    if claims["typ"] == "device":
        device = session.get(Device, claims["did"])
        if device is None or device.user_id != user.id:
            raise NotAuthenticated("Unknown device: enrol this device again")
        if device.revoked_at is not None:
            raise DeviceRevoked(
                "Perangkat ini sudah dicabut aksesnya"
                + (f" ({device.revoke_reason})" if device.revoke_reason else "")
                + ". Hubungi supervisor Anda; data yang belum terkirim tetap tersimpan di tablet.")
        principal = replace(principal, device_id=device.id)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(action: Action) -> Callable[[Principal], Principal]:
    def checker(principal: PrincipalDep) -> Principal:
        if not principal.can(action):
            raise Forbidden(f"role {principal.role.value} may not {action.value}")
        return principal

    checker.__name__ = f"require_{action.name}"
    return checker


def actor_from(principal: Principal, request: Request) -> ActorRef:
    channel = "enumerator" if principal.role is Role.enumerator else "api"
    return ActorRef(user_id=principal.user_id, name=principal.username, channel=channel,
                    request_id=getattr(request.state, "request_id", None),
                    device_id=principal.device_id)
