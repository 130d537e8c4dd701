"""A hub of two CSV files, run through the command line: a run over files byte for byte as
the hub last read and wrote them parses neither (``bench/csv_big.py``: 50,000 rows took
3.6 s and 231 MB to find nothing changed), while a file another program edited, a bad
row, a new mapping and a run killed after its write are read as before."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from contacthub.connectors import csv_store
from tests.sheets import HubCli, app, runner

HEADER = "id,display_name,given_name,family_name,emails,notes,Trade"


def _row(i: int) -> str:
    return f"r{i},Person {i},Person,{i},work:p{i}@example.com,note {i},trade {i}"


@dataclass
class Two(HubCli):
    db: str
    source: Path
    target: Path
    hub: Path

    def apply(self, source_settings: str = "") -> None:
        self.hub.write_text(
            f"""
[[hubs.h.connectors]]
name = "source"
type = "csv"
path = "{self.source}"
format = "plain"
{source_settings}

[[hubs.h.connectors]]
name = "target"
type = "csv"
path = "{self.target}"
format = "plain"
create = true
"""
        )
        self.cli("apply", str(self.hub))

    def target_rows(self) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.target.read_text(encoding="utf-8"))))


def two(tmp_path: Path, rows: list[str]) -> Two:
    """The hub applied, the source file holding ``rows`` under ``HEADER``; not yet synced."""
    source = tmp_path / "source.csv"
    source.write_text("\r\n".join([HEADER, *rows]) + "\r\n", encoding="utf-8")
    made = Two(f"sqlite:///{tmp_path / 'hub.db'}", source, tmp_path / "target.csv", tmp_path / "hub.toml")
    made.apply()
    return made


def _touch(*paths: Path) -> None:
    for path in paths:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))


def test_a_run_after_the_first_copy_parses_neither_file(tmp_path: Path, parses: list[int]) -> None:
    """The run after the first copy found the target at another stat key than its pull's
    (the hub had written it since) and read it whole; and every run read both files whole
    once more to check them. Now the cursor saved is the one of the file the run wrote."""
    hub = two(tmp_path, [_row(i) for i in range(1, 21)])
    assert hub.sync()["changes"]["target"]["create"] == 20
    parses[0] = 0
    report = hub.sync()
    assert report["changes"] == {} and report["errors"] == [] and parses == [0]


def test_a_touch_reads_nothing_and_an_edit_by_another_program_is_read(
    tmp_path: Path, parses: list[int]
) -> None:
    hub = two(tmp_path, [_row(i) for i in range(1, 11)])
    hub.sync()
    hub.sync()
    _touch(hub.source, hub.target)
    parses[0] = 0
    assert hub.sync()["changes"] == {} and parses == [0]
    rows = hub.target_rows()
    rows[3]["notes"] = "edited elsewhere"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    hub.target.write_text(out.getvalue(), encoding="utf-8")
    report = hub.sync()
    assert report["changes"]["source"]["update"] == 1 and parses[0] >= 1
    assert "edited elsewhere" in hub.source.read_text(encoding="utf-8")
    parses[0] = 0  # the hub's own write into the source is not read back
    assert hub.sync()["changes"] == {} and parses == [0]


def test_a_bad_row_is_reported_on_every_run_until_it_is_fixed(tmp_path: Path, parses: list[int]) -> None:
    """Said only by the run that first read it, a bad row was forgotten by every run after
    (the file unchanged, nothing read): it is said again by each, reading nothing, until
    the row is fixed."""
    rows = [_row(i) for i in range(1, 6)]
    rows[2] += ",one cell too many"  # (file line 4)
    hub = two(tmp_path, rows)
    first = hub.sync()
    said = [(e["connector"], e["record"]) for e in first["errors"]]
    assert said == [("source", f"{hub.source}:4")] and first["changes"]["target"]["create"] == 4
    parses[0] = 0
    again = hub.sync()
    assert [(e["connector"], e["record"]) for e in again["errors"]] == said and parses == [0]
    assert again["errors"][0]["message"] == first["errors"][0]["message"]
    hub.source.write_text(hub.source.read_text(encoding="utf-8").replace(",one cell too many", ""), "utf-8")
    fixed = hub.sync()
    assert fixed["errors"] == [] and fixed["changes"]["target"]["create"] == 1
    quiet = hub.sync()
    assert quiet["errors"] == [] and quiet["changes"] == {}


def test_a_changed_mapping_reads_the_unchanged_file_again(tmp_path: Path, parses: list[int]) -> None:
    """A mapping changed in the hub file forgets the cursor (``config._reconsider``): the
    next run reads every row of the file, unchanged as it is, under the new mapping."""
    hub = two(tmp_path, [_row(i) for i in range(1, 6)])
    hub.sync()
    hub.sync()
    hub.apply('mapping = {"custom.trade" = "Trade"}')
    parses[0] = 0
    report = hub.sync()
    assert report["changes"]["target"]["update"] == 5 and parses[0] >= 1
    assert sorted(row["custom.trade"] for row in hub.target_rows()) == [f"trade {i}" for i in range(1, 6)]
    parses[0] = 0
    assert hub.sync()["changes"] == {} and parses == [0]


def test_a_run_killed_after_writing_the_target_is_read_again(
    tmp_path: Path, parses: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target replaced, then the run ends before it is applied (as when killed): no
    cursor is saved, so the next run, given the one before, reads the target and finds
    the hub's own edit there (no conflict, no second copy)."""
    hub = two(tmp_path, [_row(i) for i in range(1, 6)])
    hub.sync()
    hub.sync()
    hub.source.write_text(hub.source.read_text(encoding="utf-8").replace("note 2", "note 2 new"), "utf-8")
    real = csv_store.CsvStore._replace

    def then_die(self: csv_store.CsvStore, data: bytes) -> str:
        real(self, data)
        raise RuntimeError("killed")

    monkeypatch.setattr(csv_store.CsvStore, "_replace", then_die)
    assert runner.invoke(app, ["--database", hub.db, "sync", "h", "--json"]).exit_code != 0
    assert "note 2 new" in hub.target.read_text(encoding="utf-8")
    monkeypatch.setattr(csv_store.CsvStore, "_replace", real)
    parses[0] = 0
    report = hub.sync()
    assert report["status"] == "applied" and report["errors"] == [] and parses[0] >= 1
    notes = sorted(row["notes"] for row in hub.target_rows())
    assert notes == ["note 1", "note 2 new", "note 3", "note 4", "note 5"]
    parses[0] = 0
    assert hub.sync()["changes"] == {} and parses == [0]


def test_an_edit_that_keeps_the_files_size_and_mtime_is_read(tmp_path: Path) -> None:
    """QA: after the hub wrote the target, another program changed a name in it in place,
    same length, and its mtime stayed as it was (a restored mtime, or a file system whose
    mtimes tick in seconds: FAT, SMB): the stat key matched the cursor's, and the edit
    was never read while the file stayed so. The bytes' hash decides."""
    hub = two(tmp_path, [_row(1), _row(2)])
    hub.sync()
    assert hub.sync()["changes"] == {}
    st = hub.target.stat()
    text = hub.target.read_text(encoding="utf-8")
    assert "Person 2" in text
    with hub.target.open("r+", encoding="utf-8", newline="") as out:  # in place: same inode
        out.write(text.replace("Person 2", "Persox 2"))
    os.utime(hub.target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert hub.target.stat().st_size == st.st_size
    report = hub.sync()
    assert report["changes"].get("hub", {}).get("update") == 1, report
    assert "Persox 2" in hub.source.read_text(encoding="utf-8")
