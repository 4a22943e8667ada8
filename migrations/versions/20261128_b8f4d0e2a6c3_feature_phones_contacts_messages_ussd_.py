"""feature phones: contacts, messages, ussd sessions, outbound sms, field tasks

Residents' phones (PIN, lock, opt-out), the inbound message log that deduplicates
gateway retries and carries rate limits, USSD sessions kept for resuming, the SMS outbox,
and the field-verification tasks that self-registrations create.

Revision ID: b8f4d0e2a6c3
Revises: a7e3c9d1f5b2
Create Date: 2026-11-28 21:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'b8f4d0e2a6c3'
down_revision: str | None = 'a7e3c9d1f5b2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('channel_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gateway', sa.String(length=24), nullable=False),
    sa.Column('provider_id', sa.String(length=100), nullable=True),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('nik_key', sa.String(length=64), nullable=True),
    sa.Column('reply', sa.String(length=480), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_message')),
    sa.UniqueConstraint('gateway', 'provider_id', name='uq_channel_message_provider')
    )
    with op.batch_alter_table('channel_message', schema=None) as batch_op:
        batch_op.create_index('ix_channel_message_nik_time', ['nik_key', 'created_at'], unique=False)
        batch_op.create_index('ix_channel_message_phone_time', ['phone', 'created_at'], unique=False)

    op.create_table('sms_outbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('text', sa.String(length=480), nullable=False),
    sa.Column('purpose', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('gateway', sa.String(length=24), nullable=True),
    sa.Column('provider_ref', sa.String(length=100), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_outbound'))
    )
    with op.batch_alter_table('sms_outbound', schema=None) as batch_op:
        batch_op.create_index('ix_sms_outbound_status', ['status', 'id'], unique=False)

    op.create_table('ussd_session',
    sa.Column('gateway', sa.String(length=24), nullable=False),
    sa.Column('session_id', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('resume', sa.String(length=400), nullable=True),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('text', sa.String(length=400), nullable=True),
    sa.Column('screen', sa.String(length=200), nullable=True),
    sa.Column('finished', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('gateway', 'session_id', name=op.f('pk_ussd_session'))
    )
    with op.batch_alter_table('ussd_session', schema=None) as batch_op:
        batch_op.create_index('ix_ussd_session_phone_time', ['phone', 'updated_at'], unique=False)

    op.create_table('channel_contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('declared_members', sa.Integer(), nullable=True),
    sa.Column('pin_hash', sa.String(length=96), nullable=True),
    sa.Column('pin_failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pending', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_channel_contact_household_id_household')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_contact')),
    sa.UniqueConstraint('phone', name=op.f('uq_channel_contact_phone'))
    )
    with op.batch_alter_table('channel_contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_contact_household_id'), ['household_id'], unique=False)

    op.create_table('field_task',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('kelurahan_code', sa.String(length=13), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_field_task_household_id_household')),
    sa.ForeignKeyConstraint(['kelurahan_code'], ['kelurahan.code'], name=op.f('fk_field_task_kelurahan_code_kelurahan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_field_task'))
    )
    with op.batch_alter_table('field_task', schema=None) as batch_op:
        batch_op.create_index('ix_field_task_area_status', ['kelurahan_code', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_field_task_household_id'), ['household_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('field_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_field_task_household_id'))
        batch_op.drop_index('ix_field_task_area_status')

    op.drop_table('field_task')
    with op.batch_alter_table('channel_contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_contact_household_id'))

    op.drop_table('channel_contact')
    with op.batch_alter_table('ussd_session', schema=None) as batch_op:
        batch_op.drop_index('ix_ussd_session_phone_time')

    op.drop_table('ussd_session')
    with op.batch_alter_table('sms_outbound', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_outbound_status')

    op.drop_table('sms_outbound')
    with op.batch_alter_table('channel_message', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_message_phone_time')
        batch_op.drop_index('ix_channel_message_nik_time')

    op.drop_table('channel_message')
