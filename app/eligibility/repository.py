"""Every query of the eligibility database side. Registry records are read only through
:mod:`app.reconcile.canonical` (never a merged-away or deleted household or member)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, func, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app import pii
from app.eligibility.facts import (
    HOUSEHOLD_ATTRIBUTES,
    NO_DESIL,
    PERSON_ATTRIBUTES,
    DesilInfo,
    FamilyFacts,
    PersonFacts,
    person_facts,
)
from app.eligibility.store import (
    DesilEstimate,
    DesilImport,
    EligibilityDecision,
    FamilyDesil,
    RuleSetRecord,
    ScoreRun,
)
from app.reconcile import canonical
from app.registry.models import Household, KkHistory, Member
from app.wilayah.models import Kecamatan, Kelurahan

T = TypeVar("T")
IN_CHUNK = 500  # values per IN (...) list


def in_batch(column: Any, ids: Sequence[uuid.UUID]) -> Any:
    """``column IN ids``, also bounded by the batch's lowest and highest id.

    The range is what lets the planner use the index whatever its statistics say: a long IN
    list on a table never analyzed (PostgreSQL without autovacuum, a table just filled by the
    run itself) is planned as a sequential scan, once per batch, so a run grew quadratic in
    the size of the city. UUIDs order alike in Python, PostgreSQL and SQLite (hex text)."""
    if not ids:
        return column.in_(ids)
    return and_(column >= min(ids), column <= max(ids), column.in_(ids))


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------- matching an import


def members_by_nik(session: Session, niks: Sequence[str]) -> dict[str, tuple[uuid.UUID, str, uuid.UUID]]:
    """NIK -> (household, relation, member) of the canonical member carrying it."""
    out: dict[str, tuple[uuid.UUID, str, uuid.UUID]] = {}
    for part in chunks(niks):
        stmt = canonical.member_columns(Member.nik, Member.household_id, Member.relation, Member.id).where(
            pii.lookup_many(col(Member.nik_bidx), "nik", part)
        )
        for nik, household_id, relation, member_id in session.execute(stmt):
            out[nik] = (household_id, relation, member_id)
    return out


def households_by_kk(session: Session, kks: Sequence[str]) -> dict[str, set[uuid.UUID]]:
    """KK -> the canonical households carrying it now or in their KK history."""
    out: dict[str, set[uuid.UUID]] = defaultdict(set)
    for part in chunks(kks):
        for kk, hid in session.execute(
            canonical.household_columns(Household.kk_number, Household.id).where(
                pii.lookup_many(col(Household.kk_bidx), "kk", part)
            )
        ):
            out[kk].add(hid)
        history = select(KkHistory.kk_number, KkHistory.household_id).where(
            pii.lookup_many(col(KkHistory.kk_bidx), "kk", part),
            col(KkHistory.household_id).in_(canonical.household_ids()),
        )
        for kk, hid in session.execute(history):
            out[kk].add(hid)
    return out


def find_import(session: Session, sha256: str, period: str) -> DesilImport | None:
    return session.exec(
        select(DesilImport).where(DesilImport.sha256 == sha256, DesilImport.period == period)
    ).first()


def family_desil_rows(
    session: Session, household_ids: Sequence[uuid.UUID], period: str
) -> dict[uuid.UUID, tuple[int, int]]:
    """household -> (row id, desil) for ``period``."""
    out: dict[uuid.UUID, tuple[int, int]] = {}
    for part in chunks(household_ids):
        stmt = select(FamilyDesil.household_id, FamilyDesil.id, FamilyDesil.desil).where(
            FamilyDesil.period == period, col(FamilyDesil.household_id).in_(part)
        )
        for hid, row_id, desil in session.execute(stmt):
            out[hid] = (row_id, desil)
    return out


# ---------------------------------------------------------------- desil of a family


def latest_desil(session: Session, household_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, DesilInfo]:
    """The desil scoring uses: the latest official period, else the latest estimate, else none."""
    out: dict[uuid.UUID, DesilInfo] = {}
    for part in chunks(household_ids):
        stmt = (
            select(FamilyDesil.household_id, FamilyDesil.period, FamilyDesil.desil)
            .where(in_batch(col(FamilyDesil.household_id), part))
            .order_by(col(FamilyDesil.household_id), col(FamilyDesil.period).desc())
        )
        for hid, period, desil in session.execute(stmt):
            out.setdefault(hid, DesilInfo.official(desil, period))
        rest = [h for h in part if h not in out]
        if not rest:
            continue
        est = (
            select(DesilEstimate.household_id, DesilEstimate.desil, DesilEstimate.model_version)
            .where(in_batch(col(DesilEstimate.household_id), rest))
            .order_by(
                col(DesilEstimate.household_id),
                col(DesilEstimate.computed_at).desc(),
                col(DesilEstimate.id).desc(),
            )
        )
        for hid, desil, model in session.execute(est):
            if hid not in out:
                out[hid] = NO_DESIL if desil is None else DesilInfo.estimate(desil, model)
    return out


def household_ids_page(
    session: Session, *, after: uuid.UUID | None, size: int, without_official: bool = False
) -> list[uuid.UUID]:
    """The next ``size`` canonical household ids after ``after`` (keyset on id)."""
    stmt = canonical.household_ids().order_by(col(Household.id)).limit(size)
    if after is not None:
        stmt = stmt.where(col(Household.id) > after)
    if without_official:
        stmt = stmt.where(col(Household.id).not_in(select(FamilyDesil.household_id)))
    return list(session.execute(stmt).scalars())


def count_households(session: Session, *, without_official: bool = False) -> int:
    stmt = select(func.count()).select_from(canonical.household_ids().subquery())
    if without_official:
        stmt = select(func.count()).select_from(
            canonical.household_ids()
            .where(col(Household.id).not_in(select(FamilyDesil.household_id)))
            .subquery()
        )
    return int(session.execute(stmt).scalar_one())


def family_facts(session: Session, household_ids: Sequence[uuid.UUID]) -> list[tuple[FamilyFacts, str]]:
    """(facts, kelurahan code) of canonical households, with their canonical members.

    Plain column tuples, taken positionally (no ORM objects, no attribute look-ups per row)."""
    hcols = [getattr(Household, name) for name in ("id", *HOUSEHOLD_ATTRIBUTES)]
    homes = session.execute(
        canonical.household_columns(*hcols).where(in_batch(col(Household.id), household_ids))
    ).all()
    people: dict[uuid.UUID, list[PersonFacts]] = defaultdict(list)
    mcols = [getattr(Member, name) for name in ("household_id", *PERSON_ATTRIBUTES)]
    for row in session.execute(
        canonical.member_columns(*mcols).where(in_batch(col(Member.household_id), household_ids))
    ):
        people[row[0]].append(person_facts(*row[1:]))
    kel = HOUSEHOLD_ATTRIBUTES.index("kelurahan_code") + 1
    return [
        (
            FamilyFacts(
                key=str(h[0]),
                household=dict(zip(HOUSEHOLD_ATTRIBUTES, h[1:], strict=True)),
                members=tuple(people.get(h[0], ())),
            ),
            h[kel],
        )
        for h in homes
    ]


def kecamatan_of_kelurahan(session: Session) -> dict[str, tuple[str, str]]:
    """kelurahan code -> (kecamatan code, kecamatan name)."""
    stmt = select(Kelurahan.code, Kecamatan.code, Kecamatan.name).join(
        Kecamatan, col(Kelurahan.kecamatan_code) == col(Kecamatan.code)
    )
    return {kel: (kec, name) for kel, kec, name in session.execute(stmt)}


def estimate_rows(
    session: Session, household_ids: Sequence[uuid.UUID], model_version: str
) -> dict[uuid.UUID, tuple[int, str]]:
    """household -> (row id, fingerprint) of its estimate by ``model_version``."""
    stmt = select(DesilEstimate.household_id, DesilEstimate.id, DesilEstimate.fingerprint).where(
        DesilEstimate.model_version == model_version,
        in_batch(col(DesilEstimate.household_id), household_ids),
    )
    return {hid: (row_id, fp) for hid, row_id, fp in session.execute(stmt)}


def calibration_pairs(session: Session, model_version: str) -> Iterator[tuple[int, int]]:
    """(latest official desil, estimated desil) of canonical households having both."""
    latest = (
        select(FamilyDesil.household_id, func.max(FamilyDesil.period).label("period"))
        .group_by(col(FamilyDesil.household_id))
        .subquery()
    )
    stmt = (
        select(FamilyDesil.desil, DesilEstimate.desil)
        .join(
            latest,
            (col(FamilyDesil.household_id) == latest.c.household_id)
            & (col(FamilyDesil.period) == latest.c.period),
        )
        .join(DesilEstimate, col(DesilEstimate.household_id) == col(FamilyDesil.household_id))
        .where(
            DesilEstimate.model_version == model_version,
            col(DesilEstimate.desil).is_not(None),
            col(FamilyDesil.household_id).in_(canonical.household_ids()),
        )
    )
    for official, estimated in session.execute(stmt):
        yield int(official), int(estimated)


def desil_history(
    session: Session, household_id: uuid.UUID
) -> tuple[list[tuple[FamilyDesil, DesilImport]], list[DesilEstimate]]:
    official = session.exec(
        select(FamilyDesil, DesilImport)
        .join(DesilImport, col(DesilImport.id) == col(FamilyDesil.import_id))
        .where(FamilyDesil.household_id == household_id)
        .order_by(col(FamilyDesil.period).desc())
    ).all()
    estimates = session.exec(
        select(DesilEstimate)
        .where(DesilEstimate.household_id == household_id)
        .order_by(col(DesilEstimate.computed_at).desc())
    ).all()
    return [(f, i) for f, i in official], list(estimates)


# ---------------------------------------------------------------- rule sets


def active_rule_set(session: Session) -> RuleSetRecord | None:
    return session.exec(select(RuleSetRecord).where(RuleSetRecord.status == "active")).first()


def rule_set_by_label(session: Session, label: str, *, for_update: bool = False) -> RuleSetRecord | None:
    stmt = select(RuleSetRecord).where(RuleSetRecord.label == label)
    if for_update:
        stmt = stmt.with_for_update()
    return session.exec(stmt).first()


def rule_sets(session: Session) -> list[RuleSetRecord]:
    return list(
        session.exec(select(RuleSetRecord).order_by(col(RuleSetRecord.created_at), col(RuleSetRecord.id)))
    )


def count_rule_sets(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(RuleSetRecord)).scalar_one())


# ---------------------------------------------------------------- decisions


def current_fingerprints(
    session: Session, household_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, str, str], tuple[int, str]]:
    """(household, programme, subject) -> (row id, fingerprint) of the current decisions."""
    stmt = sa_select(
        col(EligibilityDecision.household_id),
        col(EligibilityDecision.programme_id),
        col(EligibilityDecision.subject),
        col(EligibilityDecision.id),
        col(EligibilityDecision.fingerprint),
    ).where(col(EligibilityDecision.current), in_batch(col(EligibilityDecision.household_id), household_ids))
    return {(h, p, s): (i, fp) for h, p, s, i, fp in session.execute(stmt)}


def current_outcomes(
    session: Session, household_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, str, str, str]]:
    """(household, programme, subject, outcome) of the current decisions."""
    stmt = select(
        EligibilityDecision.household_id,
        EligibilityDecision.programme_id,
        EligibilityDecision.subject,
        EligibilityDecision.outcome,
    ).where(col(EligibilityDecision.current), in_batch(col(EligibilityDecision.household_id), household_ids))
    return [(h, p, s, o) for h, p, s, o in session.execute(stmt)]


def supersede(session: Session, ids: Iterable[int], *, run_id: int, at: datetime) -> None:
    for part in chunks(list(ids)):
        session.execute(
            update(EligibilityDecision)
            .where(col(EligibilityDecision.id).in_(part))
            .values(current=False, superseded_at=at, superseded_by_run=run_id)
        )


def supersede_non_canonical(session: Session, *, run_id: int, at: datetime) -> int:
    """Current decisions of households that are no longer canonical (merged away, deleted)."""
    result = session.execute(
        update(EligibilityDecision)
        .where(
            col(EligibilityDecision.current),
            col(EligibilityDecision.household_id).not_in(canonical.household_ids()),
        )
        .values(current=False, superseded_at=at, superseded_by_run=run_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def household_decisions(session: Session, household_id: uuid.UUID) -> list[EligibilityDecision]:
    return list(
        session.exec(
            select(EligibilityDecision)
            .where(EligibilityDecision.household_id == household_id, col(EligibilityDecision.current))
            .order_by(col(EligibilityDecision.programme_id), col(EligibilityDecision.subject))
        )
    )


def decisions_page(
    session: Session,
    *,
    programme: str | None,
    outcome: str | None,
    kecamatan: str | None,
    kelurahan: str | None,
    desil: int | None,
    no_desil: bool,
    scope: frozenset[str] | None,
    after: int | None,
    size: int,
) -> list[tuple[EligibilityDecision, str]]:
    """Current decisions (with the household's kelurahan), by id, for the list API."""
    stmt = (
        select(EligibilityDecision, Household.kelurahan_code)
        .join(Household, col(Household.id) == col(EligibilityDecision.household_id))
        .where(col(EligibilityDecision.current), col(Household.deleted_at).is_(None))
        .order_by(col(EligibilityDecision.id))
        .limit(size + 1)
    )
    if programme:
        stmt = stmt.where(EligibilityDecision.programme_id == programme)
    if outcome:
        stmt = stmt.where(EligibilityDecision.outcome == outcome)
    if kelurahan:
        stmt = stmt.where(Household.kelurahan_code == kelurahan)
    if kecamatan:
        stmt = stmt.where(
            col(Household.kelurahan_code).in_(
                select(Kelurahan.code).where(Kelurahan.kecamatan_code == kecamatan)
            )
        )
    if desil is not None:
        stmt = stmt.where(EligibilityDecision.desil == desil)
    if no_desil:
        stmt = stmt.where(col(EligibilityDecision.desil).is_(None))
    if scope is not None:
        stmt = stmt.where(col(Household.kelurahan_code).in_(sorted(scope)))
    if after is not None:
        stmt = stmt.where(col(EligibilityDecision.id) > after)
    return [(d, k) for d, k in session.exec(stmt)]


def get_run(session: Session, run_id: int) -> ScoreRun | None:
    return session.get(ScoreRun, run_id)


def latest_finished_run(session: Session) -> ScoreRun | None:
    return session.exec(
        select(ScoreRun).where(ScoreRun.status == "finished").order_by(col(ScoreRun.id).desc())
    ).first()


def running_runs(session: Session) -> list[ScoreRun]:
    """The run marked ``running`` (at most one: a partial unique index), read fresh."""
    stmt = select(ScoreRun).where(ScoreRun.status == "running").execution_options(populate_existing=True)
    return list(session.exec(stmt))


def recent_runs(session: Session, *, limit: int) -> list[ScoreRun]:
    return list(session.exec(select(ScoreRun).order_by(col(ScoreRun.id).desc()).limit(limit)))
