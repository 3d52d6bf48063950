"""the daily rollup is indexed by project (as filters compare it: lower-cased) and day

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_daily_spend_project_day", "daily_spend", [sa.text("lower(project)"), "usage_date"])


def downgrade() -> None:
    op.drop_index("ix_daily_spend_project_day", table_name="daily_spend")
