"""Appeal fixtures: a family of Faudu (Pulau Hiri) in the registry, the staff who handle its
appeal, and the app configured with gateway secrets so residents can appeal by SMS/USSD."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.appeals import service
from app.appeals.models import Appeal
from app.appeals.rules import About, FiledBy
from app.audit.service import ActorRef
from app.auth.models import Role
from app.auth.permissions import Principal
from app.config import Settings
from app.registry import service as registry
from app.registry.models import Household
from app.registry.schemas import HouseholdCreate
from tests import factories as f
from tests.channels.conftest import SECRETS, dial  # noqa: F401 (the fixture)
from tests.conftest import settings_for

ADMIN = Principal(user_id=0, username="admin", role=Role.admin, kelurahan_scope=None, full_identifiers=True)
STAFF = ActorRef(user_id=None, name="dinsos-test", channel="api")


@pytest.fixture
def settings(engine: Engine) -> Settings:
    return settings_for(engine.url.render_as_string(hide_password=False), gateway_secrets=SECRETS)


def principal(role: Role, scope: tuple[str, ...] | None = None) -> Principal:
    return Principal(user_id=0, username=role.value, role=role,
                     kelurahan_scope=frozenset(scope) if scope is not None else None, full_identifiers=False)


@pytest.fixture
def household(db: Session) -> Household:
    """A verified family of Faudu, committed (visible to the app's requests)."""
    data = HouseholdCreate.model_validate(f.household(f.HIRI_FAUDU))
    created = registry.create_household(session=db, data=data, principal=ADMIN, actor=STAFF)
    db.commit()
    return created


@pytest.fixture
def file(db: Session, settings: Settings, household: Household) -> Callable[..., Appeal]:
    def make(about: About = About.desil, programme_id: str | None = None, *,
             channel: FiledBy = FiledBy.dinsos, on: Household | None = None, **kw: object) -> Appeal:
        appeal, created = service.file_appeal(
            session=db, settings=settings, household=on or household, about=about, programme_id=programme_id,
            reason="Rumah sudah rusak, suami tidak bekerja lagi", channel=channel, actor=STAFF,
            **kw)  # type: ignore[arg-type]
        assert created
        return appeal

    return make


ANNOUNCED = date(2026, 11, 2)
