"""Exchange Online's ``InvokeCommand`` for the GAL connector: the mail-contact cmdlets.

GAL contacts are mastered in Exchange and read-only in Graph, so creating, changing, hiding
and removing them goes through the admin REST endpoint Exchange Online PowerShell uses:
``POST {exchange_url}/adminapi/beta/{tenant}/InvokeCommand`` with
``{"CmdletInput": {"CmdletName": ..., "Parameters": {...}}}``. App-only calls carry an
``X-AnchorMailbox`` naming the tenant's system mailbox. Lists page through
``@odata.nextLink``, POSTed again with the same body.

A cmdlet's own error hides in ``error.details[].message`` as JSON with ``Message`` and
``TypeName``; ``CmdletError`` carries both, so callers branch on the type name (not found,
already exists) rather than on words. ``error_of`` makes one a record's error, and ``opath``
quotes a value for a cmdlet's ``-Filter``; reading and writing both use them.
"""

from __future__ import annotations

import json
from typing import Any

from contacthub.connectors.http import ApiClient, message_of
from contacthub.errors import FatalConnectorError, RecordError, RecordNotFoundError, RetriableError

SYSTEM_MAILBOX = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"
NOT_FOUND = "ManagementObjectNotFoundException"
EXISTS = ("ADObjectAlreadyExistsException", "ProxyAddressExistsException")


class CmdletError(Exception):
    def __init__(self, status: int, message: str, type_name: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type_name = type_name

    @property
    def not_found(self) -> bool:
        return self.status == 404 or NOT_FOUND in self.type_name

    @property
    def exists(self) -> bool:
        return any(name in self.type_name for name in EXISTS)


class ExchangeClient:
    def __init__(self, api: ApiClient, tenant_id: str, connector: str) -> None:
        self.api = api
        self.tenant_id = tenant_id
        self.connector = connector
        self.path = f"/adminapi/beta/{tenant_id}/InvokeCommand"
        self.headers = {
            "X-AnchorMailbox": f"APP:{SYSTEM_MAILBOX}@{tenant_id}",
            "X-ResponseFormat": "json",
            "Prefer": "odata.maxpagesize=1000",
        }

    def run(self, cmdlet: str, **parameters: Any) -> list[dict[str, Any]]:
        """Run one cmdlet; every result row (all pages). ``CmdletError`` when it fails."""
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}
        rows: list[dict[str, Any]] = []
        url = self.path
        while url:
            response = self.api.request("POST", url, json=body, headers=self.headers)
            if response.status_code >= 500:
                raise RetriableError(
                    f"Exchange answered {response.status_code} to {cmdlet} ({message_of(response)})",
                    self.connector,
                )
            if response.status_code == 403:
                raise FatalConnectorError(
                    f"Exchange refused access (403: {message_of(response)}); the app needs the "
                    "Exchange.ManageAsApp permission and the Exchange Recipient Administrator role "
                    "in this tenant to write GAL contacts",
                    self.connector,
                )
            if response.status_code != 200:
                raise _error(response.status_code, response)
            page = response.json()
            rows.extend(page.get("value") or [])
            url = page.get("@odata.nextLink") or ""
        return rows


def error_of(exc: CmdletError, connector: str, record: str) -> RecordError:
    if exc.not_found:
        return RecordNotFoundError(exc.message, record, connector)
    return RecordError(f"Exchange refused it: {exc.message}", record, connector)


def opath(value: str) -> str:
    """``value`` quoted for a cmdlet's ``-Filter`` (OPATH: single quotes, doubled inside)."""
    return "'" + value.replace("'", "''") + "'"


def _error(status: int, response: Any) -> CmdletError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return CmdletError(status, message_of(response), "")
    for detail in error.get("details") or []:
        text = detail.get("message")
        try:
            inner = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            inner = None
        if isinstance(inner, dict) and inner.get("Message"):
            return CmdletError(status, str(inner["Message"]), str(inner.get("TypeName") or ""))
    inner_error = error.get("innererror") or {}
    message = str(error.get("message") or inner_error.get("message") or f"HTTP {status}")
    return CmdletError(status, message, str(inner_error.get("type") or error.get("code") or ""))
