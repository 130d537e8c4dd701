"""links.made: whether contacthub wrote a linked record (a copy) or found it there

An undo of a person's creation deletes the copies contacthub wrote and never the records
the person was read from. Told apart from the journal by connector and file name, a
connector pointed at another folder and back, or two connectors swapping folders, made a
person's own card look like a copy. The link now says so itself; older links say nothing
(NULL) and the journal decides for them, as before.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("made", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("made")
