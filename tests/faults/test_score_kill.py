"""Drill 4: a scoring run (``sigap score run``, its own process) SIGKILLed inside its second
batch (the first committed; a hook stops the process once the second batch's decisions are
flushed, before its commit, so the kill never comes after the run ended). The run row stays
``running``; the next run refuses while the heartbeat is fresh (exit 3); once the heartbeat is
old (set back in the database, as if 11 minutes had passed) the next run marks it
``abandoned``, completes, and the current decisions are exactly those of a clean run on an
untouched copy of the same registry (same households, programmes, outcomes, fingerprints)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db import build_engine
from tests.faults.conftest import FAMILIES, use
from tests.faults.helpers import ROOT, audit_verified, cli_env, figure, ok, scalar, sigap, sigkill

DAY = "2026-06-01"
HOOK = """
import sys, time, pathlib
from app.eligibility import scoring
original = scoring._score_batch
calls = []
def stalled(*args, **kw):
    result = original(*args, **kw)
    calls.append(1)
    if len(calls) == 2:
        pathlib.Path(sys.argv[1]).write_text("inside")
        time.sleep(120)
    return result
scoring._score_batch = stalled
from app.cli import cli
cli(sys.argv[2:])
"""
DECISIONS = ("SELECT household_id, subject, programme_id, outcome, fingerprint FROM eligibility_decision "
             "WHERE current ORDER BY household_id, subject, programme_id")


def decisions(url: str) -> list[tuple[str, ...]]:
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(str(v) for v in row) for row in conn.execute(text(DECISIONS))]
    finally:
        engine.dispose()


def test_score_run_killed_then_taken_over(seeded_url: str, copy_of: Callable[[], str], db_kind: str,
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.monotonic()
    clean_url = copy_of()  # untouched: the clean run's reference
    engine = build_engine(seeded_url)
    try:
        marker = tmp_path / "inside"
        with (tmp_path / "run.log").open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-c", HOOK, str(marker), "score", "run",
                                     "--reference-date", DAY], cwd=ROOT, env=cli_env(seeded_url),
                                    stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, "the run did not reach its second batch"
            time.sleep(0.05)
        sigkill(proc)  # inside the second batch: the first is committed
        with engine.connect() as conn:
            run_id, status, done = conn.execute(text(
                "SELECT id, status, families FROM score_run ORDER BY id DESC")).one()
        assert status == "running" and done == 500 < FAMILIES
        partial = scalar(engine, "SELECT COUNT(*) FROM eligibility_decision WHERE current")

        busy = sigap(seeded_url, "score", "run", "--reference-date", DAY, check=False)
        assert busy.returncode == 3, busy.stdout + busy.stderr
        assert f"#{run_id}" in " ".join((busy.stdout + busy.stderr).split())

        with engine.begin() as conn:  # as if 11 minutes had passed without a heartbeat
            conn.execute(text("UPDATE score_run SET heartbeat_at = heartbeat_at - INTERVAL '11 minutes' "
                              "WHERE id = :i") if db_kind == "postgresql" else
                         text("UPDATE score_run SET heartbeat_at = datetime(heartbeat_at, '-11 minutes') "
                              "WHERE id = :i"), {"i": run_id})
        taken = sigap(seeded_url, "score", "run", "--reference-date", DAY)
        with engine.connect() as conn:
            runs = conn.execute(text("SELECT id, status, error FROM score_run ORDER BY id")).all()
        assert [r[1] for r in runs] == ["abandoned", "finished"], (runs, taken.stdout)
        assert runs[0][2] and "heartbeat" in runs[0][2]
    finally:
        engine.dispose()

    use(monkeypatch, clean_url)
    ok("score", "run", "--reference-date", DAY)
    after, clean = decisions(seeded_url), decisions(clean_url)
    assert len(clean) > FAMILIES
    assert after == clean, "the taken-over run's decisions differ from a clean run's"
    use(monkeypatch, seeded_url)
    audit_verified()
    figure("4 score run+SIGKILL", db_kind, kills=1, families_before_kill=done,
           decisions_before_kill=partial, decisions_checked=len(after), differing=0,
           lost=0, audit="verified", seconds=f"{time.monotonic() - started:.1f}")
