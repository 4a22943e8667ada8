"""Monthly snapshots of the report aggregates, so trends compare like with like.

A snapshot freezes, for one period (``YYYY-MM``), the families and persons per kelurahan x
desil x desil source (counted over ``desil_in_use()``, the desil scoring uses) and the
current decisions per kelurahan x programme x outcome with the rule set that made them.
Each aggregate is ONE ``INSERT ... SELECT`` that runs inside the database; nothing passes
through Python row by row.

Idempotent per period by the primary key of ``report_snapshot``: the header row is claimed
with ``INSERT ... ON CONFLICT DO NOTHING``; whoever does not get it (a second cron run, a
concurrent run) changes nothing and is told "already taken". ``replace=True`` deletes the
period and takes it again, audited with the old and new totals. Services flush; the caller
commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import String, Table, cast, delete, distinct, func, insert, literal, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from app.appeals.service import today_in_ternate
from app.audit import service as audit
from app.audit.service import ActorRef
from app.db import as_utc, utcnow
from app.eligibility.repository import active_rule_set
from app.eligibility.store import EligibilityDecision
from app.errors import InvalidData
from app.registry.models import Household, Member
from app.reports.desil import desil_in_use
from app.reports.progress_models import (
    NO_DESIL,
    NO_SOURCE,
    ReportSnapshot,
    ReportSnapshotDesil,
    ReportSnapshotProgramme,
)

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
_PERIOD = re.compile(PERIOD_PATTERN)
_HEADER: Table = ReportSnapshot.__table__  # type: ignore[attr-defined]
_DESIL: Table = ReportSnapshotDesil.__table__  # type: ignore[attr-defined]
_PROGRAMME: Table = ReportSnapshotProgramme.__table__  # type: ignore[attr-defined]

Status = Literal["taken", "replaced", "already_taken"]


@dataclass(frozen=True)
class SnapshotResult:
    period: str
    status: Status
    taken_at: datetime
    rule_set_label: str | None
    families: int
    persons: int
    decisions: int


def check_period(value: str, field: str = "period") -> str:
    """``YYYY-MM`` (month 01-12), or a 422 naming ``field``."""
    value = value.strip()
    if not _PERIOD.match(value):
        raise InvalidData.one(field, "pattern", f"'{value}' is not a month: use YYYY-MM, e.g. 2026-07")
    return value


def current_period(now: datetime | None = None) -> str:
    """The month it is in Ternate (WIT) now."""
    today = today_in_ternate(now)
    return f"{today.year:04d}-{today.month:02d}"


def _claim(session: Session, values: dict[str, Any]) -> bool:
    """Insert the header row unless the period exists; True if this call inserted it."""
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert(_HEADER) if dialect == "postgresql" else sqlite.insert(_HEADER)).values(
        **values
    )
    claimed = stmt.on_conflict_do_nothing(index_elements=["period"]).returning(_HEADER.c.period)
    return session.execute(claimed).first() is not None


def _insert_desil(session: Session, period: str) -> None:
    d = desil_in_use()
    persons = (
        select(col(Member.household_id).label("household_id"), func.count().label("n"))
        .where(col(Member.deleted_at).is_(None))
        .group_by(col(Member.household_id))
        .subquery("persons")
    )
    # inline constants: PostgreSQL must see the SAME expression in SELECT and GROUP BY
    desil = func.coalesce(d.c.desil, literal_column(str(NO_DESIL)))
    source = func.coalesce(d.c.desil_source, literal_column(f"'{NO_SOURCE}'"))
    rows = (
        select(
            cast(literal(period), String),
            d.c.kelurahan_code,
            desil,
            source,
            func.count(),
            func.coalesce(func.sum(persons.c.n), 0),
        )
        .select_from(d)
        .outerjoin(persons, persons.c.household_id == d.c.household_id)
        .group_by(d.c.kelurahan_code, desil, source)
    )
    columns = ["period", "kelurahan_code", "desil", "desil_source", "families", "persons"]
    session.execute(insert(_DESIL).from_select(columns, rows))


def _insert_programmes(session: Session, period: str) -> None:
    e = EligibilityDecision
    rows = (
        select(
            cast(literal(period), String),
            col(Household.kelurahan_code),
            col(e.programme_id),
            col(e.ruleset_label),
            col(e.outcome),
            func.max(col(e.unit)),
            func.count(distinct(col(e.household_id))),
            func.count(),
        )
        .select_from(e)
        .join(Household, col(Household.id) == col(e.household_id))
        .where(col(e.current).is_(True), col(Household.deleted_at).is_(None))
        .group_by(col(Household.kelurahan_code), col(e.programme_id), col(e.ruleset_label), col(e.outcome))
    )
    columns = [
        "period",
        "kelurahan_code",
        "programme_id",
        "rule_set_label",
        "outcome",
        "unit",
        "families",
        "subjects",
    ]
    session.execute(insert(_PROGRAMME).from_select(columns, rows))


def _totals(session: Session, period: str) -> tuple[int, int, int]:
    families, persons = session.execute(
        select(
            func.coalesce(func.sum(col(ReportSnapshotDesil.families)), 0),
            func.coalesce(func.sum(col(ReportSnapshotDesil.persons)), 0),
        ).where(col(ReportSnapshotDesil.period) == period)
    ).one()
    decisions = session.execute(
        select(func.coalesce(func.sum(col(ReportSnapshotProgramme.subjects)), 0)).where(
            col(ReportSnapshotProgramme.period) == period
        )
    ).scalar_one()
    return int(families), int(persons), int(decisions)


def _utc(value: datetime) -> datetime:
    stamp = as_utc(value)
    assert stamp is not None
    return stamp


def _summary(s: ReportSnapshot) -> dict[str, Any]:
    return {
        "taken_at": _utc(s.taken_at).isoformat(),
        "taken_by": s.taken_by,
        "rule_set_label": s.rule_set_label,
        "families": s.families,
        "persons": s.persons,
        "decisions": s.decisions,
    }


def _delete_period(session: Session, period: str) -> None:
    for table in (_DESIL, _PROGRAMME, _HEADER):
        session.execute(delete(table).where(table.c.period == period))


def take_snapshot(
    *, session: Session, period: str, actor: ActorRef, replace: bool = False, now: datetime | None = None
) -> SnapshotResult:
    """Take the snapshot of ``period`` (``YYYY-MM``); "already_taken" (nothing changed) if it
    exists, unless ``replace``."""
    period = check_period(period)
    taken_at = now or utcnow()
    active = active_rule_set(session)
    label = active.label if active else None
    before: dict[str, Any] | None = None
    replaced = 0
    if replace:
        old = session.get(ReportSnapshot, period, with_for_update=True)
        if old is not None:
            before, replaced = _summary(old), old.replaced + 1
            session.expunge(old)
            _delete_period(session, period)
    header = {
        "period": period,
        "taken_at": taken_at,
        "taken_by": actor.name,
        "rule_set_label": label,
        "families": 0,
        "persons": 0,
        "decisions": 0,
        "replaced": replaced,
    }
    if not _claim(session, header):
        existing = session.get(ReportSnapshot, period)
        assert existing is not None
        return SnapshotResult(
            period=period,
            status="already_taken",
            taken_at=_utc(existing.taken_at),
            rule_set_label=existing.rule_set_label,
            families=existing.families,
            persons=existing.persons,
            decisions=existing.decisions,
        )
    _insert_desil(session, period)
    _insert_programmes(session, period)
    families, persons, decisions = _totals(session, period)
    session.execute(
        _HEADER.update()
        .where(_HEADER.c.period == period)
        .values(families=families, persons=persons, decisions=decisions)
    )
    after = {
        "taken_at": taken_at.isoformat(),
        "taken_by": actor.name,
        "rule_set_label": label,
        "families": families,
        "persons": persons,
        "decisions": decisions,
    }
    changes = audit.diff(before, after) if before is not None else audit.created(after)
    audit.record(
        session,
        actor=actor,
        action="replace" if before is not None else "create",
        entity_type="report_snapshot",
        entity_id=period,
        changes=changes,
    )
    session.flush()
    return SnapshotResult(
        period=period,
        status="replaced" if before is not None else "taken",
        taken_at=taken_at,
        rule_set_label=label,
        families=families,
        persons=persons,
        decisions=decisions,
    )


def list_snapshots(session: Session) -> list[ReportSnapshot]:
    return list(session.execute(select(ReportSnapshot).order_by(col(ReportSnapshot.period))).scalars())
