"""The CardDAV connector against a real Radicale server: conformance, discovery, sync
tokens, preconditions, authentication."""

from __future__ import annotations

import http.server
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from contacthub.connectors.base import ConnectorConfig, MemoryCredentials, Record, WriteOp
from contacthub.connectors.carddav import CardDavConnector
from contacthub.errors import (
    ConfigError,
    FatalConnectorError,
    RecordError,
    RecordNotFoundError,
    StaleVersionError,
)
from tests.connectors.conformance import ConnectorConformance, all_records, create, sample
from tests.radicale_server import Radicale, new_book, serve


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    yield from serve(tmp_path_factory)


@pytest.fixture
def book(radicale: Radicale) -> str:
    return new_book(radicale)


def make(url: str, radicale: Radicale, user: str = "alice", **settings: Any) -> CardDavConnector:
    values = {"url": url, "username": user, "password": radicale.users[user], **settings}
    return CardDavConnector(ConnectorConfig("dav", values))


class TestCardDavConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, book: str, radicale: Radicale) -> Iterator[CardDavConnector]:
        connector = make(book, radicale)
        yield connector
        connector.close()


class TestCardDavConformanceV4(ConnectorConformance):
    @pytest.fixture
    def connector(self, book: str, radicale: Radicale) -> Iterator[CardDavConnector]:
        connector = make(book, radicale, version="4.0", batch=3)
        yield connector
        connector.close()


def card(uid: str, given: str, **extra: str) -> bytes:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{given} Doe", f"N:Doe;{given};;;"]
    lines += [f"{k}:{v}" for k, v in extra.items()]
    return ("\r\n".join([*lines, "END:VCARD", ""])).encode()


def test_no_op_pull_is_one_report(book: str, radicale: Radicale) -> None:
    connector = make(book, radicale)
    made = [create(connector, sample(i), f"hub-{i}") for i in range(4)]
    first = connector.pull(None, {})
    assert len(list(first.records)) == 4 and first.complete and first.listed == 4
    known = {r.native_id or "": r.version or "" for r in made}
    again = make(book, radicale)
    pull = again.pull(first.cursor, known)
    assert list(pull.records) == [] and pull.deleted == set() and not pull.complete
    assert again.api_calls() == {"REPORT": 1}


def test_forgotten_versions_mean_a_full_listing(book: str, radicale: Radicale) -> None:
    """After a settings change the engine forgets the links' versions ("") so that every
    record is read again: a delta would not list the unchanged ones."""
    connector = make(book, radicale)
    a = create(connector, sample(1), "hub-a")
    b = create(connector, sample(2), "hub-b")
    first = connector.pull(None, {})
    list(first.records)
    pull = make(book, radicale).pull(
        first.cursor, {a.native_id or "": "", b.native_id or "": b.version or ""}
    )
    assert [r.native_id for r in pull.records if isinstance(r, Record)] == [a.native_id]
    assert pull.complete and pull.listed == 2
    with pytest.raises(FatalConnectorError):  # another address book asked for: found again
        make(book, radicale, addressbook="x").pull(first.cursor, {})


def test_address_book_gone_is_found_again(radicale: Radicale) -> None:
    """The cursor names an address book that was deleted since: discovery runs again and,
    with ``create = true``, makes a new one (a full listing: the old records are gone)."""
    name = f"gone{uuid.uuid4().hex[:6]}"
    connector = make(radicale.url, radicale, addressbook=name, create=True)
    made = create(connector, sample(1), "hub-a")
    first = connector.pull(None, {})
    list(first.records)
    with radicale.client() as http:
        assert http.delete(f"/alice/{name}/").status_code == 200
    again = make(radicale.url, radicale, addressbook=name, create=True)
    pull = again.pull(first.cursor, {made.native_id or "": made.version or ""})
    assert list(pull.records) == [] and pull.complete and pull.listed == 0
    assert pull.deleted == {made.native_id}
    assert again.api_calls()["MKCOL"] == 1


def test_delta_after_foreign_changes(book: str, radicale: Radicale) -> None:
    connector = make(book, radicale)
    a = create(connector, sample(1), "hub-a")
    b = create(connector, sample(2), "hub-b")
    first = connector.pull(None, {})
    list(first.records)
    known = {a.native_id or "": a.version or "", b.native_id or "": b.version or ""}
    with radicale.client() as http:
        assert http.put(f"{book}c.vcf", content=card("c", "Carol")).status_code == 201
        assert http.delete(f"{book}{b.native_id}").status_code == 200
    fresh = make(book, radicale)
    pull = fresh.pull(first.cursor, known)
    records = [r for r in pull.records if isinstance(r, Record)]
    assert [r.native_id for r in records] == ["c.vcf"]
    assert records[0].fields["given_name"] == "Carol" and records[0].hub_id == "c"
    assert pull.deleted == {b.native_id} and not pull.complete
    assert fresh.api_calls() == {"REPORT": 2}  # the sync-collection and one multiget


def test_expired_sync_token_means_a_full_listing(book: str, radicale: Radicale) -> None:
    connector = make(book, radicale)
    a = create(connector, sample(1), "hub-a")
    b = create(connector, sample(2), "hub-b")
    first = connector.pull(None, {})
    list(first.records)
    with radicale.client() as http:
        assert http.delete(f"{book}{b.native_id}").status_code == 200
    # Radicale forgets tokens older than max_sync_token_age by deleting their files
    name = book.rstrip("/").rsplit("/", 1)[-1]
    tokens = radicale.book_folder("alice", name) / ".Radicale.cache" / "sync-token"
    assert any(tokens.iterdir())
    for path in tokens.iterdir():
        path.unlink()
    known = {a.native_id or "": a.version or "", b.native_id or "": b.version or ""}
    pull = make(book, radicale).pull(first.cursor, known)
    assert list(pull.records) == []
    assert pull.complete and pull.listed == 1 and pull.deleted == {b.native_id}


def test_propfind_listing_when_the_server_has_no_sync(book: str, radicale: Radicale) -> None:
    connector = make(book, radicale)
    a = create(connector, sample(1), "hub-a")
    create(connector, sample(2), "hub-b")
    cursor = f'{{"from": "{book}#", "book": "{book}", "token": null, "sync": false}}'
    connector = make(book, radicale)
    pull = connector.pull(cursor, {a.native_id or "": a.version or "", "gone.vcf": '"x"'})
    records = [r for r in pull.records if isinstance(r, Record)]
    assert [r.fields["given_name"] for r in records] == ["Given2"]
    assert pull.complete and pull.listed == 2 and pull.deleted == {"gone.vcf"}
    assert connector.api_calls() == {"PROPFIND": 1, "REPORT": 1}
    assert '"sync": false' in (pull.cursor or "")


def test_discovery_from_the_server_url(book: str, radicale: Radicale) -> None:
    name = book.rstrip("/").rsplit("/", 1)[-1]
    connector = make(radicale.url, radicale, addressbook=name)
    made = create(connector, sample(1), "hub-1")
    assert connector.book is not None and str(connector.book) == book
    with radicale.client() as http:
        assert http.get(f"{book}{made.native_id}").status_code == 200


def test_create_makes_a_missing_address_book(radicale: Radicale) -> None:
    name = f"new{uuid.uuid4().hex[:8]}"
    missing = make(radicale.url, radicale, user="bob", addressbook=name)
    with pytest.raises(FatalConnectorError) as info:
        missing.pull(None, {})
    assert "create = true" in info.value.message
    connector = make(radicale.url, radicale, user="bob", addressbook=name, create=True)
    create(connector, sample(1))
    assert str(connector.book) == f"{radicale.url}/bob/{name}/"
    direct = make(f"{radicale.url}/bob/other{name}/", radicale, user="bob", create=True)
    assert list(direct.pull(None, {}).records) == []
    assert str(direct.book) == f"{radicale.url}/bob/other{name}/"


def test_concurrent_edit_is_refused_with_412(book: str, radicale: Radicale) -> None:
    connector = make(book, radicale)
    made = create(connector, sample(1), "hub-1")
    with radicale.client() as http:
        text = http.get(f"{book}{made.native_id}").text.replace("Engineer", "Foreman")
        assert http.put(f"{book}{made.native_id}", content=text.encode()).status_code in (201, 204)
    [result] = connector.write(
        [WriteOp("update", "hub-1", sample(1, notes="ours"), made.native_id, made.version)]
    )
    assert isinstance(result.error, StaleVersionError)
    got = connector.get(made.native_id or "")
    assert got.fields["job_title"] == "Foreman" and "notes" not in got.fields
    [deleted] = connector.write([WriteOp("delete", "hub-1", {}, made.native_id, made.version)])
    assert isinstance(deleted.error, StaleVersionError)
    assert connector.get(made.native_id or "")


def test_edit_between_read_and_put_is_a_412(book: str, radicale: Radicale) -> None:
    """Another client writes after the connector read the card and before its PUT arrives:
    the server refuses the PUT (If-Match) and the other client's edit stays."""
    connector = make(book, radicale)
    made = create(connector, sample(1), "hub-1")
    url = f"{book}{made.native_id}"

    edits: list[str] = []

    def other_client_first(request: httpx.Request) -> None:
        if request.method in ("PUT", "DELETE") and str(request.url) == url:
            edits.append(request.method)
            with radicale.client() as http:
                text = http.get(url).text.replace("Engineer", "Foreman")
                text = text.replace("END:VCARD", f"X-EDIT:{len(edits)}\r\nEND:VCARD")
                assert http.put(url, content=text.encode()).status_code == 204

    connector.client._http.event_hooks["request"].append(other_client_first)
    [result] = connector.write(
        [WriteOp("update", "hub-1", sample(1, notes="ours"), made.native_id, made.version)]
    )
    assert isinstance(result.error, StaleVersionError) and "412" not in result.error.message
    assert connector.api_calls()["PUT"] == 2  # the create, and the refused update
    got = connector.get(made.native_id or "")
    assert got.fields["job_title"] == "Foreman" and "notes" not in got.fields
    [deleted] = connector.write([WriteOp("delete", "hub-1", {}, made.native_id, got.version)])
    assert isinstance(deleted.error, StaleVersionError)
    assert edits == ["PUT", "DELETE"]
    assert connector.get(made.native_id or "").fields["job_title"] == "Foreman"


EXTRAS = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ext-1\r\nN:Doe;John;;;\r\nFN:John Doe\r\n"
    "item1.EMAIL;TYPE=INTERNET:john@example.com\r\nitem1.X-ABLabel:_$!<Other>!$_\r\n"
    "CATEGORIES:friends,work\r\nX-SOCIALPROFILE;TYPE=twitter:http://twitter.com/jd\r\n"
    "IMPP;X-SERVICE-TYPE=Skype:skype:john.doe\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBD\r\n"
    "TITLE:Clerk\r\nEND:VCARD\r\n"
)


def unfolded(text: str) -> list[str]:
    """Content lines, their names and parameters in upper case (Radicale stores cards as
    vobject writes them: property names upper-cased, in its own order)."""
    lines = text.replace("\r\n ", "").replace("\n ", "").splitlines()
    return [f"{head.upper()}:{value}" for head, _, value in (line.partition(":") for line in lines)]


def test_unknown_properties_survive_an_update(book: str, radicale: Radicale) -> None:
    with radicale.client() as http:
        assert http.put(f"{book}ext-1.vcf", content=EXTRAS.encode()).status_code == 201
    connector = make(book, radicale)
    record = connector.get("ext-1.vcf")
    assert record.hub_id == "ext-1" and record.fields["job_title"] == "Clerk"
    [result] = connector.write(
        [WriteOp("update", "h", dict(record.fields, job_title="Boss"), "ext-1.vcf", record.version)]
    )
    assert result.error is None, result.error
    with radicale.client() as http:
        stored = set(unfolded(http.get(f"{book}ext-1.vcf").text))
    kept = [line for line in unfolded(EXTRAS) if not line.startswith(("TITLE", "ITEM1.EMAIL"))]
    assert [line for line in kept if line not in stored] == []
    assert "TITLE:Boss" in stored
    again = connector.get("ext-1.vcf")
    assert again.version == result.version and again.fields == result.fields


def test_multiget_in_batches(book: str, radicale: Radicale) -> None:
    writer = make(book, radicale)
    for i in range(7):
        create(writer, sample(i), f"hub-{i}")
    reader = make(book, radicale, batch=3)
    assert len(all_records(reader)) == 7
    assert reader.api_calls() == {"PROPFIND": 1, "REPORT": 4}  # discovery, sync, 3 multigets


def test_replayed_create_is_not_duplicated(book: str, radicale: Radicale) -> None:
    connector = make(book, radicale)
    first = create(connector, sample(1), "hub-1")
    again = create(connector, sample(1), "hub-1")
    assert (again.native_id, again.version) == (first.native_id, first.version)
    assert len(all_records(connector)) == 1


def test_create_does_not_overwrite_a_foreign_card(book: str, radicale: Radicale) -> None:
    with radicale.client() as http:
        assert http.put(f"{book}hub-1.vcf", content=card("theirs", "Theo")).status_code == 201
    connector = make(book, radicale)
    made = create(connector, sample(1), "hub-1")
    assert made.native_id != "hub-1.vcf"
    assert connector.get("hub-1.vcf").fields["given_name"] == "Theo"


def test_create_of_a_uid_the_book_has_under_another_name(book: str, radicale: Radicale) -> None:
    with radicale.client() as http:
        assert http.put(f"{book}theirs.vcf", content=card("hub-1", "Theo")).status_code == 201
    [result] = make(book, radicale).write([WriteOp("create", "hub-1", sample(1))])
    assert isinstance(result.error, RecordError) and not isinstance(result.error, StaleVersionError)
    assert "UID hub-1" in result.error.message


@pytest.mark.parametrize("setting", [{"password": "wrong-secret-123"}, {"username": "mallory"}])
def test_wrong_password_is_a_clear_fatal_error(
    book: str, radicale: Radicale, setting: dict[str, str]
) -> None:
    connector = make(book, radicale, **setting)
    with pytest.raises(FatalConnectorError) as info:
        connector.pull(None, {})
    text = str(info.value)
    assert "refused" in text and "password" in text
    assert "wrong-secret-123" not in text and radicale.users["alice"] not in text


def test_bearer_token_is_sent(book: str, radicale: Radicale) -> None:
    # Radicale's htpasswd backend knows no bearer tokens: the refusal proves it was sent
    connector = CardDavConnector(ConnectorConfig("dav", {"url": book, "token": "tok-abc"}))
    with pytest.raises(FatalConnectorError):
        connector.pull(None, {})
    assert connector.client.auth.headers() == {"Authorization": "Bearer tok-abc"}


def test_password_from_the_credentials_store(book: str, radicale: Radicale) -> None:
    creds = MemoryCredentials({"password": radicale.users["alice"]})
    connector = CardDavConnector(
        ConnectorConfig("dav", {"url": book, "username": "alice"}, credentials=creds)
    )
    assert list(connector.pull(None, {}).records) == []


def test_settings_are_checked() -> None:
    for settings in ({}, {"url": "ftp://x/"}, {"url": "http://h/", "version": "2.1"}):
        with pytest.raises(ConfigError):
            CardDavConnector(ConnectorConfig("dav", settings))
    assert CardDavConnector.secret_settings == {"password", "token"}


def test_verify_is_true_false_or_a_ca_bundle_that_is_there(tmp_path: Path) -> None:
    """``verify = "false"`` (quoted) was taken for a CA bundle's path: every run then ended
    in a traceback about a missing file, and nothing named the setting."""
    url = "https://dav.example.com/"
    for slip in ("false", "True", "no"):
        with pytest.raises(ConfigError, match="verify must be true or false without quotes"):
            CardDavConnector(ConnectorConfig("dav", {"url": url, "verify": slip}))
    with pytest.raises(ConfigError, match="is not a file"):
        CardDavConnector(ConnectorConfig("dav", {"url": url, "verify": str(tmp_path / "ca.pem")}))
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    for fine in (False, True, str(tmp_path / "ca.pem")):
        CardDavConnector(ConnectorConfig("dav", {"url": url, "verify": fine}))


def test_a_token_in_the_urls_query_is_masked_in_what_is_said_of_a_run() -> None:
    """Run errors mask the connector's ``secret_values``; a token in its URL's query was
    not among them, so a server or library quoting it put it into the run's errors."""
    from contacthub.engine.context import Report

    url = "https://dav.example/books/?user=ann&apikey=Zq9%2Bkey1&sig=S1g-nature"
    connector = CardDavConnector(ConnectorConfig("dav", {"url": url, "password": "pw-1234"}))
    # every query value, decoded and as written: the name of a server's token is its own
    assert set(connector.secret_values()) == {"S1g-nature", "Zq9+key1", "Zq9%2Bkey1", "ann", "pw-1234"}
    report = Report(1, secrets=connector.secret_values())
    report.error("dav", "", "refused: unknown key Zq9+key1 (sent as Zq9%2Bkey1), signed S1g-nature")
    message = report.errors[0]["message"]
    assert "Zq9" not in message and "S1g" not in message and message.startswith("refused: unknown key ")


def test_get_missing_and_delete_missing(book: str, radicale: Radicale) -> None:
    connector = make(book, radicale)
    with pytest.raises(RecordNotFoundError):
        connector.get("nope.vcf")
    [result] = connector.write([WriteOp("delete", "h", {}, "nope.vcf", '"x"')])
    assert result.error is None  # already gone: a replayed delete is done


@pytest.mark.parametrize("native_id", ["../x.vcf", "..", "a/b.vcf", "/alice/other/x.vcf", ""])
def test_ids_outside_the_address_book_are_refused(book: str, radicale: Radicale, native_id: str) -> None:
    connector = make(book, radicale)
    with pytest.raises(RecordError) as info:
        connector.get(native_id)
    assert not isinstance(info.value, RecordNotFoundError)
    for op in (
        WriteOp("update", "h", sample(1), native_id, '"x"'),
        WriteOp("delete", "h", {}, native_id, '"x"'),
    ):
        [result] = connector.write([op])
        assert isinstance(result.error, RecordError)
    assert set(connector.api_calls()) <= {"PROPFIND"}  # nothing but discovery was sent


def test_a_deleted_card_is_kept_for_a_create_of_the_same_person(
    book: str, radicale: Radicale, tmp_path: Path
) -> None:
    """A card the hub deletes is kept in the connector's own directory; a create for the
    same hub id puts it back whole with the hub's fields written in. A refused DELETE keeps
    nothing, nor does ``trash_days = 0`` or a connector built outside a hub."""
    with radicale.client() as http:
        assert http.put(f"{book}ext-1.vcf", content=EXTRAS.encode()).status_code == 201
    config = ConnectorConfig("dav", {"url": book, "username": "alice", "password": radicale.users["alice"]})
    config.local_dir = tmp_path / "dav"
    connector = CardDavConnector(config)
    record = connector.get("ext-1.vcf")
    [stale] = connector.write([WriteOp("delete", "h-1", {}, "ext-1.vcf", '"not-its-etag"')])
    assert isinstance(stale.error, StaleVersionError)
    assert not list((tmp_path / "dav").rglob("*.vcf"))
    [deleted] = connector.write([WriteOp("delete", "h-1", {}, "ext-1.vcf", record.version)])
    assert deleted.error is None and connector.keeps_deleted_cards
    with pytest.raises(RecordNotFoundError):
        connector.get("ext-1.vcf")
    [back] = connector.write([WriteOp("create", "h-1", dict(record.fields, job_title="Boss"))])
    assert back.error is None, back.error
    with radicale.client() as http:
        stored = set(unfolded(http.get(f"{book}{back.native_id}").text))
    kept = [line for line in unfolded(EXTRAS) if not line.startswith(("TITLE", "ITEM1.EMAIL"))]
    assert [line for line in kept if line not in stored] == [] and "TITLE:Boss" in stored
    assert "UID:ext-1" in stored and not list((tmp_path / "dav").rglob("*.vcf"))  # taken back

    off = ConnectorConfig("dav", {**config.settings, "trash_days": 0}, local_dir=tmp_path / "off")
    outside = make(book, radicale)
    for connector in (CardDavConnector(off), outside):
        made = create(connector, sample(1), "h-2")
        [gone] = connector.write([WriteOp("delete", "h-2", {}, made.native_id, made.version)])
        assert gone.error is None and not connector.keeps_deleted_cards
    assert not (tmp_path / "off").exists()
    with pytest.raises(ConfigError):
        CardDavConnector(ConnectorConfig("dav", {**config.settings, "trash_days": "forever"}))


#: a card a vobject-based server (Radicale) refuses: its PROFILE line, once more as
#: vobject adds its own ("This component already has a PROFILE")
REFUSED = (
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nPROFILE:VCard\r\nUID:h-9\r\nFN:Given9 Family9\r\n"
    b"N:Family9;Given9;;;\r\nX-KEPT:copied\r\nEND:VCARD\r\n"
)


def test_a_copied_card_the_server_refuses_is_sent_again_from_the_fields(
    book: str, radicale: Radicale
) -> None:
    """A create that starts from another connector's card, refused by the server as it is
    (400), is sent at once again built from the hub's fields: the person arrives, without
    what only the copied card held. It once failed, and the engine does not send a refused
    record again until the contact changes."""
    from contacthub.connectors.card_source import CardSource

    connector = make(book, radicale)
    fields = sample(9)
    source = CardSource("elsewhere/h-9.vcf", "1", data=REFUSED)
    [result] = connector.write([WriteOp("create", "h-9", fields, source=source)])
    assert result.error is None, result.error
    assert connector.api_calls()["PUT"] == 2
    with radicale.client() as http:
        stored = http.get(f"{book}{result.native_id}").text
    assert "X-KEPT" not in stored and "PROFILE" not in stored and "UID:h-9" in stored
    assert connector.get(result.native_id or "").fields == result.fields
    assert "person9@example.com" in stored and "Given9" in stored


def test_a_card_refused_again_from_the_fields_says_why(
    book: str, radicale: Radicale, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that refuses the card built from the fields too: the record's error gives
    the server's reason for both (a SabreDAV ``DAV:error`` body's message, which was
    ``HTTP 415``), never a secret the request carried."""
    from contacthub.connectors.card_source import CardSource

    connector = make(book, radicale)
    password = radicale.users["alice"]
    real = connector.dav.request
    puts: list[bytes] = []

    def sabre(method: str, url: Any, body: Any = None, **headers: str) -> httpx.Response:
        if method != "PUT":
            return real(method, url, body, **headers)
        puts.append(body)
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>\n<d:error xmlns:d="DAV:" '
            'xmlns:s="http://sabredav.org/ns"><s:sabredav-version>4.6.0</s:sabredav-version>'
            "<s:exception>Sabre\\DAV\\Exception\\UnsupportedMediaType</s:exception>"
            f"<s:message>Validation error in vCard: line {len(puts)} (password={password})"
            "</s:message></d:error>"
        )
        request = httpx.Request("PUT", str(url), headers={"Authorization": "Basic x"})
        return httpx.Response(415, content=xml.encode(), request=request)

    monkeypatch.setattr(connector.dav, "request", sabre)
    source = CardSource("elsewhere/h-9.vcf", "1", data=REFUSED)
    [result] = connector.write([WriteOp("create", "h-9", sample(9), source=source)])
    assert isinstance(result.error, RecordError) and len(puts) == 2
    assert b"X-KEPT" in puts[0] and b"X-KEPT" not in puts[1]
    said = str(result.error)
    assert "refused with 415: Validation error in vCard: line 2" in said, said
    assert "refused first (415: Validation error in vCard: line 1" in said, said
    assert password not in said


class _Gate(http.server.BaseHTTPRequestHandler):
    """In front of Radicale: lets a request through only with ``?key=`` of the gate's key,
    as servers that are entered by a token in the URL do (and counts what it saw)."""

    def _any(self) -> None:
        path, _, query = self.path.partition("?")
        gate: Any = self.server
        gate.seen.append((self.command, query))
        if parse_qs(query).get("key") != [gate.key]:
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        answer = httpx.request(self.command, gate.upstream + path, content=body, headers=headers)
        self.send_response(answer.status_code)
        for k, v in answer.headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = do_OPTIONS = _any

    def log_message(self, *args: object) -> None:
        pass


def test_a_token_in_the_urls_query_is_sent_with_every_request(book: str, radicale: Radicale) -> None:
    """The query of the URL given (``?key=...``) was dropped: every request went to the
    origin plus a path, so a server entered by a token in the URL refused them all."""
    gate = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gate)
    gate.key, gate.upstream, gate.seen = "K3y-9z", radicale.url, []  # type: ignore[attr-defined]
    threading.Thread(target=gate.serve_forever, daemon=True).start()
    try:
        url = book.replace(radicale.url, f"http://127.0.0.1:{gate.server_address[1]}") + "?key=K3y-9z"
        connector = make(url, radicale)
        made = create(connector, sample(7))
        listed = [r for r in connector.pull(None, {}).records if isinstance(r, Record)]
        assert [r.native_id for r in listed] == [made.native_id]
        assert listed[0].fields["family_name"] == "Family7"
        connector.close()
    finally:
        gate.shutdown()
        gate.server_close()
    seen = gate.seen  # type: ignore[attr-defined]
    assert {method for method, _ in seen} >= {"PUT", "REPORT"}
    assert all(query == "key=K3y-9z" for _, query in seen), seen


def test_a_card_over_max_card_mb_is_an_error_of_its_record(book: str, radicale: Radicale) -> None:
    """A server answering a huge card: an error saying its size and the limit, not a
    record (a 300 MB card was stored six times its size, then copied everywhere); known,
    it is no deletion; updating or deleting it is refused the same way."""
    big = card("big", "Big", NOTE="n" * 3000)
    with radicale.client() as http:
        assert http.put(f"{book}big.vcf", content=big).status_code == 201
        assert http.put(f"{book}small.vcf", content=card("small", "Small")).status_code == 201
    connector = make(book, radicale, max_card_mb=0.001, trash_days=1)  # 1048 bytes
    pull = connector.pull(None, {})
    items = list(pull.records)
    assert [r.native_id for r in items if isinstance(r, Record)] == ["small.vcf"]
    [error] = [e for e in items if isinstance(e, RecordError)]
    assert error.record.endswith("big.vcf")
    assert re.search(r"not synced: \d{4} bytes, over the limit of 1048 bytes", error.message)
    again = connector.pull(None, {"big.vcf": "old-etag"})
    assert again.deleted == set()
    assert [e.record for e in again.records if isinstance(e, RecordError)] == [error.record]
    with pytest.raises(RecordError, match="over the limit"):
        connector.get("big.vcf")
    with radicale.client() as http:
        stored = http.get(f"{book}big.vcf").content
    results = connector.write(
        [
            WriteOp("update", "h-big", {"display_name": "Smaller"}, "big.vcf", None),
            WriteOp("delete", "h-big", {}, "big.vcf", None),
        ]
    )
    assert [r.error is not None and "over the limit" in r.error.message for r in results] == [True, True]
    with radicale.client() as http:
        assert http.get(f"{book}big.vcf").content == stored
    assert connector.pull(None, {}).listed == 2


def test_a_card_fetched_to_copy_says_what_the_book_reads_as_hub_fields(book: str, radicale: Radicale) -> None:
    """A book mapping ``custom.trade`` to X-TRADE hands out its cards with its field map: a
    copy into a folder that maps no trade leaves the X-TRADE line out (it stayed the value
    at the copy for good) and keeps what neither reads."""
    from contacthub.connectors.card_source import CardSource
    from contacthub.formats.vcard import VCardCodec

    values = {"url": book, "username": "alice", "password": radicale.users["alice"]}
    connector = CardDavConnector(ConnectorConfig("dav", values, {"custom.trade": "X-TRADE"}))
    data = card("ben-1", "Ben", EMAIL="ben@example.com", **{"X-TRADE": "mason", "X-ABUID": "B3E1"})
    fields = connector.codec.read(data)[0]
    copy = WriteOp("create", "ben-1", fields, source=CardSource("f/b.vcf", "1", data=data))
    [made] = connector.write([copy])
    assert made.fields["custom.trade"] == "mason"
    found = connector.card_sources([(made.native_id or "", made.version or "", False)])
    source = found[made.native_id or ""]
    assert source.mapped is connector.codec.fmap
    wanted = {k: v for k, v in made.fields.items() if k != "custom.trade"}
    copied = source.card(VCardCodec(), wanted, "ben-1")
    assert copied is not None
    assert b"X-TRADE" not in copied[0] and b"X-ABUID:B3E1" in copied[0] and b"ben@example.com" in copied[0]
