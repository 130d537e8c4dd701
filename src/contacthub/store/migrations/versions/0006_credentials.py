"""credentials: tokens a connector obtained by signing in (OAuth access and refresh tokens,
a partner tenant's id), kept apart from the settings of the hub file so that applying the file
again never throws away a sign-in, and encrypted like every other secret.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column(
            "connector_id",
            sa.Integer(),
            sa.ForeignKey("connectors.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credentials")
