"""Pipedrive's wire level for the connector: the envelope, cursor paging, and the company's
daily token budget.

Why the budget lives here: Pipedrive charges every call a documented number of tokens
(``x-token-cost``: a v2 list 10, get 1, create and update 5, delete 3, a search 20) against a
daily budget the whole company shares (30,000 x plan multiplier x seats). Once it is spent,
every request is refused with 429 until midnight, and the 429 carries a ``Retry-After`` of
hours: waiting on it would stall a run, retrying it would be refused again. So

- the remaining budget is read from every answer (``x-daily-ratelimit-token-remaining``,
  sent by the live API though its docs do not name it) and the tokens spent are counted
  here too (``spent``, from the cost table, for when the header is missing);
- ``Budget.allows(cost)`` says whether one more operation still leaves the ``reserve`` for
  the company's people and other integrations (and stays under ``max_per_run``); the
  connector asks before each write and defers the rest of a batch when the answer is no;
- a 429 that says the day's budget is gone is turned into ``BudgetExhausted`` at the
  transport, before ``ApiClient`` could wait on it.

The burst limit (``x-ratelimit-*``, a 2-second window per token) is ``ApiClient``'s job.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from contacthub.connectors.http import ApiClient, Auth, RateHeaders, Transport, error_for
from contacthub.errors import RetriableError

RATE_HEADERS = RateHeaders(
    limit="x-ratelimit-limit",
    remaining="x-ratelimit-remaining",
    reset="x-ratelimit-reset",
    reset_is_epoch=False,
)
#: without it a small JSON body waits for the ACK of the headers (Nagle vs. delayed ACK):
#: 40 ms on every create and update
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
DAILY_LIMIT = "x-daily-ratelimit-token-limit"
DAILY_REMAINING = "x-daily-ratelimit-token-remaining"
#: documented, API tokens only: POST/PUT requests left today (the older 10,000 a day rule)
WRITES_LEFT = "x-daily-requests-left"

#: documented token costs (``x-token-cost``) of the calls the connector makes
COSTS: list[tuple[str, re.Pattern[str], int]] = [
    (m, re.compile(p), c)
    for m, p, c in [
        ("GET", r"/api/v2/\w+/search", 20),
        ("GET", r"/api/v2/\w+/\d+", 1),
        ("GET", r"/api/v2/\w+", 10),
        ("POST", r"/api/v2/\w+", 5),
        ("PATCH", r"/api/v2/\w+/\d+", 5),
        ("DELETE", r"/api/v2/\w+/\d+", 3),
        ("GET", r"/(api/)?v1/personFields", 20),
    ]
]


def cost_of(method: str, path: str) -> int:
    for m, pattern, cost in COSTS:
        if m == method and pattern.fullmatch(path):
            return cost
    return 10


class BudgetExhausted(Exception):
    """Pipedrive refused a call because the company's daily token budget is spent."""


class Budget:
    """The daily token budget as far as this connector knows it; see the module docstring.

    ``reserve`` is a token count, or a share of the daily limit such as ``"10%"``."""

    def __init__(self, reserve: str | int = "10%", max_per_run: int = 0) -> None:
        self.reserve = str(reserve).strip()
        self.max_per_run = max_per_run
        self.limit: int | None = None
        self.remaining: int | None = None
        self.writes_left: int | None = None
        self.spent = 0

    def reserve_tokens(self) -> int:
        if self.reserve.endswith("%"):
            share = float(self.reserve[:-1]) / 100
            return int(self.limit * share) if self.limit else 0
        return int(self.reserve)

    def observe(self, headers: httpx.Headers) -> None:
        pairs = ((DAILY_LIMIT, "limit"), (DAILY_REMAINING, "remaining"), (WRITES_LEFT, "writes_left"))
        for name, attr in pairs:
            value = headers.get(name)
            if value is not None and value.strip().isdigit():
                setattr(self, attr, int(value))

    def allows(self, cost: int, write: bool = False) -> bool:
        if self.max_per_run and self.spent + cost > self.max_per_run:
            return False
        if write and self.writes_left is not None and self.writes_left <= 0:
            return False
        return self.remaining is None or self.remaining - cost >= self.reserve_tokens()

    def describe(self) -> str:
        parts = [f"{self.spent} tokens spent by this run"]
        if self.remaining is not None:
            parts.append(f"{self.remaining} of the company's daily budget left")
        parts.append(f"reserve {self.reserve}")
        if self.max_per_run:
            parts.append(f"at most {self.max_per_run} per run")
        return ", ".join(parts)


class _Watch(httpx.BaseTransport):
    """Reads the budget headers of every answer and stops a day-exhausted 429 at once."""

    def __init__(self, inner: httpx.BaseTransport, budget: Budget) -> None:
        self.inner = inner
        self.budget = budget

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        cost = cost_of(request.method, request.url.path)
        try:
            response = self.inner.handle_request(request)
        except BaseException:
            self.budget.spent += cost  # (it may have run before the answer was lost)
            raise
        if response.status_code != 429:
            # a call refused with a 429 was not run: counted, a 429 storm spent a run's
            # tokens (``max_tokens_per_run``) on nothing, and the deferral said "480 tokens
            # spent" of a 400-token day (QA)
            self.budget.spent += cost
        self.budget.observe(response.headers)
        if response.status_code == 429 and response.headers.get(DAILY_REMAINING, "").strip() == "0":
            response.close()
            raise BudgetExhausted
        return response

    def close(self) -> None:
        self.inner.close()


class PipedriveApi:
    """Calls in Pipedrive's envelope ``{"success", "data", "additional_data"}``."""

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        connector: str,
        budget: Budget,
        transport: httpx.BaseTransport | None = None,
        **client_options: Any,
    ) -> None:
        self.connector = connector
        self.budget = budget
        self.client = ApiClient(
            base_url,
            connector=connector,
            auth=auth,
            headers={"Accept": "application/json"},
            rate_headers=RATE_HEADERS,
            transport=_Watch(transport or Transport(socket_options=NODELAY), budget),
            **client_options,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        record: str | None = None,
        what: str = "",
    ) -> Any:
        """The ``data`` of a successful answer; the translated error otherwise. A spent
        daily budget is a ``RetriableError`` here; writers catch ``BudgetExhausted`` first
        through ``raw``."""
        try:
            return self.raw(method, path, params=params, json=json, record=record, what=what)
        except BudgetExhausted:
            raise RetriableError(
                "Pipedrive's daily API token budget is used up (it resets at midnight); "
                "the next run continues",
                self.connector,
            ) from None

    def raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        record: str | None = None,
        what: str = "",
    ) -> Any:
        response = self.client.request(method, path, params=params, json=json)
        self.answered_at = _date_of(response)
        if response.status_code >= 300:
            raise error_for(response, self.connector, record=record, what=what or "Pipedrive")
        try:
            body = response.json()
        except ValueError:
            raise RetriableError(f"Pipedrive answered {path} with no JSON", self.connector) from None
        if not isinstance(body, dict) or body.get("success") is False:
            raise error_for(response, self.connector, record=record, what=what or "Pipedrive")
        return body

    #: the server's clock (its ``Date`` header) at the last answer, when it sent one
    answered_at: float | None = None

    def pages(self, path: str, params: Mapping[str, Any], what: str) -> Iterator[list[dict[str, Any]]]:
        """Every page of a v2 cursor-paged list."""
        query = dict(params)
        while True:
            body = self.call("GET", path, params=query, what=what)
            items = body.get("data") or []
            yield [item for item in items if isinstance(item, dict)]
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    def offset_pages(self, path: str, what: str, limit: int = 500) -> Iterator[list[dict[str, Any]]]:
        """Every page of a v1 offset-paged list (``personFields``: clients that read only
        the first page lose every custom field past the hundredth)."""
        start = 0
        while True:
            body = self.call("GET", path, params={"start": start, "limit": limit}, what=what)
            yield [item for item in body.get("data") or [] if isinstance(item, dict)]
            pagination = (body.get("additional_data") or {}).get("pagination") or {}
            if not pagination.get("more_items_in_collection"):
                return
            start = int(pagination.get("next_start", start + limit))

    def close(self) -> None:
        self.client.close()


def _date_of(response: httpx.Response) -> float | None:
    """The answer's ``Date`` header as a timestamp (whole seconds), or None."""
    try:
        return parsedate_to_datetime(response.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return None
