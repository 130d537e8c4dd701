"""api_tokens.expires_at: an API token may be made to expire

A token lived until someone revoked it, so one copied into a script or a CI job and
forgotten stayed good for ever. ``contacthub token create --expires-days N`` now sets the
moment (UTC) after which it is refused as an unknown one. Nullable: the tokens already made,
and those made without the option, never expire, as before.

Added and dropped in place, not in a batch, as 0012 does (SQLite 3.35 drops a column in
place; nothing refers to api_tokens, but there is no reason to copy the table).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("api_tokens", "expires_at")
