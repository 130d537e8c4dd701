"""The command line end to end, on temporary vCard folders and CSV files."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from contacthub.cli import app

runner = CliRunner()


def card(uid: str, given: str, family: str, email: str, **extra: str) -> str:
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"UID:{uid}",
        f"FN:{given} {family}",
        f"N:{family};{given};;;",
        f"EMAIL;TYPE=work:{email}",
        *(f"{k}:{v}" for k, v in extra.items()),
        "END:VCARD",
        "",
    ]
    return "\r\n".join(lines)


def read_cards(folder: Path) -> dict[Path, dict[str, str]]:
    """A plain reading of a folder of cards, independent of contacthub's own parser."""
    out = {}
    for path in sorted(folder.glob("*.vcf")):
        text = path.read_text(encoding="utf-8").replace("\r\n ", "")
        props: dict[str, str] = {}
        for line in text.splitlines():
            name, _, value = line.partition(":")
            key = name.split(";")[0].lower()
            props.setdefault(key, value)
        out[path] = props
    return out


def cli(*args: str, db: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--database", db, *args])
    return result.exit_code, result.output


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, Path, Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    hub = tmp_path / "hub.toml"
    hub.write_text(
        f"""
[hubs.team]
conflict = "newest"
delete_threshold = "10%"

[[hubs.team.connectors]]
name = "phones"
type = "vcard-dir"
path = "{a}"
mapping = {{"custom.trade" = "X-TRADE"}}

[[hubs.team.connectors]]
name = "laptop"
type = "vcard-dir"
path = "{b}"
"""
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    code, out = cli("apply", str(hub), db=db)
    assert code == 0, out
    assert "hub team: created" in out and "connector team/phones: created" in out
    return db, a, b, hub


def test_apply_is_idempotent(setup: tuple[str, Path, Path, Path]) -> None:
    db, _, _, hub = setup
    code, out = cli("apply", str(hub), db=db)
    assert code == 0 and "nothing changed" in out


def test_sync_json_and_history(setup: tuple[str, Path, Path, Path]) -> None:
    db, a, b, _ = setup
    (a / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@example.com", **{"X-TRADE": "Electrical"}))
    (b / "bob.vcf").write_text(card("bob", "Bob", "Roe", "bob@example.com"))
    code, out = cli("sync", "team", "--json", db=db)
    assert code == 0, out
    report = json.loads(out)
    assert set(report) == {"run", "status", "changes", "conflicts", "errors"}
    assert report["status"] == "applied"
    assert report["changes"]["phones"]["create"] == 1 and report["changes"]["laptop"]["create"] == 1
    assert report["changes"]["hub"]["create"] == 2
    assert {c["email"] for c in read_cards(b).values()} == {"ann@example.com", "bob@example.com"}
    # an edit on one side reaches the other
    path = a / "ann.vcf"
    path.write_text(path.read_text().replace("END:VCARD", "TITLE:Foreman\r\nEND:VCARD"))
    code, out = cli("sync", "team", "--json", db=db)
    run_id = json.loads(out)["run"]
    assert json.loads(out)["changes"]["laptop"]["update"] == 1
    ann_b = next(c for c in read_cards(b).values() if c["email"] == "ann@example.com")
    assert ann_b["title"] == "Foreman"
    code, out = cli("show", str(run_id), "--json", db=db)
    shown = json.loads(out)
    update = next(c for c in shown["journal"] if c["connector"] == "laptop")
    assert update["op"] == "update" and update["after"] == {"job_title": "Foreman"}
    assert update["before"] == {"job_title": None}
    code, out = cli("runs", "team", "--json", db=db)
    assert [r["id"] for r in json.loads(out)][:2] == [run_id, run_id - 1]
    code, out = cli("show", str(run_id), db=db)
    assert "job_title: - -> Foreman" in out
    first = json.loads(cli("runs", "team", "--json", db=db)[1])[-1]["id"]
    code, out = cli("show", str(first), db=db)  # a create shows the values it made
    assert code == 0 and "emails: - -> ann@example.com (work)" in out and "given_name: - -> Ann" in out
    # a change of type alone shows (it printed "ann@example.com -> ann@example.com")
    path.write_text(path.read_text().replace("EMAIL;TYPE=work:", "EMAIL;TYPE=home:"))
    run_id = json.loads(cli("sync", "team", "--json", db=db)[1])["run"]
    code, out = cli("show", str(run_id), db=db)
    assert "emails: ann@example.com (work) -> ann@example.com (home)" in out


def test_unknown_properties_survive(setup: tuple[str, Path, Path, Path]) -> None:
    db, a, b, _ = setup
    text = card("ann", "Ann", "Lee", "ann@example.com", **{"X-CUSTOM-THING": "keep me", "CATEGORIES": "a,b"})
    (a / "ann.vcf").write_text(text)
    cli("sync", "team", db=db)
    [copy] = b.glob("*.vcf")
    copy.write_text(copy.read_text().replace("END:VCARD", "NOTE:from laptop\r\nEND:VCARD"))
    cli("sync", "team", db=db)
    after = (a / "ann.vcf").read_text()
    assert "X-CUSTOM-THING:keep me" in after and "CATEGORIES:a,b" in after
    assert "NOTE:from laptop" in after


def test_a_renamed_card_file_is_the_same_card(setup: tuple[str, Path, Path, Path]) -> None:
    """Renaming a file is not deleting a person: the copy in the other folder, with what
    only it holds (a photo added on a phone, say), stays where it is."""
    db, a, b, _ = setup
    (a / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@example.com"))
    cli("sync", "team", db=db)
    [copy] = b.glob("*.vcf")
    copy.write_text(
        copy.read_text().replace("END:VCARD", "PHOTO;VALUE=uri:https://x.example/a.jpg\r\nEND:VCARD")
    )
    cli("sync", "team", db=db)
    (a / "ann.vcf").rename(a / "ann-lee.vcf")
    code, out = cli("sync", "team", "--json", db=db)
    assert code == 0 and json.loads(out)["changes"] == {}, out
    assert list(b.glob("*.vcf")) == [copy] and "PHOTO;VALUE=uri:https://x.example/a.jpg" in copy.read_text()
    (a / "ann-lee.vcf").write_text(card("ann", "Ann", "Lee-Ray", "ann@example.com"))
    assert json.loads(cli("sync", "team", "--json", db=db)[1])["changes"]["laptop"]["update"] == 1
    assert "Lee-Ray" in copy.read_text() and "PHOTO" in copy.read_text()


def test_dry_run_and_hold_exit_codes(setup: tuple[str, Path, Path, Path]) -> None:
    db, a, b, _ = setup
    for i in range(10):
        (a / f"p{i}.vcf").write_text(card(f"p{i}", f"P{i}", "X", f"p{i}@example.com"))
    code, out = cli("sync", "team", "--dry-run", "--json", db=db)
    assert code == 0 and json.loads(out)["status"] == "planned"
    assert list(b.iterdir()) == []
    cli("sync", "team", db=db)
    assert len(list(b.glob("*.vcf"))) == 10
    for path in list(a.glob("*.vcf"))[:6]:
        path.unlink()
    # a dry run is never held, but says what a real run would hold
    code, out = cli("sync", "team", "--dry-run", "--json", db=db)
    assert code == 0 and json.loads(out)["status"] == "planned"
    assert json.loads(out)["held"] == [
        {"connector": "phones", "deletes": 6, "reason": "6 of 10 records deleted in phones (threshold 10%)"},
        {
            "connector": "laptop",
            "deletes": 6,
            "reason": "would delete 6 of 10 records in laptop (threshold 10%)",
        },
    ]
    code, out = cli("sync", "team", "--json", db=db)
    assert code == 3 and json.loads(out)["status"] == "held"
    assert json.loads(out)["held"][0]["deletes"] == 6
    assert len(list(b.glob("*.vcf"))) == 10
    held = json.loads(out)["run"]
    code, out = cli("approve", str(held), "--json", db=db)
    assert code == 0, out
    assert len(list(b.glob("*.vcf"))) == 4
    code, out = cli("undo", str(json.loads(out)["run"]), "--json", db=db)
    assert code == 0, out
    assert len(list(b.glob("*.vcf"))) == 10 and len(list(a.glob("*.vcf"))) == 10


def test_a_superseded_hold_is_shown_superseded(setup: tuple[str, Path, Path, Path]) -> None:
    """A held run that a later run held or applied stayed listed ``held`` by ``runs`` and
    ``show``, as if it could be decided, and ``approve`` then refused it as out of date.
    It says so now, naming the run that superseded it, by the rule ``approve`` refuses by;
    a dry run or a failed run after it does not supersede it."""
    db, a, b, _ = setup
    for i in range(10):
        (a / f"p{i}.vcf").write_text(card(f"p{i}", f"P{i}", "X", f"p{i}@example.com"))
    cli("sync", "team", db=db)
    for path in list(a.glob("*.vcf"))[:6]:
        path.unlink()
    old = json.loads(cli("sync", "team", "--json", db=db)[1])["run"]
    cli("sync", "team", "--dry-run", db=db)  # a preview counts nothing: the hold stays current
    listed = {r["id"]: r for r in json.loads(cli("runs", "team", "--json", db=db)[1])}
    assert listed[old]["status"] == "held" and listed[old]["superseded_by"] is None
    new = json.loads(cli("sync", "team", "--json", db=db)[1])["run"]

    listed = {r["id"]: r for r in json.loads(cli("runs", "team", "--json", db=db)[1])}
    assert listed[old]["status"] == "held" and listed[old]["superseded_by"] == new
    why = f"run {old} is out of date: run {new} is the held run to approve or reject"
    assert listed[old]["superseded_reason"] == why
    assert listed[new]["status"] == "held" and listed[new]["superseded_by"] is None
    wide = runner.invoke(app, ["--database", db, "runs", "team"], env={"COLUMNS": "160"})
    assert wide.exit_code == 0 and f"held (superseded by run {new})" in wide.output, wide.output
    assert wide.output.count("superseded") == 1, wide.output
    code, out = cli("show", str(old), db=db)
    assert out.splitlines()[0] == f"run {old} of hub team: sync, held (superseded by run {new})", out
    assert why in out
    shown = json.loads(cli("show", str(old), "--json", db=db)[1])
    assert shown["status"] == "held" and shown["superseded_by"] == new
    code, out = cli("show", str(new), db=db)
    assert out.splitlines()[0] == f"run {new} of hub team: sync, held" and "out of date" not in out

    # decided, the newer hold is still the run that superseded the old one (it named the
    # approve run, then each newer run in turn), and what ``show`` said is what ``reject``
    # answers
    cli("approve", str(new), "--json", db=db)
    shown = json.loads(cli("show", str(old), "--json", db=db)[1])
    assert shown["superseded_by"] == new
    assert shown["superseded_reason"] == f"run {old} is out of date: run {new}, held after it, was approved"
    code, out = cli("reject", str(old), db=db)
    assert code != 0 and shown["superseded_reason"] in " ".join(out.split()), out
    assert len(list(b.glob("*.vcf"))) == 4


def test_a_superseded_hold_names_the_run_that_superseded_it_for_good(
    setup: tuple[str, Path, Path, Path],
) -> None:
    """QA: "superseded by run N" named the hub's newest run, and moved on with every sync:
    right after run 4 was held, run 3 was "superseded by run 4", and after more syncs "by
    run 8". It names the run that superseded it, the next hold (or applied run) after it,
    for good, in ``runs``, ``show`` and their JSON alike; a hold superseded in turn says so
    rather than call itself the one to decide."""
    db, a, b, _ = setup
    for i in range(10):
        (a / f"p{i}.vcf").write_text(card(f"p{i}", f"P{i}", "X", f"p{i}@example.com"))
    cli("sync", "team", db=db)
    for path in sorted(a.glob("*.vcf"))[:6]:
        path.unlink()
    first, second, third = (json.loads(cli("sync", "team", "--json", db=db)[1])["run"] for _ in range(3))

    listed = {r["id"]: r for r in json.loads(cli("runs", "team", "--json", db=db)[1])}
    assert [listed[r]["superseded_by"] for r in (first, second, third)] == [second, third, None]
    assert listed[first]["superseded_reason"] == (
        f"run {first} is out of date: run {second} was held after it, and is out of date in turn"
    )
    assert listed[second]["superseded_reason"] == (
        f"run {second} is out of date: run {third} is the held run to approve or reject"
    )
    cli("approve", str(third), db=db)
    assert len(list(b.glob("*.vcf"))) == 4
    (a / "p9.vcf").write_text(card("p9", "P9", "Y", "p9@example.com"))
    assert json.loads(cli("sync", "team", "--json", db=db)[1])["status"] == "applied"
    for shown in (
        {r["id"]: r for r in json.loads(cli("runs", "team", "--json", db=db)[1])},
        {r: json.loads(cli("show", str(r), "--json", db=db)[1]) for r in (first, second)},
    ):
        assert [shown[r]["superseded_by"] for r in (first, second)] == [second, third]
    wide = runner.invoke(app, ["--database", db, "runs", "team"], env={"COLUMNS": "160"})
    assert f"held (superseded by run {second})" in wide.output, wide.output
    assert f"held (superseded by run {third})" in wide.output, wide.output
    code, out = cli("approve", str(second), db=db)
    assert code != 0 and f"run {second} is out of date: run {third}, held after it, was approved" in out


def test_manual_conflict_from_the_command_line(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    hub = tmp_path / "hub.toml"
    hub.write_text(
        f'[hubs.m]\nconflict = "manual"\n'
        f'[[hubs.m.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
        f'[[hubs.m.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{b}"\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    cli("apply", str(hub), db=db)
    (a / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@example.com"))
    cli("sync", "m", db=db)
    [copy] = b.glob("*.vcf")
    (a / "ann.vcf").write_text((a / "ann.vcf").read_text().replace("END:VCARD", "TITLE:Boss\r\nEND:VCARD"))
    copy.write_text(copy.read_text().replace("END:VCARD", "TITLE:Chief\r\nEND:VCARD"))
    code, out = cli("sync", "m", "--json", db=db)
    assert json.loads(out)["conflicts"] == 2  # one per side: the hub keeps its value (none)
    code, out = cli("conflicts", "m", "--json", db=db)
    found = json.loads(out)
    assert {(c["field"], c["hub"], c["incoming"]) for c in found} == {
        ("job_title", None, "Boss"),
        ("job_title", None, "Chief"),
    }
    [conflict] = [c for c in found if c["source"] == "b"]
    code, out = cli("resolve", str(conflict["id"]), "--take", "b", db=db)
    assert code == 0, out
    cli("sync", "m", db=db)
    assert {c["title"] for c in read_cards(a).values()} == {"Chief"}
    assert {c["title"] for c in read_cards(b).values()} == {"Chief"}


def manual_folders(tmp_path: Path, names: str) -> tuple[str, list[Path]]:
    """A hub ``m`` (conflict = "manual") of one folder per letter of ``names``, synced once
    with Ann (TITLE:Base) in the first: the store's URL and the folders."""
    dirs = [tmp_path / n for n in names]
    text = '[hubs.m]\nconflict = "manual"\n'
    for d in dirs:
        d.mkdir()
        text += f'[[hubs.m.connectors]]\nname = "{d.name}"\ntype = "vcard-dir"\npath = "{d}"\n'
    (tmp_path / "hub.toml").write_text(text)
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    cli("apply", str(tmp_path / "hub.toml"), db=db)
    (dirs[0] / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@example.com", TITLE="Base"))
    cli("sync", "m", db=db)
    return db, dirs


@pytest.mark.parametrize("same_run", [True, False])
def test_a_manual_conflict_of_three_sides_keeps_every_value(tmp_path: Path, same_run: bool) -> None:
    """Three folders change one title: the third side's value was dropped (same run) or
    written over the second's under the second's name (a later run); either way a person
    could not pick it, and resolving the conflict overwrote it unseen."""
    db, dirs = manual_folders(tmp_path, "abc")

    def retitle(d: Path) -> None:
        (path,) = d.glob("*.vcf")
        path.write_text(path.read_text().replace("TITLE:Base", f"TITLE:Title-{d.name}"))

    retitle(dirs[0])
    retitle(dirs[1])
    if not same_run:
        cli("sync", "m", db=db)
    retitle(dirs[2])
    cli("sync", "m", db=db)
    found = json.loads(cli("conflicts", "m", "--json", db=db)[1])
    values = {c["incoming"] for c in found} | {c["hub"] for c in found}
    assert {"Title-a", "Title-b", "Title-c"} <= values
    (with_c,) = [c for c in found if c["incoming"] == "Title-c"]
    code, out = cli("resolve", str(with_c["id"]), "--take", "c", db=db)
    assert code == 0, out
    assert json.loads(cli("conflicts", "m", "--json", db=db)[1]) == []  # the field is decided
    cli("sync", "m", db=db)
    for d in dirs:
        assert {c["title"] for c in read_cards(d).values()} == {"Title-c"}
    assert json.loads(cli("sync", "m", "--json", db=db)[1])["changes"] == {}


def test_resolving_for_a_side_that_edited_again_takes_its_newest_value(tmp_path: Path) -> None:
    """The conflict kept the side's first value as the hub's; the side edited again (the
    hub took it), and resolving for that side wrote its older value back everywhere."""
    db, dirs = manual_folders(tmp_path, "ab")
    for d in dirs:
        (path,) = d.glob("*.vcf")
        path.write_text(path.read_text().replace("TITLE:Base", f"TITLE:T-{d.name}"))
    cli("sync", "m", db=db)
    path = dirs[0] / "ann.vcf"
    path.write_text(path.read_text().replace("TITLE:T-a", "TITLE:T-a-newer"))
    cli("sync", "m", db=db)
    (conflict,) = [c for c in json.loads(cli("conflicts", "m", "--json", db=db)[1]) if c["source"] == "a"]
    assert (conflict["hub"], conflict["incoming"]) == ("Base", "T-a-newer")
    assert cli("resolve", str(conflict["id"]), "--take", "a", db=db)[0] == 0
    cli("sync", "m", db=db)
    for d in dirs:
        assert {c["title"] for c in read_cards(d).values()} == {"T-a-newer"}


def test_bad_file_is_reported_and_skipped(setup: tuple[str, Path, Path, Path]) -> None:
    db, a, b, _ = setup
    (a / "good.vcf").write_text(card("good", "Good", "One", "good@example.com"))
    (a / "bad.vcf").write_bytes(b"\x00\x01garbage without any card\xff")
    code, out = cli("sync", "team", "--json", db=db)
    report = json.loads(out)
    assert code == 0 and report["status"] == "applied"
    assert [e["connector"] for e in report["errors"]] == ["phones"]
    assert "bad.vcf" in report["errors"][0]["record"]
    assert len(list(b.glob("*.vcf"))) == 1
    assert (a / "bad.vcf").read_bytes() == b"\x00\x01garbage without any card\xff"
    # QA: ``show`` without --json left the run's errors out
    code, out = cli("show", str(report["run"]), db=db)
    assert code == 0 and "skipped phones: " in out and "bad.vcf" in out


@pytest.mark.parametrize(
    "toml,expect",
    [
        ("[hubs.x\n", "invalid TOML"),
        ('[hubs.x]\n[[hubs.x.connectors]]\nname = "c"\ntype = "nope"\n', "unknown connector type 'nope'"),
        (
            '[hubs.x]\n[[hubs.x.connectors]]\nname = "c"\ntype = "vcard-dir"\npath = "/x"\n'
            'filter = {field = "email", op = "matches", value = "(unclosed"}\n',
            "invalid regular expression",
        ),
        ('[hubs.x]\nconflict = "loudest"\n', "conflict"),
        ('[hubs.x]\n[[hubs.x.connectors]]\nname = "c"\ntype = "csv"\ndirection = "sideways"\n', "direction"),
        # connector settings are checked by apply, not found by the first sync
        (
            '[[hubs.x.connectors]]\nname = "c"\ntype = "csv"\npth = "/x.csv"\n',
            "connectors[0] (c): unknown setting 'pth' in connector 'c' (csv) of hub 'x'; did you mean 'path'",
        ),
        ('[[hubs.x.connectors]]\nname = "c"\ntype = "csv"\npath = "/x.csv"\ndelimiter = ";;"\n', "delimiter"),
        ('[[hubs.x.connectors]]\nname = "c"\ntype = "csv"\npath = "/x"\ndelimiter = \'"\'\n', "delimiter"),
        ('[[hubs.x.connectors]]\nname = "c"\ntype = "csv"\npath = "/p\\u0000.csv"\n', "NUL character"),
        ('[[hubs.x.connectors]]\nname = "c"\ntype = "vcard-dir"\npath = 5\n', "'path'"),
        ('[[hubs.x.connectors]]\nname = "c"\ntype = "vcard-dir"\npath = "/x"\ncreate = "yes"\n', "'create'"),
        (
            '[[hubs.x.connectors]]\nname = "c"\ntype = "carddav"\nurl = "https://d.x/"\ncreate = "yes"\n',
            "'create'",
        ),
        (
            '[[hubs.x.connectors]]\nname = "c"\ntype = "vcard-dir"\npath = "/x"\nversion = "2.1"\n',
            "3.0 or 4.0",
        ),
    ],
)
def test_user_errors_are_one_clear_line(tmp_path: Path, toml: str, expect: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "contacthub",
            "--database",
            f"sqlite:///{tmp_path / 'h.db'}",
            "apply",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert expect in proc.stderr and str(path) in proc.stderr


def test_unknown_hub_and_missing_folder(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    proc = subprocess.run(
        [sys.executable, "-m", "contacthub", "--database", db, "sync", "ghost"],
        capture_output=True,
        text=True,
    )
    # a store that is not there is a mistyped path, not an empty store to make
    assert proc.returncode == 2 and f"no store at {tmp_path / 'h.db'}" in proc.stderr
    assert not (tmp_path / "h.db").exists()
    hub = tmp_path / "hub.toml"
    hub.write_text(
        f'[hubs.h]\n[[hubs.h.connectors]]\nname = "c"\ntype = "vcard-dir"\npath = "{tmp_path / "nope"}"\n'
    )
    apply = [sys.executable, "-m", "contacthub", "--database", db, "apply", str(hub)]
    proc = subprocess.run(apply, capture_output=True, text=True)
    # apply refuses a folder that is not there, as the first run would (a mistyped path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        f"the vCard folder {tmp_path / 'nope'} does not exist" in proc.stderr
        and "create = true" in proc.stderr
    )
    (tmp_path / "nope").mkdir()
    subprocess.run(apply, check=True)
    (tmp_path / "nope").rmdir()  # gone after apply (an unmounted disk): the run says so
    proc = subprocess.run(
        [sys.executable, "-m", "contacthub", "--database", db, "sync", "ghost"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "no hub named 'ghost'" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "contacthub", "--database", db, "sync", "h", "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "failed" and str(tmp_path / "nope") in report["errors"][0]["message"]
    assert report["errors"][0]["connector"] == "c"  # a connector's name, as --json promises
    code, out = cli("sync", "h", db=db)
    # the failure is said once, as the run's message (it was said again as "skipped c: ..."),
    # naming the connector once, with no empty record before the message
    assert code == 1 and out.count(str(tmp_path / "nope")) == 1 and ": : " not in out
    assert "skipped" not in out and out.count("connector 'c'") == 1


@pytest.mark.parametrize("number", ["999", "99999999999999999999", "2147483648"])
@pytest.mark.parametrize(
    ("command", "missing"),
    [
        (["show"], "no run"),
        (["undo"], "no run"),
        (["approve"], "no run"),
        (["reject"], "no run"),
        (["resolve", "--take", "hub"], "no conflict"),
        (["token", "revoke"], "no API token"),
    ],
)
def test_an_id_no_row_can_have_is_no_such_id(
    setup: tuple[str, Path, Path, Path], command: list[str], missing: str, number: str
) -> None:
    """An id beyond the store's integer range names nothing, as 999 does: the driver's
    OverflowError (SQLite; an out-of-range error on PostgreSQL) ended in a traceback."""
    db = setup[0]
    code, out = cli(*command, "--", number, db=db)  # "--": a negative number is no option
    assert code == 2, out
    assert out.strip().startswith(f"error: {missing} {number}"), out


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["runs", "team", "--limit", "9223372036854775807"], "Invalid value for '--limit'"),
        (["runs", "team", "--limit", "99999999999999999999"], "Invalid value for '--limit'"),
        (["show", "1", "--limit", "9223372036854775807"], "Invalid value for '--limit'"),
        (["prune", "team", "--keep-days", "740000", "--dry-run"], "Invalid value for '--keep-days'"),
        (["prune", "team", "--keep-days", "1000000000", "--dry-run"], "Invalid value for '--keep-days'"),
        (["prune", "team", "--keep-days", "99999999999999999999"], "Invalid value for '--keep-days'"),
        (["serve", "--port", "99999"], "Invalid value for '--port'"),
        (["demo", "--port", "0"], "Invalid value for '--port'"),
        (["emulate", "procore", "--port", "-5"], "Invalid value for '--port'"),
        (["emulate", "pipedrive", "--port", "70000"], "Invalid value for '--port'"),
        (["demo", "--dir", "/proc/contacthub-nope"], "the folder cannot be made"),
        (["demo", "--dir", "{file}"], "is a file, not a folder"),
    ],
)
def test_numbers_and_folders_out_of_range_are_one_error(
    setup: tuple[str, Path, Path, Path], tmp_path: Path, args: list[str], said: str
) -> None:
    """Each ended in a traceback: OverflowError (SQLite's INTEGER, a date before year 1),
    bind()'s "port must be 0-65535", FileNotFoundError, NotADirectoryError (QA)."""
    db = setup[0]
    (tmp_path / "afile").write_text("x")
    args = [a.replace("{file}", str(tmp_path / "afile")) for a in args]
    result = runner.invoke(app, ["--database", db, *args])
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


@pytest.mark.parametrize("number", ["-1", "-5", "0", "-99999999999999999999"])
@pytest.mark.parametrize(
    ("command", "label"),
    [
        (["show"], "RUN"),
        (["undo"], "RUN"),
        (["approve"], "RUN"),
        (["reject", "--json"], "RUN"),
        (["resolve", "--take", "hub"], "CONFLICT"),
        (["token", "revoke"], "TOKEN_ID"),
    ],
)
def test_an_id_below_one_is_no_id(
    setup: tuple[str, Path, Path, Path], command: list[str], label: str, number: str
) -> None:
    """``show -1`` answered "No such option '-1'" (Click reads a word starting with "-"
    as an option); with or without "--", it is said as the id's error."""
    db = setup[0]
    for args in ([*command, number], [*command, "--", number]):
        code, out = cli(*args, db=db)
        assert code == 2, out
        assert f"{label} must be a positive number, not {number}" in out, out
        assert "No such option" not in out
    code, out = cli("show", "--jsn", "1", db=db)  # a misspelt option is still one
    assert code == 2 and "No such option '--jsn'" in out


def test_demo(tmp_path: Path) -> None:
    env = {**os.environ, "CONTACTHUB_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "contacthub", "demo"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "sync demo-cloud, run 2: applied" in proc.stdout
    demo = tmp_path / "home" / "demo"
    emails = {c["email"].lower() for c in read_cards(demo / "phone").values()}
    assert "alan@bletchley.example" in emails  # from the CSV export, now on the phone
    local = {"ada@analytical.example", "grace@navy.example", "linus@kernel.example"}
    local |= {"margaret@apollo.example", "alan@bletchley.example"}
    from_cloud = emails - local
    assert from_cloud, "people of the emulated Procore company reach the phone's folder"
    assert f"hub demo now holds {len(emails)} people" in proc.stdout
    assert "Grace,Hopper,US Navy" in (demo / "outlook.csv").read_text()
    again = subprocess.run(
        [sys.executable, "-m", "contacthub", "sync", "demo", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert json.loads(again.stdout)["changes"] == {}


def test_a_second_demo_keeps_the_demo_hub_and_its_files(tmp_path: Path) -> None:
    """A second ``demo`` (``demo --serve`` after ``demo``, as the first suggests) dropped
    hub demo, its runs and history, and rewrote the files: the edit the first run told the
    person to make was gone, and it said only "hub demo: created" (QA). It keeps them now,
    says so, and syncs; ``--reset`` starts over."""
    env = {**os.environ, "CONTACTHUB_HOME": str(tmp_path / "home")}
    env.pop("CONTACTHUB_DATABASE_URL", None)

    def ch(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "contacthub", *args], capture_output=True, text=True, env=env
        )

    def runs() -> list[int]:
        return [r["id"] for r in json.loads(ch("runs", "demo", "--json").stdout)]

    first = ch("demo")
    assert first.returncode == 0, first.stderr
    held = first.stdout.split("hub demo now holds ", 1)[1].split(" people")[0]
    export = tmp_path / "home" / "demo" / "outlook.csv"
    export.write_text(export.read_text().replace("Met at the engine demo", "Met at the engine demo AGAIN"))
    assert ch("sync", "demo").returncode == 0
    before = runs()
    second = ch("demo")
    assert second.returncode == 0, second.stderr
    assert "hub demo: kept, with its 3 run(s)" in second.stdout and "hub demo: created" not in second.stdout
    assert runs()[-len(before) :] == before and len(runs()) == len(before) + 2
    assert "AGAIN" in export.read_text()
    assert any("AGAIN" in p.read_text() for p in (tmp_path / "home" / "demo" / "phone").glob("*.vcf"))
    assert f"hub demo now holds {held} people" in second.stdout  # (no one twice from demo-cloud)
    elsewhere = ch("demo", "--dir", str(tmp_path / "other"))
    assert elsewhere.returncode == 2 and "--reset" in elsewhere.stderr, elsewhere.stderr
    assert not (tmp_path / "other").exists()
    reset = ch("demo", "--reset")
    assert reset.returncode == 0 and "hub demo: created" in reset.stdout, reset.stderr
    assert len(runs()) == 2 and "AGAIN" not in export.read_text()


def test_the_demo_hint_carries_its_database(tmp_path: Path) -> None:
    """The commands the demo suggests once ran on the default store, not on the one
    ``--database`` named: "no hub named 'demo'"."""
    db = f"sqlite:///{tmp_path / 'my store.db'}"
    env = {**os.environ, "CONTACTHUB_HOME": str(tmp_path / "home")}
    env.pop("CONTACTHUB_DATABASE_URL", None)
    ch = [sys.executable, "-m", "contacthub"]
    proc = subprocess.run([*ch, "--database", db, "demo"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    hint = proc.stdout.rsplit("try: edit a file, then\n", 1)[1].splitlines()
    assert hint[0] == f"  contacthub --database '{db}' sync demo", proc.stdout
    suggested = hint[1].strip()
    assert suggested == f"contacthub --database '{db}' runs demo"
    runs = subprocess.run(
        [*ch, *shlex.split(suggested)[1:], "--json"], capture_output=True, text=True, env=env
    )
    assert runs.returncode == 0, runs.stderr
    assert [r["status"] for r in json.loads(runs.stdout)] == ["applied", "applied"]


def test_copies_keep_the_uid_and_two_hubs_share_a_folder(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder in (a, b, c):
        folder.mkdir()
    (a / "ann.vcf").write_text(card("ann-uid-1", "Ann", "Lee", "ann@example.com"))
    hub = tmp_path / "hub.toml"
    hub.write_text(
        "".join(
            f'[[hubs.{h}.connectors]]\nname = "src"\ntype = "vcard-dir"\npath = "{a}"\n'
            f'[[hubs.{h}.connectors]]\nname = "dst"\ntype = "vcard-dir"\npath = "{d}"\n'
            for h, d in (("one", b), ("two", c))
        )
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli("apply", str(hub), db=db)[0] == 0
    for name in ("one", "two"):
        code, out = cli("sync", name, "--json", db=db)
        assert code == 0 and json.loads(out)["changes"]["dst"]["create"] == 1, out
    assert [c["uid"] for c in read_cards(b).values()] == ["ann-uid-1"]
    assert [c["uid"] for c in read_cards(c).values()] == ["ann-uid-1"]
    for name in ("one", "two"):
        assert json.loads(cli("sync", name, "--json", db=db)[1])["changes"] == {}


@pytest.mark.parametrize("terminal", [True, False])
def test_names_people_typed_are_printed_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    """On a terminal the report is a rich table, where a name is never markup; piped, the
    same in plain text."""
    from contacthub.cli import syncing

    monkeypatch.setattr(syncing, "_terminal", lambda: terminal)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x.vcf").write_text(card("x", "[bold]Ann[/]", "<b>Lee</b>", "ann@example.com"))
    hub = tmp_path / "hub.toml"
    hub.write_text(
        f'[[hubs.h.connectors]]\nname = "[/oops]"\ntype = "vcard-dir"\npath = "{a}"\n'
        f'[[hubs.h.connectors]]\nname = "[red]b"\ntype = "vcard-dir"\npath = "{b}"\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli("apply", str(hub), db=db)[0] == 0
    code, out = cli("sync", "h", db=db)
    assert code == 0, out
    assert "[red]b" in out and "Traceback" not in out
    if not terminal:
        assert (
            "where   create  update  delete\n[red]b       1       0       0\nhub          1       0       0\n"
            in out
        )
    run_id = json.loads(cli("runs", "h", "--json", db=db)[1])[0]["id"]
    code, out = cli("show", str(run_id), db=db)
    assert code == 0 and "[red]b" in out
    [copy] = read_cards(b).values()
    assert copy["fn"] == "[bold]Ann[/] <b>Lee</b>"


def test_hubs_lists_connectors(setup: tuple[str, Path, Path, Path]) -> None:
    db, a, _, _ = setup
    code, out = cli("hubs", "--json", db=db)
    [hub] = json.loads(out)
    assert hub["name"] == "team" and hub["last_run"] is None
    assert [c["name"] for c in hub["connectors"]] == ["phones", "laptop"]
    assert hub["connectors"][0]["mapping"] == {"custom.trade": "X-TRADE"}
    cli("sync", "team", db=db)
    code, out = cli("hubs", db=db)
    assert code == 0 and "team: conflict newest" in out and "last run 1 applied" in out and str(a) in out


def test_a_store_that_refuses_writes_is_one_error_line(setup: tuple[str, Path, Path, Path]) -> None:
    db, a, _, _ = setup
    (a / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@example.com"))
    read_only = "sqlite:///file:" + db.removeprefix("sqlite:///") + "?mode=ro&uri=true"
    code, out = cli("sync", "team", db=read_only)
    assert code != 0 and "Traceback" not in out
    # (with what becomes of a run it stopped, and what to do: the next test)
    assert (
        out.strip()
        .splitlines()[-1]
        .startswith("error: the store cannot be used: attempt to write a readonly database; ")
    )


@pytest.mark.parametrize("as_json", [False, True])
def test_a_store_lost_mid_run_is_one_line_without_anyones_data(
    setup: tuple[str, Path, Path, Path], caplog: pytest.LogCaptureFixture, as_json: bool
) -> None:
    """QA: PostgreSQL restarted mid-sync; recording the run's failure failed too, and the
    command printed four chained tracebacks, SQLAlchemy's ``[parameters: ...]`` among them
    (people's emails, on the terminal and in cron's mail), before its error line. Here the
    SQLite store fails (as a disk gone does) from the first statement carrying Ann's email,
    for good: one line says so and what becomes of the run, no traceback anywhere, her
    email nowhere; the next sync, the store back, finishes the run."""
    import logging
    import sqlite3

    from sqlalchemy import Engine, event

    db, a, b, _ = setup
    email = "ann.private@example.com"
    (a / "ann.vcf").write_text(card("ann", "Ann", "Lee", email))
    gone = False

    def lost(conn: Any, cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        nonlocal gone
        gone = gone or email in repr(parameters)
        if gone:
            raise sqlite3.OperationalError("disk I/O error")

    caplog.set_level(logging.INFO)
    event.listen(Engine, "before_cursor_execute", lost)
    try:
        result = runner.invoke(app, ["--database", db, "sync", "team", *(["--json"] if as_json else [])])
    finally:
        event.remove(Engine, "before_cursor_execute", lost)
    assert gone and result.exit_code == 2, result.output
    said = (
        "the store cannot be used: disk I/O error; a run it cut short is finished by the next"
        " 'contacthub sync team', with nothing made twice; check the database, then run the"
        " command again"
    )
    lines = result.output.strip().splitlines()
    assert lines[-1] == f"error: {said}"
    if as_json:
        assert len(lines) == 2 and json.loads(lines[0])["errors"][0]["message"] == said
    else:
        assert len(lines) == 1
    logged = "\n".join(caplog.text.splitlines() + [r.getMessage() for r in caplog.records])
    assert email not in result.output + logged and "Traceback" not in result.output + logged
    assert not [r for r in caplog.records if r.exc_info]
    [note] = [r for r in caplog.records if "could not be recorded" in r.getMessage()]
    assert note.levelno == logging.INFO and "disk I/O error" in note.getMessage()

    code, out = cli("sync", "team", db=db)
    assert code == 0 and "run 2: applied" in out, out
    [first] = [r for r in json.loads(cli("runs", "team", "--json", db=db)[1]) if r["id"] == 1]
    assert first["status"] not in ("running", "applying")
    assert [p["email"] for p in read_cards(b).values()] == [email]


def test_a_password_written_into_a_url_is_kept_as_a_credential(tmp_path: Path) -> None:
    """Stored encrypted with the other credentials, never listed, never in the settings."""
    hub = tmp_path / "hub.toml"
    hub.write_text(
        '[[hubs.s.connectors]]\nname = "dav"\ntype = "carddav"\n'
        'url = "https://alice:S3cret%40PW@dav.example.com/books/"\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli("apply", str(hub), db=db)[0] == 0
    for args in (("hubs",), ("hubs", "--json")):
        code, out = cli(*args, db=db)
        assert code == 0 and "S3cret" not in out and "dav.example.com/books/" in out
    assert b"S3cret" not in (tmp_path / "hub.db").read_bytes()
    assert cli("apply", str(hub), db=db)[1].strip() == "nothing changed"  # applied again
    from contacthub.store import secrets
    from contacthub.store.db import open_database
    from contacthub.store.repo import Store

    with open_database(db).connect() as conn:
        store = Store(conn)
        [row] = store.connectors(store.hub("s").id)
    assert secrets.decrypt(row.secrets, "dav") == {"password": "S3cret@PW"}
    assert row.settings == {"url": "https://dav.example.com/books/", "username": "alice"}


@pytest.mark.parametrize("field", ["token", "access_token", "key", "apikey", "password", "secret", "sig"])
def test_a_token_in_a_urls_query_is_never_listed(tmp_path: Path, field: str) -> None:
    """A CardDAV ``url`` with ``?token=...`` was listed by ``hubs`` (and the API, the
    dashboard) as written, and stored in clear. Every query value is shown and stored
    masked; the URL as written is kept encrypted, for the connector."""
    url = f"https://dav.example.com/books/?user=ann&{field}=Tq7-secret%2Bvalue"
    hub = tmp_path / "hub.toml"
    hub.write_text(f'[[hubs.s.connectors]]\nname = "dav"\ntype = "carddav"\nurl = "{url}"\n')
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    code, out = cli("apply", str(hub), db=db)
    assert code == 0 and "Tq7" not in out, out
    for args in (("hubs",), ("hubs", "--json")):
        code, out = cli(*args, db=db)
        assert code == 0 and "Tq7" not in out, out
        assert f"https://dav.example.com/books/?user=********&{field}=********" in out
    from contacthub.store import secrets
    from contacthub.store.db import open_database
    from contacthub.store.repo import Store

    with open_database(db).connect() as conn:
        store = Store(conn)
        [row] = store.connectors(store.hub("s").id)
    assert row.settings == {"url": f"https://dav.example.com/books/?user=********&{field}=********"}
    assert secrets.decrypt(row.secrets) == {"url": url}
    assert cli("apply", str(hub), db=db)[1].strip() == "nothing changed"


def test_a_password_in_the_url_of_a_connector_that_takes_none_is_refused(tmp_path: Path) -> None:
    """A Pipedrive ``base_url`` with ``user:password@`` was stored in clear and its password
    printed in every error that named the address."""
    hub = tmp_path / "hub.toml"
    hub.write_text(
        '[[hubs.s.connectors]]\nname = "pd"\ntype = "pipedrive"\napi_token = "tok"\n'
        'base_url = "http://user:HUNTER2PW@127.0.0.1:9/"\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    code, out = cli("apply", str(hub), db=db)
    assert code != 0 and "HUNTER2PW" not in out and "Traceback" not in out
    assert "connector 'pd': base_url holds a password" in out
    assert not (tmp_path / "hub.db").exists() or b"HUNTER2PW" not in (tmp_path / "hub.db").read_bytes()


@pytest.mark.parametrize(
    "command",
    ["apply", "sync", "runs", "show", "conflicts", "resolve", "approve", "reject", "undo", "demo", "emulate"],
)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], prog_name="contacthub")
    assert result.exit_code == 0, result.output
    assert f"Usage: contacthub {command}" in result.output


def test_an_arguments_help_is_shown() -> None:
    """Click 8.5 set an argument's help back to none after Typer 0.25 had set it: ``apply
    --help`` said nothing of FILE (click is pinned below 8.5)."""
    result = runner.invoke(app, ["apply", "--help"], prog_name="contacthub", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "TOML hub file" in result.output


def test_emulate_help_names_the_systems() -> None:
    """``emulate --help`` named no system (its argument's help is not shown with Click
    8.5): nothing said what SYSTEM could be but an error after a wrong guess (QA)."""
    from contacthub.emulators import SYSTEMS

    result = runner.invoke(app, ["emulate", "--help"], prog_name="contacthub", env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "SYSTEM is m365, pipedrive or procore." in " ".join(result.output.split())
    assert sorted(SYSTEMS) == ["m365", "pipedrive", "procore"]


def _commands(group: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the app, subcommands of ``user`` and ``token`` included."""
    import click

    out = []
    for name, command in sorted(getattr(group, "commands", {}).items()):
        out.append((*path, name))
        if isinstance(command, click.Group):
            out += _commands(command, (*path, name))
    return out


def test_the_help_texts_say_what_a_command_does_not_its_history() -> None:
    """``webhooks --help`` read "a Graph URL printed for a Procore connector was one more
    thing to paste in the wrong place": the docstring's why, shown as the help (QA). The
    why goes into comments; the help of every command and option says what it does."""
    import typer.main

    group = typer.main.get_command(app)
    commands = _commands(group)
    assert ("webhooks",) in commands and ("token", "create") in commands
    for command in commands:
        result = runner.invoke(app, [*command, "--help"], prog_name="contacthub", env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.split())
        for word in (" was ", " were ", "(QA)"):
            assert word not in text, f"{' '.join(command)} --help: {text}"


def test_every_option_of_every_command_is_in_the_readme() -> None:
    """``connect --no-browser``, ``worker --name`` and ``--log-level``, ``token create
    --name``, ``token list --user``, ``demo --port``: options --help lists that the README
    never named (QA). Each option, in one of its spellings, is in the README."""
    import click
    import typer.main

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    missing = []
    for command in _commands(typer.main.get_command(app)):
        found = typer.main.get_command(app)
        for name in command:
            found = found.commands[name]  # type: ignore[attr-defined]
        for param in found.params:
            spellings = [o for o in (*param.opts, *param.secondary_opts) if o.startswith("--")]
            if not isinstance(param, click.Option) or spellings == ["--help"]:
                continue
            if not any(re.search(re.escape(o) + r"(?![\w-])", readme) for o in spellings):
                missing.append(f"{' '.join(command)} {spellings[0]}")
    assert not missing, missing


def test_undoing_a_deletion_brings_the_cards_back_whole(setup: tuple[str, Path, Path, Path]) -> None:
    """What only the laptop's copy held (a photo added there) is back after the undo."""
    db, a, b, _ = setup
    (a / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@example.com"))
    (a / "bob.vcf").write_text(card("bob", "Bob", "Ray", "bob@example.com"))
    cli("sync", "team", db=db)
    copy = next(p for p in b.glob("*.vcf") if "Ann" in p.read_text())
    copy.write_text(
        copy.read_text().replace("END:VCARD", "PHOTO;VALUE=uri:https://x.example/ann.jpg\r\nEND:VCARD")
    )
    cli("sync", "team", db=db)
    (a / "ann.vcf").unlink()
    deleted = json.loads(cli("sync", "team", "--json", db=db)[1])
    assert deleted["changes"]["laptop"]["delete"] == 1 and not copy.exists()
    code, out = cli("undo", str(deleted["run"]), db=db)
    assert code == 0, out
    [back] = [p for p in b.glob("*.vcf") if "Ann" in p.read_text()]
    assert "PHOTO;VALUE=uri:https://x.example/ann.jpg" in back.read_text()
    assert (a / "ann.vcf").exists() or any("Ann" in p.read_text() for p in a.glob("*.vcf"))


def test_an_undo_can_be_seen_first_with_dry_run(setup: tuple[str, Path, Path, Path]) -> None:
    """An undo of a first copy deletes every copy it made, in every connector, and the
    delete hold does not apply to it: ``undo --dry-run`` shows that and writes nothing;
    the real undo is still possible after it."""
    db, a, b, _ = setup
    for name in ("ann", "bob", "cy"):
        (a / f"{name}.vcf").write_text(card(name, name.title(), "Lee", f"{name}@example.com"))
    first = json.loads(cli("sync", "team", "--json", db=db)[1])
    assert first["changes"]["laptop"]["create"] == 3
    before = {p.name: p.read_bytes() for folder in (a, b) for p in folder.glob("*.vcf")}

    code, out = cli("undo", str(first["run"]), "--dry-run", "--json", db=db)
    assert code == 0, out
    planned = json.loads(out)
    assert planned["status"] == "planned"
    assert planned["changes"]["laptop"]["delete"] == 3 and planned["changes"]["hub"]["delete"] == 3
    assert {p.name: p.read_bytes() for folder in (a, b) for p in folder.glob("*.vcf")} == before
    shown = json.loads(cli("show", str(planned["run"]), "--json", db=db)[1])
    assert sum(1 for c in shown["journal"] if c["connector"] == "laptop" and c["op"] == "delete") == 3
    assert json.loads(cli("sync", "team", "--json", db=db)[1])["changes"] == {}  # nothing undone

    code, out = cli("undo", str(first["run"]), "--json", db=db)
    assert code == 0 and json.loads(out)["status"] == "applied", out
    assert list(b.glob("*.vcf")) == [] and len(list(a.glob("*.vcf"))) == 3


def test_a_dry_run_makes_no_folder_that_create_would_make(tmp_path: Path) -> None:
    """``create = true`` made a missing vCard folder in the pull, so a dry run, which
    writes nothing, left an empty folder behind (on a mount a person was only checking).
    The first write makes it now."""
    a, new = tmp_path / "a", tmp_path / "mnt" / "new"
    a.mkdir()
    (a / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@example.com"))
    hub = tmp_path / "hub.toml"
    hub.write_text(
        f'[[hubs.t.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
        f'[[hubs.t.connectors]]\nname = "n"\ntype = "vcard-dir"\npath = "{new}"\ncreate = true\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli("apply", str(hub), db=db)[0] == 0
    code, out = cli("sync", "t", "--dry-run", "--json", db=db)
    assert code == 0 and json.loads(out)["changes"]["n"]["create"] == 1, out
    assert not (tmp_path / "mnt").exists()
    code, out = cli("sync", "t", "--json", db=db)
    assert code == 0 and json.loads(out)["changes"]["n"]["create"] == 1, out
    assert [p.read_text().count("ann@example.com") for p in new.glob("*.vcf")] == [1]
    assert json.loads(cli("sync", "t", "--json", db=db)[1])["changes"] == {}


def test_a_record_let_go_is_said_in_the_report(tmp_path: Path) -> None:
    """A card edited out of its connector's filter is let go, and its edit goes nowhere, as
    documented; the run's report said "no changes" all the same."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@example.com"))
    hub = tmp_path / "hub.toml"
    only = '{all = [{field = "email", op = "ends_with", value = "@example.com"}]}'
    hub.write_text(
        f'[[hubs.t.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
        f'[[hubs.t.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{b}"\nfilter = {only}\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert cli("apply", str(hub), db=db)[0] == 0
    assert cli("sync", "t", db=db)[0] == 0
    [copy] = b.glob("*.vcf")
    copy.write_text(copy.read_text().replace("ann@example.com", "ann@elsewhere.org"))
    code, out = cli("sync", "t", db=db)
    assert code == 0, out
    assert "no changes" in out and "b: 1 record(s) let go (out of its filter" in out
    assert "let go" not in cli("sync", "t", db=db)[1]


def test_apply_waits_for_a_run_of_the_hub(setup: tuple[str, Path, Path, Path]) -> None:
    """A connector removed by ``apply`` under a running run failed the run half-way with a
    foreign-key traceback and left it "applying" (QA): apply waits for the run to end."""
    import threading
    import time

    from contacthub.scheduler.lock import hub_lock
    from contacthub.store.db import open_database

    db, _, _, hub = setup
    hub.write_text(hub.read_text().split('[[hubs.team.connectors]]\nname = "laptop"')[0])
    running = threading.Event()

    def a_run() -> None:  # holds the hub's lock a while, as a run does
        with hub_lock(open_database(db), "team"):
            running.set()
            time.sleep(1.0)

    thread = threading.Thread(target=a_run)
    thread.start()
    running.wait(5)
    start = time.monotonic()
    code, out = cli("apply", str(hub), db=db)
    waited = time.monotonic() - start
    thread.join()
    assert code == 0, out
    assert "connector team/laptop: removed" in out and "waiting for it to end" in out
    assert waited >= 0.5


def test_a_record_written_back_is_not_said_to_be_let_go(setup: tuple[str, Path, Path, Path]) -> None:
    """Every unlink was counted as a record let go: a card deleted in one folder and edited
    in the other is written back (modification beats deletion), and the report said it
    was let go (QA)."""
    db, a, b, _ = setup
    (a / "ann.vcf").write_text(card("ann", "Ann", "Lee", "ann@example.com"))
    (a / "bob.vcf").write_text(card("bob", "Bob", "Roe", "bob@example.com"))  # (not emptied)
    cli("sync", "team", db=db)
    [copy] = [p for p in b.glob("*.vcf") if "Ann" in p.read_text()]
    (a / "ann.vcf").unlink()
    copy.write_text(copy.read_text().replace("END:VCARD", "TITLE:Foreman\r\nEND:VCARD"))
    code, out = cli("sync", "team", db=db)
    assert code == 0, out
    assert sorted(p.read_text().count("Foreman") for p in a.glob("*.vcf")) == [0, 1]  # written back
    assert "let go" not in out, out


def test_sync_json_prints_one_object_when_no_run_can_start(setup: tuple[str, Path, Path, Path]) -> None:
    """``sync --json`` of an unknown hub printed only a line on stderr: a script parsing
    stdout got an empty string where the README promises one JSON object (QA)."""
    db, _, _, _ = setup
    proc = subprocess.run(
        [sys.executable, "-m", "contacthub", "--database", db, "sync", "taem", "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "no hub named 'taem'" in proc.stderr
    said = json.loads(proc.stdout)
    assert said["run"] is None and said["status"] == "failed" and said["changes"] == {}
    assert said["errors"] == [{"connector": "hub", "record": "", "message": proc.stderr[7:].strip()}]


@pytest.mark.parametrize(
    "args",
    [
        ["sync", "team", "--json"],
        ["sync", "team", "--queue", "--json"],
        ["approve", "1", "--json"],
        ["reject", "1", "--json"],
        ["undo", "1", "--json"],
    ],
)
def test_the_json_object_is_printed_for_a_store_missing_or_not_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """A store file that is not there, and ``--database ""``, ended ``sync --json`` with a
    line on stderr and nothing on stdout, where the README promises the object with "run":
    null (QA); ``approve``, ``reject`` and ``undo --json`` print the same run report, and
    now the same object. Neither makes a store."""
    monkeypatch.setenv("CONTACTHUB_HOME", str(tmp_path / "home"))
    missing = tmp_path / "typo.db"
    for database, said in (
        (f"sqlite:///{missing}", f"no store at {missing}"),
        ("", "--database is empty"),
    ):
        result = runner.invoke(app, ["--database", database, *args])
        assert result.exit_code == 2, result.output
        assert f"error: {said}" in result.stderr
        out = json.loads(result.stdout)
        [error] = out["errors"]
        assert error["connector"] == "hub" and error["message"].startswith(said)
        if "--queue" in args:
            assert out["hub"] == "team" and out["queued"] is False
        else:
            assert out["run"] is None and out["status"] == "failed" and out["changes"] == {}
    assert not missing.exists() and not (tmp_path / "home").exists()


def test_the_json_object_is_printed_for_an_unknown_run_or_a_queued_dry_run(
    setup: tuple[str, Path, Path, Path],
) -> None:
    """``approve``/``reject``/``undo --json`` of a run that is not there, and ``sync
    --queue --dry-run --json`` (refused before it reached the broker), printed no object."""
    db, _, _, _ = setup
    for verb in ("approve", "reject", "undo"):
        result = runner.invoke(app, ["--database", db, verb, "99", "--json"])
        assert result.exit_code == 2 and "no run 99" in result.stderr, result.output
        out = json.loads(result.stdout)
        assert out["run"] is None and "no run 99" in out["errors"][0]["message"]
    result = runner.invoke(app, ["--database", db, "sync", "team", "--queue", "--dry-run", "--json"])
    assert result.exit_code == 2, result.output
    out = json.loads(result.stdout)
    assert out["queued"] is False and "a dry run is done here" in out["errors"][0]["message"]


def _interrupt(args: list[str], db: str, started: Callable[[], bool]) -> subprocess.CompletedProcess[str]:
    """Run ``contacthub`` with ``args``, send it SIGINT (Ctrl-C) once ``started()`` says its
    run is under way, and return how it ended."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "contacthub", "--database", db, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not started() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip(f"{args[0]} ended before the interrupt reached it")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_ctrl_c_in_a_sync_or_an_undo_says_what_to_do_and_the_next_run_finishes(
    setup: tuple[str, Path, Path, Path],
) -> None:
    """Ctrl-C in a long sync (or undo, approve, apply) ended with exit 130 and not a word
    (Typer's own handling): the person did not know what state the hub was in, or what to
    do; ``sync --json`` printed no JSON at all (QA)."""
    db, a, b, _ = setup
    for i in range(3000):
        (a / f"p{i}.vcf").write_text(card(f"p{i}", f"Given{i}", f"Family{i}", f"p{i}@example.com"))
    done = _interrupt(["sync", "team", "--json"], db, lambda: any(b.iterdir()))
    # 130, or ended by the signal itself once it was said (-2: a shell shows both as 130)
    assert done.returncode in (130, -2) and "Traceback" not in done.stderr, done.stderr
    said = "interrupted: the run stopped part way; the next 'contacthub sync team' finishes it"
    assert said in done.stderr
    out = json.loads(done.stdout)
    assert out["run"] is None and out["status"] == "failed" and said in out["errors"][0]["message"]
    code, out = cli("sync", "team", "--json", db=db)
    assert code == 0, out
    cards = read_cards(b)
    assert len(cards) == 3000 and len({c["email"] for c in cards.values()}) == 3000
    finished = json.loads(out)["run"]
    import sqlite3

    def undo_started() -> bool:  # its run is in the store: past start-up, in the work
        with contextlib.closing(sqlite3.connect(db.removeprefix("sqlite:///"))) as store:
            return bool(store.execute("SELECT count(*) FROM runs WHERE kind = 'undo'").fetchone()[0])

    done = _interrupt(["undo", str(finished)], db, undo_started)
    # 130, or ended by the signal itself once it was said (-2: a shell shows both as 130)
    assert done.returncode in (130, -2) and "Traceback" not in done.stderr, done.stderr
    assert "interrupted: nothing more was done; a run it cut short" in done.stderr
    code, out = cli("sync", "team", db=db)
    assert code == 0, out


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_whose_run_fails_leaves_the_run_held(
    setup: tuple[str, Path, Path, Path], decision: str
) -> None:
    """QA: ``approve`` of a held run whose run failed (a folder not there just then) marked
    it "approved" with its deletions, though nothing was done, and it could no longer be
    approved or rejected. It is held again, and says so; decided once the folder is back."""
    db, a, b, _ = setup
    for i in range(10):
        (a / f"p{i}.vcf").write_text(card(f"p{i}", f"P{i}", "X", f"p{i}@example.com"))
    cli("sync", "team", db=db)
    for path in list(a.glob("*.vcf"))[:6]:
        path.unlink()
    code, out = cli("sync", "team", "--json", db=db)
    held = json.loads(out)["run"]
    assert code == 3
    b.rename(b.with_name("away"))  # an unmounted disk
    code, out = cli(decision, str(held), "--json", db=db)
    assert code == 1 and json.loads(out)["status"] == "failed", out
    code, out = cli("runs", "team", "--json", db=db)
    assert [r["status"] for r in json.loads(out) if r["id"] == held] == ["held"]
    b.with_name("away").rename(b)
    code, out = cli(decision, str(held), "--json", db=db)
    assert code == 0, out
    assert len(list(b.glob("*.vcf"))) == (4 if decision == "approve" else 10)


def test_an_empty_database_option_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--database "$DB_URL"`` with the variable unset ran against the default store."""
    monkeypatch.setenv("CONTACTHUB_HOME", str(tmp_path / "home"))
    for empty in ("", "  "):
        result = runner.invoke(app, ["--database", empty, "hubs"])
        assert result.exit_code == 2, result.output
        assert "error: --database is empty" in result.output
    assert not (tmp_path / "home").exists(), "the default store was not made"
    # an empty variable is an unset one: the default store, as for any other tool
    result = runner.invoke(app, ["hubs"], env={"CONTACTHUB_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "line",
    [
        'type = "carddav"\nurl = "http:/alice:SECRETPW@dav.example.com/"',
        'type = "carddav"\nurl = "alice:SECRETPW@dav.example.com/dav/"',
        'type = "carddav"\nurl = "dav.example.com/?token=SECRETPW"',
        'type = "carddav"\nurl = "http://alice:SECRETPW@[::1"',
        'type = "pipedrive"\napi_token = "t"\nbase_url = "https//alice:SECRETPW@api.example.com/"',
        'type = "pipedrive"\napi_token = "t"\noauth_url = "http://alice:SECRETPW@[zz]/"',
    ],
)
def test_apply_refuses_a_url_that_is_none_without_its_secret(tmp_path: Path, line: str) -> None:
    """It printed the refused URL whole, password or token and all."""
    hub = tmp_path / "hub.toml"
    hub.write_text(f'[[hubs.team.connectors]]\nname = "book"\n{line}\n')
    code, out = cli("apply", str(hub), db=f"sqlite:///{tmp_path / 'hub.db'}")
    assert code != 0 and "SECRETPW" not in out, out
    assert "book" in out and "url" in out and "********" in out, out


@pytest.mark.parametrize("extension", ["/../../escape.vcf", ".vcf\\u0000x", "../x", "."])
def test_apply_refuses_an_extension_that_is_no_plain_suffix(tmp_path: Path, extension: str) -> None:
    (tmp_path / "cards").mkdir()
    hub = tmp_path / "hub.toml"
    text = f'[[hubs.team.connectors]]\nname = "c"\ntype = "vcard-dir"\npath = "{tmp_path / "cards"}"\n'
    hub.write_text(text + f'extension = "{extension}"\n')
    code, out = cli("apply", str(hub), db=f"sqlite:///{tmp_path / 'hub.db'}")
    assert code != 0 and "'extension' must be a plain suffix" in out, out
    hub.write_text(text + 'extension = "vcard"\n')  # without its dot, as before: ".vcard"
    code, out = cli("apply", str(hub), db=f"sqlite:///{tmp_path / 'hub.db'}")
    assert code == 0, out
