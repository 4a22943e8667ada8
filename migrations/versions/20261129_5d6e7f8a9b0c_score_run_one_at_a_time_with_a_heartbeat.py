"""score runs: one at a time, with a heartbeat

``score_run`` gets ``heartbeat_at`` (moved after every batch), ``planned`` (families when it
started) and ``error``; a partial unique index allows ONE row with status ``running``, so two
runs started at the same moment cannot both proceed. A run whose heartbeat stopped is
marked ``abandoned`` by the next run (app/eligibility/scoring.py). Existing rows still
``running`` (interrupted before this revision) are marked ``abandoned`` here, since the index
could not hold two of them and none of them can still be alive across a migration.

Revision ID: 5d6e7f8a9b0c
Revises: 0c1d2e3f4a5b
Create Date: 2026-11-29 03:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d6e7f8a9b0c"
down_revision: str | None = "0c1d2e3f4a5b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE score_run SET status = 'abandoned', finished_at = CURRENT_TIMESTAMP WHERE status = 'running'"
    )
    with op.batch_alter_table("score_run") as batch:
        batch.add_column(
            sa.Column(
                "heartbeat_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.text("CURRENT_TIMESTAMP"),
            )
        )
        batch.add_column(sa.Column("error", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("planned", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("score_run") as batch:
        batch.alter_column("heartbeat_at", server_default=None)
        batch.alter_column("planned", server_default=None)
    op.create_index(
        "uq_score_run_one_running",
        "score_run",
        ["status"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("uq_score_run_one_running", table_name="score_run")
    with op.batch_alter_table("score_run") as batch:
        batch.drop_column("planned")
        batch.drop_column("error")
        batch.drop_column("heartbeat_at")
