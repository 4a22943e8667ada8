"""Sending queued SMS: the outbox is written in the request's transaction, and handed to
the configured sender after commit (and by ``sigap sms flush`` for anything left queued).

Senders are adapters too: ``log`` (the default; records the message as sent without any
network, for development and tests) and ``kannel`` (Kannel's ``sendsms`` interface, with a
delivery-report URL).  A failed send stays queued for the next flush, up to ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from fastapi import BackgroundTasks, Request
from sqlmodel import Session, col, select

from app.channels.models import OutboundSms
from app.config import Settings
from app.db import utcnow

log = logging.getLogger("sigap.channels")
MAX_ATTEMPTS = 5


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


SENDERS: dict[str, Callable[[Settings], SmsSender]] = {"log": lambda settings: LogSender()}


def sender_for(settings: Settings) -> SmsSender:
    return SENDERS[settings.sms_sender](settings)


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



QUEUED = "sigap_sms_queued"


def flush_later(request: Request, background: BackgroundTasks, session: Session) -> None:
    """After the response (the request's commit comes first), hand what the request queued
    to the sender; nothing is scheduled when the request queued nothing."""
    if session.info.pop(QUEUED, False):
        background.add_task(flush, request.app.state.session_factory, request.app.state.settings, limit=20)
