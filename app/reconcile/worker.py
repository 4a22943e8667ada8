"""The incremental worker: every household the change feed names is checked once.

The sync change feed (``sync_change``, see ``app/sync/changes.py``) gives every committed
household or member write a ``seq`` that grows in commit order. The worker keeps its cursor
in ``reconcile_state`` (row ``worker_cursor``, ``number`` = the last seq done) and, in ONE
transaction: locks the cursor row, reads the changes after it (``limit`` rows), checks each
household they name (``service.check_household``), and moves the cursor past them. So:

- a crash (or a rollback) before the commit loses nothing and applies nothing: the next
  round reads the same changes again;
- after the commit the cursor is past them: nothing is applied twice;
- several processes may run it (uvicorn workers, a second ``sigap dedup worker``): on
  PostgreSQL the cursor row is taken with ``FOR UPDATE SKIP LOCKED``, so a second worker
  finds it busy and waits for the next poll instead of doing the same work; on SQLite the
  write transaction (``BEGIN IMMEDIATE``) serialises them, and the second reads the
  advanced cursor.

A round is short on purpose (20 changes by default, ~1 s): on SQLite its transaction holds
the database's write lock, and the API's writes wait for it.

A household that fails (an unexpected error) is rolled back to its savepoint, logged, and
listed in ``reconcile_state`` row ``worker_failed`` (the last 100); the round goes on, so
one bad record never stops the queue. The next batch run (``sigap dedup run``) checks it
again, as does its next change.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from app.db import new_session, utcnow
from app.reconcile.engine import EngineState
from app.reconcile.service import check_household
from app.reconcile.store import ReconcileState
from app.sync.models import SyncChange

log = logging.getLogger("sigap.reconcile.worker")
CURSOR, FAILED = "worker_cursor", "worker_failed"
_STATE = ReconcileState.__table__  # type: ignore[attr-defined]


@dataclass
class Round:
    busy: bool = False              # another worker holds the cursor
    changes: int = 0
    households: int = 0
    candidates: int = 0
    failed: list[str] = field(default_factory=list)
    cursor: int = 0


def _state_row(session: Session, name: str, *, lock: bool) -> ReconcileState | None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(_STATE).values(name=name, number=0, value=None, updated_at=utcnow())
                    .on_conflict_do_nothing(index_elements=["name"]))
    stmt = select(ReconcileState).where(col(ReconcileState.name) == name)
    if lock:
        stmt = stmt.with_for_update(skip_locked=True)
    return session.scalars(stmt.execution_options(populate_existing=True)).one_or_none()


def process_once(session: Session, state: EngineState, *, limit: int = 200,
                 merge_auto: bool = True) -> Round:
    """One round in the caller's transaction (the caller commits); see the module docstring."""
    cursor_row = _state_row(session, CURSOR, lock=True)
    if cursor_row is None:
        return Round(busy=True)
    cursor = cursor_row.number or 0
    rows = session.execute(
        select(col(SyncChange.seq), col(SyncChange.entity), col(SyncChange.household_id))
        .where(col(SyncChange.seq) > cursor).order_by(col(SyncChange.seq)).limit(limit)).all()
    result = Round(changes=len(rows), cursor=cursor)
    if not rows:
        return result
    households: list[uuid.UUID] = []
    for _seq, entity, hid in rows:
        if entity in ("household", "member") and hid not in households:
            households.append(hid)
    state.reload_model(session)
    for hid in households:
        try:
            with session.begin_nested():
                result.candidates += len(check_household(session, hid, state, merge_auto=merge_auto))
        except Exception:  # one bad household must not stop the queue (see the docstring)
            log.exception("reconcile check of household %s failed", hid)
            result.failed.append(str(hid))
        result.households += 1
    if result.failed:
        failed_row = _state_row(session, FAILED, lock=False)
        assert failed_row is not None
        failed_row.value = (list(failed_row.value or []) + result.failed)[-100:]
        failed_row.updated_at = utcnow()
    cursor_row.number = result.cursor = int(rows[-1][0])
    cursor_row.updated_at = utcnow()
    session.flush()
    return result


def run(engine: Engine, *, poll_seconds: float = 2.0, limit: int = 20,
        stop: threading.Event | None = None, on_round: Callable[[Round], None] | None = None) -> None:
    """Poll the change feed until ``stop`` is set; each round commits on its own."""
    stop = stop or threading.Event()
    state: EngineState | None = None
    while not stop.is_set():
        try:
            with new_session(engine) as session:
                if state is None:
                    state = EngineState.load(session)
                result = process_once(session, state, limit=limit)
                session.commit()
        except Exception:  # a lost connection, a lock timeout: retry after a pause
            log.exception("reconcile worker round failed; retrying")
            stop.wait(max(poll_seconds, 5.0))
            continue
        if on_round:
            on_round(result)
        if result.busy or result.changes < limit:
            stop.wait(poll_seconds)


def start_thread(engine: Engine, *, poll_seconds: float = 2.0) -> tuple[threading.Thread, threading.Event]:
    """The worker as a daemon thread (the API process's lifespan); set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(engine,), kwargs={"poll_seconds": poll_seconds, "stop": stop},
                              name="sigap-reconcile-worker", daemon=True)
    thread.start()
    return thread, stop
