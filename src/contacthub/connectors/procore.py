"""Procore company directory: users, vendors and people of one company, both ways.

Reads page through ``page``/``per_page`` (``Link`` rel="next") with the largest page the API
honours. A run with a cursor asks only for ``filters[updated_at]=SINCE...NOW`` (one call per
object type when nothing changed); a full listing every ``full_every`` (default 24 h) sees
the deactivations an ``updated_at`` filter cannot, because the active list simply loses them.
People have no ``updated_at`` filter and are listed whole, which is cheap: they are the few
contacts without a login.

Writes: one record goes through POST/PATCH; a batch of users goes through ``PATCH
.../users/sync`` (1000 per call), which answers per record, so one refused record never
fails the others. Procore deletes nothing: a deletion deactivates (``is_active: false``). A
create carries our hub id as ``origin_id``; sync matches on it, so a create whose answer was
lost is found and updated instead of duplicated. Procore has no version check on writes:
before updating, the records changed since the versions we hold are listed (one filtered
call) and a write over someone else's newer edit is refused as stale.

Authentication: ``client_credentials`` (a developer managed service account) when
``client_secret`` is set and no one signed in, else the authorization code of ``contacthub
connect`` with single-use refresh tokens saved before use (``oauth.OAuthSession``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from contacthub.connectors.base import Capabilities, ConnectorConfig, ConnectUI
from contacthub.connectors.oauth import OAuthClient, authorize, token_set
from contacthub.connectors.procore_map import USER_SCALARS
from contacthub.connectors.procore_read import DEFAULT_REDIRECT, SYNC_LIMIT
from contacthub.connectors.procore_write import ProcoreWriter


class ProcoreConnector(ProcoreWriter):
    type = "procore"
    capabilities = Capabilities(
        create=True, update=True, delete=True, deactivate=True, delta=True, batch_size=SYNC_LIMIT
    )
    secret_settings = frozenset({"client_secret"})
    setting_types: ClassVar[Mapping[str, Any]] = {
        "company_id": int | str, "client_id": str, "grant": str, "redirect_uri": str,
        "objects": list[str], "projects": list[int | str], "per_page": int, "full_every": str | float,
        "create_vendors": bool, "base_url": str, "login_url": str, "rate_reserve": int,
        "client_secret": str,
    }  # fmt: skip
    scope_settings = frozenset({"objects", "projects"})
    default_mapping = USER_SCALARS

    @property
    def fields(self) -> frozenset[str]:
        # no display_name: Procore derives ``name`` from the name parts and keeps no other
        held = {*self.mapping, "organization", "emails", "phones", "addresses"}
        if "vendors" in self.objects:
            held |= {"websites", "custom.trade", "notes"}
        return frozenset(held)

    # --- signing in, lifecycle ----------------------------------------------------------------

    def check(self) -> None:
        self.session.ensure()

    @classmethod
    def connect(cls, config: ConnectorConfig, ui: ConnectUI, *, invite: bool = False) -> None:
        s = config.settings
        login = str(s.get("login_url", "https://login.procore.com")).rstrip("/")
        client_id = str(s.get("client_id") or ui.ask("Procore app client id"))
        secret = str(s.get("client_secret") or ui.ask("Procore app client secret", secret=True))
        client = OAuthClient(
            token_url=f"{login}/oauth/token",
            authorize_url=f"{login}/oauth/authorize",
            client_id=client_id,
            client_secret=secret,
        )
        if s.get("grant") == "client_credentials":
            answer = client.request_token({"grant_type": "client_credentials"}, config.name)
            tokens = token_set(answer, {}, time.time())
        else:
            ui.echo(f"Sign in to Procore and allow access for company {s.get('company_id', '?')}.")
            tokens = authorize(
                client,
                config.credentials,
                ui,
                redirect_uri=str(s.get("redirect_uri", DEFAULT_REDIRECT)),
                connector=config.name,
            )
        if not s.get("client_id"):
            tokens["client_id"] = client_id
        if not s.get("client_secret"):
            tokens["client_secret"] = secret
        config.credentials.save(tokens)

    def api_calls(self) -> dict[str, int]:
        return dict(self.client.calls)

    def close(self) -> None:
        self.client.close()
