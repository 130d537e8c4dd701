"""The dashboard: server-rendered pages (Jinja2, autoescaped: whatever a user or a system
typed is shown as text), with htmx for the few live parts. Every form posts the session's
CSRF token; every action redirects to a page that shows its outcome (post/redirect/get).

This module only assembles ``router`` from the page groups, one module each: ``pages_login``
(first run, sign in, sign out), ``pages_hubs``, ``pages_connectors``, ``pages_runs`` (runs
and conflicts), ``pages_contacts`` and ``pages_signin`` (a connector's sign-in); what they
share is in ``pages_common``. The groups are included in the order their routes were always
registered in, so matching is unchanged (each group keeps its fixed paths before its
parameterised ones). ``app`` includes ``router`` and answers errors with ``message_page`` and
``to_login``, re-exported here."""

from __future__ import annotations

from fastapi import APIRouter

from contacthub.web import (
    pages_connectors,
    pages_contacts,
    pages_hubs,
    pages_login,
    pages_runs,
    pages_signin,
)
from contacthub.web.pages_common import message_page, to_login

__all__ = ["message_page", "router", "to_login"]

router = APIRouter(include_in_schema=False)
for _group in (pages_login, pages_hubs, pages_connectors, pages_runs, pages_contacts, pages_signin):
    router.include_router(_group.router)
