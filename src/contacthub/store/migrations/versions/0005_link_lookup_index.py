"""links: a covering index for "does this contact have a record in this connector"

The plan asks it for every live contact; with only (contact_id, connector_id) SQLite chose
the (connector_id, ...) index instead and walked all links of the connector per contact,
quadratic in the size of the hub. ix_links_plan now leads with (connector_id, id), so the
plan's pages come in id order from the index instead of a sort of every candidate per page.
The redundant ix_contacts_hub goes too.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_links_contact", table_name="links")
    op.create_index("ix_links_contact", "links", ["contact_id", "connector_id", "state", "synced_rev"])
    op.drop_index("ix_contacts_hub", table_name="contacts")
    op.drop_index("ix_links_plan", table_name="links")
    op.create_index("ix_links_plan", "links", ["connector_id", "id", "state", "synced_rev", "contact_id"])


def downgrade() -> None:
    op.drop_index("ix_links_plan", table_name="links")
    op.create_index("ix_links_plan", "links", ["connector_id", "state", "contact_id", "synced_rev", "id"])
    op.create_index("ix_contacts_hub", "contacts", ["hub_id", "deleted"])
    op.drop_index("ix_links_contact", table_name="links")
    op.create_index("ix_links_contact", "links", ["contact_id", "connector_id"])
