"""Refused password logins, counted per username and per client address (brute-force guard).

After ``login_max_failures`` refused logins for one username, or
``login_max_failures_per_client`` from one client address, within ``login_window_minutes``,
every login there is refused with 429 (``TooManyLogins``, ``Retry-After``) without looking at
the password, until the oldest counted failure leaves the window. Unknown usernames count like
known ones (the answer does not tell which exist); a refusal while locked is not counted again
(so the wait is bounded); a successful login clears its username's failures. The counts live
in the database (``login_failure``), so every server process and worker shares them, and the
logins of one username are taken one at a time (on PostgreSQL under an advisory lock), so
parallel guesses cannot all pass the count before any of them is added to it.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy import delete, func, select, text
from sqlmodel import Session, col

from app.auth.models import LoginFailure
from app.config import Settings
from app.db import as_utc, utcnow
from app.errors import TooManyLogins

log = logging.getLogger("sigap.auth")


def _key(text: str) -> str:
    """How a username or client address is counted: case-insensitive, no NUL (PostgreSQL text
    refuses it), at most the column's 64 characters."""
    return text.replace("\x00", "?").strip().lower()[:64]


_USERNAME = re.compile(r"[a-z0-9_.-]{3,64}")  # what app/auth/schemas.py lets a username be


def _logged(username: str) -> str:
    """The username for the log, unless it cannot be one (a password typed in the wrong box
    should not end up in the logs)."""
    key = _key(username)
    return key if _USERNAME.fullmatch(key) else "(bukan nama pengguna / not a username)"


def client_of(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: uvicorn's
    ``--proxy-headers`` with ``--forwarded-allow-ips`` makes it the real one)."""
    return request.client.host if request.client else "unknown"


def _wait(session: Session, column: Any, value: str, limit: int, since: datetime) -> int:
    """Seconds until fewer than ``limit`` failures for ``value`` remain in the window (0: none)."""
    count = session.scalar(
        select(func.count()).select_from(LoginFailure).where(column == value, col(LoginFailure.at) >= since)
    )
    if int(count or 0) < limit:
        return 0
    # the failure whose leaving brings the count below the limit
    at = session.scalar(
        select(col(LoginFailure.at))
        .where(column == value, col(LoginFailure.at) >= since)
        .order_by(col(LoginFailure.at))
        .offset(int(count or 0) - limit)
        .limit(1)
    )
    leaves = as_utc(at)
    assert leaves is not None
    return max(1, int((leaves - since).total_seconds()) + 1)


def check(
    session: Session, settings: Settings, *, username: str, client: str, now: datetime | None = None
) -> None:
    """Raise ``TooManyLogins`` if logins for ``username`` or from ``client`` are locked now."""
    now = now or utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # one login per username at a time until its transaction ends (with the failure it
        # counted): otherwise parallel guesses would all pass the count before any is added.
        # SQLite needs nothing: a POST's transaction holds the database's write lock throughout.
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('sigap.login'), hashtext(:key))"),
            {"key": _key(username)},
        )
    since = now - timedelta(minutes=settings.login_window_minutes)
    wait = max(
        _wait(session, col(LoginFailure.username), _key(username), settings.login_max_failures, since),
        _wait(session, col(LoginFailure.client), _key(client), settings.login_max_failures_per_client, since),
    )
    if wait:
        log.warning(
            "login locked", extra={"username": _logged(username), "client": client, "retry_after": wait}
        )
        raise TooManyLogins(wait)


def failed(
    session: Session, settings: Settings, *, username: str, client: str, now: datetime | None = None
) -> None:
    """Count a refused login (and forget failures older than the window)."""
    now = now or utcnow()
    session.execute(
        delete(LoginFailure).where(
            col(LoginFailure.at) < now - timedelta(minutes=settings.login_window_minutes)
        )
    )
    session.add(LoginFailure(username=_key(username), client=_key(client), at=now))
    session.flush()
    log.info("login refused", extra={"username": _logged(username), "client": client})


def succeeded(session: Session, *, username: str) -> None:
    session.execute(delete(LoginFailure).where(col(LoginFailure.username) == _key(username)))
