"""SMS fallback: each device's short SMS number and key; buffered parts of multi-part SMS

Revision ID: a7e3c9d1f5b2
Revises: c3a1f0d2e4b5
Create Date: 2026-11-28 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'a7e3c9d1f5b2'
down_revision: str | None = 'c3a1f0d2e4b5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sync_device', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sms_key', sa.LargeBinary(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_sync_device_sms_number'), ['sms_number'])

    op.create_table('sync_sms_part',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('part_index', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['sync_device.id'], name=op.f('fk_sync_sms_part_device_id_sync_device')),
    sa.PrimaryKeyConstraint('device_id', 'seq', 'part_index', name=op.f('pk_sync_sms_part'))
    )


def downgrade() -> None:
    op.drop_table('sync_sms_part')
    with op.batch_alter_table('sync_device', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_sync_device_sms_number'), type_='unique')
        batch_op.drop_column('sms_key')
        batch_op.drop_column('sms_number')
