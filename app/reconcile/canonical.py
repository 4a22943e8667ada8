"""The canonical records: what eligibility scoring and reports may read.

A record merged into another is never canonical. This is enforced by the database, not by
discipline: a CHECK on ``household`` and ``member`` refuses ``merged_into_id`` without
``deleted_at`` (migration eb5d95912b32), so "canonical" is exactly "not deleted", the filter
every registry query already applies. Scoring and reports select through these functions so
that the rule lives in one place; if canonical ever needs more than ``deleted_at IS NULL``
(e.g. records under a pending merge), it changes here.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.registry.models import Household, Member


def households() -> SelectOfScalar[Household]:
    return select(Household).where(col(Household.deleted_at).is_(None))


def members() -> SelectOfScalar[Member]:
    """Canonical members of canonical households."""
    return (select(Member).join(Household, col(Member.household_id) == col(Household.id))
            .where(col(Member.deleted_at).is_(None), col(Household.deleted_at).is_(None)))


def household_ids() -> SelectOfScalar[uuid.UUID]:
    """The ids of canonical households (for ``IN`` / ``NOT IN`` subqueries and keyset walks)."""
    return select(Household.id).where(col(Household.deleted_at).is_(None))


def household_columns(*columns: Any) -> Select[Any]:
    """Chosen columns of canonical households: plain rows, no ORM objects (batch scoring)."""
    return select(*columns).where(col(Household.deleted_at).is_(None))


def member_columns(*columns: Any) -> Select[Any]:
    """Chosen columns of canonical members of canonical households."""
    return (select(*columns).select_from(Member)
            .join(Household, col(Member.household_id) == col(Household.id))
            .where(col(Member.deleted_at).is_(None), col(Household.deleted_at).is_(None)))
