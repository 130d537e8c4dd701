"""Names and owners where they come in from several doors: a hub file applied over a hub a
dashboard user made, names and emails in other Unicode forms (NFC and NFD) or holding
invisible characters, and the hub file's names held to the dashboard's rule."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from contacthub.cli import app as cli
from contacthub.store import tables as t
from tests.web.conftest import Person

runner = CliRunner()


def test_apply_refuses_a_hub_a_user_made(
    sqlite_url: str, engine: Engine, app: FastAPI, alice: Person, bob: Person, tmp_path: Path
) -> None:
    made = bob.client.post("/api/v1/hubs", json={"name": "sales"}, headers=bob.auth)
    assert made.status_code == 201, made.text
    mine = tmp_path / "mine"
    mine.mkdir()
    bobs = alice.client.post(  # (an admin gives a folder's path)
        f"/api/v1/hubs/{made.json()['id']}/connectors",
        json={"name": "phones", "type": "vcard-dir", "settings": {"path": str(mine)}},
        headers=alice.auth,
    )
    assert bobs.status_code == 201, bobs.text
    private = tmp_path / "private"
    private.mkdir()
    hub_file = tmp_path / "admin.toml"
    hub_file.write_text(
        '[hubs.other]\n[hubs.sales]\ninterval = "off"\n'
        f'[[hubs.sales.connectors]]\nname = "board"\ntype = "vcard-dir"\npath = "{private}"\n',
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["--database", sqlite_url, "apply", str(hub_file)])
    assert result.exit_code == 2, result.output
    assert "hub 'sales' was made by the user bob@example.com" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    with engine.connect() as conn:
        hubs = conn.execute(select(t.hubs.c.name)).scalars().all()
        connectors = conn.execute(select(t.connectors.c.name, t.connectors.c.settings)).all()
    assert hubs == ["sales"], "nothing of the file was applied, not even its other hub"
    assert [c.name for c in connectors] == ["phones"] and str(private) not in connectors[0].settings
