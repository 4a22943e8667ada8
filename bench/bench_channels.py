"""Feature-phone latency under load: the real app under uvicorn (SQLite and PostgreSQL), driven
by an asyncio httpx client as gateways would drive it.

    cd /work/main && .venv/bin/python bench/bench_channels.py                    # 200 + 200, both engines
    cd /work/main && .venv/bin/python bench/bench_channels.py --sessions 50 --senders 50 --engines sqlite
    cd /work/main && .venv/bin/python bench/bench_channels.py --think 5     # residents typing: 5 s a step

At once:
- ``--sessions`` USSD sessions (200), each a whole registration through the Africa's Talking
  adapter (main menu, NIK, confirm, KK, kecamatan, kelurahan, members, three questions, PIN
  twice, send), every resident with their own phone, NIK and KK;
- ``--senders`` SMS senders (200) through the signed JSON webhook: ``DAFTAR#NIK#KK#4#Tafraka``,
  then ``STATUS``;
- a probe asking ``GET /health`` every 50 ms.

Figures, per engine and step type: p50/p95/p99/max latency in ms, how many requests took
longer than 2 s (gateways give up after a few seconds, and the resident sees an error), the
error rate (a non-2xx, a timeout, or a reply that is not the expected screen), and the ratio
of the p50 to the p50 of ``GET /health`` measured alone before the load (the floor: HTTP,
routing and the thread pool, no database).  Afterwards the households are counted (never more
than one per resident), and the server's own log is summarised: 503s (a transient database
conflict) and 500s by exception.

``--think 0`` (the default) sends each resident's next step as soon as the last is answered:
a stress test of 400 requests always in flight.  Real residents take seconds per screen:
``--think 5`` is closer to 200 people registering at the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import httpx  # noqa: E402
from sqlalchemy import func  # noqa: E402
from sqlmodel import select  # noqa: E402

from app.db import new_session  # noqa: E402
from app.registry.models import Household  # noqa: E402
from bench.bench_registry import DEFAULT_PG_URL, Databases, Report, console, git_revision  # noqa: E402
from bench.bench_sync import Server  # noqa: E402

SECRETS = {"africastalking": "bench-at-" + "k" * 24, "webhook": "bench-webhook-" + "k" * 24}
SLOW_S = 2.0
KECAMATAN, KELURAHAN = "Pulau Hiri", "Tafraka"
KK_REGION = "827107"  # Pulau Hiri: the SMS kelurahan is looked up inside the KK's kecamatan


def nik(i: int) -> str:
    """A valid NIK for resident ``i``: Ternate region, birth date DDMMYY (+40 for women), serial."""
    day, month, yy = 1 + i % 28, 1 + (i // 28) % 12, 60 + (i // 336) % 40
    female = i % 2 == 1
    return f"8271{1 + i % 8:02d}{day + (40 if female else 0):02d}{month:02d}{yy:02d}{1 + i // 8 % 9999:04d}"


def kk(i: int) -> str:
    return f"{KK_REGION}120315{1 + i:04d}"


class ChannelServer(Server):
    """``bench_sync.Server`` with the server's log in a file (a failed request's traceback is
    summarised, not scrolled) and a stop that waits for requests still in flight."""

    def __init__(self, url: str, workers: int, log_path: Path) -> None:
        super().__init__(url, workers=workers)
        self.log_path = log_path
        self.env.update({"SIGAP_GATEWAY_SECRETS": json.dumps(SECRETS), "SIGAP_LOG_JSON": "true",
                         "SIGAP_CHANNEL_PHONE_PER_HOUR": "100000", "SIGAP_CHANNEL_NIK_PER_DAY": "100000"})

    def __enter__(self) -> ChannelServer:
        saved = os.dup(2)
        with self.log_path.open("ab") as log:
            os.dup2(log.fileno(), 2)  # the child inherits stderr at its start
            try:
                super().__enter__()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.engine.dispose()

    def problems(self) -> Counter[str]:
        """What the server logged: 503s (transient database conflicts) and 500s by exception."""
        seen: Counter[str] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if "transient database conflict" in entry.get("msg", ""):
                seen["503 busy (" + entry["msg"].rpartition(": ")[2] + ")"] += 1
            elif entry.get("level") == "ERROR":
                last = (entry.get("exc") or entry.get("msg", "")).strip().splitlines()[-1]
                seen["500 " + last.split(" (Background")[0][:100]] += 1
        return seen


@dataclass
class Timings:
    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    first_error: dict[str, str] = field(default_factory=dict)

    def ok(self, kind: str, seconds: float) -> None:
        self.ms[kind].append(seconds * 1000)

    def fail(self, kind: str, seconds: float, why: str) -> None:
        self.ms[kind].append(seconds * 1000)
        self.wrong(kind, why)

    def wrong(self, kind: str, why: str) -> None:
        """Answered (the latency counts), but not with what the resident should see."""
        self.errors[kind][why.split(" ")[0].rstrip(":")] += 1
        self.first_error.setdefault(kind, why[:160])


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def timed_post(client: httpx.AsyncClient, t: Timings, kind: str, url: str,
                     **kw: object) -> httpx.Response | None:
    t0 = time.perf_counter()
    try:
        r = await client.post(url, **kw)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        t.fail(kind, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
        return None
    elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        t.fail(kind, elapsed, f"{r.status_code} {r.text}")
        return None
    t.ok(kind, elapsed)
    return r


def ussd_form(session_id: str, phone: str, text: str) -> dict[str, str]:
    return {"sessionId": session_id, "serviceCode": "*123#", "phoneNumber": phone,
            "networkCode": "51010", "text": text}


async def menu_choices(client: httpx.AsyncClient) -> list[str]:
    """The inputs that pick the kecamatan and kelurahan, found by walking the menus once."""
    path = ["1", nik(0), "1", kk(0)]  # a walk only: nothing is registered
    for name in (KECAMATAN, KELURAHAN):
        for _ in range(20):
            r = await client.post("/channels/ussd/africastalking", params={"key": SECRETS["africastalking"]},
                                  data=ussd_form("discover", "081199990000", "*".join(path)))
            r.raise_for_status()
            found = [m.group(1) for m in (re.match(r"^(\d+) (.+)$", line) for line in r.text.splitlines())
                     if m and m.group(2) == name[:22]]
            if found:
                path.append(found[0])
                break
            path.append("98")
        else:
            raise RuntimeError(f"{name} not found in the menus")
    return path[4:]


async def ussd_journey(client: httpx.AsyncClient, t: Timings, i: int, places: list[str],
                       think: float) -> None:
    phone = f"0812{10_000_000 + i:08d}"
    inputs = ["1", nik(i), "1", kk(i), *places, "4", "1", "4", "1", "2580", "2580", "1"]
    params = {"key": SECRETS["africastalking"]}
    for step in range(len(inputs) + 1):
        if step and think:
            await asyncio.sleep(think)  # the resident reads and types
        kind = "ussd start" if step == 0 else "ussd register (send)" if step == len(inputs) else "ussd step"
        r = await timed_post(client, t, kind, "/channels/ussd/africastalking", params=params,
                             data=ussd_form(f"bench-{i}", phone, "*".join(inputs[:step])))
        if r is None:
            return
        expected = "END Terima kasih" if step == len(inputs) else "CON "
        if not r.text.startswith(expected):
            t.wrong(kind, f"unexpected screen: {r.text!r}")
            return


def signed(body: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SECRETS["webhook"].encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return raw, {"Content-Type": "application/json", "X-Sigap-Timestamp": stamp,
                 "X-Sigap-Signature": f"sha256={digest}"}


async def sms_sender(client: httpx.AsyncClient, t: Timings, i: int, offset: int, think: float) -> None:
    phone = f"0813{20_000_000 + i:08d}"
    who = offset + i
    steps = (("sms register", f"DAFTAR#{nik(who)}#{kk(who)}#4#{KELURAHAN}", "Terima kasih"),
             ("sms status", "STATUS", "menunggu verifikasi"))
    for kind, text, expected in steps:
        if kind == "sms status" and think:
            await asyncio.sleep(think)
        raw, headers = signed({"id": f"bench-{kind}-{i}", "from": phone, "to": "1234", "text": text})
        r = await timed_post(client, t, kind, "/channels/sms/webhook", content=raw, headers=headers)
        if r is None:
            return
        reply = r.json().get("reply") or ""
        if expected not in reply:
            t.wrong(kind, f"unexpected reply: {reply!r}")
            return


async def health_probe(client: httpx.AsyncClient, t: Timings, kind: str, stop: asyncio.Event | None,
                       count: int = 0) -> None:
    n = 0
    while (stop is not None and not stop.is_set()) or (stop is None and n < count):
        t0 = time.perf_counter()
        try:
            r = await client.get("/health")
        except httpx.HTTPError as exc:
            t.fail(kind, time.perf_counter() - t0, repr(exc))
        else:
            t.ok(kind, time.perf_counter() - t0)
            if r.status_code != 200:
                t.wrong(kind, f"{r.status_code} {r.text}")
        n += 1
        if stop is not None:
            await asyncio.sleep(0.05)


async def drive(base: str, sessions: int, senders: int, timeout: float,
                think: float) -> tuple[Timings, float]:
    clients = sessions + senders + 10
    # idle connections are dropped before uvicorn's 5 s keep-alive ends (else a reused one can be
    # closed under the request: a client-side ReadError that no gateway would see)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as client:
        t = Timings()
        await health_probe(client, t, "GET /health, alone", None, count=200)
        places = await menu_choices(client)  # also the USSD warm-up; then one SMS, so neither path is cold
        raw, headers = signed({"id": "warm-up", "from": "081199990001", "text": "BANTUAN"})
        (await client.post("/channels/sms/webhook", content=raw, headers=headers)).raise_for_status()
        stop = asyncio.Event()
        probe = asyncio.create_task(health_probe(client, t, "GET /health, under load", stop))
        t0 = time.perf_counter()
        await asyncio.gather(*[ussd_journey(client, t, i, places, think) for i in range(sessions)],
                             *[sms_sender(client, t, i, sessions, think) for i in range(senders)])
        wall = time.perf_counter() - t0
        stop.set()
        await probe
        return t, wall


def run_engine(kind: str, args: argparse.Namespace, report: Report) -> None:
    dbs = Databases(kind, args.pg_url)
    reason = dbs.check()
    n = args.sessions + args.senders
    if reason:
        report.add(kind, n, "SKIPPED", None, "", reason)
        return
    try:
        url = dbs.new("channels")
        log_path = Path(tempfile.mkstemp(prefix=f"sigap-bench-{kind}-", suffix=".log")[1])
        with ChannelServer(url, args.workers, log_path) as srv:
            t, wall = asyncio.run(drive(srv.base, args.sessions, args.senders, args.timeout, args.think))
        with new_session(srv.engine, read_only=True) as s:  # after the stop: nothing in flight
            households = int(s.exec(select(func.count()).select_from(Household)).one())
        srv.engine.dispose()
        floor = statistics.median(t.ms["GET /health, alone"])
        order = ["GET /health, alone", "GET /health, under load", "ussd start", "ussd step",
                 "ussd register (send)", "sms register", "sms status"]
        for step in order:
            ms = t.ms.get(step)
            if not ms:
                continue
            slow = sum(1 for v in ms if v > SLOW_S * 1000)
            errors = t.errors.get(step, Counter())
            failed = sum(errors.values())
            note = (f"p95 {quantile(ms, 95):.0f}, p99 {quantile(ms, 99):.0f}, max {max(ms):.0f} ms; "
                    f"> 2 s: {slow}/{len(ms)}; errors {failed}/{len(ms)} ({100 * failed / len(ms):.1f} %"
                    + "".join(f", {why} x{k}" for why, k in errors.most_common()) + ")")
            if step != "GET /health, alone":
                note += f"; p50 x{statistics.median(ms) / floor:.1f} /health alone"
            report.add(kind, len(ms), f"{step} p50", statistics.median(ms), "ms", note)
        channel = [x for k, v in t.ms.items() if not k.startswith("GET") for x in v]
        failed = sum(sum(c.values()) for k, c in t.errors.items() if not k.startswith("GET"))
        report.add(kind, len(channel), "all channel requests", len(channel) / wall, "requests/s",
                   f"{args.sessions} USSD sessions + {args.senders} SMS senders at once, "
                   f"think {args.think:g} s, "
                   f"{wall:.1f} s wall, {args.workers} uvicorn worker(s); "
                   f"> 2 s: {sum(1 for x in channel if x > SLOW_S * 1000)}; errors {failed} "
                   f"({100 * failed / max(1, len(channel)):.1f} %)")
        done = (len(t.ms["ussd register (send)"]) - sum(t.errors["ussd register (send)"].values())
                + len(t.ms["sms register"]) - sum(t.errors["sms register"].values()))
        report.add(kind, n, "households registered", households, "",
                   f"{done} registrations answered with success; every registration at most once")
        for problem, k in srv.problems().most_common(5):
            report.add(kind, k, "server log", k, "", problem)
        for step, why in t.first_error.items():
            console.print(f"  {kind} first error, {step}: {why}", highlight=False, markup=False)
        log_path.unlink()
    finally:
        dbs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200, help="USSD registrations at once (200)")
    parser.add_argument("--senders", type=int, default=200, help="SMS senders at once (200)")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (1)")
    parser.add_argument("--timeout", type=float, default=60.0, help="client timeout per request, s (60)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds a resident takes between two steps (0: all requests back to back)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    console.print(f"Sigap channel latency benchmark {datetime.now():%Y-%m-%d %H:%M} python "
                  f"{platform.python_version()} sessions={args.sessions} senders={args.senders} "
                  f"workers={args.workers} think={args.think:g}s git {git_revision()}", highlight=False)
    report = Report()
    failed = False
    for kind in [e.strip() for e in args.engines.split(",") if e.strip()]:
        try:
            run_engine(kind, args, report)
        except Exception:
            failed = True
            console.print_exception()
            report.add(kind, args.sessions + args.senders, "FAILED", None, "", "see the traceback above")
    console.rule("figures")
    console.print(report.table(), highlight=False, soft_wrap=True, markup=False)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
