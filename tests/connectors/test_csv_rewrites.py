"""What a rewrite of a user's CSV file leaves as the user wrote it: blank separator rows,
primary markers never typed, and which columns a mapping moved away from (QA)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contacthub.connectors.base import WriteOp
from contacthub.errors import RecordError
from tests.connectors.test_csv_file import connector_for, records


@pytest.mark.parametrize("blank", ["", ",,"])
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
