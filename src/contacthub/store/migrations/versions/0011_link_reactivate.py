"""links.reactivate: a deactivated record to write again, kept until a write of it succeeds

A record ``on_delete = "deactivate"`` deactivated (a hidden GAL contact, an inactive Procore
user) whose person comes back is written once though its baseline agrees: the write is
what reactivates it. Which records those were was kept in the run's memory only, so a
reactivating write that failed (an error, the network down) was never tried again: the
link agreed, and the record stayed hidden for good. The link now says so itself.

Links already caught so are marked here: active, of a live contact, and the journal's last
write of that contact in that connector is the deactivation of this very record (a
successful reactivation writes an update after it). One the system's own users brought
back meanwhile is written once more, harmlessly. Downgrade drops the column.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_LINKS = sa.table(
    "links",
    sa.column("id", sa.Integer),
    sa.column("connector_id", sa.Integer),
    sa.column("contact_id", sa.String),
    sa.column("native_id", sa.String),
    sa.column("state", sa.String),
    sa.column("reactivate", sa.Boolean),
)
_CONTACTS = sa.table("contacts", sa.column("id", sa.String), sa.column("deleted", sa.Boolean))
_CHANGES = sa.table(
    "changes",
    sa.column("id", sa.Integer),
    sa.column("connector_id", sa.Integer),
    sa.column("contact_id", sa.String),
    sa.column("native_id", sa.String),
    sa.column("op", sa.String),
    sa.column("status", sa.String),
)
_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("reactivate", sa.Boolean(), nullable=False, server_default=sa.false()))
    conn = op.get_bind()
    lk, c, ch = _LINKS.c, _CONTACTS.c, _CHANGES.c
    deactivated = (
        sa.select(ch.id)
        .where(
            ch.contact_id == lk.contact_id,
            ch.connector_id == lk.connector_id,
            ch.op == "deactivate",
            ch.status == "done",
        )
        .exists()
    )
    live = sa.select(c.id).where(c.id == lk.contact_id, c.deleted.is_(False)).exists()
    candidates = conn.execute(
        sa.select(lk.id, lk.contact_id, lk.connector_id, lk.native_id).where(
            lk.state == "active", live, deactivated
        )
    ).all()
    marked = []
    for link_id, contact_id, connector_id, native_id in candidates:
        last = conn.execute(
            sa.select(ch.op, ch.native_id)
            .where(
                ch.contact_id == contact_id,
                ch.connector_id == connector_id,
                ch.op.in_(("create", "update", "deactivate")),
                ch.status == "done",
            )
            .order_by(ch.id.desc())
            .limit(1)
        ).first()
        if last is not None and tuple(last) == ("deactivate", native_id):
            marked.append(link_id)
    for start in range(0, len(marked), _BATCH):
        part = marked[start : start + _BATCH]
        conn.execute(sa.update(_LINKS).where(lk.id.in_(part)).values(reactivate=True))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("reactivate")
