"""A scoring run: every canonical family, every programme of the active rule set, stored.

Batched by household id (keyset): per batch the facts, desil and current decisions of ``batch_size``
families are read, evaluated with the pure engine, and only decisions whose fingerprint changed
are written (the old row superseded, a new current row inserted). Nothing of a batch outlives it,
so memory does not grow with the city. A second run with unchanged data and rules writes no
decision. Households no longer canonical (merged away, deleted) lose their current decisions.

The fingerprint is that of :meth:`Decision.as_dict` WITHOUT the reference date: a decision is
"unchanged" when its outcome, reasons, inputs (ages included), desil and rule set are; a run
on another day then rewrites only the families whose facts moved (e.g. a birthday crossing
an age bound). The stored ``reference_date`` is the one of the run that wrote the row.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import Session

from app import bulk
from app.audit import service as audit
from app.audit.service import ActorRef
from app.db import utcnow
from app.eligibility import repository as repo
from app.eligibility.decide import evaluate
from app.eligibility.facts import NO_DESIL
from app.eligibility.rules_service import compiled
from app.eligibility.store import FAMILY_SUBJECT, EligibilityDecision, RuleSetRecord, ScoreRun
from app.eligibility.stored import DecisionEncoder

_DECISION = EligibilityDecision.__table__  # type: ignore[attr-defined]
BATCH = 500


@dataclass
class RunSummary:
    run_id: int
    ruleset: str
    reference_date: date
    families: int = 0
    persons: int = 0
    written: int = 0
    unchanged: int = 0
    retired: int = 0
    # (programme, outcome) -> [written, unchanged]
    counts: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def counts_json(self) -> dict[str, Any]:
        out: dict[str, Any] = defaultdict(dict)
        for (programme, outcome), (w, u) in sorted(self.counts.items()):
            out[programme][outcome] = {"written": w, "unchanged": u}
        return dict(out)


def start_run(*, session: Session, record: RuleSetRecord, reference_date: date, actor: ActorRef) -> ScoreRun:
    assert record.id is not None
    run = ScoreRun(
        rule_set_id=record.id,
        ruleset_label=record.label,
        reference_date=reference_date,
        started_by=actor.name[:80],
    )
    session.add(run)
    session.flush()
    return run


def score_all(
    *,
    session: Session,
    record: RuleSetRecord,
    reference_date: date,
    actor: ActorRef,
    batch_size: int = BATCH,
    checkpoint: Callable[[int], None] | None = None,
) -> RunSummary:
    """Score every canonical family with ``record``; flushes per batch and calls
    ``checkpoint(families done)`` (the CLI commits there)."""
    ruleset = compiled(record)
    run = start_run(session=session, record=record, reference_date=reference_date, actor=actor)
    assert run.id is not None
    summary = RunSummary(run_id=run.id, ruleset=record.label, reference_date=reference_date)
    assert record.id is not None
    encoder = DecisionEncoder(rule_set_id=record.id, run_id=run.id)
    after: uuid.UUID | None = None
    while True:
        ids = repo.household_ids_page(session, after=after, size=batch_size)
        if not ids:
            break
        after = ids[-1]
        _score_batch(session, ids, ruleset=ruleset, encoder=encoder, summary=summary)
        if checkpoint is not None:
            checkpoint(summary.families)
    now = utcnow()
    summary.retired += repo.supersede_non_canonical(session, run_id=run.id, at=now)
    run.status, run.finished_at = "finished", now
    run.families, run.persons, run.written = summary.families, summary.persons, summary.written
    run.unchanged, run.retired, run.counts = summary.unchanged, summary.retired, summary.counts_json()
    session.add(run)
    audit.record(
        session,
        actor=actor,
        action="score.run",
        entity_type="score_run",
        entity_id=str(run.id),
        changes={
            "ruleset": [None, record.label],
            "written": [None, summary.written],
            "unchanged": [None, summary.unchanged],
            "retired": [None, summary.retired],
        },
    )
    session.flush()
    return summary


def _score_batch(
    session: Session,
    ids: list[uuid.UUID],
    *,
    ruleset: Any,
    encoder: DecisionEncoder,
    summary: RunSummary,
) -> None:
    desils = repo.latest_desil(session, ids)
    current = repo.current_fingerprints(session, ids)
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    supersede: list[int] = []
    produced: set[tuple[uuid.UUID, str, str]] = set()
    counts = summary.counts
    for facts, _kel in repo.family_facts(session, ids):
        hid = uuid.UUID(facts.key)
        summary.families += 1
        summary.persons += len(facts.members)
        encoder.next_family()
        for d in evaluate(ruleset, facts, desils.get(hid, NO_DESIL), summary.reference_date):
            key = (hid, d.programme_id, d.member_key or FAMILY_SUBJECT)
            produced.add(key)
            fp = encoder.fingerprint(d)
            before = current.get(key)
            if before is not None and before[1] == fp:
                summary.unchanged += 1
                counts[(d.programme_id, d.outcome)][1] += 1
                continue
            if before is not None:
                supersede.append(before[0])
            member_id = uuid.UUID(d.member_key) if d.member_key else None
            inserts.append(encoder.row(d, household_id=hid, member_id=member_id, fp=fp, now=now))
            summary.written += 1
            counts[(d.programme_id, d.outcome)][0] += 1
    gone = [row_id for key, (row_id, _fp) in current.items() if key not in produced]
    summary.retired += len(gone)
    repo.supersede(session, supersede + gone, run_id=encoder.run_id, at=now)
    bulk.insert(session, _DECISION, inserts)
    session.flush()
