"""initial registry schema

Revision ID: 6605eab98767
Revises: (none: first revision)
Create Date: 2026-11-28 16:32:00.854033
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '6605eab98767'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('kecamatan',
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('bps_code', sa.String(length=7), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_kecamatan')),
    sa.UniqueConstraint('bps_code', name=op.f('uq_kecamatan_bps_code'))
    )
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('kecamatan_code', sa.String(length=8), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['kecamatan_code'], ['kecamatan.code'], name=op.f('fk_app_user_kecamatan_code_kecamatan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    op.create_table('kelurahan',
    sa.Column('code', sa.String(length=13), nullable=False),
    sa.Column('kecamatan_code', sa.String(length=8), nullable=False),
    sa.Column('bps_code', sa.String(length=10), nullable=True),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('bps_name', sa.String(length=80), nullable=True),
    sa.ForeignKeyConstraint(['kecamatan_code'], ['kecamatan.code'], name=op.f('fk_kelurahan_kecamatan_code_kecamatan')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_kelurahan')),
    sa.UniqueConstraint('bps_code', name=op.f('uq_kelurahan_bps_code'))
    )
    with op.batch_alter_table('kelurahan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kelurahan_kecamatan_code'), ['kecamatan_code'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['app_user.id'], name=op.f('fk_audit_log_actor_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_household_id'), ['household_id'], unique=False)

    op.create_table('enumerator_assignment',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kelurahan_code', sa.String(length=13), nullable=False),
    sa.ForeignKeyConstraint(['kelurahan_code'], ['kelurahan.code'], name=op.f('fk_enumerator_assignment_kelurahan_code_kelurahan')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_enumerator_assignment_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'kelurahan_code', name=op.f('pk_enumerator_assignment'))
    )
    op.create_table('household',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kk_number', sa.String(length=16), nullable=True),
    sa.Column('kelurahan_code', sa.String(length=13), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('rt', sa.String(length=3), nullable=True),
    sa.Column('rw', sa.String(length=3), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('phone', sa.String(length=16), nullable=True),
    sa.Column('survey_date', sa.Date(), nullable=True),
    sa.Column('tenure', sa.String(length=24), nullable=True),
    sa.Column('land_certificate', sa.Boolean(), nullable=True),
    sa.Column('floor_area_m2', sa.Integer(), nullable=True),
    sa.Column('floor_material', sa.String(length=24), nullable=True),
    sa.Column('wall_material', sa.String(length=24), nullable=True),
    sa.Column('wall_condition', sa.String(length=8), nullable=True),
    sa.Column('roof_material', sa.String(length=24), nullable=True),
    sa.Column('roof_condition', sa.String(length=8), nullable=True),
    sa.Column('water_source', sa.String(length=24), nullable=True),
    sa.Column('septic_distance', sa.String(length=16), nullable=True),
    sa.Column('lighting_source', sa.String(length=16), nullable=True),
    sa.Column('power_va', sa.Integer(), nullable=True),
    sa.Column('cooking_fuel', sa.String(length=16), nullable=True),
    sa.Column('toilet_facility', sa.String(length=8), nullable=True),
    sa.Column('toilet_type', sa.String(length=16), nullable=True),
    sa.Column('sewage_disposal', sa.String(length=24), nullable=True),
    sa.Column('asset_lpg_5_5kg', sa.Boolean(), nullable=True),
    sa.Column('asset_fridge', sa.Boolean(), nullable=True),
    sa.Column('asset_ac', sa.Boolean(), nullable=True),
    sa.Column('asset_water_heater', sa.Boolean(), nullable=True),
    sa.Column('asset_landline', sa.Boolean(), nullable=True),
    sa.Column('asset_tv', sa.Boolean(), nullable=True),
    sa.Column('asset_gold_10g', sa.Boolean(), nullable=True),
    sa.Column('asset_computer', sa.Boolean(), nullable=True),
    sa.Column('asset_motorbike', sa.Boolean(), nullable=True),
    sa.Column('asset_bicycle', sa.Boolean(), nullable=True),
    sa.Column('asset_car', sa.Boolean(), nullable=True),
    sa.Column('asset_boat', sa.Boolean(), nullable=True),
    sa.Column('asset_motorboat', sa.Boolean(), nullable=True),
    sa.Column('asset_smartphone', sa.Boolean(), nullable=True),
    sa.Column('asset_land', sa.Boolean(), nullable=True),
    sa.Column('asset_other_house', sa.Boolean(), nullable=True),
    sa.Column('asset_internet', sa.Boolean(), nullable=True),
    sa.Column('asset_bank_account', sa.Boolean(), nullable=True),
    sa.Column('livestock_cattle', sa.Integer(), nullable=True),
    sa.Column('livestock_buffalo', sa.Integer(), nullable=True),
    sa.Column('livestock_horse', sa.Integer(), nullable=True),
    sa.Column('livestock_pig', sa.Integer(), nullable=True),
    sa.Column('livestock_goat_sheep', sa.Integer(), nullable=True),
    sa.Column('livestock_poultry', sa.Integer(), nullable=True),
    sa.Column('receives_bpnt', sa.Boolean(), nullable=True),
    sa.Column('receives_pkh', sa.Boolean(), nullable=True),
    sa.Column('receives_electricity_subsidy', sa.Boolean(), nullable=True),
    sa.Column('receives_lpg_subsidy', sa.Boolean(), nullable=True),
    sa.Column('receives_local_aid', sa.Boolean(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('verification_status', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_household_created_by_app_user')),
    sa.ForeignKeyConstraint(['kelurahan_code'], ['kelurahan.code'], name=op.f('fk_household_kelurahan_code_kelurahan')),
    sa.ForeignKeyConstraint(['updated_by'], ['app_user.id'], name=op.f('fk_household_updated_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_household'))
    )
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_household_kelurahan_code'), ['kelurahan_code'], unique=False)
        batch_op.create_index('ix_household_list', ['created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_household_source'), ['source'], unique=False)
        batch_op.create_index(batch_op.f('ix_household_updated_at'), ['updated_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_household_verification_status'), ['verification_status'], unique=False)
        batch_op.create_index('uq_household_active_kk', ['kk_number'], unique=True, sqlite_where=sa.text('deleted_at IS NULL AND kk_number IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND kk_number IS NOT NULL'))

    op.create_table('kk_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('kk_number', sa.String(length=16), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_kk_history_household_id_household')),
    sa.ForeignKeyConstraint(['recorded_by'], ['app_user.id'], name=op.f('fk_kk_history_recorded_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kk_history'))
    )
    with op.batch_alter_table('kk_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kk_history_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_kk_history_kk_number'), ['kk_number'], unique=False)

    op.create_table('member',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('nik', sa.String(length=16), nullable=True),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('sex', sa.String(length=6), nullable=False),
    sa.Column('birth_place', sa.String(length=80), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('relation', sa.String(length=20), nullable=False),
    sa.Column('marital_status', sa.String(length=10), nullable=True),
    sa.Column('education', sa.String(length=8), nullable=True),
    sa.Column('school_participation', sa.String(length=10), nullable=True),
    sa.Column('occupation', sa.String(length=20), nullable=True),
    sa.Column('disability', sa.String(length=12), nullable=True),
    sa.Column('disability_severe', sa.Boolean(), nullable=True),
    sa.Column('chronic_illness', sa.Boolean(), nullable=True),
    sa.Column('pregnant', sa.Boolean(), nullable=True),
    sa.Column('health_insurance', sa.String(length=20), nullable=True),
    sa.Column('alive', sa.Boolean(), nullable=False),
    sa.Column('death_date', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_member_household_id_household')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member'))
    )
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.create_index('ix_member_household', ['household_id'], unique=False)
        batch_op.create_index('uq_member_active_nik', ['nik'], unique=True, sqlite_where=sa.text('deleted_at IS NULL AND nik IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND nik IS NOT NULL'))
        batch_op.create_index('uq_member_one_head', ['household_id'], unique=True, sqlite_where=sa.text("deleted_at IS NULL AND relation = 'head'"), postgresql_where=sa.text("deleted_at IS NULL AND relation = 'head'"))




def downgrade() -> None:

    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_index('uq_member_one_head', sqlite_where=sa.text("deleted_at IS NULL AND relation = 'head'"), postgresql_where=sa.text("deleted_at IS NULL AND relation = 'head'"))
        batch_op.drop_index('uq_member_active_nik', sqlite_where=sa.text('deleted_at IS NULL AND nik IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND nik IS NOT NULL'))
        batch_op.drop_index('ix_member_household')

    op.drop_table('member')
    with op.batch_alter_table('kk_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kk_history_kk_number'))
        batch_op.drop_index(batch_op.f('ix_kk_history_household_id'))

    op.drop_table('kk_history')
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.drop_index('uq_household_active_kk', sqlite_where=sa.text('deleted_at IS NULL AND kk_number IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND kk_number IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_household_verification_status'))
        batch_op.drop_index(batch_op.f('ix_household_updated_at'))
        batch_op.drop_index(batch_op.f('ix_household_source'))
        batch_op.drop_index('ix_household_list')
        batch_op.drop_index(batch_op.f('ix_household_kelurahan_code'))

    op.drop_table('household')
    op.drop_table('enumerator_assignment')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_household_id'))

    op.drop_table('audit_log')
    with op.batch_alter_table('kelurahan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kelurahan_kecamatan_code'))

    op.drop_table('kelurahan')
    op.drop_table('app_user')
    op.drop_table('kecamatan')

