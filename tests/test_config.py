"""Settings: production refuses unsafe defaults; the SIGAP_ environment prefix works.  No DB."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from app import pii
from app.config import DEFAULT_SECRET, Environment, Settings

STRONG_SECRET = "k" * 40
PG_URL = "postgresql+psycopg://sigap@db.internal:5432/sigap"
# production needs its own keys for NIK/KK at rest (tests/ops/test_pii.py tests their absence)
KEYS = {"pii_keys": pii.new_key("k1"), "pii_index_keys": pii.new_key("i1")}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SIGAP_* variables and no .env file from the developer's machine leak in."""
    for name in list(os.environ):
        if name.upper().startswith("SIGAP_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


class TestProductionSecret:
    def test_default_secret_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="SIGAP_SECRET_KEY"):
            Settings(environment=Environment.production, database_url=PG_URL)

    def test_short_secret_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="SIGAP_SECRET_KEY"):
            Settings(environment="production", secret_key="s" * 31, database_url=PG_URL)

    def test_32_characters_is_enough(self) -> None:
        s = Settings(environment="production", secret_key="s" * 32, database_url=PG_URL, **KEYS)
        assert s.environment is Environment.production

    def test_refused_when_production_comes_from_the_environment(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SIGAP_ENVIRONMENT", "production")
        monkeypatch.setenv("SIGAP_DATABASE_URL", PG_URL)
        with pytest.raises(ValidationError, match="SIGAP_SECRET_KEY"):
            Settings()

    @pytest.mark.parametrize("environment", ["development", "test"])
    def test_default_secret_allowed_outside_production(self, environment: str) -> None:
        s = Settings(environment=environment)
        assert s.secret_key == DEFAULT_SECRET


class TestProductionDatabase:
    def test_sqlite_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="PostgreSQL") as err:
            Settings(environment="production", secret_key=STRONG_SECRET,
                     database_url="sqlite:////var/lib/sigap/sigap.db")
        assert "SIGAP_DATABASE_URL" in str(err.value)

    def test_default_database_url_is_refused(self) -> None:
        # the default is a SQLite file: production must name its database explicitly
        with pytest.raises(ValidationError, match="PostgreSQL"):
            Settings(environment="production", secret_key=STRONG_SECRET)

    # explicit ids: an id starting "[postgresql" would be counted as a PostgreSQL DB test
    @pytest.mark.parametrize("url", [PG_URL, "postgresql://sigap@db.internal/sigap"],
                             ids=["psycopg-url", "plain-url"])
    def test_strong_secret_and_postgresql_is_accepted(self, url: str) -> None:
        s = Settings(environment="production", secret_key=STRONG_SECRET, database_url=url, **KEYS)
        assert s.environment is Environment.production
        assert s.database_url == url
        assert not s.is_sqlite


class TestEnvironmentPrefix:
    def test_sigap_prefix_is_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert Settings().page_size_default == 50
        monkeypatch.setenv("SIGAP_PAGE_SIZE_DEFAULT", "17")
        assert Settings().page_size_default == 17

    def test_unprefixed_variable_is_ignored(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PAGE_SIZE_DEFAULT", "17")
        assert Settings().page_size_default == 50

    def test_environment_value_is_validated(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SIGAP_PAGE_SIZE_DEFAULT", "0")
        with pytest.raises(ValidationError, match="page_size_default"):
            Settings()

    def test_dotenv_file_is_read(self, monkeypatch: pytest.MonkeyPatch,
                                 tmp_path: Path) -> None:
        (tmp_path / ".env").write_text("SIGAP_PAGE_SIZE_DEFAULT=23\n", encoding="utf-8")
        assert Settings().page_size_default == 23
        monkeypatch.setenv("SIGAP_PAGE_SIZE_DEFAULT", "29")  # the real environment wins
        assert Settings().page_size_default == 29

    def test_cursor_key_differs_from_the_token_secret(self) -> None:
        s = Settings(secret_key=STRONG_SECRET)
        assert s.cursor_key != STRONG_SECRET.encode()
        assert Settings(secret_key=STRONG_SECRET, cursor_secret="c" * 32).cursor_key == b"c" * 32
