from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.auth.models import Role
from app.input import InputModel


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - OAuth2 token type, not a secret
    expires_in: int = Field(description="seconds")


class UserCreate(InputModel):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    password: str = Field(min_length=10, max_length=128)
    full_name: str = Field(default="", max_length=120)
    role: Role
    kecamatan_code: str | None = Field(default=None, description="required for supervisors")
    kelurahan_codes: list[str] = Field(default_factory=list, max_length=78,
                                       description="assigned kelurahan, required for enumerators")


class UserPublic(BaseModel):
    id: int
    username: str
    full_name: str
    role: Role
    kecamatan_code: str | None
    kelurahan_codes: list[str]
    is_active: bool
    created_at: datetime


class UserList(BaseModel):
    data: list[UserPublic]
    count: int
