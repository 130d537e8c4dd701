"""The Procore connector against the emulator: conformance, then what only Procore does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contacthub.connectors.procore import ProcoreConnector
from tests.connectors.conformance import ConnectorConformance
from tests.connectors.procore_helpers import Served, served


@pytest.fixture
def emulator() -> Iterator[Served]:
    with served() as srv:
        yield srv


class TestProcoreConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, emulator: Served) -> Iterator[ProcoreConnector]:
        conn = emulator.connector()
        yield conn
        conn.close()
