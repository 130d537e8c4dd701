"""A vCard-folder connector type with a secret setting, for the tests that check secrets
never come back out of the web API or pages."""

from __future__ import annotations

from typing import ClassVar

from contacthub.connectors.base import ConnectorConfig, ConnectUI
from contacthub.connectors.vcard_dir import VCardDirConnector
from contacthub.errors import UserError


class SecretVCardConnector(VCardDirConnector):
    type = "secret-vcard"
    secret_settings: ClassVar[frozenset[str]] = frozenset({"api_token"})


class SignInConnector(VCardDirConnector):
    """Signs in the way OAuth connectors do: a link, then the redirect carrying ``state``."""

    type = "signin-vcard"

    @classmethod
    def connect(cls, config: ConnectorConfig, ui: ConnectUI, *, invite: bool = False) -> None:
        state = "state-" + ("invite" if invite else "user")
        ui.open_link(f"https://login.example.com/authorize?state={state}&redirect_uri=/connect/callback")
        answer = ui.wait_for_redirect("http://127.0.0.1/connect/callback", state, timeout=20)
        if "code" not in answer:
            raise UserError("no code")
        config.credentials.save({"code": answer["code"], "tenant": answer.get("tenant", "")})
