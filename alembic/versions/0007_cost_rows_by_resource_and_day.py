"""cost rows by resource and day

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:10:00

One resource's rows in a period (the drill-down, the spend of one project's resources) are read by
(resource_id, usage_date); the index on resource_id alone it replaces served only the first half.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cost_rows", schema=None) as batch_op:
        batch_op.create_index("ix_cost_rows_resource_id_usage_date", ["resource_id", "usage_date"], unique=False)
        batch_op.drop_index("ix_cost_rows_resource_id")


def downgrade() -> None:
    with op.batch_alter_table("cost_rows", schema=None) as batch_op:
        batch_op.create_index("ix_cost_rows_resource_id", ["resource_id"], unique=False)
        batch_op.drop_index("ix_cost_rows_resource_id_usage_date")
