"""Media fixtures: a media directory per test, an enumerator of Faudu, one household there."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.auth.models import Role
from app.config import Settings
from tests import factories as f
from tests.conftest import Account, settings_for


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def settings(engine: Engine, media_dir: Path) -> Settings:
    """The suite's settings with this test's media directory and a 1 MiB file limit."""
    return settings_for(engine.url.render_as_string(hide_password=False), media_dir=media_dir,
                        media_max_bytes=1024 * 1024)


@pytest.fixture
def enumerator(make_account: Callable[..., Account]) -> Account:
    return make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))


@pytest.fixture
def household_id(client: TestClient, admin: Account) -> uuid.UUID:
    r = client.post("/households", json=f.household(), headers=admin.headers)
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["id"])
