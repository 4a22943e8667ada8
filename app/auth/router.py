from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import repository, service, throttle
from app.auth.dependencies import PrincipalDep, SettingsDep, actor_from, require
from app.auth.permissions import Action, Principal
from app.auth.schemas import Token, UserCreate, UserList, UserPublic
from app.auth.security import create_access_token
from app.db import SessionDep
from app.errors import Conflict, Forbidden, InvalidData, NotAuthenticated, TooManyLogins, error_responses

router = APIRouter(tags=["auth"])
AdminDep = Annotated[Principal, Depends(require(Action.user_admin))]


@router.post("/auth/token", response_model=Token, responses=error_responses(NotAuthenticated, TooManyLogins))
def login(session: SessionDep, settings: SettingsDep, request: Request,
          form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """Exchange username and password for a bearer token (OAuth2 password flow).

    After `SIGAP_LOGIN_MAX_FAILURES` refused logins for a username (or
    `SIGAP_LOGIN_MAX_FAILURES_PER_CLIENT` from one address) within
    `SIGAP_LOGIN_WINDOW_MINUTES`, logins there get 429 `login_locked` with `Retry-After`."""
    try:
        user = service.authenticate(session=session, settings=settings, username=form.username,
                                    password=form.password, client=throttle.client_of(request))
    except NotAuthenticated:
        session.commit()  # the refusal is counted although the request fails
        raise
    assert user.id is not None
    token, expires_in = create_access_token(settings=settings, user_id=user.id, role=user.role)
    return Token(access_token=token, expires_in=expires_in)


@router.get("/auth/me", response_model=UserPublic, responses=error_responses(NotAuthenticated))
def me(session: SessionDep, principal: PrincipalDep) -> UserPublic:
    user = repository.get_user(session, principal.user_id)
    assert user is not None
    return service.to_public(session, user)


@router.get("/users", response_model=UserList,
            responses=error_responses(NotAuthenticated, Forbidden))
def list_users(session: SessionDep, _admin: AdminDep) -> UserList:
    users = [service.to_public(session, u) for u in repository.list_users(session)]
    return UserList(data=users, count=len(users))


@router.post("/users", response_model=UserPublic, status_code=status.HTTP_201_CREATED,
             responses=error_responses(NotAuthenticated, Forbidden, Conflict, InvalidData))
def create_user(data: UserCreate, session: SessionDep, admin: AdminDep,
                request: Request) -> UserPublic:
    user = service.create_user(session=session, data=data, actor=actor_from(admin, request))
    return service.to_public(session, user)
