"""audit log: keyed hash chain, append-only triggers

``audit_log`` gets ``chain_seq`` and ``chain_hash`` (set once, by the sealer in
app/audit/chain.py), ``audit_chain`` holds the head of the chain (one row). Triggers refuse
DELETE (and TRUNCATE on PostgreSQL) of audit entries, and every UPDATE except sealing an
unsealed entry (only chain_seq and chain_hash may change, and only from NULL). Entries
written before this revision are sealed by the first run of the sealer.

Revision ID: 7a8b9c0d1e2f
Revises: 5d6e7f8a9b0c
Create Date: 2026-11-29 03:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a8b9c0d1e2f"
down_revision: str | None = "5d6e7f8a9b0c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# every column but the chain's own: what a seal may not change
_COLUMNS = (
    "id", "occurred_at", "actor_id", "actor_name", "channel", "action", "entity_type", "entity_id",
    "household_id", "changes", "request_id", "entity_version", "device_id",
)
_DELETE = "audit_log is append-only: entries cannot be deleted"
_UPDATE = "audit_log is append-only: only sealing may update an entry"


def upgrade() -> None:
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO audit_chain (id, seq, hash) VALUES (1, 0, '')")
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("chain_hash", sa.String(length=64), nullable=True))
    op.create_index("uq_audit_log_chain_seq", "audit_log", ["chain_seq"], unique=True)
    op.create_index(
        "ix_audit_log_unsealed",
        "audit_log",
        ["id"],
        sqlite_where=sa.text("chain_seq IS NULL"),
        postgresql_where=sa.text("chain_seq IS NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        changes = "(" + ", ".join(f"NEW.{c}" if c != "changes" else "NEW.changes::text" for c in _COLUMNS)
        before = "(" + ", ".join(f"OLD.{c}" if c != "changes" else "OLD.changes::text" for c in _COLUMNS)
        op.execute(
            f"""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
                RAISE EXCEPTION '{_DELETE}';
              END IF;
              IF OLD.chain_seq IS NOT NULL OR {changes}) IS DISTINCT FROM {before}) THEN
                RAISE EXCEPTION '{_UPDATE}';
              END IF;
              RETURN NEW;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _COLUMNS)
        op.execute(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, '{_DELETE}'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_log_seal_only BEFORE UPDATE ON audit_log "
            f"WHEN OLD.chain_seq IS NOT NULL OR {changed} "
            f"BEGIN SELECT RAISE(ABORT, '{_UPDATE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER audit_log_seal_only")
        op.execute("DROP TRIGGER audit_log_no_delete")
    op.drop_index("ix_audit_log_unsealed", table_name="audit_log")
    op.drop_index("uq_audit_log_chain_seq", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("chain_hash")
        batch.drop_column("chain_seq")
    op.drop_table("audit_chain")
