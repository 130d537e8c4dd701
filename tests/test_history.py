"""A hub's history from the command line: listing many runs, showing a large run, pruning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


# --- show: the journal read in chunks, printed plain, its JSON streamed ------------------------


def note_cards(folder: Path, count: int, note: str) -> None:
    for n in range(count):
        text = card(f"p{n:04d}", f"Person{n} Family{n}").replace("END:VCARD", f"NOTE:{note}\r\nEND:VCARD")
        (folder / f"p{n:04d}.vcf").write_text(text)


def journal_reads(engine_url: str) -> tuple[Any, list[str]]:
    """Every SELECT on the journal a command makes, through the engine ``open_database``
    hands out (counted, not replaced: the real queries run)."""
    from sqlalchemy import event

    import contacthub.store.db as store_db

    seen: list[str] = []
    real = store_db.open_database

    def counted(url: str | None = None, *args: Any, **kwargs: Any) -> Any:
        engine = real(url, *args, **kwargs)

        @event.listens_for(engine, "before_cursor_execute")
        def note(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            query = statement.lstrip().upper()
            if query.startswith("SELECT") and "FROM CHANGES" in query and "COUNT(" not in query:
                seen.append(statement)

        return engine

    return counted, seen


def test_show_json_streams_the_same_object_in_chunks(
    hub: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, a, _ = hub
    note_cards(a, 20, "a note")
    assert cli(db, "sync", "h")[0] == 0
    from contacthub import service

    engine = open_database(db)
    whole = service.show_run(engine, 1)
    assert whole["journal_total"] == 46  # 23 hub creates, 23 copies
    from contacthub.service import views

    monkeypatch.setattr(views, "JOURNAL_CHUNK", 10, raising=False)
    counted, reads = journal_reads(db)
    monkeypatch.setattr("contacthub.store.db.open_database", counted)
    code, out, _ = cli(db, "show", "1", "--json")
    assert code == 0
    assert out == json.dumps(whole, ensure_ascii=False) + "\n"  # the shape, byte for byte
    assert len(reads) == 5  # 46 changes, 10 a query: never the whole journal at once
    reads.clear()
    code, out, _ = cli(db, "show", "1", "--json", "--limit", "12")
    shown = json.loads(out)
    assert [c["id"] for c in shown["journal"]] == [c["id"] for c in whole["journal"][:12]]
    assert shown["journal_total"] == 46 and len(reads) == 2
    engine.dispose()


def test_show_prints_plain_unwrapped_lines_a_chunk_at_a_time(
    hub: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, a, _ = hub
    long_note = "Call before delivery " + "x" * 150 + " gate code 4471"
    note_cards(a, 20, long_note)
    assert cli(db, "sync", "h")[0] == 0
    from contacthub.service import views

    monkeypatch.setattr(views, "JOURNAL_CHUNK", 10, raising=False)
    counted, reads = journal_reads(db)
    monkeypatch.setattr("contacthub.store.db.open_database", counted)
    code, out, _ = cli(db, "show", "1")
    assert code == 0, out
    # piped: one line per value, never wrapped at 80 columns (grep finds the whole note)
    assert sum(1 for line in out.splitlines() if f"notes: - -> {long_note}" in line) == 40
    assert len(reads) == 5
    code, out, _ = cli(db, "show", "1", "--limit", "3")
    lines = [line for line in out.splitlines() if line.startswith("     done")]
    assert len(lines) == 3
    from contacthub import service

    third = service.show_run(open_database(db), 1, limit=3)["journal"][-1]["id"]
    assert f"3 of 46 changes shown; --after {third} for the next ones" in out
    code, out, _ = cli(db, "show", "1", "--after", str(third), "--limit", "50")
    assert len([line for line in out.splitlines() if line.startswith("     done")]) == 43
    assert "changes shown" not in out


def test_show_into_a_closed_pipe_ends_quietly(hub: tuple[str, Path, Path]) -> None:
    db, a, _ = hub
    note_cards(a, 150, "n" * 400)  # far more than a pipe holds
    assert cli(db, "sync", "h")[0] == 0
    src = Path(__file__).resolve().parent.parent / "src"
    proc = subprocess.Popen(
        [sys.executable, "-m", "contacthub", "--database", db, "show", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(src)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"run 1 of hub h")
    proc.stdout.close()  # as `| head -n 1` does
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert err == b""


# --- prune: old runs' journals go, the runs stay, marked ---------------------------------------


def edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


def test_prune_deletes_old_journals_keeps_the_runs_and_refuses_their_undo(
    hub: tuple[str, Path, Path],
) -> None:
    from contacthub import service

    db, a, _ = hub
    assert cli(db, "sync", "h")[0] == 0  # run 1: the first copy
    edit(a / "ann.vcf", "END:VCARD", "TITLE:Foreman\r\nEND:VCARD")
    assert cli(db, "sync", "h")[0] == 0  # run 2
    assert cli(db, "sync", "h", "--dry-run")[0] == 0  # run 3: a preview, journalled too
    edit(a / "bob.vcf", "END:VCARD", "TITLE:Clerk\r\nEND:VCARD")
    assert cli(db, "sync", "h")[0] == 0  # run 4: the newest applied
    engine = open_database(db)
    before = {r: service.show_run(engine, r, limit=0)["journal_total"] for r in (1, 2, 3, 4)}
    assert before[1] == 6 and before[2] == 2 and before[4] == 2

    code, out, _ = cli(db, "prune", "h", "--keep-days", "0", "--dry-run")
    assert code == 0, out
    assert "hub h: would delete 8 changes of 2 run(s) (runs 1 to 2)" in out  # (run 3 planned nothing)
    assert "kept whole: run 4 and every later run" in out
    assert {r: service.show_run(engine, r, limit=0)["journal_total"] for r in (1, 2, 3, 4)} == before

    code, out, _ = cli(db, "prune", "h", "--before", "2")
    assert code == 0 and "deleted 6 changes of 1 run(s) (run 1)" in out
    code, out, _ = cli(db, "prune", "h", "--keep-days", "0", "--vacuum")
    assert code == 0 and "deleted 2 changes of 1 run(s) (run 2)" in out and "vacuumed" in out
    after = {r: service.show_run(engine, r, limit=0) for r in (1, 2, 3, 4)}
    assert after[1]["journal_total"] == 0 and after[2]["journal_total"] == 0
    assert after[4]["journal_total"] == 2  # the newest applied run is kept whole
    assert after[1]["pruned"] and after[4]["pruned"] is None
    assert after[1]["changes"]["b"]["create"] == 3 and after[1]["status"] == "applied"  # its counts stay
    code, out, _ = cli(db, "show", "1")
    assert f"its changes were pruned on {after[1]['pruned'][:10]}" in out
    code, out, err = cli(db, "undo", "1")
    assert code == 2 and "run 1 can no longer be undone: its changes were pruned on" in err
    code, out, _ = cli(db, "prune", "h", "--keep-days", "0")
    assert "nothing to prune" in out  # pruned once
    assert cli(db, "undo", "4")[0] == 0  # the newest applied run can still be undone
    engine.dispose()


def test_prune_with_keep_days_and_before_prunes_the_runs_older_than_both(hub: tuple[str, Path, Path]) -> None:
    """``prune`` took ``--keep-days`` and ``--before`` together while its synopsis read
    ``--keep-days D | --before RUN``, and nothing said what both meant (QA): a run goes
    when it is older than both, so each option can only keep more."""
    db, a, _ = hub
    for uid in ("ann", "bob", "cy"):
        assert cli(db, "sync", "h")[0] == 0  # runs 1 to 3, then 4: the newest applied
        edit(a / f"{uid}.vcf", "END:VCARD", "TITLE:Foreman\r\nEND:VCARD")
    assert cli(db, "sync", "h")[0] == 0

    def pruned(*options: str) -> list[int]:
        code, out, err = cli(db, "prune", "h", *options, "--dry-run", "--json")
        assert code == 0, err
        return list(json.loads(out)["runs"])

    assert pruned("--keep-days", "0") == [1, 2, 3]
    assert pruned("--before", "3") == [1, 2]
    assert pruned("--keep-days", "0", "--before", "3") == [1, 2]  # older than run 3, too
    assert pruned("--keep-days", "1", "--before", "3") == []  # started today: none a day old
    out = runner.invoke(app, ["prune", "--help"], env={"COLUMNS": "400"}).stdout
    assert "Given both, a run goes only when it is older than both" in " ".join(out.split())


def test_prune_leaves_held_runs_and_runs_with_open_conflicts(tmp_path: Path) -> None:
    from contacthub import service

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for uid, name in (("ann", "Ann Lee"), ("bob", "Bob Roe"), ("cy", "Cy Diaz")):
        (a / f"{uid}.vcf").write_text(card(uid, name))
    (tmp_path / "hub.toml").write_text(
        f'[hubs.h]\ninterval = "off"\nconflict = "manual"\ndelete_threshold = "1"\n'
        f'[[hubs.h.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
        f'[[hubs.h.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{b}"\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli(db, "apply", str(tmp_path / "hub.toml"))[0] == 0
    assert cli(db, "sync", "h")[0] == 0  # run 1
    [ann_b] = [p for p in b.glob("*.vcf") if "ann@example.com" in p.read_text()]
    edit(a / "ann.vcf", "END:VCARD", "TITLE:Foreman\r\nEND:VCARD")
    edit(ann_b, "END:VCARD", "TITLE:Manager\r\nEND:VCARD")
    cli(db, "sync", "h")  # run 2: an open conflict
    assert json.loads(cli(db, "conflicts", "h", "--json")[1])[0]["run"] == 2
    saved = {p: p.read_text() for p in (a / "bob.vcf", a / "cy.vcf")}
    for p in saved:
        p.unlink()
    assert cli(db, "sync", "h")[0] == 3  # run 3: held
    for p, text in saved.items():
        p.write_text(text)
    assert cli(db, "sync", "h")[0] == 0  # run 4: applied
    engine = open_database(db)
    totals = {r: service.show_run(engine, r, limit=0)["journal_total"] for r in (2, 3)}
    code, out, _ = cli(db, "prune", "h", "--keep-days", "0")
    assert code == 0 and "(run 1)" in out
    shown = {r: service.show_run(engine, r, limit=0) for r in (1, 2, 3)}
    assert shown[1]["pruned"] and shown[2]["pruned"] is None and shown[3]["pruned"] is None
    assert {r: shown[r]["journal_total"] for r in (2, 3)} == totals
    engine.dispose()


def test_prune_keeps_the_runs_after_one_an_open_conflict_came_from(tmp_path: Path) -> None:
    """QA: run 2 opened a conflict (kept), runs 3 and 4 set Bob's organization and set it
    back, run 5 changed nothing; ``prune --before 5`` pruned runs 3 and 4, and ``undo 2``
    then found nothing changed since and emptied the organization set again, unsaid. An
    undo asks the runs after the one it undoes: none of them may go. And another hub's run
    id is refused, not taken as a number."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for uid, name in (("ann", "Ann Lee"), ("bob", "Bob Roe")):
        (a / f"{uid}.vcf").write_text(card(uid, name))
    (tmp_path / "hub.toml").write_text(
        f'[hubs.h]\ninterval = "off"\nconflict = "manual"\ndelete_threshold = "100%"\n'
        f'[[hubs.h.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
        f'[[hubs.h.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{b}"\n'
        f'[hubs.other]\ninterval = "off"\n'
        f'[[hubs.other.connectors]]\nname = "x"\ntype = "vcard-dir"\n'
        f'path = "{tmp_path / "x"}"\ncreate = true\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli(db, "apply", str(tmp_path / "hub.toml"))[0] == 0
    assert cli(db, "sync", "h")[0] == 0  # run 1
    [ann_b] = [p for p in b.glob("*.vcf") if "ann@example.com" in p.read_text()]
    edit(a / "ann.vcf", "END:VCARD", "TITLE:Foreman\r\nEND:VCARD")
    edit(ann_b, "END:VCARD", "TITLE:Manager\r\nEND:VCARD")
    edit(a / "bob.vcf", "END:VCARD", "ORG:Acme\r\nEND:VCARD")
    cli(db, "sync", "h")  # run 2: Bob's organization, and an open conflict on Ann's title
    edit(a / "bob.vcf", "ORG:Acme", "ORG:Globex")
    assert cli(db, "sync", "h")[0] == 0  # run 3
    edit(a / "bob.vcf", "ORG:Globex", "ORG:Acme")
    assert cli(db, "sync", "h")[0] == 0  # run 4: set back
    assert cli(db, "sync", "h")[0] == 0  # run 5: nothing
    code, out, _ = cli(db, "prune", "h", "--before", "5")
    assert code == 0 and "(run 1)" in out and "kept whole: run 2 and every later run" in out
    code, out, err = cli(db, "undo", "2")
    assert code == 0 and "organization changed again since run 2; kept" in out + err
    assert "ORG:Acme" in (a / "bob.vcf").read_text()
    assert cli(db, "sync", "other")[0] == 0  # run 7, of another hub
    code, out, err = cli(db, "prune", "h", "--before", "7")
    assert code == 2 and "run 7 is not a run of hub 'h'" in err


def held_hub(tmp_path: Path, conflict: str = "newest") -> tuple[str, Path, Path]:
    """A hub ``h`` of vCard folders ``a`` (five cards) and ``b``, synced once (run 1), that
    holds any deletion over one."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    people = ("Ann Lee", "Bob Roe", "Cy Diaz", "Di Fox", "Ed Gray")
    for name in people:
        (a / f"{name.split()[0].lower()}.vcf").write_text(card(name.split()[0].lower(), name))
    (tmp_path / "hub.toml").write_text(
        f'[hubs.h]\ninterval = "off"\nconflict = "{conflict}"\ndelete_threshold = "1"\n'
        f'[[hubs.h.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
        f'[[hubs.h.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{b}"\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli(db, "apply", str(tmp_path / "hub.toml"))[0] == 0
    assert cli(db, "sync", "h")[0] == 0  # run 1
    return db, a, b


def test_prune_frees_the_runs_after_a_superseded_hold(tmp_path: Path) -> None:
    """QA: synced again while a run was held (cron does), the older hold stays ``held``,
    superseded, and can never be decided; prune kept it "held" and, with it, every run
    after it whole, for good: the weekly prune freed nothing more on that hub. Such a hold
    needs nothing: it and the runs after it go up to the newest applied run, which is kept
    and can still be undone."""
    from contacthub import service

    db, a, _ = held_hub(tmp_path)
    (a / "ann.vcf").unlink()
    (a / "bob.vcf").unlink()
    assert cli(db, "sync", "h")[0] == 3  # run 2: held
    assert cli(db, "sync", "h")[0] == 3  # run 3: held again, run 2 superseded
    assert cli(db, "approve", "3")[0] == 0  # run 4
    edit(a / "cy.vcf", "END:VCARD", "TITLE:Foreman\r\nEND:VCARD")
    assert cli(db, "sync", "h")[0] == 0  # run 5
    edit(a / "di.vcf", "END:VCARD", "TITLE:Clerk\r\nEND:VCARD")
    assert cli(db, "sync", "h")[0] == 0  # run 6: the newest applied
    engine = open_database(db)
    listed = {r["id"]: r for r in service.runs(engine, "h")}
    assert listed[2]["status"] == "held" and listed[2]["superseded_by"] == 3

    code, out, _ = cli(db, "prune", "h", "--keep-days", "0", "--dry-run")
    assert code == 0 and "would delete" in out and "(runs 1 to 5)" in out, out
    assert "kept whole: run 6 and every later run" in out
    code, out, _ = cli(db, "prune", "h", "--keep-days", "0")
    assert code == 0 and "(runs 1 to 5)" in out, out
    shown = {r: service.show_run(engine, r, limit=0) for r in range(1, 7)}
    assert all(shown[r]["pruned"] for r in range(1, 6)) and shown[6]["pruned"] is None
    assert shown[2]["status"] == "held" and shown[2]["journal_total"] == 0
    assert shown[6]["journal_total"] == 2
    code, out, err = cli(db, "approve", "2")
    assert code != 0 and "run 2 is out of date: run 3, held after it, was approved" in out + err
    assert cli(db, "undo", "6")[0] == 0  # the newest applied run can still be undone
    engine.dispose()


def held_then_resolved(tmp_path: Path) -> tuple[str, Path, Path]:
    """``held_hub`` under ``manual``: run 2 opens a conflict (a's and b's title for Ann),
    run 3 is held (two cards deleted from a), run 4 resolves the conflict: an applied run
    after the hold that supersedes no hold, the hub's newest applied run."""
    db, a, b = held_hub(tmp_path, conflict="manual")
    [ann_b] = [p for p in b.glob("*.vcf") if "ann@example.com" in p.read_text()]
    edit(a / "ann.vcf", "END:VCARD", "TITLE:Foreman\r\nEND:VCARD")
    edit(ann_b, "END:VCARD", "TITLE:Manager\r\nEND:VCARD")
    cli(db, "sync", "h")  # run 2: an open conflict
    (a / "cy.vcf").unlink()
    (a / "di.vcf").unlink()
    assert cli(db, "sync", "h")[0] == 3  # run 3: held
    conflict = json.loads(cli(db, "conflicts", "h", "--json")[1])[0]
    assert cli(db, "resolve", str(conflict["id"]), "--take", "a")[0] == 0  # run 4: applied
    return db, a, b


def test_prune_keeps_the_hold_still_to_decide_before_a_resolve(tmp_path: Path) -> None:
    """The hold still to decide keeps its journal (the deletions an approve lets through
    are those it shows) and the runs after it, even when a ``resolve`` after it, an
    applied run that supersedes no hold, is the hub's newest applied run."""
    from contacthub import service

    db, a, b = held_then_resolved(tmp_path)
    assert json.loads(cli(db, "conflicts", "h", "--json")[1]) == []  # (both settled)
    engine = open_database(db)
    assert [r["status"] for r in service.runs(engine, "h")] == ["applied", "held", "applied", "applied"]

    code, out, _ = cli(db, "prune", "h", "--keep-days", "0")
    assert code == 0 and "(runs 1 to 2)" in out and "kept whole: run 3 and every later run" in out, out
    assert service.show_run(engine, 3, limit=0)["pruned"] is None
    assert cli(db, "approve", "3")[0] == 0  # its deletions, as it showed them, go through
    assert sorted(p.name for p in a.glob("*.vcf")) == ["ann.vcf", "bob.vcf", "ed.vcf"]
    assert len(list(b.glob("*.vcf"))) == 3
    engine.dispose()


class Killed(BaseException):
    """What a SIGKILL is to a run: nothing of it runs after, not even its error handling."""


def test_prune_keeps_the_hold_a_killed_approve_still_carries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: an approve killed halfway is carried on by the next sync, which lets through
    the deletions its held run showed, read from that run's journal. With a ``resolve``
    after the hold (the newest applied run), a prune deleted that journal (the run was no
    longer the hold to decide, it was approved), and the next sync held the deletions the
    person had approved again. The held run a killed decision carries keeps its journal."""
    from contacthub import service
    from contacthub.connectors.vcard_dir import VCardDirConnector

    db, a, b = held_then_resolved(tmp_path)
    write = VCardDirConnector.write

    def dies_in_b(self: VCardDirConnector, ops: Any) -> Any:
        if self.root == b:
            raise Killed
        return write(self, ops)

    engine = open_database(db)
    monkeypatch.setattr(VCardDirConnector, "write", dies_in_b)
    with pytest.raises(Killed):
        service.approve(engine, 3)  # run 5, killed before b's deletions
    monkeypatch.setattr(VCardDirConnector, "write", write)
    assert len(list(b.glob("*.vcf"))) == 5
    code, out, _ = cli(db, "prune", "h", "--keep-days", "0")
    assert code == 0, out
    assert service.show_run(engine, 3, limit=0)["pruned"] is None, out
    code, out, _ = cli(db, "sync", "h", "--json")
    assert code == 0 and json.loads(out)["status"] == "applied", out  # not held again
    assert sorted(p.name for p in a.glob("*.vcf")) == ["ann.vcf", "bob.vcf", "ed.vcf"]
    assert len(list(b.glob("*.vcf"))) == 3
    engine.dispose()


def test_empty_listings_say_so(hub: tuple[str, Path, Path]) -> None:
    """QA: ``runs --before 1`` printed an empty table, ``show`` of a run with no changes
    only its header, and ``runs --paged`` without ``--json`` was ignored without a word."""
    db, _, _ = hub
    assert cli(db, "sync", "h")[0] == 0  # run 1
    assert cli(db, "sync", "h")[0] == 0  # run 2: nothing to do
    code, out, _ = cli(db, "runs", "h", "--before", "1")
    assert code == 0 and out.strip() == "no runs of hub h older than run 1"
    code, out, _ = cli(db, "show", "2")
    assert code == 0 and out.splitlines()[-1] == "no changes"
    code, out, _ = cli(db, "show", "1", "--after", "999999")
    assert code == 0 and out.splitlines()[-1] == "no changes after change 999999"
    code, _, err = cli(db, "runs", "h", "--paged")
    assert code == 2 and "--paged is a form of --json" in err
