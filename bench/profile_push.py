"""cProfile of the server side of sync pushes of household creates (and updates).

    cd /work/main && .venv/bin/python bench/profile_push.py --engine postgresql
    cd /work/main && .venv/bin/python bench/profile_push.py --engine postgresql --op update

The endpoint's steps run in this thread (gunzip, JSON parse, PushRequest validation,
push(), commit, response JSON; the device is enrolled through the real app), on a fresh
migrated database, with the same synthetic families as bench_sync.py.  The first
batch is a warm-up; the next ``--batches`` batches of 500 are profiled.  Besides the
cProfile tables it prints, per batch, the wall time, the time spent inside the database
driver (cursor.execute / executemany) and the statements run, by kind.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import json
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.audit.service import ActorRef  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.auth.permissions import Principal, Role  # noqa: E402
from app.auth.security import create_access_token, hash_password  # noqa: E402
from app.config import Environment, Settings  # noqa: E402
from app.db import build_engine  # noqa: E402
from app.main import create_app  # noqa: E402
from app.sync.models import Device  # noqa: E402
from app.sync.push import PushContext, push  # noqa: E402
from bench.bench_registry import DEFAULT_PG_URL, Databases, families  # noqa: E402
from sync_protocol.messages import PushRequest  # noqa: E402

BATCH = 500
HEADERS = {"Sigap-Sync-Version": "1", "Content-Type": "application/json",
           "Content-Encoding": "gzip"}


# steps of push() timed by wrapping them (--no-profile); nested steps count in both
_STEPS = (("app.sync.push", "content_hash"), ("app.sync.push", "_household_create"),
          ("app.registry.service", "prepare_household"), ("app.registry.service", "write_households"),
          ("app.sync.repository", "claim_mutations"), ("app.sync.repository", "record_results"),
          ("app.sync.push", "_result"), ("app.sync.changes", "publish"),
          ("app.sync.push", "_merge_update"), ("app.sync.repository", "lock_households"),
          ("app.sync.repository", "field_history"), ("app.audit.service", "write"))


def _time_steps(into: dict[str, float]) -> None:
    import importlib

    for module_name, name in _STEPS:
        module = importlib.import_module(module_name)
        original = getattr(module, name)

        def timed(*a: Any, _f: Any = original, _n: str = name, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _f(*a, **kw)
            finally:
                into[_n] += time.perf_counter() - t0

        setattr(module, name, timed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--op", choices=("create", "update"), default="create")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--out", type=Path, help="write raw pstats here")
    parser.add_argument("--no-profile", action="store_true",
                        help="time the stages and SQL only (cProfile inflates Python time)")
    args = parser.parse_args()
    dbs = Databases(args.engine, args.pg_url)
    reason = dbs.check()
    if reason:
        print(f"SKIPPED: {reason}")
        return 0
    try:
        url = dbs.new("profile_push")
        secret = "bench-secret-" + "x" * 32
        settings = Settings(environment=Environment.test, database_url=url, secret_key=secret,
                            max_body_bytes=16 * 1024 * 1024)
        engine = build_engine(url)
        sql: dict[str, list[float]] = defaultdict(list)
        stage_steps: dict[str, float] = defaultdict(float)

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                    executemany: bool) -> None:
            conn.info["t0"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                   executemany: bool) -> None:
            words = statement.split()
            key = " ".join(words[:3])[:40] + (" [many]" if executemany else "")
            sql[key].append(time.perf_counter() - conn.info["t0"])

        app = create_app(settings, engine=engine)
        if args.no_profile:
            _time_steps(stage_steps)
        data = list(families(BATCH * (args.batches + 1), 2026))
        with Session(engine) as s:
            user = User(username="bench", password_hash=hash_password("bench-password"), role="admin")
            s.add(user)
            s.commit()
            token, _ = create_access_token(settings=settings, user_id=user.id or 0, role="admin")
        profiler = cProfile.Profile()
        with TestClient(app) as client:
            r = client.post("/sync/v1/devices", json={"device_id": "profile-a"},
                            headers={"Sigap-Sync-Version": "1", "Authorization": f"Bearer {token}"})
            r.raise_for_status()
            auth = {**HEADERS, "Authorization": f"Bearer {r.json()['device_token']}"}
            seq = iter(range(1, 10**9))

            def body(chunk: list[dict[str, Any]], op: str) -> bytes:
                if op == "create":
                    muts = [{"seq": next(seq), "entity": "household", "op": "create", "id": d["id"],
                             "fields": {k: v for k, v in d.items() if k != "id"}} for d in chunk]
                else:
                    muts = [{"seq": next(seq), "entity": "household", "op": "update", "id": d["id"],
                             "base_version": 1, "fields": {"asset_tv": True, "livestock_poultry": 7}}
                            for d in chunk]
                return gzip.compress(json.dumps({"mutations": muts}).encode(), compresslevel=6)

            batches = [data[i:i + BATCH] for i in range(0, len(data), BATCH)]
            if args.op == "update":
                for chunk in batches:
                    client.post("/sync/v1/push", content=body(chunk, "create"),
                                headers=auth).raise_for_status()
            walls = []
            stage: dict[str, float] = defaultdict(float)
            principal = Principal(user_id=user.id or 0, username="bench", role=Role.admin,
                                  kelurahan_scope=None, full_identifiers=True,
                                  device_id="profile-a")
            actor = ActorRef(user_id=principal.user_id, name="bench", channel="api",
                             device_id="profile-a")
            policies = app.state.sync_policies
            for k, chunk in enumerate(batches):
                payload = body(chunk, args.op)
                if k == 1:
                    sql.clear()
                    stage.clear()
                    stage_steps.clear()
                    if not args.no_profile:
                        profiler.enable()
                # what the endpoint does, in this thread: gunzip, parse, validate, push, commit,
                # serialise the response
                t0 = time.perf_counter()
                raw = json.loads(gzip.decompress(payload))
                t1 = time.perf_counter()
                request = PushRequest.model_validate(raw)
                t2 = time.perf_counter()
                with Session(engine) as session:
                    device = session.get(Device, "profile-a")
                    assert device is not None
                    ctx = PushContext(session=session, principal=principal, actor=actor,
                                      device=device, policies=policies)
                    response = push(ctx, request.mutations)
                    t3 = time.perf_counter()
                    session.commit()
                t4 = time.perf_counter()
                out = response.model_dump_json()
                t5 = time.perf_counter()
                for name, a, b in (("json.loads", t0, t1), ("PushRequest validation", t1, t2),
                                   ("push()", t2, t3), ("commit (change feed)", t3, t4),
                                   ("response JSON", t4, t5)):
                    stage[name] += b - a
                walls.append(t5 - t0)
                bad = [x for x in json.loads(out)["results"] if x["outcome"] != "applied"]
                if bad:
                    raise RuntimeError(f"not applied: {bad[0]}")
            profiler.disable()
        engine.dispose()
    finally:
        dbs.close()
    n = args.batches
    if not args.no_profile:
        stats = pstats.Stats(profiler)
        if args.out:
            stats.dump_stats(str(args.out))
        stats.strip_dirs()
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
    print(f"== {args.engine} {args.op}: ms per batch of {BATCH} (warm-up excluded, {n} batches) ==")
    label = "" if args.no_profile else " (profiled, so inflated)"
    print(f"wall{label}: {1000 * sum(walls[1:]) / n:.1f}")
    for name, secs in stage.items():
        print(f"  {1000 * secs / n:7.1f} ms  {name}")
    for name, secs in sorted(stage_steps.items(), key=lambda kv: -kv[1]):
        print(f"    {1000 * secs / n:7.1f} ms  {name} (nested in push)")
    print("SQL:")
    total = 0.0
    for key, times in sorted(sql.items(), key=lambda kv: -sum(kv[1])):
        total += sum(times)
        print(f"  {1000 * sum(times) / n:7.1f} ms  {len(times) / n:6.1f}x  {key}")
    print(f"  {1000 * total / n:7.1f} ms  in the driver")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
