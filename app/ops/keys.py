"""Key rotation for sealed NIK/KK values and their blind indexes (``sigap keys``).

Rotation is online and resumable: with the new key placed first in ``SIGAP_PII_KEYS`` (or
``SIGAP_PII_INDEX_KEYS``) and the old one kept after it, the server reads rows under either
key and finds them under either index key while :func:`rotate` rewrites, a batch per
transaction, every row whose sealed values or blind indexes are not yet under the current
keys. A rerun after an interruption carries on with the rows left; a rerun after success
rewrites nothing. Then the NIK/KK match keys are rebuilt under the current index key, and
the old key can be removed from the settings (docs/security.md, "Key rotation").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Engine, String, Table, bindparam, func, select, tuple_, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

import app.models  # noqa: F401  (every table on the metadata)
from app import pii
from app.audit import service as audit
from app.db import metadata, new_session
from app.reconcile import dbblock, source
from app.reconcile.features import prepare
from app.reconcile.store import MatchKey

Progress = Callable[[str, int, int], None]


class RotationBlocked(RuntimeError):
    """A row cannot move to the current index key: its value is taken under that key."""


def sealed_tables() -> list[Table]:
    return [t for t in metadata.sorted_tables if pii.sealed_columns(t)]


def _raw(table: Table, name: str) -> Any:
    """The stored token of a sealed column (not opened)."""
    column = table.c[name]
    return type_coerce(column, JSON if isinstance(column.type, pii.SealedJSON) else String)


def _kid(token: Any) -> str | None:
    return token.partition(":")[0] if isinstance(token, str) else None


@dataclass
class KeyStatus:
    """Values per key id, per ``table.column`` (sealed values and blind indexes)."""

    sealed: dict[str, Counter[str]] = field(default_factory=dict)
    indexes: dict[str, Counter[str]] = field(default_factory=dict)

    def pending(self, ring: pii.Keyring) -> int:
        return (sum(n for c in self.sealed.values() for kid, n in c.items() if kid != ring.seal_id)
                + sum(n for c in self.indexes.values() for kid, n in c.items() if kid != ring.index_id))


def status(session: Session) -> KeyStatus:
    out = KeyStatus()
    for table in sealed_tables():
        for name in pii.sealed_columns(table):
            counts: Counter[str] = Counter()
            for (token,) in session.execute(select(_raw(table, name)).where(table.c[name].is_not(None))):
                counts[_kid(token) or "?"] += 1
            out.sealed[f"{table.name}.{name}"] = counts
        for target in pii.blind_pairs(table):
            column = table.c[target]
            sqlite = session.get_bind().dialect.name == "sqlite"
            prefix = (func.substr(column, 1, func.instr(column, ":") - 1) if sqlite
                      else func.split_part(column, ":", 1))
            rows = session.execute(select(prefix, func.count()).where(column.is_not(None)).group_by(prefix))
            out.indexes[f"{table.name}.{target}"] = Counter({str(k): int(n) for k, n in rows})
    return out


@dataclass
class RotationReport:
    rewritten: dict[str, int] = field(default_factory=dict)   # rows per table
    match_keys: int | None = None                             # rows written, if rebuilt
    # values still under an old key when it finished: written meanwhile by a process that
    # still had the old keys first (restart every server on the new settings, then rerun)
    remaining: int = 0

    @property
    def total(self) -> int:
        return sum(self.rewritten.values())


def _pages(engine: Engine, table: Table, batch: int) -> Iterator[list[tuple[Any, ...]]]:
    """The primary keys of the table in order, a page at a time (each page read on its own)."""
    pk = list(table.primary_key.columns)
    after = None
    while True:
        with new_session(engine, read_only=True) as session:
            stmt = select(*pk).order_by(*pk).limit(batch)
            if after is not None:
                stmt = stmt.where(tuple_(*pk) > tuple_(*after))
            ids = [tuple(r) for r in session.execute(stmt)]
        if not ids:
            return
        yield ids
        after = ids[-1]


def _rotate_page(session: Session, table: Table, ids: list[tuple[Any, ...]], ring: pii.Keyring) -> int:
    pk = list(table.primary_key.columns)
    k = len(pk)
    sealed = pii.sealed_columns(table)
    pairs = pii.blind_pairs(table)
    columns = [*pk, *(table.c[n] for n in sealed), *(_raw(table, n) for n in sealed),
               *(table.c[t] for t in pairs)]
    stmt = select(*columns).where(tuple_(*pk).in_(ids)).order_by(*pk)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # in id order, as the sync push locks: no deadlock
    rows = session.execute(stmt).all()
    n = len(sealed)
    updates = []
    for row in rows:
        values = dict(zip(sealed, row[k:k + n], strict=True))
        tokens = row[k + n:k + 2 * n]
        indexes = dict(zip(pairs, row[k + 2 * n:], strict=True))
        stale = any(t is not None and _kid(t) != ring.seal_id for t in tokens) or any(
            v is not None and _kid(v) != ring.index_id for v in indexes.values())
        if not stale:
            continue
        update: dict[str, Any] = {**{f"_pk{i}": row[i] for i in range(k)}, **values}  # opened, sealed again
        for target, (src, domain) in pairs.items():
            plain = values.get(src)
            update[target] = None if plain is None else ring.blind(domain, plain)
        updates.append(update)
    if updates:
        session.execute(table.update().where(*(c == bindparam(f"_pk{i}") for i, c in enumerate(pk))).values(
            {c: bindparam(c) for c in updates[0] if not c.startswith("_pk")}), updates)
    return len(updates)


def _match_keys_stale(session: Session, ring: pii.Keyring) -> bool:
    mk = MatchKey.__table__  # type: ignore[attr-defined]
    stale = select(mk.c.key).where(mk.c.rule.in_(sorted(dbblock.BLINDED)),
                                   ~mk.c.key.startswith(f"{ring.index_id}:", autoescape=True)).limit(1)
    return session.execute(stale).first() is not None


def rebuild_match_keys(session: Session) -> int:
    members = source.iter_members(session)
    return dbblock.rebuild(session, ((m, prepare(m.record, i)) for i, m in enumerate(members)))


def rotate(engine: Engine, *, batch: int = 1000, progress: Progress | None = None) -> RotationReport:
    """Every sealed value and blind index under the current keys, then the match keys."""
    ring = pii.keyring()
    report = RotationReport()
    for table in sealed_tables():
        with new_session(engine, read_only=True) as session:
            total = int(session.scalar(select(func.count()).select_from(table)) or 0)
        done = written = 0
        if progress:
            progress(table.name, 0, total)
        for ids in _pages(engine, table, batch):
            with new_session(engine) as session:
                try:
                    written += _rotate_page(session, table, ids, ring)
                    session.commit()
                except IntegrityError:
                    raise RotationBlocked(
                        f"{table.name}: two active rows carry the same NIK or KK under different "
                        f"index keys (ids {ids[0]} .. {ids[-1]}); resolve the duplicate, then rerun "
                        "`sigap keys rotate`") from None
            done += len(ids)
            if progress:
                progress(table.name, done, total)
        report.rewritten[table.name] = written
    with new_session(engine) as session:
        if _match_keys_stale(session, ring):
            if progress:
                progress("match_key", 0, 1)
            report.match_keys = rebuild_match_keys(session)
            if progress:
                progress("match_key", 1, 1)
        report.remaining = status(session).pending(ring)
        audit.record(session, actor=audit.SYSTEM, action="rotate", entity_type="pii_keys",
                     entity_id=f"{ring.seal_id}/{ring.index_id}",
                     changes={"rows": [None, report.total], "match_keys": [None, report.match_keys]})
        session.commit()
    return report
