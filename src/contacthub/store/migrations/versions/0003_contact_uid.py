"""contacts.uid: the id people's records already carry

A hub contact created from a record that has its own stable id (a vCard UID) keeps it, and
every copy written elsewhere carries it too, as vdirsyncer users expect. Unique per hub
only when set; the primary key stays ours, so two hubs can hold the same UID.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("uid", sa.String(length=255), nullable=True))
    op.create_index("ix_contacts_hub_uid", "contacts", ["hub_id", "uid"])


def downgrade() -> None:
    op.drop_index("ix_contacts_hub_uid", table_name="contacts")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("uid")
