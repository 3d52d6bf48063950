"""inventory history, quota, traffic, leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:48:02.912621
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )
    op.create_table(
        "traffic_hours",
        sa.Column("deployment_id", sa.String(length=512), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("peak_tpm", sa.BigInteger(), nullable=False),
        sa.Column("peak_rpm", sa.BigInteger(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("minutes_near_tpm", sa.Integer(), nullable=False),
        sa.Column("minutes_near_rpm", sa.Integer(), nullable=False),
        sa.Column("minutes_at_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "hour", name=op.f("pk_traffic_hours")),
    )
    op.create_table(
        "traffic_minutes",
        sa.Column("deployment_id", sa.String(length=512), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "minute", name=op.f("pk_traffic_minutes")),
    )
    op.create_table(
        "inventory_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("old_value", sa.String(length=256), nullable=True),
        sa.Column("new_value", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["collection_runs.id"], name=op.f("fk_inventory_events_run_id_collection_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_events")),
    )
    with op.batch_alter_table("inventory_events", schema=None) as batch_op:
        batch_op.create_index("ix_inventory_events_observed_at", ["observed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_inventory_events_resource_id"), ["resource_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_inventory_events_run_id"), ["run_id"], unique=False)

    op.create_table(
        "quota_snapshots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("localized_name", sa.String(length=256), nullable=False),
        sa.Column("current_value", sa.BigInteger(), nullable=False),
        sa.Column("limit_value", sa.BigInteger(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["collection_runs.id"], name=op.f("fk_quota_snapshots_run_id_collection_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_snapshots")),
        sa.UniqueConstraint(
            "subscription_id", "location", "provider", "name", "taken_at", name="uq_quota_snapshots_natural_key"
        ),
    )
    with op.batch_alter_table("quota_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quota_snapshots_run_id"), ["run_id"], unique=False)
        batch_op.create_index("ix_quota_snapshots_taken_at", ["taken_at"], unique=False)

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("instance_type", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("instance_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("marketplace_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("saas_resources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("removed_at")

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("removed_at")

    with op.batch_alter_table("saas_resources", schema=None) as batch_op:
        batch_op.drop_column("removed_at")

    with op.batch_alter_table("marketplace_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("removed_at")

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("removed_at")
        batch_op.drop_column("instance_count")
        batch_op.drop_column("instance_type")

    with op.batch_alter_table("quota_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_quota_snapshots_taken_at")
        batch_op.drop_index(batch_op.f("ix_quota_snapshots_run_id"))

    op.drop_table("quota_snapshots")
    with op.batch_alter_table("inventory_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_events_run_id"))
        batch_op.drop_index(batch_op.f("ix_inventory_events_resource_id"))
        batch_op.drop_index("ix_inventory_events_observed_at")

    op.drop_table("inventory_events")
    op.drop_table("traffic_minutes")
    op.drop_table("traffic_hours")
    op.drop_table("scheduler_leases")
