"""The authorisation matrix: every API route x every role x in-area / out-of-area.

``RULES`` declares, for every operation of the API, who may call it. The static test reads
the route table and fails for a route without a rule (a new route must be declared here), a
rule without a route, and a rule that differs from the permission the route's dependencies
actually check. The HTTP test then calls every route as nobody, as each role, and (for routes
on a household's records) from outside the record's area, on both engines:

- nobody: 401 for every route but the public ones (gateways answer 403 without their secret);
- a role without the permission: 403 ``forbidden``;
- a role with it: never 401/403 (404/422 are fine: the placeholders are not valid requests).
  Writes use ids that do not exist, so the matrix never changes data it reads later;
- out of area (a supervisor and an enumerator of Moti on a Pulau Hiri household): 403
  ``out_of_area`` or 404, never the record.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth.models import Role
from app.auth.permissions import ROLE_ACTIONS, Action
from app.registry.models import Member
from sync_protocol.messages import VERSION_HEADER
from tests import factories as f
from tests.conftest import Account
from tests.eligibility_db.helpers import family

PUBLIC, AUTHENTICATED, GATEWAY, DEVICE = "public", "authenticated", "gateway", "device"
A = Action
RULES: dict[tuple[str, str], Action | str] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("POST", "/auth/token"): PUBLIC,
    ("GET", "/auth/me"): AUTHENTICATED,
    ("GET", "/users"): A.user_admin,
    ("POST", "/users"): A.user_admin,
    ("GET", "/wilayah/kecamatan"): AUTHENTICATED,
    ("GET", "/wilayah/kelurahan"): AUTHENTICATED,
    ("GET", "/households"): A.household_read,
    ("POST", "/households"): A.household_write,
    ("GET", "/households/search"): A.household_read,
    ("GET", "/households/export.csv"): A.household_export,
    ("GET", "/households/{household_id}"): A.household_read,
    ("PATCH", "/households/{household_id}"): A.household_write,
    ("DELETE", "/households/{household_id}"): A.household_write,
    ("GET", "/households/{household_id}/history"): A.household_read,
    ("POST", "/households/{household_id}/members"): A.household_write,
    ("PUT", "/households/{household_id}/head"): A.household_write,
    ("PATCH", "/members/{member_id}"): A.household_write,
    ("DELETE", "/members/{member_id}"): A.household_write,
    ("POST", "/sync/v1/devices"): A.household_write,
    ("GET", "/sync/v1/devices"): A.device_admin,
    ("POST", "/sync/v1/devices/{device_id}/revoke"): A.device_admin,
    ("POST", "/sync/v1/push"): DEVICE,
    ("GET", "/sync/v1/pull"): DEVICE,
    ("GET", "/conflicts"): A.conflict_resolve,
    ("GET", "/conflicts/{conflict_id}"): A.conflict_resolve,
    ("POST", "/conflicts/{conflict_id}/resolve"): A.conflict_resolve,
    ("POST", "/channels/ussd/africastalking"): GATEWAY,
    ("POST", "/channels/ussd/hubtel"): GATEWAY,
    ("GET", "/channels/sms/kannel"): GATEWAY,
    ("POST", "/channels/sms/kannel"): GATEWAY,
    ("GET", "/channels/sms/kannel/dlr"): GATEWAY,
    ("POST", "/channels/sms/twilio"): GATEWAY,
    ("POST", "/channels/sms/webhook"): GATEWAY,
    ("GET", "/reconcile/candidates"): A.dedup_review,
    ("GET", "/reconcile/candidates/{candidate_id}"): A.dedup_review,
    ("POST", "/reconcile/candidates/{candidate_id}/decision"): A.dedup_review,
    ("GET", "/reconcile/merges/{merge_id}"): A.dedup_review,
    ("POST", "/reconcile/merges/{merge_id}/undo"): A.dedup_review,
    ("POST", "/appeals"): A.appeal_file,
    ("GET", "/appeals"): A.appeal_read,
    ("GET", "/appeals/{appeal_id}"): A.appeal_read,
    ("POST", "/appeals/{appeal_id}/status"): A.appeal_status,
    ("GET", "/households/{household_id}/eligibility"): A.eligibility_read,
    ("GET", "/households/{household_id}/desil"): A.eligibility_read,
    ("GET", "/eligibility/decisions"): A.eligibility_read,
    ("GET", "/rule-sets"): A.eligibility_read,
    ("GET", "/eligibility/errors"): A.eligibility_read,
    ("GET", "/score-runs"): A.eligibility_read,
    ("GET", "/score-runs/{run_id}"): A.eligibility_read,
    ("POST", "/score-runs"): A.score_run,
    ("GET", "/reports/snapshots"): A.report_read,
    ("GET", "/reports/trends/desil"): A.report_read,
    ("GET", "/reports/trends/programmes"): A.report_read,
    ("GET", "/reports/checklist"): A.report_read,
    ("POST", "/reports/milestones"): A.milestone_record,
    ("GET", "/reports/milestones"): A.report_read,
    ("GET", "/reports/desil-matrix"): A.report_read,
    ("GET", "/reports/programmes"): A.report_read,
    ("GET", "/reports/coverage"): A.report_read,
    ("GET", "/reports/quality"): A.report_read,
    ("GET", "/reports/appeals"): A.report_read,
    ("GET", "/reports/families"): A.household_read,
    ("OPTIONS", "/sync/v1/media"): A.household_write,
    ("POST", "/sync/v1/media"): A.household_write,
    ("HEAD", "/sync/v1/media/{upload_id}"): A.household_write,
    ("PATCH", "/sync/v1/media/{upload_id}"): A.household_write,
    ("DELETE", "/sync/v1/media/{upload_id}"): A.household_write,
    ("GET", "/media"): A.household_read,
    ("GET", "/media/{sha256}"): A.household_read,
}
ROLES = (Role.admin, Role.dinsos, Role.supervisor, Role.enumerator)
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
PROTOCOL_HEADERS = {VERSION_HEADER: "1", "Tus-Resumable": "1.0.0"}


def operations(app: FastAPI) -> Iterator[tuple[str, str, Any]]:
    """(method, path, dependant) of every operation in the API's schema."""
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for c in contexts:
            if getattr(c, "include_in_schema", False):
                for method in sorted(c.methods):
                    yield method, c.path, c.dependant


def checks(dependant: Any) -> set[str]:
    names = {getattr(dependant.call, "__name__", "")}
    for sub in dependant.dependencies:
        names |= checks(sub)
    return names


def declared(names: set[str]) -> Action | str:
    required = [a for a in Action if f"require_{a.name}" in names]
    if "device_principal" in names:
        return DEVICE
    if required:
        assert len(required) == 1, required
        return required[0]
    return AUTHENTICATED if "get_principal" in names else PUBLIC


def test_every_route_has_a_rule_and_the_rule_is_what_the_route_checks(app: FastAPI) -> None:
    found = {(m, p): declared(checks(d)) for m, p, d in operations(app)}
    missing = sorted(set(found) - set(RULES))
    assert not missing, f"routes without a rule in RULES (declare who may call them): {missing}"
    stale = sorted(set(RULES) - set(found))
    assert not stale, f"rules for routes that no longer exist: {stale}"
    differ = {
        k: (RULES[k], found[k])
        for k in found
        if found[k] != RULES[k] and not (RULES[k] == GATEWAY and found[k] == PUBLIC)
    }
    assert not differ, f"declared vs checked: {differ}"


@pytest.fixture
def accounts(make_account: Callable[..., Account]) -> dict[str, tuple[dict[str, str], Role]]:
    """name -> (headers, role); the role kept apart from the ORM object, which requests expire."""
    hiri, moti = ("82.71.07", "82.71.04")
    made = {
        "admin": (Role.admin, make_account(Role.admin)),
        "dinsos": (Role.dinsos, make_account(Role.dinsos)),
        "supervisor": (Role.supervisor, make_account(Role.supervisor, kecamatan=hiri)),
        "enumerator": (Role.enumerator, make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,))),
        "supervisor-moti": (Role.supervisor, make_account(Role.supervisor, kecamatan=moti)),
        "enumerator-moti": (Role.enumerator, make_account(Role.enumerator, kelurahan=(f.MOTI_KELURAHAN,))),
    }
    return {name: (account.headers, role) for name, (role, account) in made.items()}


def _error(response: Any) -> str | None:
    """The error code of a response; None for a body-less one (HEAD)."""
    return response.json().get("error") if response.content else None


def _url(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    return path


def test_every_route_for_every_role_in_and_out_of_area(
    client: TestClient, db: Session, app: FastAPI, accounts: dict[str, tuple[dict[str, str], Role]]
) -> None:
    hiri = family(db)
    db.commit()
    member_id = db.exec(select(Member.id).where(Member.household_id == hiri.id)).first()
    real = {"household_id": str(hiri.id), "member_id": str(member_id)}
    missing = {
        "household_id": str(uuid.uuid4()),
        "member_id": str(uuid.uuid4()),
        "device_id": "no-such-device",
        "conflict_id": str(uuid.uuid4()),
        "candidate_id": "999999",
        "merge_id": "999999",
        "appeal_id": "999999",
        "run_id": "999999",
        "upload_id": "no-such-upload",
        "sha256": "0" * 64,
    }
    cells = 0
    failures: list[str] = []
    for method, path, _dep in operations(app):
        rule = RULES[(method, path)]
        ids = {**missing, **real} if method in SAFE else missing
        url = _url(path, ids)

        def call(headers: dict[str, str], method: str = method, url: str = url) -> Any:
            # the protocol headers the sync and tus routes check before anything else
            headers = {**headers, **PROTOCOL_HEADERS}
            if method in ("POST", "PUT", "PATCH"):
                return client.request(method, url, headers=headers, json={})
            return client.request(method, url, headers=headers)

        anonymous = call({})
        cells += 1
        if rule == PUBLIC:
            if anonymous.status_code == 401:
                failures.append(f"{method} {path}: public but 401")
        elif rule == GATEWAY:
            if anonymous.status_code not in (401, 403):
                failures.append(f"{method} {path}: gateway without its secret got {anonymous.status_code}")
        elif anonymous.status_code != 401:
            failures.append(f"{method} {path}: nobody got {anonymous.status_code}, expected 401")
        if rule in (PUBLIC, GATEWAY):
            continue
        for name in ("admin", "dinsos", "supervisor", "enumerator"):
            headers, role = accounts[name]
            response = call(headers)
            cells += 1
            if rule == DEVICE:
                ok = response.status_code in (401, 403)  # a user token is not a device token
                expected = "401/403 (device token needed)"
            elif rule == AUTHENTICATED or rule in ROLE_ACTIONS[role]:
                ok = response.status_code not in (401, 403)
                expected = "allowed"
            else:
                ok = response.status_code == 403 and _error(response) in ("forbidden", None)
                expected = "403 forbidden"
            if not ok:
                got = f"{response.status_code} {response.text[:120]}"
                failures.append(f"{method} {path} as {name}: {got}, expected {expected}")
        # out of area: a household's records seen from Moti
        if method in SAFE and any(k in path for k in ("{household_id}", "{member_id}")) and rule != DEVICE:
            for name in ("supervisor-moti", "enumerator-moti"):
                headers, role = accounts[name]
                if not (rule == AUTHENTICATED or rule in ROLE_ACTIONS[role]):
                    continue
                response = call(headers)
                cells += 1
                if response.status_code not in (403, 404) or (
                    response.status_code == 403 and _error(response) not in ("out_of_area", None)
                ):
                    failures.append(
                        f"{method} {path} as {name}: {response.status_code}, expected out_of_area/404"
                    )
    assert not failures, "\n".join(failures)
    assert cells > 200
    print(f"authz matrix: {cells} cells")
