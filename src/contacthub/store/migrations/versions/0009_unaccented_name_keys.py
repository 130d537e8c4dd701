"""match_keys: an accented name's phone+name key without its accents, beside the exact one

"José Pérez" and "Jose Perez" with one phone were two people. A contact whose name has
accents now also holds ``phone+name~:<digits>|<name without them>`` (``model.match_keys``),
which a record written without the accents looks up (``model.lookup_keys``). The keys a
hub already holds were made without it, and a contact nobody edits keeps its keys: added
here, so an upgraded hub finds its people by them. The name in a stored key is
``name_key``'s, so the new key is made from the old one's name part (written out here, as
the code does it on the day). Downgrade removes them.

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
_KEYS = sa.table(
    "match_keys",
    sa.column("hub_id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("contact_id", sa.String),
)


def _unaccented(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return unicodedata.normalize("NFC", _ACCENTS.sub("", decomposed))


def upgrade() -> None:
    conn = op.get_bind()
    keys = _KEYS.c
    query = sa.select(keys.hub_id, keys.key, keys.contact_id).where(keys.key.like("phone+name:%"))
    added = []
    for hub_id, key, contact_id in conn.execute(query):
        if key.isascii():
            continue  # no accent to leave out: the usual case
        head, bar, name = key.partition("|")
        plain = _unaccented(name)
        if plain != name:
            new = "phone+name~:" + head.removeprefix("phone+name:") + bar + plain
            added.append({"hub_id": hub_id, "key": new[:600], "contact_id": contact_id})
    if added:
        conn.execute(sa.insert(_KEYS), added)


def downgrade() -> None:
    op.get_bind().execute(sa.delete(_KEYS).where(_KEYS.c.key.like("phone+name~:%")))
