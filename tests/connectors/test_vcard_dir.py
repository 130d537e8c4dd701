"""The vCard folder connector: the conformance suite, plus what only a folder can get wrong."""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any

import pytest

from contacthub.connectors.base import ConnectorConfig, Record, WriteOp
from contacthub.connectors.vcard_dir import VCardDirConnector
from contacthub.errors import FatalConnectorError, RecordError, RecordNotFoundError
from tests.connectors.conformance import ConnectorConformance, create, sample


def make(path: Path, **settings: Any) -> VCardDirConnector:
    return VCardDirConnector(ConnectorConfig("t", {"path": str(path), **settings}))


class TestVCardDirConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, tmp_path: Path) -> VCardDirConnector:
        return make(tmp_path)


class TestVCardDirConformance40(ConnectorConformance):
    @pytest.fixture
    def connector(self, tmp_path: Path) -> VCardDirConnector:
        return make(tmp_path, version="4.0")
