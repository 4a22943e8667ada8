"""resumable media uploads (tus 1.0), content-addressed objects and household links

Revision ID: d4b2e1f3a6c7
Revises: 2a8e1284237e
Create Date: 2026-11-28 19:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'd4b2e1f3a6c7'
down_revision: str | None = '2a8e1284237e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('media_object',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_media_object'))
    )
    op.create_table('media_upload',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('upload_length', sa.BigInteger(), nullable=False),
    sa.Column('upload_offset', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('household_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_media_upload_created_by_app_user')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_media_upload_household_id_household')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_upload'))
    )
    with op.batch_alter_table('media_upload', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_upload_created_by'), ['created_by'], unique=False)

    op.create_table('media_link',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_media_link_created_by_app_user')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_media_link_household_id_household')),
    sa.ForeignKeyConstraint(['sha256'], ['media_object.sha256'], name=op.f('fk_media_link_sha256_media_object')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_link'))
    )
    with op.batch_alter_table('media_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_link_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_media_link_sha256'), ['sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('media_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_link_sha256'))
        batch_op.drop_index(batch_op.f('ix_media_link_household_id'))

    op.drop_table('media_link')
    with op.batch_alter_table('media_upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_upload_created_by'))

    op.drop_table('media_upload')
    op.drop_table('media_object')
