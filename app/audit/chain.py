"""The audit log as a keyed hash chain: entries are sealed after commit, verified on demand.

Sealing (``seal``): the unsealed entries, in id order, each get the next position
``chain_seq`` and ``chain_hash = HMAC(key, previous hash | position | entry)``, where
``entry`` is a canonical JSON of every column. The head (``audit_chain``, one row) is
updated FIRST in the sealing transaction, so two sealers take turns (a row lock on
PostgreSQL, the write lock on SQLite) and the chain never forks. Sealing runs after the
writing transactions committed, so writers never wait on one another for the chain; an entry
that commits late (a lower id than one already sealed) is sealed in the next round, so the
chain's order is the sealing order.

Verifying (``verify``): walks the chain by position and recomputes every hash. An entry
edited after sealing (its hash no longer matches), a deleted entry (a gap in the positions,
or the next entry's hash no longer follows), a head that does not match the last entry, or a
chain shorter than an anchor recorded earlier (``--head SEQ:HASH``, e.g. printed in the
daily report: a truncated tail) are reported. The key (``SIGAP_AUDIT_SECRET``, else derived
from the secret key) is not in the database: whoever can write the database cannot forge a
chain that verifies. Database triggers refuse UPDATE and DELETE of entries in the first
place (migration 7a8b9c0d1e2f); the chain proves it afterwards, also against someone who
could drop the triggers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, update
from sqlmodel import Session, col

from app.audit.models import AuditChain, AuditEntry
from app.db import as_utc, new_session, utcnow

_LOG = AuditEntry.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_name",
    "channel",
    "action",
    "entity_type",
    "entity_id",
    "household_id",
    "changes",
    "request_id",
    "entity_version",
    "device_id",
)
_SELECT = [getattr(AuditEntry, c) for c in _COLUMNS]
BATCH = 2000


def canonical(row: Any) -> bytes:
    """The bytes of an entry that its hash covers: every column, in a fixed form (times UTC
    to the microsecond; JSON with sorted keys), the same on SQLite and PostgreSQL."""
    values = []
    for name, value in zip(_COLUMNS, row, strict=True):
        if name == "occurred_at":
            when = as_utc(value)
            value = when.isoformat(timespec="microseconds") if when else None
        elif name == "household_id" and value is not None:
            value = str(value)
        values.append(value)
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def link(key: bytes, previous: str, seq: int, row: Any) -> str:
    message = previous.encode() + b"|" + str(seq).encode() + b"|" + canonical(row)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _head(session: Session) -> Any:
    return session.execute(
        select(col(AuditChain.seq), col(AuditChain.hash)).where(col(AuditChain.id) == 1)
    ).one()


def seal(session: Session, key: bytes, *, batch: int = BATCH) -> int:
    """Seal every entry committed so far (in rounds of ``batch``), each round committed.
    Returns how many were sealed."""
    sealed = 0
    while True:
        # the head first: the lock that makes sealers take turns
        session.execute(update(AuditChain).where(col(AuditChain.id) == 1).values(sealed_at=utcnow()))
        head = _head(session)
        rows = session.execute(
            select(*_SELECT)
            .where(col(AuditEntry.chain_seq).is_(None))
            .order_by(col(AuditEntry.id))
            .limit(batch)
        ).all()
        if not rows:
            session.commit()
            return sealed
        seq, previous = head.seq, head.hash
        params = []
        for row in rows:
            seq += 1
            previous = link(key, previous, seq, row)
            params.append({"_id": row[0], "_seq": seq, "_hash": previous})
        session.execute(
            update(_LOG)
            .where(_LOG.c.id == bindparam("_id"))
            .values(chain_seq=bindparam("_seq"), chain_hash=bindparam("_hash")),
            params,
            execution_options={"synchronize_session": False},
        )
        session.execute(update(AuditChain).where(col(AuditChain.id) == 1).values(seq=seq, hash=previous))
        session.commit()
        sealed += len(rows)


@dataclass
class Problem:
    seq: int | None
    entry_id: int | None
    kind: str  # edited | missing | head | anchor
    message: str


@dataclass
class Verification:
    checked: int = 0
    head_seq: int = 0
    head_hash: str = ""
    unsealed: int = 0
    oldest_unsealed: datetime | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _chain(session: Session, batch: int, *, upto: int) -> Iterator[tuple[int, str, Any]]:
    after = 0
    while True:
        rows = session.execute(
            select(col(AuditEntry.chain_seq), col(AuditEntry.chain_hash), *_SELECT)
            .where(col(AuditEntry.chain_seq) > after, col(AuditEntry.chain_seq) <= upto)
            .order_by(col(AuditEntry.chain_seq))
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield row[0], row[1], row[2:]
        after = rows[-1][0]


def verify(
    session: Session, key: bytes, *, anchor: tuple[int, str] | None = None, batch: int = BATCH
) -> Verification:
    """Recompute the whole chain; every break is listed (the first few of each kind suffice
    to find where someone wrote)."""
    out = Verification()
    # the head first, and the chain only up to it: a sealer committing while we walk (every
    # few seconds on a live server) must not look like a tail that does not match
    head = _head(session)
    expected_seq, previous = 0, ""
    for seq, stored, row in _chain(session, batch, upto=head.seq):
        expected_seq += 1
        if seq != expected_seq:
            out.problems.append(
                Problem(
                    seq,
                    row[0],
                    "missing",
                    f"entri pada posisi {expected_seq}..{seq - 1} hilang / entries at "
                    f"{expected_seq}..{seq - 1} are missing (deleted)",
                )
            )
            expected_seq = seq
            previous = stored  # resynchronise after the gap: later breaks are reported on their own
            out.checked += 1
            continue
        if not hmac.compare_digest(link(key, previous, seq, row), stored):
            out.problems.append(
                Problem(
                    seq,
                    row[0],
                    "edited",
                    f"entri #{row[0]} (posisi {seq}) tidak cocok dengan hash-nya: diubah setelah disegel / "
                    f"entry #{row[0]} (position {seq}) does not match its hash: changed after sealing",
                )
            )
        previous = stored
        out.checked += 1
    out.head_seq, out.head_hash = head.seq, head.hash
    if (head.seq, head.hash) != (expected_seq, previous):
        out.problems.append(
            Problem(
                head.seq,
                None,
                "head",
                f"kepala rantai ({head.seq}) tidak cocok dengan entri terakhir ({expected_seq}) / "
                f"the chain's head ({head.seq}) does not match its last entry ({expected_seq}): "
                "entries at the end removed?",
            )
        )
    if anchor is not None:
        a_seq, a_hash = anchor
        found = session.execute(
            select(col(AuditEntry.chain_hash)).where(col(AuditEntry.chain_seq) == a_seq)
        ).scalar_one_or_none()
        if found != a_hash:
            out.problems.append(
                Problem(
                    a_seq,
                    None,
                    "anchor",
                    f"jangkar {a_seq}:{a_hash[:12]}... tidak ada di rantai / the anchor {a_seq} is "
                    "not in the chain as recorded (entries removed or the chain rewritten)",
                )
            )
    unsealed = session.execute(
        select(func.count(), func.min(AuditEntry.occurred_at)).where(col(AuditEntry.chain_seq).is_(None))
    ).one()
    out.unsealed, out.oldest_unsealed = int(unsealed[0]), as_utc(unsealed[1]) if unsealed[1] else None
    return out


def start_sealer(
    engine: Engine, key: bytes, *, every_seconds: float
) -> tuple[threading.Thread, threading.Event]:
    """Seal every ``every_seconds`` in a thread of the server process, until the event is set."""
    import logging

    log = logging.getLogger("sigap.audit")
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_seconds):
            try:
                with new_session(engine) as session:
                    seal(session, key)
            except Exception:
                log.exception("audit sealing failed; retrying in %.0f s", every_seconds)

    thread = threading.Thread(target=loop, name="audit-sealer", daemon=True)
    thread.start()
    return thread, stop


STALE_UNSEALED = timedelta(minutes=10)
