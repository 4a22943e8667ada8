"""Twilio-style SMS webhook: a form POST (``From, To, Body, MessageSid`` and whatever else the
gateway adds) signed in ``X-Twilio-Signature``, answered in TwiML.

The signature is Twilio's: base64 HMAC-SHA1, keyed with the auth token (the ``twilio`` gateway
secret), of the full URL the gateway called followed by every POST parameter, sorted by name,
written as name then value.  Behind a proxy that URL is the public one
(``SIGAP_PUBLIC_BASE_URL``); like Twilio's own validator, the URL is accepted with and without
its port.  ``MessageSid`` identifies the message, so a retry gets the stored reply.  A throttled
message is answered with an empty ``<Response/>``: 2xx, no SMS sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated
from xml.sax.saxutils import escape

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Header, Request, Response

from app.channels import service
from app.channels.gateways.base import (
    RESPONSES,
    check_signature,
    public_url,
    renamed_fields,
    with_and_without_port,
)
from app.channels.outbound import flush_later
from app.db import SessionDep

NAME = "twilio"
XML = "application/xml"
_PROLOGUE = '<?xml version="1.0" encoding="UTF-8"?>'


def signed_text(url: str, params: Iterable[tuple[str, str]]) -> bytes:
    """What Twilio signs: the URL, then each parameter name and value, by name then value
    (a name sent twice with the same value counts once, as in Twilio's own validator)."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    return (url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))).encode()


async def twilio_signature(request: Request, x_twilio_signature: Annotated[
        str | None, Header(include_in_schema=False)] = None) -> None:
    form = await request.form()  # already parsed (and cached) by FastAPI for the Form fields
    params = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    check_signature(request.app.state.settings, NAME,
                    [signed_text(url, params) for url in with_and_without_port(public_url(request))],
                    x_twilio_signature, algorithm="sha1", encoding="base64")


router = APIRouter(dependencies=[Depends(twilio_signature)], responses=RESPONSES)


def twiml(reply: str | None) -> str:
    if reply is None:
        return f"{_PROLOGUE}<Response/>"
    return f"{_PROLOGUE}<Response><Message>{escape(reply)}</Message></Response>"


@router.post("/channels/sms/twilio", response_class=Response,
             responses={200: {"content": {XML: {}},
                              "description": "TwiML: the reply, or an empty <Response/>"}},
             summary="Inbound SMS, Twilio-style webhook (form POST, X-Twilio-Signature, TwiML reply)")
def sms(request: Request, session: SessionDep, background: BackgroundTasks,
        From: Annotated[str, Form(max_length=32)],
        MessageSid: Annotated[str, Form(min_length=1, max_length=100)],
        Body: Annotated[str, Form(max_length=1600)] = "",
        To: Annotated[str, Form(max_length=32)] = "") -> Response:
    with renamed_fields({"from": "From"}):
        answer = service.handle_sms(session, request.app.state.settings, service.InboundSms(
            gateway=NAME, sender=From, text=Body, provider_id=MessageSid))
    flush_later(request, background, session)
    return Response(twiml(answer.reply), media_type=XML)
