"""A deadlock is answered 503 with Retry-After (nothing was saved; send it again), not 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.errors import is_transient
from app.main import create_app
from tests.conftest import LiveApp, reference_database, settings_for


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


def test_no_free_connection_is_answered_503_not_a_late_500(db_kind: str, tmp_path: Path) -> None:
    """Every pooled connection busy: after db_pool_timeout the caller gets 503 + Retry-After."""
    with reference_database(db_kind, tmp_path) as eng:
        url = eng.url.render_as_string(hide_password=False)
        settings = settings_for(url, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.2)
        app = create_app(settings)  # the engine the settings build, as in production
        held = app.state.engine.connect()  # the only connection
        try:
            with TestClient(app) as client:
                r = client.post("/auth/token", data={"username": "x", "password": "y"})
                assert r.status_code == 503 and r.headers["Retry-After"] == "2", r.text
                assert r.json()["error"] == "busy"
                assert client.get("/health").status_code == 200  # liveness needs no connection
        finally:
            held.close()
            app.state.engine.dispose()


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_sqlite_writers_queue_on_one_lock_and_every_end_releases_it(db_kind: str, tmp_path: Path) -> None:
    with reference_database(db_kind, tmp_path) as eng:
        with eng.begin() as conn:
            conn.execute(text("CREATE TABLE counter (n int)"))
            conn.execute(text("INSERT INTO counter VALUES (0)"))
        failures: list[BaseException] = []

        def add(i: int) -> None:
            try:
                with Session(eng) as s:
                    n = s.execute(text("SELECT n FROM counter")).scalar_one()
                    s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
                    if i % 5 == 0:
                        raise RuntimeError("rolled back")  # a rollback must release the lock too
                    s.commit()
            except RuntimeError:
                pass
            except BaseException as exc:  # pragma: no cover - what the test looks for
                failures.append(exc)

        threads = [threading.Thread(target=add, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        with eng.connect() as conn:  # read-modify-write never interleaved: 32 committed increments
            assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 32
        started = time.monotonic()
        with eng.begin() as conn:  # and nothing still holds the lock
            conn.execute(text("UPDATE counter SET n = 0"))
        assert time.monotonic() - started < 1.0
