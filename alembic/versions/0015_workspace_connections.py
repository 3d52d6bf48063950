"""Workspace connections: a hub's or project's connection to a Foundry or Azure OpenAI resource

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 17:00:00.000000

A hub project uses an Azure OpenAI or Foundry resource it does not hold through a connection of its
own or of its hub (category AzureOpenAI, AIServices or CognitiveService, metadata.ResourceId the
resource's ID): the resource's costs are that project's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workspace_connections",
        sa.Column("resource_id", sa.String(512), nullable=False),
        sa.Column("workspace_id", sa.String(512), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(512), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("resource_id", name=op.f("pk_workspace_connections")),
    )
    op.create_index(op.f("ix_workspace_connections_workspace_id"), "workspace_connections", ["workspace_id"])
    op.create_index(op.f("ix_workspace_connections_account_id"), "workspace_connections", ["account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_workspace_connections_account_id"), table_name="workspace_connections")
    op.drop_index(op.f("ix_workspace_connections_workspace_id"), table_name="workspace_connections")
    op.drop_table("workspace_connections")
