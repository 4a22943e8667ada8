"""Drill 2: ``sigap desil import`` (its own process) SIGKILLed mid-way.

The file: every seeded family's head (matched) and 10,000 more valid NIKs that match no one
(reported, not imported). The import is one transaction per file; the drill checks that under
SIGKILL: (a) one kill at a known point INSIDE the transaction (a hooked process that stops
after the family_desil rows are flushed, before the commit), (b) kills at random moments of
ordinary runs. After every kill: either the whole file is imported (one desil_import row and
exactly its matched rows) or nothing (no desil_import row, no family_desil row). Then a
re-run completes it, and a further run says "already imported"."""

from __future__ import annotations

import csv
import random
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine, select, text

from app.db import build_engine
from app.registry.models import Household, Member
from tests.conftest import pg_admin_engine
from tests.factories import nik
from tests.faults.helpers import ROOT, audit_verified, cli_env, figure, scalar, sigap, sigkill, spawn

PERIOD = "2026-Q1"
PADDING = 10_000
HOOK = """
import sys, time, pathlib
from app.eligibility import desil_service
original = desil_service.bulk.insert
def stalled(*args, **kw):
    original(*args, **kw)
    pathlib.Path(sys.argv[1]).write_text("flushed")
    time.sleep(120)
desil_service.bulk.insert = stalled
from app.cli import cli
cli(sys.argv[2:])
"""


def write_file(engine: Engine, path: Path) -> int:
    with engine.connect() as conn:  # through the column types: NIK and KK are sealed at rest
        heads = conn.execute(
            select(Member.nik, Household.kk_number).join(Household, Household.id == Member.household_id)
            .where(Member.relation == "head", Member.nik.is_not(None), Household.deleted_at.is_(None))).all()
    rows: list[list[str]] = [["NIK_KRT", "NO_KK", "DESIL"]]
    rows += [[n, k or "", str(i % 10 + 1)] for i, (n, k) in enumerate(heads)]
    start = date(1940, 1, 1)
    rows += [[nik(start + timedelta(days=i % 20_000), region="827102", serial=9000 + i // 20_000), "",
              str(i % 10 + 1)] for i in range(PADDING)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return len(heads)


def state(engine: Engine) -> tuple[int, int, int]:
    """(desil_import rows, family_desil rows, family_desil rows whose import row exists)"""
    return (scalar(engine, "SELECT COUNT(*) FROM desil_import"),
            scalar(engine, "SELECT COUNT(*) FROM family_desil"),
            scalar(engine, "SELECT COUNT(*) FROM family_desil f JOIN desil_import i ON i.id = f.import_id"))


def in_transaction(url: str) -> bool | None:
    """PostgreSQL only: is a connection of the importer inside a transaction right now?"""
    admin = pg_admin_engine()
    if admin is None or not url.startswith("postgresql"):
        return None
    name = url.rsplit("/", 1)[-1]
    with admin.connect() as conn:
        return bool(conn.execute(text(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = :d AND xact_start IS NOT NULL "
            "AND pid <> pg_backend_pid()"), {"d": name}).scalar_one())


def test_desil_import_killed(seeded_url: str, db_kind: str, tmp_path: Path) -> None:
    started = time.monotonic()
    engine = build_engine(seeded_url)
    path = tmp_path / "dtsen-2026q1.csv"
    matched = write_file(engine, path)
    args = ["desil", "import", str(path), "--period", PERIOD, "--accept-valid"]
    kills = inside = checks = 0

    def consistent() -> bool:
        nonlocal checks
        checks += 1
        imports, rows, joined = state(engine)
        assert (imports, rows, joined) in ((0, 0, 0), (1, matched, matched)), (imports, rows, joined)
        return imports == 1

    try:
        # (a) killed inside the transaction, after the rows were flushed
        marker = tmp_path / "flushed"
        with (tmp_path / "hook.log").open("ab") as log:
            hooked = subprocess.Popen([sys.executable, "-c", HOOK, str(marker), *args], cwd=ROOT,
                                      env=cli_env(seeded_url), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert hooked.poll() is None, (tmp_path / "hook.log").read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        if db_kind == "postgresql":
            assert in_transaction(seeded_url)
        sigkill(hooked)
        kills += 1
        inside += 1
        assert not consistent(), "a transaction killed before its commit left rows behind"

        # (b) ordinary runs killed at random moments (start-up, reading, matching, writing)
        rng = random.Random()
        for _ in range(3):
            proc = spawn(seeded_url, *args, log=tmp_path / "import.log")
            time.sleep(rng.uniform(1.0, 9.0))
            hit = in_transaction(seeded_url)
            if proc.poll() is None:
                sigkill(proc)
                kills += 1
                inside += bool(hit)
            consistent()

        sigap(seeded_url, *args)  # the re-run completes it (or finds it done)
        assert consistent()
        again = sigap(seeded_url, *args)
        assert "already imported" in " ".join((again.stdout + again.stderr).split())
        assert consistent()
    finally:
        engine.dispose()
    audit_verified()
    figure("2 desil import+SIGKILL", db_kind, kills=kills,
           kills_inside_transaction=f"{inside}"
           + ("" if db_kind == "postgresql" else " (known: the hooked one)"),
           rows_in_file=matched + PADDING, family_rows_checked=matched, consistency_checks=checks,
           partial_imports=0, lost=0, audit="verified", seconds=f"{time.monotonic() - started:.1f}")
