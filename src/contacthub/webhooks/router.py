"""Receivers for change notifications: Procore webhooks, Microsoft Graph change
notifications and Pipedrive webhooks.

A notification is a hint that something changed, not the change: each receiver checks
that it comes from the sender we registered (``tokens``: the URL token and the vendor's
own proof, both required; a request without the proof is treated exactly as one with a
wrong one), asks the dispatcher for a run of the connector's hub (after a short debounce,
so a burst gives one run) and answers at once; it never syncs while the sender waits
(Procore allows 5 s, Pipedrive 10 s, Graph 3 s for notifications and 10 s for the
validation handshake). Duplicates and losses are expected and harmless: requests coalesce,
and the hub's schedule still runs full reconciliations.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from typing import Any, Protocol

import anyio
import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import Engine

from contacthub.errors import UnavailableError
from contacthub.scheduler import metrics
from contacthub.webhooks import graph as graph_hooks
from contacthub.webhooks import tokens
from contacthub.webhooks.tokens import Directory, Target

log = logging.getLogger("contacthub.webhooks")

RETRY_AFTER = 30  # seconds a sender is asked to wait while the broker is unreachable
MAX_BODY = 1_000_000  # bytes; notifications are small, anything larger is not one
ANSWER_IN = 2.5  # seconds to ask for a run before answering 503 (Graph waits 3 s)
PROCORE_RESOURCES = {"companyusers", "companyvendors", "projectusers", "projectvendors", "users", "vendors"}
PROCORE_EVENTS = {"create", "update", "delete"}
PIPEDRIVE_ACTIONS = {"create", "change", "delete", "added", "updated", "deleted", "merged"}


class Dispatcher(Protocol):
    def request(self, hub: str, *, delay: float | None = None, origin: str = "notification") -> bool: ...


def _unavailable(source: str, target: Target, why: str) -> Response:
    """503 with Retry-After: the broker is down or did not answer, so the request cannot be
    kept here and the sender must keep it (every vendor sends a notification again after
    an answer other than 2xx)."""
    metrics.NOTIFICATIONS.labels(source, "unavailable").inc()
    log.error(
        "%s notification for hub %s connector %s not taken: %s",
        source,
        target.hub,
        target.connector,
        why,
        extra={"hub": target.hub, "connector": target.connector, "source": source},
    )
    return JSONResponse(
        {"accepted": False, "error": "the run queue is unavailable; send the notification again later"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER)},
    )


async def _accepted(source: str, target: Target, dispatcher: Dispatcher, status: int = 200) -> Response:
    """Ask for a run of the hub, off the event loop: the broker call blocks (Redis, up to its
    socket timeout), and made on the loop, a broker that stopped answering held the whole
    server, dashboard and API included, for 5 s a notification (QA). At most ``ANSWER_IN``
    seconds: the vendors want an answer within a few (Graph: 3 s); a request still under
    way then is answered as the broker being unavailable (the vendor sends it again, and a
    request that went through after all is coalesced with the next)."""
    try:
        with anyio.fail_after(ANSWER_IN):
            queued = await anyio.to_thread.run_sync(
                functools.partial(dispatcher.request, target.hub, origin=source), abandon_on_cancel=True
            )
    except TimeoutError:
        return _unavailable(source, target, f"the run queue did not answer within {ANSWER_IN:g} s")
    except UnavailableError as exc:
        return _unavailable(source, target, str(exc))
    metrics.NOTIFICATIONS.labels(source, "accepted").inc()
    log.info(
        "%s notification for hub %s connector %s: %s",
        source,
        target.hub,
        target.connector,
        "run requested" if queued else "coalesced with a waiting request",
        extra={"hub": target.hub, "connector": target.connector, "source": source},
    )
    return JSONResponse({"accepted": True, "queued": queued}, status_code=status)


def _ignored(source: str, why: str, status: int = 200) -> Response:
    metrics.NOTIFICATIONS.labels(source, "ignored").inc()
    return JSONResponse({"accepted": False, "ignored": why}, status_code=status)


def _reject(source: str, status: int, detail: str, headers: dict[str, str] | None = None) -> HTTPException:
    metrics.NOTIFICATIONS.labels(source, "rejected").inc()
    return HTTPException(status, detail, headers=headers)


async def _json(request: Request, source: str) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise _reject(source, 413, "notification too large")
    try:
        import orjson

        return orjson.loads(body)
    except ValueError:
        raise _reject(source, 400, "the body is not JSON") from None


def webhook_router(engine: Engine, dispatcher: Dispatcher) -> APIRouter:
    """The receivers under ``/hooks``; ``dispatcher`` is the in-process scheduler or the
    Celery dispatcher (``scheduler.for_serve`` picks)."""
    router = APIRouter(prefix="/hooks", tags=["webhooks"])
    directory = Directory(engine)

    def target(source: str, token: str) -> Target:
        found = directory.find(token)
        # Only the receiver of the connector's own type takes its token: a folder's, a CSV
        # file's or a CardDAV book's token (no vendor calls for them), or a Pipedrive
        # connector's token on /hooks/procore, queued a run for every request. Such a token
        # answers exactly as an unknown one (same status, detail and metric), so a caller
        # cannot tell that it names a connector at all.
        if found is None or tokens.RECEIVERS.get(found.type) != source:
            raise _reject(source, 404, "unknown receiver")
        return found

    @router.post("/procore/{token}")
    async def procore(token: str, request: Request) -> Response:
        found = target("procore", token)
        # Required: ``webhooks --reveal`` has it registered as the hook's
        # ``destination_headers``, so Procore sends it with every delivery. It was once
        # checked only when present, and the URL token alone then queued runs; a missing
        # header answers exactly as a wrong one (401, same detail, counted as rejected).
        if not tokens.same(
            _bearer(request.headers.get("authorization")), tokens.bearer(found.hub, found.connector)
        ):
            raise _reject("procore", 401, "wrong Authorization header")
        event = await _json(request, "procore")
        if not isinstance(event, dict):
            raise _reject("procore", 400, "expected one event object")
        resource = str(event.get("resource_name") or event.get("resource_type") or "")
        kind = str(event.get("event_type") or event.get("reason") or "")
        if resource.replace(" ", "").replace("_", "").lower() not in PROCORE_RESOURCES:
            return _ignored("procore", f"resource {resource!r} is not a directory resource")
        if kind not in PROCORE_EVENTS:
            return _ignored("procore", f"event {kind!r}")
        return await _accepted("procore", found, dispatcher)

    @router.post("/pipedrive/{token}")
    async def pipedrive(token: str, request: Request) -> Response:
        found = target("pipedrive", token)
        user, password = _basic(request.headers.get("authorization"))
        expected = tokens.basic_password(found.hub, found.connector)
        if not (tokens.same(user, tokens.BASIC_USER) and tokens.same(password, expected)):
            raise _reject(
                "pipedrive", 401, "basic auth required", {"WWW-Authenticate": 'Basic realm="contacthub"'}
            )
        event = await _json(request, "pipedrive")
        meta = event.get("meta") if isinstance(event, dict) else None
        if not isinstance(meta, dict):
            raise _reject("pipedrive", 400, "expected a webhook payload with 'meta'")
        entity = str(meta.get("entity") or meta.get("object") or "")
        action = str(meta.get("action") or "")
        if entity != "person":
            return _ignored("pipedrive", f"entity {entity!r}")
        if action not in PIPEDRIVE_ACTIONS:
            return _ignored("pipedrive", f"action {action!r}")
        return await _accepted("pipedrive", found, dispatcher)

    @router.post("/graph/{token}")
    async def graph(token: str, request: Request) -> Response:
        found = target("graph", token)
        validation = request.query_params.get("validationToken")
        if validation is not None:
            # subscription creation or renewal: echo the token, as plain text, at once
            metrics.NOTIFICATIONS.labels("graph", "validation").inc()
            return PlainTextResponse(validation, status_code=200)
        payload = await _json(request, "graph")
        items = payload.get("value") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise _reject("graph", 400, "expected a change notification collection ('value')")
        expected = tokens.client_state(found.hub, found.connector)
        genuine = [
            item
            for item in items
            if isinstance(item, dict) and tokens.same(str(item.get("clientState") or ""), expected)
        ]
        if len(genuine) < len(items):
            metrics.NOTIFICATIONS.labels("graph", "rejected").inc(len(items) - len(genuine))
            log.warning(
                "graph: %d notification(s) for hub %s with a wrong clientState were dropped",
                len(items) - len(genuine),
                found.hub,
                extra={"hub": found.hub, "connector": found.connector},
            )
        for item in genuine:
            if item.get("lifecycleEvent"):
                log.warning(
                    "graph subscription %s of hub %s: %s",
                    item.get("subscriptionId"),
                    found.hub,
                    item.get("lifecycleEvent"),
                    extra={"hub": found.hub, "connector": found.connector},
                )
                if item.get("lifecycleEvent") in graph_hooks.RENEW_ON:
                    # the run this asks for renews it, or makes a new one (``graph.keep``)
                    await anyio.to_thread.run_sync(graph_hooks.forget, engine, found.hub, found.connector)
        if not genuine:
            # Graph retries anything but 2xx; a forged notification gets nothing either way
            return _ignored("graph", "no notification with the expected clientState", 202)
        return await _accepted("graph", found, dispatcher, status=202)

    return router


def _bearer(header: str | None) -> str:
    """The token of ``Authorization: Bearer TOKEN``, "" for none; the scheme's case aside,
    as HTTP says of every scheme (``bearer x`` is ``Bearer x``), as ``_basic``'s."""
    if not header or not header.lower().startswith("bearer "):
        return ""
    return header[7:].strip()


def _basic(header: str | None) -> tuple[str, str]:
    if not header or not header.lower().startswith("basic "):
        return "", ""
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password
