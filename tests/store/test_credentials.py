"""Stored credentials: encrypted at rest, durable across a crash between save steps, and not
blocked by a run holding SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from contacthub import config
from contacthub.store import tables as t
from contacthub.store.credentials import StoredCredentials
from contacthub.store.db import open_database


def hub_with_connector(url: str, tmp_path: Path) -> tuple[object, int]:
    engine = open_database(url)
    spec = config.HubFile.model_validate(
        {"hubs": {"h": {"connectors": [{"name": "a", "type": "vcard-dir", "path": str(tmp_path)}]}}}
    )
    config.apply(engine, spec)
    with engine.connect() as conn:
        connector_id = conn.execute(select(t.connectors.c.id)).scalar_one()
    return engine, connector_id


def test_saved_tokens_are_encrypted_and_survive_reapplying(database_url: str, tmp_path: Path) -> None:
    engine, cid = hub_with_connector(database_url, tmp_path)
    creds = StoredCredentials(engine, cid, "connector 'a'")  # type: ignore[arg-type]
    creds.save({"refresh_token": "very-secret-refresh"})
    assert not creds.side_file.exists()
    with engine.connect() as conn:  # type: ignore[attr-defined]
        raw = conn.execute(select(t.credentials.c.data)).scalar_one()
    assert "very-secret-refresh" not in raw
    assert StoredCredentials(engine, cid, "x").load() == {"refresh_token": "very-secret-refresh"}  # type: ignore[arg-type]


def test_side_file_wins_after_a_crash_before_the_row(sqlite_url: str, tmp_path: Path) -> None:
    engine, cid = hub_with_connector(sqlite_url, tmp_path)
    creds = StoredCredentials(engine, cid, "x")  # type: ignore[arg-type]
    creds.save({"refresh_token": "r1"})
    # simulate: new pair written aside, process died before the row was updated
    from contacthub.store import secrets
    from contacthub.store.credentials import _write_atomic

    _write_atomic(creds.side_file, secrets.encrypt({"refresh_token": "r2"}) or "")
    assert StoredCredentials(engine, cid, "x").load() == {"refresh_token": "r2"}  # type: ignore[arg-type]
    creds.flush()
    assert not creds.side_file.exists()
    assert StoredCredentials(engine, cid, "x").load() == {"refresh_token": "r2"}  # type: ignore[arg-type]


def test_save_while_another_connection_holds_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    engine, cid = hub_with_connector(sqlite_url, tmp_path)
    creds = StoredCredentials(engine, cid, "x")  # type: ignore[arg-type]
    with engine.connect() as run:  # type: ignore[attr-defined]
        run.execute(text("UPDATE hubs SET name = name"))  # a run's open write transaction
        creds.save({"refresh_token": "mid-run"})
        assert creds.side_file.exists()
        assert creds.load() == {"refresh_token": "mid-run"}
        run.rollback()
    creds.flush()
    assert not creds.side_file.exists()
    assert creds.load() == {"refresh_token": "mid-run"}


@pytest.mark.parametrize("values", [{"a": 1}, {"tenant": "t", "access_token": "x"}])
def test_clear(sqlite_url: str, tmp_path: Path, values: dict[str, object]) -> None:
    engine, cid = hub_with_connector(sqlite_url, tmp_path)
    creds = StoredCredentials(engine, cid, "x")  # type: ignore[arg-type]
    creds.save(values)
    creds.clear()
    assert creds.load() == {}
