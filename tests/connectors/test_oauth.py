"""OAuth sessions against a small token server: rotation saved before use, client
credentials, early refresh, refusals with remedies, and the terminal sign-in listener."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Form
from fastapi.responses import JSONResponse

from contacthub.connectors.base import MemoryCredentials
from contacthub.connectors.oauth import OAuthClient, OAuthSession, authorize
from contacthub.emulators.base import background
from contacthub.errors import FatalConnectorError, UserError
from contacthub.signin import wait_for_redirect
from tests.net import free_port


def token_server() -> tuple[FastAPI, dict[str, Any]]:
    state: dict[str, Any] = {"valid_refresh": {"r0"}, "issued": 0}
    app = FastAPI()

    @app.post("/oauth/token")
    def token(
        grant_type: str = Form(...),
        client_id: str = Form(""),
        client_secret: str = Form(""),
        refresh_token: str = Form(""),
        code: str = Form(""),
    ) -> JSONResponse:
        if (client_id, client_secret) != ("id", "secret"):
            return JSONResponse({"error": "invalid_client"}, 401)
        state["issued"] += 1
        n = state["issued"]
        if grant_type == "refresh_token":
            if refresh_token not in state["valid_refresh"]:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "The refresh token is invalid"}, 400
                )
            state["valid_refresh"].discard(refresh_token)
        elif grant_type == "authorization_code" and code != "good-code":
            return JSONResponse({"error": "invalid_grant"}, 400)
        body: dict[str, Any] = {"access_token": f"a{n}", "token_type": "bearer", "expires_in": 5400}
        if grant_type != "client_credentials":
            body["refresh_token"] = f"r{n}"
            state["valid_refresh"].add(f"r{n}")
        return JSONResponse(body)

    return app, state


@pytest.fixture()
def server() -> Any:
    app, state = token_server()
    with background(app) as url:
        yield url, state


def test_refresh_rotates_and_saves_before_use(server: Any) -> None:
    url, _state = server
    creds = MemoryCredentials(
        {"access_token": "expired", "refresh_token": "r0", "expires_at": time.time() - 1}
    )
    session = OAuthSession(OAuthClient(f"{url}/oauth/token", "id", "secret"), creds, connector="p")
    assert session.headers() == {"Authorization": "Bearer a1"}
    assert creds.values["refresh_token"] == "r1" and creds.saves == 1
    # a new session built from what was saved works: the old refresh token is dead
    again = OAuthSession(OAuthClient(f"{url}/oauth/token", "id", "secret"), creds, connector="p")
    assert again.refresh() and creds.values["refresh_token"] == "r2"
    stale = OAuthSession(
        OAuthClient(f"{url}/oauth/token", "id", "secret"),
        MemoryCredentials({"refresh_token": "r1"}),
        connector="p",
    )
    with pytest.raises(FatalConnectorError) as info:
        stale.headers()
    assert "refresh token is invalid" in info.value.message and "contacthub connect" in info.value.message


def test_client_credentials_and_bad_secret(server: Any) -> None:
    url, _ = server
    creds = MemoryCredentials()
    session = OAuthSession(
        OAuthClient(f"{url}/oauth/token", "id", "secret"), creds, connector="p", grant="client_credentials"
    )
    assert session.headers()["Authorization"] == "Bearer a1"
    assert "refresh_token" not in creds.values
    bad = OAuthSession(
        OAuthClient(f"{url}/oauth/token", "id", "wrong"),
        MemoryCredentials(),
        connector="p",
        grant="client_credentials",
    )
    with pytest.raises(FatalConnectorError) as info:
        bad.headers()
    assert "client_secret" in info.value.message and "wrong" not in info.value.message


def test_not_signed_in_says_how() -> None:
    session = OAuthSession(OAuthClient("http://127.0.0.1:9/t", "id", "s"), MemoryCredentials(), connector="p")
    with pytest.raises(FatalConnectorError) as info:
        session.headers()
    assert "contacthub connect" in info.value.message


class BrowserUI:
    """Plays the person's browser: follows the authorization link to the redirect."""

    def __init__(self, code: str = "good-code", tamper: bool = False) -> None:
        self.code = code
        self.tamper = tamper
        self.links: list[str] = []

    def echo(self, text: str) -> None:
        pass

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        return ""

    def open_link(self, url: str) -> None:
        self.links.append(url)

    def wait_for_redirect(self, redirect_uri: str, state: str, timeout: float = 600) -> dict[str, str]:
        link = httpx.URL(self.links[-1])
        sent_state = "forged" if self.tamper else link.params["state"]

        def visit() -> None:
            time.sleep(0.2)
            httpx.get(redirect_uri, params={"code": self.code, "state": sent_state})

        threading.Thread(target=visit, daemon=True).start()
        return wait_for_redirect(redirect_uri, state, timeout=10)


def test_authorization_code_flow_through_the_local_listener(server: Any) -> None:
    url, _ = server
    creds = MemoryCredentials()
    client = OAuthClient(f"{url}/oauth/token", "id", "secret", authorize_url=f"{url}/oauth/authorize")
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    ui = BrowserUI()
    tokens = authorize(client, creds, ui, redirect_uri=redirect, connector="p")
    assert tokens["access_token"] == "a1" and creds.values["refresh_token"] == "r1"
    link = httpx.URL(ui.links[0])
    assert link.params["client_id"] == "id" and link.params["redirect_uri"] == redirect
    assert "secret" not in ui.links[0]


def test_a_redirect_with_another_state_is_refused(server: Any) -> None:
    url, _ = server
    client = OAuthClient(f"{url}/oauth/token", "id", "secret", authorize_url=f"{url}/oauth/authorize")
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    creds = MemoryCredentials()
    with pytest.raises(UserError) as info:
        authorize(client, creds, BrowserUI(tamper=True), redirect_uri=redirect, connector="p")
    assert "state" in info.value.message
    assert creds.saves == 0
