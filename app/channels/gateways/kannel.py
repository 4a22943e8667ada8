"""Kannel: smsbox's ``sms-service`` calls this for every SMS in, and its plain-text answer is
the SMS smsbox sends back; delivery reports for what ``KannelSender`` sent come back to
``/dlr``.  Configuration: docs/feature-phones.md#kannel.

The service's ``get-url`` (or ``post-url``) names the message with Kannel's escapes:
``from=%p&id=%I&text=%b&coding=%c&charset=%C`` (``to=%P`` optional) and carries the secret
(``key=``).  Throttled and duplicate-of-throttled messages are answered 200 with an EMPTY
body, which smsbox sends nothing for when the service has ``omit-empty = true`` (without it
smsbox would send its ``reply-emptymessage``).
"""

from __future__ import annotations

import codecs
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Header, Query, Request
from fastapi.responses import PlainTextResponse

from app.channels import outbound, service
from app.channels.gateways.base import RESPONSES, shared_secret
from app.db import ID_MAX, WriteSessionDep, utcnow
from app.errors import InvalidData, NotFound, error_responses

NAME = "kannel"
MAX_TEXT_BYTES = 1600  # ten concatenated SMS: far more than any keyword message
router = APIRouter(dependencies=[Depends(shared_secret(NAME))], responses=RESPONSES)

# Kannel's coding (%c): 0 GSM-7 (handed over as UTF-8), 1 8-bit data, 2 UCS-2 (UTF-16BE)
UCS2 = 2
_UTF16 = frozenset({"utf-16be", "utf-16", "ucs-2", "ucs2", "unicode"})


def decode_text(raw: bytes, *, coding: int | None, charset: str | None) -> str:
    """The message bytes as Kannel holds them -> text.

    Kannel converts GSM-7 messages to UTF-8 (``%C`` says ``UTF-8``), keeps UCS-2 messages as
    UTF-16BE (``%C`` ``UTF-16BE``, unless smsbox's ``mo-recode`` made them UTF-8) and 8-bit
    messages as octets (``8-BIT``).  A charset we do not know, or bytes that are not what
    the charset says, fall back to UTF-8 and then Windows-1252 (what old SMSC drivers send),
    so a message is never refused for its encoding: the grammar answers what it cannot read.
    """
    name = (charset or "").strip().strip('"').lower()
    text: str | None = None
    if name in _UTF16 or (coding == UCS2 and not name):
        text = raw.decode("utf-16-be", errors="replace")
    elif name not in ("", "8-bit", "binary"):
        text = _decode_named(raw, name)
    if text is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
    return text.replace("\x00", "")


def _decode_named(raw: bytes, name: str) -> str | None:
    try:
        codecs.lookup(name)
        return raw.decode(name)
    except (LookupError, UnicodeDecodeError):
        return None


def _raw_query(request: Request) -> dict[str, list[bytes]]:
    """The query string with values as BYTES (Starlette's decoding assumes UTF-8)."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    parsed = parse_qs(query, keep_blank_values=True, encoding="latin-1")
    return {k: [v.encode("latin-1") for v in vs] for k, vs in parsed.items()}


def _answer(request: Request, session: WriteSessionDep, background: BackgroundTasks, *,
            sender: str, raw: bytes, provider_id: str | None, coding: int | None,
            charset: str | None) -> PlainTextResponse:
    if len(raw) > MAX_TEXT_BYTES:
        raise InvalidData.one("text", "too_long", f"at most {MAX_TEXT_BYTES} bytes")
    text = decode_text(raw, coding=coding, charset=charset)
    # Every message goes to the channel service, enumerators' compact "K2 ..." messages
    # included: the service decides what a message is (the K2 dispatch belongs there).
    answer = service.handle_sms(session, request.app.state.settings, service.InboundSms(
        gateway=NAME, sender=sender, text=text, provider_id=provider_id or None))
    outbound.flush_later(request, background, session)
    return PlainTextResponse(answer.reply or "")


_SUMMARY = "SMS in, Kannel sms-service convention (the plain-text answer is the reply SMS)"
_FROM = Query(alias="from", min_length=1, max_length=32, description="the sender (%p)")
_ID = Query(alias="id", max_length=100, description="Kannel's message id (%I): a retry with the same id "
            "is answered from the record and runs nothing twice")
_CODING = Query(ge=-1, le=2, description="%c: 0 GSM-7, 1 8-bit, 2 UCS-2")
_CHARSET = Query(max_length=32, description="%C: how the text bytes are encoded (UTF-8, UTF-16BE, ...)")
_TEXT = Query(description="%b (or %a): the message, URL-encoded bytes in `charset`")


@router.get("/channels/sms/kannel", response_class=PlainTextResponse, summary=_SUMMARY)
def sms_get(request: Request, session: WriteSessionDep, background: BackgroundTasks,
            sender: Annotated[str, _FROM],
            text: Annotated[str, _TEXT] = "",
            message_id: Annotated[str | None, _ID] = None,
            coding: Annotated[int | None, _CODING] = None,
            charset: Annotated[str | None, _CHARSET] = None) -> PlainTextResponse:
    raw = _raw_query(request).get("text", [b""])[0]  # ``text`` above only documents it
    return _answer(request, session, background, sender=sender, raw=raw, provider_id=message_id,
                   coding=coding, charset=charset)


@router.post("/channels/sms/kannel", response_class=PlainTextResponse, summary=_SUMMARY + ", post-url",
             description="smsbox's `post-url`: the message is the body (its Content-Type names the "
                         "charset), the sender `X-Kannel-From` (`send-sender = true`) or `from=%p`.")
def sms_post(request: Request, session: WriteSessionDep, background: BackgroundTasks,
             body: Annotated[bytes, Body(media_type="text/plain")] = b"",
             sender: Annotated[str | None, Query(alias="from", max_length=32)] = None,
             message_id: Annotated[str | None, _ID] = None,
             x_kannel_from: Annotated[str | None, Header(max_length=32)] = None,
             x_kannel_coding: Annotated[int | None, Header(ge=-1, le=2)] = None,
             content_type: Annotated[str | None, Header()] = None) -> PlainTextResponse:
    phone = sender or x_kannel_from
    if not phone:
        raise InvalidData.one("from", "missing", "the sender: from=%p or X-Kannel-From (send-sender)")
    charset = None
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset":
            charset = value
    return _answer(request, session, background, sender=phone, raw=body, provider_id=message_id,
                   coding=x_kannel_coding, charset=charset)


@router.get("/channels/sms/kannel/dlr", response_class=PlainTextResponse,
            summary="Delivery report from Kannel for an SMS we sent (dlr-url)",
            responses=error_responses(NotFound))
def delivery_report(session: WriteSessionDep,
                    sms_id: Annotated[int, Query(alias="id", ge=1, le=ID_MAX, description="our message id")],
                    report: Annotated[int, Query(alias="type", ge=0, le=255, description=(
                        "Kannel's report type (%d): 1 delivered, 2 undelivered, 4 buffered, "
                        "8 accepted by the SMSC, 16 rejected by the SMSC"))],
                    ) -> PlainTextResponse:
    sms = outbound.record_delivery(session, sms_id=sms_id, report=report, now=utcnow())
    if sms is None:
        raise NotFound(f"no outbound SMS {sms_id}")
    return PlainTextResponse(sms.status)
