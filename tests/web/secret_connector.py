"""A vCard-folder connector type with a secret setting, for the tests that check secrets
never come back out of the web API or pages."""

from __future__ import annotations

from typing import ClassVar

from contacthub.connectors.vcard_dir import VCardDirConnector


class SecretVCardConnector(VCardDirConnector):
    type = "secret-vcard"
    secret_settings: ClassVar[frozenset[str]] = frozenset({"api_token"})
