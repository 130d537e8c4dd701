"""Cell values of CSV exports: dates as Outlook and European spreadsheets write them, and a
cell's text as the hub reads it."""

from __future__ import annotations

import pytest

from contacthub.formats.csv_cells import parse_date, read_cell


@pytest.mark.parametrize(
    "text,expect",
    [
        ("3/14/1980", "1980-03-14"),  # Outlook: month first
        ("14.3.1980", "1980-03-14"),  # European: day first
        ("2/29/2004", "2004-02-29"),
        ("0/0/00", ""),  # Outlook's "no date"
        ("2/29/2001", "2/29/2001"),  # no such day: kept as written, never an invalid ISO date
        ("4/31/1990", "4/31/1990"),
        ("3/4/80", "3/4/80"),  # a two-digit year: which century is a guess
        ("1980-03-14", "1980-03-14"),
    ],
)
def test_parse_date(text: str, expect: str) -> None:
    assert parse_date(text) == expect


@pytest.mark.parametrize(
    "cell,expect",
    [
        ("line 1\rline 2", "line 1\nline 2"),  # a lone CR (old Mac) is a line break
        ("line 1\r\nline 2\rline 3", "line 1\nline 2\nline 3"),  # a CRLF is one
        ("'\rnote", "\nnote"),  # the formula guard first, then the break
        ("'=1+2", "=1+2"),
        ("plain", "plain"),
    ],
)
def test_read_cell(cell: str, expect: str) -> None:
    assert read_cell(cell) == expect
