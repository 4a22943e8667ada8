"""Drill 1: the server SIGKILLed during pushes.

A real ``sigap serve`` process and the reference device client (sync_protocol.client) pushing
small batches in a loop; another thread SIGKILLs the server at random moments (inside a push
transaction, between the commit and the response, during the audit sealer's round, ...) and
starts it again on the same port. The client only retries (the protocol is idempotent by
(device, seq)). Afterwards: every mutation the server ACKNOWLEDGED (a 200 push result seen on
the wire) is in the database exactly once, nothing is duplicated, the client's outbox is
empty (its retries completed everything) and the audit chain verifies."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from app.db import build_engine
from sync_protocol.client import DeviceClient, RetryPolicy
from tests.factories import HIRI_FAUDU, household
from tests.faults.helpers import Server, audit_verified, figure, ok, scalar

KILLS = 3
PASSWORD = "rahasia-panjang-sekali"


class Recording(httpx.BaseTransport):
    """The real transport, remembering every push result the server acknowledged."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.acked: dict[int, str] = {}  # seq -> entity id
        self.lost_responses = 0
        self.pushing = 0  # pushes sent and not yet answered

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        push = request.url.path == "/sync/v1/push"
        self.pushing += push
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError:
            self.lost_responses += 1
            raise
        finally:
            self.pushing -= push
        if request.url.path == "/sync/v1/push" and response.status_code == 200:
            response.read()
            for result in json.loads(response.content)["results"]:
                if result["status"] < 300:
                    self.acked[int(result["seq"])] = str(result["id"])
        return response

    def close(self) -> None:
        self.inner.close()


def test_server_killed_during_pushes(database_url: str, db_kind: str, tmp_path: Path) -> None:
    started = time.monotonic()
    ok("migrate")
    ok("seed")
    ok("users", "create", "enum.hiri", "enumerator", "--kelurahan", HIRI_FAUDU,
          "--password", PASSWORD)
    server = Server(database_url, tmp_path / "server.log", SIGAP_AUDIT_SEAL_SECONDS="0.5")
    server.start()
    wire = Recording()
    client = DeviceClient(tmp_path / "tablet.db", transport=wire, batch_size=8, timeout=10,
                          retry=RetryPolicy(base=0.05, cap=0.5, max_attempts=400, deadline=120))
    rng = random.Random()
    kills: list[float] = []
    mid_push = 0
    stop = threading.Event()
    failure: list[BaseException] = []

    def killer() -> None:
        nonlocal mid_push
        try:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.3, 1.5))
                mid_push += wire.pushing > 0
                server.kill()
                kills.append(time.monotonic() - started)
                server.start()
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
        finally:
            stop.set()

    households: list[str] = []
    try:
        client.enrol(server.base, "enum.hiri", PASSWORD, "tab-fault-01")
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        while not stop.is_set():
            for _ in range(6):
                households.append(str(client.create_household(household(HIRI_FAUDU))))
            client.sync()
        thread.join()
        assert not failure, failure
        for _ in range(6):  # one more round on the last server: it must be whole
            households.append(str(client.create_household(household(HIRI_FAUDU))))
        client.sync()
        assert client.status().pending == 0, "the client's retries did not complete everything"
    finally:
        client.close()
        wire.close()
        server.stop()

    created = len(households)
    mutations = created  # one create per household, its members inside
    engine = build_engine(database_url)
    try:
        device = "tab-fault-01"
        ledger = scalar(engine, "SELECT COUNT(*) FROM sync_mutation WHERE device_id = :d", d=device)
        distinct = scalar(engine, "SELECT COUNT(DISTINCT seq) FROM sync_mutation WHERE device_id = :d",
                          d=device)
        assert ledger == distinct == mutations
        with engine.connect() as conn:
            seqs = {int(s) for s in conn.execute(
                text("SELECT seq FROM sync_mutation WHERE device_id = :d"), {"d": device}).scalars()}
            rows: dict[str, Any] = {str(r[0]).replace("-", ""): r[1] for r in conn.execute(text(
                "SELECT id, deleted_at FROM household"))}
            member_ids = {str(m).replace("-", "")
                          for m in conn.execute(text("SELECT id FROM member")).scalars()}
        lost = [s for s in wire.acked if s not in seqs]
        assert not lost, f"acknowledged mutations missing from the server: {lost[:10]}"
        for seq, entity_id in wire.acked.items():
            assert entity_id.replace("-", "") in rows or entity_id.replace("-", "") in member_ids, seq
        assert len(rows) == created, "a household is missing or duplicated"
        assert all(rows[h.replace("-", "")] is None for h in households)
        assert len(member_ids) == created * 3
        dup_kk = scalar(engine, "SELECT COUNT(*) FROM (SELECT kk_bidx FROM household "  # KK sealed: its index
                                "GROUP BY kk_bidx HAVING COUNT(*) > 1) d")
        assert dup_kk == 0
    finally:
        engine.dispose()
    said = audit_verified()
    figure("1 push+SIGKILL", db_kind, kills=len(kills), kills_with_a_push_in_flight=mid_push,
           server_starts=server.starts,
           mutations_acknowledged=len(wire.acked), mutations_in_db=ledger,
           households=created, lost_responses=wire.lost_responses, lost=len(lost), duplicated=0,
           audit="verified" if said else "?", seconds=f"{time.monotonic() - started:.1f}")
