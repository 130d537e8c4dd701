"""Shared by the Procore tests: an emulator served in this process, and connectors for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from contacthub.connectors.base import ConnectorConfig, Credentials, MemoryCredentials
from contacthub.connectors.procore import ProcoreConnector
from contacthub.emulators.base import background
from contacthub.emulators.procore import ProcoreEmulator
from contacthub.emulators.procore_state import ProcoreState

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret-value"


@dataclass
class Served:
    emu: ProcoreEmulator
    url: str

    @property
    def state(self) -> ProcoreState:
        return self.emu.state

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {
            "base_url": self.url,
            "login_url": self.url,
            "company_id": self.state.company_id,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            **extra,
        }

    def connector(
        self, credentials: Credentials | None = None, name: str = "procore", **extra: Any
    ) -> ProcoreConnector:
        config = ConnectorConfig(name, self.settings(**extra), credentials=credentials or MemoryCredentials())
        return ProcoreConnector(config)

    def api_calls(self, method: str, fragment: str) -> int:
        return sum(
            n for key, n in self.state.calls.items() if key.startswith(method + " ") and fragment in key
        )


@contextmanager
def served(
    *, users: int = 0, vendors: int = 0, people: int = 0, projects: int = 0, rate_10s: int = 0, **state: Any
) -> Iterator[Served]:
    emu = ProcoreEmulator(
        ProcoreState(
            users=users,
            vendors=vendors,
            reference_people=people,
            projects=projects,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            **state,
        ),
        rate_10s=rate_10s,
    )
    with background(emu.app) as url:
        yield Served(emu, url)
