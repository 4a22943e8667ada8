"""appeals (sanggah) and their status events (append-only); one open appeal per
household, subject and programme (unique household_id + open_key)

Revision ID: a9b8c7d6e5f4
Revises: eb5d95912b32
Create Date: 2026-11-29 00:24:20.663318
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'a9b8c7d6e5f4'
down_revision: str | None = 'eb5d95912b32'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('appeal',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('kelurahan_code', sa.String(length=13), nullable=False),
    sa.Column('filed_by_channel', sa.String(length=12), nullable=False),
    sa.Column('filed_by', sa.Integer(), nullable=True),
    sa.Column('phone', sa.String(length=16), nullable=True),
    sa.Column('about', sa.String(length=12), nullable=False),
    sa.Column('programme_id', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('open_key', sa.String(length=48), nullable=True),
    sa.Column('task_id', sa.Uuid(), nullable=True),
    sa.Column('window_closes_on', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['filed_by'], ['app_user.id'], name=op.f('fk_appeal_filed_by_app_user')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_appeal_household_id_household')),
    sa.ForeignKeyConstraint(['kelurahan_code'], ['kelurahan.code'], name=op.f('fk_appeal_kelurahan_code_kelurahan')),
    sa.ForeignKeyConstraint(['task_id'], ['field_task.id'], name=op.f('fk_appeal_task_id_field_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeal')),
    sa.UniqueConstraint('household_id', 'open_key', name='uq_appeal_open')
    )
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appeal_household_id'), ['household_id'], unique=False)
        batch_op.create_index('ix_appeal_status_list', ['status', 'created_at', 'id'], unique=False)

    op.create_table('appeal_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appeal_id', sa.Uuid(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('by_user_id', sa.Integer(), nullable=True),
    sa.Column('by_name', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appeal_id'], ['appeal.id'], name=op.f('fk_appeal_event_appeal_id_appeal')),
    sa.ForeignKeyConstraint(['by_user_id'], ['app_user.id'], name=op.f('fk_appeal_event_by_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeal_event'))
    )
    with op.batch_alter_table('appeal_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appeal_event_appeal_id'), ['appeal_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('appeal_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appeal_event_appeal_id'))

    op.drop_table('appeal_event')
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.drop_index('ix_appeal_status_list')
        batch_op.drop_index(batch_op.f('ix_appeal_household_id'))

    op.drop_table('appeal')
