"""Sending queued SMS: the outbox is written in the request's transaction, and handed to
the configured sender after commit (and by ``sigap sms flush`` for anything left queued).

Senders are adapters too: ``log`` (the default; records the message as sent without any
network, for development and tests) and ``kannel`` (Kannel's ``sendsms`` interface, with a
delivery-report URL).  A failed send stays queued for the next flush, up to ``MAX_ATTEMPTS``.
Delivery reports move ``sent`` to ``delivered`` or ``failed`` (``record_delivery``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

import httpx
from fastapi import BackgroundTasks, Request
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.channels import gsm7
from app.channels.models import OutboundSms
from app.config import Settings
from app.db import utcnow

log = logging.getLogger("sigap.channels")
MAX_ATTEMPTS = 5
# httpx logs every request URL at INFO; a sendsms URL carries the sendsms-user's password
logging.getLogger("httpx").setLevel(logging.WARNING)


class SendFailed(Exception):
    """The gateway did not accept the message (it stays queued unless attempts run out)."""


class SmsSender(Protocol):
    name: str

    def send(self, sms: OutboundSms) -> str | None:
        """Hand one SMS to the gateway; the gateway's reference, if it gives one."""
        ...


class LogSender:
    """No network: marks messages sent and logs them with the number masked."""

    name = "log"

    def send(self, sms: OutboundSms) -> str | None:
        log.info("sms to %s****: %d characters (%s)", sms.phone[:-4], len(sms.text), sms.purpose)
        return None


class KannelSender:
    """Kannel smsbox's ``sendsms`` interface, asking for a delivery report.

    The DLR URL carries our own message id (Kannel 1.4's sendsms answers "0: Accepted for
    delivery" without an id of its own) and the gateway secret; Kannel fills in ``%d``, the
    report type, when the report arrives (``/channels/sms/kannel/dlr``).
    """

    name = "kannel"
    # 1 delivered to the phone, 2 undelivered, 16 rejected by the SMSC: final states only
    DLR_MASK = 1 | 2 | 16

    def __init__(self, settings: Settings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.client = client  # None: a connection per message (a flush sends a handful)

    def dlr_url(self, sms: OutboundSms) -> str:
        secret = self.settings.gateway_secrets.get("kannel")
        if not secret:
            raise SendFailed("no secret for 'kannel' in SIGAP_GATEWAY_SECRETS: its delivery reports "
                             "would be refused")
        if not self.settings.public_base_url:
            raise SendFailed("SIGAP_PUBLIC_BASE_URL is not set: Kannel would have nowhere to send "
                             "delivery reports")
        base = self.settings.public_base_url.rstrip("/")
        # Kannel reads %X in this URL as its escapes: a literal percent must be written %%
        key = quote(secret, safe="").replace("%", "%%")
        return f"{base.replace('%', '%%')}/channels/sms/kannel/dlr?key={key}&id={sms.id}&type=%d"

    def send(self, sms: OutboundSms) -> str | None:
        cfg = self.settings
        params: dict[str, str | int] = {
            "username": cfg.kannel_username, "password": cfg.kannel_password, "to": sms.phone,
            "text": sms.text, "charset": "UTF-8",
            # replies are written in GSM-7; anything else must travel as UCS-2, not be mangled
            "coding": 0 if gsm7.is_gsm7(sms.text) else 2,
            "dlr-mask": self.DLR_MASK, "dlr-url": self.dlr_url(sms)}
        if cfg.kannel_from:
            params["from"] = cfg.kannel_from
        try:
            if self.client is None:
                response = httpx.get(cfg.kannel_sendsms_url, params=params,
                                     timeout=cfg.kannel_timeout_seconds)
            else:
                response = self.client.get(cfg.kannel_sendsms_url, params=params)
        except httpx.HTTPError as exc:
            raise SendFailed(f"kannel sendsms unreachable: {type(exc).__name__}") from None
        if not response.is_success:  # 202 "0: Accepted" / "3: Queued for later delivery"
            raise SendFailed(f"kannel sendsms answered {response.status_code}: {response.text[:120]}")
        log.info("sms %s to %s**** handed to kannel (%s)", sms.id, sms.phone[:-4], sms.purpose)
        return None


SENDERS: dict[str, Callable[[Settings], SmsSender]] = {
    "log": lambda settings: LogSender(),
    "kannel": KannelSender,
}


def sender_for(settings: Settings) -> SmsSender:
    return SENDERS[settings.sms_sender](settings)


def queued(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(OutboundSms)
                            .where(OutboundSms.status == "queued")).one())


def flush(session_factory: Callable[[], AbstractContextManager[Session]], settings: Settings, *,
          limit: int = 100, sender: SmsSender | None = None) -> tuple[int, int]:
    """Send up to ``limit`` queued messages, each in its own transaction; (sent, failed).

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two flushers never send the same message.
    """
    sender = sender or sender_for(settings)
    sent = failed = 0
    for _ in range(limit):
        with session_factory() as session:
            stmt = (select(OutboundSms).where(OutboundSms.status == "queued")
                    .order_by(col(OutboundSms.id)).limit(1).with_for_update(skip_locked=True))
            sms = session.exec(stmt).first()
            if sms is None:
                break
            sms.attempts += 1
            sms.updated_at = utcnow()
            sms.gateway = sender.name
            try:
                sms.provider_ref = sender.send(sms)
                sms.status, sms.last_error = "sent", None
                sent += 1
            except SendFailed as exc:
                sms.last_error = str(exc)[:200]
                sms.status = "failed" if sms.attempts >= MAX_ATTEMPTS else "queued"
                failed += 1
            session.add(sms)
            session.commit()
            if sms.status == "queued":  # failed this time: leave it for the next flush
                break
    return sent, failed


# Kannel's report types (%d): what each means for the message
DELIVERED, UNDELIVERED, BUFFERED, SMSC_ACCEPTED, SMSC_REJECTED = 1, 2, 4, 8, 16


def record_delivery(session: Session, *, sms_id: int, report: int, now: datetime) -> OutboundSms | None:
    """Apply a delivery report to the message (None: no such message).

    ``delivered`` is final; a report of a failure marks ``failed`` unless it was delivered;
    intermediate reports (buffered, accepted by the SMSC) change nothing.  The row is
    locked first: a report can overtake the flush that is still committing ``sent``.
    """
    sms = session.exec(select(OutboundSms).where(OutboundSms.id == sms_id).with_for_update()).first()
    if sms is None:
        return None
    if sms.status != "delivered":
        if report & DELIVERED:
            sms.status, sms.last_error = "delivered", None
        elif report & (UNDELIVERED | SMSC_REJECTED):
            reason = "rejected by the SMSC" if report & SMSC_REJECTED else "not delivered"
            sms.status, sms.last_error = "failed", f"{reason} (report {report})"
        sms.updated_at = now
        session.add(sms)
    return sms


QUEUED = "sigap_sms_queued"


def flush_later(request: Request, background: BackgroundTasks, session: Session) -> None:
    """After the response (the request's commit comes first), hand what the request queued
    to the sender; nothing is scheduled when the request queued nothing."""
    if session.info.pop(QUEUED, False):
        background.add_task(flush, request.app.state.session_factory, request.app.state.settings, limit=20)
