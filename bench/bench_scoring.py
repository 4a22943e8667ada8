"""Eligibility scoring on the registry database: a full run, a re-run, and the SQL floor.

    .venv/bin/python bench/bench_scoring.py                                  # 1x: 60,000 families
    .venv/bin/python bench/bench_scoring.py --scale 4                        # 4x
    .venv/bin/python bench/bench_scoring.py --scale 0.05 --engines sqlite    # quick

For each engine a fresh database is migrated and loaded in bulk with the synthetic Ternate
families (app/reconcile/synthetic_registry.py); ``--official`` of them (default 80%) get an
official desil for 2026-Q1 (uniform 1-10), written in bulk as one import. Then, each in a
child process so that its wall time and peak memory (VmHWM) are its own:

- the first scoring run (``scoring.score_all``, committed per batch of 500 families): every
  decision is written;
- the second run with unchanged data and rules: nothing is written (idempotent), every decision
  is read, re-evaluated and compared by fingerprint;
- the floor: ONE SQL query computing the desil-only part of every family programme's decision
  (households per programme whose latest official desil is within the programme's range).

The databases are removed at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from rich.console import Console  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app import bulk  # noqa: E402
from app.audit.service import ActorRef  # noqa: E402
from app.db import build_engine, utcnow  # noqa: E402
from app.eligibility import rules_service, scoring  # noqa: E402
from app.eligibility.conditions import AllOf, Condition, DesilCond  # noqa: E402
from app.eligibility.rules import RuleSet  # noqa: E402
from app.eligibility.store import DesilImport, FamilyDesil  # noqa: E402
from app.reconcile import synthetic_registry  # noqa: E402
from app.registry.synthetic import load_kelurahan_codes  # noqa: E402
from bench.bench_reconcile import peak_mb  # noqa: E402
from bench.bench_registry import DEFAULT_PG_URL, Databases  # noqa: E402

TERNATE_FAMILIES = 60_000
DAY = date(2026, 6, 1)
ACTOR = ActorRef(user_id=None, name="bench", channel="cli")
console = Console(width=200)


def desil_range(cond: Condition) -> tuple[int, int] | None:
    if isinstance(cond, DesilCond):
        return (cond.min or 1, cond.max or 10)
    if isinstance(cond, AllOf):
        for item in cond.items:
            found = desil_range(item)
            if found:
                return found
    return None


def floor_sql(ruleset: RuleSet) -> str:
    """One query: per family programme, the households whose latest official desil is in range."""
    sums = []
    for p in ruleset.programmes:
        bounds = desil_range(p.when)
        if p.unit == "family" and bounds:
            sums.append(
                f"SUM(CASE WHEN d.desil BETWEEN {bounds[0]} AND {bounds[1]} THEN 1 ELSE 0 END) AS {p.id}"
            )
    return (
        "SELECT COUNT(*) AS families, " + ", ".join(sums) + " FROM household h "
        "JOIN family_desil d ON d.household_id = h.id "
        "JOIN (SELECT household_id, MAX(period) AS period FROM family_desil GROUP BY household_id) l "
        "ON l.household_id = d.household_id AND l.period = d.period "
        "WHERE h.deleted_at IS NULL"
    )


def child(url: str, what: str) -> None:
    engine = build_engine(url)
    started = time.perf_counter()
    out: dict[str, Any] = {}
    with Session(engine) as session:
        record = rules_service.ensure_active(session=session, actor=ACTOR)
        assert record is not None
        session.commit()
        if what == "floor":
            sql = floor_sql(rules_service.compiled(record))
            t0 = time.perf_counter()
            row = session.execute(text(sql)).mappings().one()
            out["query_s"] = time.perf_counter() - t0
            out["floor"] = {k: int(v or 0) for k, v in row.items()}
        else:
            summary = scoring.score_all(
                session=session,
                record=record,
                reference_date=DAY,
                actor=ACTOR,
                checkpoint=lambda _done: session.commit(),
            )
            session.commit()
            out["summary"] = {
                "families": summary.families,
                "persons": summary.persons,
                "written": summary.written,
                "unchanged": summary.unchanged,
            }
    engine.dispose()
    out.update(wall_s=time.perf_counter() - started, peak_mb=peak_mb())
    print(json.dumps(out))


def _child(url: str, what: str) -> dict[str, Any]:
    proc = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--child", what, url], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run_engine(kind: str, families: int, official: float, seed: int, pg_url: str) -> dict[str, Any]:
    dbs = Databases(kind, pg_url)
    reason = dbs.check()
    if reason:
        console.print(f"[yellow]{kind}: skipped ({reason})[/]")
        return {}
    try:
        url = dbs.new("score")
        engine = build_engine(url)
        started = time.perf_counter()
        fams = synthetic_registry.families(families, seed=seed, kelurahan_codes=load_kelurahan_codes())
        with Session(engine) as session:
            loaded = synthetic_registry.load(session, fams)
            imp = DesilImport(file_name="bench.csv", sha256="0" * 64, period="2026-Q1", imported_by="bench")
            session.add(imp)
            session.flush()
            rng = random.Random(seed)
            ids = [f.household_id for f in fams]
            chosen = rng.sample(ids, round(len(ids) * official))
            rows = [
                {
                    "household_id": hid,
                    "period": "2026-Q1",
                    "desil": rng.randint(1, 10),
                    "source": "bps",
                    "import_id": imp.id,
                    "row_number": i + 2,
                    "updated_at": utcnow(),
                }
                for i, hid in enumerate(chosen)
            ]
            for start in range(0, len(rows), 5000):
                bulk.insert(session, FamilyDesil.__table__, rows[start : start + 5000])  # type: ignore[attr-defined]
            session.commit()
        engine.dispose()
        load_s = time.perf_counter() - started
        console.print(
            f"{kind}: loaded {loaded.households:,} households, {loaded.members:,} members, "
            f"{len(rows):,} official desil in {load_s:.0f} s"
        )
        first = _child(url, "score")
        console.print(f"{kind}: first run {first['wall_s']:.1f} s, {first['peak_mb']:.0f} MB")
        second = _child(url, "score")
        console.print(f"{kind}: second run {second['wall_s']:.1f} s, {second['peak_mb']:.0f} MB")
        floor = _child(url, "floor")
        return {
            "engine": kind,
            "households": loaded.households,
            "members": loaded.members,
            "load_s": load_s,
            "first": first,
            "second": second,
            "floor": floor,
        }
    finally:
        dbs.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = Ternate, 60,000 families")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--official", type=float, default=0.8, help="share of families with an official desil"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[1], args.child[0])
        return
    families = round(TERNATE_FAMILIES * args.scale)
    results = [
        r
        for kind in args.engines.split(",")
        if (r := run_engine(kind.strip(), families, args.official, args.seed, args.pg_url))
    ]
    console.print(
        f"\nScoring run: {families:,} generated families (scale {args.scale}), seed {args.seed}, "
        f"reference date {DAY}"
    )
    header = (
        "engine",
        "households",
        "persons",
        "decisions",
        "run 1 s",
        "run 1 MB",
        "run 2 s (0 written)",
        "run 2 MB",
        "floor SQL s",
        "run 1 / floor",
        "run 2 / floor",
    )
    console.print(" | ".join(header))
    for r in results:
        f, s, fl = r["first"], r["second"], r["floor"]
        console.print(
            " | ".join(
                str(x)
                for x in (
                    r["engine"],
                    f"{f['summary']['families']:,}",
                    f"{f['summary']['persons']:,}",
                    f"{f['summary']['written']:,}",
                    f"{f['wall_s']:.1f}",
                    f"{f['peak_mb']:.0f}",
                    f"{s['wall_s']:.1f} ({s['summary']['written']})",
                    f"{s['peak_mb']:.0f}",
                    f"{fl['query_s']:.3f}",
                    f"{f['wall_s'] / fl['query_s']:.0f}x",
                    f"{s['wall_s'] / fl['query_s']:.0f}x",
                )
            )
        )
        console.print(f"  floor result: {fl['floor']}; run 1 counts: {f['summary']}")


if __name__ == "__main__":
    main()
