"""eligibility: desil imports, estimates, rule sets, score runs, decisions

Official desil per household and BPS period (with the import it came from), PMT estimates
per household and model version, the programme rule sets (one active, by a partial unique
index), scoring runs, and the decisions with their reasons: one current row per
(household, programme, subject), by a partial unique index; superseded rows are kept.

Revision ID: f1a2b3c4d5e6
Revises: a9b8c7d6e5f4
Create Date: 2026-11-29 00:23:03.140803
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'f1a2b3c4d5e6'
down_revision: str | None = 'a9b8c7d6e5f4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('desil_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('imported_by', sa.String(length=80), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accept_valid', sa.Boolean(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('matched', sa.Integer(), nullable=False),
    sa.Column('unmatched', sa.Integer(), nullable=False),
    sa.Column('ambiguous', sa.Integer(), nullable=False),
    sa.Column('invalid', sa.Integer(), nullable=False),
    sa.Column('written', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desil_import')),
    sa.UniqueConstraint('sha256', 'period', name='uq_desil_import_file_period')
    )
    op.create_table('rule_set',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('ruleset_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('source_name', sa.String(length=200), nullable=False),
    sa.Column('source_text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('activated_by', sa.String(length=80), nullable=True),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_set')),
    sa.UniqueConstraint('label', name=op.f('uq_rule_set_label'))
    )
    with op.batch_alter_table('rule_set', schema=None) as batch_op:
        batch_op.create_index('uq_rule_set_one_active', ['status'], unique=True, sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))

    op.create_table('score_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_set_id', sa.Integer(), nullable=False),
    sa.Column('ruleset_label', sa.String(length=80), nullable=False),
    sa.Column('reference_date', sa.Date(), nullable=False),
    sa.Column('started_by', sa.String(length=80), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('families', sa.Integer(), nullable=False),
    sa.Column('persons', sa.Integer(), nullable=False),
    sa.Column('written', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('retired', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['rule_set_id'], ['rule_set.id'], name=op.f('fk_score_run_rule_set_id_rule_set')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_run'))
    )
    op.create_table('desil_estimate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('model_version', sa.String(length=40), nullable=False),
    sa.Column('desil', sa.Integer(), nullable=True),
    sa.Column('predicted_log_pc_spending', sa.Float(), nullable=True),
    sa.Column('predicted_pc_spending', sa.Integer(), nullable=True),
    sa.Column('contributions', sa.JSON(), nullable=False),
    sa.Column('missing', sa.JSON(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_desil_estimate_household_id_household')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desil_estimate')),
    sa.UniqueConstraint('household_id', 'model_version', name='uq_desil_estimate_household_model')
    )
    with op.batch_alter_table('desil_estimate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_desil_estimate_household_id'), ['household_id'], unique=False)

    op.create_table('eligibility_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('member_id', sa.Uuid(), nullable=True),
    sa.Column('subject', sa.String(length=36), nullable=False),
    sa.Column('programme_id', sa.String(length=40), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('outcome', sa.String(length=14), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('missing', sa.JSON(), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('desil', sa.Integer(), nullable=True),
    sa.Column('desil_source', sa.String(length=8), nullable=True),
    sa.Column('desil_period', sa.String(length=7), nullable=True),
    sa.Column('desil_model', sa.String(length=40), nullable=True),
    sa.Column('rule_set_id', sa.Integer(), nullable=False),
    sa.Column('ruleset_label', sa.String(length=80), nullable=False),
    sa.Column('ruleset_digest', sa.String(length=64), nullable=False),
    sa.Column('reference_date', sa.Date(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('superseded_by_run', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_eligibility_decision_household_id_household')),
    sa.ForeignKeyConstraint(['rule_set_id'], ['rule_set.id'], name=op.f('fk_eligibility_decision_rule_set_id_rule_set')),
    sa.ForeignKeyConstraint(['run_id'], ['score_run.id'], name=op.f('fk_eligibility_decision_run_id_score_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_eligibility_decision'))
    )
    with op.batch_alter_table('eligibility_decision', schema=None) as batch_op:
        batch_op.create_index('ix_eligibility_decision_household', ['household_id', 'current'], unique=False)
        batch_op.create_index('ix_eligibility_decision_list', ['current', 'programme_id', 'outcome', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_eligibility_decision_run_id'), ['run_id'], unique=False)
        batch_op.create_index('uq_eligibility_decision_current', ['household_id', 'programme_id', 'subject'], unique=True, sqlite_where=sa.text('current'), postgresql_where=sa.text('current'))

    op.create_table('family_desil',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('desil', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_family_desil_household_id_household')),
    sa.ForeignKeyConstraint(['import_id'], ['desil_import.id'], name=op.f('fk_family_desil_import_id_desil_import')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_desil')),
    sa.UniqueConstraint('household_id', 'period', name='uq_family_desil_household_period')
    )
    with op.batch_alter_table('family_desil', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_desil_import_id'), ['import_id'], unique=False)
        batch_op.create_index('ix_family_desil_latest', ['household_id', 'period'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('family_desil', schema=None) as batch_op:
        batch_op.drop_index('ix_family_desil_latest')
        batch_op.drop_index(batch_op.f('ix_family_desil_import_id'))

    op.drop_table('family_desil')
    with op.batch_alter_table('eligibility_decision', schema=None) as batch_op:
        batch_op.drop_index('uq_eligibility_decision_current', sqlite_where=sa.text('current'), postgresql_where=sa.text('current'))
        batch_op.drop_index(batch_op.f('ix_eligibility_decision_run_id'))
        batch_op.drop_index('ix_eligibility_decision_list')
        batch_op.drop_index('ix_eligibility_decision_household')

    op.drop_table('eligibility_decision')
    with op.batch_alter_table('desil_estimate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_desil_estimate_household_id'))

    op.drop_table('desil_estimate')
    op.drop_table('score_run')
    with op.batch_alter_table('rule_set', schema=None) as batch_op:
        batch_op.drop_index('uq_rule_set_one_active', sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))

    op.drop_table('rule_set')
    op.drop_table('desil_import')
