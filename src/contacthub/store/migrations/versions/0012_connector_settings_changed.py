"""connectors.settings_changed: the next applied run lets go of what the connector no longer lists

A change of a connector's own settings (a GAL's ``member_of`` or ``user_types``, ...) can
narrow what it lists. The next run read every record again and took each one the new
settings leave out for a deletion: held, and one approve deleted those people in every
other connector. The connector now says that its settings changed since its last applied
run, and that run lets those records go (their links detached) instead. A column, not a
value kept elsewhere: it is read with the connector's row, which every run reads anyway,
and cleared in the transaction that saves the run's cursors, so a run that fails, is held
or is killed leaves it set. Connectors already migrated start without it.

Added and dropped in place, not in a batch: rebuilt, SQLite drops the table, and with it
(foreign keys on) the links and cursors of every connector.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "connectors", sa.Column("settings_changed", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("connectors", "settings_changed")  # (SQLite 3.35 drops it in place)
