"""cProfile of registry.service.create_household (the hot path of bulk registration).

    cd /work/main && .venv/bin/python bench/profile_create.py                 # SQLite, 300
    cd /work/main && .venv/bin/python bench/profile_create.py --engine postgresql --households 300

Uses the same synthetic families, database set-up and clean-up as bench_registry.py.  Only
create_household and the commits are profiled (validation is timed separately by the
benchmark).  Prints the top functions by own time and by cumulative time; --out writes the
raw stats for snakeviz / pstats.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_registry import DEFAULT_PG_URL, Databases, families
from sqlmodel import Session

from app.db import build_engine
from app.registry.schemas import HouseholdCreate
from app.registry.service import create_household
from app.seeding import SEED_ACTOR, SYSTEM_PRINCIPAL


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=300)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--warmup", type=int, default=50, help="households created unprofiled")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="write raw pstats here")
    args = parser.parse_args()

    dbs = Databases(args.engine, args.pg_url)
    reason = dbs.check()
    if reason:
        print(f"SKIPPED: {args.engine} not reachable ({reason})")
        return 0
    try:
        engine = build_engine(dbs.new("profile"))
        data = [HouseholdCreate.model_validate(d)
                for d in families(args.warmup + args.households, args.seed)]
        profiler = cProfile.Profile()
        with Session(engine, expire_on_commit=False) as session:
            for i, validated in enumerate(data):
                if i == args.warmup:
                    session.commit()
                    profiler.enable()
                create_household(session=session, data=validated, actor=SEED_ACTOR,
                                 principal=SYSTEM_PRINCIPAL)
            session.commit()
            profiler.disable()
        engine.dispose()
    finally:
        dbs.close()
    stats = pstats.Stats(profiler)
    if args.out:
        stats.dump_stats(str(args.out))
    stats.strip_dirs()
    print(f"== {args.engine}: {args.households} households profiled, sorted by own time ==")
    stats.sort_stats("tottime").print_stats(args.top)
    print("== sorted by cumulative time ==")
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
