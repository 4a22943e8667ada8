"""Reference data (Ternate wilayah), the demo data set and demo users."""

from __future__ import annotations

import csv
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session

from app.audit.service import ActorRef
from app.auth import repository as auth_repo
from app.auth import service as auth_service
from app.auth.models import Role
from app.auth.permissions import Principal
from app.auth.schemas import UserCreate
from app.registry import service as registry_service
from app.registry.models import Household
from app.registry.schemas import HouseholdCreate
from app.registry.synthetic import SyntheticRegistry
from app.wilayah.models import Kecamatan, Kelurahan

SEED_ACTOR = ActorRef(user_id=None, name="seed", channel="import")
SYSTEM_PRINCIPAL = Principal(user_id=0, username="system", role=Role.admin,
                             kelurahan_scope=None, full_identifiers=True)


def _digits(code: str) -> str:
    return code.replace(".", "")


def load_wilayah(session: Session, csv_path: Path) -> tuple[int, int]:
    """Upsert kecamatan and kelurahan from the crosswalk CSV; returns (kecamatan, kelurahan)."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    kec = kel = 0
    for row in rows:
        if row["level"] != "kecamatan":
            continue
        session.merge(Kecamatan(code=row["kode_kemendagri"], bps_code=row["kode_bps_mfd2018"],
                                name=row["nama_kemendagri"]))
        kec += 1
    session.flush()
    for row in rows:
        if row["level"] != "kelurahan":
            continue
        code = row["kode_kemendagri"]
        session.merge(Kelurahan(code=code, kecamatan_code=code[:8],
                                bps_code=row["kode_bps_mfd2018"] or None,
                                name=row["nama_kemendagri"],
                                bps_name=row["nama_bps_mfd2018"] or None))
        kel += 1
    session.flush()
    return kec, kel


def seed_demo_households(session: Session, count: int, *, seed: int = 2026,
                         progress: Callable[[int], None] | None = None) -> int:
    """Create ``count`` synthetic families through the registry service (validated, audited).

    Idempotent: the generator is deterministic, so ids that already exist are skipped.
    """
    created = 0
    for data in SyntheticRegistry(seed=seed).households(count):
        if session.get(Household, uuid.UUID(data["id"])) is None:
            registry_service.create_household(
                session=session, data=HouseholdCreate.model_validate(data),
                actor=SEED_ACTOR, principal=SYSTEM_PRINCIPAL)
            created += 1
        if progress:
            progress(1)
    return created


DEMO_USERS = (
    ("admin", Role.admin, None, ()),
    ("dinsos", Role.dinsos, None, ()),
    ("spv.hiri", Role.supervisor, "82.71.07", ()),
    ("enum.hiri", Role.enumerator, None, ("82.71.07.1001", "82.71.07.1002")),
)


def ensure_demo_users(session: Session) -> tuple[str, list[tuple[str, str]]]:
    """Create (or reset the password of) the demo users; returns the new shared password."""
    password = "demo-" + secrets.token_urlsafe(9)
    made = []
    for username, role, kecamatan, kelurahan in DEMO_USERS:
        user = auth_repo.get_user_by_username(session, username)
        if user is None:
            auth_service.create_user(session=session, actor=SEED_ACTOR, data=UserCreate(
                username=username, password=password, role=role, kecamatan_code=kecamatan,
                kelurahan_codes=list(kelurahan), full_name=f"Demo {role.value}"))
        else:
            auth_service.set_password(session=session, user=user, password=password,
                                      actor=SEED_ACTOR)
        made.append((username, role.value))
    return password, made
