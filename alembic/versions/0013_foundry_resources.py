"""Foundry resources: their accounts, projects and deployments, and the model of each of their meters

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 10:00:00.000000

Microsoft bills Azure OpenAI and the Foundry Models it sells directly on the Foundry resource
(Microsoft.CognitiveServices/accounts), one resource for many models: the model of a cost row comes
from its meter. Foundry deployments join the deployments table (kind foundry) with their type,
capacity and rate limits.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _seen() -> list[sa.Column[object]]:
    return [
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "foundry_accounts",
        sa.Column("resource_id", sa.String(512), nullable=False),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("resource_group", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("location", sa.String(64), nullable=False),
        sa.Column("sku_name", sa.String(32), nullable=False),
        sa.Column("provisioning_state", sa.String(32), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        *_seen(),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_foundry_accounts")),
    )
    op.create_index(op.f("ix_foundry_accounts_subscription_id"), "foundry_accounts", ["subscription_id"])
    op.create_table(
        "foundry_projects",
        sa.Column("resource_id", sa.String(512), nullable=False),
        sa.Column("account_id", sa.String(512), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        *_seen(),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_foundry_projects")),
    )
    op.create_index(op.f("ix_foundry_projects_account_id"), "foundry_projects", ["account_id"])
    op.create_table(
        "meter_models",
        sa.Column("resource_id", sa.String(512), nullable=False),
        sa.Column("meter", sa.String(256), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", "meter", name=op.f("pk_meter_models")),
    )
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("model_version", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("sku_name", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("capacity", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tokens_per_minute", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("requests_per_minute", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        for column in ("requests_per_minute", "tokens_per_minute", "capacity", "sku_name", "model_version"):
            batch.drop_column(column)
    op.drop_table("meter_models")
    op.drop_index(op.f("ix_foundry_projects_account_id"), table_name="foundry_projects")
    op.drop_table("foundry_projects")
    op.drop_index(op.f("ix_foundry_accounts_subscription_id"), table_name="foundry_accounts")
    op.drop_table("foundry_accounts")
