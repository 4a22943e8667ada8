"""Shared by the reconciliation database tests: generated families loaded into the registry."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlmodel import Session

from app.reconcile import synthetic_registry
from app.reconcile.engine import EngineState
from app.registry.schemas import HouseholdCreate
from app.registry.service import create_household
from app.registry.synthetic import load_kelurahan_codes
from app.seeding import SEED_ACTOR, SYSTEM_PRINCIPAL
from tests import factories

_CODES: list[str] = []


def kelurahan_codes() -> list[str]:
    if not _CODES:
        _CODES.extend(load_kelurahan_codes())
    return _CODES


def load_generated(session: Session, households: int, *, seed: int = 11, dup_rate: float = 0.1
                   ) -> synthetic_registry.Loaded:
    fams = synthetic_registry.families(households, seed=seed, kelurahan_codes=kelurahan_codes(),
                                       dup_rate=dup_rate)
    loaded = synthetic_registry.load(session, fams)
    session.flush()
    return loaded


def register(session: Session, data: dict[str, Any]) -> uuid.UUID:
    """A household through the registry service, as any channel would write it."""
    household = create_household(session=session, data=HouseholdCreate.model_validate(data),
                                 actor=SEED_ACTOR, principal=SYSTEM_PRINCIPAL)
    session.flush()
    return household.id


def person(name: str, relation: str, sex: str, birth: date, *, nik: str | None = "auto"
           ) -> dict[str, Any]:
    data = factories.member(relation, sex, birth, full_name=name)
    if nik != "auto":
        data["nik"] = nik
    return data


def state(session: Session) -> EngineState:
    return EngineState.load(session)
