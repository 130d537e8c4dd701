"""match_keys: the name in a phone+name key without its accents

"José Pérez" and "Jose Perez" with one phone were two people: the phone+name key now
compares names with their accents left out (``model_normalize.unaccented_name_key``). The
keys a hub already holds were made with them, and a contact nobody edits keeps its keys:
rewritten here, so an upgraded hub finds its people by their new keys. The name in a stored
key is ``name_key``'s, so the new key is the old one with the same step applied to its name
part (written out here, as the code did it on the day). Email keys are left as they were.
Downgrade leaves the keys: older code finds an accented name by phone + name again once
the contact is next written.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ACCENTS = re.compile("[\u0300-\u036f]")


def _unaccented(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return unicodedata.normalize("NFC", _ACCENTS.sub("", decomposed))


def upgrade() -> None:
    conn = op.get_bind()
    keys = sa.table(
        "match_keys",
        sa.column("hub_id", sa.Integer),
        sa.column("key", sa.String),
        sa.column("contact_id", sa.String),
    )
    query = sa.select(keys.c.hub_id, keys.c.key, keys.c.contact_id).where(keys.c.key.like("phone+name:%"))
    changes = []
    for hub_id, key, contact_id in conn.execute(query):
        if key.isascii():
            continue  # no accent to leave out: the usual case
        head, bar, name = key.partition("|")
        new = head + bar + _unaccented(name)
        if new != key:
            changes.append({"h": hub_id, "c": contact_id, "old": key, "new": new[:600]})
    if changes:
        conn.execute(
            sa.update(keys)
            .where(
                keys.c.hub_id == sa.bindparam("h"),
                keys.c.contact_id == sa.bindparam("c"),
                keys.c.key == sa.bindparam("old"),
            )
            .values(key=sa.bindparam("new")),
            changes,
        )


def downgrade() -> None:
    pass
