"""Users, roles and enumerators' kelurahan assignments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Index
from sqlmodel import Field, SQLModel

from app.db import utcnow


class Role(StrEnum):
    admin = "admin"
    dinsos = "dinsos"
    supervisor = "supervisor"
    enumerator = "enumerator"


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    full_name: str = Field(default="", max_length=120)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    kecamatan_code: str | None = Field(default=None, foreign_key="kecamatan.code", max_length=8)
    is_active: bool = True
    password_changed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class EnumeratorAssignment(SQLModel, table=True):
    __tablename__ = "enumerator_assignment"

    user_id: int = Field(foreign_key="app_user.id", primary_key=True, ondelete="CASCADE")
    kelurahan_code: str = Field(foreign_key="kelurahan.code", primary_key=True, max_length=13)


class LoginFailure(SQLModel, table=True):
    """A refused password login (app/auth/throttle.py): counted per username and per client
    address over ``SIGAP_LOGIN_WINDOW_MINUTES``; a successful login clears its username's."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_username", "username", "at"),
        Index("ix_login_failure_client", "client", "at"),
        Index("ix_login_failure_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)  # as typed, lower-cased (unknown names count too)
    client: str = Field(max_length=64)  # the client's address as the server sees it
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class RevokedToken(SQLModel, table=True):
    """An access token ended before its expiry by logging out of the console: refused from
    then on (``principal_from_token``); the row is forgotten once the token has expired."""

    __tablename__ = "revoked_token"

    jti: str = Field(primary_key=True, max_length=32)
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    revoked_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
