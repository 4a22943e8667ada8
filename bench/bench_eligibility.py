"""Throughput of the pure eligibility core: PMT estimate and evaluate() on synthetic families.

    .venv/bin/python bench/bench_eligibility.py                  # 60,000 families (~210,000 persons)
    .venv/bin/python bench/bench_eligibility.py --families 5000  # smoke run
    .venv/bin/python bench/bench_eligibility.py --keep           # keep every Decision (memory of a run)

Families come from app/registry/synthetic.py (the demo generator: families with members);
the asset questions it leaves blank are filled in here with a seeded coin so the PMT has
a full form. Desil mix: 60% official (BPS 2026-Q1), 35% the PMT estimate, 5% none.
No database: this is the floor under a scoring run (reading rows and writing decisions
come on top). Peak memory is the process's ru_maxrss (Linux: KiB).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.eligibility.decide import Decision, evaluate  # noqa: E402
from app.eligibility.facts import NO_DESIL, DesilInfo, FamilyFacts, facts_from_rows  # noqa: E402
from app.eligibility.loader import load_ruleset  # noqa: E402
from app.eligibility.pmt import estimate, load_model  # noqa: E402
from app.registry.synthetic import SyntheticRegistry  # noqa: E402

DAY = dt.date(2026, 6, 30)
ASSETS = ("asset_ac", "asset_computer", "asset_water_heater", "asset_other_house", "asset_gold_10g",
          "asset_motorboat", "asset_lpg_5_5kg", "asset_internet", "asset_bank_account", "asset_land",
          "asset_tv")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(n: int, seed: int) -> list[FamilyFacts]:
    gen = SyntheticRegistry(seed=seed)
    rng = random.Random(seed)
    out = []
    for data in gen.households(n):
        members = data.pop("members")
        for a in ASSETS:
            data[a] = rng.random() < 0.3
        rows = [SimpleNamespace(**{**m, "birth_date": dt.date.fromisoformat(m["birth_date"])})
                for m in members]
        out.append(facts_from_rows(SimpleNamespace(**data), rows))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", type=int, default=60_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--keep", action="store_true", help="keep every decision in memory")
    args = ap.parse_args(argv)

    rules, model = load_ruleset(), load_model()
    t0 = time.perf_counter()
    families = build(args.families, args.seed)
    persons = sum(len(f.members) for f in families)
    t_build = time.perf_counter() - t0
    print(f"families: {len(families):,}  persons: {persons:,}  (generated and turned into facts in "
          f"{t_build:.1f} s; peak {peak_mib():.0f} MiB)")

    rng = random.Random(args.seed + 1)
    t0 = time.perf_counter()
    desils: list[DesilInfo] = []
    no_estimate = 0
    for f in families:
        roll = rng.random()
        if roll < 0.60:
            desils.append(DesilInfo.official(rng.randint(1, 10), "2026-Q1"))
            continue
        if roll < 0.95:
            e = estimate(model, f, DAY)
            no_estimate += e.needs_data
            desils.append(e.desil_info())
            continue
        desils.append(NO_DESIL)
    t_pmt = time.perf_counter() - t0
    n_pmt = sum(1 for d in desils if d.source == "estimate") + no_estimate
    print(f"PMT estimate: {n_pmt:,} families in {t_pmt:.2f} s = {n_pmt / t_pmt:,.0f} families/s "
          f"({no_estimate} with too much missing)")

    outcomes: Counter[tuple[str, str]] = Counter()
    kept: list[Decision] = []
    t0, c0 = time.perf_counter(), time.process_time()
    for f, d in zip(families, desils, strict=True):
        decisions = evaluate(rules, f, d, DAY)
        for x in decisions:
            outcomes[(x.programme_id, x.outcome)] += 1
        if args.keep:
            kept.extend(decisions)
    t_eval, cpu = time.perf_counter() - t0, time.process_time() - c0
    n_dec = sum(outcomes.values())
    print(f"evaluate(): {len(families):,} families, {persons:,} persons, {n_dec:,} decisions in "
          f"{t_eval:.2f} s wall, {cpu:.2f} s CPU")
    print(f"  {len(families) / t_eval:,.0f} families/s   {persons / t_eval:,.0f} persons/s   "
          f"{n_dec / t_eval:,.0f} decisions/s (wall; per CPU second: {len(families) / cpu:,.0f} "
          f"families/s, {persons / cpu:,.0f} persons/s)")
    kept_note = " with every decision kept" if args.keep else ""
    print(f"  peak memory (ru_maxrss): {peak_mib():.0f} MiB{kept_note}")
    by_prog: dict[str, dict[str, Any]] = {}
    for (p, o), n in sorted(outcomes.items()):
        by_prog.setdefault(p, {})[o] = n
    for p, counts in by_prog.items():
        print(f"  {p:<8} " + "  ".join(f"{o}={n:,}" for o, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
