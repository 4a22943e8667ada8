"""Sync v1 benchmark over real HTTP (uvicorn on loopback, gzip on), SQLite and PostgreSQL.

    cd /work/main && .venv/bin/python bench/bench_sync.py                  # 4,000 families
    cd /work/main && .venv/bin/python bench/bench_sync.py --households 1000 --engines sqlite

Figures, per engine:
- push of household creates in batches of 500 (each create carries ~4 members), in
  mutations/s, and the ratio against ``executemany`` INSERTs of the same household and
  member rows into another fresh database in the same run (ratio = protocol time / plain);
- push of updates (500 per batch, two fields each), and the ratio against an
  ``executemany`` UPDATE of the same values;
- push of a batch where 20 % of the mutations conflict (same field edited by another
  device since the base version, policy ``review``);
- pull: gzip bytes on the wire per household (with its members) for the initial sync of
  everything, through the reference pages (500 changes each).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import httpx  # noqa: E402
from sqlalchemy import Engine, bindparam  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.auth.models import User  # noqa: E402
from app.auth.security import create_access_token, hash_password  # noqa: E402
from app.config import Environment, Settings  # noqa: E402
from app.db import build_engine, utcnow  # noqa: E402
from app.registry.models import Household, Member  # noqa: E402
from bench.bench_registry import (  # noqa: E402
    DEFAULT_PG_URL,
    Databases,
    Report,
    baseline_rows,
    console,
    families,
    git_revision,
    progress_bar,
)

BATCH = 500
HEADERS = {"Sigap-Sync-Version": "1", "Accept-Encoding": "gzip"}
PUSH_HEADERS = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


class Server:
    """The real app under uvicorn in its own process (as in production: the client's CPU
    and GIL are not the server's), on a free loopback port."""

    def __init__(self, url: str, workers: int = 1) -> None:
        self.workers = workers
        self.env = {**os.environ, "SIGAP_ENVIRONMENT": "test", "SIGAP_DATABASE_URL": url,
                    "SIGAP_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
                    "SIGAP_SECRET_KEY": "bench-secret-" + "x" * 32,
                    "SIGAP_MAX_BODY_BYTES": str(16 * 1024 * 1024)}
        self.settings = Settings(environment=Environment.test, database_url=url,
                                 secret_key=self.env["SIGAP_SECRET_KEY"])
        self.engine = build_engine(url)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "uvicorn", "app.asgi:app", "--host", "127.0.0.1", "--port",
             str(self.port), "--log-level", "warning", "--no-access-log", "--workers", str(self.workers)],
            cwd=PROJECT_ROOT, env=self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        self.engine.dispose()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _admin_device(srv: Server, client: httpx.Client, device_id: str) -> dict[str, str]:
    with Session(srv.engine) as s:
        user = s.query(User).filter(User.username == "bench").first()  # type: ignore[arg-type]
        if user is None:
            user = User(username="bench", password_hash=hash_password("bench-password"), role="admin")
            s.add(user)
            s.commit()
        token, _ = create_access_token(settings=srv.settings, user_id=user.id or 0, role="admin")
    r = client.post(
        "/sync/v1/devices",
        json={"device_id": device_id},
        headers={"Sigap-Sync-Version": "1", "Authorization": f"Bearer {token}"},
    )
    r.raise_for_status()
    return {**HEADERS, "Authorization": f"Bearer {r.json()['device_token']}"}


def _push(
    client: httpx.Client, headers: dict[str, str], mutations: list[dict[str, Any]]
) -> tuple[float, list[dict[str, Any]]]:
    body = gzip.compress(json.dumps({"mutations": mutations}).encode(), compresslevel=6)
    t0 = time.perf_counter()
    r = client.post("/sync/v1/push", content=body, headers={**headers, **PUSH_HEADERS})
    elapsed = time.perf_counter() - t0
    r.raise_for_status()
    return elapsed, r.json()["results"]


def _plain_insert(engine: Engine, chunk: list[dict[str, Any]]) -> float:
    """Seconds to INSERT the chunk's household and member rows with executemany, one transaction."""
    now = utcnow()
    households, members = [], []
    for d in chunk:
        hh, ms = baseline_rows(d, now)
        households.append(hh)
        members += ms
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(Household.__table__.insert(), households)  # type: ignore[attr-defined]
        conn.execute(Member.__table__.insert(), members)  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def _concurrent_updates(url: str, ids: list[str], devices: int) -> float:
    """Aggregate updates/s with ``devices`` tablets pushing at once, each its own families."""
    share = len(ids) // devices
    errors: list[BaseException] = []
    with Server(url, workers=2) as srv, httpx.Client(base_url=srv.base, timeout=600) as client:
        heads = [_admin_device(srv, client, f"bench-fleet-{k:04d}") for k in range(devices)]
        versions = {i: _version(srv, i) for i in ids[:share * devices]}

        def work(k: int) -> None:
            try:
                with httpx.Client(base_url=srv.base, timeout=600) as own:
                    mine = ids[k * share:(k + 1) * share]
                    for start in range(0, len(mine), BATCH):
                        muts = [{"seq": 10**6 + start + j, "entity": "household", "op": "update", "id": i,
                                 "base_version": versions[i], "fields": {"asset_lpg_5_5kg": True}}
                                for j, i in enumerate(mine[start:start + BATCH])]
                        _, results = _push(own, heads[k], muts)
                        if any(r["outcome"] != "applied" for r in results):
                            raise RuntimeError("concurrent update not applied")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(devices)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return share * devices / elapsed


def _version(srv: Server, household_id: str) -> int:
    with Session(srv.engine) as s:
        h = s.get(Household, uuid.UUID(household_id))
        assert h is not None
        return h.version


def run_engine(kind: str, args: argparse.Namespace, report: Report) -> None:
    dbs = Databases(kind, args.pg_url)
    reason = dbs.check()
    if reason:
        report.add(kind, args.households, "SKIPPED", None, "", reason)
        return
    n = args.households
    try:
        url = dbs.new("sync")
        data = list(families(n, args.seed))
        members = sum(len(d["members"]) for d in data)
        with Server(url) as srv, httpx.Client(base_url=srv.base, timeout=600) as client:
            a = _admin_device(srv, client, "bench-device-a")
            b = _admin_device(srv, client, "bench-device-b")
            seq = iter(range(1, 10**9))
            # creates, each batch followed by the plain INSERT of the same rows into the baseline
            # database (interleaved, so that machine noise hits both sides alike)
            baseline = build_engine(dbs.new("baseline"))
            create_s = plain_s = 0.0
            with progress_bar() as bar:
                task = bar.add_task(f"{kind} push creates", total=n)
                for start in range(0, n, BATCH):
                    chunk = data[start:start + BATCH]
                    muts = [{"seq": next(seq), "entity": "household", "op": "create", "id": d["id"],
                             "fields": {k: v for k, v in d.items() if k != "id"}} for d in chunk]
                    s, results = _push(client, a, muts)
                    create_s += s
                    bad = [r for r in results if r["outcome"] != "applied"]
                    if bad:
                        raise RuntimeError(f"create not applied: {bad[0]}")
                    plain_s += _plain_insert(baseline, chunk)
                    bar.update(task, advance=len(chunk))
            report.add(kind, n, "push creates (500/batch, ~4 members each)", n / create_s, "mutations/s",
                       f"{(n + members) / create_s:,.0f} household+member rows/s; x{create_s / plain_s:.1f} "
                       f"the plain executemany of those rows ({(n + members) / plain_s:,.0f} rows/s)")
            # updates: two observation fields per household, each batch followed by the plain UPDATE
            ids = [d["id"] for d in data]
            table = Household.__table__  # type: ignore[attr-defined]
            stmt = (table.update().where(table.c.id == bindparam("hid"))
                    .values(asset_tv=True, livestock_poultry=7))
            update_s = plain_update_s = 0.0
            for start in range(0, n, BATCH):
                batch_ids = ids[start:start + BATCH]
                muts = [{"seq": next(seq), "entity": "household", "op": "update", "id": i, "base_version": 1,
                         "fields": {"asset_tv": True, "livestock_poultry": 7}} for i in batch_ids]
                s, results = _push(client, a, muts)
                update_s += s
                if any(r["outcome"] != "applied" for r in results):
                    raise RuntimeError("update not applied")
                t0 = time.perf_counter()
                with baseline.begin() as conn:
                    conn.execute(stmt, [{"hid": uuid.UUID(i)} for i in batch_ids])
                plain_update_s += time.perf_counter() - t0
            baseline.dispose()
            report.add(kind, n, "push updates (500/batch, 2 fields)", n / update_s, "mutations/s",
                       f"x{update_s / plain_update_s:.1f} the plain executemany UPDATE")
            # conflicts: device b changes the address of every 5th household first (version 2 -> 3)
            subset = ids[: min(n, BATCH)]
            b_muts = [
                {
                    "seq": next(seq),
                    "entity": "household",
                    "op": "update",
                    "id": i,
                    "base_version": 2,
                    "fields": {"address": "Jl. Dari Tablet B"},
                }
                for i in subset[::5]
            ]
            _push(client, b, b_muts)
            conflicted = set(subset[::5])
            a_muts = [
                {
                    "seq": next(seq),
                    "entity": "household",
                    "op": "update",
                    "id": i,
                    "base_version": 2,
                    "fields": {"address": "Jl. Dari Tablet A"} if i in conflicted else {"asset_fridge": True},
                }
                for i in subset
            ]
            s, results = _push(client, a, a_muts)
            outcomes = [r["outcome"] for r in results]
            report.add(
                kind,
                len(subset),
                "push with 20% conflicts",
                len(subset) / s,
                "mutations/s",
                f"{outcomes.count('conflict')} conflict, {outcomes.count('applied')} applied",
            )
            # several tablets at once, against two uvicorn workers (what a server really sees)
            report.add(kind, n, f"push updates, {args.devices} devices at once, 2 workers",
                       _concurrent_updates(url, ids, args.devices), "mutations/s", "aggregate")
            # pull: initial sync of everything, gzip bytes on the wire
            c = _admin_device(srv, client, "bench-device-c")
            wire = 0
            cursor = None
            pulled = 0
            t0 = time.perf_counter()
            while True:
                params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                r = client.get("/sync/v1/pull", params=params, headers=c)
                r.raise_for_status()
                wire += r.num_bytes_downloaded
                body = r.json()
                pulled += len(body["changes"])
                cursor = body["cursor"]
                if not body["has_more"]:
                    break
            pull_s = time.perf_counter() - t0
            report.add(
                kind,
                n,
                "pull initial sync, gzip bytes per household",
                wire / n,
                "bytes",
                f"{members / n:.1f} members each; {pulled:,} changes in {pull_s:.1f} s",
            )
    finally:
        dbs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=4000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--devices", type=int, default=2, help="tablets pushing at once (2)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    console.print(
        f"Sigap sync benchmark {datetime.now():%Y-%m-%d %H:%M} python {platform.python_version()} "
        f"N={args.households:,} git {git_revision()}",
        highlight=False,
    )
    report = Report()
    failed = False
    for kind in [e.strip() for e in args.engines.split(",") if e.strip()]:
        try:
            run_engine(kind, args, report)
        except Exception:
            failed = True
            console.print_exception()
            report.add(kind, args.households, "FAILED", None, "", "see the traceback above")
    console.rule("figures")
    console.print(report.table(), highlight=False, soft_wrap=True, markup=False)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
