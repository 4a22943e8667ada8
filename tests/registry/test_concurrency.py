"""Concurrent writers through the real request lifecycle (no test transaction): no deadlock,
no lost update, and every answer is a clean 2xx/4xx."""

from __future__ import annotations

import threading
from collections import Counter

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.registry.models import Member
from tests import factories as f
from tests.conftest import LiveApp


def test_member_edits_and_head_transfers_do_not_deadlock(live_app: LiveApp) -> None:
    app, headers, engine = live_app.app, live_app.headers, live_app.engine
    with TestClient(app) as client:  # type: ignore[arg-type]
        body = client.post("/households", json=f.household(), headers=headers).json()
    head, spouse = body["members"][0]["id"], body["members"][1]["id"]
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def worker(n: int) -> None:
        with TestClient(app) as client:  # type: ignore[arg-type]
            for i in range(12):
                if (n + i) % 2:
                    new_head, old_head = (spouse, head) if i % 4 < 2 else (head, spouse)
                    r = client.put(f"/households/{body['id']}/head", headers=headers, json={
                        "member_id": new_head, "previous_head_relation": "spouse"})
                    del old_head
                else:
                    target = head if i % 3 else spouse
                    current = client.get(f"/households/{body['id']}", headers=headers).json()
                    version = next(m["version"] for m in current["members"] if m["id"] == target)
                    r = client.patch(f"/members/{target}", headers=headers,
                                     json={"version": version, "occupation": "fisher" if i % 2
                                           else "trader"})
                with lock:
                    statuses[r.status_code] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request hung"
    assert set(statuses) <= {200, 409}, statuses  # 409: a stale version, never a 500
    assert statuses[200] > 0
    with Session(engine) as s:
        members = s.exec(select(Member).where(Member.deleted_at.is_(None))).all()  # type: ignore[union-attr]
        assert sum(m.relation == "head" for m in members) == 1
