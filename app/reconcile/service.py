"""Checking a household against the registry: candidates, scores, proposals, the queue.

:func:`check_household` is the incremental path (the worker calls it for every household
the change feed names); :mod:`app.reconcile.batch` re-reconciles everything and writes its
proposals through the same :func:`write_proposals`. Both only ``flush()``.

The review queue (``match_candidate``) follows these rules:

- a proposal for a pair with a ``pending`` row updates it (weight, decision, links,
  reasons) and keeps it pending; a ``superseded`` row proposed again is pending again;
- a pair a person decided (``merged`` or ``distinct``) is never proposed again;
- a ``pending`` row of a checked household that is no longer proposed (the records changed,
  one was deleted or merged) becomes ``superseded``;
- a household proposal decided ``auto_merge`` is merged at once (``merge.merge_candidate``,
  ``automatic=True``) in a savepoint; if the merge refuses (an :class:`AppError`, e.g. a
  record changed meanwhile) the row stays pending for a supervisor, with the refusal noted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from sqlalchemy import or_, select
from sqlmodel import Session, col

from app.audit.service import ActorRef
from app.db import utcnow
from app.errors import AppError
from app.reconcile import dbblock, merge, source
from app.reconcile.cluster import cluster
from app.reconcile.dbblock import Pool
from app.reconcile.engine import EngineState
from app.reconcile.features import compare
from app.reconcile.households import HOUSEHOLD, HouseholdInfo, PersonLink, Proposal, propose
from app.reconcile.linker import AUTO_MERGE, DISTINCT, REVIEW, decide
from app.reconcile.source import SourceMember
from app.reconcile.store import MatchCandidate

log = logging.getLogger("sigap.reconcile")
RECONCILER = ActorRef(user_id=None, name="reconcile", channel="system")
PENDING, MERGED, DISTINCT_STATUS, SUPERSEDED = "pending", "merged", "distinct", "superseded"
DECIDED = frozenset({MERGED, DISTINCT_STATUS})


@dataclass
class WriteSummary:
    created: int = 0
    updated: int = 0
    kept_decided: int = 0      # proposals for pairs a person decided: not re-proposed
    superseded: int = 0
    auto_merged: int = 0
    merge_refused: int = 0
    rows: list[MatchCandidate] = field(default_factory=list)


def score_links(pool: Pool, pairs: Iterable[tuple[uuid.UUID, uuid.UUID]], state: EngineState
                ) -> list[PersonLink]:
    """Person links (at or above the review threshold) for these member pairs, with the
    chaining guard applied among them: a refused automatic link becomes a review link."""
    ctx = state.context(pool.prepared.values())
    model, config = state.model, state.config
    seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
    links: list[PersonLink] = []
    for x, y in pairs:
        a, b = (x, y) if str(x) < str(y) else (y, x)
        if (a, b) in seen or a == b:
            continue
        seen.add((a, b))
        levels = compare(pool.prepared[a], pool.prepared[b], ctx)
        weight = model.weight(levels)
        decision = decide(weight, config)
        if decision == DISTINCT:
            continue
        links.append(PersonLink(
            str(a), str(b), str(pool.members[a].household_id), str(pool.members[b].household_id),
            round(weight, 2), round(model.probability(weight), 4), decision,
            tuple(asdict(c) for c in model.explain(levels))))
    return guard_chains(pool, links, state)


def guard_chains(pool: Pool, links: list[PersonLink], state: EngineState) -> list[PersonLink]:
    auto = [x for x in links if x.decision == AUTO_MERGE]
    if len(auto) < 2:
        return links
    ids = sorted({uuid.UUID(i) for x in auto for i in (x.a, x.b)}, key=str)
    number = {m: n for n, m in enumerate(ids)}
    ctx = state.context(pool.prepared.values())
    known = {(number[uuid.UUID(x.a)], number[uuid.UUID(x.b)]): x.weight for x in links
             if uuid.UUID(x.a) in number and uuid.UUID(x.b) in number}

    def pair_weight(i: int, j: int) -> float:
        key = (i, j) if (i, j) in known else (j, i)
        if key not in known:
            known[key] = state.model.weight(compare(pool.prepared[ids[i]], pool.prepared[ids[j]], ctx))
        return known[key]

    result = cluster(len(ids), [(number[uuid.UUID(x.a)], number[uuid.UUID(x.b)], x.weight) for x in auto],
                     pair_weight=pair_weight, floor=state.config.lower,
                     max_size=state.config.max_cluster)
    refused = {(str(ids[r.a]), str(ids[r.b])): r for r in result.refused}
    out = []
    for x in links:
        r = refused.get((x.a, x.b)) or refused.get((x.b, x.a))
        out.append(x if r is None else PersonLink(
            x.a, x.b, x.household_a, x.household_b, x.weight, x.probability, REVIEW,
            x.contributions, f"{r.reason} / {r.reason_id}"))
    return out


def household_infos(members: Iterable[SourceMember]) -> dict[str, HouseholdInfo]:
    """Size, head, KK and kecamatan of each household these (complete) members belong to."""
    sizes: dict[uuid.UUID, int] = {}
    heads: dict[uuid.UUID, str] = {}
    first: dict[uuid.UUID, SourceMember] = {}
    for m in members:
        sizes[m.household_id] = sizes.get(m.household_id, 0) + 1
        first.setdefault(m.household_id, m)
        if m.is_head:
            heads[m.household_id] = m.record.record_id
    return {str(h): HouseholdInfo(str(h), sizes[h], heads.get(h), m.record.kk_number, m.kecamatan_code)
            for h, m in first.items()}


def _pending_partners(session: Session, households: set[str], exclude: str) -> dict[str, set[str]]:
    """Automatic household proposals still pending for these households (not with ``exclude``)."""
    if not households:
        return {}
    ids = [uuid.UUID(h) for h in households]
    rows = session.execute(select(col(MatchCandidate.household_a), col(MatchCandidate.household_b)).where(
        col(MatchCandidate.status) == PENDING, col(MatchCandidate.decision) == AUTO_MERGE,
        col(MatchCandidate.kind) == HOUSEHOLD,
        or_(col(MatchCandidate.household_a).in_(ids), col(MatchCandidate.household_b).in_(ids))))
    out: dict[str, set[str]] = {}
    for a, b in rows:
        a, b = str(a), str(b)
        if exclude in (a, b):
            continue
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set()).add(a)
    return out


def write_proposals(session: Session, proposals: Sequence[Proposal], infos: dict[str, HouseholdInfo],
                    *, existing: Iterable[MatchCandidate], scope: set[str] | None, source_name: str,
                    merge_auto: bool = True) -> WriteSummary:
    """Upsert the proposals into the queue; supersede the pending rows of ``existing`` that
    involve a household of ``scope`` (all of them if None) and were not proposed again."""
    summary = WriteSummary()
    rows = {(r.kind, str(r.household_a), str(r.household_b)): r for r in existing}
    proposed: set[tuple[str, str, str]] = set()
    now = utcnow()
    to_merge: list[MatchCandidate] = []
    for p in proposals:
        key = (p.kind, p.household_a, p.household_b)
        proposed.add(key)
        links = [x.as_json() for x in p.links]
        reasons = [r.as_json() for r in p.reasons]
        row = rows.get(key)
        if row is not None and row.status in DECIDED:
            summary.kept_decided += 1
            continue
        if row is None:
            row = MatchCandidate(
                kind=p.kind, household_a=uuid.UUID(p.household_a), household_b=uuid.UUID(p.household_b),
                kecamatan_code=infos[p.household_a].kecamatan, kecamatan_b=infos[p.household_b].kecamatan,
                weight=p.weight, decision=p.decision, status=PENDING, links=links, reasons=reasons,
                source=source_name, created_at=now, updated_at=now)
            session.add(row)
            rows[key] = row
            summary.created += 1
        else:
            row.weight, row.decision, row.links, row.reasons = p.weight, p.decision, links, reasons
            row.status, row.source, row.updated_at = PENDING, source_name, now
            summary.updated += 1
        summary.rows.append(row)
        if merge_auto and p.kind == HOUSEHOLD and p.decision == AUTO_MERGE:
            to_merge.append(row)
    for key, row in rows.items():
        if key in proposed or row.status != PENDING:
            continue
        if scope is None or key[1] in scope or key[2] in scope:
            row.status, row.updated_at = SUPERSEDED, now
            summary.superseded += 1
    session.flush()
    for row in to_merge:
        if auto_merge(session, row):
            summary.auto_merged += 1
        else:
            summary.merge_refused += 1
    return summary


def auto_merge(session: Session, row: MatchCandidate) -> bool:
    """Merge an automatic household proposal in a savepoint; False if the merge refused."""
    try:
        with session.begin_nested():
            merge.merge_candidate(session, row, actor=RECONCILER, automatic=True)
    except AppError as exc:
        log.warning("automatic merge of candidate %s refused: %s", row.id, exc)
        row.decision = REVIEW
        row.note = f"automatic merge refused: {exc}"[:500]
        session.flush()
        return False
    return True


def _supersede_all(session: Session, household_id: uuid.UUID) -> list[MatchCandidate]:
    rows = session.scalars(select(MatchCandidate).where(
        col(MatchCandidate.status) == PENDING,
        or_(col(MatchCandidate.household_a) == household_id,
            col(MatchCandidate.household_b) == household_id))).all()
    now = utcnow()
    for row in rows:
        row.status, row.updated_at = SUPERSEDED, now
    session.flush()
    return []


def check_household(session: Session, household_id: uuid.UUID, state: EngineState, *,
                    merge_auto: bool = True) -> list[MatchCandidate]:
    """Refresh the household's match keys, find and score its candidates, and write the
    proposals involving it (see the module docstring). A household that is gone (deleted,
    merged away) loses its keys and its pending proposals. Returns the rows proposed."""
    pool = Pool()
    own = source.members_of(session, [household_id])
    if not own:
        dbblock.forget(session, household_id)
        return _supersede_all(session, household_id)
    pool.add(own)
    dbblock.refresh(session, household_id, pool)
    found = dbblock.candidates_for(session, household_id, pool=pool, max_block=state.config.max_block)
    others = {pool.members[o].household_id for _, o in found.pairs} - {household_id}
    pool.add(source.members_of(session, others))
    state.note(pool)
    links = score_links(pool, found.pairs, state)
    infos = household_infos(pool.members.values())
    hid = str(household_id)
    partners = _pending_partners(session, {str(h) for h in others}, hid)
    proposals = [p for p in propose(links, infos, known_partners=partners)
                 if hid in (p.household_a, p.household_b)]
    existing = session.scalars(select(MatchCandidate).where(or_(
        col(MatchCandidate.household_a) == household_id,
        col(MatchCandidate.household_b) == household_id))).all()
    summary = write_proposals(session, proposals, infos, existing=existing, scope={hid},
                              source_name="incremental", merge_auto=merge_auto)
    return summary.rows
