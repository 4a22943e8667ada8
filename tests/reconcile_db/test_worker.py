"""The worker: a cursor on the change feed, advanced only with the results it stored."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from app.reconcile import worker
from app.reconcile.engine import EngineState
from app.reconcile.store import MatchCandidate, ReconcileState
from app.registry.service import delete_household
from app.seeding import SEED_ACTOR, SYSTEM_PRINCIPAL
from tests.reconcile_db.helpers import load_generated
from tests.reconcile_db.test_service import family_a, family_b


@pytest.fixture
def state(db: Session) -> EngineState:
    load_generated(db, 30)
    return EngineState.load(db)


def count(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(MatchCandidate)) or 0)


def cursor(db: Session) -> int:
    row = db.get(ReconcileState, worker.CURSOR, populate_existing=True)
    return 0 if row is None else int(row.number or 0)


class TestWorker:
    def test_a_crash_before_commit_loses_nothing_and_applies_nothing_twice(
            self, db: Session, state: EngineState) -> None:
        family_a(db)
        db.commit()  # publishes the change feed rows
        first = worker.process_once(db, state, merge_auto=False)
        assert first.households == 1 and first.cursor > 0
        db.commit()
        family_b(db)
        db.commit()
        before = cursor(db)
        crashed = worker.process_once(db, state, merge_auto=False)
        assert crashed.households == 1 and crashed.candidates == 1
        db.rollback()  # the process died before its commit
        assert cursor(db) == before and count(db) == 0

        again = worker.process_once(db, state, merge_auto=False)
        assert (again.households, again.candidates, again.cursor) == (1, 1, crashed.cursor)
        db.commit()
        assert count(db) == 1
        idle = worker.process_once(db, state, merge_auto=False)
        assert (idle.changes, idle.households, idle.cursor) == (0, 0, crashed.cursor)
        db.commit()
        assert count(db) == 1

    def test_a_household_deleted_in_between(self, db: Session, state: EngineState) -> None:
        a = family_a(db)
        db.commit()
        delete_household(session=db, household_id=a, version=None, actor=SEED_ACTOR,
                         principal=SYSTEM_PRINCIPAL)
        db.commit()
        result = worker.process_once(db, state, merge_auto=False)
        assert result.households == 1 and not result.failed
        db.commit()

    def test_one_failing_household_does_not_stop_the_queue(
            self, db: Session, state: EngineState, monkeypatch: pytest.MonkeyPatch) -> None:
        a = family_a(db)
        db.commit()
        family_b(db)
        db.commit()
        real = worker.check_household

        def flaky(session: Session, household_id: uuid.UUID, st: EngineState,
                  **kw: bool) -> list[MatchCandidate]:
            if household_id == a:
                raise RuntimeError("boom")
            return real(session, household_id, st, **kw)

        monkeypatch.setattr(worker, "check_household", flaky)
        result = worker.process_once(db, state, merge_auto=False)
        assert result.failed == [str(a)] and result.households == 2
        db.commit()
        failed = db.get(ReconcileState, worker.FAILED)
        assert failed is not None and failed.value == [str(a)]
        assert worker.process_once(db, state, merge_auto=False).changes == 0

    def test_limit_advances_in_steps(self, db: Session, state: EngineState) -> None:
        family_a(db)
        family_b(db)
        db.commit()
        step = worker.process_once(db, state, limit=3, merge_auto=False)
        assert step.changes == 3
        rest = worker.process_once(db, state, limit=100, merge_auto=False)
        assert rest.changes > 0 and rest.cursor > step.cursor
