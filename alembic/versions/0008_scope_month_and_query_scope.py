"""collection scopes say the month and the scope its cost query ran at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("collection_scopes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("month", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("query_scope", sa.String(length=256), server_default="", nullable=False))


def downgrade() -> None:

    with op.batch_alter_table("collection_scopes", schema=None) as batch_op:
        batch_op.drop_column("query_scope")
        batch_op.drop_column("month")
