"""match_keys: the name of a person with no email and no phone, as a weak key

A contact with no email and no phone had no match key at all, so a record of theirs with
none either (a CSV row of a name and an address) could not find them: a connector removed
from the hub file and added back made each such row a second person everywhere. Such a
contact now holds ``name:<name>`` (``model.NAME_ONLY``), which matches a record only where
it holds exactly what the hub holds (``engine.matching``). The contacts a hub already holds
were keyed without it, and a contact nobody edits keeps its keys: added here, for each live
contact that has no key, from its name as ``model.name_key`` makes it (written out here,
as the code does it on the day). Downgrade removes them.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_SPACES = re.compile(r"\s+")
_KEYS = sa.table(
    "match_keys",
    sa.column("hub_id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("contact_id", sa.String),
)
_CONTACTS = sa.table(
    "contacts",
    sa.column("id", sa.String),
    sa.column("hub_id", sa.Integer),
    sa.column("data", sa.Text),
    sa.column("deleted", sa.Boolean),
)
_BATCH = 1000


def _name_key(fields: dict[str, Any]) -> str:
    parts = [fields.get("given_name", ""), fields.get("family_name", "")]
    text = str(" ".join(p for p in parts if p) or fields.get("display_name", ""))
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _SPACES.sub(" ", text).strip().casefold()


def upgrade() -> None:
    conn = op.get_bind()
    c, k = _CONTACTS.c, _KEYS.c
    keyed = sa.select(k.contact_id).where(k.contact_id == c.id).exists()
    query = sa.select(c.id, c.hub_id, c.data).where(c.deleted.is_(False), ~keyed)
    added = []
    for contact_id, hub_id, data in conn.execute(query):
        try:
            fields = json.loads(data) or {}
        except ValueError:
            continue
        name = _name_key(fields) if isinstance(fields, dict) else ""
        if name:
            added.append({"hub_id": hub_id, "key": ("name:" + name)[:600], "contact_id": contact_id})
    for start in range(0, len(added), _BATCH):
        conn.execute(sa.insert(_KEYS), added[start : start + _BATCH])


def downgrade() -> None:
    op.get_bind().execute(sa.delete(_KEYS).where(_KEYS.c.key.like("name:%")))
