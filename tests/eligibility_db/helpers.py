"""Shared by the eligibility database tests: families in the registry, generated desil files."""

from __future__ import annotations

import csv
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session

from app.audit.service import ActorRef
from app.registry.schemas import HouseholdCreate
from app.registry.service import create_household
from app.seeding import SEED_ACTOR, SYSTEM_PRINCIPAL
from tests import factories as f

ACTOR = ActorRef(user_id=None, name="test", channel="import")


@dataclass(frozen=True)
class Family:
    id: uuid.UUID
    head_nik: str
    kk: str
    kelurahan: str


def family(session: Session, kelurahan: str = f.HIRI_FAUDU, **extra: Any) -> Family:
    """A family of three registered through the registry service (head, spouse, child of ~10)."""
    data = f.household(kelurahan, **extra)
    household = create_household(
        session=session,
        data=HouseholdCreate.model_validate(data),
        actor=SEED_ACTOR,
        principal=SYSTEM_PRINCIPAL,
    )
    session.flush()
    head = next(m for m in data["members"] if m["relation"] == "head")
    return Family(household.id, head["nik"], data["kk_number"], kelurahan)


def young_family(session: Session, kelurahan: str = f.HIRI_FAUDU, **extra: Any) -> Family:
    """A family with a child under 6 (a PKH component) and a modest house."""
    members = [
        f.member("head", occupation="fisher"),
        f.member("spouse", "female", date(1990, 2, 3), occupation="housekeeping"),
        f.member("child", "male", date(2023, 4, 5), full_name="Rahmat Hamid", occupation="not_working"),
    ]
    extra.setdefault("asset_car", False)
    return family(session, kelurahan, members=members, **extra)


def write_csv(path: Path, rows: list[list[Any]], *, delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[Any]], *, merge: str | None = None) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    book.save(path)
    return path
