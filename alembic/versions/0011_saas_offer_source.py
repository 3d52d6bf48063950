"""saas resources: where the offer ID came from, and the display name 2026-04-01 gives

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 22:10:00.000000

Microsoft.SaaS 2026-04-01 gives offerName/planName as display names ("SaaS Offer"); only 2018-03-01-beta
gives offerId/publisherId/skuId. `offer` keeps the ID, `offer_source` says which property gave it and
`offer_name` keeps the display name. The next inventory run fills both for existing rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("saas_resources") as batch:
        batch.add_column(sa.Column("offer_source", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("offer_name", sa.String(256), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("saas_resources") as batch:
        batch.drop_column("offer_name")
        batch.drop_column("offer_source")
