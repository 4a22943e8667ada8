"""Concurrent writers through the real request lifecycle (no test transaction): no deadlock,
no lost update, and every answer is a clean 2xx/4xx."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.auth.models import User
from app.auth.security import create_access_token
from app.main import create_app
from app.registry.models import Member
from tests import factories as f
from tests.conftest import password_hash, reference_database, settings_for


@pytest.fixture
def live(db_kind: str, tmp_path: Path) -> Iterator[tuple[object, dict[str, str], Engine]]:
    pool: dict[str, object] = {"pool_size": 10} if db_kind == "postgresql" else {}
    with reference_database(db_kind, tmp_path, **pool) as engine:
        settings = settings_for(engine.url.render_as_string(hide_password=False))
        with Session(engine) as s:
            user = User(username="root", password_hash=password_hash(), role="admin")
            s.add(user)
            s.commit()
            token, _ = create_access_token(settings=settings, user_id=user.id or 0, role="admin")
        yield create_app(settings, engine=engine), {"Authorization": f"Bearer {token}"}, engine


def test_member_edits_and_head_transfers_do_not_deadlock(
        live: tuple[object, dict[str, str], Engine]) -> None:
    app, headers, engine = live
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
