"""Feature-phone tables: residents' phone numbers, messages in and out, USSD sessions.

No column holds a NIK or KK number in clear: ``channel_contact.pending`` keeps them while an
SMS registration waits (at most a day) for its kelurahan, and a USSD session the path the
resident typed, both sealed (app/pii.py); the registry already has them,
and a message log is exactly where leaked identifiers would hide.  ``channel_message.nik_key``
is an HMAC of the NIK (keyed with the server secret) so limits per NIK still work.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import utcnow
from app.pii import Sealed, SealedJSON

USSD_SEALED = 640  # a sealed 400-character path: 3 + 4 * (400 + 28) / 3 characters

_TS = DateTime(timezone=True)


class Contact(SQLModel, table=True):
    """A resident's phone number (E.164) and what it registered: the credential of SMS/USSD.

    The registered phone is enough to ask for the status; from any other phone the PIN is
    needed, and three wrong PINs lock status checks for a day.
    """

    __tablename__ = "channel_contact"

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=16, unique=True)
    household_id: uuid.UUID | None = Field(default=None, foreign_key="household.id", index=True)
    channel: str = Field(max_length=8)                       # sms or ussd: how it first came
    declared_members: int | None = None                      # "jumlah" as the resident said
    pin_hash: str | None = Field(default=None, max_length=96)
    pin_failures: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=_TS)
    opted_out_at: datetime | None = Field(default=None, sa_type=_TS)
    # an SMS registration waiting for its kelurahan ({"nik", "kk", "members", "at"}), until
    # KEL arrives, BATAL, or a day passes
    pending: dict[str, Any] | None = Field(
        default=None, sa_column=Column(SealedJSON("channel_contact.pending"), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS)


class ChannelMessage(SQLModel, table=True):
    """Every message in (and its reply), for deduplication, rate limits and the record.

    ``(gateway, provider_id)`` is unique: a gateway's retry of the same message finds the
    stored reply instead of running again.  The text itself is not stored.
    """

    __tablename__ = "channel_message"
    __table_args__ = (
        UniqueConstraint("gateway", "provider_id", name="uq_channel_message_provider"),
        Index("ix_channel_message_phone_time", "phone", "created_at"),
        Index("ix_channel_message_nik_time", "nik_key", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    gateway: str = Field(max_length=24)
    provider_id: str | None = Field(default=None, max_length=100)
    phone: str = Field(max_length=16)
    kind: str = Field(max_length=16)             # keyword, "ussd", "enumerator", "garbage"
    outcome: str = Field(max_length=24)          # what happened: registered, throttled, ...
    nik_key: str | None = Field(default=None, max_length=64)
    reply: str | None = Field(default=None, max_length=480)
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)


class UssdSession(SQLModel, table=True):
    """The latest path of a USSD session, kept per phone so a timed-out resident can resume.

    ``resume`` is fixed when the session starts (the phone's unfinished path at that moment),
    so every retry of the same ``text`` in this session gives the same screen.
    """

    __tablename__ = "ussd_session"
    __table_args__ = (Index("ix_ussd_session_phone_time", "phone", "updated_at"),)

    gateway: str = Field(primary_key=True, max_length=24)
    session_id: str = Field(primary_key=True, max_length=100)
    phone: str = Field(max_length=16)
    # what the resident typed (400 characters at most), NIK and KK included: sealed
    resume: str | None = Field(default=None, sa_type=Sealed("ussd.path", USSD_SEALED))
    # inputs so far, resumed path included
    path: str = Field(default="", sa_type=Sealed("ussd.path", USSD_SEALED))
    # the last ``text`` answered ...
    text: str | None = Field(default=None, sa_type=Sealed("ussd.path", USSD_SEALED))
    screen: str | None = Field(default=None, max_length=200)  # ... and its screen, for retries
    finished: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS)


class OutboundSms(SQLModel, table=True):
    """An SMS to send (confirmations, status replies): queued in the same transaction as the
    change it reports, then handed to the gateway; delivery reports update ``status``."""

    __tablename__ = "sms_outbound"
    __table_args__ = (Index("ix_sms_outbound_status", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=16)
    text: str = Field(max_length=480)
    purpose: str = Field(max_length=24)          # registered, status, pin, ...
    status: str = Field(default="queued", max_length=12)   # queued, sent, delivered, failed
    gateway: str | None = Field(default=None, max_length=24)
    provider_ref: str | None = Field(default=None, max_length=100)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_TS)

