"""login failures counted for the brute-force guard (app/auth/throttle.py)

``login_failure``: one row per refused password login (username as typed, lower-cased, and
the client address), counted per username and per address over SIGAP_LOGIN_WINDOW_MINUTES.

Revision ID: 9c0d1e2f3a4b
Revises: 8b9c0d1e2f3a
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c0d1e2f3a4b"
down_revision: str | None = "8b9c0d1e2f3a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index("ix_login_failure_username", ["username", "at"], unique=False)
        batch_op.create_index("ix_login_failure_client", ["client", "at"], unique=False)
        batch_op.create_index("ix_login_failure_at", ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("login_failure")
