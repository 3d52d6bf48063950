"""Provisioned utilization: a provisioned Foundry deployment's busiest minute as a share of its PTUs

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 16:00:00.000000

Azure Monitor's AzureOpenAIProvisionedManagedUtilizationV2 ((PTUs consumed / PTUs deployed) x 100;
at 100% Azure throttles with 429) is a provisioned deployment's headroom: it states no tokens per
minute. Kept per minute and rolled up per hour as basis points (1/100 of a percent), exact on both
backends.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("traffic_minutes") as batch:
        batch.add_column(sa.Column("utilization_bp", sa.Integer(), nullable=True))
    with op.batch_alter_table("traffic_hours") as batch:
        batch.add_column(sa.Column("peak_utilization_bp", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("minutes_near_utilization", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("traffic_hours") as batch:
        batch.drop_column("minutes_near_utilization")
        batch.drop_column("peak_utilization_bp")
    with op.batch_alter_table("traffic_minutes") as batch:
        batch.drop_column("utilization_bp")
