"""Trends (from snapshots only), the progress checklist per area, and pilot milestones.

Areas: the city, a kecamatan or a kelurahan, always cut down to the caller's scope
(``Principal.kelurahan_scope``). Asking for an unknown code is a 422 naming the field; asking
for a known area outside the scope is a 403 (``out_of_area``). Services flush; the caller
commits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from functools import reduce

from sqlmodel import Session

from app.appeals.service import today_in_ternate, window_for
from app.audit import service as audit
from app.audit.service import ActorRef
from app.auth.permissions import Principal
from app.config import Settings
from app.db import as_utc, utcnow
from app.eligibility.repository import active_rule_set
from app.errors import InvalidData, OutOfArea
from app.reports import checklist as rules
from app.reports import progress_repository as repo
from app.reports.progress_models import PilotMilestone, ReportSnapshot
from app.reports.snapshots import check_period
from app.wilayah.models import Kelurahan


@dataclass(frozen=True)
class Area:
    level: str  # city | area | kecamatan | kelurahan
    code: str | None
    name: str
    kelurahan: frozenset[str]

    def kecamatan(self, wilayah: dict[str, Kelurahan]) -> frozenset[str]:
        return frozenset(wilayah[k].kecamatan_code for k in self.kelurahan)


@dataclass(frozen=True)
class AreaStages:
    area: Area
    stages: list[rules.Stage]


@dataclass(frozen=True)
class Checklist:
    generated_at: datetime
    rule_set: str | None
    main: AreaStages
    breakdown: list[AreaStages]


def _scoped(codes: frozenset[str], principal: Principal) -> frozenset[str]:
    scope = principal.kelurahan_scope
    return codes if scope is None else codes & scope


def resolve_area(
    session: Session, principal: Principal, *, kecamatan: str | None, kelurahan: str | None
) -> tuple[Area, dict[str, Kelurahan]]:
    """The area asked for, within the caller's scope; the wilayah by kelurahan code."""
    wilayah = {k.code: k for k in repo.kelurahan(session)}
    kec_names = {k.code: k.name for k in repo.kecamatan(session)}
    if kelurahan is not None:
        row = wilayah.get(kelurahan)
        if row is None:
            raise InvalidData.one("kelurahan", "exists", f"unknown kelurahan '{kelurahan}'")
        if kecamatan is not None and row.kecamatan_code != kecamatan:
            raise InvalidData.one("kelurahan", "in_kecamatan", f"{kelurahan} is not in kecamatan {kecamatan}")
        if not principal.covers(kelurahan):
            raise OutOfArea(f"kelurahan {kelurahan} is outside your area")
        return Area("kelurahan", kelurahan, row.name, frozenset({kelurahan})), wilayah
    if kecamatan is not None:
        if kecamatan not in kec_names:
            raise InvalidData.one("kecamatan", "exists", f"unknown kecamatan '{kecamatan}'")
        codes = _scoped(frozenset(c for c, k in wilayah.items() if k.kecamatan_code == kecamatan), principal)
        if not codes:
            raise OutOfArea(f"kecamatan {kecamatan} is outside your area")
        return Area("kecamatan", kecamatan, kec_names[kecamatan], codes), wilayah
    if principal.kelurahan_scope is None:
        return Area("city", None, "Kota Ternate", frozenset(wilayah)), wilayah
    return Area("area", None, "wilayah Anda / your area", _scoped(frozenset(wilayah), principal)), wilayah


def _children(area: Area, wilayah: dict[str, Kelurahan], kec_names: dict[str, str]) -> list[Area]:
    if area.level == "kelurahan":
        return []
    if area.level == "kecamatan":
        return [Area("kelurahan", c, wilayah[c].name, frozenset({c})) for c in sorted(area.kelurahan)]
    groups: dict[str, set[str]] = defaultdict(set)
    for code in area.kelurahan:
        groups[wilayah[code].kecamatan_code].add(code)
    return [Area("kecamatan", k, kec_names[k], frozenset(v)) for k, v in sorted(groups.items())]


def build_checklist(
    *,
    session: Session,
    settings: Settings,
    principal: Principal,
    kecamatan: str | None,
    kelurahan: str | None,
    breakdown: bool = True,
) -> Checklist:
    """The stages of ``area`` and, with ``breakdown``, of each of its kecamatan or kelurahan."""
    area, wilayah = resolve_area(session, principal, kecamatan=kecamatan, kelurahan=kelurahan)
    kec_names = {k.code: k.name for k in repo.kecamatan(session)}
    active = active_rule_set(session)
    ctx = rules.Context(
        today=today_in_ternate(),
        active_rule_set=active.label if active else None,
        last_run_started=repo.last_finished_run(session, active.id) if active and active.id else None,
        window=window_for(settings),
        milestones=tuple(repo.as_milestone(m) for m in repo.milestones(session)),
    )
    scope = None if area.level == "city" else area.kelurahan
    per_kelurahan = repo.kelurahan_counts(session, scope, active.id if active else None)

    def stages_of(a: Area) -> AreaStages:
        counts = reduce(lambda x, y: x + y, (per_kelurahan[c] for c in a.kelurahan), rules.Counts())
        pending, merged = repo.candidates(session, None if a.level == "city" else a.kelurahan)
        return AreaStages(
            a,
            rules.checklist(counts, ctx, kecamatan=a.kecamatan(wilayah), pending=pending, merged=merged),
        )

    return Checklist(
        generated_at=utcnow(),
        rule_set=ctx.active_rule_set,
        main=stages_of(area),
        breakdown=[stages_of(child) for child in _children(area, wilayah, kec_names)] if breakdown else [],
    )


# --- milestones -----------------------------------------------------------------------------


def record_milestone(
    *,
    session: Session,
    stage: str,
    kecamatan_code: str | None,
    decided_on: date,
    note: str,
    actor: ActorRef,
    today: date | None = None,
) -> PilotMilestone:
    note = note.strip()
    if not note:
        raise InvalidData.one("note", "required", "say what was decided (the note is empty)")
    if decided_on > (today or today_in_ternate()):
        raise InvalidData.one("decided_on", "not_future", f"{decided_on.isoformat()} is in the future")
    if kecamatan_code is not None and kecamatan_code not in {k.code for k in repo.kecamatan(session)}:
        raise InvalidData.one("kecamatan_code", "exists", f"unknown kecamatan '{kecamatan_code}'")
    row = PilotMilestone(
        stage=stage, kecamatan_code=kecamatan_code, decided_on=decided_on, note=note, recorded_by=actor.name
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="pilot_milestone",
        entity_id=str(row.id),
        changes=audit.created(
            {"stage": stage, "kecamatan_code": kecamatan_code, "decided_on": decided_on, "note": note}
        ),
    )
    return row


def list_milestones(*, session: Session, principal: Principal, stage: str | None) -> list[PilotMilestone]:
    """City-wide milestones and those of the kecamatan the caller can see."""
    kecamatan: set[str] | None = None
    if principal.kelurahan_scope is not None:
        wilayah = {k.code: k for k in repo.kelurahan(session)}
        kecamatan = {wilayah[c].kecamatan_code for c in principal.kelurahan_scope if c in wilayah}
    return repo.milestones(session, stage=stage, kecamatan_codes=kecamatan)


# --- trends -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    code: str
    name: str
    programme_id: str | None
    points: list[tuple[str, int, list[str]]]  # (period, value, rule sets)


@dataclass(frozen=True)
class Trend:
    level: str
    snapshots: list[ReportSnapshot]
    series: list[Series]
    totals: list[tuple[str, int, list[str]]]


def _range(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    start = check_period(start, "from") if start is not None else None
    end = check_period(end, "to") if end is not None else None
    if start and end and start > end:
        raise InvalidData.one("to", "after_from", f"'to' ({end}) is before 'from' ({start})")
    return start, end


def _names(session: Session, by_kelurahan: bool) -> dict[str, str]:
    return {k.code: k.name for k in (repo.kelurahan(session) if by_kelurahan else repo.kecamatan(session))}


def _series(
    rows: dict[tuple[str | None, str], dict[str, tuple[int, set[str]]]],
    periods: list[str],
    names: dict[str, str],
) -> tuple[list[Series], list[tuple[str, int, list[str]]]]:
    series = []
    totals: dict[str, int] = defaultdict(int)
    labels: dict[str, set[str]] = defaultdict(set)
    for (programme, code), by_period in sorted(rows.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        points = []
        for p in periods:
            value, sets = by_period.get(p, (0, set()))
            totals[p] += value
            labels[p] |= sets
            points.append((p, value, sorted(sets)))
        series.append(Series(code, names.get(code, code), programme, points))
    return series, [(p, totals[p], sorted(labels[p])) for p in periods]


def desil_trend(
    *,
    session: Session,
    principal: Principal,
    kecamatan: str | None,
    desil: int | None,
    source: str | None,
    persons: bool,
    start: str | None,
    end: str | None,
) -> Trend:
    start, end = _range(start, end)
    area, _ = resolve_area(session, principal, kecamatan=kecamatan, kelurahan=None)
    by_kelurahan = kecamatan is not None
    snaps = repo.snapshots_between(session, start, end)
    rows: dict[tuple[str | None, str], dict[str, tuple[int, set[str]]]] = defaultdict(dict)
    for period, code, value in repo.desil_trend(
        session,
        by_kelurahan=by_kelurahan,
        codes=None if area.level == "city" else area.kelurahan,
        desil=desil,
        source=source,
        persons=persons,
        start=start,
        end=end,
    ):
        rows[(None, code)][period] = (value, set())
    series, totals = _series(rows, [s.period for s in snaps], _names(session, by_kelurahan))
    return Trend("kelurahan" if by_kelurahan else "kecamatan", snaps, series, totals)


def programme_trend(
    *,
    session: Session,
    principal: Principal,
    programme: str | None,
    kecamatan: str | None,
    outcome: str,
    subjects: bool,
    start: str | None,
    end: str | None,
) -> Trend:
    start, end = _range(start, end)
    area, _ = resolve_area(session, principal, kecamatan=kecamatan, kelurahan=None)
    if programme is not None and programme not in repo.snapshot_programmes(session):
        raise InvalidData.one("programme", "exists", f"no snapshot holds programme '{programme}'")
    by_kelurahan = kecamatan is not None
    snaps = repo.snapshots_between(session, start, end)
    rows: dict[tuple[str | None, str], dict[str, tuple[int, set[str]]]] = defaultdict(dict)
    for period, prog, code, label, value in repo.programme_trend(
        session,
        by_kelurahan=by_kelurahan,
        codes=None if area.level == "city" else area.kelurahan,
        programme=programme,
        outcome=outcome,
        subjects=subjects,
        start=start,
        end=end,
    ):
        old, sets = rows[(prog, code)].get(period, (0, set()))
        rows[(prog, code)][period] = (old + value, sets | {label})
    series, totals = _series(rows, [s.period for s in snaps], _names(session, by_kelurahan))
    return Trend("kelurahan" if by_kelurahan else "kecamatan", snaps, series, totals)


def snapshot_time(s: ReportSnapshot) -> datetime:
    stamp = as_utc(s.taken_at)
    assert stamp is not None
    return stamp
