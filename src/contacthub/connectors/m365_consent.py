"""Partner tenants by invitation: Entra admin consent for the GAL connector.

``contacthub connect HUB CONNECTOR --invite`` shows a link for the other organisation's
admin (``{authority}/organizations/adminconsent?client_id=...&redirect_uri=...&state=...``);
the admin signs in with their own account and grants the app's permissions; Entra redirects
to ``redirect_uri`` with ``admin_consent=True&tenant=...&state=...``. ``complete_consent``
checks that answer (the dashboard's callback can call it too); the tenant id is then proven by
asking a token for it with client credentials (the redirect alone is not trusted), and only
then saved in the connector's credentials. No password of the other organisation is ever
asked for.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from contacthub.connectors.base import ConnectorConfig, ConnectUI
from contacthub.connectors.m365_auth import client_credential
from contacthub.errors import ConfigError, FatalConnectorError, UserError

if TYPE_CHECKING:
    from contacthub.connectors.m365 import M365GalConnector

DEFAULT_REDIRECT = "http://127.0.0.1:8765/m365/consent"


def consent_link(
    authority_url: str, client_id: str, redirect_uri: str, state: str, tenant: str = "organizations"
) -> str:
    """The admin-consent link for another organisation's admin (Entra's ``/adminconsent``)."""
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": state})
    return f"{authority_url.rstrip('/')}/{tenant}/adminconsent?{query}"


def complete_consent(params: Mapping[str, str], expected_state: str) -> str:
    """Check the admin-consent redirect's query parameters; the consenting tenant's id.

    For the dashboard's callback endpoint as much as for the CLI: a wrong ``state`` (the
    answer to a request we did not make), a declined consent, or an answer without
    ``admin_consent=True`` and a tenant id is a ``UserError`` saying which."""
    state = str(params.get("state") or "")
    if not state or not hmac.compare_digest(state, expected_state):
        raise UserError(
            "the consent answer carried another state: it was not started here; send a new invitation"
        )
    if params.get("error"):
        reason = params.get("error_description") or params["error"]
        raise UserError(f"the other organisation's admin did not grant access ({params['error']}: {reason})")
    if str(params.get("admin_consent", "")).lower() != "true":
        raise UserError("the consent answer did not say admin_consent=True; nothing was granted")
    tenant = str(params.get("tenant") or "").strip()
    if not tenant:
        raise UserError("the consent answer named no tenant")
    return tenant


def admin_consent(connector: M365GalConnector, ui: ConnectUI, *, invite: bool) -> None:
    """The whole flow for ``Connector.connect``: link, redirect checked, tenant proven, saved."""
    config = connector.config
    if not connector.client_id:
        raise ConfigError("client_id is required (the app registration's id)", config.name)
    client_credential(config.settings, config.name)
    redirect_uri = str(config.settings.get("redirect_uri") or DEFAULT_REDIRECT)
    state = secrets.token_urlsafe(24)
    tenant_hint = "organizations" if invite else str(config.settings.get("tenant_id") or "organizations")
    link = consent_link(connector.authority_url, connector.client_id, redirect_uri, state, tenant_hint)
    if invite:
        ui.echo(
            "Send this link to the other organisation's Microsoft 365 admin. They sign in with their own "
            "account and grant read access to their address list; no password is shared."
        )
    ui.open_link(link)
    params = ui.wait_for_redirect(redirect_uri, state)
    tenant = complete_consent(params, state)
    saved = {**config.credentials.load(), "tenant_id": tenant}
    prove(type(connector), ConnectorConfig(config.name, {**config.settings, "tenant_id": tenant}))
    config.credentials.save(saved)
    ui.echo(f"tenant {tenant} consented; {config.name} reads its address list from now on")


def prove(cls: type[M365GalConnector], config: ConnectorConfig, attempts: int = 5) -> None:
    """Ask a token for the consenting tenant. Entra may take a few seconds to create the
    app's service principal after a consent, so "application not found" is tried again."""
    for attempt in range(attempts):
        probe = cls(config)
        try:
            probe.check()
            return
        except FatalConnectorError as exc:
            if "AADSTS700016" not in exc.message or attempt == attempts - 1:
                raise
        finally:
            probe.close()
        time.sleep(3)
