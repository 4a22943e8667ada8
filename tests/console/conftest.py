"""Console test helpers: log in through the form, read a page's CSRF token, make review work."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.audit.service import ActorRef
from app.auth.models import Role
from app.auth.permissions import Principal
from app.eligibility.store import DesilEstimate, DesilImport, FamilyDesil
from app.reconcile.store import MatchCandidate
from app.registry import repository as registry_repo
from app.registry import service as registry
from app.registry.models import Household
from app.registry.schemas import HouseholdCreate
from app.sync.models import SyncConflict
from tests import factories as f
from tests.conftest import Account

PASSWORD = "correct horse battery"  # of every account made by make_account
HIRI = "82.71.07"
ADMIN = Principal(user_id=0, username="t", role=Role.admin, kelurahan_scope=None, full_identifiers=True)
FIELD = ActorRef(user_id=None, name="enumerator", channel="api")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def login(client: TestClient, account: Account | str, password: str = PASSWORD) -> Any:
    username = account if isinstance(account, str) else account.user.username
    client.cookies.clear()
    page = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text), "next": "/console"},
        follow_redirects=False,
    )


def post_form(client: TestClient, page_url: str, action: str, data: dict[str, str]) -> Any:
    """Submit a form the way a browser does: the token comes from the page the form is on."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={**data, "csrf": csrf_of(page.text)}, follow_redirects=False)


def household(session: Session, kelurahan: str = f.HIRI_FAUDU, **extra: Any) -> Household:
    row = registry.create_household(
        session=session,
        data=HouseholdCreate.model_validate(f.household(kelurahan, **extra)),
        actor=FIELD,
        principal=ADMIN,
    )
    session.flush()
    return row


@dataclass
class Work:
    """A pending duplicate pair and an open sync conflict in Pulau Hiri."""

    a: Household
    b: Household
    candidate: MatchCandidate
    conflict: SyncConflict


def make_work(session: Session, kelurahan: str = f.HIRI_FAUDU) -> Work:
    head = f.member("head", "male", date(1968, 3, 9), full_name="Muhammad Yusuf")
    lead = household(session, kelurahan, address="Faudu RT 2", members=[head])
    visited = household(
        session,
        kelurahan,
        address="Jl. Faudu No. 3",
        members=[
            {**head, "nik": None, "full_name": "H. Muhammad Yusuf"},
            f.member("spouse", "female", date(1972, 6, 1), full_name="Hj. Salma Yusuf"),
        ],
    )
    a, b = sorted((lead, visited), key=lambda h: str(h.id))
    heads = {h.id: next(m for m in registry_members(session, h) if m.relation == "head") for h in (a, b)}
    contribution = {
        "feature": "name",
        "level": "similar",
        "weight": 6.5,
        "reason": "names similar",
        "reason_id": "nama mirip (gelar H. diabaikan)",
    }
    link = {
        "a": str(heads[a.id].id),
        "b": str(heads[b.id].id),
        "weight": 21.5,
        "probability": 0.999,
        "decision": "auto_merge",
        "contributions": [contribution],
    }
    kec = kelurahan[:8]
    candidate = MatchCandidate(
        kind="household",
        household_a=a.id,
        household_b=b.id,
        kecamatan_code=kec,
        kecamatan_b=kec,
        weight=21.5,
        decision="review",
        links=[link],
        source="batch",
        reasons=[{"code": "heads_linked", "reason": "heads linked", "reason_id": "kepala keluarga cocok"}],
    )
    session.add(candidate)
    conflict = SyncConflict(
        entity="household",
        entity_id=visited.id,
        household_id=visited.id,
        kelurahan_code=kelurahan,
        field="address",
        policy="review",
        base_version=1,
        server_version=visited.version,
        server_value=visited.address,
        device_value="Jl. Faudu No. 5",
        device_id="tab-hiri-1",
        mutation_seq=1,
        status="open",
    )
    session.add(conflict)
    session.flush()
    return Work(a=a, b=b, candidate=candidate, conflict=conflict)


def registry_members(session: Session, household_row: Household) -> list[Any]:
    return list(registry_repo.members_of(session, [household_row.id]).get(household_row.id, []))


def give_desil(
    session: Session, row: Household, *, official: int | None = None, estimate: int | None = None
) -> None:
    if official is not None:
        imp = DesilImport(
            file_name="dtsen.csv", sha256=f"{row.id.hex:0<64}"[:64], period="2026-Q1", imported_by="test"
        )
        session.add(imp)
        session.flush()
        assert imp.id is not None
        session.add(
            FamilyDesil(household_id=row.id, period="2026-Q1", desil=official, import_id=imp.id, row_number=2)
        )
    if estimate is not None:
        session.add(
            DesilEstimate(household_id=row.id, model_version="pmt-test.1", desil=estimate, fingerprint="x")
        )
    session.flush()


@pytest.fixture
def work(db: Session) -> Work:
    made = make_work(db)
    db.commit()
    return made
