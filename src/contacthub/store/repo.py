"""Reading and writing the store in bulk, on one connection inside the caller's transaction.

Every method works on many rows at once (``IN`` lists, executemany), because a run over
50,000 contacts must cost a handful of queries, not one per contact; the transaction is the
caller's, so the engine decides what commits together (see ``engine.run``).

``Store`` is assembled from one mixin per part: ``repo_base`` (the connection and bulk
INSERT), ``repo_contacts`` (hubs, connectors, contacts, match keys, links), ``repo_plan``
(what the plan reads, plan marks, cursors) and ``repo_journal`` (runs, changes,
conflicts); the rows and JSON helpers are in ``rows`` and re-exported here, where the
rest of the code imports them from.
"""

from __future__ import annotations

from contacthub.store.repo_contacts import ContactsMixin
from contacthub.store.repo_journal import JournalMixin
from contacthub.store.repo_plan import PlanMixin
from contacthub.store.rows import (
    CHUNK,
    OP_COUNT,
    ConnectorRow,
    ContactRow,
    HubRow,
    LinkRow,
    chunks,
    dumps,
    loads,
    now,
)

__all__ = [
    "CHUNK",
    "OP_COUNT",
    "ConnectorRow",
    "ContactRow",
    "HubRow",
    "LinkRow",
    "Store",
    "chunks",
    "dumps",
    "loads",
    "now",
]


class Store(ContactsMixin, PlanMixin, JournalMixin):
    """Bulk repository over one connection; see the module docstring."""
