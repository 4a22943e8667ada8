"""Password hashing (Argon2 via pwdlib) and JWT access tokens (python-jose, HS256 only)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from jose import JWTError, jwt
from jose.exceptions import ExpiredSignatureError
from pwdlib import PasswordHash

from app.config import Settings
from app.db import utcnow
from app.errors import NotAuthenticated

_hasher = PasswordHash.recommended()
# A real hash to verify against when the username is unknown, so response time does not
# reveal which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


def create_access_token(*, settings: Settings, user_id: int, role: str) -> tuple[str, int]:
    lifetime = timedelta(minutes=settings.access_token_minutes)
    now = utcnow()
    claims: dict[str, Any] = {
        "sub": str(user_id), "role": role, "typ": "access",
        "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp()),
        "jti": secrets.token_hex(8),
    }
    token = jwt.encode(claims, settings.secret_key, algorithm=settings.jwt_algorithm)
    return token, int(lifetime.total_seconds())


def create_device_token(*, settings: Settings, user_id: int, role: str, device_id: str
                        ) -> tuple[str, int]:
    """A long-lived token bound to one user AND one enrolled device (checked on every use)."""
    lifetime = timedelta(days=settings.device_token_days)
    now = utcnow()
    claims: dict[str, Any] = {
        "sub": str(user_id), "role": role, "typ": "device", "did": device_id,
        "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp()),
        "jti": secrets.token_hex(8),
    }
    token = jwt.encode(claims, settings.secret_key, algorithm=settings.jwt_algorithm)
    return token, int(lifetime.total_seconds())


_TOKEN_TYPES = frozenset({"access", "device"})


def decode_access_token(*, settings: Settings, token: str) -> dict[str, Any]:
    """Verify signature, algorithm (never ``none``), expiry and token type (user or device)."""
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=[settings.jwt_algorithm],
                            options={"require_exp": True, "require_sub": True})
    except ExpiredSignatureError:
        raise NotAuthenticated("Token expired: log in again") from None
    except JWTError:
        raise NotAuthenticated("Invalid token") from None
    if claims.get("typ") not in _TOKEN_TYPES or (
            claims["typ"] == "device" and not isinstance(claims.get("did"), str)):
        raise NotAuthenticated("Invalid token type")
    return claims
