"""A day of field work over each link profile, and the fleet on each profile.

    cd /work/main && .venv/bin/python bench/bench_connectivity.py                 # all profiles
    cd /work/main && .venv/bin/python bench/bench_connectivity.py --profiles hiri --photos 5

Per profile (through the NetSim proxy, real uvicorn process, SQLite or PostgreSQL):
- one tablet registers a day of work offline (30 households with members, 5 photos), then
  uploads the photos (tus) and syncs; the time, the bytes on the wire each way, the client's
  retries, and the ratio of the time to the profile's theoretical minimum, computed from a
  fault-free day (measured first, on kota): its bytes up / uplink + bytes down / downlink +
  (its requests + connections) x round-trip time, so retransmissions and retries count
  against the profile, not in its minimum;
- the fleet (``app.netsim.fleet``): its invariant counts (lost, duplicates, lost edits,
  stuck must be 0; converged must equal the device count).

``--time-scale`` divides the profile's durations and multiplies its bandwidth (the default
keeps hiri and kota real; moti's outages are minutes long, so it runs at 1/10 by default).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import httpx  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.auth import repository as auth_repository  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.auth.security import hash_password  # noqa: E402
from app.db import build_engine  # noqa: E402
from app.netsim.fleet import Fleet, ServerProcess  # noqa: E402
from app.netsim.profiles import load_profile  # noqa: E402
from app.netsim.proxy import NetSim  # noqa: E402
from app.registry.synthetic import SyntheticRegistry  # noqa: E402
from bench.bench_registry import DEFAULT_PG_URL, Databases, Report, console, git_revision  # noqa: E402
from sync_protocol.client import DeviceClient, RetryPolicy  # noqa: E402

DEFAULT_SCALES = {"hiri": 1.0, "moti": 10.0, "kota": 1.0}
KELURAHAN = "82.71.07.1001"


class CountingTransport(httpx.HTTPTransport):
    """Counts the requests the client sends (each costs at least one round trip)."""

    requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        type(self).requests += 1
        return super().handle_request(request)


def day_of_work(url: str, engine: Any, profile_name: str, scale: float, households: int,
                photos: int, seed: int, tmp: Path) -> dict[str, float]:
    with Session(engine) as s:
        user = User(username="bench.enum", password_hash=hash_password("bench-pass-2026"), role="enumerator")
        auth_repository.add_user(s, user, [KELURAHAN])
        s.commit()
    server = ServerProcess(url)
    server.start()
    profile = load_profile(profile_name)
    proxy = NetSim(profile, upstream=("127.0.0.1", server.port), seed=seed, time_scale=scale)
    port = proxy.start()
    CountingTransport.requests = 0
    transport = CountingTransport()
    rng = random.Random(seed)
    retries: list[object] = []
    client = DeviceClient(tmp / "day.db", transport=transport, timeout=120, rand=rng.random,
                          retry=RetryPolicy(base=1.0 / scale, cap=30.0 / scale, max_attempts=1000,
                                            deadline=None), on_retry=retries.append)
    try:
        # enrolment happens at the office, on a good link: not part of the day's figures
        client.enrol(server.url, "bench.enum", "bench-pass-2026", "tablet-bench-day")
        with client.store.transaction() as conn:
            conn.execute("UPDATE meta SET server_url = ? WHERE id = 1", (f"http://127.0.0.1:{port}",))
        ids = []
        for data in SyntheticRegistry(seed=seed).households(households):
            data.pop("id", None)
            data.update(kelurahan_code=KELURAHAN, verification_status=None)
            for m in data["members"]:
                m.pop("id", None)
            ids.append(client.create_household(data))
        files = []
        for i in range(photos):  # a phone photo resized for upload: ~60 KB of incompressible JPEG body
            path = tmp / f"rumah{i}.jpg"
            path.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(60_000))
            files.append(path)
        before = proxy.stats()
        CountingTransport.requests = 0
        t0 = time.perf_counter()
        for i, path in enumerate(files):
            digest = client.upload_media(path, kind="house_photo", content_type="image/jpeg",
                                         chunk_size=32 * 1024)
            client.attach_media(ids[i % len(ids)], digest, "house_photo")
        client.sync()
        elapsed = time.perf_counter() - t0
        after = proxy.stats()
        up, down = after.bytes_up - before.bytes_up, after.bytes_down - before.bytes_down
        return {"seconds": elapsed * scale, "up": up, "down": down,
                "requests": CountingTransport.requests, "connections": after.connections - before.connections,
                "retries": len(retries), "resets": after.resets - before.resets,
                "pending": client.status().pending}
    finally:
        client.close()
        proxy.stop()
        server.stop()


def _minimum(profile: Any, fault_free: dict[str, float]) -> float:
    """Payload / bandwidth + necessary round trips x RTT, from a fault-free day's traffic."""
    return (fault_free["up"] / profile.uplink_bytes_per_s + fault_free["down"] / profile.downlink_bytes_per_s
            + (fault_free["requests"] + fault_free["connections"]) * 2 * profile.latency_ms / 1000)


def run(kind: str, args: argparse.Namespace, report: Report) -> None:
    baseline: dict[str, float] | None = None
    names = args.profiles.split(",")
    if "kota" in names:  # measure the fault-free day first: the minimum of every profile uses it
        names = ["kota"] + [n for n in names if n != "kota"]
    for name in names:
        scale = args.time_scale or DEFAULT_SCALES.get(name, 1.0)
        dbs = Databases(kind, args.pg_url)
        reason = dbs.check()
        if reason:
            report.add(kind, 0, "SKIPPED", None, "", reason)
            return
        try:
            url = dbs.new(f"day_{name}")
            engine = build_engine(url)
            with tempfile.TemporaryDirectory() as tmp:
                day = day_of_work(url, engine, name, scale, args.households, args.photos, args.seed,
                                  Path(tmp))
            engine.dispose()
            if name == "kota" or baseline is None:
                baseline = day  # the payload and the requests a fault-free day needs
            minimum = _minimum(load_profile(name), baseline)
            note = (f"x{day['seconds'] / minimum:.2f} the minimum ({minimum:.1f} s); "
                    f"{day['up'] / 1024:.0f} KiB up, {day['down'] / 1024:.0f} KiB down, "
                    f"{day['requests']:.0f} requests, {day['retries']:.0f} retries, "
                    f"{day['resets']:.0f} resets"
                    + (f"; time scale 1/{scale:g}, seconds given in profile time" if scale != 1 else ""))
            report.add(kind, args.households, f"{name}: one day ({args.photos} photos)", day["seconds"], "s",
                       note)
            url = dbs.new(f"fleet_{name}")
            engine = build_engine(url)
            with tempfile.TemporaryDirectory() as tmp:
                fleet = Fleet(engine, url, Path(tmp), profile=name, devices=args.devices,
                              families=args.families, seed=args.seed, time_scale=max(scale, 10.0),
                              deadline=600)
                result = fleet.run()
            engine.dispose()
            report.add(kind, args.devices, f"{name}: fleet", result.seconds, "s",
                       f"lost {result.lost}, duplicates {result.duplicates}, converged "
                       f"{result.converged}/{result.devices}, lost edits {len(result.lost_edits)}, stuck "
                       f"{len(result.stuck)}; {result.server_kills} SIGKILLs, {result.retries} retries, "
                       f"{result.proxy_resets} resets, seed {result.seed}")
        finally:
            dbs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="kota,hiri,moti")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--households", type=int, default=30)
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--devices", type=int, default=6)
    parser.add_argument("--families", type=int, default=4)
    parser.add_argument("--time-scale", type=float, default=None)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    console.print(f"Sigap connectivity benchmark, git {git_revision()}, seed {args.seed}", highlight=False)
    report = Report()
    failed = False
    for kind in args.engines.split(","):
        try:
            run(kind.strip(), args, report)
        except Exception:
            failed = True
            console.print_exception()
    console.rule("figures")
    console.print(report.table(), highlight=False, soft_wrap=True, markup=False)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
