"""OAuth grants of the Procore emulator: authorization codes (single use, 10 minutes),
access tokens, and refresh tokens that die the moment they are presented, answer lost or
not, as Procore's do."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any


class OAuthGrants:
    """Mixed into ``ProcoreState``, which sets these attributes."""

    clients: dict[str, str]
    token_lifetime: int
    clock: Callable[[], float]
    lock: threading.RLock
    codes: dict[str, dict[str, Any]]
    access: dict[str, dict[str, Any]]
    refresh: dict[str, dict[str, Any]]

    def client_ok(self, client_id: str | None, secret: str | None) -> bool:
        return bool(client_id) and self.clients.get(client_id or "") == secret

    def issue_code(self, client_id: str, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "expires_at": self.clock() + 600,
            }
        return code

    def issue_tokens(self, client_id: str, *, refresh: bool) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        now = self.clock()
        with self.lock:
            self.access[access] = {
                "client_id": client_id,
                "expires_at": now + self.token_lifetime,
                "dmsa": not refresh,
                "created_at": int(now),
            }
            answer: dict[str, Any] = {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": self.token_lifetime,
                "created_at": int(now),
            }
            if refresh:
                token = secrets.token_urlsafe(32)
                self.refresh[token] = {"client_id": client_id}
                answer["refresh_token"] = token
        return answer

    def take_code(self, code: str, client_id: str, redirect_uri: str | None) -> bool:
        with self.lock:
            grant = self.codes.pop(code, None)
        return bool(
            grant
            and grant["client_id"] == client_id
            and grant["expires_at"] > self.clock()
            and (redirect_uri is None or redirect_uri == grant["redirect_uri"])
        )

    def take_refresh(self, token: str, client_id: str) -> bool:
        """Single use: the token is gone the moment it is presented, answer lost or not."""
        with self.lock:
            grant = self.refresh.pop(token, None)
        return bool(grant and grant["client_id"] == client_id)

    def token_info(self, token: str | None) -> dict[str, Any] | None:
        grant = self.access.get(token or "")
        if grant is None or grant["expires_at"] <= self.clock():
            return None
        return grant

    def expire_tokens(self) -> None:
        """Fault switch: every access token handed out so far is expired now."""
        with self.lock:
            for grant in self.access.values():
                grant["expires_at"] = 0.0

    def revoke(self, token: str) -> None:
        with self.lock:
            self.access.pop(token, None)
            self.refresh.pop(token, None)
