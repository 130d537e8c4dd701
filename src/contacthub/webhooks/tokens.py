"""Which hub and connector a change notification is for, and how the sender proves it.

Every connector its vendor can notify has its own receiver URL, ``/hooks/<source>/<token>``,
where the token is derived from the secret key and the hub and connector names
(``secrets.derive``): nothing to store, nothing to guess, and a new secret key changes every
URL. Only the receiver of the connector's type (``RECEIVERS``) takes its token. The vendors add their
own checks on top: Microsoft Graph echoes the subscription's ``clientState`` (derived the
same way) in every notification; Pipedrive sends HTTP Basic credentials we gave it (user
``contacthub``, derived password); Procore sends the ``Authorization`` header we gave it
(``Bearer`` + derived value, registered as the hook's ``destination_headers``), required: a
request without it cannot come from the hook we registered, and is refused with 401 like
a wrong one, so the URL token alone never queues a run.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError

from contacthub.store import secrets
from contacthub.store import tables as t

log = logging.getLogger("contacthub.webhooks")

SOURCES = ("procore", "graph", "pipedrive")
BASIC_USER = "contacthub"
#: connector type -> the receiver its vendor calls; the other types (files, CardDAV) are
#: only polled, so no receiver of theirs is registered anywhere
RECEIVERS = {"procore": "procore", "m365-gal": "graph", "pipedrive": "pipedrive"}


def url_token(hub: str, connector: str) -> str:
    return secrets.derive(f"webhook-url:{hub}\x00{connector}")


def client_state(hub: str, connector: str) -> str:
    """The ``clientState`` of a connector's Graph subscriptions."""
    return secrets.derive(f"graph-client-state:{hub}\x00{connector}")


def basic_password(hub: str, connector: str) -> str:
    """The HTTP Basic password Pipedrive sends to a connector's receiver."""
    return secrets.derive(f"pipedrive-basic:{hub}\x00{connector}")


def bearer(hub: str, connector: str) -> str:
    """The ``Authorization: Bearer`` value of a connector's Procore hook."""
    return secrets.derive(f"procore-bearer:{hub}\x00{connector}")


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def receiver_url(base_url: str, source: str, hub: str, connector: str) -> str:
    return f"{base_url.rstrip('/')}/hooks/{source}/{url_token(hub, connector)}"


@dataclass(frozen=True, slots=True)
class Target:
    hub: str
    connector: str
    type: str


class Directory:
    """Token -> connector, read from the store again when a token comes ``refresh`` seconds
    or more after the last read, known or not: a connector removed from its hub file (or a
    hub or connector renamed) stops being taken within ``refresh`` seconds, and no stream
    of tokens can hammer the database. When the database cannot be read, the last read
    serves until it can (as a request is then kept by the broker, or tried again)."""

    def __init__(self, engine: Engine, refresh: float = 5.0) -> None:
        self.engine = engine
        self.refresh = refresh
        self._targets: dict[str, Target] = {}
        self._loaded = float("-inf")
        self._guard = threading.Lock()

    def find(self, token: str) -> Target | None:
        if time.monotonic() - self._loaded < self.refresh:
            return self._targets.get(token)
        with self._guard:
            if time.monotonic() - self._loaded >= self.refresh:
                try:
                    self._targets = self._load()
                except DBAPIError as exc:
                    if self._loaded == float("-inf"):
                        raise  # nothing read yet: nothing to answer from
                    log.warning("webhook receivers: the connectors could not be read again: %s", exc)
                self._loaded = time.monotonic()
        return self._targets.get(token)

    def _load(self) -> dict[str, Target]:
        query = select(t.hubs.c.name, t.connectors.c.name, t.connectors.c.type).join(
            t.connectors, t.connectors.c.hub_id == t.hubs.c.id
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {url_token(hub, name): Target(hub, name, kind) for hub, name, kind in rows}
