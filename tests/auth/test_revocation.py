"""Tokens ended by a console logout (app/auth/service.py::revoke), at the edges: two logouts of
one token at once, and how long a row outlives its token (both engines, real transactions)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete
from sqlmodel import col

from app.auth import service
from app.auth.models import RevokedToken
from app.db import new_session, utcnow


@pytest.fixture
def jtis(engine: Engine) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    with new_session(engine) as session:
        session.execute(delete(RevokedToken).where(col(RevokedToken.jti).in_(made)))
        session.commit()


def claims(jtis: list[str], expires_in: timedelta) -> dict[str, object]:
    jti = secrets.token_hex(8)
    jtis.append(jti)
    return {"typ": "access", "jti": jti, "exp": int((utcnow() + expires_in).timestamp())}


def test_two_logouts_of_one_token_at_once_both_succeed(engine: Engine, jtis: list[str]) -> None:
    token = claims(jtis, timedelta(hours=1))
    first = new_session(engine)
    service.revoke(first, token)  # recorded, not yet committed
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with new_session(engine) as session:
                service.revoke(session, token)  # waits for the first, then finds the row
                session.commit()
        except BaseException as exc:  # reported below
            failures.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.3)
    first.commit()
    first.close()
    thread.join(20)
    assert not thread.is_alive() and failures == []
    with new_session(engine) as session:
        assert service.is_revoked(session, token)


def test_a_row_outlives_its_token_by_the_margin_then_goes(engine: Engine, jtis: list[str]) -> None:
    just_expired = claims(jtis, timedelta(minutes=-1))
    long_expired = claims(jtis, -service.REVOKED_KEPT_AFTER_EXPIRY - timedelta(minutes=1))
    with new_session(engine) as session:
        for token in (just_expired, long_expired):
            service.revoke(session, token)
        session.commit()
    with new_session(engine) as session:
        service.revoke(session, claims(jtis, timedelta(hours=1)))  # the next logout tidies up
        session.commit()
        assert service.is_revoked(session, just_expired)  # still refused within the margin
        assert not service.is_revoked(session, long_expired)


def test_a_device_token_is_ended_by_revoking_its_device_not_here(engine: Engine, jtis: list[str]) -> None:
    token = {**claims(jtis, timedelta(hours=1)), "typ": "device"}
    with new_session(engine) as session:
        service.revoke(session, token)
        session.commit()
        assert session.get(RevokedToken, token["jti"]) is None and not service.is_revoked(session, token)
