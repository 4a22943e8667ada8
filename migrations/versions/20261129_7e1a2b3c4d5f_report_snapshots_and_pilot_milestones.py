"""report snapshots and pilot milestones

Issue 8 parts 2 and 3: ``report_snapshot`` (one row per period taken: the primary key makes
``sigap report snapshot`` idempotent), ``report_snapshot_desil`` and
``report_snapshot_programme`` (the aggregates as they were when taken, so trends compare
like with like) and ``pilot_milestone`` (stages that are a meeting or a decision).

Revision ID: 7e1a2b3c4d5f
Revises: 7a8b9c0d1e2f
Create Date: 2026-11-29 02:55:17.157595
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7e1a2b3c4d5f"
down_revision: str | None = "7a8b9c0d1e2f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_snapshot",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_by", sa.String(length=80), nullable=False),
        sa.Column("rule_set_label", sa.String(length=80), nullable=True),
        sa.Column("families", sa.Integer(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.Column("replaced", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_report_snapshot")),
    )
    op.create_table(
        "pilot_milestone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("kecamatan_code", sa.String(length=8), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["kecamatan_code"], ["kecamatan.code"], name=op.f("fk_pilot_milestone_kecamatan_code_kecamatan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pilot_milestone")),
    )
    with op.batch_alter_table("pilot_milestone", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pilot_milestone_stage", ["stage", "kecamatan_code", "decided_on"], unique=False
        )

    op.create_table(
        "report_snapshot_desil",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("kelurahan_code", sa.String(length=13), nullable=False),
        sa.Column("desil", sa.Integer(), nullable=False),
        sa.Column("desil_source", sa.String(length=8), nullable=False),
        sa.Column("families", sa.Integer(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["kelurahan_code"],
            ["kelurahan.code"],
            name=op.f("fk_report_snapshot_desil_kelurahan_code_kelurahan"),
        ),
        sa.ForeignKeyConstraint(
            ["period"],
            ["report_snapshot.period"],
            name=op.f("fk_report_snapshot_desil_period_report_snapshot"),
        ),
        sa.PrimaryKeyConstraint(
            "period", "kelurahan_code", "desil", "desil_source", name=op.f("pk_report_snapshot_desil")
        ),
    )
    op.create_table(
        "report_snapshot_programme",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("kelurahan_code", sa.String(length=13), nullable=False),
        sa.Column("programme_id", sa.String(length=40), nullable=False),
        sa.Column("rule_set_label", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=14), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("families", sa.Integer(), nullable=False),
        sa.Column("subjects", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["kelurahan_code"],
            ["kelurahan.code"],
            name=op.f("fk_report_snapshot_programme_kelurahan_code_kelurahan"),
        ),
        sa.ForeignKeyConstraint(
            ["period"],
            ["report_snapshot.period"],
            name=op.f("fk_report_snapshot_programme_period_report_snapshot"),
        ),
        sa.PrimaryKeyConstraint(
            "period",
            "kelurahan_code",
            "programme_id",
            "rule_set_label",
            "outcome",
            name=op.f("pk_report_snapshot_programme"),
        ),
    )


def downgrade() -> None:
    op.drop_table("report_snapshot_programme")
    op.drop_table("report_snapshot_desil")
    with op.batch_alter_table("pilot_milestone", schema=None) as batch_op:
        batch_op.drop_index("ix_pilot_milestone_stage")

    op.drop_table("pilot_milestone")
    op.drop_table("report_snapshot")
