"""The reports' desil subquery agrees with the desil scoring uses, family by family."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session

from app.db import utcnow
from app.eligibility import repository as repo
from app.eligibility.store import DesilEstimate, DesilImport, FamilyDesil
from app.registry.models import Household
from app.reports.desil import desil_in_use
from tests.eligibility_db.helpers import family


def _official(db: Session, imp: DesilImport, household_id: uuid.UUID, period: str, desil: int) -> None:
    assert imp.id is not None
    db.add(FamilyDesil(household_id=household_id, period=period, desil=desil, import_id=imp.id, row_number=2))


def _estimate(db: Session, household_id: uuid.UUID, desil: int | None, model: str, age_days: int) -> None:
    db.add(
        DesilEstimate(
            household_id=household_id,
            model_version=model,
            desil=desil,
            fingerprint=model,
            computed_at=utcnow() - timedelta(days=age_days),
        )
    )


def test_same_desil_as_scoring(db: Session) -> None:
    two_periods, estimated, unknown, nothing, both, merged = (family(db) for _ in range(6))
    imp = DesilImport(file_name="x.csv", sha256="1" * 64, period="2026-Q1", imported_by="test")
    db.add(imp)
    db.flush()
    _official(db, imp, two_periods.id, "2025-Q4", 2)
    _official(db, imp, two_periods.id, "2026-Q1", 5)
    _estimate(db, estimated.id, 4, "pmt-old", age_days=9)
    _estimate(db, estimated.id, 3, "pmt-new", age_days=1)
    _estimate(db, unknown.id, None, "pmt-new", age_days=1)
    _official(db, imp, both.id, "2026-Q1", 8)
    _estimate(db, both.id, 1, "pmt-new", age_days=1)
    row = db.get(Household, merged.id)
    assert row is not None
    row.merged_into_id, row.deleted_at = both.id, utcnow()
    db.add(row)
    db.flush()

    sub = desil_in_use()
    got = {r.household_id: r for r in db.execute(select(sub)).all()}
    assert merged.id not in got
    expected = repo.latest_desil(db, list(got))
    for hid, r in got.items():
        info = expected.get(hid)
        want = (None, None) if info is None or info.desil is None else (info.desil, info.source)
        assert (r.desil, r.desil_source) == want, hid
    assert (got[two_periods.id].desil, got[two_periods.id].desil_basis) == (5, "2026-Q1")
    assert (got[estimated.id].desil, got[estimated.id].desil_basis) == (3, "pmt-new")
    assert got[both.id].desil_source == "official"
    assert got[unknown.id].desil is None and got[nothing.id].desil is None
