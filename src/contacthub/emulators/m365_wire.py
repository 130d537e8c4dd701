"""What the Microsoft 365 emulator's answers are made of: a ``Reply`` (status, body, headers),
Graph's error envelope, and the opaque tokens of its paging and delta links.

Why a separate module: the Graph routes (``m365_graph``), Exchange's ``InvokeCommand``
(``m365_exchange``), subscriptions (``m365_subscriptions``) and the app (``m365``) all
answer with these; kept apart from the Graph routes, the others share one spelling of an
error and of a token without depending on the Graph API. ``m365_graph`` re-exports them.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(slots=True)
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    """Graph's error envelope (``microsoft.graph.ODataErrors.ODataError``)."""
    request_id = str(uuid.uuid4())
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": request_id,
    }
    body = {"error": {"code": code, "message": message, "innerError": inner}}
    return Reply(status, body, {"request-id": request_id, **(headers or {})})


def not_found(oid: str) -> Reply:
    return error(
        404,
        "Request_ResourceNotFound",
        f"Resource '{oid}' does not exist or one of its queried reference-property objects are not present.",
    )


def encode_token(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any] | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None
