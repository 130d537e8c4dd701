"""OAuth 2 for the connectors that sign in: authorization code with refresh, and client
credentials, with tokens kept in the connector's ``Credentials``.

Why the order matters: some vendors (Procore) rotate refresh tokens and invalidate the old
one as soon as a refresh answers, even if the answer is lost. ``OAuthSession`` therefore
saves a new token set (``Credentials.save``, durable when it returns) before it uses it, and
a crash after the save leaves a working pair. A token is refreshed ahead of its expiry
(``check`` calls ``ensure`` before a run opens its transaction) and once more after a 401.

``authorize`` is the interactive half for ``contacthub connect``: it shows the vendor's
authorization page, waits for the redirect carrying the same ``state`` and trades the code.
"""

from __future__ import annotations

import base64
import secrets as pysecrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

from contacthub.connectors.base import ConnectUI, Credentials
from contacthub.connectors.http import message_of
from contacthub.errors import FatalConnectorError, RetriableError, UserError

EARLY_REFRESH = 300.0  # seconds before expiry at which a token is renewed


@dataclass(slots=True)
class OAuthClient:
    """An app registration at one vendor: where its endpoints are and how it identifies.

    ``client_auth`` is where the client id and secret go on token requests: ``"body"``
    (form fields; Procore) or ``"basic"`` (an Authorization header; Pipedrive).
    ``body_format`` is how the token request is encoded."""

    token_url: str
    client_id: str
    client_secret: str
    authorize_url: str = ""
    client_auth: Literal["body", "basic"] = "body"
    body_format: Literal["form", "json"] = "form"
    extra: dict[str, str] = field(default_factory=dict)

    def request_token(
        self, params: Mapping[str, str], connector: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        body = {**params, **self.extra}
        headers = {"Accept": "application/json"}
        if self.client_auth == "basic":
            pair = f"{self.client_id}:{self.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            body.update(client_id=self.client_id, client_secret=self.client_secret)
        try:
            if self.body_format == "json":
                response = httpx.post(self.token_url, json=body, headers=headers, timeout=timeout)
            else:
                response = httpx.post(self.token_url, data=body, headers=headers, timeout=timeout)
        except httpx.TransportError as exc:
            raise RetriableError(
                f"the sign-in server cannot be reached ({type(exc).__name__})", connector
            ) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise RetriableError(f"the sign-in server answered {response.status_code}", connector)
        if response.status_code != 200:
            grant = params.get("grant_type", "")
            remedy = (
                "sign in again with `contacthub connect`"
                if grant in ("refresh_token", "authorization_code")
                else "check client_id and client_secret"
            )
            raise FatalConnectorError(
                f"the sign-in server refused the {grant} request ({message_of(response)}); {remedy}",
                connector,
            )
        try:
            data: dict[str, Any] = response.json()
        except ValueError:
            raise FatalConnectorError("the sign-in server answered with no JSON token", connector) from None
        if not data.get("access_token"):
            raise FatalConnectorError("the sign-in server answered without an access_token", connector)
        return data


def token_set(answer: Mapping[str, Any], previous: Mapping[str, Any], now: float) -> dict[str, Any]:
    """What is kept of a token answer: the tokens and an absolute expiry. A vendor that does
    not rotate (Pipedrive) may leave out ``refresh_token``; the previous one stays."""
    kept = dict(previous)
    kept["access_token"] = answer["access_token"]
    if answer.get("refresh_token"):
        kept["refresh_token"] = answer["refresh_token"]
    expires_in = answer.get("expires_in")
    kept["expires_at"] = now + float(expires_in) if expires_in else None
    for key in ("api_domain", "scope"):
        if answer.get(key):
            kept[key] = answer[key]
    return kept


class OAuthSession:
    """Bearer tokens for an ``ApiClient`` (it implements ``http.Auth``).

    ``grant`` is ``"authorization_code"`` (tokens come from ``contacthub connect``, then
    refresh) or ``"client_credentials"`` (a service account asks for a token itself)."""

    def __init__(
        self,
        client: OAuthClient,
        credentials: Credentials,
        *,
        connector: str,
        grant: Literal["authorization_code", "client_credentials"] = "authorization_code",
        clock: Any = time.time,
    ) -> None:
        self.client = client
        self.credentials = credentials
        self.connector = connector
        self.grant = grant
        self.clock = clock
        self.tokens: dict[str, Any] = credentials.load()
        self.refreshes = 0

    def headers(self) -> dict[str, str]:
        self.ensure()
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    def ensure(self) -> None:
        """Have an access token valid for a few more minutes."""
        expires_at = self.tokens.get("expires_at")
        fresh = expires_at is None or float(expires_at) - self.clock() > EARLY_REFRESH
        if self.tokens.get("access_token") and fresh:
            return
        self._renew()

    def refresh(self) -> bool:
        if self.grant == "authorization_code" and not self.tokens.get("refresh_token"):
            return False
        self._renew()
        return True

    def _renew(self) -> None:
        if self.grant == "client_credentials":
            answer = self.client.request_token({"grant_type": "client_credentials"}, self.connector)
        elif self.tokens.get("refresh_token"):
            answer = self.client.request_token(
                {"grant_type": "refresh_token", "refresh_token": str(self.tokens["refresh_token"])},
                self.connector,
            )
        else:
            raise FatalConnectorError(
                "not signed in yet: run `contacthub connect HUB CONNECTOR` (or give client "
                "credentials in the hub file)",
                self.connector,
            )
        tokens = token_set(answer, self.tokens, self.clock())
        self.credentials.save(tokens)  # durable before the new token is used
        self.tokens = tokens
        self.refreshes += 1


def authorize(
    client: OAuthClient,
    credentials: Credentials,
    ui: ConnectUI,
    *,
    redirect_uri: str,
    connector: str,
    scope: str | None = None,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The authorization-code flow, interactively: link, redirect with ``state``, code for
    tokens, tokens saved. Returns the saved token set."""
    state = pysecrets.token_urlsafe(24)
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
    }
    if scope:
        query["scope"] = scope
    query.update(params or {})
    separator = "&" if "?" in client.authorize_url else "?"
    ui.open_link(client.authorize_url + separator + urlencode(query))
    answer = ui.wait_for_redirect(redirect_uri, state)
    if answer.get("error"):
        raise UserError(f"sign-in was not granted: {answer.get('error_description') or answer['error']}")
    code = answer.get("code")
    if not code:
        raise UserError("the sign-in redirect carried no authorization code")
    data = client.request_token(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}, connector
    )
    tokens = token_set(data, {}, time.time())
    credentials.save(tokens)
    return tokens
