"""Drill 3: merges (``sigap dedup run``, its own process) interrupted by SIGKILL.

A registry with injected duplicate families. (a) A hooked process stops inside its third
automatic merge, after the merge has flushed everything (members paired and moved, merge
record, audit entries, change feed) and before the batch's commit: SIGKILL. (b) Ordinary
runs killed at random moments. After every kill no merge is half applied: every merge record
has its merged household inactive and pointing at the survivor, its candidate marked merged
with that record, its paired members inactive and pointing at survivor members, and no active
member left in the merged household; every inactive household has its merge record; no row
disappeared. A final run completes: no automatic household candidate is left pending."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, text
from sqlmodel import Session

from app.config import PROJECT_ROOT
from app.db import build_engine
from tests.faults.helpers import ROOT, audit_verified, cli_env, figure, ok, scalar, sigap, sigkill, spawn
from tests.reconcile_db.helpers import load_generated

HOOK = """
import sys, time, pathlib
from app.reconcile import merge
original = merge._publish
calls = []
def stalled(*args, **kw):
    original(*args, **kw)
    calls.append(1)
    if len(calls) == 3:
        pathlib.Path(sys.argv[1]).write_text("inside")
        time.sleep(120)
merge._publish = stalled
from app.cli import cli
cli(sys.argv[2:])
"""


def check_merges(engine: Engine) -> int:
    """Every merge whole; returns the number of merge records."""
    with engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).all()  # noqa: E731
        records = q("SELECT id, survivor_id, merged_id, candidate_id FROM merge_record")
        half = q("SELECT r.id FROM merge_record r JOIN household m ON m.id = r.merged_id "
                 "WHERE m.deleted_at IS NULL OR m.merged_into_id IS NULL "
                 "OR m.merged_into_id <> r.survivor_id")
        assert not half, f"merge records whose merged household is not merged: {half}"
        orphans = q("SELECT h.id FROM household h WHERE h.deleted_at IS NOT NULL AND NOT EXISTS "
                    "(SELECT 1 FROM merge_record r WHERE r.merged_id = h.id)")
        assert not orphans, f"households inactive without a merge record: {orphans[:5]}"
        candidates = q("SELECT c.id FROM match_candidate c LEFT JOIN merge_record r ON r.id = c.merge_id "
                       "WHERE (c.status = 'merged') <> (r.id IS NOT NULL AND r.candidate_id = c.id)")
        assert not candidates, f"candidates and merge records disagree: {candidates[:5]}"
        left = q("SELECT m.id FROM member m JOIN merge_record r ON r.merged_id = m.household_id "
                 "WHERE m.deleted_at IS NULL")
        assert not left, f"active members left in a merged household: {left[:5]}"
        inactive = q("SELECT m.id FROM member m WHERE m.deleted_at IS NOT NULL AND (m.merged_into_id IS NULL "
                     "OR NOT EXISTS (SELECT 1 FROM merge_record r WHERE r.merged_id = m.household_id))")
        assert not inactive, f"members inactive outside a merge: {inactive[:5]}"
    return len(records)


def test_merges_killed(database_url: str, db_kind: str, tmp_path: Path) -> None:
    started = time.monotonic()
    ok("migrate")
    ok("seed")
    engine = build_engine(database_url)
    with Session(engine) as session:
        load_generated(session, 150, dup_rate=0.15)
        session.commit()
    households = scalar(engine, "SELECT COUNT(*) FROM household")
    members = scalar(engine, "SELECT COUNT(*) FROM member")
    kills = inside = checks = 0
    # the registry's thresholds, with the u estimate's fixed cost cut as in tests/reconcile_db
    config = tmp_path / "reconcile.toml"
    shipped = (PROJECT_ROOT / "seed_data" / "reconcile.toml").read_text(encoding="utf-8")
    assert "u_sample = 200000" in shipped
    config.write_text(shipped.replace("u_sample = 200000", "u_sample = 20000"), encoding="utf-8")
    dedup = ["dedup", "run", "--config", str(config)]
    try:
        marker = tmp_path / "inside"
        with (tmp_path / "hook.log").open("ab") as log:
            hooked = subprocess.Popen([sys.executable, "-c", HOOK, str(marker), *dedup], cwd=ROOT,
                                      env=cli_env(database_url), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert hooked.poll() is None, (tmp_path / "hook.log").read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sigkill(hooked)
        kills += 1
        inside += 1
        assert check_merges(engine) == 0, "merges of a batch killed before its commit were kept"
        checks += 1

        rng = random.Random()
        for _ in range(2):
            proc = spawn(database_url, *dedup, log=tmp_path / "run.log")
            time.sleep(rng.uniform(2.0, 10.0))
            if proc.poll() is None:
                sigkill(proc)
                kills += 1
            check_merges(engine)
            checks += 1

        sigap(database_url, *dedup, timeout=300)
        merged = check_merges(engine)
        checks += 1
        assert merged > 0
        pending = scalar(engine, "SELECT COUNT(*) FROM match_candidate WHERE kind = 'household' "
                                 "AND decision = 'auto_merge' AND status = 'pending'")
        assert pending == 0
        assert scalar(engine, "SELECT COUNT(*) FROM household") == households
        assert scalar(engine, "SELECT COUNT(*) FROM member") == members
    finally:
        engine.dispose()
    audit_verified()
    figure("3 merge+SIGKILL", db_kind, kills=kills, kills_inside_a_merge=inside, households=households,
           merges_checked=merged, consistency_checks=checks, half_applied=0, lost=0, audit="verified",
           seconds=f"{time.monotonic() - started:.1f}")
