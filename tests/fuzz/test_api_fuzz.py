"""Schemathesis against the API's own OpenAPI document: every operation, as each role, on
both engines. Zero 5xx and zero responses that contradict the schema (body and content type
of a documented status).

Examples per operation and role: SIGAP_FUZZ_EXAMPLES (default 3, so that CI stays short;
raise it for a longer hunt). Each test's data lives in the test's transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from app.auth.models import Role
from app.config import PROJECT_ROOT
from tests import factories as f
from tests.conftest import Account

EXAMPLES = int(os.environ.get("SIGAP_FUZZ_EXAMPLES", "3"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


# the committed document (tests/test_openapi.py proves it is the app's own)
schema = schemathesis.openapi.from_path(PROJECT_ROOT / "openapi" / "openapi.json")


@pytest.fixture
def callers(make_account: Callable[..., Account]) -> dict[str, dict[str, str]]:
    """Each role's headers (a supervisor of Pulau Hiri, an enumerator of one of its kelurahan)."""
    accounts = {
        "admin": make_account(Role.admin),
        "dinsos": make_account(Role.dinsos),
        "supervisor": make_account(Role.supervisor, kecamatan="82.71.07"),
        "enumerator": make_account(Role.enumerator, kelurahan=(f.HIRI_FAUDU,)),
    }
    protocol = {"Sigap-Sync-Version": "1", "Tus-Resumable": "1.0.0"}
    return {name: {**a.headers, **protocol} for name, a in accounts.items()}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error_and_responses_match_the_schema(
    case: Any, client: TestClient, callers: dict[str, dict[str, str]]
) -> None:
    for headers in callers.values():
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        kwargs.pop("cookies", None)  # the API reads no cookie but the console's session
        if isinstance(kwargs.get("data"), str | bytes):  # raw bodies go as content in httpx
            kwargs["content"] = kwargs.pop("data")
        response = client.request(**kwargs)
        case.validate_response(response, checks=CHECKS)
