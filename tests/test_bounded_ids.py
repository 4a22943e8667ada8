"""An id beyond any row's (here 2**63, past SQLite's 64-bit integers) is a 422 naming the
parameter, in the API and in the console, never a 500 (found by fuzzing with 50 examples)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.auth.models import Role
from tests.conftest import Account
from tests.console.conftest import login

HUGE = 2**63


@pytest.mark.parametrize(
    ("method", "url", "field"),
    [
        ("GET", f"/reconcile/merges/{HUGE}", "merge_id"),
        ("POST", f"/reconcile/merges/{HUGE}/undo", "merge_id"),
        ("GET", f"/reconcile/candidates/{HUGE}", "candidate_id"),
        ("GET", f"/score-runs/{HUGE}", "run_id"),
    ],
)
def test_the_api_names_the_parameter(
    client: TestClient, admin: Account, method: str, url: str, field: str
) -> None:
    r = client.request(method, url, headers=admin.headers, json={})
    assert r.status_code == 422, r.text
    assert any(p["field"].endswith(field) and p["rule"] == "less_than_equal" for p in r.json()["detail"])
    assert client.request(method, url.replace(str(HUGE), "2147483647"), headers=admin.headers, json={}
                          ).status_code == 404  # the largest id there can be: simply not found


def test_the_console_answers_with_a_page(client: TestClient, make_account: Callable[..., Account]) -> None:
    login(client, make_account(Role.supervisor, kecamatan="82.71.07"))
    r = client.get(f"/console/review/duplicates/{HUGE}")
    assert r.status_code == 422 and "<html" in r.text
    assert "Alamat atau isian tidak sah" in r.text and "candidate_id" in r.text
