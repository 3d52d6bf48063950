"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 17:26:43.215986
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

import collector.db.types
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "collection_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_from", sa.Date(), nullable=True),
        sa.Column("window_to", sa.Date(), nullable=True),
        sa.Column("scopes_total", sa.Integer(), nullable=False),
        sa.Column("scopes_failed", sa.Integer(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("rows_removed", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("qpu_used", sa.Integer(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("throttled", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_runs")),
    )
    op.create_table(
        "deployments",
        sa.Column("resource_id", sa.String(length=512), nullable=False),
        sa.Column("workspace_id", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("model_id", sa.String(length=512), nullable=False),
        sa.Column("marketplace_subscription_id", sa.String(length=512), nullable=False),
        sa.Column("provisioning_state", sa.String(length=32), nullable=False),
        sa.Column("endpoint_state", sa.String(length=32), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_deployments")),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployments_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "marketplace_subscriptions",
        sa.Column("resource_id", sa.String(length=512), nullable=False),
        sa.Column("workspace_id", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("model_id", sa.String(length=512), nullable=False),
        sa.Column("publisher_id", sa.String(length=256), nullable=False),
        sa.Column("offer_id", sa.String(length=256), nullable=False),
        sa.Column("plan_id", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("provisioning_state", sa.String(length=32), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_marketplace_subscriptions")),
    )
    with op.batch_alter_table("marketplace_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_marketplace_subscriptions_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "resource_attribution",
        sa.Column("resource_id", sa.String(length=512), nullable=False),
        sa.Column("spend_kind", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.String(length=512), nullable=True),
        sa.Column("project", sa.String(length=256), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_resource_attribution")),
    )
    op.create_table(
        "saas_resources",
        sa.Column("resource_id", sa.String(length=512), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("resource_group", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("offer", sa.String(length=256), nullable=False),
        sa.Column("plan", sa.String(length=256), nullable=False),
        sa.Column("publisher", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_saas_resources")),
    )
    with op.batch_alter_table("saas_resources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_saas_resources_subscription_id"), ["subscription_id"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_subscriptions")),
    )
    op.create_table(
        "workspaces",
        sa.Column("resource_id", sa.String(length=512), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("resource_group", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("hub_resource_id", sa.String(length=512), nullable=True),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("friendly_name", sa.String(length=256), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_workspaces")),
    )
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workspaces_subscription_id"), ["subscription_id"], unique=False)

    op.create_table(
        "collection_scopes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("rows_removed", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("qpu_used", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["collection_runs.id"],
            name=op.f("fk_collection_scopes_run_id_collection_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_scopes")),
    )
    with op.batch_alter_table("collection_scopes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collection_scopes_run_id"), ["run_id"], unique=False)

    op.create_table(
        "cost_rows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("usage_date", sa.Date(), nullable=False),
        sa.Column("resource_id", sa.String(length=512), nullable=False),
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("meter", sa.String(length=256), nullable=False),
        sa.Column("meter_category", sa.String(length=128), nullable=False),
        sa.Column("meter_subcategory", sa.String(length=256), nullable=False),
        sa.Column("charge_type", sa.String(length=64), nullable=False),
        sa.Column("cost_type", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("cost", collector.db.types.Money(), nullable=False),
        sa.Column("quantity", collector.db.types.Money(), nullable=True),
        sa.Column("is_estimated", sa.Boolean(), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["collection_runs.id"], name=op.f("fk_cost_rows_run_id_collection_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_rows")),
        sa.UniqueConstraint(
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
            name="uq_cost_rows_natural_key",
        ),
    )
    with op.batch_alter_table("cost_rows", schema=None) as batch_op:
        batch_op.create_index("ix_cost_rows_resource_id", ["resource_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cost_rows_run_id"), ["run_id"], unique=False)
        batch_op.create_index("ix_cost_rows_usage_date_resource_id", ["usage_date", "resource_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("cost_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_cost_rows_usage_date_resource_id")
        batch_op.drop_index(batch_op.f("ix_cost_rows_run_id"))
        batch_op.drop_index("ix_cost_rows_resource_id")

    op.drop_table("cost_rows")
    with op.batch_alter_table("collection_scopes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_scopes_run_id"))

    op.drop_table("collection_scopes")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workspaces_subscription_id"))

    op.drop_table("workspaces")
    op.drop_table("subscriptions")
    with op.batch_alter_table("saas_resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saas_resources_subscription_id"))

    op.drop_table("saas_resources")
    op.drop_table("resource_attribution")
    with op.batch_alter_table("marketplace_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_subscriptions_workspace_id"))

    op.drop_table("marketplace_subscriptions")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployments_workspace_id"))

    op.drop_table("deployments")
    op.drop_table("collection_runs")
