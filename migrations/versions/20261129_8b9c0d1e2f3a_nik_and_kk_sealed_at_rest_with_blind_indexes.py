"""NIK and KK numbers sealed at rest, with keyed blind indexes (app/pii.py)

- member.nik, household.kk_number, kk_history.kk_number: widened to hold the sealed value,
  every existing value sealed with the current SIGAP_PII_KEYS key;
- member.nik_bidx, household.kk_bidx, kk_history.kk_bidx: new, filled, and the unique
  "one active member per NIK / household per KK" indexes moved onto them;
- merge_record.before/changes/undo_kept, sync_conflict.*_value, sync_mutation.result,
  channel_contact.pending: still JSON, each document now stored sealed (a JSON string; a
  JSON null becomes SQL NULL);
- ussd_session.resume/path/text (what the resident typed): widened and sealed;
- match_key rows of the NIK and KK rules are replaced by their blind indexes.

SQLite cannot change a column's type in place; the column is renamed, a new one added and
the old one dropped (native ALTERs: SQLite rewrites the rows, but the table is not dropped
and recreated, so foreign keys pointing at it are left alone; the new column comes last).

Revision ID: 8b9c0d1e2f3a
Revises: 7e1a2b3c4d5f
Create Date: 2026-11-29 07:00:00
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from app import pii

revision: str = "8b9c0d1e2f3a"
down_revision: str | None = "7e1a2b3c4d5f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, domain, blind index column, nullable)
NUMBERS = (
    ("member", "nik", "nik", "nik_bidx", True),
    ("household", "kk_number", "kk", "kk_bidx", True),
    ("kk_history", "kk_number", "kk", "kk_bidx", False),
)
# (table, primary key columns, column, domain)
DOCUMENTS = (
    ("merge_record", ("id",), "before", "merge_record.before"),
    ("merge_record", ("id",), "changes", "merge_record.changes"),
    ("merge_record", ("id",), "undo_kept", "merge_record.undo_kept"),
    ("sync_conflict", ("id",), "server_value", "sync_conflict.value"),
    ("sync_conflict", ("id",), "device_value", "sync_conflict.value"),
    ("sync_conflict", ("id",), "resolved_value", "sync_conflict.value"),
    ("channel_contact", ("id",), "pending", "channel_contact.pending"),
    ("sync_mutation", ("device_id", "seq"), "result", "sync_mutation.result"),
)
# (table, primary key columns, column, domain, nullable, length before)
TEXTS = (
    ("ussd_session", ("gateway", "session_id"), "resume", "ussd.path", True, 400),
    ("ussd_session", ("gateway", "session_id"), "path", "ussd.path", False, 400),
    ("ussd_session", ("gateway", "session_id"), "text", "ussd.path", True, 400),
)
USSD_SEALED = 640
MATCH_RULES = ("nik", "kk", "nik_mask", "nik_swap")
UNIQUE = {
    "member": ("uq_member_active_nik", "nik", "nik_bidx"),
    "household": ("uq_household_active_kk", "kk_number", "kk_bidx"),
}
SEALED_LENGTH = pii.SEALED_LENGTH


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _retype(table: str, column: str, length: int, nullable: bool) -> None:
    """The column as VARCHAR(length), its values kept."""
    if not _sqlite():
        op.alter_column(table, column, type_=sa.String(length), existing_nullable=nullable)
        return
    op.execute(f'ALTER TABLE "{table}" RENAME COLUMN "{column}" TO "{column}_old"')
    default = "" if nullable else " NOT NULL DEFAULT ''"
    op.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" VARCHAR({length}){default}')
    op.execute(f'UPDATE "{table}" SET "{column}" = "{column}_old"')
    op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{column}_old"')


def _rewrite(table: str, keys: Sequence[str], columns: Sequence[str],
             change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Every row's ``columns`` through ``change`` (raw values, by primary key)."""
    bind = op.get_bind()
    t = sa.table(table, *(sa.column(c) for c in (*keys, *columns)))
    rows = [dict(r._mapping) for r in bind.execute(sa.select(t))]
    updates = [{**{f"k_{k}": r[k] for k in keys}, **change(r)} for r in rows]
    if not updates:
        return
    stmt = t.update().where(*(t.c[k] == sa.bindparam(f"k_{k}") for k in keys)).values(
        {c: sa.bindparam(c) for c in updates[0] if not c.startswith("k_")})
    bind.execute(stmt, updates)


def _json_value(raw: Any) -> Any:
    """A JSON column's raw value as Python (SQLite gives its text, psycopg parses it)."""
    return json.loads(raw) if _sqlite() and raw is not None else raw


def upgrade() -> None:
    ring = pii.keyring()
    for table, (index, _old, new) in UNIQUE.items():
        op.drop_index(index, table_name=table)
    op.drop_index("ix_kk_history_kk_number", table_name="kk_history")
    for table, column, domain, bidx, nullable in NUMBERS:
        _retype(table, column, SEALED_LENGTH, nullable)
        op.add_column(table, sa.Column(bidx, sa.String(pii.INDEX_LENGTH), nullable=True))

        def seal(r: dict[str, Any], column: str = column, domain: str = domain,
                 bidx: str = bidx) -> dict[str, Any]:
            value = r[column]
            if value is None:
                return {column: None, bidx: None}
            return {column: ring.seal(value, domain), bidx: ring.blind(domain, value)}

        _rewrite(table, ("id",), (column, bidx), seal)
    for table, (index, _old, new) in UNIQUE.items():
        op.create_index(index, table, [new], unique=True,
                        sqlite_where=sa.text(f"deleted_at IS NULL AND {new} IS NOT NULL"),
                        postgresql_where=sa.text(f"deleted_at IS NULL AND {new} IS NOT NULL"))
    op.create_index("ix_kk_history_kk_bidx", "kk_history", ["kk_bidx"], unique=False)

    for table, keys, column, domain in DOCUMENTS:
        def seal_document(r: dict[str, Any], column: str = column, domain: str = domain) -> dict[str, Any]:
            value = _json_value(r[column])
            if value is None:  # SQL NULL or a JSON null: SQL NULL from now on
                return {column: None}
            sealed = ring.seal(json.dumps(value, ensure_ascii=False, separators=(",", ":")), domain)
            return {column: json.dumps(sealed)}

        _rewrite(table, keys, (column,), seal_document)

    for table, keys, column, domain, nullable, _length in TEXTS:
        _retype(table, column, USSD_SEALED, nullable)

        def seal_text(r: dict[str, Any], column: str = column, domain: str = domain) -> dict[str, Any]:
            return {column: None if r[column] is None else ring.seal(r[column], domain)}

        _rewrite(table, keys, (column,), seal_text)

    # the NIK and KK match keys as blind indexes; `sigap reconcile` rebuilds them anyway
    bind = op.get_bind()
    mk = sa.table("match_key", sa.column("member_id"), sa.column("rule"), sa.column("key"))
    rows = [dict(r._mapping) for r in bind.execute(sa.select(mk).where(mk.c.rule.in_(MATCH_RULES)))]
    if rows:
        bind.execute(
            mk.update().where(mk.c.member_id == sa.bindparam("m"), mk.c.rule == sa.bindparam("r"),
                              mk.c.key == sa.bindparam("k")).values(key=sa.bindparam("new")),
            [{"m": r["member_id"], "r": r["rule"], "k": r["key"], "new": ring.blind("match", r["key"])}
             for r in rows])


def downgrade() -> None:
    ring = pii.keyring()
    bind = op.get_bind()
    # the match keys cannot be unblinded: dropped (`sigap reconcile` rebuilds them)
    mk = sa.table("match_key", sa.column("rule"))
    bind.execute(mk.delete().where(mk.c.rule.in_(MATCH_RULES)))
    for table, keys, column, domain in DOCUMENTS:
        def open_document(r: dict[str, Any], column: str = column, domain: str = domain) -> dict[str, Any]:
            token = _json_value(r[column])
            if token is None:
                return {column: None}
            return {column: ring.open(token, domain)}  # the document's JSON text

        _rewrite(table, keys, (column,), open_document)

    for table, keys, column, domain, nullable, length in TEXTS:
        def open_text(r: dict[str, Any], column: str = column, domain: str = domain) -> dict[str, Any]:
            return {column: None if r[column] is None else ring.open(r[column], domain)}

        _rewrite(table, keys, (column,), open_text)
        _retype(table, column, length, nullable)

    op.drop_index("ix_kk_history_kk_bidx", table_name="kk_history")
    for table, (index, _old, _new) in UNIQUE.items():
        op.drop_index(index, table_name=table)
    for table, column, domain, bidx, nullable in NUMBERS:
        def unseal(r: dict[str, Any], column: str = column, domain: str = domain) -> dict[str, Any]:
            value = r[column]
            return {column: None if value is None else ring.open(value, domain)}

        _rewrite(table, ("id",), (column,), unseal)
        if _sqlite():
            op.execute(f'ALTER TABLE "{table}" DROP COLUMN "{bidx}"')
        else:
            op.drop_column(table, bidx)
        _retype(table, column, 16, nullable)
    for table, (index, old, _new) in UNIQUE.items():
        op.create_index(index, table, [old], unique=True,
                        sqlite_where=sa.text(f"deleted_at IS NULL AND {old} IS NOT NULL"),
                        postgresql_where=sa.text(f"deleted_at IS NULL AND {old} IS NOT NULL"))
    op.create_index("ix_kk_history_kk_number", "kk_history", ["kk_number"], unique=False)
