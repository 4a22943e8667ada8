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

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from app import bulk
from app.audit import service as audit
from app.audit.service import ActorRef
from app.db import as_utc, utcnow
from app.eligibility import repository as repo
from app.eligibility.decide import evaluate
from app.eligibility.facts import NO_DESIL
from app.eligibility.rules_service import compiled
from app.eligibility.store import FAMILY_SUBJECT, EligibilityDecision, RuleSetRecord, ScoreRun
from app.eligibility.stored import DecisionEncoder
from app.errors import Conflict

_DECISION = EligibilityDecision.__table__  # type: ignore[attr-defined]
log = logging.getLogger("sigap.scoring")
BATCH = 500
# a running run whose heartbeat (moved after every batch of ~1 s) is older than this is dead
STALE_AFTER = timedelta(minutes=10)


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


class ScoreRunBusy(Conflict):
    code = "score_run_busy"


def claim_run(
    *,
    session: Session,
    record: RuleSetRecord,
    reference_date: date,
    actor: ActorRef,
    stale_after: timedelta = STALE_AFTER,
) -> ScoreRun:
    """Insert the ``running`` row of a new run, or refuse while another run is alive.

    A running run whose heartbeat is older than ``stale_after`` died (its process was killed
    or lost its database): it is marked ``abandoned`` (audited) and the new run proceeds;
    what it wrote stays correct decision by decision, and the new run completes the rest.
    Two runs claiming at the same moment: the partial unique index lets one row in; the
    other gets :class:`ScoreRunBusy`. The caller commits, so that others see the claim."""
    now = utcnow()
    for other in repo.running_runs(session):
        beat = as_utc(other.heartbeat_at) or now
        if beat > now - stale_after:
            raise ScoreRunBusy(
                f"Penilaian #{other.id} masih berjalan (oleh {other.started_by}, sejak "
                f"{as_utc(other.started_at):%Y-%m-%d %H:%M} UTC, {other.families}/{other.planned} keluarga); "
                f"tunggu sampai selesai / scoring run #{other.id} is still running",
                detail={
                    "run_id": other.id,
                    "started_by": other.started_by,
                    "heartbeat_at": beat.isoformat(),
                },
            )
        other.status, other.finished_at = "abandoned", now
        other.error = f"tidak ada tanda hidup sejak / no heartbeat since {beat:%Y-%m-%d %H:%M:%S} UTC"
        session.add(other)
        audit.record(
            session,
            actor=actor,
            action="score.abandon",
            entity_type="score_run",
            entity_id=str(other.id),
            changes={"status": ["running", "abandoned"]},
        )
    session.flush()
    assert record.id is not None
    run = ScoreRun(
        rule_set_id=record.id,
        ruleset_label=record.label,
        reference_date=reference_date,
        started_by=actor.name[:80],
        planned=repo.count_households(session),
        started_at=now,
        heartbeat_at=now,
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        raise ScoreRunBusy(
            "Penilaian lain baru saja dimulai; tunggu sampai selesai / another scoring run has just started"
        ) from None
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
    """Claim a run and score every canonical family with ``record``; flushes per batch and calls
    ``checkpoint(families done)`` (the CLI commits there; it is called once with 0 right
    after the claim, so the claim is visible to other processes before the work starts)."""
    run = claim_run(session=session, record=record, reference_date=reference_date, actor=actor)
    if checkpoint is not None:
        checkpoint(0)
    return execute_run(
        session=session, run=run, record=record, actor=actor, batch_size=batch_size, checkpoint=checkpoint
    )


def execute_run(
    *,
    session: Session,
    run: ScoreRun,
    record: RuleSetRecord,
    actor: ActorRef,
    batch_size: int = BATCH,
    checkpoint: Callable[[int], None] | None = None,
) -> RunSummary:
    """The work of a claimed run. On an error the run is marked ``failed`` (with the error,
    committed) and the error is raised again; batches committed before it stay. A run taken
    over by another (``RunAbandoned``) stays ``abandoned``: its open batch is rolled back."""
    assert run.id is not None and record.id is not None
    run_id = run.id
    try:
        return _execute(session, run, record, actor, batch_size, checkpoint)
    except BaseException as exc:
        session.rollback()
        fail_run(session, run_id, f"{type(exc).__name__}: {exc}")
        raise


def run_claimed(
    session_factory: Callable[[], AbstractContextManager[Session]], run_id: int, actor: ActorRef
) -> None:
    """The work of a run claimed by a request (``POST /score-runs``), after the response, in a
    session of its own, committed per batch. An error is logged and left on the run row
    (``failed``); it is not raised into the server."""
    with session_factory() as session:
        run = session.get(ScoreRun, run_id)
        record = session.get(RuleSetRecord, run.rule_set_id) if run else None
        if run is None or record is None or run.status != "running":
            log.warning("score run %s: not running, nothing to do", run_id)
            return
        try:
            execute_run(
                session=session,
                run=run,
                record=record,
                actor=actor,
                checkpoint=lambda _done: session.commit(),
            )
            session.commit()
        except Exception:
            log.exception("score run %s failed", run_id)


def fail_run(session: Session, run_id: int, error: str) -> None:
    """Mark a run ``failed`` in a transaction of its own (committed)."""
    row = session.get(ScoreRun, run_id, populate_existing=True)
    if row is None or row.status != "running":
        return
    row.status, row.finished_at, row.error = "failed", utcnow(), error[:300]
    session.add(row)
    session.commit()


class RunAbandoned(Exception):
    """Another run declared this one dead (no heartbeat for ``STALE_AFTER``) and took over."""


def _beat(session: Session, run: ScoreRun, **values: Any) -> None:
    """Move the heartbeat (and the given columns) of a run that is still ``running``; a run
    another process marked ``abandoned`` meanwhile (a batch stalled past STALE_AFTER) stops
    here, its batch rolled back, instead of writing beside the run that took over."""
    result = session.execute(
        update(ScoreRun)
        .where(col(ScoreRun.id) == run.id, col(ScoreRun.status) == "running")
        .values(heartbeat_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise RunAbandoned(f"score run {run.id} was taken over by another run; stopping")
    session.expire(run)


def _execute(
    session: Session,
    run: ScoreRun,
    record: RuleSetRecord,
    actor: ActorRef,
    batch_size: int,
    checkpoint: Callable[[int], None] | None,
) -> RunSummary:
    assert run.id is not None and record.id is not None
    ruleset = compiled(record)
    summary = RunSummary(run_id=run.id, ruleset=record.label, reference_date=run.reference_date)
    encoder = DecisionEncoder(rule_set_id=record.id, run_id=run.id)
    after: uuid.UUID | None = None
    while True:
        ids = repo.household_ids_page(session, after=after, size=batch_size)
        if not ids:
            break
        after = ids[-1]
        _score_batch(session, ids, ruleset=ruleset, encoder=encoder, summary=summary)
        _beat(session, run, families=summary.families)
        if checkpoint is not None:
            checkpoint(summary.families)
    now = utcnow()
    summary.retired += repo.supersede_non_canonical(session, run_id=run.id, at=now)
    _beat(
        session,
        run,
        status="finished",
        finished_at=now,
        families=summary.families,
        persons=summary.persons,
        written=summary.written,
        unchanged=summary.unchanged,
        retired=summary.retired,
        counts=summary.counts_json(),
    )
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
