"""Records an older version agreed on after the system refused their write as invalid

Before the rule changed (a write refused as invalid, 400/413/422, is sent again every run
until it is written or the values change), such a refusal was taken for good: the link
agreed on the record (``synced_rev`` moved on to the contact's rev) or, for a create, an
``excluded`` marker was left at that rev. Upgraded, those records stayed out of step, with
no error said, until their contact changed again.

Marked here: each active or excluded link whose journalled last write of that contact in
that connector failed, and that agrees on its contact (``synced_rev > 0``). Its
``synced_rev`` is negated, as a settings change marks links behind (``config``): below
every rev, so the next run plans the write again (an excluded marker's create too), while
the rev last agreed is kept for modification-beats-deletion. A refusal for good (a
Microsoft 365 contact we did not create) is tried once more and said once more. A failed
write whose link is behind anyway is written again as it would have been. Downgrade does
nothing (the marks are no schema).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_LINKS = sa.table(
    "links",
    sa.column("id", sa.Integer),
    sa.column("connector_id", sa.Integer),
    sa.column("contact_id", sa.String),
    sa.column("state", sa.String),
    sa.column("synced_rev", sa.Integer),
)
_CHANGES = sa.table(
    "changes",
    sa.column("id", sa.Integer),
    sa.column("connector_id", sa.Integer),
    sa.column("contact_id", sa.String),
    sa.column("op", sa.String),
    sa.column("status", sa.String),
)
_BATCH = 500


def upgrade() -> None:
    conn = op.get_bind()
    lk, ch = _LINKS.c, _CHANGES.c
    failed = (
        sa.select(ch.id)
        .where(
            ch.contact_id == lk.contact_id,
            ch.connector_id == lk.connector_id,
            ch.op.in_(("create", "update")),
            ch.status == "failed",
        )
        .exists()
    )
    candidates = conn.execute(
        sa.select(lk.id, lk.contact_id, lk.connector_id).where(
            lk.state.in_(("active", "excluded")), lk.synced_rev > 0, failed
        )
    ).all()
    marked = []
    for link_id, contact_id, connector_id in candidates:
        last = conn.execute(
            sa.select(ch.status)
            .where(
                ch.contact_id == contact_id,
                ch.connector_id == connector_id,
                ch.op.in_(("create", "update", "delete", "deactivate")),
                ch.status.in_(("done", "failed")),
            )
            .order_by(ch.id.desc())
            .limit(1)
        ).scalar()
        if last == "failed":
            marked.append(link_id)
    for start in range(0, len(marked), _BATCH):
        part = marked[start : start + _BATCH]
        conn.execute(sa.update(_LINKS).where(lk.id.in_(part)).values(synced_rev=-lk.synced_rev))


def downgrade() -> None:
    pass
