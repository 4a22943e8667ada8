"""Authentication, the caller's area, and user administration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from app.audit.service import ActorRef, record
from app.auth import repository, throttle
from app.auth.models import RevokedToken, Role, User
from app.auth.permissions import Principal
from app.auth.schemas import UserCreate, UserPublic
from app.auth.security import hash_password, verify_password
from app.config import Settings
from app.db import utcnow
from app.errors import Conflict, InvalidData, NotAuthenticated
from app.wilayah import repository as wilayah_repo


def authenticate(*, session: Session, settings: Settings, username: str, password: str, client: str) -> User:
    """The active user with this username and password, else ``NotAuthenticated``; refused
    logins are counted (``throttle``) and, past the limit, refused with ``TooManyLogins``
    before the password is looked at. The caller commits also when this raises, so that the
    refusal is counted."""
    throttle.check(session, settings, username=username, client=client)
    if "\x00" in username or len(username) > 64:
        verify_password(password, None)  # same cost as a real attempt
        throttle.failed(session, settings, username=username, client=client)
        raise NotAuthenticated("Incorrect username or password")
    user = repository.get_user_by_username(session, username)
    ok = verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        throttle.failed(session, settings, username=username, client=client)
        raise NotAuthenticated("Incorrect username or password")
    throttle.succeeded(session, username=username)
    return user


REVOKED_KEPT_AFTER_EXPIRY = timedelta(minutes=5)


def _revocable(claims: dict[str, Any]) -> str | None:
    """The id of a token a logout can end: a user's access token (a device token is ended by
    revoking its device, so the sync path looks nothing up here)."""
    jti = claims.get("jti")
    return jti if claims.get("typ") == "access" and isinstance(jti, str) else None


def is_revoked(session: Session, claims: dict[str, Any]) -> bool:
    """Whether the token with these (verified) claims was ended by a logout."""
    jti = _revocable(claims)
    return jti is not None and session.get(RevokedToken, jti) is not None


def revoke(session: Session, claims: dict[str, Any]) -> None:
    """End the token with these (verified) claims before its expiry (a console logout); rows of
    tokens that have expired by themselves are forgotten on the way."""
    jti, exp = _revocable(claims), claims.get("exp")
    if jti is None or not isinstance(exp, int) or session.get(RevokedToken, jti) is not None:
        return
    now = utcnow()
    # a margin past expiry: the token library compares whole seconds, and servers' clocks differ
    expired = now - REVOKED_KEPT_AFTER_EXPIRY
    session.execute(delete(RevokedToken).where(col(RevokedToken.expires_at) < expired))
    try:
        with session.begin_nested():  # two logouts of one token at once (a double click)
            session.add(RevokedToken(jti=jti, expires_at=datetime.fromtimestamp(exp, UTC), revoked_at=now))
    except IntegrityError:
        pass  # the other one recorded it: the token is ended either way


def principal_for(*, session: Session, user: User, settings: Settings) -> Principal:
    role = Role(user.role)
    assert user.id is not None
    scope: frozenset[str] | None
    if role in (Role.admin, Role.dinsos):
        scope = None
    elif role is Role.supervisor:
        scope = frozenset(repository.kelurahan_of_kecamatan(session, user.kecamatan_code or ""))
    else:
        scope = frozenset(repository.assigned_kelurahan(session, user.id))
    return Principal(user_id=user.id, username=user.username, role=role, kelurahan_scope=scope,
                     full_identifiers=role.value in settings.full_identifier_roles)


def to_public(session: Session, user: User) -> UserPublic:
    assert user.id is not None
    return UserPublic(
        id=user.id, username=user.username, full_name=user.full_name, role=Role(user.role),
        kecamatan_code=user.kecamatan_code, kelurahan_codes=repository.assigned_kelurahan(
            session, user.id), is_active=user.is_active, created_at=user.created_at)


def create_user(*, session: Session, data: UserCreate, actor: ActorRef) -> User:
    if repository.get_user_by_username(session, data.username) is not None:
        raise Conflict(f"username {data.username!r} is already taken")
    kecamatan_code = None
    if data.role is Role.supervisor:
        if data.kecamatan_code:
            kecamatan_code = wilayah_repo.resolve_kecamatan_code(session, data.kecamatan_code)
        if kecamatan_code is None:
            raise InvalidData.one("kecamatan_code", "kecamatan_required",
                                  "a supervisor needs an existing kecamatan_code")
    elif data.kecamatan_code is not None:
        raise InvalidData.one("kecamatan_code", "only_for_supervisor",
                              "kecamatan_code applies to supervisors only")
    if data.role is Role.enumerator and not data.kelurahan_codes:
        raise InvalidData.one("kelurahan_codes", "assignment_required",
                              "an enumerator needs at least one assigned kelurahan")
    if data.role is not Role.enumerator and data.kelurahan_codes:
        raise InvalidData.one("kelurahan_codes", "only_for_enumerator",
                              "kelurahan_codes apply to enumerators only")
    codes = [wilayah_repo.resolve_kelurahan_code(session, c) for c in data.kelurahan_codes]
    for given, code in zip(data.kelurahan_codes, codes, strict=True):
        if code is None:
            raise InvalidData.one("kelurahan_codes", "kelurahan_exists",
                                  f"kelurahan {given!r} does not exist")
    user = User(username=data.username, full_name=data.full_name,
                password_hash=hash_password(data.password), role=data.role.value,
                kecamatan_code=kecamatan_code)
    try:
        with session.begin_nested():
            repository.add_user(session, user, sorted({c for c in codes if c}))
    except IntegrityError:  # a concurrent request took the username first
        raise Conflict(f"username {data.username!r} is already taken") from None
    record(session, actor=actor, action="create", entity_type="user", entity_id=str(user.id),
           changes={"username": [None, user.username], "role": [None, user.role]})
    return user


def set_password(*, session: Session, user: User, password: str, actor: ActorRef) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()  # tokens issued before this stop working
    session.add(user)
    session.flush()
    record(session, actor=actor, action="update", entity_type="user", entity_id=str(user.id),
           changes={"password": ["***", "***"]})
