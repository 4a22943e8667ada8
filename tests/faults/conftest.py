"""A registry seeded once per engine (migrated, Ternate wilayah, demo families, rule set) and
copied for each drill that needs one: SQLite through its backup API, PostgreSQL with
``CREATE DATABASE ... TEMPLATE``. The copy is named by SIGAP_DATABASE_URL like the
``database_url`` fixture's database, so the CLI (in this process or as a subprocess) uses it."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import get_settings
from tests.conftest import new_database, pg_admin_engine
from tests.faults.helpers import ok

FAMILIES = 800  # two scoring batches of 500: killed after the first


def _copy(source: str, tmp_dir: Path) -> tuple[str, Callable[[], None]]:
    url = make_url(source)
    if url.get_backend_name() == "sqlite":
        target = tmp_dir / f"copy-{secrets.token_hex(4)}.db"
        with sqlite3.connect(str(url.database)) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return f"sqlite:///{target}", lambda: None
    admin = pg_admin_engine()
    assert admin is not None
    name = f"{url.database}_c{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def seeded_template(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, drop = new_database(db_kind, tmp_path_factory.mktemp(f"faults-{db_kind}"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIGAP_DATABASE_URL", url)
        mp.setenv("SIGAP_LOG_JSON", "false")
        get_settings.cache_clear()
        try:
            ok("migrate")
            ok("seed", "--demo", FAMILIES)
        finally:
            get_settings.cache_clear()
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def copy_of(seeded_template: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Copies of the seeded registry, each dropped after the test."""
    drops: list[Callable[[], None]] = []

    def make() -> str:
        url, drop = _copy(seeded_template, tmp_path)
        drops.append(drop)
        return url

    yield make
    for drop in drops:
        drop()


@pytest.fixture
def seeded_url(copy_of: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = copy_of()
    monkeypatch.setenv("SIGAP_DATABASE_URL", url)
    monkeypatch.setenv("SIGAP_LOG_JSON", "false")
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point the in-process CLI at another database."""
    monkeypatch.setenv("SIGAP_DATABASE_URL", url)
    get_settings.cache_clear()
