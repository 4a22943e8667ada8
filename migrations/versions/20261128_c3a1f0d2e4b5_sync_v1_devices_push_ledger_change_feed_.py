"""sync v1: devices, push ledger, change feed, conflicts; audit rows carry the record's
version and the device, so a push can tell which fields changed since its base version.
Existing households and members enter the change feed in creation order.

Revision ID: c3a1f0d2e4b5
Revises: d4b2e1f3a6c7
Create Date: 2026-11-28 19:02:33.792974
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'c3a1f0d2e4b5'
down_revision: str | None = 'd4b2e1f3a6c7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sync_change',
    sa.Column('entity', sa.String(length=16), nullable=False),
    sa.Column('entity_id', sa.Uuid(), nullable=False),
    sa.Column('kelurahan_code', sa.String(length=13), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('present', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('entity', 'entity_id', 'kelurahan_code', name=op.f('pk_sync_change')),
    sa.UniqueConstraint('seq', name='uq_sync_change_seq')
    )
    with op.batch_alter_table('sync_change', schema=None) as batch_op:
        batch_op.create_index('ix_sync_change_kelurahan_seq', ['kelurahan_code', 'seq'], unique=False)

    op.create_table('sync_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_counter'))
    )
    op.create_table('sync_conflict',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('entity', sa.String(length=16), nullable=False),
    sa.Column('entity_id', sa.Uuid(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('kelurahan_code', sa.String(length=13), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('policy', sa.String(length=24), nullable=False),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('server_version', sa.Integer(), nullable=False),
    sa.Column('server_value', sa.JSON(), nullable=True),
    sa.Column('device_value', sa.JSON(), nullable=True),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('mutation_seq', sa.BigInteger(), nullable=False),
    sa.Column('submitted_by', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resolution', sa.String(length=16), nullable=True),
    sa.Column('resolved_value', sa.JSON(), nullable=True),
    sa.Column('resolved_by', sa.Integer(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['resolved_by'], ['app_user.id'], name=op.f('fk_sync_conflict_resolved_by_app_user')),
    sa.ForeignKeyConstraint(['submitted_by'], ['app_user.id'], name=op.f('fk_sync_conflict_submitted_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_conflict'))
    )
    with op.batch_alter_table('sync_conflict', schema=None) as batch_op:
        batch_op.create_index('ix_sync_conflict_entity', ['entity_id'], unique=False)
        batch_op.create_index('ix_sync_conflict_queue', ['status', 'kelurahan_code', 'created_at'], unique=False)

    op.create_table('sync_device',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_push_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.Integer(), nullable=True),
    sa.Column('revoke_reason', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['revoked_by'], ['app_user.id'], name=op.f('fk_sync_device_revoked_by_app_user')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_sync_device_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_device'))
    )
    with op.batch_alter_table('sync_device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_device_user_id'), ['user_id'], unique=False)

    op.create_table('sync_mutation',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=16), nullable=False),
    sa.Column('entity_id', sa.Uuid(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['sync_device.id'], name=op.f('fk_sync_mutation_device_id_sync_device')),
    sa.PrimaryKeyConstraint('device_id', 'seq', name=op.f('pk_sync_mutation'))
    )
    with op.batch_alter_table('sync_mutation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_mutation_entity_id'), ['entity_id'], unique=False)

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entity_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('device_id', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_audit_log_entity', ['entity_type', 'entity_id', 'entity_version'], unique=False)

    # every record already registered is a change devices must receive on their first pull
    op.execute("""
        INSERT INTO sync_change (entity, entity_id, kelurahan_code, seq, household_id, version,
                                 present, reason)
        SELECT 'household', id, kelurahan_code, ROW_NUMBER() OVER (ORDER BY created_at, id), id,
               version, deleted_at IS NULL, CASE WHEN deleted_at IS NULL THEN NULL ELSE 'deleted' END
        FROM household""")
    op.execute("""
        INSERT INTO sync_change (entity, entity_id, kelurahan_code, seq, household_id, version,
                                 present, reason)
        SELECT 'member', m.id, h.kelurahan_code,
               (SELECT COUNT(*) FROM household) + ROW_NUMBER() OVER (ORDER BY m.created_at, m.id),
               m.household_id, m.version, m.deleted_at IS NULL AND h.deleted_at IS NULL,
               CASE WHEN m.deleted_at IS NULL AND h.deleted_at IS NULL THEN NULL ELSE 'deleted' END
        FROM member m JOIN household h ON h.id = m.household_id""")
    op.execute("INSERT INTO sync_counter (id, value) SELECT 1, COUNT(*) FROM sync_change")


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_entity')
        batch_op.drop_column('device_id')
        batch_op.drop_column('entity_version')

    with op.batch_alter_table('sync_mutation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_mutation_entity_id'))

    op.drop_table('sync_mutation')
    with op.batch_alter_table('sync_device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_device_user_id'))

    op.drop_table('sync_device')
    with op.batch_alter_table('sync_conflict', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_conflict_queue')
        batch_op.drop_index('ix_sync_conflict_entity')

    op.drop_table('sync_conflict')
    op.drop_table('sync_counter')
    with op.batch_alter_table('sync_change', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_change_kelurahan_seq')

    op.drop_table('sync_change')
