"""Microsoft Graph subscriptions: create one for a connector's receiver, renew it before
it expires.

Graph validates a new (or moved) subscription by POSTing ``?validationToken=...`` to the
notification URL and expects the token back as plain text within 10 s; the receiver in
``router`` does that, so ``create`` succeeds only when ``contacthub serve`` is reachable at
the URL. Subscriptions expire (directory resources such as ``users``: at most 41,760
minutes, about 29 days); ``keep`` renews one whose end is near, or creates a new one when
it is gone. Called with the M365 connector's ``ApiClient`` (its base URL is
``https://graph.microsoft.com/v1.0`` or an emulator's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from contacthub.connectors.http import ApiClient, error_for
from contacthub.webhooks import tokens

if TYPE_CHECKING:
    from sqlalchemy import Engine

MAX_LIFETIME = timedelta(minutes=41760)
DEFAULT_LIFETIME = timedelta(days=2)
RENEW_BEFORE = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    resource: str
    expires: datetime

    @classmethod
    def of(cls, body: dict[str, Any]) -> Subscription:
        expires = datetime.fromisoformat(str(body["expirationDateTime"]).replace("Z", "+00:00"))
        return cls(str(body["id"]), str(body.get("resource", "")), expires)


def _expiry(lifetime: timedelta, now: datetime | None = None) -> str:
    when = (now or datetime.now(UTC)) + min(lifetime, MAX_LIFETIME)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def create(
    client: ApiClient,
    *,
    base_url: str,
    hub: str,
    connector: str,
    resource: str = "users",
    change_type: str = "updated,deleted",
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> Subscription:
    """Subscribe the connector's receiver to ``resource``; lifecycle notifications (missed,
    reauthorization required, removed) go to the same receiver."""
    url = tokens.receiver_url(base_url, "graph", hub, connector)
    body = {
        "changeType": change_type,
        "notificationUrl": url,
        "lifecycleNotificationUrl": url,
        "resource": resource,
        "expirationDateTime": _expiry(lifetime),
        "clientState": tokens.client_state(hub, connector),
    }
    response = client.request("POST", "/subscriptions", json=body)
    if response.status_code != 201:
        raise error_for(response, connector, what="Graph subscriptions")
    return Subscription.of(response.json())


def renew(
    client: ApiClient, subscription_id: str, connector: str, lifetime: timedelta = DEFAULT_LIFETIME
) -> Subscription:
    response = client.request(
        "PATCH", f"/subscriptions/{subscription_id}", json={"expirationDateTime": _expiry(lifetime)}
    )
    if response.status_code != 200:
        raise error_for(response, connector, what=f"Graph subscription {subscription_id}")
    return Subscription.of(response.json())


def keep(
    client: ApiClient,
    current: Subscription | None,
    *,
    base_url: str,
    hub: str,
    connector: str,
    resource: str = "users",
    lifetime: timedelta = DEFAULT_LIFETIME,
    now: datetime | None = None,
) -> Subscription:
    """The subscription to use from now: ``current`` while it has time left, renewed when
    its end is within ``RENEW_BEFORE``, a new one when there is none or Graph lost it."""
    moment = now or datetime.now(UTC)
    if current is not None and current.expires - moment > RENEW_BEFORE:
        return current
    if current is not None and current.expires > moment:
        response = client.request(
            "PATCH", f"/subscriptions/{current.id}", json={"expirationDateTime": _expiry(lifetime, moment)}
        )
        if response.status_code == 200:
            return Subscription.of(response.json())
        if response.status_code != 404:
            raise error_for(response, connector, what=f"Graph subscription {current.id}")
    return create(
        client, base_url=base_url, hub=hub, connector=connector, resource=resource, lifetime=lifetime
    )


#: lifecycle events after which the saved subscription is no use as it is: removed by Graph,
#: or waiting to be renewed (reauthorized); "missed" notifications need only the run itself
RENEW_ON = frozenset({"subscriptionRemoved", "reauthorizationRequired"})


def forget(engine: Engine, hub: str, connector: str) -> bool:
    """Mark the connector's saved subscription as ended, so that the next run's ``keep``
    renews it or makes a new one. Graph's ``subscriptionRemoved`` was only logged, and the
    saved one, with a day or more left, was kept: no notification came for up to 36 hours
    (QA). False when the connector or its saved subscription is not there."""
    from sqlalchemy import select

    from contacthub.store import tables as t
    from contacthub.store.credentials import StoredCredentials

    with engine.connect() as conn:
        row = conn.execute(
            select(t.connectors.c.id)
            .join(t.hubs, t.hubs.c.id == t.connectors.c.hub_id)
            .where(t.hubs.c.name == hub, t.connectors.c.name == connector)
        ).first()
    if row is None:
        return False
    kept = StoredCredentials(engine, int(row.id), f"connector {connector!r}")
    saved = kept.load()
    if not isinstance(saved.get("graph_subscription"), dict):
        return False
    ended = datetime(1970, 1, 1, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    saved["graph_subscription"] = {**saved["graph_subscription"], "expirationDateTime": ended}
    kept.save(saved)
    return True
