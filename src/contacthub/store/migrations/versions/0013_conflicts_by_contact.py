"""conflicts: an index by contact and field

The inbound looks up a contact's conflicts on a field (``open_conflict_from``,
``open_conflict_values``, ``update_conflict_hub_value``) for every record of a person with
one open, and the only index was by hub and status: each lookup read every conflict the
hub ever had (a few hundred open ones made each run of their people a full scan apiece).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_conflicts_contact", "conflicts", ["contact_id", "field", "status"])


def downgrade() -> None:
    op.drop_index("ix_conflicts_contact", "conflicts")
