"""Fixtures shared by the connector tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a CSV file was parsed (``csv_store._parse``), as a one-item list."""
    from contacthub.connectors import csv_store

    real, count = csv_store._parse, [0]

    def counting(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(csv_store, "_parse", counting)
    return count
