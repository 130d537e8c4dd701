"""Signing a connector in from the dashboard: ``Connector.connect`` runs in a thread with a
``ConnectUI`` whose link is shown on the connector's page and whose redirect arrives at the
generic ``/connect/callback`` route, matched by its ``state``. The same path serves OAuth
sign-ins (Procore, Microsoft, Pipedrive) and a partner tenant admin's consent (``invite``):
the page shows the link to send and the state until the answer comes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from contacthub.errors import UserError


@dataclass
class SignIn:
    connector_id: int
    invite: bool
    status: str = "starting"  # starting | waiting | done | failed
    link: str | None = None
    messages: list[str] = field(default_factory=list)
    error: str | None = None
    state: str | None = None
    answer: dict[str, str] | None = None
    arrived: threading.Event = field(default_factory=threading.Event)


class WebConnectUI:
    """``ConnectUI`` for a sign-in started from the dashboard."""

    def __init__(self, signin: SignIn) -> None:
        self.signin = signin

    def echo(self, text: str) -> None:
        self.signin.messages.append(text)

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        raise UserError(f"{prompt}: enter it in the connector's settings, then sign in again")

    def open_link(self, url: str) -> None:
        self.signin.link = url

    def wait_for_redirect(self, redirect_uri: str, state: str, timeout: float = 600) -> dict[str, str]:
        if not redirect_uri.rstrip("/").endswith("/connect/callback"):
            self.signin.messages.append(
                f"the connector's redirect URI is {redirect_uri}; set it to this dashboard's "
                "/connect/callback address so the answer arrives here"
            )
        self.signin.state = state
        self.signin.status = "waiting"
        if not self.signin.arrived.wait(timeout):
            raise UserError(f"no answer to the sign-in arrived within {int(timeout)} s: start it again")
        return dict(self.signin.answer or {})


class SignIns:
    """The sign-ins in progress, by connector (one at a time per connector)."""

    def __init__(self) -> None:
        self._by_connector: dict[int, SignIn] = {}
        self._lock = threading.Lock()

    def start(self, engine: Engine, connector_id: int, hub: str, connector: str, *, invite: bool) -> SignIn:
        from contacthub import service

        signin = SignIn(connector_id, invite)
        with self._lock:
            old = self._by_connector.get(connector_id)
            if old is not None and old.status in ("starting", "waiting"):
                old.answer = {"error": "replaced", "error_description": "a new sign-in was started"}
                old.arrived.set()
            self._by_connector[connector_id] = signin

        def run() -> None:
            try:
                service.connect(engine, hub, connector, WebConnectUI(signin), invite=invite)
                signin.status = "done"
            except Exception as exc:  # shown on the page; a sign-in thread must never die silently
                signin.status, signin.error = "failed", str(exc)

        threading.Thread(target=run, name=f"signin-{connector_id}", daemon=True).start()
        signin_started = threading.Event()
        for _ in range(50):  # give the connector a moment to produce its link
            if signin.link or signin.status != "starting":
                break
            signin_started.wait(0.05)
        return signin

    def status(self, connector_id: int) -> dict[str, Any] | None:
        signin = self._by_connector.get(connector_id)
        if signin is None:
            return None
        return {
            "status": signin.status,
            "invite": signin.invite,
            "link": signin.link,
            "messages": list(signin.messages),
            "error": signin.error,
        }

    def deliver(self, query: dict[str, str]) -> int | None:
        """Hand a redirect's query to the sign-in waiting for its ``state``; its connector id."""
        state = query.get("state")
        if not state:
            return None
        with self._lock:
            for signin in self._by_connector.values():
                if signin.status == "waiting" and signin.state == state:
                    signin.answer = query
                    signin.arrived.set()
                    return signin.connector_id
        return None
