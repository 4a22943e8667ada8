"""Every query of the trends and the checklist.

Checklist counts are grouped by kelurahan in SQL (one query per source table, at most 78
rows each) and summed to kecamatan or city in Python (``Counts.__add__``); only the pending
duplicate candidates are counted per area, since a pair may span two kelurahan.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, distinct, func, or_, select
from sqlmodel import Session, col

from app.appeals.models import Appeal
from app.appeals.rules import FINAL
from app.db import as_utc
from app.eligibility.store import DesilEstimate, EligibilityDecision, FamilyDesil, ScoreRun
from app.reconcile.store import DukcapilCheck, MatchCandidate
from app.registry.models import Household, Member
from app.reports.checklist import Counts, Milestone
from app.reports.models import KelurahanTarget
from app.reports.progress_models import (
    PilotMilestone,
    ReportSnapshot,
    ReportSnapshotDesil,
    ReportSnapshotProgramme,
)
from app.wilayah.models import Kecamatan, Kelurahan

VERIFIED = ("field_verified", "dukcapil_matched")


def kecamatan(session: Session) -> list[Kecamatan]:
    return list(session.execute(select(Kecamatan).order_by(col(Kecamatan.code))).scalars())


def kelurahan(session: Session) -> list[Kelurahan]:
    return list(session.execute(select(Kelurahan).order_by(col(Kelurahan.code))).scalars())


def _in(column: Any, codes: Collection[str] | None) -> Any:
    return True if codes is None else column.in_(sorted(codes))


def _merge(into: dict[str, dict[str, Any]], rows: Iterable[Any], *names: str) -> None:
    for row in rows:
        slot = into.setdefault(row[0], {})
        for name, value in zip(names, row[1:], strict=True):
            slot[name] = value


def kelurahan_counts(
    session: Session, codes: Collection[str] | None, active_rule_set_id: int | None
) -> dict[str, Counts]:
    """Counts per kelurahan of ``codes`` (None: all); kelurahan with nothing get zeros."""
    raw: dict[str, dict[str, Any]] = {}
    h = Household
    live = col(h.deleted_at).is_(None)
    _merge(raw, session.execute(
        select(
            col(h.kelurahan_code),
            func.count().filter(live),
            func.count().filter(and_(live, col(h.verification_status).in_(VERIFIED))),
            func.count().filter(and_(live, col(h.verification_status) == "rejected")),
            func.max(col(h.updated_at)),  # deleted (merged) records too: a merge is a change
        ).where(_in(col(h.kelurahan_code), codes)).group_by(col(h.kelurahan_code))
    ), "families", "verified", "rejected", "household_change")  # fmt: skip
    _merge(raw, session.execute(
        select(
            col(h.kelurahan_code),
            func.count(),
            func.count(col(DukcapilCheck.member_id)),
            func.count().filter(col(DukcapilCheck.status) == "matched"),
        ).select_from(Member).join(h, col(h.id) == col(Member.household_id))
        .outerjoin(DukcapilCheck, col(DukcapilCheck.member_id) == col(Member.id))
        .where(live, col(Member.deleted_at).is_(None), _in(col(h.kelurahan_code), codes))
        .group_by(col(h.kelurahan_code))
    ), "persons", "dukcapil_checked", "dukcapil_matched")  # fmt: skip
    for model, stamp, name in ((FamilyDesil, FamilyDesil.updated_at, "desil_change"),
                               (DesilEstimate, DesilEstimate.computed_at, "estimate_change")):  # fmt: skip
        _merge(raw, session.execute(
            select(col(h.kelurahan_code), func.max(col(stamp)))
            .select_from(model).join(h, col(h.id) == col(model.household_id))
            .where(_in(col(h.kelurahan_code), codes)).group_by(col(h.kelurahan_code))
        ), name)  # fmt: skip
    if active_rule_set_id is not None:
        e = EligibilityDecision
        _merge(raw, session.execute(
            select(col(h.kelurahan_code), func.count(distinct(col(e.household_id))))
            .select_from(e).join(h, col(h.id) == col(e.household_id))
            .where(col(e.current).is_(True), col(e.rule_set_id) == active_rule_set_id, live,
                   _in(col(h.kelurahan_code), codes))
            .group_by(col(h.kelurahan_code))
        ), "scored")  # fmt: skip
    _merge(raw, session.execute(
        select(col(Appeal.kelurahan_code), func.count())
        .where(col(Appeal.status).not_in(sorted(FINAL)), _in(col(Appeal.kelurahan_code), codes))
        .group_by(col(Appeal.kelurahan_code))
    ), "appeals_pending")  # fmt: skip
    targets = dict(session.execute(
        select(col(KelurahanTarget.kelurahan_code), col(KelurahanTarget.families))
        .where(_in(col(KelurahanTarget.kelurahan_code), codes))
    ).all())  # fmt: skip
    all_codes = codes if codes is not None else [k.code for k in kelurahan(session)]
    out: dict[str, Counts] = {}
    for code in all_codes:
        r = raw.get(code, {})
        stamps = [as_utc(r.get(n)) for n in ("household_change", "desil_change", "estimate_change")]
        present = [s for s in stamps if s is not None]
        target = targets.get(code)
        out[code] = Counts(
            kelurahan=1,
            families=r.get("families", 0),
            target_families=target,
            targets_missing=0 if target is not None else 1,
            verified=r.get("verified", 0),
            rejected=r.get("rejected", 0),
            persons=r.get("persons", 0),
            dukcapil_checked=r.get("dukcapil_checked", 0),
            dukcapil_matched=r.get("dukcapil_matched", 0),
            scored=r.get("scored", 0),
            appeals_pending=r.get("appeals_pending", 0),
            last_change=max(present) if present else None,
        )
    return out


def candidates(session: Session, codes: Collection[str] | None) -> tuple[int, int]:
    """(pending, merged) duplicate candidates with either household in the area."""
    table: Table = Household.__table__  # type: ignore[attr-defined]
    a, b = table.alias("a"), table.alias("b")
    stmt = select(
        func.count(distinct(col(MatchCandidate.id))).filter(col(MatchCandidate.status) == "pending"),
        func.count(distinct(col(MatchCandidate.id))).filter(col(MatchCandidate.status) == "merged"),
    ).select_from(MatchCandidate)
    if codes is not None:
        stmt = (
            stmt.join(a, a.c.id == col(MatchCandidate.household_a))
            .join(b, b.c.id == col(MatchCandidate.household_b))
            .where(or_(a.c.kelurahan_code.in_(sorted(codes)), b.c.kelurahan_code.in_(sorted(codes))))
        )
    pending, merged = session.execute(stmt).one()
    return int(pending), int(merged)


def last_finished_run(session: Session, rule_set_id: int) -> datetime | None:
    started = session.execute(
        select(func.max(col(ScoreRun.started_at))).where(
            col(ScoreRun.rule_set_id) == rule_set_id, col(ScoreRun.status) == "finished"
        )
    ).scalar_one()
    return as_utc(started)


def milestones(
    session: Session, *, stage: str | None = None, kecamatan_codes: Collection[str] | None = None
) -> list[PilotMilestone]:
    """Milestones, newest decision first; ``kecamatan_codes``: those of these kecamatan and
    the city-wide ones."""
    stmt = select(PilotMilestone)
    if stage is not None:
        stmt = stmt.where(col(PilotMilestone.stage) == stage)
    if kecamatan_codes is not None:
        stmt = stmt.where(
            or_(
                col(PilotMilestone.kecamatan_code).is_(None),
                col(PilotMilestone.kecamatan_code).in_(sorted(kecamatan_codes)),
            )
        )
    stmt = stmt.order_by(col(PilotMilestone.decided_on).desc(), col(PilotMilestone.id).desc())
    return list(session.execute(stmt).scalars())


def as_milestone(m: PilotMilestone) -> Milestone:
    return Milestone(
        stage=m.stage,
        kecamatan_code=m.kecamatan_code,
        decided_on=m.decided_on,
        note=m.note,
        id=m.id or 0,
        recorded_by=m.recorded_by,
        recorded_at=as_utc(m.recorded_at),
    )


def snapshots_between(session: Session, start: str | None, end: str | None) -> list[ReportSnapshot]:
    stmt = select(ReportSnapshot).order_by(col(ReportSnapshot.period))
    if start:
        stmt = stmt.where(col(ReportSnapshot.period) >= start)
    if end:
        stmt = stmt.where(col(ReportSnapshot.period) <= end)
    return list(session.execute(stmt).scalars())


def desil_trend(
    session: Session,
    *,
    by_kelurahan: bool,
    codes: Collection[str] | None,
    desil: int | None,
    source: str | None,
    persons: bool,
    start: str | None,
    end: str | None,
) -> list[tuple[str, str, int]]:
    """(period, area code, families or persons) from the snapshots only."""
    s = ReportSnapshotDesil
    area = col(s.kelurahan_code) if by_kelurahan else col(Kelurahan.kecamatan_code)
    stmt = (
        select(col(s.period), area, func.sum(col(s.persons) if persons else col(s.families)))
        .join(Kelurahan, col(Kelurahan.code) == col(s.kelurahan_code))
        .where(_in(col(s.kelurahan_code), codes))
        .group_by(col(s.period), area)
    )
    if desil is not None:
        stmt = stmt.where(col(s.desil) == desil)
    if source is not None:
        stmt = stmt.where(col(s.desil_source) == source)
    if start:
        stmt = stmt.where(col(s.period) >= start)
    if end:
        stmt = stmt.where(col(s.period) <= end)
    return [(p, a, int(v)) for p, a, v in session.execute(stmt)]


def programme_trend(
    session: Session,
    *,
    by_kelurahan: bool,
    codes: Collection[str] | None,
    programme: str | None,
    outcome: str,
    subjects: bool,
    start: str | None,
    end: str | None,
) -> list[tuple[str, str, str, str, int]]:
    """(period, programme, area code, rule set, families or subjects) from the snapshots only."""
    s = ReportSnapshotProgramme
    area = col(s.kelurahan_code) if by_kelurahan else col(Kelurahan.kecamatan_code)
    stmt = (
        select(
            col(s.period),
            col(s.programme_id),
            area,
            col(s.rule_set_label),
            func.sum(col(s.subjects) if subjects else col(s.families)),
        )
        .join(Kelurahan, col(Kelurahan.code) == col(s.kelurahan_code))
        .where(col(s.outcome) == outcome, _in(col(s.kelurahan_code), codes))
        .group_by(col(s.period), col(s.programme_id), area, col(s.rule_set_label))
    )
    if programme is not None:
        stmt = stmt.where(col(s.programme_id) == programme)
    if start:
        stmt = stmt.where(col(s.period) >= start)
    if end:
        stmt = stmt.where(col(s.period) <= end)
    return [(p, g, a, r, int(v)) for p, g, a, r, v in session.execute(stmt)]


def snapshot_programmes(session: Session) -> set[str]:
    return set(session.execute(select(col(ReportSnapshotProgramme.programme_id)).distinct()).scalars())
