"""An in-memory fake of the sync v1 server (httpx.MockTransport) and a fake clock.

The fake follows docs/sync-protocol.md closely enough to drive the device client: push is
idempotent per seq, pull pages through a change list with an index cursor.  Faults are
scripted per path: ``"connect"`` (the request never arrives), ``"read"`` (the server
processes the request, then the response is lost) or an HTTP status.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from sync_protocol.client import DeviceClient, RetryPolicy
from sync_protocol.store import Enrolment

BASE = "https://sigap.test"
SCOPE = ["82.71.07.1001", "82.71.07.1002"]
Fault = str | int | httpx.Response | None  # None: no fault for that request


@dataclass
class FakeTime:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.faults: dict[str, list[Fault]] = {}
        self.pushes: list[list[dict[str, Any]]] = []   # mutations of every push that was processed
        self.results: dict[int, dict[str, Any]] = {}   # first result per seq
        self.overrides: dict[int, dict[str, Any]] = {}  # scripted result fields per seq
        self.versions: dict[str, int] = {}
        self.changes: list[dict[str, Any]] = []
        self.pull_cursors: list[str | None] = []        # cursor of every pull that was processed
        self.limits = {"max_batch": 500, "max_page": 500, "max_body_bytes": 2_097_152}

    def fail(self, path: str, *faults: Fault) -> None:
        self.faults.setdefault(path, []).extend(faults)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        fault = self.faults[path].pop(0) if self.faults.get(path) else None
        if fault == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if isinstance(fault, int):
            return httpx.Response(fault, json={"error": "fault", "detail": f"scripted {fault}"})
        if isinstance(fault, httpx.Response):
            return fault
        response = self._route(request)
        if fault == "read":
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/auth/token":
            form = parse_qs(request.content.decode())
            if form.get("password") != ["rahasia-panjang"]:
                return httpx.Response(401, json={"error": "not_authenticated", "detail": "bad login"})
            return httpx.Response(200, json={"access_token": "user-token", "token_type": "bearer",
                                             "expires_in": 3600})
        if path == "/sync/v1/devices":
            body = json.loads(request.content)
            return httpx.Response(201, json={
                "device_id": body["device_id"], "device_token": f"dev-token-{body['device_id']}",
                "token_type": "bearer", "expires_in": 2592000, "username": "enum.hiri",
                "scope": SCOPE, "limits": self.limits, "protocol_versions": [1]})
        if path == "/sync/v1/push":
            return self._push(request)
        if path == "/sync/v1/pull":
            return self._pull(request)
        return httpx.Response(404, json={"error": "not_found", "detail": path})

    def _push(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["Content-Encoding"] == "gzip"
        assert request.headers["Sigap-Sync-Version"] == "1"
        mutations = json.loads(gzip.decompress(request.content))["mutations"]
        self.pushes.append(mutations)
        results = []
        for m in mutations:
            first = self.results.get(m["seq"])
            if first is not None:
                results.append({**first, "outcome": "duplicate", "original_outcome": first["outcome"]})
                continue
            result: dict[str, Any] = {"seq": m["seq"], "entity": m["entity"], "id": m["id"],
                                      "outcome": "applied"}
            override = self.overrides.get(m["seq"], {})
            if override.get("outcome") != "rejected":
                known = self.versions.get(m["id"], m.get("base_version", 0))
                version = 1 if m["op"] == "create" else known + 1
                self.versions[m["id"]] = version
                result["version"] = version
            result.update(override)
            self.results[m["seq"]] = result
            results.append(result)
        return httpx.Response(200, json={"results": results, "server_time": "2026-11-28T10:00:00Z"},
                              headers={"Sigap-Sync-Version": "1"})

    def _pull(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        cursor = params.get("cursor")
        start = int(cursor[1:]) if cursor else 0
        limit = int(params["limit"])
        self.pull_cursors.append(cursor)
        page = self.changes[start:start + limit]
        end = start + len(page)
        return httpx.Response(200, json={"changes": page, "cursor": f"c{end}",
                                         "has_more": end < len(self.changes), "scope": SCOPE})

    def push_seqs(self) -> list[list[int]]:
        return [[m["seq"] for m in batch] for batch in self.pushes]

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def household(kk: str = "8271011201260001", code: str = SCOPE[0], **extra: Any) -> dict[str, Any]:
    return {"kelurahan_code": code, "kk_number": kk, "survey_date": "2026-11-20", **extra,
            "members": [{"full_name": "Siti Hasan", "sex": "P", "relation": "head"},
                        {"full_name": "Rudi", "sex": "L", "relation": "child"}]}


def upsert(entity: str, rid: str, household_id: str, version: int, data: dict[str, Any],
           code: str = SCOPE[0]) -> dict[str, Any]:
    return {"kind": "upsert", "entity": entity, "id": rid, "household_id": household_id,
            "kelurahan_code": code, "version": version, "data": data}


def tombstone(entity: str, rid: str, household_id: str, version: int, reason: str = "deleted"
              ) -> dict[str, Any]:
    return {"kind": "tombstone", "entity": entity, "id": rid, "household_id": household_id,
            "kelurahan_code": SCOPE[0], "version": version, "reason": reason}


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "device.db"


@pytest.fixture
def make_client(server: FakeServer, fake_time: FakeTime, store_path: Path
                ) -> Iterator[Callable[..., DeviceClient]]:
    """A client on the fake server; ``enrolled=True`` stores an enrolment without network."""
    made: list[DeviceClient] = []

    def make(*, enrolled: bool = True, **kwargs: Any) -> DeviceClient:
        kwargs.setdefault("retry", RetryPolicy(max_attempts=5, deadline=None))
        kwargs.setdefault("rand", lambda: 0.5)
        client = DeviceClient(store_path, transport=httpx.MockTransport(server.handler),
                              sleep=fake_time.sleep, clock=fake_time.clock, **kwargs)
        made.append(client)
        if enrolled and client.store.meta().enrolment is None:
            client.store.save_enrolment(Enrolment(
                server_url=BASE, device_id="tab-hiri-007", device_token="dev-token",
                username="enum.hiri", scope=list(SCOPE), limits=dict(server.limits)))
        return client

    yield make
    for client in made:
        client.close()
