"""Test fixtures: every database test runs on real SQLite AND real PostgreSQL.

Each engine gets a fresh database built by the Alembic migrations (never create_all) and
loaded with Ternate's wilayah once per session.  Each test then runs inside a transaction
that is rolled back at the end; the app's own commits become savepoint releases, so the
request lifecycle (commit before the response, rollback on error) is exercised for real.

PostgreSQL: SIGAP_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
must point at a server where the user may CREATE DATABASE.  If it is unreachable the
PostgreSQL half is skipped with a visible reason, unless SIGAP_REQUIRE_POSTGRES=1 (CI), in
which case the run fails.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app import migrate
from app.auth import repository as auth_repository
from app.auth.models import Role, User
from app.auth.security import create_access_token, hash_password
from app.config import PROJECT_ROOT, Environment, Settings, get_settings
from app.db import build_engine, get_session
from app.main import create_app
from app.registry.identifiers import mask
from app.seeding import load_wilayah

PG_URL = os.environ.get("SIGAP_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("SIGAP_REQUIRE_POSTGRES") == "1"
WILAYAH_CSV = PROJECT_ROOT / "seed_data" / "ternate_wilayah.csv"
TEST_SECRET = "test-secret-" + "x" * 32
_state: dict[str, object] = {"pg_passed": 0}


def pg_admin_engine() -> Engine | None:
    """An AUTOCOMMIT engine on the PostgreSQL server, or None (reason kept) if unreachable."""
    if "pg_admin" in _state:
        return _state["pg_admin"]  # type: ignore[return-value]
    engine: Engine | None
    try:
        engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not available"
        _state["pg_reason"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        engine = None
    _state["pg_admin"] = engine
    return engine


def new_database(kind: str, tmp_dir: Path) -> tuple[str, Callable[[], None]]:
    """A fresh, empty database of ``kind``; returns its URL and a function that drops it."""
    if kind == "sqlite":
        path = tmp_dir / f"sigap-{secrets.token_hex(4)}.db"
        return f"sqlite:///{path}", lambda: None
    admin = pg_admin_engine()
    if admin is None:
        msg = f"PostgreSQL not reachable at {PG_URL} ({_state.get('pg_reason')})"
        if REQUIRE_PG:
            pytest.fail(msg + " and SIGAP_REQUIRE_POSTGRES=1", pytrace=False)
        pytest.skip(msg + ": PostgreSQL tests SKIPPED")
    name = f"sigap_test_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    return url, drop


def settings_for(database_url: str, **overrides: object) -> Settings:
    # no audit sealer thread: a test seals when it means to (tests/audit)
    overrides.setdefault("audit_seal_seconds", 0)
    return Settings(environment=Environment.test, database_url=database_url,
                    secret_key=TEST_SECRET, log_json=False, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def reference_database(kind: str, tmp_dir: Path, **engine_args: object) -> Iterator[Engine]:
    """A fresh database migrated to head with Ternate's wilayah; dropped afterwards."""
    url, drop = new_database(kind, tmp_dir)
    migrate.upgrade(url)
    eng = build_engine(url, **engine_args)  # type: ignore[arg-type]
    try:
        with Session(eng) as session:
            load_wilayah(session, WILAYAH_CSV)
            session.commit()
        yield eng
    finally:
        eng.dispose()
        drop()


@pytest.fixture(scope="session")
def engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with reference_database(db_kind, tmp_path_factory.mktemp(db_kind)) as eng:
        yield eng


@dataclass
class LiveApp:
    """The real app (real session dependency, real commits) on a database of its own."""

    app: FastAPI
    engine: Engine
    headers: dict[str, str]  # a committed admin's bearer token


@pytest.fixture
def live_app(db_kind: str, tmp_path: Path) -> Iterator[LiveApp]:
    with reference_database(db_kind, tmp_path, pool_size=10) as eng:
        settings = settings_for(eng.url.render_as_string(hide_password=False), media_dir=tmp_path / "media")
        with Session(eng) as s:
            user = User(username="root", password_hash=password_hash(), role="admin")
            s.add(user)
            s.commit()
            token, _ = create_access_token(settings=settings, user_id=user.id or 0, role="admin")
        yield LiveApp(app=create_app(settings, engine=eng), engine=eng,
                      headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def live_server(live_app: LiveApp) -> Iterator[str]:
    """``live_app`` served by uvicorn on a free local port, in a thread: real connections,
    real concurrency (the request thread pool), real sessions."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(live_app.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def database_url(db_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database of its own, named by SIGAP_DATABASE_URL (for the CLI, which commits)."""
    url, drop = new_database(db_kind, tmp_path)
    monkeypatch.setenv("SIGAP_DATABASE_URL", url)
    monkeypatch.setenv("SIGAP_LOG_JSON", "false")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    drop()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint",
                      expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture
def settings(engine: Engine) -> Settings:
    return settings_for(engine.url.render_as_string(hide_password=False))


@pytest.fixture
def app(settings: Settings, engine: Engine, db: Session) -> Iterator[object]:
    application = create_app(settings, engine=engine)

    def session_override() -> Iterator[Session]:
        # same contract as app.db.get_session: commit after the handler, rollback on error
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        db.commit()

    application.dependency_overrides[get_session] = session_override
    # streamed exports open their own session: give them the test's transaction too
    application.state.session_factory = lambda read_only=False: nullcontext(db)
    yield application


# ---- NIK and KK numbers never in a log record or an error body (docs/security.md) ----------
# Every log record the suite emits (root at INFO, before any formatter masks it) and every
# 4xx/5xx body a test client receives is searched for a NIK/KK-shaped number in clear: six
# region digits, a day (01-71: +40 for women), a month, then six more digits, not inside a
# longer run of letters or digits (a hex digest is not a NIK). One hit fails the session.
IDENTIFIER_IN_CLEAR = re.compile(
    r"(?<![0-9A-Za-z])[1-9][0-9]{5}[0-7][0-9](?:0[1-9]|1[0-2])[0-9]{6}(?![0-9A-Za-z])")
_leaks: list[str] = []


def _leak(where: str, text: str) -> None:
    match = IDENTIFIER_IN_CLEAR.search(text)
    if match and len(_leaks) < 20:
        start = max(0, match.start() - 60)
        after = text[match.end():match.end() + 20]
        _leaks.append(f"{where}: ...{text[start:match.start()]}{mask(match.group(0))}{after}")


class _LeakWatch(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.getMessage()]
        parts += [str(v) for k, v in vars(record).items() if k not in _RECORD_FIELDS]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        _leak(f"log record of {record.name}", "\n".join(parts))


_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def watch_error_bodies(client: TestClient) -> TestClient:
    def check(response: object) -> None:
        import httpx

        assert isinstance(response, httpx.Response)
        if response.status_code >= 400:
            response.read()
            _leak(f"{response.status_code} body of {response.request.method} {response.request.url.path}",
                  response.text)

    client.event_hooks = {"request": [], "response": [check]}
    return client


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(_LeakWatch(level=logging.INFO))
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


@pytest.fixture
def client(app: object) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=True) as c:  # type: ignore[arg-type]
        yield watch_error_bodies(c)


@dataclass
class Account:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


_PASSWORD_HASH: dict[str, str] = {}


def password_hash() -> str:
    if "h" not in _PASSWORD_HASH:
        _PASSWORD_HASH["h"] = hash_password("correct horse battery")
    return _PASSWORD_HASH["h"]


@pytest.fixture
def make_account(db: Session, settings: Settings) -> Callable[..., Account]:
    def make(role: Role | str = Role.admin, *, kecamatan: str | None = None,
             kelurahan: tuple[str, ...] = (), username: str | None = None) -> Account:
        role = Role(role)
        user = User(username=username or f"{role.value}-{secrets.token_hex(3)}",
                    password_hash=password_hash(), role=role.value, kecamatan_code=kecamatan)
        auth_repository.add_user(db, user, kelurahan)
        assert user.id is not None
        # releases the session's savepoint: the account survives a request's rollback and
        # still disappears with the test's outer transaction
        db.commit()
        token, _ = create_access_token(settings=settings, user_id=user.id, role=user.role)
        return Account(user=user, token=token)

    return make


@pytest.fixture
def admin(make_account: Callable[..., Account]) -> Account:
    return make_account(Role.admin)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    callspec = getattr(item, "callspec", None)
    if (report.when == "call" and report.passed and callspec is not None
            and callspec.params.get("db_kind") == "postgresql"):
        _state["pg_passed"] = int(_state["pg_passed"]) + 1  # type: ignore[call-overload]
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    _state["pg_selected"] = sum(
        1 for item in session.items
        if getattr(item, "callspec", None) is not None
        and item.callspec.params.get("db_kind") == "postgresql")  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _leaks:
        terminalreporter.write_line("NIK/KK numbers in clear in logs or error bodies:", red=True)
        for line in _leaks:
            terminalreporter.write_line("  " + line, red=True)
    ran = _state["pg_passed"]
    if "pg_reason" in _state:
        terminalreporter.write_line(
            f"PostgreSQL tests SKIPPED: {PG_URL} unreachable ({_state['pg_reason']})", yellow=True)
    elif _state.get("pg_selected") == 0 and not REQUIRE_PG:
        terminalreporter.write_line("PostgreSQL tests: none selected in this run")
    else:
        terminalreporter.write_line(f"PostgreSQL tests passed: {ran}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _leaks and exitstatus == 0:
        session.exitstatus = 1
        print(f"\nFAIL: {len(_leaks)} NIK/KK number(s) in clear in logs or error bodies (listed above)")
    if REQUIRE_PG and _state["pg_passed"] == 0 and exitstatus == 0:
        session.exitstatus = 1
        print("\nFAIL: SIGAP_REQUIRE_POSTGRES=1 but no PostgreSQL test passed")
