"""Pages stay small for a low-end laptop on a slow link: measured on the wire (gzip, as served)
with realistic content, held under a budget, and printed (the figures in docs/console.md)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth.models import Role
from tests import factories as f
from tests.conftest import Account
from tests.console.conftest import HIRI, Work, give_desil, household, login

BUDGET = 12_000  # bytes on the wire per page (gzip); the stylesheet is cached after the first page


def test_pages_are_small(
    client: TestClient, make_account: Callable[..., Account], work: Work, db: Session, db_kind: str
) -> None:
    for i, kel in enumerate((f.HIRI_FAUDU, f.HIRI_TOMAJIKO, f.MOTI_KELURAHAN, f.SELATAN_KELURAHAN) * 5):
        give_desil(db, household(db, kel), official=1 + i % 10)
    db.commit()
    login(client, make_account(Role.supervisor, kecamatan=HIRI))
    pages = {
        "login": "/console/login",
        "dashboard": "/console",
        "duplicates": "/console/review/duplicates",
        "candidate": f"/console/review/duplicates/{work.candidate.id}",
        "conflicts": "/console/review/conflicts",
        "conflict": f"/console/review/conflicts/{work.conflict.id}",
        "household": f"/console/households/{work.conflict.household_id}",
        "stylesheet": "/console/static/console.css",
    }
    sizes = {}
    for name, url in pages.items():
        r = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200, (name, r.text)
        sizes[name] = (len(r.content), r.num_bytes_downloaded, r.headers.get("content-encoding", "-"))
    login(client, make_account(Role.dinsos))  # the city-wide dashboard: every kecamatan
    r = client.get("/console", headers={"Accept-Encoding": "gzip"})
    sizes["dashboard (city-wide)"] = (
        len(r.content),
        r.num_bytes_downloaded,
        r.headers.get("content-encoding", "-"),
    )
    print(f"\nconsole page sizes ({db_kind}): name, bytes, bytes on the wire, encoding")
    for name, (raw, wire, enc) in sizes.items():
        print(f"  {name:<21} {raw:>7} {wire:>7} {enc}")
    assert all(wire <= BUDGET for _, wire, _ in sizes.values()), sizes
