"""The Pipedrive connector against the Pipedrive emulator (in-process): the conformance
suite, then what only Pipedrive can get wrong: custom fields by name, organizations,
incremental pulls, OAuth, and the daily token budget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from contacthub.connectors.base import ConnectorConfig, MemoryCredentials, Record, WriteOp
from contacthub.connectors.pipedrive import PipedriveConnector
from contacthub.emulators.base import background
from contacthub.emulators.pipedrive import Settings, State, create_app
from contacthub.emulators.pipedrive_data import Company
from tests.connectors.conformance import ConnectorConformance, all_records, create, sample

TOKEN = "test-token"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, State]]:
    app = create_app(Settings(api_token=TOKEN, burst=400), Company())
    with background(app) as url:
        yield url, app.state.pd


@pytest.fixture
def emulator(server: tuple[str, State]) -> tuple[str, State]:
    """The module's emulator, emptied: no persons, no organizations, fresh limits."""
    url, state = server
    company = state.company
    with company.lock:
        company.persons.clear()
        company.orgs.clear()
    state.spent = 0
    state.windows.clear()
    state.settings.daily_tokens = 300_000
    state.settings.faults.error_rate = 0.0
    return url, state


def make(url: str, **settings: Any) -> PipedriveConnector:
    return PipedriveConnector(ConnectorConfig("pd", {"base_url": url, "api_token": TOKEN, **settings}))


class TestPipedriveConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, emulator: tuple[str, State]) -> Iterator[PipedriveConnector]:
        connector = make(emulator[0])
        yield connector
        connector.close()
