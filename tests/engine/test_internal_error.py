"""A bug (an exception that is no ``UserError`` nor ``ConnectorError``) raised while a run
checks, reads, plans or writes ends the run ``failed`` at once, saying so, and is raised
again: the run was left "running" until the next sync took it for a killed one (QA: an
m365-gal key msal could not read, through PyJWT)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from contacthub import service
from contacthub.cli import app
from contacthub.connectors import registry
from contacthub.connectors.base import Pull, WriteOp, WriteResult
from contacthub.engine.run import run_hub
from contacthub.redact import MASK
from contacthub.store import tables as t
from tests.engine.harness import Hub
from tests.engine.test_scenarios import person
from tests.memory_connector import MemoryConnector

TOKEN = "tok-5d1e-bug-secret"


class BuggyConnector(MemoryConnector):
    """A memory book that raises ``RuntimeError`` (with its secret token in the text) in
    the step ``fail_in`` names: "check", "pull", "plan" (the engine asks a connector that
    is written to for its ``card_settings`` while planning) or "write"."""

    type = "memory-buggy"
    secret_settings: ClassVar[frozenset[str]] = frozenset({"token"})
    fail_in: ClassVar[str | None] = None

    def _bug(self, step: str) -> None:
        if BuggyConnector.fail_in == step:
            raise RuntimeError(f"bug in {step} with {self.config.settings['token']}")

    def check(self) -> None:
        self._bug("check")
        super().check()

    def pull(self, cursor: str | None, known: Any) -> Pull:
        self._bug("pull")
        return super().pull(cursor, known)

    @property
    def card_settings(self) -> tuple[Any, ...] | None:
        self._bug("plan")
        return None

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self._bug("write")
        return super().write(ops)


@pytest.fixture(autouse=True)
def buggy_type(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.TYPES, "memory-buggy", f"{__name__}:BuggyConnector")
    BuggyConnector.fail_in = None
    yield
    BuggyConnector.fail_in = None


def contacts(hub: Hub) -> int:
    with hub.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.contacts)).scalar_one())


@pytest.mark.parametrize("step", ["check", "pull", "plan", "write"])
def test_a_bug_in_any_step_fails_the_run_at_once_and_the_next_run_works(database_url: str, step: str) -> None:
    hub = Hub(database_url, ["a", "b"], b={"type": "memory-buggy", "token": TOKEN})
    for i in range(3):
        hub.book("a").put(f"p{i}", person(i))
    BuggyConnector.fail_in = step
    with pytest.raises(RuntimeError, match=f"bug in {step}"):
        hub.sync()
    [run] = service.runs(hub.engine, "h")
    assert run["status"] == "failed" and run["finished_at"] is not None
    assert run["message"] == f"internal error: RuntimeError: bug in {step} with {MASK}"
    assert run["errors"] == [{"connector": "hub", "record": "", "message": run["message"]}]
    # rolled back as a connector's failure is: a bug while reading kept nothing of the
    # reading; one while writing kept the hub's side, committed before any write
    assert contacts(hub) == (3 if step in ("plan", "write") else 0)
    assert hub.book("b").items == {}

    BuggyConnector.fail_in = None
    report = run_hub(hub.engine, "h", lock_wait=0)  # the hub's lock was let go
    assert report.status == "applied" and report.errors == []
    assert len(hub.book("b").items) == 3 and contacts(hub) == 3
    first = service.runs(hub.engine, "h")[-1]
    assert first["message"] == run["message"]  # not taken for a killed run afterwards


def test_the_command_line_shows_the_bug_and_runs_shows_the_run_failed(tmp_path: Path) -> None:
    """``sync`` still ends in the exception (a bug is shown as one); ``runs`` lists the
    run failed with the message, and the next ``sync`` works."""
    from tests.memory_connector import register

    register()
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    hub_file = tmp_path / "hub.toml"
    prefix = tmp_path.name
    hub_file.write_text(
        "[hubs.h]\n"
        f'[[hubs.h.connectors]]\nname = "a"\ntype = "memory"\nbook = "{prefix}-a"\n'
        f'[[hubs.h.connectors]]\nname = "b"\ntype = "memory-buggy"\nbook = "{prefix}-b"\n'
        f'token = "{TOKEN}"\n'
    )
    runner = CliRunner()
    assert runner.invoke(app, ["--database", db, "apply", str(hub_file)]).exit_code == 0
    BuggyConnector.fail_in = "pull"
    result = runner.invoke(app, ["--database", db, "sync", "h"])
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    listed = runner.invoke(app, ["--database", db, "runs", "h"])
    assert listed.exit_code == 0 and "failed" in listed.output and "running" not in listed.output
    shown = runner.invoke(app, ["--database", db, "show", "1"])
    assert "internal error: RuntimeError: bug in pull" in shown.output and TOKEN not in shown.output
    BuggyConnector.fail_in = None
    assert runner.invoke(app, ["--database", db, "sync", "h"]).exit_code == 0
