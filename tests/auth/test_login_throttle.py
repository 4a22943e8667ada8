"""Refused password logins are counted and, past the limit, refused with 429 (app/auth/throttle.py),
through the API's /auth/token and the console's login form, on both engines."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from app.auth import throttle
from app.auth.models import LoginFailure, Role
from app.config import Settings
from app.errors import TooManyLogins
from tests.conftest import Account, LiveApp, settings_for
from tests.console.conftest import PASSWORD, csrf_of

LIMIT, PER_CLIENT, WINDOW = 3, 7, 15


@pytest.fixture
def settings(engine: Engine) -> Settings:
    return settings_for(
        engine.url.render_as_string(hide_password=False),
        login_max_failures=LIMIT,
        login_max_failures_per_client=PER_CLIENT,
        login_window_minutes=WINDOW,
    )


def token(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post("/auth/token", data={"username": username, "password": password})


def failures(db: Session, username: str) -> int:
    return int(db.scalar(select(func.count()).where(col(LoginFailure.username) == username)) or 0)


class TestApi:
    def test_after_the_limit_even_the_right_password_is_refused_with_429(
        self, client: TestClient, make_account: Callable[..., Account], db: Session
    ) -> None:
        make_account(Role.dinsos, username="dinsos.kota")
        for _ in range(LIMIT):
            assert token(client, "dinsos.kota", "tebakan").status_code == 401
        assert failures(db, "dinsos.kota") == LIMIT  # counted although each request failed
        r = token(client, "dinsos.kota", PASSWORD)
        assert r.status_code == 429
        body = r.json()
        assert body["error"] == "login_locked"
        assert "Terlalu banyak percobaan masuk yang gagal" in body["detail"]["message"]
        wait = body["detail"]["retry_after_seconds"]
        assert 0 < wait <= WINDOW * 60
        assert r.headers["Retry-After"] == str(wait)
        assert failures(db, "dinsos.kota") == LIMIT  # a refusal while locked is not counted
        # the lock is the username's: another account from the same client logs in
        make_account(Role.dinsos, username="dinsos.lain")
        assert token(client, "dinsos.lain", PASSWORD).status_code == 200

    def test_the_lock_ends_when_the_failures_leave_the_window(
        self, client: TestClient, make_account: Callable[..., Account], db: Session
    ) -> None:
        make_account(Role.dinsos, username="dinsos.kota")
        for _ in range(LIMIT):
            token(client, "dinsos.kota", "tebakan")
        assert token(client, "dinsos.kota", PASSWORD).status_code == 429
        db.execute(update(LoginFailure).values(at=LoginFailure.at - timedelta(minutes=WINDOW, seconds=1)))
        db.commit()
        assert token(client, "dinsos.kota", PASSWORD).status_code == 200
        assert failures(db, "dinsos.kota") == 0  # a login clears its username's failures

    def test_a_successful_login_starts_the_count_again(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        make_account(Role.dinsos, username="dinsos.kota")
        for _ in range(2):
            for _ in range(LIMIT - 1):
                assert token(client, "dinsos.kota", "salah").status_code == 401
            assert token(client, "dinsos.kota", PASSWORD).status_code == 200

    def test_unknown_usernames_lock_alike_so_the_answer_names_no_account(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        make_account(Role.dinsos, username="dinsos.kota")
        answers = {}
        for name in ("dinsos.kota", "tidak.ada"):
            for _ in range(LIMIT):
                token(client, name, "salah")
            r = token(client, name, "salah")
            answers[name] = (r.status_code, r.json()["error"])
        assert answers["dinsos.kota"] == answers["tidak.ada"] == (429, "login_locked")

    def test_usernames_count_without_case_and_a_nul_does_not_break_the_count(
        self, client: TestClient, db: Session
    ) -> None:
        for name in ("Dinsos.Kota", "DINSOS.KOTA ", "dinsos.kota"):
            assert token(client, name, "salah").status_code == 401
        assert token(client, "dinsos.KOTA", "salah").status_code == 429
        assert token(client, "a\x00b", "salah").status_code == 401
        assert failures(db, "a?b") == 1

    def test_one_client_trying_many_usernames_is_locked_too(self, client: TestClient) -> None:
        for i in range(PER_CLIENT):
            assert token(client, f"tebak{i}", "salah").status_code == 401
        r = token(client, "nama.baru", "salah")  # a username never tried: the client's limit
        assert r.status_code == 429 and r.json()["error"] == "login_locked"


class TestConsole:
    def test_the_login_form_says_when_to_try_again_in_indonesian(
        self, client: TestClient, make_account: Callable[..., Account]
    ) -> None:
        make_account(Role.dinsos, username="dinsos.kota")

        def submit(password: str) -> httpx.Response:
            page = client.get("/console/login")
            return client.post(
                "/console/login",
                data={"username": "dinsos.kota", "password": password, "csrf": csrf_of(page.text)},
                follow_redirects=False,
            )

        for _ in range(LIMIT):
            assert submit("salah").status_code == 401
        r = submit(PASSWORD)
        assert r.status_code == 429
        assert "Terlalu banyak percobaan masuk yang gagal" in r.text
        assert "coba lagi dalam 15 menit" in r.text
        assert int(r.headers["Retry-After"]) > 0
        assert "sigap_session" not in r.headers.get("set-cookie", "")


class TestRetryAfter:
    """The wait is until enough counted failures have left the window, to the second."""

    T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)

    def fail_at(self, db: Session, settings: Settings, *minutes: float) -> None:
        for m in minutes:
            throttle.failed(db, settings, username="u", client="c", now=self.T0 + timedelta(minutes=m))

    def wait_at(self, db: Session, settings: Settings, minute: float) -> int:
        with pytest.raises(TooManyLogins) as refused:
            throttle.check(db, settings, username="u", client="c", now=self.T0 + timedelta(minutes=minute))
        return refused.value.retry_after

    def test_the_oldest_failure_that_keeps_the_lock_decides(self, db: Session, settings: Settings) -> None:
        self.fail_at(db, settings, 0, 1, 2)
        # at minute 3, the failure of minute 0 leaves at minute 15: 12 minutes from now
        assert self.wait_at(db, settings, 3) == 12 * 60 + 1
        self.fail_at(db, settings, 3)  # four in the window: two must leave, the second at 16
        assert self.wait_at(db, settings, 4) == 12 * 60 + 1
        throttle.check(db, settings, username="u", client="c", now=self.T0 + timedelta(minutes=16, seconds=2))

    def test_failures_older_than_the_window_are_forgotten(self, db: Session, settings: Settings) -> None:
        self.fail_at(db, settings, 0, 1)
        self.fail_at(db, settings, 40)  # deletes what is older than the window
        assert int(db.scalar(select(func.count()).select_from(LoginFailure)) or 0) == 1


def test_parallel_guesses_are_counted_one_by_one(live_app: LiveApp, live_server: str) -> None:
    """Twelve guesses at once through a real server (its thread pool, its own sessions): the
    limit holds, since one username's logins are taken one at a time."""
    limit = live_app.app.state.settings.login_max_failures  # type: ignore[attr-defined]
    name = f"serbu.{secrets.token_hex(3)}"
    start = threading.Barrier(12)

    def guess(i: int) -> int:
        start.wait(10)
        return httpx.post(
            f"{live_server}/auth/token", data={"username": name, "password": f"tebakan{i}"}, timeout=30
        ).status_code

    with ThreadPoolExecutor(12) as pool:
        answers = sorted(pool.map(guess, range(12)))
    assert answers == [401] * limit + [429] * (12 - limit)
    with Session(live_app.engine) as session:
        assert session.scalar(select(func.count()).where(col(LoginFailure.username) == name)) == limit
