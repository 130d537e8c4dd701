"""Graph change-notification subscriptions, as the emulator keeps them.

What Graph documents and this follows: ``POST /subscriptions`` validates the notification
URL before it answers, by POSTing ``?validationToken=...`` there and requiring the token back
as ``text/plain`` with 200 within 10 s; a failed validation is a 400 and no subscription.
Directory resources (``users``, ``contacts``, ``groups``) live at most 41,760 minutes;
``PATCH`` with a new ``expirationDateTime`` renews; an unknown id is a 404.

One deviation, on purpose: Graph requires an https notification URL; the emulator also
accepts http on 127.0.0.1 and localhost, where the tests' receivers listen.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from contacthub.emulators.m365_data import Tenant
from contacthub.emulators.m365_wire import Reply, error

MAX_MINUTES = 41_760
RESOURCES = ("users", "contacts", "groups")
CHANGE_TYPES = {"created", "updated", "deleted"}


def _when(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


class Subscriptions:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}  # id -> subscription, with its tenant id
        self.validations = 0

    async def create(self, tenant: Tenant, body: Any) -> Reply:
        if not isinstance(body, dict):
            return error(400, "BadRequest", "Invalid request body.")
        url = str(body.get("notificationUrl") or "")
        parts = urlsplit(url)
        loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
        if parts.scheme != "https" and not loopback:
            return error(400, "ValidationError", "The Notification Url must be https.")
        resource = str(body.get("resource") or "").strip("/")
        if resource not in RESOURCES:
            return error(400, "InvalidRequest", f"Resource '{resource}' is not supported.")
        kinds = set(str(body.get("changeType") or "").split(","))
        if not kinds or not kinds <= CHANGE_TYPES:
            return error(400, "InvalidRequest", "changeType must be created, updated and/or deleted.")
        expires = _when(body.get("expirationDateTime"))
        now = datetime.now(UTC)
        if expires is None or expires <= now or expires > now + timedelta(minutes=MAX_MINUTES):
            return error(
                400, "InvalidRequest", "Subscription expiration can only be 41760 minutes in the future."
            )
        token = secrets.token_urlsafe(16)
        self.validations += 1
        try:
            async with httpx.AsyncClient(timeout=10, verify=False) as client:
                answer = await client.post(url, params={"validationToken": token})
        except httpx.HTTPError:
            answer = None
        if answer is None or answer.status_code != 200 or answer.text != token:
            return error(
                400,
                "InvalidRequest",
                "Subscription validation request failed. Response must exactly match validationToken "
                "query parameter.",
            )
        sid = str(uuid.uuid4())
        item = {
            "id": sid,
            "resource": resource,
            "changeType": ",".join(sorted(kinds)),
            "notificationUrl": url,
            "lifecycleNotificationUrl": body.get("lifecycleNotificationUrl"),
            "clientState": body.get("clientState"),
            "expirationDateTime": expires.isoformat().replace("+00:00", "Z"),
            "applicationId": None,
            "creatorId": None,
        }
        self.items[sid] = {**item, "_tenant": tenant.id}
        return Reply(
            201,
            {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity", **item},
        )

    def change(self, tenant: Tenant, sid: str, method: str, body: Any) -> Reply:
        item = self.items.get(sid)
        if item is None or item["_tenant"] != tenant.id:
            return error(404, "ResourceNotFound", f"The object was not found: subscription {sid}.")
        shown = {k: v for k, v in item.items() if not k.startswith("_")}
        if method == "GET":
            return Reply(200, shown)
        if method == "DELETE":
            del self.items[sid]
            return Reply(204)
        expires = _when((body or {}).get("expirationDateTime")) if isinstance(body, dict) else None
        now = datetime.now(UTC)
        if expires is None or expires <= now or expires > now + timedelta(minutes=MAX_MINUTES):
            return error(
                400, "InvalidRequest", "Subscription expiration can only be 41760 minutes in the future."
            )
        item["expirationDateTime"] = expires.isoformat().replace("+00:00", "Z")
        return Reply(200, {k: v for k, v in item.items() if not k.startswith("_")})
