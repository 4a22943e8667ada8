"""All queries of appeals.  Area scoping follows the household's CURRENT kelurahan (a family
that moves takes its appeal, as its field task, to the new kelurahan)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, true, tuple_
from sqlmodel import Session, col, select

from app.appeals.models import Appeal, AppealEvent
from app.registry.models import Household

Scope = frozenset[str] | None


@dataclass(frozen=True)
class AppealFilter:
    status: str | None = None
    kecamatan_code: str | None = None
    kelurahan_code: str | None = None
    household_id: uuid.UUID | None = None


def _in_scope(scope: Scope) -> ColumnElement[bool]:
    if scope is None:
        return true()
    return col(Household.kelurahan_code).in_(sorted(scope))


def get(session: Session, appeal_id: uuid.UUID, scope: Scope, *, for_update: bool = False) -> Appeal | None:
    stmt = (select(Appeal).join(Household, col(Household.id) == col(Appeal.household_id))
            .where(Appeal.id == appeal_id, _in_scope(scope)))
    if for_update:
        stmt = stmt.with_for_update(of=Appeal)
    return session.exec(stmt).first()


def exists(session: Session, appeal_id: uuid.UUID) -> bool:
    """Unscoped: used only to tell 'outside your area' (403) from 'no such appeal' (404)."""
    return session.exec(select(Appeal.id).where(Appeal.id == appeal_id)).first() is not None


def open_one(session: Session, household_id: uuid.UUID, key: str) -> Appeal | None:
    return session.exec(select(Appeal).where(Appeal.household_id == household_id,
                                             Appeal.open_key == key)).first()


def latest_of_household(session: Session, household_id: uuid.UUID) -> Appeal | None:
    """The appeal a resident's status reply speaks of: an open one first, else the last decided."""
    return session.exec(select(Appeal).where(Appeal.household_id == household_id)
                        .order_by(col(Appeal.closed_at).is_(None).desc(), col(Appeal.updated_at).desc(),
                                  col(Appeal.id))).first()


def page(session: Session, f: AppealFilter, scope: Scope, *, after: tuple[datetime, uuid.UUID] | None,
         size: int) -> tuple[list[Appeal], bool]:
    """Oldest first by (created_at, id); one row more than asked tells whether more follow."""
    stmt = (select(Appeal).join(Household, col(Household.id) == col(Appeal.household_id))
            .where(_in_scope(scope)))
    if f.status:
        stmt = stmt.where(Appeal.status == f.status)
    if f.kelurahan_code:
        stmt = stmt.where(Household.kelurahan_code == f.kelurahan_code)
    if f.kecamatan_code:
        stmt = stmt.where(col(Household.kelurahan_code).startswith(f.kecamatan_code + "."))
    if f.household_id:
        stmt = stmt.where(Appeal.household_id == f.household_id)
    if after is not None:
        stmt = stmt.where(tuple_(col(Appeal.created_at), col(Appeal.id)) > tuple_(*after))
    rows = list(session.exec(stmt.order_by(col(Appeal.created_at), col(Appeal.id)).limit(size + 1)))
    return rows[:size], len(rows) > size


def events(session: Session, appeal_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[AppealEvent]]:
    out: dict[uuid.UUID, list[AppealEvent]] = {i: [] for i in appeal_ids}
    if not appeal_ids:
        return out
    rows = session.exec(select(AppealEvent).where(col(AppealEvent.appeal_id).in_(list(appeal_ids)))
                        .order_by(col(AppealEvent.id)))
    for row in rows:
        out[row.appeal_id].append(row)
    return out
