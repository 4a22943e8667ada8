"""run_batch on a fresh database of its own (it commits), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session, col

from app.reconcile.batch import SUMMARY, run_batch
from app.reconcile.engine import MODEL, EngineState
from app.reconcile.linker import LinkConfig
from app.reconcile.store import MatchCandidate, MatchKey, ReconcileState
from app.reconcile.worker import CURSOR, process_once
from tests.conftest import reference_database
from tests.reconcile_db.helpers import load_generated
from tests.reconcile_db.test_service import family_a

CONFIG = replace(LinkConfig.load(), u_sample=20_000)  # the u estimate's fixed cost, cut for a test


def test_batch_run_proposes_stores_the_model_and_hands_over_to_the_worker(
        db_kind: str, tmp_path: Path) -> None:
    with reference_database(db_kind, tmp_path) as engine:
        with Session(engine) as session:
            loaded = load_generated(session, 150, dup_rate=0.15)
            family_a(session)
            session.commit()
        summary = run_batch(engine, config=CONFIG, merge_auto=False)
        assert summary.records == loaded.members + 3
        assert summary.candidate_pairs > summary.person_links["auto_merge"] > 0
        assert summary.household_candidates > 0 and summary.household_auto > 0
        with Session(engine) as session:
            rows = session.scalars(select(MatchCandidate)).all()
            assert len(rows) == (summary.household_candidates + summary.member_in_two_families
                                 + summary.member_twice_in_one_family)
            assert all(r.status == "pending" and r.source == "batch" and r.links for r in rows)
            keys = session.scalar(select(func.count()).select_from(MatchKey))
            assert keys == summary.match_keys > summary.records
            model = session.get(ReconcileState, MODEL)
            assert model is not None and model.number == 1 and model.value["prior"] > 0
            cursor = session.get(ReconcileState, CURSOR)
            assert cursor is not None and cursor.number and cursor.number > 0
            assert session.get(ReconcileState, SUMMARY) is not None
            state = EngineState.load(session)
            assert state.model_version == 1
            assert process_once(session, state, merge_auto=False).changes == 0

            # a person decides one pair; the next run keeps it and proposes the same rest
            decided = rows[0]
            decided.status = "distinct"
            session.commit()
        again = run_batch(engine, config=CONFIG, merge_auto=False)
        assert again.kept_decided == 1 and again.superseded == 0
        with Session(engine) as session:
            statuses = session.scalars(select(MatchCandidate.status).order_by(col(MatchCandidate.id))).all()
            assert statuses.count("distinct") == 1 and len(statuses) == len(rows)
