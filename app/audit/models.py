"""Append-only audit log: who, through which channel, when, and the field diff.

Tamper-evident (app/audit/chain.py): every entry is sealed into a keyed hash chain
(``chain_seq``, ``chain_hash``) shortly after it is committed; database triggers refuse to
UPDATE or DELETE an entry, except the one update that seals it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, text
from sqlmodel import Field, SQLModel

from app.db import utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity_type", "entity_id", "entity_version"),
        Index("uq_audit_log_chain_seq", "chain_seq", unique=True),
        Index(
            "ix_audit_log_unsealed",
            "id",
            sqlite_where=text("chain_seq IS NULL"),
            postgresql_where=text("chain_seq IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    actor_name: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    action: str = Field(max_length=16)
    entity_type: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    household_id: uuid.UUID | None = Field(default=None, index=True)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    request_id: str | None = Field(default=None, max_length=64)
    entity_version: int | None = None  # the record's version after this write
    device_id: str | None = Field(default=None, max_length=64)
    # the keyed hash chain (app/audit/chain.py): position and HMAC, set once by the sealer
    chain_seq: int | None = Field(default=None, sa_type=BigInteger)
    chain_hash: str | None = Field(default=None, max_length=64)


class AuditChain(SQLModel, table=True):
    """The head of the chain: one row (id 1), the last sealed position and its hash. The
    sealer updates it first, so two sealers take turns (a row lock; SQLite's write lock)."""

    __tablename__ = "audit_chain"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0, sa_type=BigInteger)
    hash: str = Field(default="", max_length=64)
    sealed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
