"""The CSV connector: conformance on our plain format and on Outlook files, every real export
in the shared corpus, and the file-level promises (formula injection, atomic replace, no-op
pulls that read nothing, bad rows reported with file:line)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contacthub import config
from contacthub.connectors.base import Connector, ConnectorConfig, Pull, Record, WriteOp
from contacthub.connectors.csv_file import CsvConnector
from contacthub.errors import (
    ConfigError,
    FatalConnectorError,
    RecordError,
    RecordNotFoundError,
    RejectedRecordError,
    RetriableError,
)
from tests.connectors.conformance import ConnectorConformance, create, sample

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "csv"


def connector_for(path: Path, **settings: Any) -> CsvConnector:
    mapping = settings.pop("mapping", {})
    return CsvConnector(ConnectorConfig("csv", {"path": str(path), **settings}, mapping))


def records(connector: Connector) -> list[Record]:
    out = []
    for item in connector.pull(None, {}).records:
        assert isinstance(item, Record), item
        out.append(item)
    return out


class TestCsvConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, tmp_path: Path) -> CsvConnector:
        return connector_for(tmp_path / "book.csv", create=True)


def _without_email_types(fields: dict[str, Any]) -> dict[str, Any]:
    emails = [{**e, "type": ""} for e in fields.get("emails", [])]
    return {**fields, "emails": emails} if emails else fields


class TestCsvOutlookConformance(ConnectorConformance):
    """Outlook's e-mail columns carry no type (its ``E-mail Type`` says SMTP), so the two
    tests comparing with what was asked compare emails without their type."""

    @pytest.fixture
    def connector(self, tmp_path: Path) -> CsvConnector:
        return connector_for(tmp_path / "outlook.csv", create=True, format="outlook")

    def test_write_result_matches_what_was_asked(self, connector: Connector) -> None:
        wanted = sample(1)
        result = create(connector, wanted)
        assert result.fields is not None
        got = {k: v for k, v in result.fields.items() if k in (connector.fields or ())}
        want = {k: v for k, v in wanted.items() if k in (connector.fields or ())}
        assert got == _without_email_types(want)

    @pytest.mark.parametrize(
        "given,family,notes",
        [("Zoë", "Ångström-Łukasiewicz", "Résumé"), ("太郎", "山田", "東京都千代田区")],
    )
    def test_unicode(self, connector: Connector, given: str, family: str, notes: str) -> None:
        result = create(connector, sample(7, given_name=given, family_name=family, notes=notes))
        got = connector.get(result.native_id or "").fields
        assert (got["given_name"], got["family_name"], got["notes"]) == (given, family, notes)
        assert connector.fields is not None and "display_name" not in connector.fields


# --- the real exports --------------------------------------------------------------------------


def corpus(name: str) -> Path:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus file {path} is missing")
    return path


def only(name: str) -> Record:
    [record] = records(connector_for(corpus(name)))
    return record


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.csv")) if CORPUS.exists() else [])
def test_every_corpus_file_reads(path: Path) -> None:
    pull = connector_for(path).pull(None, {})
    items = list(pull.records)
    assert items and all(isinstance(i, Record) for i in items)
    assert pull.complete and pull.listed == len(items)


def test_google_legacy() -> None:
    f = only("google-legacy__roundcube_gmail.csv").fields
    assert f["display_name"] == "Prefix Firstname Middle Lastname Suffix"
    assert (f["given_name"], f["middle_name"], f["family_name"]) == (
        "Firstname",
        "Middle",
        "Lastname",
    )
    assert f["emails"][0] == {"value": "home@aaa.pl", "type": "home", "primary": True}
    assert {e["value"] for e in f["emails"]} >= {"work@email.pl", "other@email.com"}
    assert {"value": "mobile", "type": "cell", "primary": False} in f["phones"]
    assert f["notes"] == 'note"note' and f["birthday"] == "1975-12-12"
    assert (f["organization"], f["job_title"]) == ("company", "jobtitle")
    home = f["addresses"][0]
    assert (home["street"], home["city"], home["type"]) == ("home_street", "home_city", "home")


def test_outlook_email_only() -> None:
    record = only("outlook-email-only__roundcube_outlook.csv")
    assert record.native_id == "test1@domain.tld"
    assert [e["value"] for e in record.fields["emails"]] == [f"test{i}@domain.tld" for i in (1, 2, 3)]


def test_outlook_japanese_headers() -> None:
    f = only("outlook-japanese__ox_jpcontact.csv").fields
    assert (f["given_name"], f["family_name"]) == ("Max", "Mustermann")
    assert f["emails"][0]["value"] == "max.mustermann@invalid.domain.ox"
    assert f["birthday"] == "1990-01-01"
    assert f["addresses"][0]["city"] == "Olpe" and f["addresses"][0]["type"] == "home"


def test_thunderbird_shift_jis_and_utf16() -> None:
    sjis = only("thunderbird-shiftjis__tb_shiftjis_addressbook.csv").fields
    assert (sjis["given_name"], sjis["family_name"]) == ("権兵衛", "名無し")
    assert sjis["display_name"] == "名無しの権兵衛"
    utf16 = only("thunderbird-utf16le__tb_utf16_addressbook.csv").fields
    assert utf16["display_name"] == "John Doe" and utf16["emails"][0]["value"] == "johndoe@host.invalid"


def test_thunderbird_quoting_and_birthday() -> None:
    one, two = records(connector_for(corpus("thunderbird__tb_export.csv")))
    assert one.fields["display_name"] == "contact number one"
    assert two.fields["job_title"] == '"worker"' and two.fields["custom.custom1"] == "custom, 1"
    assert two.fields["notes"] == "here's some unicode text…"
    plain = only("thunderbird__roundcube_tb_plain.csv").fields
    assert plain["birthday"] == "1970-11-15" and plain["emails"][1]["value"] == "next@domain.tld"
    acer = only("thunderbird__tb_quote.csv")
    assert acer.fields["organization"] == "Acer America" and acer.native_id.startswith("name-")


def test_write_back_keeps_encoding(tmp_path: Path) -> None:
    for name, bom in [
        ("thunderbird-shiftjis__tb_shiftjis_addressbook.csv", b""),
        ("thunderbird-utf16le__tb_utf16_addressbook.csv", b"\xff\xfe"),
    ]:
        path = tmp_path / name
        original = corpus(name).read_bytes()
        path.write_bytes(original)
        connector = connector_for(path)
        [record] = records(connector)
        fields = {**record.fields, "notes": "メモ"}
        [res] = connector.write([WriteOp("update", "h", fields, record.native_id, record.version)])
        assert res.error is None and res.fields is not None and res.fields["notes"] == "メモ"
        assert path.read_bytes().startswith(bom) and path.read_bytes()[:2] == original[:2]
        assert records(connector)[0].fields["given_name"] == record.fields["given_name"]


# --- file-level promises -----------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\r\n  \n"])
@pytest.mark.parametrize("fmt", ["auto", "outlook"])
def test_an_empty_file_is_started_as_a_missing_one(tmp_path: Path, content: bytes, fmt: str) -> None:
    """A file that exists but holds nothing (``touch people.csv``) gets the configured
    format's whole header, as a missing one does: read as a header of no column, it got
    only ``id`` and the custom columns, and every create wrote a row of no name or email."""
    missing, empty = tmp_path / "missing.csv", tmp_path / "empty.csv"
    empty.write_bytes(content)
    wanted = sample(1, **{"custom.Trade": "Roofing"})
    for path in (missing, empty):
        connector = connector_for(path, create=True, format=fmt)
        assert connector.fields is not None and {"given_name", "emails"} <= connector.fields
        assert list(connector.pull(None, {}).records) == []
        create(connector, wanted)
    header = empty.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header == missing.read_text(encoding="utf-8-sig").splitlines()[0]
    [got] = records(connector_for(empty, format=fmt))
    assert got.fields["given_name"] == "Given1" and got.fields["emails"][0]["value"] == "person1@example.com"
    assert fmt == "outlook" or got.fields["custom.Trade"] == "Roofing"  # (no custom in Outlook's)


def test_a_row_with_no_values_is_refused(tmp_path: Path) -> None:
    """A row with no values is a blank line, which reading skips: written, the record would
    read back as deleted. Neither a create nor an update may leave one; the file stays as
    it was."""
    path = tmp_path / "tb.csv"
    connector = connector_for(path, create=True, format="thunderbird")
    [made] = connector.write([WriteOp("create", "h1", sample(1))])
    assert made.error is None and made.native_id
    before = path.read_bytes()
    emptied = {k: [] if isinstance(v, list) else "" for k, v in sample(1).items()}
    [create, update] = connector.write(
        [
            WriteOp("create", "h2", {"custom.colour": "blue"}),  # no column holds it
            WriteOp("update", "h1", emptied, made.native_id, made.version),
        ]
    )
    for result in (create, update):
        assert isinstance(result.error, RecordError) and "nothing to write" in result.error.message
    assert path.read_bytes() == before
    assert [r.native_id for r in records(connector)] == [made.native_id]


def test_rows_sharing_an_email_keep_their_ids_when_one_goes(tmp_path: Path) -> None:
    """An export's row id is its email, else a hash of its name. When the first of two rows
    sharing an email is deleted, the second row, unchanged, keeps the id the hub knows it
    by: the deleted row is the one reported gone (the hub took the second for it)."""
    path = tmp_path / "o.csv"
    path.write_text(
        "First Name,Last Name,E-mail Address\r\nPerson,Five,p5@example.com\r\nGus,Shared,p5@example.com\r\n",
        encoding="utf-8",
    )
    connector = connector_for(path)
    first = {r.native_id: r for r in records(connector)}
    gus = next(nid for nid, r in first.items() if r.fields["given_name"] == "Gus")
    five = next(nid for nid, r in first.items() if r.fields["given_name"] == "Person")
    path.write_text("First Name,Last Name,E-mail Address\r\nGus,Shared,p5@example.com\r\n", encoding="utf-8")
    pull = connector.pull(None, {nid: r.version for nid, r in first.items()})
    assert list(pull.records) == [] and pull.deleted == {five}
    # a write keeps using the ids the hub knows
    fields = dict(first[gus].fields, family_name="Shared-Smith")
    [result] = connector.write([WriteOp("update", "h", fields, gus, first[gus].version)])
    assert result.error is None and "Gus,Shared-Smith,p5@example.com" in path.read_text()


@pytest.mark.parametrize("fmt", ["thunderbird", "outlook"])
def test_untyped_phones_and_addresses_find_a_slot(tmp_path: Path, fmt: str) -> None:
    """Every phone and address slot of these files has a type: an untyped element takes a
    free one ('other' first) instead of being dropped."""
    connector = connector_for(tmp_path / "f.csv", create=True, format=fmt)
    fields = {
        "given_name": "Bob",
        "family_name": "Jones",
        "phones": [{"value": "+12025550102", "type": "", "primary": True}],
        "addresses": [
            {
                "street": "1 Main St",
                "city": "Springfield",
                "region": "IL",
                "postal_code": "62701",
                "country": "USA",
                "type": "",
            }
        ],
    }
    [result] = connector.write([WriteOp("create", "h1", fields)])
    assert result.error is None and result.fields is not None
    assert [p["value"] for p in result.fields["phones"]] == ["+12025550102"]
    assert [a["city"] for a in result.fields["addresses"]] == ["Springfield"]


def test_a_format_the_header_does_not_fit_is_refused(tmp_path: Path) -> None:
    """A plain file set to format = "outlook" matches no Outlook column: read so, every
    row was a person with no known value, and junk people spread to every connector."""
    path = tmp_path / "plain.csv"
    path.write_text("id,display_name,emails\nu1,Ann Lee,work:ann@example.com\n", encoding="utf-8")
    with pytest.raises(FatalConnectorError, match=r"no outlook column .* reads as plain"):
        list(connector_for(path, format="outlook").pull(None, {}).records)
    assert [r.fields["display_name"] for r in records(connector_for(path, format="plain"))] == ["Ann Lee"]


def test_formula_injection(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    connector = connector_for(path, create=True)
    evil = '=HYPERLINK("http://evil")'
    result = create(connector, sample(1, notes=evil, organization="@SUM(A1)"))
    text = path.read_text("utf-8")
    assert "'=HYPERLINK" in text and "'@SUM(A1)" in text
    assert not any(cell.startswith(("=", "@")) for line in text.splitlines() for cell in line.split(","))
    got = connector.get(result.native_id or "").fields
    assert (got["notes"], got["organization"]) == (evil, "@SUM(A1)")


def test_outlook_phone_with_plus_round_trips(tmp_path: Path) -> None:
    connector = connector_for(tmp_path / "o.csv", create=True, format="outlook")
    result = create(connector, sample(3))
    assert "'+12025551003" in (tmp_path / "o.csv").read_text("utf-8-sig")
    assert connector.get(result.native_id or "").fields["phones"][0]["value"] == "+12025551003"


def test_a_phone_changed_leaves_the_rows_other_phones_as_typed(tmp_path: Path) -> None:
    """QA: the work phone changed on the card, and the Home Phone cell nobody edited became
    ``'+15554010004`` too (every phone of the row was written, in E.164). Now each cell
    whose number did not change keeps its spelling, and the changed one is written as the
    row spells its numbers, with no quote; a number typed into Mobile Phone stays there
    when another cell phone joins, also when it is typed nationally."""
    path = tmp_path / "o.csv"
    head = "First Name,Last Name,Business Phone,Home Phone,Mobile Phone,Other Phone,E-mail Address\r\n"
    path.write_bytes(f"{head}Dan,Ng,(555) 201-0004,555-401-0004,555 301 0004,,dan@ng.test\r\n".encode())
    connector = connector_for(path)
    [rec] = records(connector)
    phones = [
        {"value": "+15552019999", "type": "work", "primary": True},
        {"value": "+15554010004", "type": "home", "primary": False},
        {"value": "+442079460000", "type": "cell", "primary": False},
        {"value": "+15553010004", "type": "cell", "primary": False},
    ]
    [res] = connector.write(
        [WriteOp("update", "h", {**rec.fields, "phones": phones}, rec.native_id, rec.version)]
    )
    assert res.error is None
    row = "Dan,Ng,(555) 201-9999,555-401-0004,555 301 0004,'+442079460000,dan@ng.test\r\n"
    assert path.read_bytes() == f"{head}{row}".encode()
    assert res.fields is not None and {p["value"] for p in res.fields["phones"]} == {
        p["value"] for p in phones
    }


def test_an_email_cell_of_several_addresses_is_read_as_those_addresses(tmp_path: Path) -> None:
    """QA: two addresses typed into one Outlook cell (``a; b`` or ``"a, b"``) were one invalid
    email on every card, in place of the valid one. A cell of which every part is an
    address is those addresses; one that is not stays one value. Written back, the cell
    stays as typed while the hub holds all its addresses; when one goes, it is respelled."""
    path = tmp_path / "o.csv"
    head = "First Name,Last Name,E-mail Address,E-mail 2 Address\r\n"
    rows = [
        "Cara,Diaz,cara@beta.test; cara2@beta.test,\r\n",
        'Dan,Ng,"dan@ng.test, Dan Two <dan2@ng.test>",\r\n',
        "Eve,Kim,eve@gamma.test; not an address,\r\n",
    ]
    path.write_bytes((head + "".join(rows)).encode())
    connector = connector_for(path)
    got = {r.fields["given_name"]: r for r in records(connector)}
    assert [[e["value"] for e in got[n].fields["emails"]] for n in ("Cara", "Dan", "Eve")] == [
        ["cara@beta.test", "cara2@beta.test"],
        ["dan@ng.test", "dan2@ng.test"],
        ["eve@gamma.test; not an address"],
    ]
    cara, dan = got["Cara"], got["Dan"]
    more = [*cara.fields["emails"], {"value": "cara3@beta.test", "type": "", "primary": False}]
    fewer = dan.fields["emails"][:1]
    [added, dropped] = connector.write(
        [
            WriteOp("update", "h1", {**cara.fields, "emails": more}, cara.native_id, cara.version),
            WriteOp("update", "h2", {**dan.fields, "emails": fewer}, dan.native_id, dan.version),
        ]
    )
    assert added.error is None and dropped.error is None
    assert path.read_bytes().decode().splitlines(keepends=True)[1:3] == [
        "Cara,Diaz,cara@beta.test; cara2@beta.test,cara3@beta.test\r\n",
        "Dan,Ng,dan@ng.test,\r\n",
    ]
    assert added.fields is not None and len(added.fields["emails"]) == 3


def test_unknown_columns_survive_update(tmp_path: Path) -> None:
    path = tmp_path / "tb.csv"
    path.write_bytes(corpus("thunderbird__roundcube_tb_plain.csv").read_bytes())
    connector = connector_for(path)
    [record] = records(connector)
    fields = {**record.fields, "job_title": "boss"}
    [res] = connector.write([WriteOp("update", "h", fields, record.native_id, record.version)])
    assert res.error is None and res.version != record.version
    line = path.read_text().splitlines()[1]
    assert ",Nick," in line and "boss" in line and "phone work" in line
    assert [p.name for p in tmp_path.iterdir()] == ["tb.csv"]


def test_plain_custom_fields_and_mapping(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    connector = connector_for(path, create=True, mapping={"custom.trade": "Trade"})
    result = create(connector, sample(1, **{"custom.trade": "plumber", "custom.site": "North"}))
    assert result.fields is not None and result.fields["custom.trade"] == "plumber"
    header = path.read_text().splitlines()[0].split(",")
    assert "Trade" in header and "custom.site" in header and header[0] == "id"
    assert connector.get("hub-1").fields["custom.site"] == "North"


def test_noop_pull_reads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connector = connector_for(tmp_path / "p.csv", create=True)
    create(connector, sample(1))
    first = connector.pull(None, {})
    known = {r.native_id: r.version for r in first.records if isinstance(r, Record)}

    def refuse(self: CsvConnector) -> bytes:
        raise AssertionError("the file was read")

    monkeypatch.setattr(CsvConnector, "_read_bytes", refuse)
    again = connector.pull(first.cursor, known)
    assert list(again.records) == [] and again.deleted == set()


def _run(path: Path, cursor: str | None, known: dict[str, str]) -> tuple[CsvConnector, Pull]:
    """A connector asked as a run asks it: what it holds, whether it works, then its pull."""
    connector = connector_for(path)
    connector.held_fields(cursor)
    connector.check()
    return connector, connector.pull(cursor, known)


def _versions(pull: Pull) -> dict[str, str]:
    return {r.native_id: r.version for r in pull.records if isinstance(r, Record)}


def test_a_touched_file_is_not_parsed_and_a_file_edited_since_is(tmp_path: Path, parses: list[int]) -> None:
    """A file whose stat key moved but whose bytes did not (``touch``, a backup putting it
    back) is known unchanged by the hash of its bytes kept in the cursor: nothing parsed,
    by the run's ``held_fields`` and ``check`` neither. Its new stat key goes into the
    cursor; an edit by another program after that is read."""
    path = tmp_path / "p.csv"
    path.write_text("id,given_name,emails\n1,Ann,a@x.com\n2,Bob,b@x.com\n")
    _, first = _run(path, None, {})
    known = _versions(first)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    parses[0] = 0
    _, touched = _run(path, first.cursor, known)
    assert list(touched.records) == [] and touched.deleted == set() and parses == [0]
    assert json.loads(touched.cursor or "")["key"] != json.loads(first.cursor or "")["key"]
    path.write_text("id,given_name,emails\n1,Ann,a@x.com\n2,Rob,b@x.com\n")  # another program
    _, edited = _run(path, touched.cursor, known)
    assert [r.native_id for r in edited.records if isinstance(r, Record)] == ["2"] and parses[0] >= 1


PAIR = "id,display_name,given_name,emails\n1,Ann,Ann,work:a@x.com\n2,Bob,Bob,work:b@x.com\n"


def _anna(ann: Record) -> dict[str, Any]:
    return {**ann.fields, "given_name": "Anna", "display_name": "Anna"}


def test_the_hubs_own_write_moves_the_cursor_and_a_run_killed_after_it_reads_again(
    tmp_path: Path, parses: list[int]
) -> None:
    """The cursor a run saves (``applied_cursor``) is the one of the file its writes left:
    the next run parses nothing. A run killed after its write saves none: the next one,
    given the cursor before, reads the file and finds the row the hub wrote."""
    path = tmp_path / "p.csv"
    path.write_text(PAIR)
    writer, first = _run(path, None, {})
    [ann, bob] = [r for r in first.records if isinstance(r, Record)]
    known = {"1": ann.version, "2": bob.version}
    [res] = writer.write([WriteOp("update", "h", _anna(ann), "1", ann.version)])
    assert res.error is None and res.version and res.version != ann.version
    applied = writer.applied_cursor(first.cursor)
    assert applied != first.cursor
    parses[0] = 0
    _, quiet = _run(path, applied, {**known, "1": res.version})
    assert list(quiet.records) == [] and parses == [0]
    _, killed = _run(path, first.cursor, known)  # (the links as before the write, too)
    [record] = [r for r in killed.records if isinstance(r, Record)]
    assert record.native_id == "1" and record.fields["given_name"] == "Anna" and parses[0] >= 1


def test_a_write_over_a_file_edited_since_the_pull_leaves_the_pulls_cursor(tmp_path: Path) -> None:
    """Edited by another program between the pull and the hub's write, the file the write
    starts from is not the one the pull agreed with: the run saves the pull's cursor, so
    the next run reads the other program's edit, which the write kept."""
    path = tmp_path / "p.csv"
    path.write_text(PAIR)
    writer, first = _run(path, None, {})
    records = {r.native_id: r for r in first.records if isinstance(r, Record)}
    path.write_text(PAIR.replace("Bob", "Rob"))
    ann = records["1"]
    [res] = writer.write([WriteOp("update", "h", _anna(ann), "1", ann.version)])
    assert res.error is None and "Rob" in path.read_text()
    assert writer.applied_cursor(first.cursor) == first.cursor
    known = {"1": res.version or "", "2": records["2"].version}
    _, later = _run(path, first.cursor, known)
    assert [r.fields["given_name"] for r in later.records if isinstance(r, Record)] == ["Rob"]


def test_a_bad_row_is_reported_again_by_a_pull_that_parses_nothing(
    tmp_path: Path, parses: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad row is said on every run until it is fixed, not only by the run that first read
    it: the cursor keeps the file's row errors, and a pull of the unchanged file reports
    them (and deletes no one: it is not complete). A file with more bad rows than the
    cursor keeps is read every run. A write into a file with a bad row keeps the pull's
    cursor: the next run reads it, and says the row again."""
    path = tmp_path / "p.csv"
    path.write_text("id,given_name,emails\n1,Ann,a@x.com\n2,Bob\n3,Cy,c@x.com,,x\n")
    writer, first = _run(path, None, {})
    items = list(first.records)
    said = [(e.record, e.message) for e in items if isinstance(e, RecordError)]
    assert [where for where, _ in said] == [f"{path}:3", f"{path}:4"]
    known = {r.native_id: r.version for r in items if isinstance(r, Record)}
    parses[0] = 0
    _, again = _run(path, first.cursor, known)
    assert [(e.record, e.message) for e in again.records if isinstance(e, RecordError)] == said
    assert again.deleted == set() and not again.complete and parses == [0]
    [res] = writer.write([WriteOp("update", "h", {"given_name": "Anna"}, "1", known["1"])])
    assert res.error is None and writer.applied_cursor(first.cursor) == first.cursor
    from contacthub.connectors import csv_file

    monkeypatch.setattr(csv_file, "KEPT_ERRORS", 1)
    path.write_text("id,given_name,emails\n1,Ann,a@x.com\n2,Bob\n3,Cy,c@x.com,,x\n")
    _, many = _run(path, None, {})
    list(many.records)
    parses[0] = 0
    _, read = _run(path, many.cursor, known)
    assert len([e for e in read.records if isinstance(e, RecordError)]) == 2 and parses[0] >= 1


def test_bad_row_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,given_name,emails\n1,Ann,a@x.com\n2,Bob\n3,Cy,c@x.com\n1,Dup,d@x.com\n", "utf-8")
    pull = connector_for(path).pull(None, {"9": "v"})
    items = list(pull.records)
    errors = [i for i in items if isinstance(i, RecordError)]
    assert [e.record for e in errors] == [f"{path}:3", f"{path}:5"]
    assert sorted(i.native_id for i in items if isinstance(i, Record)) == ["1", "3"]
    assert pull.deleted == set()  # an unreadable row might be the known one


def test_undecodable_row(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes("id,given_name\n1,Zoë\n2,".encode() + b"\xff\xfe\n")
    connector = connector_for(path)
    items = list(connector.pull(None, {}).records)
    assert isinstance(items[1], RecordError) and items[1].record.endswith(":3")
    connector.write([WriteOp("update", "h", {"given_name": "Zoe"}, "1", None)])
    assert path.read_bytes().endswith(b"2,\xff\xfe\n")  # the bad row is kept byte for byte


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FatalConnectorError, match=r"nope\.csv"):
        connector_for(tmp_path / "nope.csv").pull(None, {})
    with pytest.raises(RecordNotFoundError):
        connector_for(tmp_path / "nope.csv", create=True).get("x")


def test_a_created_file_gone_later_fails_instead_of_reading_empty(tmp_path: Path) -> None:
    """``create`` starts a file on first use only: a file with rows the hub knows that
    is gone (an unmounted disk) read as empty, every person deleted everywhere."""
    path = tmp_path / "book.csv"
    connector = connector_for(path, create=True)
    first = connector.pull(None, {})
    assert list(first.records) == [] and first.deleted == set()
    made = create(connector, sample(1), "hub-1")
    path.rename(tmp_path / "away.csv")
    with pytest.raises(FatalConnectorError, match=r"book\.csv is gone"):
        connector_for(path, create=True).pull(first.cursor, {made.native_id: made.version})
    assert not path.exists()


def test_semicolon_file_and_derived_ids(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    path.write_text("First Name;Last Name;E-mail Address\nAnn;Lee;ann@x.com\nAnn;Lee;ann@x.com\n")
    a, b = records(connector_for(path))
    assert a.native_id == "ann@x.com" and b.native_id.startswith("name-") and a.hub_id is None
    connector_for(path).write([WriteOp("update", "h", {"given_name": "Bo"}, b.native_id, b.version)])
    assert path.read_text().splitlines()[2] == "Bo;;"


def test_plain_file_without_ids_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("given_name,emails\nAnn,a@x.com\nBob,\n", "utf-8")
    connector = connector_for(path)
    ann, bob = records(connector)
    assert ann.native_id == "a@x.com" and bob.native_id.startswith("name-")
    [res] = connector.write([WriteOp("create", "hub-9", sample(9))])
    assert res.native_id == "hub-9"
    ids = {r.native_id: r.version for r in records(connector)}
    assert set(ids) == {"a@x.com", bob.native_id, "hub-9"}
    # the filled-in id names the row, it is no change of it (``row_version``)
    assert ids["a@x.com"] == ann.version and ids[bob.native_id] == bob.version
    assert path.read_text().splitlines()[1].startswith("Ann,a@x.com,a@x.com,")  # id filled in


def test_concurrent_edit_is_not_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.csv"
    connector = connector_for(path, create=True)
    create(connector, sample(1))
    load = CsvConnector._load

    def load_then_edit(self: CsvConnector) -> Any:
        table = load(self)
        path.write_text(path.read_text() + "late,edit\n")
        return table

    monkeypatch.setattr(CsvConnector, "_load", load_then_edit)
    with pytest.raises(RetriableError):
        connector.write([WriteOp("create", "hub-2", sample(2))])
    assert path.read_text().endswith("late,edit\n")


def test_rows_carry_the_file_time_as_modified(tmp_path: Path) -> None:
    import os
    from datetime import UTC, datetime

    from contacthub.connectors.base import ConnectorConfig, Record
    from contacthub.connectors.csv_file import CsvConnector

    path = tmp_path / "x.csv"
    path.write_text("id,given_name,emails\n1,Ann,:ann@example.com\n", encoding="utf-8")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    connector = CsvConnector(ConnectorConfig("c", {"path": str(path)}))
    [record] = [r for r in connector.pull(None, {}).records if isinstance(r, Record)]
    assert record.modified == datetime.fromtimestamp(1_700_000_000, UTC)


@pytest.mark.parametrize("fmt", ["plain", "outlook"])
def test_a_note_longer_than_the_csv_default_limit_reads_back(tmp_path: Path, fmt: str) -> None:
    """A 140,000-character note (the csv module refuses cells over 131,072 by default) was
    written, and then the file could not be read at all: every run failed."""
    path = tmp_path / "long.csv"
    note = "abcdefghij" * 14_000
    email = {"value": "long@example.com", "type": "", "primary": True}
    fields = {"given_name": "Long", "family_name": "Value", "emails": [email], "notes": note}
    (result,) = connector_for(path, create=True, format=fmt).write([WriteOp("create", "h1", fields)])
    assert result.error is None
    (record,) = records(connector_for(path))
    assert record.fields["notes"] == note


@contextlib.contextmanager
def csv_limit(limit: int) -> Iterator[None]:
    """The csv module's limit is process-wide: lowered for one test, then put back."""
    old = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def test_a_row_the_csv_module_refuses_is_an_error_of_that_row(tmp_path: Path) -> None:
    """A cell over the limit failed the whole file (and the hub's run). Now it is that row's
    error, the rows after it (the refused cell spans lines) are read as before, and the row is
    written back byte for byte."""
    path = tmp_path / "p.csv"
    big = "x" * 1500 + '\r\nstill, the "note"\r\n' + "y" * 10
    path.write_bytes(
        ('id,given_name,notes\r\n1,Ann,short\r\n2,Bob,"' + big.replace('"', '""') + '"\r\n3,Cy,\r\n').encode()
    )
    before = path.read_bytes()
    with csv_limit(1000):
        connector = connector_for(path)
        pull = connector.pull(None, {"2": "v"})
        items = list(pull.records)
        (error,) = [i for i in items if isinstance(i, RecordError)]
        assert error.record == f"{path}:3" and "field larger than field limit" in str(error)
        assert sorted(i.native_id for i in items if isinstance(i, Record)) == ["1", "3"]
        assert pull.deleted == set()  # the unreadable row may be the known one
        connector.write([WriteOp("update", "h", {"given_name": "Anna", "notes": "short"}, "1", None)])
    assert path.read_bytes() == before.replace(b"1,Ann,", b"1,Anna,")
    (bob,) = [r for r in records(connector_for(path)) if r.native_id == "2"]
    assert bob.fields["notes"] == big.replace("\r\n", "\n")


def test_a_row_with_a_quote_left_open_is_an_error_and_the_file_is_not_written(tmp_path: Path) -> None:
    """The csv module reads a quote left open to the end of the file (the rows after it in
    its cell): a row of too few cells, which the next write put back as cells, adding a
    line of one quote that became a broken row of its own once the quote was closed. Now
    the file is not written at all while the quote is open (``test_a_quote_never_closed...``)."""
    path = tmp_path / "p.csv"
    path.write_bytes(b'id,given_name,notes\n1,Ann,a\n2,"Bob,b\n3,Cy,c\n')
    before = path.read_bytes()
    connector = connector_for(path)
    pull = connector.pull(None, {"1": "v", "2": "v", "3": "v"})
    items = list(pull.records)
    assert [i.native_id for i in items if isinstance(i, Record)] == ["1"]
    assert [i.record for i in items if isinstance(i, RecordError)] == [f"{path}:3"]
    assert pull.deleted == set()
    [result] = connector.write([WriteOp("update", "h", {"given_name": "Anna", "notes": "a"}, "1", None)])
    assert isinstance(result.error, RecordError) and "line 3 is never closed" in str(result.error)
    assert path.read_bytes() == before


def test_a_quote_never_closed_is_an_error_naming_its_line_and_deletes_no_one(tmp_path: Path) -> None:
    """A note edited to ``"note 3 edited`` with no closing quote made the rest of the file
    its cell, the row still of the right number of cells: read without a word, the rows
    after it were deleted everywhere and their text put in the note. Now the row is an
    error naming the line the quote opened on (here the second line of the row: its first
    quoted cell spans a line break and is closed), nothing is deleted, and nothing is
    written into the file until the quote is closed."""
    path = tmp_path / "p.csv"
    rows = ["id,given_name,emails,notes"] + [f"{i},P{i},p{i}@x.test,note {i}" for i in range(1, 7)]
    rows[3] = '3,"P\n3",p3@x.test,"note 3 edited'  # line 4 opens a cell closed on line 5...
    path.write_bytes(("\n".join(rows) + "\n").encode())  # ...and line 5 one never closed
    before = path.read_bytes()
    known = {str(i): "v" for i in range(1, 7)}
    connector = connector_for(path)
    pull = connector.pull(None, known)
    items = list(pull.records)
    assert sorted(i.native_id for i in items if isinstance(i, Record)) == ["1", "2"]
    (error,) = [i for i in items if isinstance(i, RecordError)]
    assert error.record == f"{path}:4" and "the quote opened on line 5 is never closed" in str(error)
    assert pull.deleted == set()  # rows 4 to 6 may be anywhere in the unread part
    results = connector.write(
        [
            WriteOp("update", "h1", {"given_name": "Ann"}, "1", None),
            WriteOp("create", "h9", sample(9)),
            WriteOp("delete", "h5", {}, "5", None),
        ]
    )
    assert all(isinstance(r.error, RecordError) and "line 5 is never closed" in str(r.error) for r in results)
    assert path.read_bytes() == before
    # closed again, every row reads back as it was
    path.write_bytes(before.replace(b'"note 3 edited\n', b'"note 3 edited"\n'))
    again = connector_for(path).pull(None, known)
    assert sorted(i.native_id for i in again.records if isinstance(i, Record)) == list("123456")


def _people(n: int) -> list[str]:
    """A plain file's lines: the header, then person ``i`` as ``i,P{i},Q,note {i},p{i}@x.test``."""
    rows = [f"{i},P{i},Q,note {i},p{i}@x.test" for i in range(1, n + 1)]
    return ["id,given_name,family_name,notes,emails", *rows]


def test_a_cell_holding_whole_rows_is_an_error_and_the_file_is_not_written(tmp_path: Path) -> None:
    """A note edited to ``"note 2 edited`` (a quote opened) and the note three rows down to
    ``note 5 edited"`` (a stray quote closing it) make, by the rules of CSV, one cell of
    four lines, in a row of just the header's number of cells: it read as person 2 with
    person 5's email, and persons 3 to 5 as deleted. A line in the cell that reads as a
    row of the file (its id one the hub knows) makes the row an error naming the line the
    quote opened on; nothing is deleted, the file is not written while so, and once the
    quotes are put right every row reads back."""
    path = tmp_path / "p.csv"
    lines = _people(7)
    lines[2] = lines[2].replace(",note 2", ',"note 2 edited')
    lines[5] = lines[5].replace(",note 5", ',note 5 edited"')
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    before = path.read_bytes()
    known = {str(i): "v" for i in range(1, 8)}
    connector = connector_for(path)
    pull = connector.pull(None, known)
    items = list(pull.records)
    assert sorted(i.native_id for i in items if isinstance(i, Record)) == ["1", "6", "7"]
    (error,) = [i for i in items if isinstance(i, RecordError)]
    assert error.record == f"{path}:3"
    assert "the quoted cell opened on line 3 seems to hold whole rows of the file (line 4 " in str(error)
    assert pull.deleted == set() and not pull.complete
    results = connector.write(
        [
            WriteOp("update", "h1", {"given_name": "Ann"}, "1", None),
            WriteOp("create", "h9", sample(9)),
            WriteOp("delete", "h3", {}, "3", None),
        ]
    )
    assert len(results) == 3
    assert all(
        isinstance(r.error, RecordError) and "cell opened on line 3 seems to hold whole rows" in str(r.error)
        for r in results
    )
    assert path.read_bytes() == before
    path.write_bytes(before.replace(b'"note 2 edited', b"note 2 edited").replace(b'edited"', b"edited"))
    again = [i for i in connector_for(path).pull(None, known).records if isinstance(i, Record)]
    assert sorted(i.native_id for i in again) == list("1234567")
    assert {i.native_id: i.fields["emails"][0]["value"] for i in again}["2"] == "p2@x.test"


def test_a_stray_quote_on_the_next_row_is_caught_too(tmp_path: Path) -> None:
    """A quote closed on the very next row swallows no line whole, but that row's line,
    read alone, is still a row of the file: its person (3) read as deleted, and person 2
    took its email. The line named is the one the quote opened on, here the second of a
    row whose first quoted cell spans a line break and is closed."""
    path = tmp_path / "p.csv"
    lines = _people(4)
    lines[1] = '1,P1,Q,"note\non two lines",p1@x.test'  # (lines 2 and 3)
    lines[2] = '2,P2,"Q\nR","note 2 edited,p2@x.test'  # line 4; the note opens on line 5
    lines[3] = lines[3].replace(",note 3", ',note 3 edited"')  # line 6
    path.write_bytes(("\n".join(lines) + "\n").encode())
    pull = connector_for(path).pull(None, {str(i): "v" for i in range(1, 5)})
    items = list(pull.records)
    assert sorted(i.native_id for i in items if isinstance(i, Record)) == ["1", "4"]
    (error,) = [i for i in items if isinstance(i, RecordError)]
    assert error.record == f"{path}:4"
    assert "the quoted cell opened on line 5 seems to hold whole rows of the file (line 6 " in str(error)
    assert pull.deleted == set()


def test_a_note_of_many_lines_and_commas_is_no_cell_holding_rows(tmp_path: Path) -> None:
    """Real multi-line notes keep reading: a line of a note of as many cells as the header
    (or more) is no row unless it gives the id of a row the hub knows that is nowhere else
    in the file (here ``a``, unknown, and ``3``, person 3's own row being there too); nor
    is a shopping list in a file without ids, whatever its number of columns."""
    path = tmp_path / "p.csv"
    lines = _people(3)
    note = 'first line\na, b, c, d, e\n3, see, P3, above, too\nmilk, eggs, bread, tea, jam\nlast, line "q"'
    quoted = note.replace('"', '""')
    lines[2] = f'2,P2,Q,"{quoted}",p2@x.test'
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    pull = connector_for(path).pull(None, {str(i): "v" for i in range(1, 4)})
    got = {i.native_id: i for i in pull.records if isinstance(i, Record)}
    assert got["2"].fields["notes"] == note and got["2"].fields["emails"][0]["value"] == "p2@x.test"
    assert pull.complete and sorted(got) == ["1", "2", "3"]
    small = tmp_path / "small.csv"
    small.write_bytes(b'First Name,E-mail Address,Notes\r\nAnn,a@x.test,"shopping:\r\nmilk, eggs, bread"\r\n')
    (ann,) = records(connector_for(small))
    assert ann.fields["notes"] == "shopping:\nmilk, eggs, bread"
    plain = tmp_path / "plain.csv"
    plain.write_bytes(
        b"display_name,emails,phones,notes\r\n"
        b'Ann Lee,ann@x.test,+1 212 555 0100,"Shopping list:\r\nmilk, eggs, bread, butter"\r\n'
        b"Bob,bob@x.test,,\r\n"
    )
    first = connector_for(plain).pull(None, {})
    known = {i.native_id: i.version for i in first.records if isinstance(i, Record)}
    assert sorted(known) == ["ann@x.test", "bob@x.test"]
    again = connector_for(plain).pull(None, known)  # (the hub knows the file's rows now)
    assert [i.native_id for i in again.records] == [] and again.complete and again.deleted == set()


def test_a_cell_holding_rows_of_derived_ids_is_caught(tmp_path: Path) -> None:
    """An Outlook export of 3 columns has no id column: its rows' ids are derived (the
    email here). A quote opened in row 2's last name and a stray one three rows down took
    three rows into one cell: read so, persons 2 to 4 were deleted everywhere and P1 got
    p4's email. A line in the cell whose derived id is that of a row the hub knows, and
    nowhere else in the file, makes the row an error; nothing is deleted. On a first read
    (the hub knows no row) nothing is flagged: nothing can be deleted then."""
    path = tmp_path / "o.csv"
    rows = [f"P{i},Last{i},p{i}@x.test" for i in range(8)]
    path.write_bytes(("\r\n".join(["First Name,Last Name,E-mail Address", *rows]) + "\r\n").encode())
    known = {i.native_id: i.version for i in records(connector_for(path))}
    assert sorted(known) == [f"p{i}@x.test" for i in range(8)]
    rows[1] = rows[1].replace(",Last1", ',"Last1 jr')
    rows[4] = rows[4].replace(",Last4", ',Last4 sr"')
    path.write_bytes(("\r\n".join(["First Name,Last Name,E-mail Address", *rows]) + "\r\n").encode())
    pull = connector_for(path).pull(None, known)
    items = list(pull.records)
    assert [i.native_id for i in items if isinstance(i, Record)] == []  # (the others unchanged)
    (error,) = [i for i in items if isinstance(i, RecordError)]
    assert error.record == f"{path}:3"
    assert "opened on line 3 seems to hold whole rows of the file (line 4 reads as the row 'p2@x.test', " in (
        error.message
    )
    assert pull.deleted == set() and not pull.complete
    fresh = connector_for(path).pull(None, {})
    assert fresh.complete and len([i for i in fresh.records if isinstance(i, Record)]) == 5


def test_a_quote_never_closed_on_the_last_line_without_a_line_ending(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b'id,given_name,notes\r\n1,Ann,a\r\n2,Bob,"b')
    items = list(connector_for(path).pull(None, {}).records)
    assert [i.native_id for i in items if isinstance(i, Record)] == ["1"]
    (error,) = [i for i in items if isinstance(i, RecordError)]
    assert error.record == f"{path}:3" and "line 3 is never closed" in str(error)


def test_a_quote_never_closed_in_the_header_fails_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b'id,given_name,"notes\n1,Ann,a\n')
    with pytest.raises(FatalConnectorError, match=r"p\.csv:1: a quote opened in the header is never closed"):
        connector_for(path).pull(None, {"1": "v"})


def test_a_row_of_one_cell_too_many_stays_an_error_when_the_hub_writes(tmp_path: Path) -> None:
    """Written back as its text while the header gained the id column, it read as a good
    row: "Acme", a company typed one cell too far, became the person's id."""
    path = tmp_path / "p.csv"
    path.write_bytes(b"given_name,emails\nAnn,ann@x.example\nBob,bob@x.example,Acme\n")
    connector = connector_for(path)
    (ann,) = [r for r in connector.pull(None, {}).records if isinstance(r, Record)]
    anna = {"given_name": "Anna", "emails": ann.fields["emails"]}  # what the file holds
    [result] = connector.write([WriteOp("update", "h", anna, ann.native_id, None)])
    assert result.error is None
    assert path.read_bytes() == b"given_name,emails\nAnna,ann@x.example\nBob,bob@x.example,Acme\n"
    items = list(connector_for(path).pull(None, {}).records)
    assert [i.record for i in items if isinstance(i, RecordError)] == [f"{path}:3"]
    (read,) = [i for i in items if isinstance(i, Record)]
    [refused] = connector.write([WriteOp("update", "h", {**anna, "job_title": "Boss"}, read.native_id, None)])
    assert isinstance(refused.error, RecordError) and "line 3" in str(refused.error)


def test_a_value_no_reader_would_read_back_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cell over the reader's limit makes a file no run can read: that record is refused."""
    monkeypatch.setattr("contacthub.connectors.csv_file.FIELD_LIMIT", 1000)
    path = tmp_path / "p.csv"
    ops = [
        WriteOp("create", "a", {"given_name": "Ann", "notes": "n" * 1001}),
        WriteOp("create", "b", {"given_name": "Bob"}),
    ]
    first, second = connector_for(path, create=True).write(ops)
    assert isinstance(first.error, RecordError) and "1000 characters" in str(first.error)
    assert second.error is None
    assert [r.fields["given_name"] for r in records(connector_for(path))] == ["Bob"]


@pytest.mark.parametrize("delimiter", ['"', "\n", "\r", "\u2028", "\0", "a", "7", ";;"])
def test_a_delimiter_the_file_needs_otherwise_is_refused(tmp_path: Path, delimiter: str) -> None:
    """A quote or a line break as the delimiter was taken, and the file written with it
    read back as other cells and rows, or not at all (QA); a letter or digit is a typo.
    Each is refused as a two-character one is, with one line; a space or tab is not."""
    with pytest.raises(ConfigError, match="the delimiter must be one character"):
        connector_for(tmp_path / "book.csv", delimiter=delimiter, create=True)
    for fine in (" ", "tab", "|"):
        assert connector_for(tmp_path / "book.csv", delimiter=fine, create=True).delimiter in " \t|"


def test_a_delimiter_the_file_does_not_use_is_refused_not_read_as_one_column(tmp_path: Path) -> None:
    """Set to ";" on a comma file, every row read as one cell: every person looked deleted
    everywhere else and came back as a junk contact."""
    path = tmp_path / "people.csv"
    path.write_text("id,given_name,emails\nu1,Ann,ann@x.example\n")
    with pytest.raises(FatalConnectorError, match="delimiter setting"):
        connector_for(path, delimiter=";").pull(None, {"u1": "v"})
    assert [r.fields["given_name"] for r in records(connector_for(path, delimiter=","))] == ["Ann"]
    one_column = tmp_path / "names.csv"
    one_column.write_text("given_name\nAnn\n")  # truly one column: nothing to refuse
    assert [r.fields["given_name"] for r in records(connector_for(one_column, delimiter=";"))] == ["Ann"]


def test_a_mapped_column_the_format_reads_holds_only_the_mapped_field(tmp_path: Path) -> None:
    """Mapped onto Outlook's ``User 1``, ``Notes`` or an address part, the column is the
    mapped field's alone: it was also read as ``custom.user1`` (or ``notes``), and a write of
    that second field overwrote the mapped one."""
    path = tmp_path / "o.csv"
    path.write_text(
        "First Name,E-mail Address,User 1,Notes,Business Street,Business City\r\n"
        "Ann,ann@example.com,plumber,gate code 4,1 Main St,Springfield\r\n"
    )
    mapping = {"custom.trade": "User 1", "custom.gate": "Notes", "custom.site": "Business City"}
    connector = connector_for(path, mapping=mapping)
    [record] = records(connector)
    fields = record.fields
    assert fields["custom.trade"] == "plumber" and fields["custom.gate"] == "gate code 4"
    assert fields["custom.site"] == "Springfield"
    assert "custom.user1" not in fields and "notes" not in fields
    assert fields["addresses"] == [{**fields["addresses"][0], "street": "1 Main St", "city": ""}]
    held = connector.fields or frozenset()
    assert {"custom.trade", "custom.gate", "addresses"} <= held
    assert "custom.user1" not in held and "notes" not in held
    # a stale second field from elsewhere in the hub cannot reach the mapped column
    new = {**fields, "custom.trade": "welder", "custom.user1": "XXX", "notes": "other"}
    [res] = connector.write([WriteOp("update", "h", new, record.native_id, record.version)])
    assert res.error is None
    assert path.read_text().splitlines()[1] == "Ann,ann@example.com,welder,gate code 4,1 Main St,Springfield"
    assert connector.get(record.native_id).fields["custom.trade"] == "welder"


def test_two_fields_mapped_onto_one_column_are_refused(tmp_path: Path) -> None:
    twice = {"custom.a": "Trade", "custom.b": "Trade"}
    with pytest.raises(ConfigError) as info:
        connector_for(tmp_path / "p.csv", create=True, mapping=twice)
    assert "'custom.a' and 'custom.b' in the same CSV column 'Trade'" in info.value.message


def test_a_mapped_custom_field_stays_out_of_google_custom_field_pairs(tmp_path: Path) -> None:
    """Written to its column and to a ``Custom Field n`` pair as well, a mapped field lived
    in two places: cleared in its column, it came back from the stale pair."""
    path = tmp_path / "g.csv"
    connector = connector_for(path, create=True, format="google", mapping={"custom.trade": "Trade"})
    result = create(connector, sample(1, **{"custom.trade": "plumber", "custom.site": "North"}))
    header, row = (line.split(",") for line in path.read_text().splitlines())
    cells = dict(zip(header, row, strict=True))
    assert cells["Trade"] == "plumber" and "trade" not in row
    assert cells["Custom Field 1 - Label"] == "site" and "Custom Field 2 - Label" not in header
    # a file that still has the pair from before: the column alone says what the trade is
    path.write_text(
        "First Name,E-mail 1 - Value,Trade,Custom Field 1 - Label,Custom Field 1 - Value\r\n"
        "Ann,ann@example.com,,trade,plumber\r\n"
    )
    [record] = records(connector)
    assert "custom.trade" not in record.fields and result.error is None


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"])
def test_a_file_is_written_back_with_its_own_line_ending(tmp_path: Path, newline: str) -> None:
    """Excel for Mac's "CSV (Macintosh)" ends lines with CR alone: the line ending was read
    from the text before the first LF (here, one inside a quoted note) and the file came back
    with LF endings. The break inside the quotes is the note's own and stays as it is."""
    path = tmp_path / "mac.csv"
    rows = ["First Name,E-mail Address,Notes", '"Ann","ann@a.com","line 1\nline 2"', "Bob,bob@a.com,"]
    path.write_bytes(newline.join([*rows, ""]).encode())
    connector = connector_for(path)
    bob = next(r for r in records(connector) if r.fields["given_name"] == "Bob")
    rob = {**bob.fields, "given_name": "Rob"}
    [res] = connector.write([WriteOp("update", "h", rob, bob.native_id, bob.version)])
    assert res.error is None
    data = path.read_bytes().decode()
    assert data == newline.join([rows[0], rows[1], "Rob,bob@a.com,", ""])  # (Ann's row as it was)


@pytest.mark.parametrize(
    ("encoding", "start"),
    [("cp1252", b"Title"), ("latin-1", b"Title"), ("utf-8-sig", b"\xef\xbb\xbfT"), ("utf-16", b"\xff\xfeT")],
)
def test_a_new_file_is_written_in_the_encoding_set(tmp_path: Path, encoding: str, start: bytes) -> None:
    """A file started with ``encoding = "cp1252"`` was written in UTF-8 with a BOM, then read
    back as cp1252: "Jörg Müller" became "JÃ¶rg MÃ¼ller" in the hub and in every card."""
    path = tmp_path / "new.csv"
    connector = connector_for(path, create=True, format="outlook", encoding=encoding)
    person = {"given_name": "Jörg", "family_name": "Müller", "emails": [{"value": "j@a.com", "type": ""}]}
    [res] = connector.write([WriteOp("create", "h1", person)])
    assert res.error is None and res.version is not None
    data = path.read_bytes()
    assert data.startswith(start) and ",Jörg,,Müller," in data.decode(encoding)
    [record] = records(connector_for(path, encoding=encoding))
    assert (record.fields["given_name"], record.fields["family_name"]) == ("Jörg", "Müller")
    assert record.version == res.version  # the next run finds nothing changed


def test_a_bom_says_what_the_file_is_whatever_the_encoding_set(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("First Name,Last Name,Job Title\r\nJörg,Müller,\r\n".encode("utf-8-sig"))
    connector = connector_for(path, encoding="cp1252")
    [record] = records(connector)
    assert (record.fields["given_name"], record.fields["family_name"]) == ("Jörg", "Müller")
    fields = {**record.fields, "job_title": "Koch"}
    [res] = connector.write([WriteOp("update", "h", fields, record.native_id, record.version)])
    assert res.error is None
    assert path.read_bytes() == "First Name,Last Name,Job Title\r\nJörg,Müller,Koch\r\n".encode("utf-8-sig")


def test_a_field_the_encoding_cannot_hold_keeps_its_cell_and_the_rest_is_written(tmp_path: Path) -> None:
    """Windows-1252 has no "Ł": the given name keeps its cell, the added email is written,
    and the result is an error naming the field that still says what the row holds (the
    hub's baseline). Only that field changed: nothing is written. A new row is refused
    whole, as before (there is no old cell to keep)."""
    path = tmp_path / "o.csv"
    start = "First Name,Last Name,E-mail Address,E-mail 2 Address\r\nLukasz,Nowak,l@n.pl,\r\n"
    path.write_bytes(start.encode("cp1252"))
    connector = connector_for(path, encoding="cp1252")
    [rec] = records(connector)
    emails = [*rec.fields["emails"], {"value": "l2@n.pl", "type": "", "primary": False}]
    fields = {**rec.fields, "given_name": "Łukasz", "emails": emails}
    [res] = connector.write([WriteOp("update", "h", fields, rec.native_id, rec.version)])
    assert isinstance(res.error, RejectedRecordError)
    assert res.error.message == (
        "the given name ('Ł') cannot be written in the file's encoding cp1252; its other fields were written"
    )
    assert path.read_bytes() == start.replace("l@n.pl,", "l@n.pl,l2@n.pl").encode("cp1252")
    [now] = records(connector)
    assert (res.native_id, res.version, res.fields) == (now.native_id, now.version, now.fields)
    assert res.fields is not None and res.fields["given_name"] == "Lukasz"
    [again] = connector.write(
        [WriteOp("update", "h", {**now.fields, "given_name": "Łukasz"}, now.native_id, now.version)]
    )
    assert isinstance(again.error, RejectedRecordError) and again.fields is None
    [made] = connector.write([WriteOp("create", "h2", {"given_name": "Łucja", "family_name": "Nowak"})])
    assert isinstance(made.error, RecordError) and "the given name ('Ł')" in made.error.message
    assert made.error.record == str(path)  # no line yet (it said "o.csv:0", QA)
    assert path.read_bytes() == start.replace("l@n.pl,", "l@n.pl,l2@n.pl").encode("cp1252")


def test_a_file_that_cannot_be_replaced_is_one_clear_error(tmp_path: Path) -> None:
    """The temporary file beside it cannot be made (its name, the file's plus a suffix, is
    too long: a failure root meets too, as it does a read-only share): the OSError got out
    as a traceback and left the run "applying". The file and its folder stay as they were."""
    path = tmp_path / ("x" * 244 + ".csv")
    path.write_text("First Name,E-mail Address\r\nAnn,ann@a.com\r\n", encoding="utf-8")
    connector = connector_for(path)
    [record] = records(connector)
    fields = {**record.fields, "given_name": "Anne"}
    with pytest.raises(FatalConnectorError) as info:
        connector.write([WriteOp("update", "h", fields, record.native_id, record.version)])
    assert info.value.message == f"cannot write {path}: file name too long"
    assert path.read_bytes() == b"First Name,E-mail Address\r\nAnn,ann@a.com\r\n"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_path_that_is_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    """``contacts.csv -> shared/contacts.csv``: each write replaces the link's target (its
    temporary file beside the target), resolved at every write; renamed over the link, the
    link became a file of its own and the hub split from the file everyone else uses."""
    shared, other = tmp_path / "shared", tmp_path / "other"
    shared.mkdir()
    other.mkdir()
    (shared / "contacts.csv").write_text("First Name,E-mail Address\r\nAnn,ann@a.com\r\n", encoding="utf-8")
    (other / "contacts.csv").write_text("First Name,E-mail Address\r\nBob,bob@b.com\r\n", encoding="utf-8")
    link = tmp_path / "contacts.csv"
    link.symlink_to(Path("shared") / "contacts.csv")  # relative, as ln -s makes them
    connector = connector_for(link)
    [ann] = records(connector)
    op = WriteOp("update", "h", {**ann.fields, "given_name": "Anne"}, ann.native_id, ann.version)
    [res] = connector.write([op])
    assert res.error is None
    assert link.is_symlink() and link.readlink() == Path("shared") / "contacts.csv"
    assert (shared / "contacts.csv").read_bytes() == b"First Name,E-mail Address\r\nAnne,ann@a.com\r\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.csv", "other", "shared"]
    assert [p.name for p in shared.iterdir()] == ["contacts.csv"]
    # pointed elsewhere between runs: the next write goes to the new target
    link.unlink()
    link.symlink_to(other / "contacts.csv")
    [bob] = records(connector)
    op = WriteOp("update", "h", {**bob.fields, "given_name": "Rob"}, bob.native_id, bob.version)
    [res] = connector.write([op])
    assert res.error is None and link.is_symlink()
    assert (other / "contacts.csv").read_bytes() == b"First Name,E-mail Address\r\nRob,bob@b.com\r\n"
    assert (shared / "contacts.csv").read_bytes() == b"First Name,E-mail Address\r\nAnne,ann@a.com\r\n"


def test_a_field_that_lost_a_column_is_held_again_once_a_run_saw_the_new_header(tmp_path: Path) -> None:
    """The header a pull read goes into its cursor: a field a column of which the header of
    the cursor the run gets has and the file lost is not held (its rows' values there would
    read as removed), a write meanwhile leaves that field's cells as they are, and the next
    run holds it again and reads every row, its cursor saying the field was left out."""
    path = tmp_path / "o.csv"
    path.write_text("First Name,Job Title,E-mail Address,E-mail 2 Address\r\nAnn,,a@x.com,b@x.com\r\n")
    first = connector_for(path)
    assert "emails" in (first.held_fields(None) or ())
    before = first.pull(None, {})
    [record] = [r for r in before.records if isinstance(r, Record)]
    path.write_text("First Name,Job Title,E-mail Address\r\nAnn,,a@x.com\r\n")  # E-mail 2 deleted
    run = connector_for(path)
    assert "emails" in (run.fields or ())  # what the header can hold
    held = run.held_fields(before.cursor)
    assert held is not None and "emails" not in held and "job_title" in held
    pull = run.pull(before.cursor, {record.native_id: record.version})
    [record] = [r for r in pull.records if isinstance(r, Record)]
    fields = {k: v for k, v in record.fields.items() if k != "emails"} | {"job_title": "Boss"}
    [res] = run.write([WriteOp("update", "h", fields, record.native_id, record.version)])
    assert (
        res.error is None
        and path.read_bytes() == b"First Name,Job Title,E-mail Address\r\nAnn,Boss,a@x.com\r\n"
    )
    assert "emails" not in (connector_for(path).held_fields(before.cursor) or ())  # not applied yet
    after = connector_for(path)
    assert "emails" in (after.held_fields(pull.cursor) or ())  # it was: its cursor comes back
    # the row is known at its version, yet read again: that run left its emails out
    again = after.pull(pull.cursor, {res.native_id or "": res.version or ""})
    [record] = [r for r in again.records if isinstance(r, Record)]
    assert [e["value"] for e in record.fields["emails"]] == ["a@x.com"] and record.fields[
        "job_title"
    ] == "Boss"
    quiet = connector_for(path)
    quiet.held_fields(again.cursor)
    assert list(quiet.pull(again.cursor, {res.native_id or "": res.version or ""}).records) == []


def test_a_cursor_of_a_plain_stat_key_knows_no_header_and_is_replaced(tmp_path: Path) -> None:
    """A cursor saved before the header went into it judges nothing (every field the header
    can hold is held, as before), reads nothing when the file did not change, and the pull
    gives back the new form, so the next run knows the header."""
    path = tmp_path / "o.csv"
    path.write_text("First Name,E-mail Address,E-mail 2 Address\r\nAnn,a@x.com,b@x.com\r\n")
    reader = connector_for(path)
    old = json.loads(reader.pull(None, {}).cursor or "")["key"]
    fresh = connector_for(path)
    assert fresh.held_fields(old) == fresh.fields and "emails" in (fresh.fields or ())
    same = fresh.pull(old, {})
    assert list(same.records) == [] and json.loads(same.cursor or "")["header"][2] == "E-mail 2 Address"
    path.write_text("First Name,E-mail Address\r\nAnn,a@x.com\r\n")
    assert "emails" not in (connector_for(path).held_fields(same.cursor) or ())


def test_a_column_deleted_between_judging_and_pulling_is_read_next_run(tmp_path: Path) -> None:
    """What a run holds is judged before its pull: a column that goes in between was not
    judged, and its rows would read as that field's values removed. The pull reads nothing
    and gives back the cursor it got, so the next run judges the new header."""
    path = tmp_path / "o.csv"
    path.write_text("First Name,E-mail Address,E-mail 2 Address\r\nAnn,a@x.com,b@x.com\r\n")
    first = connector_for(path)
    cursor = first.pull(None, {}).cursor
    run = connector_for(path)
    assert "emails" in (run.held_fields(cursor) or ())
    path.write_text("First Name,E-mail Address\r\nAnn,a@x.com\r\n")
    pull = run.pull(cursor, {})
    assert list(pull.records) == [] and pull.cursor == cursor and not pull.complete
    assert "emails" not in (connector_for(path).held_fields(cursor) or ())


def test_a_row_of_thousands_of_custom_fields_is_written_into_a_file_that_had_none(tmp_path: Path) -> None:
    """A file of 100,000 columns hung a run (each write looked every new column up in the
    header list and in the list of those already added, then placed each value by a
    header scan): its fields arrive in a small file, each once, in order, after the
    file's own columns, and read back as written."""
    from contacthub.formats.csv_columns import missing_columns

    custom = {f"custom.c{i}": f"v{i}" for i in range(3000)}
    fields = {"display_name": "Wide Row", "emails": [{"value": "w@example.com", "type": "", "primary": True}]}
    fields |= custom
    header = ["id", "display_name", "custom.c5"]
    added = missing_columns("plain", header, fields, {})
    assert added[:1] == ["emails"] and len(added) == len(set(added)) == 1 + 2999
    assert added[1:4] == ["custom.c0", "custom.c1", "custom.c2"] and "custom.c5" not in added
    path = tmp_path / "small.csv"
    path.write_text("id,display_name,emails\r\nk1,Small One,k1@example.com\r\n", encoding="utf-8")
    conn = connector_for(path)
    [result] = conn.write([WriteOp("create", "hub-1", fields)])
    assert result.error is None, result.error
    header_line = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header_line[:5] == ["id", "display_name", "emails", "custom.c0", "custom.c1"]
    assert len(header_line) == 3 + 3000
    [wide] = [r for r in records(connector_for(path)) if r.fields.get("display_name") == "Wide Row"]
    assert {k: v for k, v in wide.fields.items() if k.startswith("custom.")} == custom


def test_a_header_naming_a_column_twice_is_refused_and_never_written(tmp_path: Path) -> None:
    """``id,display_name,emails,emails,display_name``: a row was read from the last of two
    columns of one name, so "First Name" and the first email were dropped without a word,
    and a write filled the first and read back the last: the edit never stuck, and the
    value of the first column was lost. The file is refused whole, named, and left as is."""
    path = tmp_path / "dup.csv"
    data = (
        b"id,display_name,emails,emails,display_name\r\n"
        b"ann,First Name,work:a@x.example,home:b@x.example,Second Name\r\n"
    )
    path.write_bytes(data)
    connector = connector_for(path)
    with pytest.raises(FatalConnectorError) as info:
        connector.pull(None, {})
    message = info.value.message
    assert str(path) in message
    assert "'display_name' (columns 2, 5)" in message and "'emails' (columns 3, 4)" in message
    with pytest.raises(FatalConnectorError):
        connector.get("ann")
    fields = {"display_name": "New Name", "emails": [{"value": "c@x.example", "type": "", "primary": True}]}
    with pytest.raises(FatalConnectorError):
        connector.write([WriteOp("update", "ann", fields, "ann", None)])
    with pytest.raises(FatalConnectorError):
        connector.write([WriteOp("create", "bob", {"display_name": "Bob"})])
    assert path.read_bytes() == data
    # an Outlook file the same
    outlook = tmp_path / "outlook.csv"
    outlook.write_text("First Name,E-mail Address,First Name\r\nAnn,a@x.example,Anne\r\n")
    with pytest.raises(FatalConnectorError, match=r"'First Name' \(columns 1, 3\)"):
        connector_for(outlook).pull(None, {})


def test_names_the_hub_does_not_read_may_repeat(tmp_path: Path) -> None:
    """Empty names (Thunderbird ends its header with one; a spreadsheet may leave several)
    and extra columns the hub never reads are left alone, and written back as they were."""
    path = tmp_path / "extra.csv"
    path.write_bytes(b"id,display_name,Comments,Comments,,\r\nann,Ann,c1,c2,,\r\n")
    connector = connector_for(path)
    [record] = records(connector)
    assert record.fields == {"display_name": "Ann"}
    fields = {"display_name": "Anne"}
    [res] = connector.write([WriteOp("update", "ann", fields, record.native_id, record.version)])
    assert res.error is None
    assert path.read_bytes() == b"id,display_name,Comments,Comments,,\r\nann,Anne,c1,c2,,\r\n"


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_a_lone_cr_in_a_quoted_note_is_a_line_break(tmp_path: Path, newline: str) -> None:
    """A CR alone inside quotes (how classic Mac programs break a note's lines) was dropped:
    the hub's values break lines with LF and drop any other control character, so "line 1"
    and "line 2" came out as one line "line 1line 2" in every other system. It reads as a
    line break; the cell keeps its CR while the note does not change, and nothing churns."""
    path = tmp_path / "mac.csv"
    rows = ["First Name,E-mail Address,Notes", 'Ann,ann@a.com,"line 1\rline 2\r\nline 3"']
    path.write_bytes(newline.join([*rows, ""]).encode())
    connector = connector_for(path)
    [ann] = records(connector)
    assert ann.fields["notes"] == "line 1\nline 2\nline 3"
    edited = {**ann.fields, "given_name": "Anna"}
    [res] = connector.write([WriteOp("update", "h", edited, ann.native_id, ann.version)])
    assert res.error is None and res.fields is not None
    assert res.fields["notes"] == "line 1\nline 2\nline 3"
    assert path.read_bytes() == newline.join([rows[0], rows[1].replace("Ann", "Anna"), ""]).encode()
    again = connector.pull(None, {ann.native_id: res.version or ""})
    assert list(again.records) == [] and not again.deleted
    assert connector.read_back(edited) == res.fields  # the engine sees the row holds the hub's


@pytest.mark.parametrize(
    ("fmt", "column", "cell"),
    [("google", "Birthday", " --02-03"), ("plain", "birthday", " --02-03"), ("outlook", "Birthday", "")],
)
def test_a_birthday_without_a_year_is_written_as_the_format_spells_one(
    tmp_path: Path, fmt: str, column: str, cell: str
) -> None:
    """``--02-03`` went through the formula guard as ``'--02-03``, a cell no program reads as
    a date. Google's export writes `` --02-03`` (a space, so spreadsheets take it for text,
    not for the sum -13); Outlook has no date without a year, so its cell stays empty and
    the file says it cannot hold the birthday (``read_back``): no made-up year, no churn."""
    path = tmp_path / "book.csv"
    connector = connector_for(path, create=True, format=fmt)
    wanted = sample(1, birthday="--02-03")
    result = create(connector, wanted)
    assert result.error is None and result.fields is not None
    [row] = list(csv.DictReader(path.read_text("utf-8-sig").splitlines()))
    assert row[column] == cell
    assert result.fields.get("birthday") == ("--02-03" if cell else None)
    assert connector.read_back(wanted) == result.fields
    [record] = records(connector)
    assert record.fields == result.fields


@pytest.mark.parametrize("cell", [" --12-25", "--12-25", "'--12-25"])
def test_a_google_birthday_without_a_year_reads_as_one(tmp_path: Path, cell: str) -> None:
    """Google's own spelling, the bare vCard one, and the one this connector wrote before."""
    path = tmp_path / "google.csv"
    path.write_text(f"First Name,Birthday,E-mail 1 - Value\nAnn,{cell},ann@a.com\n")
    [record] = records(connector_for(path))
    assert record.fields["birthday"] == "--12-25"


@pytest.mark.parametrize(("before", "after"), [("5/6/1980", ""), ("0/0/00", "0/0/00"), ("", "")])
def test_an_outlook_birthday_losing_its_year_empties_its_cell(
    tmp_path: Path, before: str, after: str
) -> None:
    """The year a birthday lost elsewhere is not kept in Outlook's cell (it read back as that
    year, into the hub again); a cell saying "no date" already is left as it was."""
    path = tmp_path / "outlook.csv"
    path.write_text(f"First Name,E-mail Address,Birthday\r\nAnn,ann@a.com,{before}\r\n")
    connector = connector_for(path)
    [ann] = records(connector)
    wanted = {**ann.fields, "birthday": "--05-06"}
    [res] = connector.write([WriteOp("update", "h", wanted, ann.native_id, ann.version)])
    assert res.error is None and res.fields is not None and "birthday" not in res.fields
    assert path.read_text().splitlines()[1] == f"Ann,ann@a.com,{after}"
    assert connector.read_back(wanted) == res.fields


@pytest.mark.parametrize(
    ("existing", "new", "edited"),
    [
        ("3/14/1980", "1/2/1980", "12/5/1981"),  # Outlook (US)
        ("14.03.1980", "02.01.1980", "05.12.1981"),  # European, as German Outlook writes it
        ("1980-03-14", "1980-01-02", "1981-12-05"),
        ("", "1980-01-02", "1981-12-05"),  # no date to go by: ISO, as always
        ("25/12/1980", "02/01/1980", "05/12/1981"),  # Outlook (UK): day first, zero-padded
        ("1980/12/25", "1980/01/02", "1981/12/05"),  # Outlook (Japan): year first
    ],
)
def test_new_and_changed_dates_follow_the_files_style(
    tmp_path: Path, existing: str, new: str, edited: str
) -> None:
    """A new row of an Outlook export got ``1980-01-02`` among rows of ``3/14/1980``."""
    path = tmp_path / "outlook.csv"
    path.write_text(f"First Name,E-mail Address,Birthday\r\nAnn,ann@a.com,{existing}\r\nEve,eve@a.com,\r\n")
    connector = connector_for(path)
    ann = next(r for r in records(connector) if r.native_id == "ann@a.com")
    bob = {"given_name": "Bob", "emails": [{"value": "bob@a.com", "type": "", "primary": True}]}
    bob["birthday"] = "1980-01-02"
    changed = {**ann.fields, "birthday": "1981-12-05"}
    results = connector.write(
        [
            WriteOp("create", "h2", bob, None, None),
            WriteOp("update", "h1", changed, ann.native_id, ann.version),
        ]
    )
    assert [r.error for r in results] == [None, None]
    assert path.read_text().splitlines()[1:] == [
        f"Ann,ann@a.com,{edited}",
        "Eve,eve@a.com,",
        f"Bob,bob@a.com,{new}",
    ]
    assert [r.fields and r.fields["birthday"] for r in results] == ["1980-01-02", "1981-12-05"]
    known = {r.native_id or "": r.version or "" for r in results}
    known["eve@a.com"] = next(r.version for r in records(connector) if r.native_id == "eve@a.com")
    again = connector.pull(None, known)
    assert list(again.records) == [] and not again.deleted  # the next run changes nothing


def test_a_person_added_to_the_japanese_outlook_export_gets_its_day_first_date(tmp_path: Path) -> None:
    path = tmp_path / "jp.csv"
    path.write_bytes(corpus("outlook-japanese__ox_jpcontact.csv").read_bytes())
    connector = connector_for(path)
    fields = {**sample(2), "birthday": "1985-07-04"}
    [res] = connector.write([WriteOp("create", "h2", fields, None, None)])
    assert res.error is None and res.fields is not None and res.fields["birthday"] == "1985-07-04"
    rows = list(csv.DictReader(path.read_text("utf-8").splitlines()))
    assert [row["誕生日"] for row in rows] == ["01.01.1990", "04.07.1985"]


def test_a_page_of_writes_changes_no_other_rows_version(tmp_path: Path) -> None:
    """A write into a plain file fills in the id of every row without one; the ids were
    counted in the rows' versions, so the first page of a run's updates changed every other
    row's version, and each update of the next page was refused as "changed since it was
    read" (QA: a first sync of a 667-row file reported 167 such errors)."""
    path = tmp_path / "book.csv"
    path.write_text("display_name,emails\nAnn Lee,work:ann@example.com\nBob Roe,work:bob@example.com\n")
    connector = connector_for(path)
    ann, bob = sorted(records(connector), key=lambda r: r.fields["display_name"])
    first = connector.write(
        [WriteOp("update", "h1", {**ann.fields, "job_title": "Foreman"}, ann.native_id, ann.version)]
    )
    assert first[0].error is None and "id" in path.read_text().splitlines()[0]
    second = connector.write(
        [WriteOp("update", "h2", {**bob.fields, "job_title": "Clerk"}, bob.native_id, bob.version)]
    )
    assert second[0].error is None, second[0].error
    assert {r.fields["display_name"]: r.fields.get("job_title") for r in records(connector)} == {
        "Ann Lee": "Foreman",
        "Bob Roe": "Clerk",
    }


def _uk_file(path: Path, *birthdays: str) -> None:
    rows = "".join(f"P{i},p{i}@a.com,{day}\r\n" for i, day in enumerate(birthdays))
    path.write_text(f"First Name,E-mail Address,Birthday\r\n{rows}")


def _birthdays(connector: CsvConnector) -> dict[str, str | RecordError]:
    out: dict[str, str | RecordError] = {}
    for item in connector.pull(None, {}).records:
        if isinstance(item, RecordError):
            out[item.record or ""] = item
        else:
            out[item.native_id or ""] = item.fields.get("birthday", "")
    return out


def test_a_uk_export_is_read_day_first_and_its_dates_written_back_so(tmp_path: Path) -> None:
    """An Outlook export from a UK locale: ``25/12/1980`` was no date (kept as the text
    "25/12/1980") and ``3/4/1980`` read as 4 March; a new row got ``1/2/1980``, month first,
    into a day-first file. One cell that is a date only day first tells the whole file."""
    path = tmp_path / "uk.csv"
    _uk_file(path, "25/12/1980", "3/4/1980", "")
    connector = connector_for(path)
    assert _birthdays(connector) == {"p0@a.com": "1980-12-25", "p1@a.com": "1980-04-03", "p2@a.com": ""}
    [p1] = [r for r in records(connector) if r.native_id == "p1@a.com"]
    bob = {"given_name": "Bob", "emails": [{"value": "bob@a.com", "type": "", "primary": True}]}
    results = connector.write(
        [
            WriteOp("create", "h1", {**bob, "birthday": "1980-01-02"}, None, None),
            WriteOp("update", "h2", {**p1.fields, "given_name": "Pat"}, p1.native_id, p1.version),
        ]
    )
    assert [r.error for r in results] == [None, None]
    assert path.read_text().splitlines()[1:] == [
        "P0,p0@a.com,25/12/1980",
        "Pat,p1@a.com,3/4/1980",  # its date unchanged, its cell too
        "P2,p2@a.com,",
        "Bob,bob@a.com,2/1/1980",  # 2 January, spelled as the file's unpadded 3/4/1980
    ]
    assert _birthdays(connector)["bob@a.com"] == "1980-01-02"


def test_the_order_a_file_told_is_kept_when_the_row_that_told_it_goes(tmp_path: Path) -> None:
    """``25/12/1980`` told the file day first; when its row was deleted, ``auto`` read the
    file month first again and the other row's 3 April became 4 March, everywhere. The
    order told travels in the cursor; a cell that tells otherwise still decides."""
    path = tmp_path / "uk.csv"
    _uk_file(path, "25/12/1980", "3/4/1980")
    first = connector_for(path).pull(None, {})
    assert {r.native_id: r.fields["birthday"] for r in first.records if isinstance(r, Record)} == {
        "p0@a.com": "1980-12-25",
        "p1@a.com": "1980-04-03",
    }
    path.write_text("First Name,E-mail Address,Birthday\r\nP1,p1@a.com,3/4/1980\r\nP2,p2@a.com,\r\n")
    again = connector_for(path).pull(first.cursor, {})
    assert {r.native_id: r.fields.get("birthday") for r in again.records if isinstance(r, Record)} == {
        "p1@a.com": "1980-04-03",
        "p2@a.com": None,
    }
    bob = {"given_name": "Bob", "emails": [{"value": "bob@a.com", "type": "", "primary": True}]}
    writer = connector_for(path)
    writer.pull(again.cursor, {})
    [res] = writer.write([WriteOp("create", "h1", {**bob, "birthday": "1980-01-02"}, None, None)])
    assert res.error is None and path.read_text().splitlines()[-1] == "Bob,bob@a.com,2/1/1980"
    assert _birthdays(connector_for(path))["p1@a.com"] == "1980-03-04"  # (no cursor: month first)
    _uk_file(path, "12/25/1980", "3/4/1980")  # now a cell tells month first
    told = connector_for(path).pull(again.cursor, {})
    assert {r.native_id: r.fields["birthday"] for r in told.records if isinstance(r, Record)} == {
        "p0@a.com": "1980-12-25",
        "p1@a.com": "1980-03-04",
    }


@pytest.mark.parametrize(
    ("order", "expect"), [("dmy", "1980-04-03"), ("mdy", "1980-03-04"), ("auto", "1980-03-04")]
)
def test_the_date_order_setting_reads_a_file_whose_dates_could_be_either(
    tmp_path: Path, order: str, expect: str
) -> None:
    """No cell of this file says its order: ``auto`` reads it month first, Outlook's
    default; ``date_order = "dmy"`` reads it as the UK export it is."""
    path = tmp_path / "uk.csv"
    _uk_file(path, "3/4/1980", "5/5/1990", "14.03.1980", "1980-07-08")
    assert _birthdays(connector_for(path, date_order=order)) == {
        "p0@a.com": expect,
        "p1@a.com": "1990-05-05",
        "p2@a.com": "1980-03-14",  # dotted: day first whatever the setting
        "p3@a.com": "1980-07-08",
    }


def test_a_file_of_both_orders_reports_the_dates_it_cannot_tell(tmp_path: Path) -> None:
    """Edited in two locales, the file holds ``25/12/1980`` and ``12/24/1980``: ``3/4/1980``
    there is no guess but an error naming the setting (and the pull is incomplete, so no
    row goes for deleted); the setting then decides, and a cell it cannot read is an error
    too, never a birthday of text."""
    path = tmp_path / "mixed.csv"
    _uk_file(path, "25/12/1980", "12/24/1980", "3/4/1980", "5/5/1980")
    connector = connector_for(path)
    pull = connector.pull(None, {})
    assert not pull.complete
    got = _birthdays(connector)
    error = got.pop(f"{path}:4")
    assert isinstance(error, RecordError)
    assert "'3/4/1980'" in error.message and "Birthday" in error.message and "date_order" in error.message
    assert got == {"p0@a.com": "1980-12-25", "p1@a.com": "1980-12-24", "p3@a.com": "1980-05-05"}
    bob = {"given_name": "Bob", "emails": [{"value": "bob@a.com", "type": "", "primary": True}]}
    [res] = connector.write([WriteOp("create", "h1", {**bob, "birthday": "1980-01-02"}, None, None)])
    assert res.error is None and path.read_text().splitlines()[-1] == "Bob,bob@a.com,1980-01-02"  # ISO
    got = _birthdays(connector_for(path, date_order="dmy"))
    assert isinstance(got.pop(f"{path}:3"), RecordError)  # 12/24/1980 is no day-first date
    assert got == {
        "p0@a.com": "1980-12-25",
        "p2@a.com": "1980-04-03",
        "p3@a.com": "1980-05-05",
        "bob@a.com": "1980-01-02",
    }


@pytest.mark.parametrize(
    ("fmt", "header"),
    [("google", "First Name,Last Name,Birthday,E-mail 1 - Value"),
     ("outlook", "First Name,Last Name,Birthday,E-mail Address")],
)  # fmt: skip
def test_with_the_order_set_a_date_cell_of_text_is_an_error_of_its_row(
    tmp_path: Path, fmt: str, header: str
) -> None:
    """``31/31/1980`` and ``tomorrow`` under ``date_order = "dmy"`` were the birthdays
    ``31/31/1980`` and ``tomorrow`` in every card (``BDAY:tomorrow``) and every other file.
    Each is an error of its row naming the line, the pull is incomplete (no one deleted),
    the row is left as it is, and the other rows read on."""
    path = tmp_path / "book.csv"
    text = (
        f"{header}\r\nAnn,Lee,31/31/1980,ann@example.com\r\nBob,Roe,tomorrow,bob@example.com\r\n"
        "Cy,Wu,25/12/1980,cy@example.com\r\n"
    )
    path.write_text(text)
    connector = connector_for(path, format=fmt, date_order="dmy")
    pull = connector.pull(None, {})
    assert not pull.complete
    got = _birthdays(connector)
    for line, cell in ((2, "31/31/1980"), (3, "tomorrow")):
        error = got.pop(f"{path}:{line}")
        assert isinstance(error, RecordError)
        assert f"Birthday: {cell!r} is no date" in error.message and "date_order = 'dmy'" in error.message
    assert got == {"cy@example.com": "1980-12-25"}
    [res] = connector.write([WriteOp("update", "ann@example.com", sample(1), "ann@example.com", None)])
    # (not "not found", which unlinked the row and wrote the person again: it may be that row)
    assert isinstance(res.error, RecordError) and not isinstance(res.error, RecordNotFoundError)
    assert res.error.message == (
        "Given1 Family1: no readable row is theirs, and lines 2, 3 could not be read (one may be "
        "theirs): fix them and this change is written on the next sync"
    )
    assert path.read_bytes() == text.encode()
    assert len(records(connector_for(path, format=fmt))) == 3  # (``auto``: text, as before)


def test_an_unreadable_row_whose_id_cell_names_another_is_not_the_row_written(tmp_path: Path) -> None:
    """While a row cannot be read, a write for an id no readable row has waits for it, as
    it may be that row; in a file with an ``id`` column, a row whose ``id`` cell names
    another id cannot be: it is left out, and with no row left that may be, the row is not
    there (``RecordNotFoundError``, as with every row readable). A row with an empty ``id``
    cell, or one whose cells cannot be read at all, may be any row."""
    path = tmp_path / "book.csv"
    head = "id,given_name,family_name,emails,birthday\r\n"
    ann = "ann,Ann,Lee,ann@example.com,31/31/1980\r\n"  # (no date: line 2 is unreadable)
    cy = "cy,Cy,Wu,cy@example.com,25/12/1980\r\n"

    def written(text: str, nid: str, fields: dict[str, Any], kind: str = "update") -> RecordError | None:
        path.write_bytes(text.encode())
        connector = connector_for(path, date_order="dmy")
        list(connector.pull(None, {}).records)
        [res] = connector.write([WriteOp(kind, nid, fields, nid, None)])
        assert path.read_bytes() == text.encode()  # nothing written
        return res.error

    bob = sample(2, display_name="Bob Roe")
    error = written(head + ann + cy, "bob", bob)
    assert isinstance(error, RecordNotFoundError), error
    error = written(head + ann + cy, "ann", sample(1))  # that row itself: it waits
    assert error is not None and not isinstance(error, RecordNotFoundError)
    assert error.message.startswith("Given1 Family1: no readable row is theirs, and line 2 could")
    for other in (",Bo,Roe,bo@example.com,tomorrow\r\n", "zed,Zed,Roe\r\n"):
        error = written(head + ann + cy + other, "bob", bob)  # an empty id cell, no cells to trust
        assert error is not None and not isinstance(error, RecordNotFoundError), error
        assert error.message == (
            "Bob Roe: no readable row is theirs, and line 4 could not be read (it may be "
            "theirs): fix it and this change is written on the next sync"
        )
    # no name or email in the write (a deletion): the person is named by the id
    error = written(head + ann + cy + ",Bo,Roe,bo@example.com,tomorrow\r\n", "bob", {}, "delete")
    assert error is not None and error.message.startswith("bob: no readable row is theirs"), error


def test_a_birthday_of_text_is_not_written_where_the_order_is_set(tmp_path: Path) -> None:
    """A birthday of text the hub holds (a vCard 4.0 ``BDAY;VALUE=text:circa 1800``)
    written into a file whose ``date_order`` is set made a row that was an error on every
    read after: its cell stays empty, and the file says it cannot hold the birthday."""
    path = tmp_path / "book.csv"
    path.write_text("First Name,Birthday,E-mail 1 - Value\r\nCy,25/12/1980,cy@example.com\r\n")
    connector = connector_for(path, date_order="dmy")
    records(connector)
    wanted = sample(1, birthday="circa 1800")
    result = create(connector, wanted)
    assert result.error is None and result.fields is not None
    assert "birthday" not in result.fields
    assert connector.read_back(wanted) == result.fields
    assert path.read_text().splitlines()[-1].split(",")[1] == ""
    assert len(records(connector_for(path, date_order="dmy"))) == 2


def test_a_mapping_to_a_column_with_no_name_is_refused(tmp_path: Path) -> None:
    for blank in ("", "  "):
        with pytest.raises(ConfigError, match=r"'custom\.trade' in a column with no name"):
            connector_for(tmp_path / "c.csv", mapping={"custom.trade": blank})


def test_an_unknown_date_order_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("given_name\nAnn\n")
    with pytest.raises(ConfigError) as info:
        connector_for(path, date_order="european")
    assert "unknown csv date_order 'european' (known: auto, mdy, dmy, ymd)" in info.value.message
    for order in ("auto", "mdy", "dmy", "ymd"):
        connector_for(path, date_order=order)


def test_a_file_the_hub_makes_gets_the_umasks_mode_and_a_file_keeps_its_own(tmp_path: Path) -> None:
    """A CSV export the hub created was ``-rw-------`` (the temporary file's 0600), where
    new cards are ``-rw-r--r--``: another account or program could not read the export (QA)."""
    old = os.umask(0o022)
    try:
        made = tmp_path / "export.csv"
        connector_for(made, create=True).write([WriteOp("create", "h1", sample(1))])
        assert stat.S_IMODE(made.stat().st_mode) == 0o644
        os.chmod(made, 0o640)  # the owner's choice, kept by the next write
        connector = connector_for(made)
        [rec] = records(connector)
        connector.write([WriteOp("update", "h1", {**rec.fields, "notes": "x"}, rec.native_id, rec.version)])
        assert stat.S_IMODE(made.stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_a_symlink_loop_is_one_clear_error_at_apply_and_at_run_time(tmp_path: Path) -> None:
    """``contacts.csv`` a link in a loop: ``apply`` ended in ``RuntimeError: Symlink loop``
    and a run in an ``OSError`` traceback (QA)."""
    from contacthub.errors import ConfigError, FatalConnectorError

    (tmp_path / "loop1.csv").symlink_to("loop2.csv")
    (tmp_path / "loop2.csv").symlink_to("loop1.csv")
    connector = connector_for(tmp_path / "loop1.csv", create=True)
    with pytest.raises(ConfigError, match=r"cannot read .*loop1\.csv: too many levels of symbolic links"):
        connector.check_location()
    with pytest.raises(FatalConnectorError, match=r"cannot read .*loop1\.csv: too many levels"):
        list(connector.pull(None, {}).records)
    assert config.location_of({"path": str(tmp_path / "loop1.csv")}) is not None  # no RuntimeError


def _plain_file(path: Path, rows: int) -> None:
    lines = ["id,display_name,emails,notes"] + [f"r{i},Person {i},p{i}@x.test,note {i}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_the_pages_of_a_run_read_the_file_once_and_map_only_their_own_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run writes a page (500 ops) at a time, and each page read the whole file again,
    parsed it and mapped every row, three times: a first copy of 10,000 rows into a CSV
    file took 13 s, of 50,000 more than two minutes. While the file is as the last page
    left it (its stat key), the next page starts from the table in memory, and where every
    row carries its id only the page's own rows are mapped."""
    import contacthub.connectors.csv_file as csv_file

    path = tmp_path / "p.csv"
    _plain_file(path, 300)
    connector = connector_for(path)
    pull = connector.pull(None, {})
    versions = {r.native_id: r.version for r in pull.records if isinstance(r, Record)}
    reads, maps = [], []
    read_bytes, read_row = CsvConnector._read_bytes, csv_file.read_row
    monkeypatch.setattr(CsvConnector, "_read_bytes", lambda self: reads.append(1) or read_bytes(self))
    monkeypatch.setattr(csv_file, "read_row", lambda *a: maps.append(1) or read_row(*a))
    for page in range(4):
        ops = [
            WriteOp("update", f"h{i}", {"display_name": f"P{i}"}, f"r{i}", versions[f"r{i}"])
            for i in range(page * 5, page * 5 + 5)
        ]
        ops.append(WriteOp("create", f"new{page}", {"display_name": f"New {page}"}))
        ops.append(WriteOp("delete", "x", {}, f"r{299 - page}", versions[f"r{299 - page}"]))
        results = connector.write(ops)
        assert [r.error for r in results] == [None] * 7
        assert [r.native_id for r in results[:6]] == [
            *(f"r{i}" for i in range(page * 5, page * 5 + 5)),
            f"new{page}",
        ]
    assert reads == [1]  # the first page reads the file; the others write it from memory
    # the first page maps the file's 300 rows once; then only the 28 rows written are mapped
    # (each twice or so), not 300 rows (three times) a page
    assert len(maps) < 300 + 100
    again = {r.native_id: r for r in connector_for(path).pull(None, {}).records if isinstance(r, Record)}
    assert len(again) == 300 and {"new0", "new3"} <= set(again) and "r296" not in again
    assert again["r7"].fields["display_name"] == "P7" and again["r20"].fields["display_name"] == "Person 20"


def test_an_edit_made_between_two_pages_is_read_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    _plain_file(path, 5)
    connector = connector_for(path)
    connector.pull(None, {})
    connector.write([WriteOp("update", "h", {"display_name": "Ann"}, "r0", None)])
    text = path.read_text(encoding="utf-8").replace("note 3", "note 3 by hand") + "r9,Added By Hand,,\n"
    path.write_text(text, encoding="utf-8")
    [result] = connector.write([WriteOp("update", "h", {"display_name": "Bob"}, "r1", None)])
    assert result.error is None
    read = {r.native_id: r.fields for r in records(connector_for(path))}
    assert read["r0"]["display_name"] == "Ann" and read["r1"]["display_name"] == "Bob"
    assert read["r3"]["notes"] == "note 3 by hand" and read["r9"]["display_name"] == "Added By Hand"


def test_a_page_that_failed_to_be_saved_is_not_taken_for_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write changes the table in memory before it saves it: when the save fails, the
    next page reads the file again, so what was never written is not written with it."""
    path = tmp_path / "p.csv"
    _plain_file(path, 3)
    connector = connector_for(path)
    connector.write([WriteOp("update", "h", {"display_name": "Ann"}, "r0", None)])

    def refuse(self: CsvConnector, data: bytes) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(CsvConnector, "_replace", refuse)
    with pytest.raises(FatalConnectorError, match="no space left"):
        connector.write([WriteOp("create", "lost", {"display_name": "Never Written"})])
    monkeypatch.undo()
    [result] = connector.write([WriteOp("update", "h", {"display_name": "Bob"}, "r1", None)])
    assert result.error is None
    text = path.read_text(encoding="utf-8")
    assert "Never Written" not in text and "Ann" in text and "Bob" in text


def test_an_error_of_a_later_page_names_the_line_the_row_is_on_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows deleted by one page move the rows after them up a line in the file."""
    monkeypatch.setattr("contacthub.connectors.csv_file.FIELD_LIMIT", 1000)
    path = tmp_path / "p.csv"
    _plain_file(path, 5)
    connector = connector_for(path)
    connector.write([WriteOp("delete", "h", {}, "r0", None), WriteOp("delete", "h", {}, "r1", None)])
    [result] = connector.write([WriteOp("update", "h", {"notes": "n" * 1001}, "r4", None)])
    assert isinstance(result.error, RecordError) and result.error.record == f"{path}:4"
    assert path.read_text(encoding="utf-8").splitlines()[3].startswith("r4,")


def test_a_plain_files_common_spellings_of_fields_are_read_and_written_there(tmp_path: Path) -> None:
    """A hand-made plain sheet names its columns as people do (``Full_Name``, ``E-mail``,
    ``Mobile``): each is read and written as its field, in that column, one value a cell;
    no column of the field's own name is added beside it."""
    path = tmp_path / "book.csv"
    path.write_text(
        "Full_Name,E-mail,Mobile,Phone,Company,Title\r\n"
        "Ann Smith,ann@example.com,+1 555 201 0001,+1 555 201 0002,Acme,Boss\r\n",
        encoding="utf-8",
    )
    connector = connector_for(path, format="plain")
    [ann] = records(connector)
    assert ann.fields["display_name"] == "Ann Smith"
    assert ann.fields["organization"] == "Acme" and ann.fields["job_title"] == "Boss"
    assert [e["value"] for e in ann.fields["emails"]] == ["ann@example.com"]
    assert {(p["value"], p["type"]) for p in ann.fields["phones"]} == {
        ("+15552010001", "cell"),
        ("+15552010002", ""),
    }
    bob = {
        "display_name": "Bob Jones",
        "organization": "Bobco",
        "emails": [{"value": "bob@example.com", "type": "work", "primary": True}],
        "phones": [{"value": "+15552019999", "type": "work"}, {"value": "+15552018888", "type": "cell"}],
    }
    create(connector, bob)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["Full_Name", "E-mail", "Mobile", "Phone", "Company", "Title", "id"]
    assert rows[1]["Full_Name"] == "Bob Jones" and rows[1]["E-mail"] == "bob@example.com"
    assert rows[1]["Mobile"].endswith("+15552018888") and rows[1]["Phone"].endswith("+15552019999")


def test_a_plain_files_own_field_column_wins_over_a_spelling_of_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``name`` beside ``display_name`` is some other column: the field is read from its
    own, and the other is said to be unread."""
    path = tmp_path / "book.csv"
    path.write_text("display_name,name,emails\r\nAnn Smith,ann,ann@example.com\r\n", encoding="utf-8")
    connector = connector_for(path)
    with caplog.at_level("WARNING", logger="contacthub.connectors.csv_file"):
        connector.check()
        [ann] = records(connector)
    assert ann.fields["display_name"] == "Ann Smith"
    assert ["column 'name' is not read" in r.getMessage() for r in caplog.records] == [True]


def test_a_plain_files_unread_columns_are_said_with_the_mapping_that_reads_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A column the hub does not read was left alone without a word: its values synced
    nowhere, and the user never learned why. Said once in each run (its check), with the
    mapping that would read it; never a column the plain format reads, nor an empty name."""
    path = tmp_path / "book.csv"
    path.write_text("id,name,Nick Name,emails,\r\n1,Ann,annie,ann@example.com,\r\n", encoding="utf-8")
    connector = connector_for(path)
    with caplog.at_level("WARNING", logger="contacthub.connectors.csv_file"):
        connector.check()
        records(connector)
    [said] = [r.getMessage() for r in caplog.records]
    assert "column 'Nick Name' is not read" in said
    assert 'mapping = { "custom.nick_name" = "Nick Name" }' in said
    caplog.clear()
    mapped = connector_for(path, mapping={"custom.nick_name": "Nick Name"})
    with caplog.at_level("WARNING", logger="contacthub.connectors.csv_file"):
        mapped.check()
        [ann] = records(mapped)
    assert not caplog.records
    assert ann.fields["custom.nick_name"] == "annie" and ann.fields["display_name"] == "Ann"


def test_a_spelled_column_beside_its_fields_own_is_said_as_such(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``email`` beside ``emails``: the field's own column is read, and the other was said
    to be a name "no field of the plain format has", though ``email`` is one (QA)."""
    path = tmp_path / "book.csv"
    path.write_text("id,name,emails,email\r\n1,Ann,ann@example.com,ann@x.test\r\n", encoding="utf-8")
    connector = connector_for(path)
    with caplog.at_level("WARNING", logger="contacthub.connectors.csv_file"):
        connector.check()
        [ann] = records(connector)
    [said] = [r.getMessage() for r in caplog.records]
    assert "column 'email' is not read: the file's 'emails' column holds that field" in said
    assert "no field" not in said
    assert [e["value"] for e in ann.fields["emails"]] == ["ann@example.com"]


def test_a_sheet_of_common_spellings_alone_is_plain(tmp_path: Path) -> None:
    """``name, email, phone`` is no column any format knows: the run failed ("no known
    column"); it is a plain sheet. ``First Name, Last Name, Company`` stays Outlook's:
    Outlook reads each of them as the plain format would."""
    path = tmp_path / "book.csv"
    path.write_text("name,email,phone\r\nAnn Smith,ann@example.com,+15552010001\r\n", encoding="utf-8")
    [ann] = records(connector_for(path))
    assert ann.fields["display_name"] == "Ann Smith"
    assert [e["value"] for e in ann.fields["emails"]] == ["ann@example.com"]
    outlook = tmp_path / "outlook.csv"
    outlook.write_text("First Name,Last Name,Company\r\nAnn,Smith,Acme\r\n", encoding="utf-8")
    connector = connector_for(outlook)
    [ann] = records(connector)
    assert connector._header()[0] == "outlook"
    assert ann.fields["given_name"] == "Ann" and ann.fields["organization"] == "Acme"


@pytest.mark.parametrize(
    "header",
    [
        "Name,Email,Phone",
        "Name,E-Mail,Phone",
        "Display Name,Email,Phone",
        "Name,Email Address,Mobile",
        "Company,Email,Phone,Notes",
        "Title,Name,Email,Phone",
    ],
)
def test_a_hand_made_sheet_with_capitalised_spellings_is_plain(tmp_path: Path, header: str) -> None:
    """``Name`` (Google's legacy export has one), ``Title`` (Outlook's name prefix) or
    ``Display Name`` (Thunderbird's) made a hand-made sheet that export: its ``Email`` and
    ``Phone`` were never read, without a word, and the person was made twice (QA). Only
    columns no plain spelling names make a sheet an export."""
    path = tmp_path / "book.csv"
    cells = {"Company": "Acme", "Title": "CFO", "Notes": "met at fair", "Mobile": "+15552010001"}
    cells |= {"Phone": "+15552010001"}
    row = [cells.get(c, "ann@example.com" if "mail" in c.lower() else "Ann Smith") for c in header.split(",")]
    path.write_text(f"{header}\r\n{','.join(row)}\r\n", encoding="utf-8")
    connector = connector_for(path)
    [ann] = records(connector)
    assert connector._header()[0] == "plain"
    assert [e["value"] for e in ann.fields["emails"]] == ["ann@example.com"]
    assert [p["value"] for p in ann.fields["phones"]] == ["+15552010001"]
    if "Company" in header:
        assert ann.fields["organization"] == "Acme" and ann.fields["notes"] == "met at fair"
    else:
        assert ann.fields["display_name"] == "Ann Smith"
    if "Title" in header:
        assert ann.fields["job_title"] == "CFO" and "name_prefix" not in ann.fields


def test_an_exports_columns_spelling_a_field_it_does_not_read_are_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A sheet an export's own column makes that export (``Business Phone``: Outlook's) does
    not read ``Email`` or ``Phone``: said each run, with the setting that reads them. The
    export's own columns no field needs (``Categories``) are not."""
    path = tmp_path / "book.csv"
    path.write_text(
        "First Name,Business Phone,Email,Phone,Categories\r\nAnn,+15552010001,ann@x.test,,VIP\r\n",
        encoding="utf-8",
    )
    connector = connector_for(path)
    with caplog.at_level("WARNING", logger="contacthub.connectors.csv_file"):
        connector.check()
    assert connector._header()[0] == "outlook"
    [said] = [r.getMessage() for r in caplog.records]
    assert "columns 'Email', 'Phone' are not read: the file reads as a outlook export" in said
    assert 'set format = "plain"' in said and "Categories" not in said


def test_a_google_rows_phones_stay_in_their_slots_when_one_is_added(tmp_path: Path) -> None:
    """Google's slots are labelled: a pager number was held back for a "column of its
    kind" after the others, so adding one phone moved every number a slot on, each
    rewritten in E.164 (QA). A number a slot holds stays there, as typed; only the label
    of one whose type or primary mark changed is written."""
    path = tmp_path / "google.csv"
    header = "Name,E-mail 1 - Type,E-mail 1 - Value," + ",".join(
        f"Phone {n} - Type,Phone {n} - Value" for n in range(1, 5)
    )
    row = "Ann Lee,* Home,ann@x.test,Pager,+1 555-201-0001,Main,+1 555-201-0002,Home,+1 555-201-0003,,"
    path.write_text(f"{header}\r\n{row}\r\n", encoding="utf-8")
    connector = connector_for(path)
    [ann] = records(connector)
    phones = [{**p, "primary": p["value"] == "+15552010001"} for p in ann.fields["phones"]]
    wanted = {**ann.fields, "phones": [*phones, {"value": "+15552010009", "type": "cell"}]}
    [res] = connector.write([WriteOp("update", "h", wanted, ann.native_id, ann.version)])
    assert res.error is None
    with path.open(encoding="utf-8", newline="") as f:
        [written] = list(csv.DictReader(f))
    slots = [(written[f"Phone {n} - Type"], written[f"Phone {n} - Value"]) for n in range(1, 5)]
    assert slots == [
        ("Pager", "+1 555-201-0001"),  # the primary read there: no ``* `` added
        ("Main", "+1 555-201-0002"),  # as typed: no guard quote added (QA)
        ("Home", "+1 555-201-0003"),
        ("Mobile", "'+15552010009"),
    ]


def test_a_trimmed_outlook_export_with_title_and_job_title_stays_outlook(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``Title`` and ``Job Title`` both spell the job title, so a plain reading of the two
    is no reading: taken for plain (1af042b), Outlook's name prefix ("Dr.") became the job
    title, ``Job Title`` went unread with a warning, and a hub made before saw every job
    title change to "Dr." (QA). The sheet is Outlook's: each column read as Outlook's."""
    path = tmp_path / "book.csv"
    path.write_text(
        "Title,First Name,Last Name,Job Title,E-mail Address,Mobile Phone\r\n"
        "Dr.,Ann,Lee,Surveyor,ann@example.com,+1 415 555 0100\r\n",
        encoding="utf-8",
    )
    connector = connector_for(path)
    with caplog.at_level("WARNING", logger="contacthub.connectors.csv_file"):
        connector.check()
    [ann] = records(connector)
    assert connector._header()[0] == "outlook"
    assert ann.fields["name_prefix"] == "Dr." and ann.fields["job_title"] == "Surveyor"
    assert ann.fields["given_name"] == "Ann" and ann.fields["family_name"] == "Lee"
    assert [e["value"] for e in ann.fields["emails"]] == ["ann@example.com"]
    assert [(p["value"], p.get("type")) for p in ann.fields["phones"]] == [("+14155550100", "cell")]
    assert not caplog.records


def test_rows_a_write_does_not_change_are_written_back_byte_for_byte(tmp_path: Path) -> None:
    """QA: Thunderbird quotes a cell holding a tab (``"custom<TAB>2"``), which the csv
    module does not, and a sync that only added another row wrote it back without its
    quotes. A row whose cells a write leaves alone is now written back as it was read: its
    quoting, a note over two lines, its own line ending (LF in a CRLF file), the BOM; so is
    a quoted header."""
    path = tmp_path / "t.csv"
    head = '"First Name",Last Name,Display Name,Primary Email,Custom 1,Notes\r\n'
    rows = (
        'contact,two,contact two,c2@x.test,"custom\t2",hi\r\n'
        'Bo,Ek,"Bo Ek",bo@x.test,,"line one\nline two"\n'
        '"Cy",Fa,Cy Fa,cy@x.test,"plain",""\r\n'
    )
    before = b"\xef\xbb\xbf" + (head + rows).encode()
    path.write_bytes(before)
    connector = connector_for(path, format="thunderbird")
    assert len(records(connector)) == 3
    create(connector, sample(1))
    after = path.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == before.count(b"\n") + 1
    assert len(records(connector_for(path, format="thunderbird"))) == 4


def test_a_changed_row_keeps_the_quotes_of_the_cells_it_did_not_change(tmp_path: Path) -> None:
    """An edit of one cell of a row respells that cell only: the others keep their quotes
    (the csv module would drop them), and the row still reads back as its cells."""
    path = tmp_path / "t.csv"
    head = "First Name,Last Name,Display Name,Primary Email,Custom 1,Notes\r\n"
    path.write_bytes(f'{head}"contact",two,contact two,c2@x.test,"custom\t2","hi"\r\n'.encode())
    connector = connector_for(path, format="thunderbird")
    [rec] = records(connector)
    fields = {**rec.fields, "notes": "hi, there"}
    [res] = connector.write([WriteOp("update", "h", fields, rec.native_id, rec.version)])
    assert res.error is None
    row = '"contact",two,contact two,c2@x.test,"custom\t2","hi, there"\r\n'
    assert path.read_bytes() == f"{head}{row}".encode()
    fields = {**fields, "notes": "bye"}
    [rec] = records(connector_for(path, format="thunderbird"))
    [res] = connector.write([WriteOp("update", "h", fields, rec.native_id, rec.version)])
    assert res.error is None
    row = '"contact",two,contact two,c2@x.test,"custom\t2",bye\r\n'
    assert path.read_bytes() == f"{head}{row}".encode()
    [rec] = records(connector_for(path, format="thunderbird"))
    assert rec.fields["notes"] == "bye" and rec.fields["given_name"] == "contact"


def test_a_new_person_waits_while_an_unreadable_row_holds_their_email(tmp_path: Path) -> None:
    """QA: a row typed by hand with a bad date (unreadable under ``date_order``) and the
    same person's card arriving elsewhere: the hub wrote a second row beside it, and once
    the date was fixed that row was a second person in every connector. A new person waits
    while an unreadable row holds one of their emails (any case), saying which line; one
    whose email no unreadable row holds is written."""
    path = tmp_path / "book.csv"
    text = (
        "id,given_name,family_name,emails,birthday\r\n"
        ",Dan,Poe,PERSON1@example.com,31/02/1980\r\n"  # (no date: line 2 is unreadable)
        "cy,Cy,Wu,cy@example.com,25/12/1980\r\n"
    )
    path.write_bytes(text.encode())
    connector = connector_for(path, date_order="dmy")
    list(connector.pull(None, {}).records)
    waits, written = connector.write(
        [WriteOp("create", "h-1", sample(1), None, None), WriteOp("create", "h-2", sample(2), None, None)]
    )
    assert waits.error is not None and waits.native_id is None
    assert waits.error.message.startswith("Given1 Family1: no readable row is theirs, and line 2 could not")
    assert waits.error.record == str(path)  # (no "book.csv:None")
    assert written.error is None and written.native_id
    rows = path.read_text().splitlines()
    assert len(rows) == 4 and rows[1].startswith(",Dan,Poe,PERSON1@example.com,31/02/1980")
    assert "person2@example.com" in rows[3] and "person1@example.com" not in path.read_text()
