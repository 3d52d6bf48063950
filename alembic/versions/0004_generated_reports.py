"""generated reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:25:52.264430
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "generated_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generated_reports")),
    )
    with op.batch_alter_table("generated_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_generated_reports_month"), ["month"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("generated_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_generated_reports_month"))

    op.drop_table("generated_reports")
