"""What every route of the Pipedrive emulator shares: the account settings and state (tokens,
rate windows, the day's token budget), the documented token cost of each operation, the
envelope and error bodies, and cursor paging."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from contacthub.emulators.base import Faults, RateWindow
from contacthub.emulators.pipedrive_data import Company, Invalid

MAX_LIMIT = 500
ACCESS_TTL = 3600
REFRESH_TTL = 60 * 86400

#: (method, path pattern, token cost) from the ``x-token-cost`` of each operation
COSTS: list[tuple[str, re.Pattern[str], int]] = [
    (m, re.compile(p), c)
    for m, p, c in [
        ("GET", r"/api/v2/(persons|organizations)/search", 20),
        ("GET", r"/api/v2/(persons|organizations)/\d+", 1),
        ("GET", r"/api/v2/(persons|organizations)", 10),
        ("POST", r"/api/v2/(persons|organizations)", 5),
        ("PATCH", r"/api/v2/(persons|organizations)/\d+", 5),
        ("DELETE", r"/api/v2/(persons|organizations)/\d+", 3),
        ("GET", r"(/api)?/v1/personFields", 20),
        ("POST", r"(/api)?/v1/personFields", 10),
        ("GET", r"(/api)?/v1/persons/\d+", 2),
        ("GET", r"(/api)?/v1/persons", 20),
        ("POST", r"(/api)?/v1/persons", 10),
        ("PUT", r"(/api)?/v1/persons/\d+", 10),
        ("DELETE", r"(/api)?/v1/persons/\d+", 6),
        ("GET", r"(/api)?/v1/users/me", 2),
    ]
]


def cost_of(method: str, path: str) -> int:
    for m, pattern, cost in COSTS:
        if m == method and pattern.fullmatch(path):
            return cost
    return 10


@dataclass
class Settings:
    """The emulated company's account: credentials, plan limits and fault switches."""

    api_token: str = "pd-emulator-token"
    client_id: str = "pd-client"
    client_secret: str = "pd-client-secret"
    burst: int = 40  # per 2 s for API tokens (Growth plan); OAuth tokens get 4x
    daily_tokens: int = 300_000  # 30,000 x Growth multiplier 2 x 5 seats
    storm: float = 0.0  # share of requests refused with a burst 429 whatever the window says
    storm_wait: int = 1  # the Retry-After and x-ratelimit-reset of those
    faults: Faults = field(default_factory=Faults)


class State:
    """What the routes share: the company, tokens, rate windows and the budget spent today."""

    def __init__(self, settings: Settings, company: Company) -> None:
        self.settings = settings
        self.company = company
        self.lock = threading.Lock()
        self.codes: dict[str, tuple[str, float]] = {}  # code -> (redirect_uri, expires)
        self.access: dict[str, float] = {}  # access token -> expires
        self.refresh: dict[str, float] = {}  # refresh token -> expires
        self.windows: dict[str, RateWindow] = {}
        self.day = ""
        self.spent = 0
        self.writes_left = 10_000
        self.requests = 0
        self.state_file: Path | None = None  # saved after every write when set
        self.rate_limited = 0

    def window(self, token: str, oauth: bool) -> RateWindow:
        with self.lock:
            if token not in self.windows:
                limit = self.settings.burst * (4 if oauth else 1)
                self.windows[token] = RateWindow(limit, 2.0)
            return self.windows[token]

    def charge(self, cost: int, write: bool) -> tuple[bool, int]:
        """Spend ``cost`` tokens of today's budget: (allowed, remaining). A call is served
        while anything is left; once nothing is, every call is refused until midnight."""
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        with self.lock:
            if today != self.day:
                self.day, self.spent, self.writes_left = today, 0, 10_000
            if self.spent >= self.settings.daily_tokens:
                return False, 0
            self.spent = min(self.settings.daily_tokens, self.spent + cost)
            if write:
                self.writes_left = max(0, self.writes_left - 1)
            return True, self.settings.daily_tokens - self.spent


def envelope(data: Any, additional: Any = None, status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": True, "data": data, "additional_data": additional, **extra}, status)


def error(status: int, message: str, info: str = "Please check developers.pipedrive.com") -> JSONResponse:
    body: dict[str, Any] = {
        "success": False,
        "error": message,
        "error_info": info,
        "data": None,
        "additional_data": None,
    }
    if status == 401:
        body["errorCode"] = 401
    return JSONResponse(body, status)


def not_found() -> JSONResponse:
    return error(404, "Entity was not found", "Object was not found.")


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> dict[str, Any]:
    try:
        padded = text + "=" * (-len(text) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(value, dict):
            raise ValueError
        return value
    except ValueError:
        raise Invalid("Invalid cursor") from None


def limit_of(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise Invalid(f"limit must be an integer between 1 and {MAX_LIMIT}")
    return int(raw)


def page(items: list[dict[str, Any]], request: Request, key: str) -> tuple[list[dict[str, Any]], str | None]:
    """Keyset paging on (``key``, id): stable while records change between pages."""
    limit = limit_of(request)
    desc = request.query_params.get("sort_direction", "asc") == "desc"
    items.sort(key=lambda p: (p[key], p["id"]), reverse=desc)
    cursor = request.query_params.get("cursor")
    if cursor:
        after = decode_cursor(cursor)
        mark = (after.get("v"), after.get("id"))
        if desc:
            items = [p for p in items if (p[key], p["id"]) < mark]
        else:
            items = [p for p in items if (p[key], p["id"]) > mark]
    chunk = items[:limit]
    more = len(items) > limit
    next_cursor = encode_cursor({"v": chunk[-1][key], "id": chunk[-1]["id"]}) if more else None
    return chunk, next_cursor


def token_of(request: Request) -> tuple[str | None, bool]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), True
    token = request.headers.get("x-api-token") or request.query_params.get("api_token")
    return token, False


def valid(state: State, token: str, oauth: bool) -> bool:
    if oauth:
        if state.settings.faults.expire_tokens:
            return False
        return state.access.get(token, 0) > time.time()
    return secrets.compare_digest(token, state.settings.api_token)


async def json_body(request: Request) -> Any:
    """v2 writes take JSON only."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise Invalid("Content-Type must be application/json")
    try:
        return json.loads(await request.body())
    except ValueError:
        raise Invalid("Request body is not valid JSON") from None


async def v1_body(request: Request) -> dict[str, Any]:
    """v1 writes take JSON or a form."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await json_body(request)
        if not isinstance(body, dict):
            raise Invalid("Request body must be a JSON object")
        return body
    return dict((await request.form()).items())
