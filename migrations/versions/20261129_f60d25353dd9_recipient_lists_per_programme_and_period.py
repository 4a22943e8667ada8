"""recipient lists per programme and period

Who actually receives each programme (issue 7 part 5): ``recipient_import`` (one row per
file, programme and period; the same file for the same programme and period is imported
once) and ``programme_recipient`` (a family or a person receiving a programme in a period,
unique per programme, period, household and subject).

Revision ID: f60d25353dd9
Revises: f1a2b3c4d5e6
Create Date: 2026-11-29 01:04:49.736857
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'f60d25353dd9'
down_revision: str | None = 'f1a2b3c4d5e6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('recipient_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.String(length=40), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
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
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recipient_import')),
    sa.UniqueConstraint('sha256', 'programme_id', 'period', name='uq_recipient_import_file')
    )
    op.create_table('programme_recipient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.String(length=40), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('member_id', sa.Uuid(), nullable=True),
    sa.Column('subject', sa.String(length=36), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_programme_recipient_household_id_household')),
    sa.ForeignKeyConstraint(['import_id'], ['recipient_import.id'], name=op.f('fk_programme_recipient_import_id_recipient_import')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_programme_recipient_member_id_member')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_recipient')),
    sa.UniqueConstraint('programme_id', 'period', 'household_id', 'subject', name='uq_programme_recipient_subject')
    )
    with op.batch_alter_table('programme_recipient', schema=None) as batch_op:
        batch_op.create_index('ix_programme_recipient_household', ['household_id', 'programme_id', 'period'], unique=False)
        batch_op.create_index(batch_op.f('ix_programme_recipient_import_id'), ['import_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('programme_recipient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_programme_recipient_import_id'))
        batch_op.drop_index('ix_programme_recipient_household')

    op.drop_table('programme_recipient')
    op.drop_table('recipient_import')
