"""Channel tests: the real app with gateway secrets configured, and helpers to talk to it
as a gateway would."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.config import Settings
from tests.conftest import settings_for

SECRETS = {"africastalking": "at-secret-123", "kannel": "kannel-secret-123", "hubtel": "hubtel-secret-123",
           "twilio": "twilio-token-123", "webhook": "webhook-key-123"}
NIK = "8271071705800001"   # Ternate, born 17-05-1980, male
KK = "8271071203150001"    # issued in kecamatan 82.71.07 (Pulau Hiri)
PHONE = "+6281234567890"


@pytest.fixture
def settings(engine: Engine) -> Settings:
    return settings_for(engine.url.render_as_string(hide_password=False), gateway_secrets=SECRETS)


@pytest.fixture
def dial(client: TestClient) -> Callable[..., tuple[str, int]]:
    """One USSD step through the Africa's Talking adapter: (reply body, status)."""

    def step(text: str, *, session_id: str = "s1", phone: str = "081234567890",
             key: str | None = SECRETS["africastalking"]) -> tuple[str, int]:
        params = {"key": key} if key is not None else {}
        r = client.post("/channels/ussd/africastalking", params=params,
                        data={"sessionId": session_id, "serviceCode": "*123#", "phoneNumber": phone,
                              "networkCode": "51010", "text": text})
        return r.text, r.status_code

    return step
