"""Microsoft Graph for the GAL connector: delta rounds, single reads, group members, and
JSON batches of up to 20 requests.

A delta round follows ``@odata.nextLink`` until a page carries ``@odata.deltaLink``, which is
the cursor for the next round. A ``410 Gone`` (the service lost the sync state) or a ``400``
with code ``syncStateNotFound``/``syncStateInvalid``/``resyncRequired`` (the token expired
after 7 days) raises ``ResyncNeeded``: the caller starts a full round again. Items
with ``@removed`` are deletions. Requests inside a ``$batch`` that answer 429/503 are sent
again, alone, after their ``Retry-After``; the others are not repeated.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from contacthub.connectors.http import ApiClient, error_for, retry_after
from contacthub.errors import RetriableError

BATCH_SIZE = 20
#: throttled requests inside a batch are sent again this many times (each batch call itself
#: also gets ApiClient's retries); what is still refused is that record's error this run
INNER_ATTEMPTS = 10


#: error codes of a delta link Graph will not continue: a token older than 7 days answers
#: 400 ``syncStateNotFound``; ``syncStateInvalid`` and ``resyncRequired`` ask the same
RESYNC_CODES = frozenset({"syncStateNotFound", "syncStateInvalid", "resyncRequired"})


class ResyncNeeded(Exception):
    """Graph will not continue a delta link (410 Gone, or an expired/invalid sync state):
    start over with a full round."""


def _resync(response: httpx.Response) -> bool:
    """A 410, or a 400 whose error code says the sync state is gone. Kept as a failure, an
    expired token would be saved again as the cursor and fail every later run."""
    if response.status_code == 410:
        return True
    if response.status_code != 400:
        return False
    try:
        code = response.json().get("error", {}).get("code")
    except (ValueError, AttributeError):
        return False
    return code in RESYNC_CODES


class GraphClient:
    def __init__(self, api: ApiClient, connector: str) -> None:
        self.api = api
        self.connector = connector

    def delta(self, kind: str, select: Sequence[str], link: str | None) -> Iterator[dict[str, Any]]:
        """Pages of one delta round (each page is Graph's JSON); starts a full round when
        ``link`` is None. Raises ``ResyncNeeded`` on 410 or an expired sync state."""
        url = link or f"/v1.0/{kind}/delta?$select={','.join(select)}"
        while url:
            response = self.api.request("GET", url)
            if _resync(response):
                raise ResyncNeeded(kind)
            if response.status_code != 200:
                raise error_for(response, self.connector, what=f"Graph /{kind}/delta")
            page: dict[str, Any] = response.json()
            yield page
            url = page.get("@odata.nextLink") or ""

    def get(self, kind: str, oid: str, select: Sequence[str]) -> httpx.Response:
        return self.api.request("GET", f"/v1.0/{kind}/{quote(oid, safe='')}?$select={','.join(select)}")

    def items(self, url: str) -> Iterator[dict[str, Any]]:
        """Every item of a paged collection."""
        while url:
            response = self.api.request("GET", url)
            if response.status_code != 200:
                raise error_for(response, self.connector, what=url.split("?")[0])
            page = response.json()
            yield from page.get("value", [])
            url = page.get("@odata.nextLink") or ""

    def user_with_mail(self, email: str) -> dict[str, Any] | None:
        """The directory user whose mail is ``email`` (enabled or not), if there is one: by
        ``mail``, else by any of their SMTP ``proxyAddresses`` (a user whose ``mail`` is
        empty, or an alias of theirs, is still a person of the tenant)."""
        value = email.replace("'", "''")
        for wanted in (f"mail eq '{value}'", f"proxyAddresses/any(x:x eq 'smtp:{value}')"):
            url = f"/v1.0/users?$filter={quote(wanted, safe='/:')}&$select=id,userPrincipalName"
            found = next(iter(self.items(url)), None)
            if found is not None:
                return found
        return None

    def group_ids(self, wanted: Sequence[str]) -> list[str]:
        """Group ids for ``member_of`` entries (ids as they are, names looked up)."""
        out = []
        for entry in wanted:
            text = str(entry).strip()
            if _is_guid(text):
                out.append(text)
                continue
            name = text.replace("'", "''")
            found = list(
                self.items(f"/v1.0/groups?$filter=displayName eq '{quote(name)}'&$select=id,displayName")
            )
            if not found:
                from contacthub.errors import ConfigError

                raise ConfigError(f"member_of: no group named {text!r} in the tenant", self.connector)
            out.extend(str(g["id"]) for g in found)
        return out

    def members(self, group_id: str) -> set[str]:
        return {str(m["id"]) for m in self.items(f"/v1.0/groups/{group_id}/members?$select=id&$top=999")}

    def batch(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send ``requests`` (``method``, ``url``, optional ``body``) in batches of 20; one
        answer (``status``, ``body``, ``headers``) per request, in order. Throttled requests
        inside a batch are retried after the largest ``Retry-After`` they carry."""
        answers: list[dict[str, Any] | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        attempt = 0
        while pending:
            attempt += 1
            retry: list[int] = []
            wait = 0.0
            for start in range(0, len(pending), BATCH_SIZE):
                chunk = pending[start : start + BATCH_SIZE]
                payload = {"requests": [_inner(str(i), requests[i]) for i in chunk]}
                response = self.api.request("POST", "/v1.0/$batch", json=payload)
                if response.status_code != 200:
                    raise error_for(response, self.connector, what="Graph $batch")
                for item in response.json().get("responses", []):
                    index = int(item["id"])
                    status = int(item.get("status", 500))
                    if status in (429, 503) and attempt < INNER_ATTEMPTS:
                        retry.append(index)
                        fake = httpx.Response(status, headers=item.get("headers") or {})
                        delay = retry_after(fake, self.api.clock())
                        wait = max(wait, 1.0 if delay is None else delay)
                        continue
                    answers[index] = item
            if retry:
                self.api._pause(wait)
            pending = sorted(retry)
        missing = [i for i, a in enumerate(answers) if a is None]
        if missing:
            raise RetriableError("Graph $batch left requests unanswered", self.connector)
        return [a for a in answers if a is not None]


def _inner(rid: str, request: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": rid, "method": request["method"], "url": request["url"]}
    if request.get("body") is not None:
        item["body"] = request["body"]
        item["headers"] = {"Content-Type": "application/json"}
    return item


def _is_guid(text: str) -> bool:
    parts = text.split("-")
    return len(parts) == 5 and all(p and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts)
