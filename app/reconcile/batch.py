"""``sigap dedup run``: re-reconcile the whole registry.

1. Read every canonical member (``source.iter_members``, keyset pages) and note the change
   feed's last seq first: anything committed after it is the worker's.
2. Link them in memory with the batch linker (``linker.link``: blocking, comparison, the
   model estimated by EM, the chaining guard). Measured against a SQL self-join on
   ``match_key``: see docs/reconciliation.md.
3. In one transaction: rebuild ``match_key`` in bulk, store the model (``reconcile_state``
   row ``model``, its ``number`` the version), turn the person links into household
   proposals and write them (``service.write_proposals``: decided pairs are kept, pending
   ones no longer proposed are superseded), and move the worker's cursor to the seq of
   step 1 if it is behind (the registry up to there has just been checked).
4. Merge the automatic household proposals, 100 per transaction, each still ``pending``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from app.db import new_session, utcnow
from app.reconcile import dbblock, source
from app.reconcile.engine import MODEL
from app.reconcile.households import HOUSEHOLD, MEMBER, PersonLink, propose
from app.reconcile.linker import AUTO_MERGE, REVIEW, LinkConfig, LinkResult, link
from app.reconcile.service import PENDING, auto_merge, household_infos, write_proposals
from app.reconcile.source import SourceMember
from app.reconcile.store import MatchCandidate, ReconcileState
from app.reconcile.worker import CURSOR
from app.sync.models import SyncChange

Progress = Callable[[str, int, int], None]
SUMMARY = "last_batch"


@dataclass
class BatchSummary:
    records: int = 0
    households: int = 0
    candidate_pairs: int = 0          # person pairs blocking proposed and compared
    person_links: Counter[str] = field(default_factory=Counter)  # auto_merge / review pairs
    refused_by_chaining_guard: int = 0
    household_candidates: int = 0
    household_auto: int = 0           # automatic household proposals
    household_review: int = 0
    member_in_two_families: int = 0
    member_twice_in_one_family: int = 0
    kept_decided: int = 0
    superseded: int = 0
    auto_merged: int = 0
    merge_refused: int = 0
    match_keys: int = 0
    capped_blocks: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["person_links"] = dict(self.person_links)
        return out


def _links(result: LinkResult, members: list[SourceMember]) -> list[PersonLink]:
    refused = {(a, b): r for a, b, r in result.refused()}
    out = []
    index = {p.record.record_id: p.index for p in result.prepared}
    for pair in result.pairs:
        r = refused.get((pair.a, pair.b)) or refused.get((pair.b, pair.a))
        decision = REVIEW if r is not None else pair.decision
        ma, mb = members[index[pair.a]], members[index[pair.b]]
        out.append(PersonLink(
            pair.a, pair.b, str(ma.household_id), str(mb.household_id), pair.weight,
            round(result.model.probability(pair.weight), 4), decision,
            tuple(asdict(c) for c in result.model.explain(pair.levels)),
            None if r is None else f"{r.reason} / {r.reason_id}"))
    return out


def run_batch(engine: Engine, *, config: LinkConfig | None = None, progress: Progress | None = None,
              merge_auto: bool = True, chunk: int = 5000) -> BatchSummary:
    config = config or LinkConfig.load(registry=True)
    summary = BatchSummary()
    clock = time.perf_counter()

    def tick(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        summary.seconds[phase] = round(now - clock, 2)
        clock = now

    with new_session(engine, read_only=True) as session:
        start_seq = int(session.scalar(select(func.max(SyncChange.seq))) or 0)
        members: list[SourceMember] = []
        for m in source.iter_members(session, chunk=chunk):
            members.append(m)
            if progress and len(members) % chunk == 0:
                progress("read", len(members), 0)
    summary.records = len(members)
    summary.households = len({m.household_id for m in members})
    tick("read")

    result = link([m.record for m in members], config=config, progress=progress)
    summary.candidate_pairs = result.stats.candidate_pairs
    summary.refused_by_chaining_guard = result.stats.refused_links
    summary.capped_blocks = result.stats.blocking.capped_blocks
    tick("link")

    with new_session(engine) as session:
        if progress:
            progress("write", 0, 3)
        summary.match_keys = dbblock.rebuild(session, zip(members, result.prepared, strict=True))
        _store_model(session, result)
        links = _links(result, members)
        summary.person_links = Counter(x.decision for x in links)
        infos = household_infos(members)
        proposals = propose(links, infos)
        if progress:
            progress("write", 1, 3)
        existing = session.scalars(select(MatchCandidate)).all()
        written = write_proposals(session, proposals, infos, existing=existing, scope=None,
                                  source_name="batch", merge_auto=False)
        summary.kept_decided, summary.superseded = written.kept_decided, written.superseded
        for p in proposals:
            if p.kind == HOUSEHOLD:
                summary.household_candidates += 1
                summary.household_auto += p.decision == AUTO_MERGE
                summary.household_review += p.decision != AUTO_MERGE
            elif p.kind == MEMBER and p.household_a == p.household_b:
                summary.member_twice_in_one_family += 1
            else:
                summary.member_in_two_families += 1
        _advance_cursor(session, start_seq)
        session.commit()
        to_merge = [r.id for r in written.rows
                    if r.kind == HOUSEHOLD and r.decision == AUTO_MERGE and r.id is not None]
    if progress:
        progress("write", 3, 3)
    tick("write")

    if merge_auto:
        for start in range(0, len(to_merge), 100):
            with new_session(engine) as session:
                for cid in to_merge[start:start + 100]:
                    row = session.get(MatchCandidate, cid)  # merge_candidate locks it after the households
                    if row is None or row.status != PENDING:
                        continue
                    if auto_merge(session, row):
                        summary.auto_merged += 1
                    else:
                        summary.merge_refused += 1
                session.commit()
            if progress:
                progress("merge", min(start + 100, len(to_merge)), len(to_merge))
        tick("merge")
    with new_session(engine) as session:
        kept = session.get(ReconcileState, SUMMARY) or ReconcileState(name=SUMMARY)
        kept.value, kept.updated_at = summary.as_json(), utcnow()
        session.add(kept)
        session.commit()
    return summary


def _store_model(session: Session, result: LinkResult) -> None:
    row = session.get(ReconcileState, MODEL, with_for_update=True)
    if row is None:
        row = ReconcileState(name=MODEL, number=0)
        session.add(row)
    row.number = (row.number or 0) + 1
    row.value = result.model.to_dict()
    row.updated_at = utcnow()
    session.flush()


def _advance_cursor(session: Session, seq: int) -> None:
    row = session.get(ReconcileState, CURSOR, with_for_update=True)
    if row is None:
        session.add(ReconcileState(name=CURSOR, number=seq))
    elif (row.number or 0) < seq:
        row.number, row.updated_at = seq, utcnow()
    session.flush()

