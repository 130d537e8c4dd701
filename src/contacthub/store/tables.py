"""The tables, as SQLAlchemy Core metadata.

JSON values are kept in TEXT columns and encoded with orjson by ``store.repo``: one explicit,
fast encoding that behaves the same on SQLite and PostgreSQL. The schema itself is created
and changed only by the Alembic migrations in ``store/migrations``; this module must match
the newest of them (``tests/store`` checks that it does).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

hubs = Table(
    "hubs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("conflict", String(20), nullable=False, default="newest"),
    Column("delete_threshold", String(20), nullable=False, default="10%"),
    Column("settings", Text, nullable=False, default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # the user who owns the hub (see web.accounts); NULL for hubs made from a hub file, which
    # only admins see on the dashboard. No foreign key: users are never deleted, and adding
    # one would make SQLite rebuild the hubs table (cascading its children away).
    Column("owner_id", Integer, nullable=True),
    Index("ix_hubs_owner", "owner_id"),
)

connectors = Table(
    "connectors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("hub_id", Integer, ForeignKey("hubs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("position", Integer, nullable=False),
    Column("type", String(50), nullable=False),
    Column("direction", String(20), nullable=False),
    Column("operations", Text, nullable=False),
    Column("on_delete", String(20), nullable=False),
    Column("filter", Text, nullable=False, default="null"),
    Column("mapping", Text, nullable=False, default="{}"),
    Column("settings", Text, nullable=False, default="{}"),
    Column("secrets", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # its settings changed since its last applied run: that run lets go of the records its
    # read no longer lists instead of taking them for deletions (``config._reconsider``)
    Column("settings_changed", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("hub_id", "name", name="uq_connectors_hub_name"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("hub_id", Integer, ForeignKey("hubs.id", ondelete="CASCADE"), nullable=False),
    Column("data", Text, nullable=False),
    Column("sources", Text, nullable=False, default="{}"),
    Column("rev", Integer, nullable=False, default=1),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("uid", String(255), nullable=True),
    Index("ix_contacts_hub_live", "hub_id", "deleted", "id", "rev"),
    Index("ix_contacts_rev", "id", "rev", "deleted"),
    Index("ix_contacts_hub_uid", "hub_id", "uid"),
)
#: the columns a ``ContactRow`` is made of: selecting only these spares the timestamps'
#: conversion on every row of a plan page
CONTACT_ROW = (
    contacts.c.id,
    contacts.c.data,
    contacts.c.sources,
    contacts.c.rev,
    contacts.c.deleted,
    contacts.c.uid,
)

links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("connector_id", Integer, ForeignKey("connectors.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", String(36), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("native_id", String(500), nullable=True),
    Column("version", String(200), nullable=True),
    Column("baseline", Text, nullable=True),
    Column("synced_rev", Integer, nullable=False, default=0),
    Column("state", String(20), nullable=False, default="active"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # whether contacthub wrote the record (a copy) or found it there (None: not known, a
    # link older than the column or found by the hub id it carries): an undo of a person's
    # creation deletes the copies and never the records they were read from
    Column("made", Boolean, nullable=True),
    # the record was deactivated for a deleted person who is back: it is to be written
    # (which reactivates it) though its baseline agrees, until a write of it succeeds
    # (``outbound.reactivate``); kept here, not in a run's memory, so a failed write is
    # tried again by the next run
    Column("reactivate", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("connector_id", "native_id", name="uq_links_connector_native"),
    Index("ix_links_contact", "contact_id", "connector_id", "state", "synced_rev"),
    Index("ix_links_plan", "connector_id", "id", "state", "synced_rev", "contact_id"),
)

match_keys = Table(
    "match_keys",
    metadata,
    Column("hub_id", Integer, ForeignKey("hubs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(600), nullable=False),
    Column("contact_id", String(36), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Index("ix_match_keys_hub_key", "hub_id", "key"),
    Index("ix_match_keys_contact", "contact_id"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("connector_id", Integer, ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True),
    Column("value", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

plan_marks = Table(
    "plan_marks",
    metadata,
    Column("connector_id", Integer, ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True),
    Column("mark", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("hub_id", Integer, ForeignKey("hubs.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("parent_id", Integer, ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("counts", Text, nullable=False, default="{}"),
    Column("errors", Text, nullable=False, default="[]"),
    Column("message", Text, nullable=True),
    Index("ix_runs_hub", "hub_id", "id"),
)

changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("connector_id", Integer, ForeignKey("connectors.id", ondelete="SET NULL"), nullable=True),
    Column("connector_name", String(200), nullable=False),
    Column("contact_id", String(36), nullable=True),
    Column("native_id", String(500), nullable=True),
    Column("op", String(20), nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("status", String(20), nullable=False),
    Column("error", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_changes_run", "run_id", "id"),
    Index("ix_changes_contact", "contact_id"),
)

conflicts = Table(
    "conflicts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("hub_id", Integer, ForeignKey("hubs.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", String(36), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("field", String(200), nullable=False),
    Column("hub_value", Text, nullable=True),
    Column("hub_source", String(200), nullable=True),
    Column("value", Text, nullable=True),
    Column("source", String(200), nullable=False),
    Column("policy", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("winner", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Index("ix_conflicts_hub", "hub_id", "status"),
    Index("ix_conflicts_contact", "contact_id", "field", "status"),
)

credentials = Table(
    "credentials",
    metadata,
    Column("connector_id", Integer, ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True),
    Column("data", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the cookie's token, never the token
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_sessions_user", "user_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of the token
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    # after this moment the token is refused as an unknown one; NULL: it never expires
    Column("expires_at", DateTime(timezone=True), nullable=True),
)
