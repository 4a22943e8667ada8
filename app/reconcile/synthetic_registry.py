"""The synthetic persons of :mod:`app.reconcile.synthetic` as registry households.

For the benchmark and the database tests: the generator's records become household and
member rows written in bulk (``app.bulk``), the way they would have arrived:

- the clean records of one generated family are one household (its head is the head);
- a family registered again after a move (scenario ``moved``) is another household;
- every other duplicate (a revisit, an SMS self-registration, another agency's list) is a
  household of one, whose only member is its head.

The registry refuses a second active household with the same KK or a second active member
with the same NIK (partial unique indexes), so a duplicate carrying a KK or NIK already
taken is written without it: what such a registration leaves in the registry. The registry
also requires a sex; an SMS record without one gets the sex of the person's other records
(the USSD and SMS forms ask for it). The truth is returned beside the rows and is read
only to evaluate.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from app import bulk
from app.reconcile.records import PersonRecord
from app.reconcile.synthetic import PersonGenerator, Truth
from app.registry.models import Household, Member

_HOUSEHOLD = Household.__table__  # type: ignore[attr-defined]
_MEMBER = Member.__table__  # type: ignore[attr-defined]
_NS = uuid.UUID("6f1c1f8e-3f5e-4f8a-9d1e-5a6b7c8d9e0f")
_SOURCE = {"enumerator": "enumerator", "revisit": "enumerator", "moved": "enumerator",
           "sms": "sms", "agency": "import"}


@dataclass
class Family:
    key: str
    scenario: str
    records: list[tuple[PersonRecord, Truth]] = field(default_factory=list)

    @property
    def household_id(self) -> uuid.UUID:
        return uuid.uuid5(_NS, self.key)


@dataclass
class Loaded:
    households: int = 0
    members: int = 0
    # member id (str) -> truth person id: read only to evaluate
    person_of: dict[str, str] = field(default_factory=dict)
    blanked_nik: int = 0
    blanked_kk: int = 0


def families(households: int, *, seed: int, kelurahan_codes: list[str], dup_rate: float = 0.05,
             drop_nik: bool = False) -> list[Family]:
    """The generated records grouped into registry households (see the module docstring)."""
    gen = PersonGenerator(seed=seed, kelurahan_codes=kelurahan_codes, dup_rate=dup_rate)
    groups: dict[str, Family] = {}
    sex_of: dict[str, str] = {}
    pending: list[tuple[PersonRecord, Truth]] = []
    for rec, truth in gen.generate(households):
        if drop_nik:
            rec = PersonRecord(rec.record_id, rec.full_name, rec.birth_date, rec.sex, None,
                               rec.kk_number, rec.address, rec.kelurahan_code, rec.phone)
        if rec.sex:
            sex_of.setdefault(truth.person_id, rec.sex)
        pending.append((rec, truth))
    for rec, truth in pending:
        if not rec.sex:
            rec = PersonRecord(rec.record_id, rec.full_name, rec.birth_date,
                               sex_of.get(truth.person_id, "female"), rec.nik, rec.kk_number,
                               rec.address, rec.kelurahan_code, rec.phone)
        if truth.scenario == "enumerator":
            key = f"H|{truth.household_id}"
        elif truth.scenario == "moved":
            key = f"M|{truth.household_id}|{rec.kk_number}"
        else:
            key = f"S|{truth.record_id}"
        groups.setdefault(key, Family(key, truth.scenario)).records.append((rec, truth))
    return list(groups.values())


def _phone(value: str | None) -> str | None:
    if not value:
        return None
    digits = "".join(c for c in value if c.isdigit())
    return "+62" + digits[1:] if digits.startswith("0") else "+" + digits


def rows(fams: list[Family], *, taken_nik: set[str] | None = None, taken_kk: set[str] | None = None,
         now: datetime | None = None) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], Loaded]]:
    """(household row, member rows, what was blanked) per family."""
    taken_nik = set() if taken_nik is None else taken_nik
    taken_kk = set() if taken_kk is None else taken_kk
    now = now or datetime(2026, 7, 1, tzinfo=UTC)
    household_columns = [c.name for c in _HOUSEHOLD.columns]
    member_columns = [c.name for c in _MEMBER.columns]
    for number, fam in enumerate(fams):
        info = Loaded(households=1)
        first = fam.records[0][0]
        kk = first.kk_number
        if kk and kk in taken_kk:
            kk = None
            info.blanked_kk += 1
        if kk:
            taken_kk.add(kk)
        hid = fam.household_id
        stamp = now + timedelta(microseconds=number)
        house: dict[str, Any] = dict.fromkeys(household_columns)
        house.update(
            id=hid, kk_number=kk, kelurahan_code=first.kelurahan_code,
            address=next((r.address for r, _ in fam.records if r.address), "") or "",
            phone=_phone(next((r.phone for r, _ in fam.records if r.phone), None)),
            source=_SOURCE[fam.scenario],
            verification_status="field_verified" if fam.scenario != "sms" else "self_reported",
            version=1, created_at=stamp, updated_at=stamp)
        single = len(fam.records) == 1
        heads = sum(t.relation == "head" for _, t in fam.records)
        members: list[dict[str, Any]] = []
        for rec, truth in fam.records:
            nik = rec.nik
            if nik and nik in taken_nik:
                nik = None
                info.blanked_nik += 1
            if nik:
                taken_nik.add(nik)
            relation = "head" if single or (heads == 0 and not members) else (
                truth.relation if truth.relation in ("head", "spouse", "child", "parent") else "other")
            member: dict[str, Any] = dict.fromkeys(member_columns)
            mid = uuid.uuid5(_NS, rec.record_id)
            member.update(id=mid, household_id=hid, nik=nik, full_name=(rec.full_name or "-")[:120],
                          sex=rec.sex or "female", birth_date=rec.birth_date, relation=relation,
                          alive=True, version=1, created_at=stamp, updated_at=stamp)
            members.append(member)
            info.person_of[str(mid)] = truth.person_id
            info.members += 1
        yield house, members, info


def load(session: Session, fams: list[Family], *, chunk: int = 2000, taken_nik: set[str] | None = None,
         taken_kk: set[str] | None = None) -> Loaded:
    """Write the families in bulk (no change feed, no audit: a benchmark or test fixture).
    ``taken_nik`` / ``taken_kk``: those of an earlier load into the same database."""
    total = Loaded()
    houses: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []

    def flush() -> None:
        bulk.insert(session, _HOUSEHOLD, houses)
        bulk.insert(session, _MEMBER, members)
        houses.clear()
        members.clear()

    for house, mems, info in rows(fams, taken_nik=taken_nik, taken_kk=taken_kk):
        houses.append(house)
        members.extend(mems)
        total.households += 1
        total.members += info.members
        total.blanked_kk += info.blanked_kk
        total.blanked_nik += info.blanked_nik
        total.person_of.update(info.person_of)
        if len(houses) >= chunk:
            flush()
    flush()
    return total
