"""Generic signed JSON webhook for SMS, for any gateway that can be told how to call us:
``POST {"id", "from", "to", "text", "received_at"}`` answered ``{"reply": "..." | null}``.

The gateway signs every request with the ``webhook`` secret:

    X-Sigap-Timestamp: 1767225600                      (unix seconds, when it was sent)
    X-Sigap-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{raw body}">

A timestamp more than five minutes (``SIGAP_WEBHOOK_TOLERANCE_SECONDS``) from the server clock
is refused, so a captured request cannot be replayed later; within that window a replay is a
retry, answered from the record by its ``id``.  The signature is checked on the raw bytes
BEFORE the body is parsed: an unsigned caller learns nothing about what the body should be.
``null`` means send nothing (throttled).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.channels import service
from app.channels.gateways.base import RESPONSES, GatewayForbidden, check_signature, gateway_secret
from app.channels.outbound import flush_later
from app.db import SessionDep

NAME = "webhook"


class WebhookSms(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1, max_length=100, description="the gateway's message id (retries repeat it)")
    sender: str = Field(alias="from", max_length=32, description="the resident's number")
    to: str = Field(default="", max_length=32)
    text: str = Field(max_length=1600)
    received_at: datetime | None = None


class WebhookReply(BaseModel):
    reply: str | None = Field(description="the SMS to send back; null: send nothing")


async def signed_message(
        request: Request,
        x_sigap_timestamp: Annotated[str | None, Header(include_in_schema=False)] = None,
        x_sigap_signature: Annotated[str | None, Header(include_in_schema=False)] = None) -> WebhookSms:
    """The message, once its signature and timestamp are right (else 403, nothing parsed)."""
    settings = request.app.state.settings
    gateway_secret(settings, NAME)  # not configured: refused before anything else
    raw = await request.body()
    if not x_sigap_timestamp or not x_sigap_timestamp.isascii() or not x_sigap_timestamp.isdigit():
        raise GatewayForbidden(f"gateway {NAME!r}: missing or malformed X-Sigap-Timestamp")
    offered = x_sigap_signature.removeprefix("sha256=") if x_sigap_signature else None
    if x_sigap_signature and offered == x_sigap_signature:
        offered = None  # no "sha256=": not our scheme
    check_signature(settings, NAME, [f"{x_sigap_timestamp}.".encode() + raw], offered,
                    algorithm="sha256", encoding="hex")
    if abs(time.time() - int(x_sigap_timestamp)) > settings.webhook_tolerance_seconds:
        raise GatewayForbidden(f"gateway {NAME!r}: stale timestamp (more than "
                               f"{settings.webhook_tolerance_seconds} s from the server clock)")
    try:
        return WebhookSms.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


router = APIRouter(responses=RESPONSES)


@router.post("/channels/sms/webhook", response_model=WebhookReply,
             summary="Inbound SMS, generic signed JSON webhook (X-Sigap-Signature)",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": WebhookSms.model_json_schema(by_alias=True)}}}})
def sms(request: Request, session: SessionDep, background: BackgroundTasks,
        msg: Annotated[WebhookSms, Depends(signed_message)]) -> WebhookReply:
    answer = service.handle_sms(session, request.app.state.settings, service.InboundSms(
        gateway=NAME, sender=msg.sender, text=msg.text, provider_id=msg.id))
    flush_later(request, background, session)
    return WebhookReply(reply=answer.reply)
