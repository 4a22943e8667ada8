"""A small registry whose report figures are computed by hand in the tests.

    kecamatan 82.71.07 (Pulau Hiri)
      Faudu 82.71.07.1001:    a official 2, b official 2, c ESTIMATE 5, d no desil
      Tomajiko 82.71.07.1002: e official 9 (an older official 4 and an estimate 1 too)
    kecamatan 82.71.04 (Moti), Moti Kota 82.71.04.1001:
                            f ESTIMATE 2, g official 1 (two members)
    kecamatan 82.71.02 (Ternate Selatan), 82.71.02.1001:
                            h no desil; m official 3 but MERGED into h (never counted)

Every family has three canonical members except g (two); family a also has a removed
member (never counted). Channels: a, b, e enumerator; c sms; d ussd; f, g, h import.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, col, select

from app.db import utcnow
from app.eligibility.store import DesilEstimate, DesilImport, FamilyDesil
from app.registry.models import Household, Member
from tests import factories as f
from tests.eligibility_db.helpers import family

FAUDU, TOMAJIKO = f.HIRI_FAUDU, f.HIRI_TOMAJIKO
MOTI, SELATAN = f.MOTI_KELURAHAN, f.SELATAN_KELURAHAN
HIRI_KEC, MOTI_KEC, SELATAN_KEC = "82.71.07", "82.71.04", "82.71.02"


@dataclass
class Registry:
    ids: dict[str, uuid.UUID]


def _official(db: Session, imp: DesilImport, hid: uuid.UUID, desil: int, period: str = "2026-Q1") -> None:
    assert imp.id is not None
    db.add(FamilyDesil(household_id=hid, period=period, desil=desil, import_id=imp.id, row_number=2))


def _estimate(
    db: Session, hid: uuid.UUID, desil: int | None, age_days: int = 1, model: str = "pmt-test"
) -> None:
    db.add(
        DesilEstimate(
            household_id=hid,
            model_version=model,
            desil=desil,
            fingerprint=model,
            computed_at=utcnow() - timedelta(days=age_days),
        )
    )


def build(db: Session) -> Registry:
    kel = {
        "a": FAUDU,
        "b": FAUDU,
        "c": FAUDU,
        "d": FAUDU,
        "e": TOMAJIKO,
        "f": MOTI,
        "g": MOTI,
        "h": SELATAN,
        "m": SELATAN,
    }
    ids: dict[str, uuid.UUID] = {}
    for name, code in kel.items():
        if name == "g":
            members = [f.member("head"), f.member("spouse", "female", date(1984, 2, 3))]
            ids[name] = family(db, code, members=members).id
        else:
            ids[name] = family(db, code).id
    imp = DesilImport(file_name="t.csv", sha256="2" * 64, period="2026-Q1", imported_by="test")
    db.add(imp)
    db.flush()
    for name, d in (("a", 2), ("b", 2), ("e", 9), ("g", 1), ("m", 3)):
        _official(db, imp, ids[name], d)
    _official(db, imp, ids["e"], 4, period="2025-Q4")
    _estimate(db, ids["e"], 1)
    _estimate(db, ids["c"], 5)
    _estimate(db, ids["f"], 2)
    _estimate(db, ids["d"], None)  # needs data: still "belum ada desil"
    channels = {"a": "enumerator", "b": "enumerator", "e": "enumerator", "c": "sms", "d": "ussd"}
    for name, hid in ids.items():
        h = db.get(Household, hid)
        assert h is not None
        h.source = channels.get(name, "import")
        if name == "m":
            h.merged_into_id, h.deleted_at = ids["h"], utcnow()
        db.add(h)
    removed = db.exec(
        select(Member).where(col(Member.household_id) == ids["a"], Member.relation == "child")
    ).one()
    removed.deleted_at = utcnow()
    db.add(removed)
    db.add(Member(household_id=ids["a"], full_name="Ali Hamid", sex="male", relation="child"))
    db.flush()
    return Registry(ids)


# kecamatan -> desil key -> families (hand-computed from the table above)
FAMILIES = {
    SELATAN_KEC: {"none": 1},
    MOTI_KEC: {"1": 1, "2": 1},
    HIRI_KEC: {"2": 2, "5": 1, "9": 1, "none": 1},
}
PERSONS = {
    SELATAN_KEC: {"none": 3},
    MOTI_KEC: {"1": 2, "2": 3},
    HIRI_KEC: {"2": 6, "5": 3, "9": 3, "none": 3},
}
OFFICIAL = {MOTI_KEC: {"1": 1}, HIRI_KEC: {"2": 2, "9": 1}}
ESTIMATE = {MOTI_KEC: {"2": 1}, HIRI_KEC: {"5": 1}}
