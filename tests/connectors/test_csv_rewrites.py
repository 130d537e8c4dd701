"""What a rewrite of a user's CSV file leaves as the user wrote it: blank separator rows,
primary markers never typed, and which columns a mapping moved away from (QA)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from contacthub.connectors.base import WriteOp
from contacthub.errors import RecordError
from tests.connectors.test_csv_file import connector_for, records


@pytest.mark.parametrize("blank", ["", ",,", "   ", "\t", " , ,"])
def test_blank_separator_rows_stay_where_they_were(tmp_path: Path, blank: str) -> None:
    path = tmp_path / "p.csv"
    lines = [
        "id,display_name,emails",
        "a,Ann,a@x.com",
        "b,Bob,b@x.com",
        blank,
        blank,
        "c,Cy,c@x.com",
        blank,
        "d,Di,d@x.com",
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    connector = connector_for(path)
    by_id = {r.native_id: r for r in records(connector)}
    assert set(by_id) == {"a", "b", "c", "d"}  # a blank row is no row
    c = by_id["c"]
    [res] = connector.write([WriteOp("update", "h", {**c.fields, "display_name": "Cyd"}, "c", c.version)])
    assert res.error is None
    want = [*lines[:5], "c,Cyd,c@x.com", *lines[6:]]
    assert path.read_bytes().decode().split("\r\n") == [*want, ""]
    # a deleted row's separator stays above the rows that follow it, and a new row goes last
    [res] = connector.write([WriteOp("delete", "h", {}, "c", res.version)])
    [new] = connector.write(
        [WriteOp("create", "e", {"display_name": "Eve", "emails": [{"type": "", "value": "e@x.com"}]})]
    )
    assert res.error is None and new.error is None
    assert path.read_bytes().decode().split("\r\n") == [*lines[:5], *lines[6:], "e,Eve,e@x.com", ""]
    assert {r.native_id for r in records(connector)} == {"a", "b", "d", "e"}
    # the lines a row is reported on still count the blank ones (a bad row after them)
    path.write_bytes(path.read_bytes() + b"f,Fay,f@x.com,too many\r\n")
    errors = [i for i in connector.pull(None, {}).records if isinstance(i, RecordError)]
    assert [e.record for e in errors] == [f"{path}:{len(lines) + 1}"]


GOOGLE = "Name,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,Phone 2 - Type,Phone 2 - Value"


def _google_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_a_google_row_without_primary_marks_gains_none_on_a_rewrite(tmp_path: Path) -> None:
    """The hub holds one primary of each list (``model.normalize_multi``: the first when the
    row marks none); written back, that primary got a ``* `` the user never wrote (QA)."""
    path = tmp_path / "google.csv"
    path.write_text(f"{GOOGLE}\r\nAnn Lee,Home,ann@x.test,Mobile,+1 555-201-0001,,\r\n", encoding="utf-8")
    connector = connector_for(path)
    [ann] = records(connector)
    phones = [*ann.fields["phones"], {"value": "+15552010009", "type": "work"}]
    emails = [*ann.fields["emails"], {"value": "ann@work.test", "type": "work"}]
    wanted = {**ann.fields, "phones": phones, "emails": emails}
    [res] = connector.write([WriteOp("update", "h", wanted, ann.native_id, ann.version)])
    assert res.error is None
    [row] = _google_rows(path)
    assert (row["Phone 1 - Type"], row["Phone 2 - Type"], row["E-mail 1 - Type"]) == (
        "Mobile",
        "Work",
        "Home",
    )
    assert res.fields is not None and res.fields["phones"][0]["value"] == "+15552010001"
    # a primary that really changed is marked
    [ann] = records(connector)
    phones = [{**p, "primary": p["value"] == "+15552010009"} for p in ann.fields["phones"]]
    [res] = connector.write(
        [WriteOp("update", "h", {**ann.fields, "phones": phones}, ann.native_id, ann.version)]
    )
    assert res.error is None
    [row] = _google_rows(path)
    assert (row["Phone 1 - Type"], row["Phone 2 - Type"]) == ("Mobile", "* Work")
    [ann] = records(connector)
    assert [p["value"] for p in ann.fields["phones"] if p.get("primary")] == ["+15552010009"]


def test_a_field_mapped_to_another_column_leaves_the_old_one_as_it_was_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Moving ``custom.trade`` from ``Trade`` to ``Craft`` writes the trade into ``Craft``;
    ``Trade`` is then a column the hub does not read, left as the user has it (the hub
    no longer owns it, and a mapping change forgets the cursor that knew it did), and each
    run names it as unread, so the stale copy is said, not silent."""
    path = tmp_path / "p.csv"
    path.write_text("id,display_name,Trade\r\na,Ann,plumber\r\n", encoding="utf-8")
    [ann] = records(connector_for(path, mapping={"custom.trade": "Trade"}))
    assert ann.fields["custom.trade"] == "plumber"
    moved = connector_for(path, mapping={"custom.trade": "Craft"})
    [res] = moved.write([WriteOp("update", "h", ann.fields, "a", None)])
    assert res.error is None
    assert path.read_bytes() == b"id,display_name,Trade,Craft\r\na,Ann,plumber,plumber\r\n"
    with caplog.at_level("WARNING", logger="contacthub.connectors.csv_file"):
        moved.check()
    assert any("'Trade'" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("header", "row", "edit", "typed"),
    [
        (
            GOOGLE,
            "Ann,Home,ann@x.test,Mobile,+1 555 201 0001,Work,+1 555 201 0002",
            "phones",
            "+1 555 201 0002",
        ),
        ("id,display_name,phones,emails", "a,Ann,+1 555 201 0002,=ann@x.test", "display_name", "=ann@x.test"),
        (
            "First Name,Mobile Phone,Business Phone",
            "Ann,+1 555 201 0001,+1 555 201 0002",
            "phones",
            "+1 555 201 0002",
        ),
    ],
)
def test_cells_whose_value_does_not_change_stay_as_typed(
    tmp_path: Path, header: str, row: str, edit: str, typed: str
) -> None:
    """A cell the user typed with a formula trigger (``+``, ``=``) and no guard quote is
    written back as typed when another value of the row changes; the quote went before it
    (QA). A value written new is guarded."""
    path = tmp_path / "p.csv"
    path.write_bytes(f"{header}\r\n{row}\r\n".encode())
    connector = connector_for(path)
    [rec] = records(connector)
    fields = dict(rec.fields)
    if edit == "phones":
        fields["phones"] = [
            {**p, "value": "+15552010009"} if p["value"].endswith("0001") else p for p in fields["phones"]
        ]
    else:
        fields["display_name"] = "Annie"
    [res] = connector.write([WriteOp("update", "h", fields, rec.native_id, rec.version)])
    assert res.error is None
    text = path.read_bytes().decode()
    assert f",{typed}" in text and f"'{typed}" not in text
    assert ("'+15552010009" in text or "Annie" in text) and text != f"{header}\r\n{row}\r\n"


@pytest.mark.parametrize(
    "header", ["Title,First Name,Last Name,E-mail Address", "Title,First Name,Last Name,Company"]
)
def test_a_sheet_of_plain_spellings_starting_with_title_stays_plain(tmp_path: Path, header: str) -> None:
    """QA: read as a trimmed Outlook export (6a95a27, reverted), a sheet already synced as
    plain changed its reading on the upgrade: ``Title`` became the name prefix, and the
    next edit of a row deleted its person everywhere and made them again, with what other
    systems held of them lost. It stays plain; ``format = "outlook"`` reads an export so."""
    path = tmp_path / "book.csv"
    cells = {"Title": "Manager", "First Name": "Bob", "Last Name": "Ray"}
    cells |= {"E-mail Address": "bob@x.test", "Company": "Acme"}
    path.write_text(f"{header}\r\n{','.join(cells[c] for c in header.split(','))}\r\n", encoding="utf-8")
    connector = connector_for(path)
    [bob] = records(connector)
    assert connector._header()[0] == "plain" and bob.fields["job_title"] == "Manager"
    outlook = connector_for(path, format="outlook")
    [as_export] = records(outlook)
    assert as_export.fields["name_prefix"] == "Manager" and "job_title" not in as_export.fields
