"""A hub of memory connectors on a real store, for engine tests."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine

from contacthub import config
from contacthub.engine.context import Options, Report
from contacthub.engine.run import run_hub
from contacthub.store.db import open_database
from tests.memory_connector import BOOKS, Book, register


class Hub:
    """``Hub(url, ["a", "b"])``: a hub named ``h`` syncing memory books a and b."""

    def __init__(
        self,
        url: str,
        names: list[str],
        conflict: str = "newest",
        threshold: str = "10%",
        **per_connector: dict[str, Any],
    ) -> None:
        register()
        self.prefix = uuid.uuid4().hex[:8]
        self.engine: Engine = open_database(url)
        self.names = names
        self.conflict = conflict
        self.threshold = threshold
        self.per = per_connector
        self.apply()

    def apply(self, **per_connector: dict[str, Any]) -> None:
        self.per.update(per_connector)
        connectors = [
            {"name": n, "type": "memory", "book": f"{self.prefix}-{n}", **self.per.get(n, {})}
            for n in self.names
        ]
        spec = config.HubFile.model_validate(
            {
                "hubs": {
                    "h": {
                        "conflict": self.conflict,
                        "delete_threshold": self.threshold,
                        "connectors": connectors,
                    }
                }
            }
        )
        config.apply(self.engine, spec)

    def book(self, name: str) -> Book:
        return BOOKS.setdefault(f"{self.prefix}-{name}", Book())

    def sync(self, **options: Any) -> Report:
        return run_hub(self.engine, "h", options=Options(**options))
