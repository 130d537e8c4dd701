"""A hub's history from the command line: listing many runs, showing a large run, pruning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contacthub.cli import app
from contacthub.store.db import open_database
from contacthub.store.repo import Store

runner = CliRunner()


def cli(db: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--database", db, *args])
    return result.exit_code, result.stdout, result.stderr


def card(uid: str, name: str) -> str:
    given, family = name.split()
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
        f"EMAIL:{uid}@example.com\r\nEND:VCARD\r\n"
    )


@pytest.fixture
def hub(tmp_path: Path) -> tuple[str, Path, Path]:
    """A hub ``h`` of two vCard folders, ``a`` with three cards and ``b`` empty."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for uid, name in (("ann", "Ann Lee"), ("bob", "Bob Roe"), ("cy", "Cy Diaz")):
        (a / f"{uid}.vcf").write_text(card(uid, name))
    (tmp_path / "hub.toml").write_text(
        f'[hubs.h]\ninterval = "off"\ndelete_threshold = "100%"\n'
        f'[[hubs.h.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
        f'[[hubs.h.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{b}"\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli(db, "apply", str(tmp_path / "hub.toml"))[0] == 0
    return db, a, b


def add_runs(db: str, count: int) -> list[int]:
    """``count`` finished no-op runs of hub ``h``, straight in the store (a sync each would
    take the test a minute for nothing: listing reads only the runs' rows)."""
    engine = open_database(db)
    ids = []
    with engine.begin() as conn:
        store = Store(conn)
        hub_id = store.hub("h").id
        for _ in range(count):
            run_id = store.start_run(hub_id, "sync")
            store.finish_run(run_id, "applied", {"changes": {}, "conflicts": 0, "held": []}, [])
            ids.append(run_id)
    engine.dispose()
    return ids


# --- runs: a cut list says so, and older runs can be listed ------------------------------------


def test_runs_says_when_the_list_is_cut_and_pages_back(hub: tuple[str, Path, Path]) -> None:
    db, _, _ = hub
    assert cli(db, "sync", "h")[0] == 0  # run 1: the first copy, the one to undo
    ids = [1, *add_runs(db, 54)]
    code, out, _ = cli(db, "runs", "h")
    assert code == 0, out
    oldest_shown = ids[-50]
    assert f"50 of 55 runs shown; --before {oldest_shown} for older ones" in out
    code, out, _ = cli(db, "runs", "h", "--before", str(oldest_shown), "--json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == list(reversed(ids[:5]))
    assert json.loads(out)[-1]["kind"] == "sync" and json.loads(out)[-1]["id"] == 1
    code, out, _ = cli(db, "runs", "h", "--limit", "3")
    assert f"3 of 55 runs shown; --before {ids[-3]} for older ones" in out
    code, out, _ = cli(db, "runs", "h", "--all", "--json")
    assert [r["id"] for r in json.loads(out)] == list(reversed(ids))
    code, out, _ = cli(db, "runs", "h", "--all")
    assert "runs shown" not in out


def test_runs_json_stays_an_array_and_says_the_cut_on_stderr(hub: tuple[str, Path, Path]) -> None:
    db, _, _ = hub
    ids = add_runs(db, 4)
    code, out, err = cli(db, "runs", "h", "--json", "--limit", "3")
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == list(reversed(ids))[:3]  # the array, as always
    assert f"3 of 4 runs shown; --before {ids[1]} for older ones" in err
    code, out, _ = cli(db, "runs", "h", "--json", "--limit", "3", "--paged")
    page = json.loads(out)
    assert page["total"] == 4 and page["before"] == ids[1] and len(page["runs"]) == 3
    code, out, _ = cli(db, "runs", "h", "--json", "--paged", "--before", str(ids[1]))
    page = json.loads(out)
    assert [r["id"] for r in page["runs"]] == [ids[0]] and page["before"] is None
    code, out, err = cli(db, "runs", "h", "--json")
    assert len(json.loads(out)) == 4 and err == ""
