"""monthly spend and daily totals rollups; cost rows by resource and day

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:10:00

`monthly_spend` holds the cost rows summed per month and resource with their attribution, for reads
of whole months; `daily_totals` is `daily_spend` without project, model and meter, for daily trends of
everything. Both are filled here, as collector.rollup would fill them. One resource's rows in a period
(the drill-down, the spend of one project's resources) are read by (resource_id, usage_date); the index
on resource_id alone it replaces served half of that.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

import collector.db.types
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monthly_spend",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("resource_id", sa.String(length=512), nullable=False),
        sa.Column("project", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("meter", sa.String(length=256), nullable=False),
        sa.Column("spend_kind", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("cost", collector.db.types.Money(), nullable=False),
        sa.Column("is_estimated", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint(
            "month",
            "subscription_id",
            "resource_id",
            "project",
            "model",
            "meter",
            "spend_kind",
            "currency",
            name=op.f("pk_monthly_spend"),
        ),
    )
    op.create_table(
        "daily_totals",
        sa.Column("usage_date", sa.Date(), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("spend_kind", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("cost", collector.db.types.Money(), nullable=False),
        sa.Column("is_estimated", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "usage_date", "subscription_id", "spend_kind", "currency", name=op.f("pk_daily_totals")
        ),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    # decimal_sum: the exact sum of decimal text that costwatch registers on its SQLite connections.
    total = "decimal_sum(cost)" if sqlite else "SUM(cost)"
    row_total = "decimal_sum(c.cost)" if sqlite else "SUM(c.cost)"
    month = "date(c.usage_date, 'start of month')" if sqlite else "CAST(date_trunc('month', c.usage_date) AS DATE)"
    attributed = "COALESCE(a.project, '(unattributed)'), COALESCE(a.model, ''), COALESCE(a.spend_kind, ''), c.currency"
    op.execute(
        "INSERT INTO monthly_spend (month, subscription_id, resource_id, meter, project, model, spend_kind, "
        "currency, cost, is_estimated, rows, first_day, last_day) "
        f"SELECT {month}, c.subscription_id, c.resource_id, c.meter, {attributed}, {row_total}, "
        "MAX(CAST(c.is_estimated AS INTEGER)) > 0, COUNT(*), MIN(c.usage_date), MAX(c.usage_date) "
        "FROM cost_rows c LEFT OUTER JOIN resource_attribution a ON a.resource_id = c.resource_id "
        f"GROUP BY {month}, c.subscription_id, c.resource_id, c.meter, {attributed}"
    )
    op.execute(
        "INSERT INTO daily_totals (usage_date, subscription_id, spend_kind, currency, cost, is_estimated, rows) "
        f"SELECT usage_date, subscription_id, spend_kind, currency, {total}, MAX(CAST(is_estimated AS INTEGER)) > 0, "
        "SUM(rows) FROM daily_spend GROUP BY usage_date, subscription_id, spend_kind, currency"
    )
    with op.batch_alter_table("cost_rows", schema=None) as batch_op:
        batch_op.create_index("ix_cost_rows_resource_id_usage_date", ["resource_id", "usage_date"], unique=False)
        batch_op.drop_index("ix_cost_rows_resource_id")


def downgrade() -> None:
    op.drop_table("daily_totals")
    op.drop_table("monthly_spend")
    with op.batch_alter_table("cost_rows", schema=None) as batch_op:
        batch_op.create_index("ix_cost_rows_resource_id", ["resource_id"], unique=False)
        batch_op.drop_index("ix_cost_rows_resource_id_usage_date")
