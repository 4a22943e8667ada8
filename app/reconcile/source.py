"""Canonical registry members as the engine's :class:`records.PersonRecord`.

A member is matched with what its household knows about it: the KK number, the address
(with RT/RW appended, so that ``features.prepare`` reads them), the kelurahan and the
household's phone. Only canonical records are read: a merged-away household or member is
deleted (``deleted_at`` set; a CHECK keeps ``merged_into_id`` only on deleted rows).

All members are read in keyset pages of ``chunk`` rows, so 200,000 members never sit in
one result set; a caller that keeps them all (the batch run) decides that itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from app.reconcile.records import PersonRecord
from app.registry.models import Household, Member
from app.registry.names import LEAD_NAME

_M = Member.__table__.c  # type: ignore[attr-defined]
_H = Household.__table__.c  # type: ignore[attr-defined]
_COLUMNS = (_M.id, _M.full_name, _M.birth_date, _M.sex, _M.nik, _M.household_id, _M.relation,
            _H.kk_number, _H.address, _H.rt, _H.rw, _H.kelurahan_code, _H.phone)


@dataclass(frozen=True, slots=True)
class SourceMember:
    """A member as the engine sees it, with where it lives in the registry."""

    record: PersonRecord          # record_id = the member id as a string
    household_id: uuid.UUID
    is_head: bool
    kelurahan_code: str

    @property
    def member_id(self) -> uuid.UUID:
        return uuid.UUID(self.record.record_id)

    @property
    def kecamatan_code(self) -> str:
        return self.kelurahan_code[:8]


def _address(address: str | None, rt: str | None, rw: str | None) -> str | None:
    text = (address or "").strip()
    if rt:
        text += f" RT {rt}" + (f"/RW {rw}" if rw else "")
    return text.strip() or None


def _member(row: Any) -> SourceMember:
    record = PersonRecord(
        record_id=str(row.id), full_name=None if row.full_name == LEAD_NAME else row.full_name,
        birth_date=row.birth_date, sex=row.sex,
        nik=row.nik, kk_number=row.kk_number, address=_address(row.address, row.rt, row.rw),
        kelurahan_code=row.kelurahan_code, phone=row.phone)
    return SourceMember(record, row.household_id, row.relation == "head", row.kelurahan_code)


def _canonical() -> Any:
    return (select(*_COLUMNS).join_from(Member, Household, _H.id == _M.household_id)
            .where(_M.deleted_at.is_(None), _H.deleted_at.is_(None)))


def members_of(session: Session, household_ids: Collection[uuid.UUID]) -> list[SourceMember]:
    """The canonical members of these households (none for a deleted or merged household),
    in a stable order (household, then member id)."""
    out: list[SourceMember] = []
    ids = sorted(set(household_ids))
    for start in range(0, len(ids), 500):
        stmt = _canonical().where(_M.household_id.in_(ids[start:start + 500]))
        out += [_member(r) for r in session.execute(stmt)]
    out.sort(key=lambda m: (str(m.household_id), m.record.record_id))
    return out


def members_by_id(session: Session, member_ids: Collection[uuid.UUID]) -> list[SourceMember]:
    out: list[SourceMember] = []
    ids = sorted(set(member_ids))
    for start in range(0, len(ids), 500):
        stmt = _canonical().where(_M.id.in_(ids[start:start + 500]))
        out += [_member(r) for r in session.execute(stmt)]
    return out


def iter_members(session: Session, *, chunk: int = 5000) -> Iterator[SourceMember]:
    """Every canonical member, in pages of ``chunk`` rows ordered by member id."""
    after: uuid.UUID | None = None
    while True:
        stmt = _canonical().order_by(_M.id).limit(chunk)
        if after is not None:
            stmt = stmt.where(_M.id > after)
        rows = session.execute(stmt).all()
        for r in rows:
            yield _member(r)
        if len(rows) < chunk:
            return
        after = rows[-1].id
