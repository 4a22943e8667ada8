"""A fleet of tablets on a poor link, and the invariants that must hold afterwards.

Each device is the reference client (``sync_protocol.client.DeviceClient``) with its own
offline replica, talking to a real uvicorn process through a ``NetSim`` proxy.  The work
follows what a pilot will see: enumerators register families offline; two of them visit
the same family (same field and different fields); one deletes a family another edits; a
resident's SMS self-registration is later visited; a kelurahan is reassigned from one
enumerator to another mid-run.  The server is SIGKILLed during the pushes and restarted.
At the end, after a final sync on a good link, the invariants are counted:

- lost: acknowledged mutations whose effect is not in the database (must be 0);
- duplicates: records created twice by retries (must be 0);
- diverged: devices whose replica differs from the server's view of their scope (must be 0);
- lost edits: concurrent same-field values neither in force nor kept with a conflict (0);
- stuck: devices whose outbox did not drain once the link allowed (0).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from app.audit.service import ActorRef
from app.auth import repository as auth_repository
from app.auth.models import EnumeratorAssignment, Role, User
from app.auth.permissions import Principal
from app.auth.security import hash_password
from app.netsim.profiles import Profile, load_profile
from app.netsim.proxy import NetSim
from app.registry import service as registry
from app.registry.models import Household, Member
from app.registry.schemas import HouseholdCreate
from app.registry.synthetic import SyntheticRegistry
from app.sync.models import SyncConflict, SyncMutation
from sync_protocol.client import DeviceClient, RetryPolicy, SyncError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "fleet-password-2026"  # noqa: S105 - test accounts of a throw-away database
# Pulau Hiri (kecamatan 82.71.07) and Moti (82.71.04): two kelurahan each
KELURAHAN = ("82.71.07.1001", "82.71.07.1002", "82.71.04.1001", "82.71.04.1002")


# --- the server, killable ----------------------------------------------------------------------

class ServerProcess:
    """uvicorn serving the app in its own process, on a fixed port so it can be restarted."""

    def __init__(self, database_url: str, *, secret: str = "fleet-secret-" + "k" * 32) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.env = {**os.environ, "SIGAP_ENVIRONMENT": "test", "SIGAP_DATABASE_URL": database_url,
                    "SIGAP_SECRET_KEY": secret, "SIGAP_LOG_LEVEL": "WARNING"}
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "uvicorn", "app.asgi:app", "--host", "127.0.0.1", "--port",
             str(self.port), "--log-level", "warning", "--no-access-log"],
            cwd=PROJECT_ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("the server did not become ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, open transactions are simply gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


# --- the fleet ---------------------------------------------------------------------------------

@dataclass
class Edit:
    device: str
    entity: str
    record_id: str
    values: dict[str, Any]
    kind: str = "update"   # update | delete


@dataclass
class Device:
    """One tablet: its store file and proxy.  The client is opened in the thread that uses it
    (a SQLite connection belongs to the thread that made it), as a tablet app would."""

    name: str
    username: str
    path: Path
    proxy: NetSim
    retry: RetryPolicy
    rand: random.Random
    edits: list[Edit] = field(default_factory=list)
    sync_rounds: int = 0
    retries: int = 0
    errors: int = 0
    resets: int = 0        # connections the proxies reset, over the whole run

    @contextmanager
    def client(self) -> Iterator[DeviceClient]:
        c = DeviceClient(self.path, retry=self.retry, timeout=10, batch_size=20, page_size=50,
                         rand=self.rand.random)
        try:
            yield c
        finally:
            c.close()


@dataclass
class FleetReport:
    profile: str
    seed: int
    devices: int
    mutations: int
    acknowledged: int
    server_kills: int
    retries: int
    proxy_resets: int
    lost: int
    duplicates: int
    converged: int
    diverged: list[str]
    lost_edits: list[str]
    stuck: list[str]
    conflicts_open: int
    conflicts_auto: int
    seconds: float

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.diverged or self.lost_edits or self.stuck)

    def lines(self) -> list[str]:
        return [
            f"profile {self.profile}, seed {self.seed}, {self.devices} devices, {self.seconds:.1f} s",
            f"mutations {self.mutations}, acknowledged {self.acknowledged}, server SIGKILLs "
            f"{self.server_kills}, client retries {self.retries}, proxy resets {self.proxy_resets}",
            f"lost {self.lost}  duplicates {self.duplicates}  converged {self.converged}/{self.devices}"
            f"  lost edits {len(self.lost_edits)}  stuck {len(self.stuck)}",
            f"conflicts: {self.conflicts_open} in the review queue, {self.conflicts_auto} decided by policy",
            *[f"  diverged: {d}" for d in self.diverged],
            *[f"  lost edit: {e}" for e in self.lost_edits],
            *[f"  stuck: {s}" for s in self.stuck],
        ]


class Fleet:
    """``Fleet(engine, database_url, workdir, profile="hiri", devices=4, seed=7).run()``."""

    def __init__(self, engine: Engine, database_url: str, workdir: Path, *, profile: str = "hiri",
                 devices: int = 4, families: int = 3, seed: int | None = None,
                 time_scale: float = 1.0, kill_server: bool = True, deadline: float = 240.0) -> None:
        if devices < 2 or devices % 2:
            raise ValueError("devices: an even number, at least 2 (enumerators work in pairs)")
        self.engine, self.database_url, self.workdir = engine, database_url, workdir
        self.profile: Profile = load_profile(profile)
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.rng = random.Random(self.seed)  # noqa: S311 - a replayable simulation, not secrets
        self.n_devices, self.families = devices, families
        self.time_scale, self.kill_server, self.deadline = time_scale, kill_server, deadline
        self.server = ServerProcess(database_url)
        self.devices: list[Device] = []
        self.sms_households: list[str] = []
        self.registered: dict[str, int] = {}  # household id -> members it was registered with
        self.retry = RetryPolicy(base=0.05, factor=2.0, cap=1.0, max_attempts=1_000,
                                 deadline=deadline)

    # -- setup -----------------------------------------------------------------------------------
    def _kelurahan_of(self, i: int) -> str:
        return KELURAHAN[(i // 2) % len(KELURAHAN)]  # a pair of devices per kelurahan

    def _users(self) -> None:
        with Session(self.engine) as s:
            for i in range(self.n_devices):
                user = User(username=f"fleet.enum{i}", password_hash=hash_password(PASSWORD),
                            role=Role.enumerator.value)
                auth_repository.add_user(s, user, [self._kelurahan_of(i)])
            s.commit()

    def _self_registrations(self) -> None:
        """One SMS registration per kelurahan in use, made on the server before the visits."""
        sms = ActorRef(user_id=None, name="sms-gateway", channel="sms")
        city = Principal(user_id=0, username="sms", role=Role.admin, kelurahan_scope=None,
                         full_identifiers=True)
        synthetic = SyntheticRegistry(seed=self.seed + 1)
        with Session(self.engine) as s:
            for kel in sorted({self._kelurahan_of(i) for i in range(self.n_devices)}):
                data = next(synthetic.households(1))
                data.update(kelurahan_code=kel, verification_status=None)
                h = registry.create_household(session=s, data=HouseholdCreate.model_validate(data),
                                              actor=sms, principal=city)
                self.sms_households.append(str(h.id))
                self.registered[str(h.id)] = len(data["members"])
            s.commit()

    def _enrol(self) -> None:
        for i in range(self.n_devices):
            proxy = NetSim(self.profile, upstream=("127.0.0.1", self.server.port),
                           seed=self.seed * 100 + i, time_scale=self.time_scale)
            port = proxy.start()
            device = Device(name=f"tablet-fleet-{i:03d}", username=f"fleet.enum{i}",
                            path=self.workdir / f"device{i}.db", proxy=proxy, retry=self.retry,
                            rand=random.Random(self.seed + i))  # noqa: S311
            with device.client() as client:
                self._until_done(device, lambda c=client, d=device, p=port: c.enrol(
                    f"http://127.0.0.1:{p}", d.username, PASSWORD, d.name))
            self.devices.append(device)

    # -- syncing ---------------------------------------------------------------------------------
    def _until_done(self, device: Device, step: Any) -> None:
        end = time.monotonic() + self.deadline
        while True:
            try:
                step()
                return
            except (SyncError, httpx.HTTPError, OSError):
                device.errors += 1
                if time.monotonic() > end:
                    return
                time.sleep(0.05)

    def _sync(self, device: Device) -> None:
        end = time.monotonic() + self.deadline
        with device.client() as client:
            while time.monotonic() < end:
                try:
                    report = client.sync()
                    device.retries += report.retries
                    device.sync_rounds += 1
                    if client.status().pending == 0:
                        return
                except (SyncError, httpx.HTTPError, OSError):
                    device.errors += 1
                    time.sleep(0.05)

    def _sync_all(self, *, kill_during: bool) -> None:
        before = self._ledger_count()
        threads = [threading.Thread(target=self._sync, args=(d,)) for d in self.devices]
        for t in threads:
            t.start()
        if kill_during and self.kill_server:
            # kill the server once pushes have started landing, then bring it back
            end = time.monotonic() + self.deadline
            while self._ledger_count() == before and time.monotonic() < end \
                    and any(t.is_alive() for t in threads):
                time.sleep(0.01)
            self.server.kill()
            time.sleep(0.2)
            self.server.start()
        for t in threads:
            t.join()

    def _ledger_count(self) -> int:
        with Session(self.engine) as s:
            return int(s.execute(select(func.count()).select_from(SyncMutation)).scalar_one())

    # -- the work ------------------------------------------------------------------------------
    def _register(self, i: int, device: Device) -> None:
        synthetic = SyntheticRegistry(seed=self.seed * 1000 + i)
        for data in synthetic.households(self.families):
            data.pop("id", None)
            data.update(kelurahan_code=self._kelurahan_of(i), verification_status=None,
                        survey_date="2026-11-02")
            for m in data["members"]:
                m.pop("id", None)
            with device.client() as client:
                hid = client.create_household(data)
            self.registered[str(hid)] = len(data["members"])

    def _visit(self, pair: tuple[Device, Device], kel_index: int) -> None:
        """Two enumerators of one kelurahan visit the same families, offline."""
        a, b = pair
        held_a, held_b = _households(a), _households(b)
        shared = sorted(h for h, kel in held_a.items() if kel == KELURAHAN[kel_index]
                        and h in held_b and h not in self.sms_households)
        if len(shared) < 3:
            raise RuntimeError(f"pair {a.name}/{b.name} shares {len(shared)} families, need 3")
        same, different, deleted = shared[:3]
        day_a, day_b = self.rng.sample([10, 20], 2)
        self._edit(a, "household", same, {"address": f"Jl. {a.name}", "roof_condition": "poor",
                                          "survey_date": date(2026, 11, day_a).isoformat()})
        self._edit(b, "household", same, {"address": f"Jl. {b.name}", "roof_condition": "good",
                                          "survey_date": date(2026, 11, day_b).isoformat()})
        self._edit(a, "household", different, {"asset_tv": True})
        self._edit(b, "household", different, {"livestock_poultry": 99})
        with a.client() as client:
            client.delete("household", deleted)
        a.edits.append(Edit(a.name, "household", deleted, {}, kind="delete"))
        self._edit(b, "household", deleted, {"address": f"Jl. {b.name} (dikunjungi)",
                                             "livestock_goat_sheep": 77})
        # the SMS registration of this kelurahan gets its field visit from b
        sms = next(h for h in held_b if h in self.sms_households)
        self._edit(b, "household", sms, {"verification_status": "field_verified", "floor_area_m2": 36})

    def _edit(self, device: Device, entity: str, record_id: str, values: dict[str, Any]) -> None:
        """Record an edit offline; only the fields that really change travel (and are checked)."""
        with device.client() as client:
            record = client.record(entity, record_id)
            current = (record.data if record else None) or {}
            changed = {k: v for k, v in values.items() if current.get(k) != v}
            if changed and client.update(entity, record_id, changed) is not None:
                device.edits.append(Edit(device.name, entity, record_id, changed))

    def _reassign(self) -> str:
        """The first kelurahan moves from device 1's enumerator to device 2's."""
        kel = self._kelurahan_of(1)
        with Session(self.engine) as s:
            leaving = s.execute(select(User).where(col(User.username) == "fleet.enum1")).scalar_one()
            joining = s.execute(select(User).where(col(User.username) == "fleet.enum2")).scalar_one()
            s.execute(EnumeratorAssignment.__table__.delete().where(  # type: ignore[attr-defined]
                EnumeratorAssignment.user_id == leaving.id))
            s.add(EnumeratorAssignment(user_id=leaving.id or 0, kelurahan_code=self._kelurahan_of(3)))
            s.add(EnumeratorAssignment(user_id=joining.id or 0, kelurahan_code=kel))
            s.commit()
        return kel

    def run(self) -> FleetReport:
        started = time.monotonic()
        self._users()
        self._self_registrations()
        self.server.start()
        try:
            self._enrol()
            for i, device in enumerate(self.devices):
                self._register(i, device)
            self._sync_all(kill_during=True)        # registrations, server killed mid-push
            self._sync_all(kill_during=False)       # everyone sees the pair's families
            for k in range(0, self.n_devices, 2):
                self._visit((self.devices[k], self.devices[k + 1]), (k // 2) % len(KELURAHAN))
            self._sync_all(kill_during=True)        # the visits, server killed again
            if self.n_devices >= 4:
                self._reassign()                    # a kelurahan changes hands mid-run
            self._good_link()
            for _ in range(2):                      # a last round so every device sees the rest
                self._sync_all(kill_during=False)
            return self.check(started)
        finally:
            for d in self.devices:
                d.proxy.stop()
            self.server.stop()

    def _good_link(self) -> None:
        """Swap each device's proxy for a kota (4G) one on the same port."""
        kota = load_profile("kota")
        for d in self.devices:
            port = d.proxy.port
            assert port is not None
            d.resets += d.proxy.stats().resets
            d.proxy.stop()
            d.proxy = NetSim(kota, upstream=("127.0.0.1", self.server.port), listen=("127.0.0.1", port),
                             seed=self.seed)
            d.proxy.start()

    # -- invariants ------------------------------------------------------------------------------
    def check(self, started: float | None = None) -> FleetReport:
        """Count the invariants now (run() calls it after the final sync)."""
        started = time.monotonic() if started is None else started
        with Session(self.engine) as s:
            ledger = s.execute(select(SyncMutation)).scalars().all()
            households = {str(h.id): h for h in s.execute(select(Household)).scalars()}
            members = {str(m.id): m for m in s.execute(select(Member)).scalars()}
            conflicts = list(s.execute(select(SyncConflict)).scalars().all())
            scopes = {u.username: set(auth_repository.assigned_kelurahan(s, u.id or 0))
                      for u in s.execute(select(User).where(col(User.username).like("fleet.%"))).scalars()}
        acknowledged = [m for m in ledger if m.outcome != "processing"]
        lost = sum(1 for m in acknowledged if m.outcome in ("applied", "merged")
                   and m.entity in ("household", "member")
                   and str(m.entity_id) not in (households if m.entity == "household" else members))
        # every household on the server is one registration: a tablet's (once) or an SMS one;
        # and holds the members it was registered with, each once (no member added by a retry)
        duplicates = len(set(households) - set(self.registered))
        per_household: dict[str, int] = {}
        for m in members.values():
            per_household[str(m.household_id)] = per_household.get(str(m.household_id), 0) + 1
        duplicates += sum(max(0, per_household.get(hid, 0) - n) for hid, n in self.registered.items())
        diverged = [name for name in (self._diverged(d, households, members, scopes[d.username])
                                      for d in self.devices) if name]
        pending = {d.name: _pending(d) for d in self.devices}
        stuck = [f"{name}: {n} pending" for name, n in pending.items() if n]
        return FleetReport(
            profile=self.profile.name, seed=self.seed, devices=len(self.devices),
            mutations=sum(_mutations(d) for d in self.devices),
            acknowledged=len(acknowledged), server_kills=self.server.kills,
            retries=sum(d.retries for d in self.devices),
            proxy_resets=sum(d.resets for d in self.devices),
            lost=lost, duplicates=duplicates, converged=len(self.devices) - len(diverged),
            diverged=diverged, lost_edits=self._lost_edits(households, conflicts), stuck=stuck,
            conflicts_open=sum(1 for c in conflicts if c.status == "open"),
            conflicts_auto=sum(1 for c in conflicts if c.status == "auto_resolved"),
            seconds=time.monotonic() - started)

    @staticmethod
    def _diverged(device: Device, households: dict[str, Household], members: dict[str, Member],
                  scope: set[str]) -> str | None:
        server = {hid: h.version for hid, h in households.items()
                  if h.deleted_at is None and h.kelurahan_code in scope}
        with device.client() as client:
            replica = {r.id: r.version for r in client.households()}
            replica_members = {hid: {r.id: r.version for r in client.members(hid)} for hid in replica}
        if server != replica:
            missing, extra = sorted(set(server) - set(replica)), sorted(set(replica) - set(server))
            stale = sorted(k for k in set(server) & set(replica) if server[k] != replica[k])
            return f"{device.name}: missing {missing[:3]}, extra {extra[:3]}, stale {stale[:3]}"
        for hid in server:
            want = {mid: m.version for mid, m in members.items()
                    if str(m.household_id) == hid and m.deleted_at is None}
            have = replica_members[hid]
            if want != have:
                return f"{device.name}: members of {hid} differ"
        return None

    def _lost_edits(self, households: dict[str, Household], conflicts: list[SyncConflict]) -> list[str]:
        """Every value of every edit is in force, or kept with a conflict (or the record was
        deleted by a delete that won, with the edit kept in that conflict)."""
        lost = []
        for edit in (e for d in self.devices for e in d.edits if e.kind == "update"):
            h = households.get(edit.record_id)
            for name, value in edit.values.items():
                in_force = h is not None and h.deleted_at is None and _same(getattr(h, name), value)
                kept = any(str(c.entity_id) == edit.record_id and (
                    (c.field == name and value in (c.device_value, c.server_value))
                    or (c.field == "_deleted" and isinstance(c.device_value, dict)
                        and c.device_value.get(name) == value)
                    or (c.field == "_deleted" and isinstance(c.server_value, dict)
                        and c.server_value.get(name) == value)) for c in conflicts)
                if not (in_force or kept):
                    lost.append(f"{edit.device} {edit.record_id} {name}={value!r}")
        return lost


def _households(device: Device) -> dict[str, str | None]:
    with device.client() as client:
        return {r.id: r.kelurahan_code for r in client.households()}


def _pending(device: Device) -> int:
    with device.client() as client:
        return client.status().pending


def _mutations(device: Device) -> int:
    with device.client() as client:
        return client.store.meta().next_seq - 1


def _same(stored: Any, sent: Any) -> bool:
    if isinstance(stored, date):
        return stored.isoformat() == sent
    return bool(getattr(stored, "value", stored) == sent)
