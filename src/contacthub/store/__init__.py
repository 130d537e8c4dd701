"""The store: hubs, connectors, hub contacts, links with baselines, cursors, runs, the journal
of changes and conflicts, in any database SQLAlchemy speaks (SQLite by default, PostgreSQL)."""
