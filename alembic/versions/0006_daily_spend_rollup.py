"""daily spend rollup

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 19:16:17.468613
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

import collector.db.types
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "daily_spend",
        sa.Column("usage_date", sa.Date(), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("project", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("meter", sa.String(length=256), nullable=False),
        sa.Column("spend_kind", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("cost", collector.db.types.Money(), nullable=False),
        sa.Column("is_estimated", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "usage_date",
            "subscription_id",
            "project",
            "model",
            "meter",
            "spend_kind",
            "currency",
            name=op.f("pk_daily_spend"),
        ),
    )
    with op.batch_alter_table("cost_rows", schema=None) as batch_op:
        batch_op.create_index("ix_cost_rows_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("cost_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_cost_rows_updated_at")

    op.drop_table("daily_spend")
