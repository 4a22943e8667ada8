"""password changed at: tokens issued before a password change stop working

Revision ID: 9f2b720039bd
Revises: 6605eab98767
Create Date: 2026-11-28 17:05:46.988580
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '9f2b720039bd'
down_revision: str | None = '6605eab98767'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('password_changed_at')
