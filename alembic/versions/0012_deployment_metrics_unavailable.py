"""deployments: when Azure Monitor has no traffic metrics for a serverless deployment

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 22:30:00.000000

No supported-metrics page lists Microsoft.MachineLearningServices/workspaces/serverlessEndpoints; a real
tenant may answer every metrics call with 400 "Failed to find metric configuration". The deployment
records since when and why, and when it was last asked again, so the metrics job skips it instead of
failing every run.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("metrics_unavailable_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("metrics_unavailable_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("metrics_checked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("metrics_checked_at")
        batch.drop_column("metrics_unavailable_reason")
        batch.drop_column("metrics_unavailable_since")
