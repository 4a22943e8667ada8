"""Load test: a realistic mix of tablets, USSD residents and Dinas Sosial report users against the
real app under ``uvicorn --workers N`` on loopback, for a bounded time.

    .venv/bin/python bench/bench_load.py                          # PostgreSQL, 2 workers, 60 s
    .venv/bin/python bench/bench_load.py --seconds 30 --engine sqlite --workers 1
    .venv/bin/python bench/bench_load.py --ramp                   # saturation point

Setup (not timed): a fresh database (PostgreSQL on SIGAP_BENCH_POSTGRES_URL's server, or a
SQLite file), migrated, with Ternate's wilayah, ``--families`` demo families (``sigap seed
--demo``), a scoring run (``sigap score run``) and a report snapshot, so that eligibility and
report queries have data; ``--devices`` enumerators (two kelurahan each, spread over the city),
each with one tablet enrolled through ``POST /sync/v1/devices`` and holding its initial pull;
one ``dinsos`` user.

Load (``--seconds``), every client a coroutine of one asyncio ``httpx.AsyncClient``:
- tablets: think, then push a gzip batch of 1-4 new households (with members, as
  ``SyntheticRegistry`` makes them, in the tablet's kelurahan) and 0-4 edits of households the
  tablet holds (``base_version`` from its replica), then pull until ``has_more`` is false
  (``If-None-Match`` with the last ``ETag``). A push that fails (5xx, timeout) is sent again,
  byte for byte, as the reference client does;
- USSD residents (Africa's Talking adapter, with the gateway's key): a whole registration
  (17 screens: NIK, confirm, KK, kecamatan, kelurahan, members, three questions, PIN twice,
  send), then a status check from the same phone (main menu, ``2``, PIN); then a new resident;
- Dinas Sosial users: ``GET /households`` with filters, ``/eligibility/decisions``,
  ``/reports/checklist``, ``/reports/trends/desil`` and ``/reports/desil-matrix`` (any of them
  missing from the server's route table is skipped with a note).

Per endpoint: requests, req/s, p50/p99 latency (ms, every answered or timed-out request),
5xx, timeouts or connection errors, unexpected 4xx, and wrong answers (a 2xx with the wrong
screen); beside them the server's own p50/p99 per route, from the app's access log (the server
runs with SIGAP_LOG_LEVEL=INFO), and a ``GET /health`` probe once a second. Past saturation on a
shared machine the generator itself queues: compare the two (docs/benchmarks.md).
Overall: acknowledged mutations/s (push results ``applied`` or ``merged``) and USSD
sessions completed/s. ``--ramp`` runs steps of growing client counts (same mix proportions,
think time x ``--ramp-think``) and names the saturation point. Afterwards (server stopped):
every acknowledged create is in the database, every acknowledged edit's version is there,
households created by the run lie between what was acknowledged and what was sent, and no NIK
or KK number belongs to two active households. The database is dropped at the end, also on
error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import itertools
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import httpx  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from app.auth import repository as auth_repository  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.auth.security import create_access_token, hash_password  # noqa: E402
from app.registry.models import Household  # noqa: E402
from app.registry.synthetic import SyntheticRegistry  # noqa: E402
from bench.bench_channels import SECRETS, ChannelServer, quantile, ussd_form  # noqa: E402
from bench.bench_registry import DEFAULT_PG_URL, Databases, console, git_revision  # noqa: E402

WILAYAH_CSV = PROJECT_ROOT / "seed_data" / "ternate_wilayah.csv"
SYNC = {"Sigap-Sync-Version": "1", "Accept-Encoding": "gzip"}
USSD_URL = "/channels/ussd/africastalking"
REPORT_PATHS = ("/households", "/eligibility/decisions", "/reports/checklist", "/reports/trends/desil",
                "/reports/desil-matrix")
# seconds between two actions of one client, before --think-scale / --ramp-think
DEVICE_THINK = (5.0, 15.0)      # an enumerator syncs after a visit or two
USSD_THINK = (2.0, 6.0)         # a resident reads a screen and types
USSD_PAUSE = (5.0, 20.0)        # between the registration and the status check
REPORT_THINK = (1.0, 4.0)       # an analyst reads a table
PINS = ("2580", "1357", "8642", "4071", "9315", "7264")
EDIT_FIELDS: dict[str, tuple[Any, ...]] = {
    "asset_tv": (True, False), "asset_fridge": (True, False), "asset_motorbike": (True, False),
    "livestock_poultry": tuple(range(0, 15)), "floor_area_m2": tuple(range(15, 120, 5)),
    "power_va": (450, 900, 1300), "cooking_fuel": ("lpg_3kg", "firewood"),
}
MIX = {"devices": 200, "ussd": 500, "reports": 20}
PROBE = "GET /health (probe)"


# --------------------------------------------------------------------------- measurements

@dataclass
class Stats:
    """Everything one phase measured; latencies in ms."""

    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ok: Counter[str] = field(default_factory=Counter)
    e5xx: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    e4xx: Counter[str] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)
    first_error: dict[str, str] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    pushes_retried: int = 0
    ussd: Counter[str] = field(default_factory=Counter)
    server_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wall: float = 0.0
    cpu: float = 0.0
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def note(self, label: str, why: str) -> None:
        self.first_error.setdefault(label, why[:200])

    def requests(self, label: str | None = None) -> int:
        return sum(len(v) for k, v in self.ms.items() if label is None or k == label)

    def errors(self, label: str) -> int:
        return self.e5xx[label] + self.timeouts[label] + self.e4xx[label] + self.wrong[label]

    @property
    def mutations(self) -> int:
        return self.outcomes["applied"] + self.outcomes["merged"]


@dataclass
class Ledger:
    """What the server acknowledged, for the check after the run."""

    acked_creates: set[str] = field(default_factory=set)
    sent_creates: set[str] = field(default_factory=set)
    acked_versions: dict[str, int] = field(default_factory=dict)
    ussd_sent: int = 0       # residents who sent the final confirmation
    ussd_done: int = 0       # ... and got the thank-you screen


class Http:
    """One shared client; every request timed and classified under ``label``."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.stats = Stats()
        self.last_status: int | None = None

    async def call(self, label: str, method: str, url: str, *, expect: Iterable[int] = (200,),
                   **kw: Any) -> httpx.Response | None:
        st = self.stats
        t0 = time.perf_counter()
        try:
            r = await self.client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.last_status = None
            st.ms[label].append((time.perf_counter() - t0) * 1000)
            st.timeouts[label] += 1
            st.note(label, f"{type(exc).__name__}: {exc}")
            return None
        st.ms[label].append((time.perf_counter() - t0) * 1000)
        self.last_status = r.status_code
        if r.status_code >= 500:
            st.e5xx[label] += 1
            st.note(label, f"{r.status_code} {r.text}")
            return None
        if r.status_code not in tuple(expect):
            st.e4xx[label] += 1
            st.note(label, f"{r.status_code} {r.text}")
            return None
        st.ok[label] += 1
        return r


async def pause(rng: random.Random, span: tuple[float, float], scale: float, stop_at: float) -> bool:
    """Think for a while; False when the phase ends first."""
    left = stop_at - time.monotonic()
    wait = rng.uniform(*span) * scale
    if wait >= left:
        if left > 0:
            await asyncio.sleep(left)
        return False
    await asyncio.sleep(wait)
    return True


# --------------------------------------------------------------------------- tablets

@dataclass
class Device:
    device_id: str
    username: str
    scope: list[str]
    user_token: str
    seed: int
    token: str = ""
    seq: int = 0
    cursor: str | None = None
    etag: str | None = None
    replica: dict[str, int] = field(default_factory=dict)  # household id -> version
    gen: SyntheticRegistry | None = None
    rng: random.Random | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {**SYNC, "Authorization": f"Bearer {self.token}"}

    def batch(self) -> list[dict[str, Any]]:
        assert self.gen is not None and self.rng is not None
        rng, muts = self.rng, []
        for _ in range(rng.randint(1, 4)):
            data = self.gen.household()
            data.pop("verification_status", None)
            self.seq += 1
            muts.append({"seq": self.seq, "entity": "household", "op": "create", "id": data.pop("id"),
                         "fields": data, "recorded_at": datetime.now().astimezone().isoformat()})
        known = sorted(self.replica)
        for hid in rng.sample(known, min(len(known), rng.randint(0, 4))):
            names = rng.sample(sorted(EDIT_FIELDS), rng.randint(1, 3))
            self.seq += 1
            muts.append({"seq": self.seq, "entity": "household", "op": "update", "id": hid,
                         "base_version": self.replica[hid],
                         "fields": {n: rng.choice(EDIT_FIELDS[n]) for n in names}})
        return muts


async def enrol(http: httpx.AsyncClient, dev: Device, refused: Counter[str]) -> None:
    """Enrol as the reference client does; a 409 that says "enrol again" is retried (counted)."""
    for _ in range(10):
        r = await http.post("/sync/v1/devices",
                            json={"device_id": dev.device_id, "label": f"Tablet {dev.username}"},
                            headers={"Sigap-Sync-Version": "1", "Authorization": f"Bearer {dev.user_token}"})
        if r.status_code == 409 and "enrol again" in r.text:
            refused[r.json()["detail"]] += 1
            await asyncio.sleep(0.2)
            continue
        r.raise_for_status()
        dev.token = r.json()["device_token"]
        return
    raise RuntimeError(f"{dev.device_id}: enrolment refused 10 times: {r.text}")


async def pull(h: Http, dev: Device, label: str = "GET /sync/v1/pull") -> bool:
    for _ in range(50):
        params: dict[str, Any] = {"limit": 500, **({"cursor": dev.cursor} if dev.cursor else {})}
        headers = dev.headers | ({"If-None-Match": dev.etag} if dev.etag else {})
        r = await h.call(label, "GET", "/sync/v1/pull", params=params, headers=headers, expect=(200, 304))
        if r is None:
            return False
        if r.status_code == 304:
            return True
        body = r.json()
        for ch in body["changes"]:
            if ch["entity"] != "household":
                continue
            if ch["kind"] == "upsert":
                dev.replica[ch["id"]] = ch["version"]
            else:
                dev.replica.pop(ch["id"], None)
        dev.cursor, dev.etag = body["cursor"], r.headers.get("etag")
        if not body["has_more"]:
            return True
    return True


async def push(h: Http, dev: Device, muts: list[dict[str, Any]], ledger: Ledger) -> None:
    body = gzip.compress(json.dumps({"mutations": muts}).encode(), compresslevel=6)
    headers = dev.headers | {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    for m in muts:
        if m["op"] == "create":
            ledger.sent_creates.add(m["id"])
    for attempt in range(4):  # the same bytes again: idempotent by (device, seq)
        if attempt:
            h.stats.pushes_retried += 1
            await asyncio.sleep(0.5 * 2 ** attempt * (dev.rng or random.Random()).random())
        r = await h.call("POST /sync/v1/push", "POST", "/sync/v1/push", content=body, headers=headers)
        if r is None:
            if h.last_status is not None and h.last_status < 500 and h.last_status not in (408, 429):
                return  # a 4xx will fail again: the reference client does not retry it
            continue
        for res in r.json()["results"]:
            outcome = res["outcome"]
            first = res.get("original_outcome", outcome) if outcome == "duplicate" else outcome
            h.stats.outcomes[outcome] += 1
            if first in ("applied", "merged", "conflict") and res.get("version") is not None:
                dev.replica[res["id"]] = max(dev.replica.get(res["id"], 0), res["version"])
                if first in ("applied", "merged"):
                    ledger.acked_versions[res["id"]] = max(ledger.acked_versions.get(res["id"], 0),
                                                           res["version"])
            if first == "applied" and res["id"] in ledger.sent_creates and res.get("version") == 1:
                ledger.acked_creates.add(res["id"])
            elif first == "rejected":
                h.stats.note("push rejected", json.dumps(res)[:200])
        return


async def device_loop(h: Http, dev: Device, stop_at: float, scale: float, ledger: Ledger) -> None:
    assert dev.rng is not None
    while await pause(dev.rng, DEVICE_THINK, scale, stop_at):
        await push(h, dev, dev.batch(), ledger)
        await pull(h, dev)


# --------------------------------------------------------------------------- USSD residents

def resident_nik(i: int) -> str:
    """A valid NIK, unique per resident, in serial band 9001+ (synthetic families use lower ones)."""
    kec, day, month = 1 + i % 8, 1 + (i // 8) % 28, 1 + (i // 224) % 12
    yy, female = 50 + (i // 2688) % 40, (i // 107_520) % 2 == 1
    return f"8271{kec:02d}{day + (40 if female else 0):02d}{month:02d}{yy:02d}{9001 + i // 215_040:04d}"


def resident_kk(i: int, kecamatan_code: str) -> str:
    region = kecamatan_code.replace(".", "")
    return f"{region}{1 + i % 28:02d}{1 + (i // 28) % 12:02d}{10 + (i // 336) % 15:02d}{9001 + i // 5040:04d}"


async def discover_places(client: httpx.AsyncClient, pairs: list[tuple[str, str, str]]
                          ) -> list[tuple[str, list[str]]]:
    """For each (kecamatan code, kecamatan name, kelurahan name): the inputs that pick it."""
    out = []
    for kec_code, kec_name, kel_name in pairs:
        path = ["1", resident_nik(10**6), "1", resident_kk(10**6, kec_code)]  # a walk: nothing saved
        for name in (kec_name, kel_name):
            for _ in range(30):
                r = await client.post(USSD_URL, params={"key": SECRETS["africastalking"]},
                                      data=ussd_form("load-discover", "081199990000", "*".join(path)))
                r.raise_for_status()
                found = [m.group(1) for m in (re.match(r"^(\d+) (.+)$", line) for line in r.text.splitlines())
                         if m and m.group(2) == name[:22]]
                if found:
                    path.append(found[0])
                    break
                path.append("98")
            else:
                raise RuntimeError(f"{name} not found in the USSD menus")
        out.append((kec_code, path[4:]))
    return out


async def ussd_session(h: Http, sid: str, phone: str, inputs: list[str], label: str,
                       expect_end: str, rng: random.Random, scale: float, stop_at: float) -> bool | None:
    """One USSD session; True completed, False failed, None cut by the end of the phase."""
    for step in range(len(inputs) + 1):
        if step and not await pause(rng, USSD_THINK, scale, stop_at):
            return None
        last = step == len(inputs)
        name = f"USSD {label} (final)" if last else "USSD step"
        r = await h.call(name, "POST", USSD_URL, params={"key": SECRETS["africastalking"]},
                         data=ussd_form(sid, phone, "*".join(inputs[:step])))
        if r is None:
            return False
        if not r.text.startswith(expect_end if last else "CON "):
            h.stats.wrong[name] += 1
            h.stats.note(name, f"unexpected screen: {r.text!r}")
            return False
    return True


async def resident_loop(h: Http, counter: list[int], places: list[tuple[str, list[str]]], seed: int,
                        stop_at: float, scale: float, ledger: Ledger) -> None:
    while time.monotonic() < stop_at:
        i = counter[0]
        counter[0] += 1
        rng = random.Random(seed * 1_000_003 + i)
        kec, choice = places[i % len(places)]
        phone, pin = f"0812{30_000_000 + i:08d}", rng.choice(PINS)
        inputs = ["1", resident_nik(i), "1", resident_kk(i, kec), *choice, str(rng.randint(1, 8)),
                  str(rng.randint(1, 4)), str(rng.randint(1, 5)), str(rng.randint(1, 2)), pin, pin, "1"]
        if not await pause(rng, USSD_THINK, scale * 0.5, stop_at):  # residents do not all dial at once
            return
        h.stats.ussd["register started"] += 1
        done = await ussd_session(h, f"load-{i}-r", phone, inputs, "register", "END Terima kasih", rng, scale,
                                  stop_at)
        if done is not None:
            ledger.ussd_sent += 1
        if not done:
            continue
        ledger.ussd_done += 1
        h.stats.ussd["register completed"] += 1
        if not await pause(rng, USSD_PAUSE, scale, stop_at):
            return
        h.stats.ussd["status started"] += 1
        if await ussd_session(h, f"load-{i}-s", phone, ["2", pin], "status", "END SIGAP: Keluarga NIK", rng,
                              scale, stop_at):
            h.stats.ussd["status completed"] += 1


# --------------------------------------------------------------------------- Dinas Sosial

def report_queries(rng: random.Random, routes: set[str], kecamatan: list[str], kelurahan: list[str]
                   ) -> list[tuple[str, dict[str, Any]]]:
    kec, kel = rng.choice(kecamatan), rng.choice(kelurahan)
    candidates: list[tuple[str, dict[str, Any]]] = [
        ("/households", {"kecamatan": kec, "limit": 50}),
        ("/households", {"kelurahan": kel,
                         "verification_status": rng.choice(["self_reported", "field_verified"])}),
        ("/households", {"source": rng.choice(["ussd", "enumerator", "import"]), "limit": 100}),
        ("/eligibility/decisions", {"kecamatan": kec, "limit": 50}),
        ("/eligibility/decisions", {"outcome": "eligible", "desil": rng.randint(1, 4), "limit": 50}),
        ("/reports/checklist", {"kecamatan": kec}),
        ("/reports/checklist", {}),
        ("/reports/trends/desil", {"kecamatan": kec}),
        ("/reports/desil-matrix", {}),
    ]
    return [c for c in candidates if c[0] in routes]


async def report_loop(h: Http, token: str, rng: random.Random, routes: set[str], kecamatan: list[str],
                      kelurahan: list[str], stop_at: float, scale: float) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    while await pause(rng, REPORT_THINK, scale, stop_at):
        path, params = rng.choice(report_queries(rng, routes, kecamatan, kelurahan))
        await h.call(f"GET {path}", "GET", path, params=params, headers=headers)


async def health_probe(h: Http, stop_at: float) -> None:
    """GET /health once a second: not held back by the server's in-flight limit, so its latency is
    the event loop's and the machine's, not the database's (a floor to read the others against)."""
    while time.monotonic() < stop_at:
        await h.call(PROBE, "GET", "/health")
        await asyncio.sleep(1.0)


# --------------------------------------------------------------------------- setup

@dataclass
class World:
    devices: list[Device]
    dinsos_token: str
    routes: set[str]
    places: list[tuple[str, list[str]]]
    kecamatan: list[str]
    kelurahan: list[str]
    resident: list[int] = field(default_factory=lambda: [0])
    ledger: Ledger = field(default_factory=Ledger)


def wilayah() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    with WILAYAH_CSV.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    kec = [(r["kode_kemendagri"], r["nama_kemendagri"]) for r in rows if r["level"] == "kecamatan"]
    kel = [(r["kode_kemendagri"], r["nama_kemendagri"]) for r in rows if r["level"] == "kelurahan"]
    return kec, kel


def cli(url: str, *args: str) -> float:
    env = {**os.environ, "SIGAP_DATABASE_URL": url, "SIGAP_ENVIRONMENT": "test",
           "SIGAP_SECRET_KEY": "bench-secret-" + "x" * 32, "SIGAP_LOG_LEVEL": "WARNING"}
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "sigap"), *args], cwd=PROJECT_ROOT, env=env,  # noqa: S603
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def seed_serial_start(k: int) -> int:
    """A SyntheticRegistry seed whose NIK/KK serials start at 1000 + 35 k (the demo families start
    at 8379, USSD residents at 9001), so two tablets never make the same NIK or KK."""
    return ((1000 + 35 * k) * pow(53, -1, 9900)) % 9900


def make_users(srv: ChannelServer, n: int, seed: int) -> tuple[list[Device], str]:
    _, kel = wilayah()
    codes = [c for c, _ in kel]
    random.Random(seed).shuffle(codes)
    pw = hash_password("load-pass-2026")
    devices = []
    with Session(srv.engine) as s:
        for k in range(n):
            scope = sorted({codes[(2 * k) % len(codes)], codes[(2 * k + 1) % len(codes)]})
            user = auth_repository.add_user(s, User(username=f"load.enum.{k:03d}", password_hash=pw,
                                                    role="enumerator"), scope)
            s.flush()
            token, _ = create_access_token(settings=srv.settings, user_id=user.id or 0, role="enumerator")
            dev_seed = seed_serial_start(k) + 9900 * (seed % 1000 + 1)
            devices.append(Device(f"load-tab-{k:03d}", user.username, scope, token, dev_seed,
                                  gen=SyntheticRegistry(seed=dev_seed, kelurahan_codes=scope),
                                  rng=random.Random(seed * 7919 + k)))
        dinsos = auth_repository.add_user(
            s, User(username="load.dinsos", password_hash=pw, role="dinsos"), [])
        s.flush()
        dinsos_token, _ = create_access_token(settings=srv.settings, user_id=dinsos.id or 0, role="dinsos")
        s.commit()
    return devices, dinsos_token


async def prepare(srv: ChannelServer, client: httpx.AsyncClient, devices: list[Device], token: str,
                  seed: int) -> World:
    r = await client.get("/openapi.json")
    r.raise_for_status()
    paths = set(r.json()["paths"])
    routes = {p for p in REPORT_PATHS if p in paths}
    for p in REPORT_PATHS:
        if p not in routes:
            console.print(f"  note: {p} is not in the server's route table: skipped", highlight=False)
    kec, kel = wilayah()
    rng = random.Random(seed)
    picks = rng.sample(kel, 6)
    names = dict(kec)
    pairs = [(code.rsplit(".", 1)[0], names[code.rsplit(".", 1)[0]], name) for code, name in picks]
    places = await discover_places(client, pairs)
    sem = asyncio.Semaphore(16)  # a training day: a room of enumerators enrolling at once
    h = Http(client)
    refused: Counter[str] = Counter()

    async def one(dev: Device) -> None:
        async with sem:
            await enrol(client, dev, refused)
            if not await pull(h, dev, "initial pull"):
                raise RuntimeError(f"initial pull of {dev.device_id} failed: {h.stats.first_error}")

    await asyncio.gather(*[one(d) for d in devices])
    held = sum(len(d.replica) for d in devices)
    console.print(f"  {len(devices)} tablets enrolled, initial pull: {held:,} households held "
                  f"({h.stats.requests('initial pull')} pages)", highlight=False)
    for why, k in refused.items():
        console.print(f"  [yellow]enrolment refused {k} times, 16 at once (retried): {why}[/]",
                      highlight=False)
    return World(devices, token, routes, places, [c for c, _ in kec], [c for c, _ in kel])


# --------------------------------------------------------------------------- phases

def split(clients: int) -> dict[str, int]:
    """Clients of each kind in the proportions of MIX (at least one of each)."""
    total = sum(MIX.values())
    return {k: max(1, round(clients * v / total)) for k, v in MIX.items()}


def server_latencies(log_path: Path, offset: int, into: dict[str, list[float]]) -> None:
    """The app's own access log (one JSON line per request, ``ms`` from the outermost middleware,
    so including its in-flight queue, excluding the time before the worker read the request)."""
    with log_path.open("rb") as f:
        f.seek(offset)
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "request" and "ms" in entry:
                into[f"{entry.get('method')} {entry.get('path')}"].append(float(entry["ms"]))


async def phase(client: httpx.AsyncClient, world: World, mix: dict[str, int], seconds: float, scale: float,
                seed: int, log_path: Path) -> Stats:
    h = Http(client)
    offset = log_path.stat().st_size
    stop_at = time.monotonic() + seconds
    cpu0, t0 = time.process_time(), time.perf_counter()
    tasks = [device_loop(h, d, stop_at, scale, world.ledger) for d in world.devices[:mix["devices"]]]
    tasks += [resident_loop(h, world.resident, world.places, seed, stop_at, scale, world.ledger)
              for _ in range(mix["ussd"])]
    tasks += [report_loop(h, world.dinsos_token, random.Random(seed * 31 + k), world.routes, world.kecamatan,
                          world.kelurahan, stop_at, scale) for k in range(mix["reports"])]
    tasks.append(health_probe(h, stop_at))
    await asyncio.gather(*tasks)  # a push in flight at the end is waited for (it may be acknowledged)
    h.stats.wall = time.perf_counter() - t0
    h.stats.cpu = time.process_time() - cpu0
    h.stats.load = os.getloadavg()
    await asyncio.sleep(0.5)  # the last access-log lines
    server_latencies(log_path, offset, h.stats.server_ms)
    return h.stats


ORDER = ("POST /sync/v1/push", "GET /sync/v1/pull", "USSD step", "USSD register (final)",
         "USSD status (final)", PROBE)


def load_ms(st: Stats) -> list[float]:
    """Latencies of the load itself (not the /health probe)."""
    return [x for k, v in st.ms.items() if k != PROBE for x in v]


def endpoint_table(st: Stats, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("endpoint", "requests", "req/s", "p50 ms", "p99 ms", "5xx", "timeouts", "4xx unexp.",
                 "wrong", "error %"):
        table.add_column(name, justify="left" if name == "endpoint" else "right")
    labels = [k for k in ORDER if k in st.ms] + sorted(k for k in st.ms if k not in ORDER)
    for label in [*labels, "all"]:
        every = label == "all"
        ms = load_ms(st) if every else st.ms[label]
        if not ms:
            continue
        counts = [sum(n for k, n in c.items() if k != PROBE) if every else c[label]
                  for c in (st.e5xx, st.timeouts, st.e4xx, st.wrong)]
        table.add_row(label, f"{len(ms):,}", f"{len(ms) / st.wall:.1f}", f"{quantile(ms, 50):.0f}",
                      f"{quantile(ms, 99):.0f}", *map(str, counts), f"{100 * sum(counts) / len(ms):.2f}",
                      style="bold" if every else None)
    return table


def server_table(st: Stats) -> Table:
    table = Table(title="server side: the app's access log (time inside the app, incl. its in-flight queue)",
                  title_justify="left")
    for name in ("method path", "requests", "p50 ms", "p99 ms"):
        table.add_column(name, justify="left" if name == "method path" else "right")
    every = [x for k, v in st.server_ms.items() if not k.endswith("/health") for x in v]
    for label, ms in [*sorted(st.server_ms.items()), ("all but /health", every)]:
        if ms:
            table.add_row(label, f"{len(ms):,}", f"{quantile(ms, 50):.0f}", f"{quantile(ms, 99):.0f}")
    return table


def summary_table(st: Stats, mix: dict[str, int]) -> Table:
    table = Table(title="sustained figures", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("note")
    o = st.outcomes
    table.add_row("mutations acknowledged/s", f"{st.mutations / st.wall:.1f}",
                  f"{st.mutations:,} applied+merged; conflict {o['conflict']}, rejected {o['rejected']}, "
                  f"duplicate {o['duplicate']} (retried pushes {st.pushes_retried})")
    reg, sta = st.ussd["register completed"], st.ussd["status completed"]
    table.add_row("USSD sessions completed/s", f"{(reg + sta) / st.wall:.2f}",
                  f"{reg} registrations of {st.ussd['register started']} started, {sta} status checks of "
                  f"{st.ussd['status started']}")
    table.add_row("clients", f"{sum(mix.values())}",
                  f"{mix['devices']} tablets, {mix['ussd']} USSD residents, {mix['reports']} Dinas Sosial")
    table.add_row("wall time", f"{st.wall:.1f} s", "")
    table.add_row("load generator CPU", f"{100 * st.cpu / st.wall:.0f} %", "of one core (shares the 2 CPUs)")
    table.add_row("load average at end", " ".join(f"{x:.2f}" for x in st.load), "1/5/15 min, whole machine")
    return table


def print_first_errors(st: Stats) -> None:
    for label, why in st.first_error.items():
        console.print(f"  first error, {label}: {why}", highlight=False, markup=False, soft_wrap=True)


def ramp_verdict(rows: list[tuple[int, float, float, float]]) -> str:
    """rows: (clients, req/s, p99 ms, error %). Saturation: the first step after which req/s grows
    by less than 15 % while the client count doubles, or errors exceed 1 %."""
    for (c0, t0, p0, _), (c1, t1, p1, e1) in itertools.pairwise(rows):
        if t1 < t0 * 1.15 or e1 > 1.0:
            return (f"saturation at about {c0} clients ({t0:.0f} req/s, p99 {p0:.0f} ms): at {c1} clients "
                    f"throughput {t1:.0f} req/s ({100 * (t1 / t0 - 1):+.0f} %), p99 {p1:.0f} ms "
                    f"(x{p1 / max(p0, 1):.1f}), errors {e1:.1f} %")
    c, t, p, _ = rows[-1]
    return f"no saturation up to {c} clients ({t:.0f} req/s, p99 {p:.0f} ms): raise --ramp-steps"


# --------------------------------------------------------------------------- verification

def verify(srv: ChannelServer, world: World, families: int) -> tuple[bool, Table]:
    led = world.ledger
    table = Table(title="correctness after the run (server stopped)", title_justify="left")
    for name in ("check", "expected", "found", "ok"):
        table.add_column(name)
    ok = True

    def row(name: str, expected: str, found: Any, good: bool) -> None:
        nonlocal ok
        ok = ok and good
        table.add_row(name, expected, str(found), "[green]yes[/]" if good else "[red]NO[/]")

    def in_db(ids: Iterable[str], conn: Any) -> dict[str, int]:
        found: dict[str, int] = {}
        ids = list(ids)
        for start in range(0, len(ids), 1000):
            chunk = [uuid.UUID(i) for i in ids[start:start + 1000]]
            stmt = select(Household.id, Household.version).where(col(Household.id).in_(chunk))
            for hid, version in conn.execute(stmt):
                found[str(hid)] = int(version)
        return found

    with srv.engine.connect() as conn:
        present = in_db(led.acked_creates, conn)
        row("acknowledged creates in the database", f"{len(led.acked_creates):,}", f"{len(present):,}",
            len(present) == len(led.acked_creates))
        sent = in_db(led.sent_creates, conn)
        row("creates sent, in the database", f"{len(led.acked_creates):,}..{len(led.sent_creates):,}",
            f"{len(sent):,}", len(led.acked_creates) <= len(sent) <= len(led.sent_creates))
        versions = in_db(led.acked_versions, conn)
        behind = sum(1 for i, v in led.acked_versions.items() if versions.get(i, 0) < v)
        row("acknowledged writes: version in the database >= acknowledged", "0 behind", f"{behind} behind",
            behind == 0)
        ussd = conn.execute(text("SELECT count(*) FROM household WHERE source = 'ussd'")).scalar_one()
        row("USSD registrations in the database", f"{led.ussd_done:,}..{led.ussd_sent:,}", f"{ussd:,}",
            led.ussd_done <= ussd <= led.ussd_sent)
        total = conn.execute(text("SELECT count(*) FROM household")).scalar_one()
        row("households in the database", f"{families:,} demo + {len(sent):,} + {ussd:,}", f"{total:,}",
            total == families + len(sent) + ussd)
        dup_nik = conn.execute(text(
            "SELECT count(*) FROM (SELECT m.nik_bidx FROM member m JOIN household h ON h.id = m.household_id "
            "WHERE m.nik_bidx IS NOT NULL AND m.deleted_at IS NULL AND h.deleted_at IS NULL "
            "GROUP BY m.nik_bidx HAVING count(*) > 1) d")).scalar_one()  # NIKs are sealed: their index
        row("NIKs in two active members", "0", dup_nik, dup_nik == 0)
        dup_kk = conn.execute(text(
            "SELECT count(*) FROM (SELECT kk_bidx FROM household WHERE kk_bidx IS NOT NULL "
            "AND deleted_at IS NULL GROUP BY kk_bidx HAVING count(*) > 1) d")).scalar_one()
        row("KK numbers in two active households", "0", dup_kk, dup_kk == 0)
        ledger_rows = conn.execute(text(
            "SELECT count(*) FROM sync_mutation WHERE device_id LIKE 'load-tab-%'")).scalar_one()
        seqs = sum(d.seq for d in world.devices)
        row("sync ledger rows (one per device and seq)", f"<= {seqs:,} sent", f"{ledger_rows:,}",
            ledger_rows <= seqs)
    return ok, table


# --------------------------------------------------------------------------- main

async def drive(srv: ChannelServer, args: argparse.Namespace, devices: list[Device], token: str
                ) -> tuple[World, list[tuple[str, dict[str, int], Stats]]]:
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=2.0)
    results: list[tuple[str, dict[str, int], Stats]] = []
    async with httpx.AsyncClient(base_url=srv.base, timeout=args.timeout, limits=limits) as client:
        world = await prepare(srv, client, devices, token, args.seed)
        if args.ramp:
            for clients in args.ramp_steps:
                mix = split(clients)
                console.print(f"  ramp step: {clients} clients ({mix}), {args.step_seconds:g} s ...",
                              highlight=False)
                st = await phase(client, world, mix, args.step_seconds, args.ramp_think, args.seed + clients,
                                 srv.log_path)
                results.append((f"{clients} clients", mix, st))
                every = load_ms(st)
                console.print(f"    {len(every) / st.wall:.1f} req/s, p99 {quantile(every, 99):.0f} ms, "
                              f"load {st.load[0]:.2f}", highlight=False)
        else:
            mix = dict(MIX, devices=args.devices, ussd=args.ussd, reports=args.reports)
            console.print(f"  load: {mix}, {args.seconds:g} s, think x{args.think_scale:g} ...",
                          highlight=False)
            st = await phase(client, world, mix, args.seconds, args.think_scale, args.seed, srv.log_path)
            results.append(("full mix", mix, st))
    return world, results


def run(args: argparse.Namespace) -> int:
    dbs = Databases(args.engine, args.pg_url)
    reason = dbs.check()
    if reason:
        console.print(f"[red]{args.engine} not reachable: {reason}[/]")
        return 2
    log_path = Path(tempfile.mkstemp(prefix="sigap-load-", suffix=".log")[1])
    ok = False
    try:
        console.print(f"  creating the {args.engine} database ...", highlight=False)
        url = dbs.new("load")
        t = cli(url, "seed", "--demo", str(args.families))
        console.print(f"  seeded {args.families:,} demo families in {t:.0f} s", highlight=False)
        if not args.no_score:
            t = cli(url, "score", "run") + cli(url, "report", "snapshot")
            console.print(f"  scoring run + report snapshot in {t:.0f} s", highlight=False)
        n_devices = max(split(max(args.ramp_steps))["devices"] if args.ramp else 0, args.devices)
        server = ChannelServer(url, args.workers, log_path)
        server.env["SIGAP_LOG_LEVEL"] = "INFO"  # the access log: server-side latency per request
        if args.max_in_flight:
            server.env["SIGAP_MAX_IN_FLIGHT"] = str(args.max_in_flight)
        with server as srv:
            devices, token = make_users(srv, n_devices, args.seed)
            world, results = asyncio.run(drive(srv, args, devices, token))
        for title, mix, st in results:
            console.rule(f"{title}: {args.engine}, {args.workers} worker(s)")
            console.print(endpoint_table(st, f"per endpoint ({title}, {st.wall:.0f} s)"))
            console.print(server_table(st))
            console.print(summary_table(st, mix))
            print_first_errors(st)
        if args.ramp:
            table = Table(title="ramp", title_justify="left")
            for name in ("clients", "tablets/USSD/reports", "req/s", "p50 ms", "p99 ms", "server p50",
                         "server p99", "error %", "mutations/s", "USSD sessions/s", "load avg"):
                table.add_column(name, justify="right")
            rows = []
            for (_, mix, st) in results:
                all_ms = load_ms(st)
                errs = sum(st.errors(k) for k in st.ms if k != PROBE)
                done = st.ussd["register completed"] + st.ussd["status completed"]
                rate, p99 = len(all_ms) / st.wall, quantile(all_ms, 99)
                err = 100 * errs / max(1, len(all_ms))
                rows.append((sum(mix.values()), rate, p99, err))
                srv_ms = [x for k, v in st.server_ms.items() if not k.endswith("/health") for x in v] or [0.0]
                table.add_row(str(sum(mix.values())), f"{mix['devices']}/{mix['ussd']}/{mix['reports']}",
                              f"{rate:.1f}", f"{quantile(all_ms, 50):.0f}", f"{p99:.0f}",
                              f"{quantile(srv_ms, 50):.0f}", f"{quantile(srv_ms, 99):.0f}", f"{err:.2f}",
                              f"{st.mutations / st.wall:.1f}", f"{done / st.wall:.2f}",
                              f"{st.load[0]:.2f}")
            console.print(table)
            console.print(f"[bold]{ramp_verdict(rows)}[/]", highlight=False)
        problems = srv.problems()
        for problem, k in problems.most_common(8):
            console.print(f"  server log: {k} x {problem}", highlight=False, markup=False)
        ok, table = verify(srv, world, args.families)
        console.print(table)
        srv.engine.dispose()
    finally:
        dbs.close()
        console.print("  database dropped, server stopped", highlight=False)
        log_path.unlink(missing_ok=True)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (2)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (60)")
    parser.add_argument("--families", type=int, default=3000, help="demo families seeded first (3000)")
    parser.add_argument("--devices", type=int, default=MIX["devices"], help="tablets syncing (200)")
    parser.add_argument("--ussd", type=int, default=MIX["ussd"], help="USSD residents at once (500)")
    parser.add_argument("--reports", type=int, default=MIX["reports"], help="Dinas Sosial users (20)")
    parser.add_argument("--think-scale", type=float, default=1.0, help="multiplies every think time (1)")
    parser.add_argument("--timeout", type=float, default=30.0, help="client timeout per request, s (30)")
    parser.add_argument("--ramp", action="store_true", help="step mode: find the saturation point")
    parser.add_argument("--ramp-steps", default="10,25,50,100,200,400",
                        help="clients per step, same mix proportions (10,25,50,100,200,400)")
    parser.add_argument("--step-seconds", type=float, default=30.0, help="length of each ramp step (30)")
    parser.add_argument("--ramp-think", type=float, default=0.25,
                        help="think-time factor in the ramp (0.25: a registration fits in a step)")
    parser.add_argument("--max-in-flight", type=int, default=None,
                        help="the server's SIGAP_MAX_IN_FLIGHT per worker (default: the app's, 24)")
    parser.add_argument("--no-score", action="store_true", help="skip the scoring run and snapshot in setup")
    parser.add_argument("--seed", type=int, default=2026, help="seeds every random choice (2026)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    console.width = max(console.width, 150)  # the tables stay readable in a log file
    try:
        args.ramp_steps = sorted(int(x) for x in args.ramp_steps.split(",") if x.strip())
    except ValueError:
        parser.error("--ramp-steps: comma-separated integers")
    console.print(f"Sigap load test {datetime.now():%Y-%m-%d %H:%M} python {platform.python_version()} "
                  f"{os.cpu_count()} cpu, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
                  f"engine={args.engine} workers={args.workers} seed={args.seed} "
                  f"max_in_flight={args.max_in_flight or 'default'} git {git_revision()}",
                  highlight=False)
    try:
        return run(args)
    except KeyboardInterrupt:
        console.print("[red]interrupted: server stopped, database dropped[/]")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
