"""Scoring runs one at a time: the guard, a crashed run taken over, a failing run recorded,
and the API that starts a run and shows its progress."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.db import utcnow
from app.eligibility import rules_service, scoring
from app.eligibility.store import EligibilityDecision, RuleSetRecord, ScoreRun
from tests.conftest import Account
from tests.eligibility_db.helpers import ACTOR, family, young_family
from tests.factories import HIRI_FAUDU

DAY = date(2026, 6, 1)


def _record(db: Session) -> RuleSetRecord:
    record = rules_service.ensure_active(session=db, actor=ACTOR)
    assert record is not None
    return record


def _running(db: Session, *, beat_minutes_ago: float = 0) -> ScoreRun:
    record = _record(db)
    run = ScoreRun(
        rule_set_id=record.id or 0,
        ruleset_label=record.label,
        reference_date=DAY,
        started_by="elsewhere",
        heartbeat_at=utcnow() - timedelta(minutes=beat_minutes_ago),
    )
    db.add(run)
    db.commit()
    return run


def _runs(db: Session) -> list[tuple[int, str]]:
    rows = db.exec(select(ScoreRun).order_by(col(ScoreRun.id)).execution_options(populate_existing=True))
    return [(r.id or 0, r.status) for r in rows]


class TestGuard:
    def test_a_live_run_refuses_another_and_nothing_is_written(self, db: Session) -> None:
        family(db)
        live = _running(db, beat_minutes_ago=2)
        with pytest.raises(scoring.ScoreRunBusy) as caught:
            scoring.score_all(session=db, record=_record(db), reference_date=DAY, actor=ACTOR)
        assert f"#{live.id}" in caught.value.message and "masih berjalan" in caught.value.message
        assert caught.value.detail["run_id"] == live.id
        assert _runs(db) == [(live.id, "running")]
        assert db.exec(select(func.count()).select_from(EligibilityDecision)).one() == 0

    def test_a_dead_run_is_abandoned_and_the_new_run_completes(self, db: Session) -> None:
        family(db)
        dead = _running(db, beat_minutes_ago=11)
        summary = scoring.score_all(session=db, record=_record(db), reference_date=DAY, actor=ACTOR)
        assert summary.written > 0
        assert _runs(db) == [(dead.id, "abandoned"), (summary.run_id, "finished")]
        db.refresh(dead)
        assert dead.error and "no heartbeat since" in dead.error and dead.finished_at
        audit = db.exec(select(AuditEntry).where(AuditEntry.action == "score.abandon")).all()
        assert [a.entity_id for a in audit] == [str(dead.id)]

    def test_the_database_holds_one_running_run(self, db: Session) -> None:
        _running(db)
        with pytest.raises(IntegrityError), db.begin_nested():
            _running(db)

    def test_heartbeat_and_progress_move_with_every_batch(self, db: Session) -> None:
        for _ in range(5):
            family(db)
        seen: list[tuple[int, int]] = []

        def checkpoint(done: int) -> None:
            run = db.exec(select(ScoreRun).where(ScoreRun.status == "running")).one()
            seen.append((done, run.families))

        summary = scoring.score_all(
            session=db,
            record=_record(db),
            reference_date=DAY,
            actor=ACTOR,
            batch_size=2,
            checkpoint=checkpoint,
        )
        assert seen == [(0, 0), (2, 2), (4, 4), (5, 5)]
        run = db.get(ScoreRun, summary.run_id)
        assert run is not None and run.planned == 5 and run.families == 5

    def test_a_failing_run_is_marked_failed_with_its_error(
        self, db: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for _ in range(3):
            family(db)
        real = scoring._score_batch
        calls: list[int] = []

        def broken(*args: Any, **kw: Any) -> None:
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("disk full")
            real(*args, **kw)

        monkeypatch.setattr(scoring, "_score_batch", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            scoring.score_all(
                session=db,
                record=_record(db),
                reference_date=DAY,
                actor=ACTOR,
                batch_size=2,
                checkpoint=lambda _done: db.commit(),
            )
        [(run_id, status)] = _runs(db)
        assert status == "failed"
        run = db.get(ScoreRun, run_id)
        assert run is not None and run.error == "RuntimeError: disk full" and run.families == 2
        # the first batch's decisions were committed and stay; the next run completes the rest
        kept = db.exec(select(func.count(col(EligibilityDecision.household_id).distinct()))).one()
        assert kept == 2
        monkeypatch.setattr(scoring, "_score_batch", real)
        summary = scoring.score_all(session=db, record=_record(db), reference_date=DAY, actor=ACTOR)
        assert summary.families == 3 and summary.unchanged > 0 and summary.written > 0

    def test_a_run_taken_over_stops_and_stays_abandoned(self, db: Session) -> None:
        """A batch stalled past the stale limit: another run abandoned this one and took over.
        When the stalled run wakes, it stops at its next heartbeat; its open batch is rolled
        back and it never turns back into ``finished``."""
        for _ in range(3):
            family(db)
        record = _record(db)
        run = scoring.claim_run(session=db, record=record, reference_date=DAY, actor=ACTOR)
        db.commit()
        run_id = run.id
        db.exec(  # what claim_run of another process does to a silent run
            update(ScoreRun).where(col(ScoreRun.id) == run_id).values(status="abandoned")  # type: ignore[call-overload]
        )
        db.commit()
        with pytest.raises(scoring.RunAbandoned):
            scoring.execute_run(session=db, run=run, record=record, actor=ACTOR, batch_size=2)
        assert _runs(db) == [(run_id, "abandoned")]
        assert db.exec(select(func.count()).select_from(EligibilityDecision)).one() == 0


class TestApi:
    @pytest.fixture
    def dinsos(self, make_account: Callable[..., Account]) -> Account:
        return make_account(Role.dinsos)

    def test_start_follow_and_refuse_a_second(self, client: TestClient, db: Session, dinsos: Account) -> None:
        young_family(db)
        family(db)
        db.commit()
        started = client.post("/score-runs", json={"reference_date": str(DAY)}, headers=dinsos.headers)
        assert started.status_code == 202, started.text
        body = started.json()
        assert body["status"] == "running" and body["planned"] == 2 and body["reference_date"] == str(DAY)
        # the test client runs the background work before it returns
        done = client.get(f"/score-runs/{body['id']}", headers=dinsos.headers).json()
        assert done["status"] == "finished" and done["families"] == 2 and done["written"] > 0
        assert done["counts"]["pkh"]
        listed = client.get("/score-runs", headers=dinsos.headers).json()
        assert [r["id"] for r in listed] == [body["id"]]

        live = _running(db)
        busy = client.post("/score-runs", headers=dinsos.headers)
        assert busy.status_code == 409
        assert busy.json()["error"] == "score_run_busy"
        assert busy.json()["detail"]["run_id"] == live.id

    def test_refusals(
        self, client: TestClient, make_account: Callable[..., Account], dinsos: Account
    ) -> None:
        enumerator = make_account(Role.enumerator, kelurahan=(HIRI_FAUDU,))
        assert client.post("/score-runs", headers=enumerator.headers).status_code == 403
        assert client.post("/score-runs").status_code == 401
        extra = client.post(
            "/score-runs", json={"reference_date": "2026-06-01", "x": 1}, headers=dinsos.headers
        )
        assert extra.status_code == 422 and "x" in extra.text
        bad = client.post("/score-runs", json={"reference_date": "2026-13-01"}, headers=dinsos.headers)
        assert bad.status_code == 422 and "reference_date" in bad.text
        assert client.get("/score-runs/999999", headers=dinsos.headers).status_code == 404
        # an enumerator may read runs (eligibility:read), not start them
        assert client.get("/score-runs", headers=enumerator.headers).status_code == 200
