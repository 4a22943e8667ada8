"""reconciliation: match keys, candidates, merges, dukcapil checks

Blocking keys of canonical members, the review queue of proposed links, every merge with the
state before it (for unmerge), Dukcapil identity checks, the worker's cursor; and the
merged_into_id of household and member, which a CHECK keeps inactive (deleted_at set) so
that no "active records" query can ever read a merged-away record.

Revision ID: eb5d95912b32
Revises: b8f4d0e2a6c3
Create Date: 2026-11-28 23:42:19.948442
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'eb5d95912b32'
down_revision: str | None = 'b8f4d0e2a6c3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('match_key',
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('rule', sa.String(length=12), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('member_id', 'rule', 'key', name=op.f('pk_match_key'))
    )
    with op.batch_alter_table('match_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_key_household_id'), ['household_id'], unique=False)
        batch_op.create_index('ix_match_key_lookup', ['rule', 'key'], unique=False)

    op.create_table('reconcile_state',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('number', sa.BigInteger(), nullable=True),
    sa.Column('value', sa.JSON(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_reconcile_state'))
    )
    op.create_table('match_candidate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('household_a', sa.Uuid(), nullable=False),
    sa.Column('household_b', sa.Uuid(), nullable=False),
    sa.Column('kecamatan_code', sa.String(length=8), nullable=False),
    sa.Column('kecamatan_b', sa.String(length=8), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('decision', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('links', sa.JSON(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('merge_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['decided_by'], ['app_user.id'], name=op.f('fk_match_candidate_decided_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_candidate')),
    sa.UniqueConstraint('kind', 'household_a', 'household_b', name='uq_match_candidate_pair')
    )
    with op.batch_alter_table('match_candidate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_candidate_household_a'), ['household_a'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_candidate_household_b'), ['household_b'], unique=False)
        batch_op.create_index('ix_match_candidate_queue', ['status', 'kecamatan_code', 'weight'], unique=False)

    op.create_table('merge_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survivor_id', sa.Uuid(), nullable=False),
    sa.Column('merged_id', sa.Uuid(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('member_pairs', sa.JSON(), nullable=False),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_by', sa.Integer(), nullable=True),
    sa.Column('undo_kept', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['candidate_id'], ['match_candidate.id'], name=op.f('fk_merge_record_candidate_id_match_candidate')),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_merge_record_created_by_app_user')),
    sa.ForeignKeyConstraint(['merged_id'], ['household.id'], name=op.f('fk_merge_record_merged_id_household')),
    sa.ForeignKeyConstraint(['survivor_id'], ['household.id'], name=op.f('fk_merge_record_survivor_id_household')),
    sa.ForeignKeyConstraint(['undone_by'], ['app_user.id'], name=op.f('fk_merge_record_undone_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merge_record'))
    )
    with op.batch_alter_table('merge_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merge_record_merged_id'), ['merged_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_merge_record_survivor_id'), ['survivor_id'], unique=False)

    op.create_table('dukcapil_check',
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_dukcapil_check_household_id_household')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_dukcapil_check_member_id_member')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_dukcapil_check'))
    )
    with op.batch_alter_table('dukcapil_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dukcapil_check_household_id'), ['household_id'], unique=False)

    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_household_merged_into_id_household'), 'household', ['merged_into_id'], ['id'])
        batch_op.create_check_constraint(batch_op.f('ck_household_merged_is_inactive'),
                                         'merged_into_id IS NULL OR deleted_at IS NOT NULL')

    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_member_merged_into_id_member'), 'member', ['merged_into_id'], ['id'])
        batch_op.create_check_constraint(batch_op.f('ck_member_merged_is_inactive'),
                                         'merged_into_id IS NULL OR deleted_at IS NOT NULL')



def downgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_member_merged_is_inactive'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_member_merged_into_id_member'), type_='foreignkey')
        batch_op.drop_column('merged_into_id')

    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_household_merged_is_inactive'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_household_merged_into_id_household'), type_='foreignkey')
        batch_op.drop_column('merged_into_id')

    with op.batch_alter_table('dukcapil_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dukcapil_check_household_id'))

    op.drop_table('dukcapil_check')
    with op.batch_alter_table('merge_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merge_record_survivor_id'))
        batch_op.drop_index(batch_op.f('ix_merge_record_merged_id'))

    op.drop_table('merge_record')
    with op.batch_alter_table('match_candidate', schema=None) as batch_op:
        batch_op.drop_index('ix_match_candidate_queue')
        batch_op.drop_index(batch_op.f('ix_match_candidate_household_b'))
        batch_op.drop_index(batch_op.f('ix_match_candidate_household_a'))

    op.drop_table('match_candidate')
    op.drop_table('reconcile_state')
    with op.batch_alter_table('match_key', schema=None) as batch_op:
        batch_op.drop_index('ix_match_key_lookup')
        batch_op.drop_index(batch_op.f('ix_match_key_household_id'))

    op.drop_table('match_key')
