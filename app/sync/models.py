"""Sync v1 tables: devices, the push idempotency ledger, the change feed and conflicts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import utcnow
from app.pii import SealedJSON

_TS = DateTime(timezone=True)


def _sealed_value() -> Column[Any]:
    return Column(SealedJSON("sync_conflict.value"), nullable=True)


class Device(SQLModel, table=True):
    """A tablet enrolled by one user; its token is refused once ``revoked_at`` is set."""

    __tablename__ = "sync_device"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    label: str = Field(default="", max_length=80)
    enrolled_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
    last_push_at: datetime | None = Field(default=None, sa_type=_TS)
    revoked_at: datetime | None = Field(default=None, sa_type=_TS)
    revoked_by: int | None = Field(default=None, foreign_key="app_user.id")
    revoke_reason: str | None = Field(default=None, max_length=200)
    # SMS fallback (docs/sms-fallback.md): the short number in every enumerator SMS header and
    # the device's 16-byte key; given at enrolment (older devices get them when they re-enrol)
    sms_number: int | None = Field(default=None, unique=True)
    sms_key: bytes | None = Field(default=None, sa_type=LargeBinary)


class SyncMutation(SQLModel, table=True):
    """The idempotency ledger: one row per (device, seq), claimed by its primary key.

    The row is inserted before the mutation runs, in the same transaction: a concurrent
    retry of the same mutation waits on the key and then replays the stored result.
    """

    __tablename__ = "sync_mutation"

    device_id: str = Field(foreign_key="sync_device.id", primary_key=True, max_length=64)
    seq: int = Field(primary_key=True, sa_type=BigInteger)
    content_hash: str = Field(max_length=64)
    entity: str = Field(max_length=16)
    entity_id: uuid.UUID = Field(index=True)
    outcome: str = Field(max_length=16)
    # conflicts in a result carry both values, which may be NIK or KK numbers: sealed
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(SealedJSON("sync_mutation.result"),
                                                                          nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_type=_TS)


class SyncCounter(SQLModel, table=True):
    """The single row whose lock orders change sequence numbers by commit (see changes.py)."""

    __tablename__ = "sync_counter"

    id: int = Field(primary_key=True)
    value: int = Field(default=0, sa_type=BigInteger)


class SyncChange(SQLModel, table=True):
    """The change feed: the latest change of each record in each kelurahan it has been in.

    ``present`` is false once the record was deleted or left that kelurahan; devices that
    hold it then get a tombstone.  ``seq`` is unique and grows in commit order.
    """

    __tablename__ = "sync_change"
    __table_args__ = (
        UniqueConstraint("seq", name="uq_sync_change_seq"),
        Index("ix_sync_change_kelurahan_seq", "kelurahan_code", "seq"),
    )

    entity: str = Field(primary_key=True, max_length=16)
    entity_id: uuid.UUID = Field(primary_key=True)
    kelurahan_code: str = Field(primary_key=True, max_length=13)
    seq: int = Field(sa_type=BigInteger)
    household_id: uuid.UUID
    version: int
    present: bool
    reason: str | None = Field(default=None, max_length=16)


class SyncConflict(SQLModel, table=True):
    """A field changed on both sides: both values, the policy's decision, the resolution."""

    __tablename__ = "sync_conflict"
    __table_args__ = (
        Index("ix_sync_conflict_queue", "status", "kelurahan_code", "created_at"),
        Index("ix_sync_conflict_entity", "entity_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    entity: str = Field(max_length=16)
    entity_id: uuid.UUID
    household_id: uuid.UUID
    kelurahan_code: str = Field(max_length=13)
    field: str = Field(max_length=64)
    policy: str = Field(max_length=24)
    base_version: int | None = None
    server_version: int
    # the values may be NIK or KK numbers: sealed (app/pii.py)
    server_value: Any = Field(default=None, sa_column=_sealed_value())
    device_value: Any = Field(default=None, sa_column=_sealed_value())
    device_id: str = Field(max_length=64)
    mutation_seq: int = Field(sa_type=BigInteger)
    submitted_by: int | None = Field(default=None, foreign_key="app_user.id")
    # open (review queue) | auto_resolved (the policy decided) | resolved (a supervisor did)
    status: str = Field(max_length=16)
    resolution: str | None = Field(default=None, max_length=16)  # server | device | value
    resolved_value: Any = Field(default=None, sa_column=_sealed_value())
    resolved_by: int | None = Field(default=None, foreign_key="app_user.id")
    resolved_at: datetime | None = Field(default=None, sa_type=_TS)
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=_TS)


class SyncSmsPart(SQLModel, table=True):
    """An authenticated part of a multi-part enumerator SMS, kept until its mutation is whole.

    Only parts whose tag verified are stored, so a forged part can never block a real one.
    """

    __tablename__ = "sync_sms_part"

    device_id: str = Field(foreign_key="sync_device.id", primary_key=True, max_length=64)
    seq: int = Field(primary_key=True, sa_type=BigInteger)
    part_index: int = Field(primary_key=True)
    total: int
    payload: bytes = Field(sa_type=LargeBinary)
    received_at: datetime = Field(default_factory=utcnow, sa_type=_TS)
