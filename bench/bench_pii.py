"""What sealing NIK/KK numbers at rest costs (app/pii.py): push and dedup, on vs off.

    .venv/bin/python bench/bench_pii.py                       # both engines
    .venv/bin/python bench/bench_pii.py --engines sqlite --households 1000 --dedup 3000

For each engine, every measurement runs on a fresh migrated database per mode, the modes
alternating (on, off, then off, on) so that machine noise hits both alike; the figure is
the ratio of the medians, time with sealing on / time with it off:

- push: ``--households`` household creates (~4 members each) through ``/sync/v1/push`` in
  batches of 500, in-process (the app and its ASGI stack, no network);
- dedup batch: ``batch.run_batch`` over ``--dedup`` synthetic households (it reads every
  NIK and KK, opens them, and rewrites every match key as a blind index);
- dedup incremental: ``service.check_household`` of 100 held-out households, p50.

"Off" is :class:`app.pii.PlainKeyring` (identity: NIK in clear, the index the NIK itself),
which exists for this baseline only; the server cannot be configured without keys.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app import pii  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.auth.security import create_access_token, hash_password  # noqa: E402
from app.config import Environment, Settings  # noqa: E402
from app.db import build_engine  # noqa: E402
from app.main import create_app  # noqa: E402
from app.reconcile import synthetic_registry  # noqa: E402
from app.reconcile.batch import run_batch  # noqa: E402
from app.reconcile.engine import EngineState  # noqa: E402
from app.reconcile.service import check_household  # noqa: E402
from app.registry.synthetic import load_kelurahan_codes  # noqa: E402
from bench.bench_registry import (  # noqa: E402
    DEFAULT_PG_URL,
    Databases,
    Report,
    console,
    families,
    git_revision,
)

BATCH = 500
SECRET = "bench-secret-" + "x" * 32
MODES = {"on": lambda: pii.keyring_for(Settings(secret_key=SECRET)), "off": pii.PlainKeyring}


def _push_seconds(url: str, data: list[dict[str, Any]]) -> float:
    settings = Settings(environment=Environment.test, database_url=url, secret_key=SECRET,
                        audit_seal_seconds=0, max_body_bytes=16 * 1024 * 1024)
    engine = build_engine(url)
    app = create_app(settings, engine=engine)  # sets the keyring: the caller's `using` comes after
    try:
        with Session(engine) as s:
            user = User(username="bench", password_hash=hash_password("bench-password"), role="admin")
            s.add(user)
            s.commit()
            token, _ = create_access_token(settings=settings, user_id=user.id or 0, role="admin")
        with TestClient(app) as client:
            r = client.post("/sync/v1/devices", json={"device_id": "bench-pii"},
                            headers={"Sigap-Sync-Version": "1", "Authorization": f"Bearer {token}"})
            r.raise_for_status()
            headers = {"Sigap-Sync-Version": "1", "Authorization": f"Bearer {r.json()['device_token']}",
                       "Content-Type": "application/json", "Content-Encoding": "gzip"}
            elapsed = 0.0
            seq = 0
            for start in range(0, len(data), BATCH):
                muts = []
                for d in data[start:start + BATCH]:
                    seq += 1
                    muts.append({"seq": seq, "entity": "household", "op": "create", "id": d["id"],
                                 "fields": {k: v for k, v in d.items() if k != "id"}})
                body = gzip.compress(json.dumps({"mutations": muts}).encode(), compresslevel=6)
                t0 = time.perf_counter()
                r = client.post("/sync/v1/push", content=body, headers=headers)
                elapsed += time.perf_counter() - t0
                r.raise_for_status()
                bad = [x for x in r.json()["results"] if x["outcome"] != "applied"]
                if bad:
                    raise RuntimeError(f"create not applied: {bad[0]}")
        return elapsed
    finally:
        engine.dispose()


def _dedup_seconds(url: str, households: int, seed: int) -> tuple[float, float]:
    """(batch run wall seconds, incremental check p50 ms)."""
    engine = build_engine(url)
    try:
        fams = synthetic_registry.families(households, seed=seed, kelurahan_codes=load_kelurahan_codes())
        held = set(map(id, random.Random(seed).sample(fams, 100)))
        taken_nik: set[str] = set()
        taken_kk: set[str] = set()
        with Session(engine) as session:
            synthetic_registry.load(session, [f for f in fams if id(f) not in held],
                                    taken_nik=taken_nik, taken_kk=taken_kk)
            session.commit()
        t0 = time.perf_counter()
        run_batch(engine, merge_auto=False)
        batch_s = time.perf_counter() - t0
        with Session(engine) as session:
            state = EngineState.load(session)
            later = [f for f in fams if id(f) in held]
            synthetic_registry.load(session, later, taken_nik=taken_nik, taken_kk=taken_kk)
            session.commit()
        latencies = []
        for fam in later:
            with Session(engine, expire_on_commit=False) as session:
                t0 = time.perf_counter()
                check_household(session, uuid.UUID(str(fam.household_id)), state, merge_auto=False)
                session.commit()
                latencies.append((time.perf_counter() - t0) * 1000)
        return batch_s, statistics.median(latencies)
    finally:
        engine.dispose()


def _alternate(rounds: int, measure: Callable[[str], Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"on": [], "off": []}
    for r in range(rounds):
        for mode in (("on", "off") if r % 2 == 0 else ("off", "on")):
            with pii.using(MODES[mode]()):
                out[mode].append(measure(mode))
    return out


def per_value(report: Report, n: int = 100_000) -> None:
    """The cost of one seal, one open and one blind index of a NIK, in microseconds."""
    ring = MODES["on"]()
    niks = [f"8271{i:012d}" for i in range(n)]
    t0 = time.perf_counter()
    tokens = [ring.seal(v, "nik") for v in niks]
    t1 = time.perf_counter()
    for t in tokens:
        ring.open(t, "nik")
    t2 = time.perf_counter()
    for v in niks:
        ring.blind("nik", v)
    t3 = time.perf_counter()
    timed = (("seal (AES-256-GCM)", t1 - t0), ("open", t2 - t1), ("blind index (HMAC)", t3 - t2))
    for name, seconds in timed:
        report.add("-", n, f"one NIK: {name}", seconds / n * 1e6, "us")


def run_engine(kind: str, args: argparse.Namespace, report: Report) -> None:
    dbs = Databases(kind, args.pg_url)
    reason = dbs.check()
    if reason:
        report.add(kind, args.households, "SKIPPED", None, "", reason)
        return
    try:
        data = list(families(args.households, args.seed))
        members = sum(len(d["members"]) for d in data)
        fresh = itertools.count(1)  # a label per database: Databases.new reuses a label's file
        push = _alternate(args.rounds,
                          lambda mode: _push_seconds(dbs.new(f"push_{mode}_{next(fresh)}"), data))
        on, off = statistics.median(push["on"]), statistics.median(push["off"])
        report.add(kind, args.households, "push creates, sealing on", args.households / on, "mut/s",
                   f"x{on / off:.3f} the time with sealing off ({args.households / off:,.0f}/s); "
                   f"{members:,} NIKs sealed and indexed")
        dedup = _alternate(args.rounds, lambda mode: _dedup_seconds(
            dbs.new(f"dedup_{mode}_{next(fresh)}"), args.dedup, args.seed))
        on_b = statistics.median(x[0] for x in dedup["on"])
        off_b = statistics.median(x[0] for x in dedup["off"])
        report.add(kind, args.dedup, "dedup batch run, sealing on", on_b, "s",
                   f"x{on_b / off_b:.3f} the time with sealing off ({off_b:.1f} s)")
        on_i = statistics.median(x[1] for x in dedup["on"])
        off_i = statistics.median(x[1] for x in dedup["off"])
        report.add(kind, args.dedup, "dedup incremental check p50, sealing on", on_i, "ms",
                   f"x{on_i / off_i:.3f} the time with sealing off ({off_i:.1f} ms)")
    finally:
        dbs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=2000, help="households pushed per run")
    parser.add_argument("--dedup", type=int, default=6000, help="households in the dedup runs")
    parser.add_argument("--rounds", type=int, default=2, help="on/off pairs per measurement")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    report = Report()
    console.print(f"bench_pii at {git_revision()}: push {args.households:,} households, dedup "
                  f"{args.dedup:,}, {args.rounds} on/off rounds")
    per_value(report)
    for kind in args.engines.split(","):
        run_engine(kind.strip(), args, report)
    console.print(report.table(), highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
