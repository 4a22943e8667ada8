"""A deadlock is answered 503 with Retry-After (nothing was saved; send it again), not 500."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from app.errors import is_transient
from tests.conftest import LiveApp


def _deadlock(engine: Engine) -> OperationalError:
    """Two transactions lock two rows in opposite orders; PostgreSQL aborts one of them."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS lock_demo (id int PRIMARY KEY)"))
        conn.execute(text("INSERT INTO lock_demo VALUES (1), (2) ON CONFLICT DO NOTHING"))
    barrier = threading.Barrier(2)
    errors: list[OperationalError] = []

    def lock(first: int, second: int) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("SELECT 1 FROM lock_demo WHERE id = :i FOR UPDATE"), {"i": first})
                barrier.wait(5)
                conn.execute(text("SELECT 1 FROM lock_demo WHERE id = :i FOR UPDATE"), {"i": second})
        except OperationalError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=lock, args=order) for order in ((1, 2), (2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(errors) == 1, errors
    return errors[0]


@pytest.fixture
def deadlock(live_app: LiveApp) -> Iterator[OperationalError]:
    yield _deadlock(live_app.engine)


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_a_real_deadlock_is_transient_and_answered_503(deadlock: OperationalError, live_app: LiveApp) -> None:
    assert is_transient(deadlock)

    @live_app.app.get("/test-only/deadlock")
    def _raise() -> None:
        raise deadlock

    with TestClient(live_app.app) as client:
        r = client.get("/test-only/deadlock")
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.json()["error"] == "busy" and "send the same request again" in r.json()["detail"]
