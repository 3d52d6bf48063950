"""cost rows: the natural key led by the resource and the day; narrow indexes by subscription and day, and by day

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 18:20:00.000000

The unique natural key was led by (subscription_id, usage_date), and two more indexes held the
100-character resource ID: (usage_date, resource_id) and (resource_id, usage_date). The key now leads
with (resource_id, usage_date), so it also serves one resource's rows in a period; one subscription's
days (a chunk's reads) come from a narrow (subscription_id, usage_date) index, and every
subscription's (date ranges, the latest day) from (usage_date). Two of the three wide indexes are
gone: a third of PostgreSQL's COPY time (docs/performance.md#narrow-indexes). On SQLite the table is
rebuilt (batch mode).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY_BY_SUBSCRIPTION = (
    "subscription_id",
    "usage_date",
    "resource_id",
    "meter_id",
    "meter",
    "meter_category",
    "meter_subcategory",
    "charge_type",
    "cost_type",
    "currency",
)
_KEY_BY_RESOURCE = ("resource_id", "usage_date", *_KEY_BY_SUBSCRIPTION[3:], "subscription_id")


def upgrade() -> None:
    with op.batch_alter_table("cost_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_cost_rows_usage_date_resource_id")
        batch_op.drop_index("ix_cost_rows_resource_id_usage_date")
        batch_op.drop_constraint("uq_cost_rows_natural_key", type_="unique")
        batch_op.create_unique_constraint("uq_cost_rows_natural_key", list(_KEY_BY_RESOURCE))
        batch_op.create_index("ix_cost_rows_subscription_id_usage_date", ["subscription_id", "usage_date"])
        batch_op.create_index("ix_cost_rows_usage_date", ["usage_date"])


def downgrade() -> None:
    with op.batch_alter_table("cost_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_cost_rows_usage_date")
        batch_op.drop_index("ix_cost_rows_subscription_id_usage_date")
        batch_op.drop_constraint("uq_cost_rows_natural_key", type_="unique")
        batch_op.create_unique_constraint("uq_cost_rows_natural_key", list(_KEY_BY_SUBSCRIPTION))
        batch_op.create_index("ix_cost_rows_resource_id_usage_date", ["resource_id", "usage_date"])
        batch_op.create_index("ix_cost_rows_usage_date_resource_id", ["usage_date", "resource_id"])
