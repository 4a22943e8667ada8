"""registration targets per kelurahan

``kelurahan_target``: the families (and persons) a kelurahan is expected to register, e.g.
Dukcapil's family counts; the coverage report and the progress checklist compare the
registry against it (issue 8).

Revision ID: 0c1d2e3f4a5b
Revises: f60d25353dd9
Create Date: 2026-11-29 03:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0c1d2e3f4a5b"
down_revision: str | None = "f60d25353dd9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kelurahan_target",
        sa.Column("kelurahan_code", sa.String(length=13), nullable=False),
        sa.Column("families", sa.Integer(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["kelurahan_code"], ["kelurahan.code"]),
        sa.PrimaryKeyConstraint("kelurahan_code"),
    )


def downgrade() -> None:
    op.drop_table("kelurahan_target")
