"""Sync fixtures: enumerators with enrolled devices, and a push/pull helper."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.auth.models import Role
from tests.conftest import Account
from tests.factories import HIRI_FAUDU, HIRI_TOMAJIKO

V1 = {"Sigap-Sync-Version": "1"}


@dataclass
class Tablet:
    """An enrolled device as the tests drive it: raw protocol calls, own seq counter."""

    client: TestClient
    account: Account
    device_id: str
    token: str
    seqs: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def headers(self) -> dict[str, str]:
        return {**V1, "Authorization": f"Bearer {self.token}"}

    def mutation(
        self,
        entity: str,
        op: str,
        record_id: uuid.UUID | str,
        fields: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "seq": next(self.seqs),
            "entity": entity,
            "op": op,
            "id": str(record_id),
            "fields": fields or {},
            **extra,
        }

    def push(self, *mutations: dict[str, Any], expect: int = 200) -> list[dict[str, Any]]:
        r = self.client.post("/sync/v1/push", json={"mutations": list(mutations)}, headers=self.headers)
        assert r.status_code == expect, r.text
        return r.json()["results"] if expect == 200 else r.json()

    def pull_all(
        self, cursor: str | None = None, limit: int | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        changes: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"cursor": cursor} if cursor else {}
            if limit:
                params["limit"] = limit
            r = self.client.get("/sync/v1/pull", params=params, headers=self.headers)
            assert r.status_code == 200, r.text
            body = r.json()
            changes += body["changes"]
            cursor = body["cursor"]
            if not body["has_more"]:
                return changes, cursor


@pytest.fixture
def enrol(client: TestClient, make_account: Callable[..., Account]) -> Callable[..., Tablet]:
    counter = itertools.count(1)

    def make(
        account: Account | None = None,
        *,
        kelurahan: tuple[str, ...] = (HIRI_FAUDU, HIRI_TOMAJIKO),
        device_id: str | None = None,
    ) -> Tablet:
        account = account or make_account(Role.enumerator, kelurahan=kelurahan)
        device_id = device_id or f"tab-{uuid.uuid4().hex[:8]}-{next(counter)}"
        r = client.post(
            "/sync/v1/devices",
            json={"device_id": device_id, "label": "test"},
            headers={**V1, **account.headers},
        )
        assert r.status_code == 201, r.text
        return Tablet(client=client, account=account, device_id=device_id, token=r.json()["device_token"])

    return make
