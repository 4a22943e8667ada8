"""list indexes follow the keyset order: (filter column, created_at, id) instead of
single low-cardinality columns, so a filtered page is an index range, not a sort

Revision ID: 2a8e1284237e
Revises: 9f2b720039bd
Create Date: 2026-11-28 17:53:00.035071
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '2a8e1284237e'
down_revision: str | None = '9f2b720039bd'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_household_kelurahan_code'))
        batch_op.drop_index(batch_op.f('ix_household_source'))
        batch_op.drop_index(batch_op.f('ix_household_verification_status'))
        batch_op.create_index('ix_household_kelurahan_list', ['kelurahan_code', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_household_source_list', ['source', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_household_status_list', ['verification_status', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.drop_index('ix_household_status_list')
        batch_op.drop_index('ix_household_source_list')
        batch_op.drop_index('ix_household_kelurahan_list')
        batch_op.create_index(batch_op.f('ix_household_verification_status'), ['verification_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_household_source'), ['source'], unique=False)
        batch_op.create_index(batch_op.f('ix_household_kelurahan_code'), ['kelurahan_code'], unique=False)
