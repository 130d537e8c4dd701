"""What a person can do with hubs, runs and conflicts: the operations the command line (and
later the web API) share. Each takes an engine and returns plain data, never prints.

Callers use ``from contacthub import service`` and ``service.NAME``; the operations live in
modules by kind: ``views`` (reads), ``actions`` (sync, resolve, approve, reject, undo,
connect) and ``editing`` (hubs and connectors changed one at a time)."""

from __future__ import annotations

from contacthub.service.actions import approve, connect, reject, resolve, sync, undo
from contacthub.service.editing import (
    CONNECTOR_KEYS,
    add_connector,
    create_hub,
    remove_connector,
    test_connector,
    update_connector,
    update_hub,
)
from contacthub.service.history import prune
from contacthub.service.views import (
    conflicts,
    contact,
    contacts_of,
    contacts_page,
    hubs,
    journal_chunks,
    journal_position,
    run_count,
    runs,
    show_run,
)

__all__ = [
    "CONNECTOR_KEYS",
    "add_connector",
    "approve",
    "conflicts",
    "connect",
    "contact",
    "contacts_of",
    "contacts_page",
    "create_hub",
    "hubs",
    "journal_chunks",
    "journal_position",
    "prune",
    "reject",
    "remove_connector",
    "resolve",
    "run_count",
    "runs",
    "show_run",
    "sync",
    "test_connector",
    "undo",
    "update_connector",
    "update_hub",
]
