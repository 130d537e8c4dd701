"""Cell values of CSV exports: dates as Outlook and European spreadsheets write them, and a
cell's text as the hub reads it."""

from __future__ import annotations

import pytest

from contacthub.formats.csv_cells import (
    DATE_STYLES,
    DateOrderError,
    date_order,
    date_style,
    format_date,
    parse_date,
    read_cell,
    spell_phone,
    split_emails,
)


def style_order(style: str) -> str:
    """The order a file spelling its dates in ``style`` reads them in (``parse_date``)."""
    return "dmy" if style.startswith("d") else "ymd" if style.startswith("y") else "mdy"


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
        (" --12-25", "--12-25"),  # Google's date without a year
        ("--12-25", "--12-25"),
        ("--13-25", "--13-25"),  # no such month: kept as written
    ],
)
def test_parse_date(text: str, expect: str) -> None:
    assert parse_date(text) == expect


@pytest.mark.parametrize(
    "text,order,expect",
    [
        ("3/4/1980", "mdy", "1980-03-04"),  # Outlook (US)
        ("3/4/1980", "dmy", "1980-04-03"),  # Outlook (UK): 3 April
        ("25/12/1980", "dmy", "1980-12-25"),
        ("25/12/1980", "mixed", "1980-12-25"),  # a date one way only is that date
        ("12/25/1980", "mixed", "1980-12-25"),
        ("5/5/1980", "mixed", "1980-05-05"),  # the same both ways
        ("5/5/1980", "ymd", "1980-05-05"),
        ("14.3.1980", "mdy", "1980-03-14"),  # dotted: day first whatever the order
        ("02.01.1980", "mdy", "1980-01-02"),
        ("02.01.1980", "dmy", "1980-01-02"),
        ("1980-03-04", "dmy", "1980-03-04"),  # ISO: ISO
        ("1980/12/25", "mdy", "1980-12-25"),  # year first, as Japanese Windows writes it
        ("1980/1/2", "dmy", "1980-01-02"),
        ("1980/13/2", "ymd", "1980/13/2"),  # no such month: kept as written
        ("31/4/1990", "dmy", "31/4/1990"),  # no such day either way: kept as written
        ("0/0/00", "dmy", ""),
        ("3/4/80", "dmy", "3/4/80"),
    ],
)
def test_parse_date_in_an_order(text: str, order: str, expect: str) -> None:
    assert parse_date(text, order) == expect


@pytest.mark.parametrize(
    "text,order,says",
    [
        ("3/4/1980", "mixed", "date_order"),  # both ways, in a file of both orders
        ("12/25/1980", "dmy", "date_order = 'dmy'"),  # the setting says it is no date
        ("25/12/1980", "mdy", "date_order = 'mdy'"),
        ("3/4/1980", "ymd", "date_order = 'ymd'"),
    ],
)
def test_a_date_the_order_cannot_read_is_an_error_not_a_guess(text: str, order: str, says: str) -> None:
    with pytest.raises(DateOrderError, match=says):
        parse_date(text, order)


@pytest.mark.parametrize("text", ["31/31/1980", "tomorrow", "2/29/2001", "3/4/80", "1980-02-30", "--13-25"])
@pytest.mark.parametrize("order", ["dmy", "mdy", "ymd"])
def test_with_the_order_set_a_cell_that_is_no_date_is_an_error(text: str, order: str) -> None:
    """With ``date_order`` set (``strict``) text that is no date was kept as written: a
    birthday ``31/31/1980`` or ``tomorrow`` in every card (``BDAY:tomorrow``, no valid 3.0
    card). Without the setting it still is (``test_parse_date``)."""
    with pytest.raises(DateOrderError, match=f"{text!r} is no date .*date_order = {order!r}"):
        parse_date(text, order, strict=True)
    assert parse_date(text, order) == text
    assert format_date(text, strict=True) is None  # and never written into such a file


@pytest.mark.parametrize(
    "text,expect",
    [("25/12/1980", "1980-12-25"), ("1980-03-04", "1980-03-04"), (" --02-29", "--02-29"),
     ("14.3.1980", "1980-03-14"), ("1980/1/2", "1980-01-02"), ("0/0/00", ""), ("", "")],
)  # fmt: skip
def test_with_the_order_set_dates_and_empty_cells_read_as_before(text: str, expect: str) -> None:
    assert parse_date(text, "dmy", strict=True) == expect


@pytest.mark.parametrize(
    "cells,order",
    [
        ([], ""),
        (["3/4/1980", "1/2/1970", "1980-01-02", "14.3.1980"], ""),  # nothing tells
        (["3/4/1980", "25/12/1980"], "dmy"),  # a UK export
        (["3/4/1980", "12/25/1980"], "mdy"),
        (["25/12/1980", "12/25/1980", "3/4/1980"], "mixed"),
        (["31/4/1990", "2/29/2001", "25/12/80", "soon"], ""),  # no date either way
    ],
)
def test_date_order(cells: list[str], order: str) -> None:
    assert date_order(cells) == order


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


@pytest.mark.parametrize(
    "value,yearless,expect",
    [
        ("--02-03", True, " --02-03"),  # Google's spelling: no formula guard, no arithmetic
        ("--02-03", False, None),  # Outlook: no spelling for it
        ("1980-02-03", False, "1980-02-03"),
        ("spring", True, "spring"),
    ],
)
def test_format_date(value: str, yearless: bool, expect: str | None) -> None:
    assert format_date(value, "", yearless) == expect
    if expect:
        assert parse_date(expect) == value


@pytest.mark.parametrize(
    "cells,style",
    [
        ([], ""),  # no date: ISO, as before
        (["3/14/1980", "1/2/1970"], "m/d/yyyy"),  # Outlook
        (["03/14/1980", "12/25/1970"], "mm/dd/yyyy"),
        (["12/25/1970"], "m/d/yyyy"),  # padding unknown: Outlook's habit
        (["01.01.1990"], "dd.mm.yyyy"),  # the Japanese Outlook export of the corpus
        (["25.12.1990"], "dd.mm.yyyy"),  # padding unknown: the European habit
        (["1.1.1990", "14.3.1980"], "d.m.yyyy"),
        (["1980-01-02", "3/14/1980"], ""),  # as many of each: ambiguous
        (["1980-01-02", "3/14/1980", "1/2/1970"], "m/d/yyyy"),  # most of them
        (["0/0/00", "", "--02-03", " --02-03", "2/29/2001", "3/4/80", "soon"], ""),  # no dates
        (["1980/12/25", "1990/01/02"], "yyyy/mm/dd"),  # Japanese Windows
        (["1980/12/25", "1990/1/2"], "yyyy/m/d"),
    ],
)
def test_date_style(cells: list[str], style: str) -> None:
    assert date_style(cells) == style


@pytest.mark.parametrize(
    "cells,order,style",
    [
        (["25/12/1980"], "dmy", "dd/mm/yyyy"),  # padding unknown: the UK's habit
        (["25/12/1980", "3/4/1980"], "dmy", "d/m/yyyy"),
        (["25/12/1980", "03/04/1980"], "dmy", "dd/mm/yyyy"),
        (["25/12/1980", "12/24/1980"], "mixed", ""),  # a written 1/2/1980 could be read either way
        (["14.03.1980", "3/4/1980"], "mixed", "dd.mm.yyyy"),  # a cell of no known date says nothing
        (["1980/12/25", "3/4/1980"], "ymd", "yyyy/mm/dd"),  # 3/4/1980 is no date of this file
    ],
)
def test_date_style_in_the_files_order(cells: list[str], order: str, style: str) -> None:
    assert date_style(cells, order) == style


@pytest.mark.parametrize("style", DATE_STYLES)
@pytest.mark.parametrize(
    "value", ["1980-01-02", "1999-12-31", "2004-02-29", "1980-02-30", "--02-03", "spring"]
)
def test_a_date_written_in_a_style_reads_back_the_same(style: str, value: str) -> None:
    written = format_date(value, style)
    order = style_order(style)
    assert written is not None and parse_date(written, order) == value
    if value == "1980-01-02" and style:  # a day and month that say whether they are padded
        assert date_style([written], order) == style


@pytest.mark.parametrize(
    "value,templates,region,expect",
    [
        ("+15552019999", ["(555) 201-0004"], "US", "(555) 201-9999"),  # digit for digit
        ("+15552019999", ["", "555.401.0004"], "US", "555.201.9999"),  # the row's other cell
        ("+15552019999", ["1 555 401 0004"], "US", "(555) 201-9999"),  # other digits: usual notation
        ("+15552019999", ["'+15554010004"], "US", "+15552019999"),  # the row writes E.164
        ("+15552019999", [""], "US", "+15552019999"),  # nothing to go by
        ("+442079460000", ["(555) 201-0004"], "US", "+442079460000"),  # another country
        ("+442079460001", ["020 7946 0000"], "GB", "020 7946 0001"),
        ("+12025550147 ext. 12", ["(555) 201-0004"], "US", "+12025550147 ext. 12"),
    ],
)
def test_a_phone_is_spelled_as_the_row_spells_its_numbers(
    value: str, templates: list[str], region: str, expect: str
) -> None:
    assert spell_phone(value, templates, region) == expect


@pytest.mark.parametrize(
    "cell,expect",
    [
        ("cara@beta.test; cara2@beta.test", ["cara@beta.test", "cara2@beta.test"]),
        ("dan@ng.test,dan2@ng.test;", ["dan@ng.test", "dan2@ng.test"]),
        ("Dan Ng <dan@ng.test>, Dan Two <dan2@ng.test>", ["Dan Ng <dan@ng.test>", "Dan Two <dan2@ng.test>"]),
        ("ann@acme.test", ["ann@acme.test"]),
        ("Ng, Dan <dan@ng.test>", ["Ng, Dan <dan@ng.test>"]),  # a name with a comma
        ("eve@gamma.test; not an address", ["eve@gamma.test; not an address"]),
        ("eve@gamma.test;", ["eve@gamma.test;"]),
    ],
)
def test_an_email_cell_splits_only_into_addresses(cell: str, expect: list[str]) -> None:
    assert split_emails(cell) == expect
