"""Reconciliation on the registry database: the batch run and the incremental check.

    .venv/bin/python bench/bench_reconcile_db.py                     # 1x Ternate: 60,000 households
    .venv/bin/python bench/bench_reconcile_db.py --scale 0.1 --engines sqlite   # quick
    .venv/bin/python bench/bench_reconcile_db.py --engines sqlite --curve       # thresholds

For each engine (SQLite, PostgreSQL): a fresh database is migrated and loaded with the
synthetic Ternate persons (app/reconcile/synthetic.py) grouped into registry households
(app/reconcile/synthetic_registry.py: a family, a family registered again after a move, a
lone duplicate registration), written in bulk; ``--new`` families (a third of them
duplicates of loaded families) are held out. Then:

- the batch run (``batch.run_batch``) in a child process, so its wall time and peak memory
  (VmHWM) are its own; the automatic merges are not performed (``merge_auto=False``: their
  cost is the merge code's, measured separately);
- precision, recall and F1 of person pairs: a pair is predicted "same person" when the
  batch wrote it as an ``auto_merge`` link of a proposal; "proposed" counts review links too.
  The truth (the generator's person ids) is read only here, to evaluate;
- the incremental check: the held-out households are inserted, then checked one at a time
  (``service.check_household``, each committed), against the full registry; p50/p99.

The databases are removed at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from itertools import combinations
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from rich.console import Console  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.db import build_engine  # noqa: E402
from app.reconcile import synthetic_registry  # noqa: E402
from app.reconcile.batch import run_batch  # noqa: E402
from app.reconcile.engine import EngineState  # noqa: E402
from app.reconcile.service import check_household  # noqa: E402
from app.reconcile.store import MatchCandidate  # noqa: E402
from app.registry.synthetic import load_kelurahan_codes  # noqa: E402
from bench.bench_reconcile import peak_mb  # noqa: E402
from bench.bench_registry import DEFAULT_PG_URL, Databases  # noqa: E402

TERNATE_HOUSEHOLDS = 60_000
CURVE = "--curve" in sys.argv  # also print precision/recall by threshold (seed_data/reconcile.toml)
console = Console(width=240)


def child_batch(url: str) -> None:
    engine = build_engine(url)
    started = time.perf_counter()
    summary = run_batch(engine, merge_auto=False)
    wall = time.perf_counter() - started
    engine.dispose()
    print(json.dumps({"wall_s": wall, "peak_mb": peak_mb(), "summary": summary.as_json()}))


def evaluate(session: Session, person_of: dict[str, str]) -> dict[str, float]:
    auto: set[tuple[str, str]] = set()
    proposed: set[tuple[str, str]] = set()
    for (links,) in session.execute(select(MatchCandidate.links)):  # type: ignore[call-overload]
        for x in links:
            pair = (min(x["a"], x["b"]), max(x["a"], x["b"]))
            proposed.add(pair)
            if x["decision"] == "auto_merge":
                auto.add(pair)
    by_person: dict[str, list[str]] = {}
    for member, person in person_of.items():
        by_person.setdefault(person, []).append(member)
    truth = {(min(a, b), max(a, b)) for ms in by_person.values() for a, b in combinations(ms, 2)}
    if CURVE:
        weights: dict[tuple[str, str], float] = {}
        for (links,) in session.execute(select(MatchCandidate.links)):  # type: ignore[call-overload]
            for x in links:
                pair = (min(x["a"], x["b"]), max(x["a"], x["b"]))
                weights[pair] = max(weights.get(pair, -99.0), float(x["weight"]))
        console.print("person pairs, weight >= t, over the proposed links:")
        for t in (8, 12, 14, 16, 18, 20, 21, 22, 23, 24, 26, 28):
            chosen = {k for k, w in weights.items() if w >= t}
            hit = len(chosen & truth)
            console.print(f"  t={t:>3}  pairs {len(chosen):>7,}  P {hit / len(chosen) if chosen else 1:.4f}"
                          f"  R {hit / len(truth) if truth else 1:.4f}")
    tp = len(auto & truth)
    precision = tp / len(auto) if auto else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"true_pairs": len(truth), "auto_pairs": len(auto), "precision": precision,
            "recall": recall, "f1": f1,
            "recall_auto_or_review": len(proposed & truth) / len(truth) if truth else 1.0}


def run_engine(kind: str, households: int, new: int, seed: int, pg_url: str) -> dict[str, Any]:
    dbs = Databases(kind, pg_url)
    reason = dbs.check()
    if reason:
        console.print(f"[yellow]{kind}: skipped ({reason})[/]")
        return {}
    try:
        url = dbs.new("dedup")
        engine = build_engine(url)
        fams = synthetic_registry.families(households, seed=seed, kelurahan_codes=load_kelurahan_codes())
        rng = random.Random(seed)
        dups = [f for f in fams if f.scenario != "enumerator"]
        held = set(map(id, rng.sample(dups, min(len(dups), new // 3))))
        rest = [f for f in fams if id(f) not in held]
        held |= set(map(id, rng.sample(rest, new - len(held))))
        base = [f for f in fams if id(f) not in held]
        later = [f for f in fams if id(f) in held]
        started = time.perf_counter()
        taken_nik: set[str] = set()
        taken_kk: set[str] = set()
        with Session(engine) as session:
            loaded = synthetic_registry.load(session, base, taken_nik=taken_nik, taken_kk=taken_kk)
            session.commit()
        load_s = time.perf_counter() - started
        console.print(f"{kind}: loaded {loaded.households:,} households, {loaded.members:,} members "
                      f"in {load_s:.0f} s ({loaded.blanked_nik:,} NIKs and {loaded.blanked_kk:,} KKs "
                      "already taken left empty)")

        proc = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, __file__, "--child-batch", url], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        batch = json.loads(proc.stdout.strip().splitlines()[-1])
        with Session(engine) as session:
            quality = evaluate(session, loaded.person_of)

        # the incremental check of each held-out household against the full registry
        with Session(engine) as session:
            t0 = time.perf_counter()
            state = EngineState.load(session)
            state_s = time.perf_counter() - t0
            extra = synthetic_registry.load(session, later, taken_nik=taken_nik, taken_kk=taken_kk)
            session.commit()
        latencies = []
        found = 0
        ids = [f.household_id for f in later]
        for hid in ids:
            with Session(engine, expire_on_commit=False) as session:
                t0 = time.perf_counter()
                rows = check_household(session, uuid.UUID(str(hid)), state, merge_auto=False)
                session.commit()
                latencies.append((time.perf_counter() - t0) * 1000)
                found += bool(rows)
        latencies.sort()
        engine.dispose()
        return {"engine": kind, "households": loaded.households, "members": loaded.members,
                "load_s": load_s, "batch": batch, "quality": quality, "state_load_s": state_s,
                "new_households": extra.households, "new_with_candidates": found,
                "p50_ms": statistics.median(latencies),
                "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}
    finally:
        dbs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = Ternate, 60,000 households")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--new", type=int, default=200, help="households checked incrementally")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--curve", action="store_true",
                        help="print precision/recall of weight >= t (how [registry] upper was chosen)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--child-batch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_batch:
        child_batch(args.child_batch)
        return
    households = round(TERNATE_HOUSEHOLDS * args.scale)
    results = [r for kind in args.engines.split(",")
               if (r := run_engine(kind.strip(), households, args.new, args.seed, args.pg_url))]
    console.print(f"\nReconciliation on the registry: {households:,} generated households, seed {args.seed}")
    header = ("engine", "members", "load s", "batch s", "peak MB", "cand. pairs", "pair P", "pair R",
              "pair F1", "R (auto+review)", "hh cand.", "hh auto", "member 2 fam.", "check p50 ms",
              "check p99 ms")
    console.print(" | ".join(header))
    for r in results:
        s, q = r["batch"]["summary"], r["quality"]
        console.print(" | ".join(str(x) for x in (
            r["engine"], f"{r['members']:,}", f"{r['load_s']:.0f}", f"{r['batch']['wall_s']:.0f}",
            f"{r['batch']['peak_mb']:.0f}", f"{s['candidate_pairs']:,}", f"{q['precision']:.4f}",
            f"{q['recall']:.4f}", f"{q['f1']:.4f}", f"{q['recall_auto_or_review']:.4f}",
            f"{s['household_candidates']:,}", f"{s['household_auto']:,}",
            f"{s['member_in_two_families']:,}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}")))
        console.print(f"  {r['engine']}: batch phases {s['seconds']}; refused by the chaining guard "
                      f"{s['refused_by_chaining_guard']:,}; engine state loaded in "
                      f"{r['state_load_s']:.1f} s; "
                      f"{r['new_with_candidates']} of {r['new_households']} new households got candidates")


if __name__ == "__main__":
    main()
