"""Two-way sync between a real Radicale address book and a vCard folder, through the real
engine and command line: edits both ways, a concurrent edit on the server during a run
(the 412 path), an expired sync-token, unknown properties, a wrong password."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from contacthub.cli import app
from contacthub.connectors.base import Record
from contacthub.engine.context import Options, Report
from contacthub.engine.run import connector_for, run_hub
from contacthub.store.db import open_database
from contacthub.store.repo import Store
from tests.radicale_server import Radicale, new_book, serve

runner = CliRunner()


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    yield from serve(tmp_path_factory)


@pytest.fixture
def book(radicale: Radicale) -> str:
    return new_book(radicale)


def card(uid: str, given: str, family: str, email: str, *extra: str) -> bytes:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{given} {family}", f"N:{family};{given};;;"]
    lines += [f"EMAIL;TYPE=work:{email}", *extra, "END:VCARD", ""]
    return "\r\n".join(lines).encode()


def props(data: str | bytes) -> dict[str, str]:
    """A plain reading of one card (first value of each property, names upper-cased),
    independent of contacthub's parser."""
    text = data.decode() if isinstance(data, bytes) else data
    out: dict[str, str] = {}
    for line in text.replace("\r\n ", "").replace("\n ", "").splitlines():
        head, _, value = line.partition(":")
        out.setdefault(head.split(";")[0].upper(), value)
    return out


def server_cards(radicale: Radicale, book: str) -> dict[str, dict[str, str]]:
    """Email -> properties of every card in the address book, read with a plain PROPFIND+GET."""
    with radicale.client() as http:
        listing = http.request("PROPFIND", book, headers={"Depth": "1"}).text
        hrefs = [h for h in _hrefs(listing) if h.endswith(".vcf")]
        cards = [props(http.get(h).text) for h in hrefs]
    return {c["EMAIL"]: c for c in cards}


def _hrefs(xml: str) -> list[str]:
    import re

    return re.findall(r"<[^>]*href>([^<]+)</[^>]*href>", xml)


def folder_cards(folder: Path) -> dict[str, dict[str, str]]:
    cards = [props(p.read_bytes()) for p in sorted(folder.glob("*.vcf"))]
    return {c["EMAIL"]: c for c in cards}


class Setup:
    def __init__(self, tmp_path: Path, radicale: Radicale, book: str, password: str | None = None) -> None:
        self.radicale, self.book = radicale, book
        self.folder = tmp_path / "folder"
        self.folder.mkdir()
        self.db = f"sqlite:///{tmp_path / 'hub.db'}"
        self.password = password or radicale.users["alice"]
        self.toml = tmp_path / "hub.toml"
        self.toml.write_text(
            f"""
[hubs.team]
conflict = "newest"

[[hubs.team.connectors]]
name = "dav"
type = "carddav"
url = "{radicale.url}"
addressbook = "{book.rstrip("/").rsplit("/", 1)[-1]}"
username = "alice"
password = "{self.password}"
mapping = {{"custom.trade" = "X-TRADE"}}

[[hubs.team.connectors]]
name = "folder"
type = "vcard-dir"
path = "{self.folder}"
mapping = {{"custom.trade" = "X-TRADE"}}
"""
        )
        code, out = self.cli("apply", str(self.toml))
        assert code == 0, out

    def cli(self, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--database", self.db, *args])
        return result.exit_code, result.output

    def folder_first(self) -> None:
        """The hub file applied again with the folder before the book."""
        dav, folder = self.toml.read_text().split("[[hubs.team.connectors]]")[1:]
        self.toml.write_text(
            '[hubs.team]\nconflict = "newest"\n[[hubs.team.connectors]]'
            + folder
            + "[[hubs.team.connectors]]"
            + dav
        )
        code, out = self.cli("apply", str(self.toml))
        assert code == 0, out

    def sync(self) -> dict[str, Any]:
        code, out = self.cli("sync", "team", "--json")
        report: dict[str, Any] = json.loads(out)
        assert code == 0, out
        return report

    def sync_with(self, progress: Any) -> Report:
        """A run through the engine, with a hook called as the run progresses."""
        return run_hub(open_database(self.db), "team", options=Options(), progress=progress)

    def put(self, name: str, data: bytes) -> None:
        with self.radicale.client() as http:
            assert http.put(f"{self.book}{name}", content=data).status_code in (201, 204)

    def edit_on_server(self, email: str, old: str, new: str) -> None:
        with self.radicale.client() as http:
            listing = http.request("PROPFIND", self.book, headers={"Depth": "1"}).text
            for href in (h for h in _hrefs(listing) if h.endswith(".vcf")):
                text = http.get(href).text
                if props(text)["EMAIL"] == email:
                    assert old in text
                    assert http.put(href, content=text.replace(old, new).encode()).status_code == 204
                    return
        raise AssertionError(f"no card for {email}")


@pytest.fixture
def setup(tmp_path: Path, radicale: Radicale, book: str) -> Setup:
    return Setup(tmp_path, radicale, book)


def test_two_way_sync_between_radicale_and_a_folder(setup: Setup) -> None:
    setup.put("ann.vcf", card("ann", "Ann", "Lee", "ann@example.com", "X-TRADE:Electrical", "CATEGORIES:a,b"))
    (setup.folder / "bob.vcf").write_bytes(card("bob", "Bob", "Roe", "bob@example.com", "TITLE:Welder"))
    (setup.folder / "cy.vcf").write_bytes(card("cy", "Cy", "Poe", "cy@example.com"))
    report = setup.sync()
    assert report["status"] == "applied", report
    assert report["changes"]["dav"]["create"] == 2 and report["changes"]["folder"]["create"] == 1
    on_server = server_cards(setup.radicale, setup.book)
    assert set(on_server) == {"ann@example.com", "bob@example.com", "cy@example.com"}
    assert on_server["bob@example.com"]["TITLE"] == "Welder"
    assert folder_cards(setup.folder)["ann@example.com"]["X-TRADE"] == "Electrical"

    # nothing changed: nothing written, one request (the server's sync-token says so)
    report = setup.sync()
    assert report["changes"] == {} and report["errors"] == []
    assert report["api_calls"]["dav"] == {"REPORT": 1}

    # an edit in the folder reaches the server; one on the server reaches the folder
    path = next(p for p in setup.folder.glob("*.vcf") if b"bob@example.com" in p.read_bytes())
    path.write_bytes(path.read_bytes().replace(b"TITLE:Welder", b"TITLE:Foreman"))
    setup.edit_on_server("ann@example.com", "X-TRADE:Electrical", "X-TRADE:Plumbing")
    report = setup.sync()
    assert report["changes"]["dav"]["update"] == 1 and report["changes"]["folder"]["update"] == 1
    assert server_cards(setup.radicale, setup.book)["bob@example.com"]["TITLE"] == "Foreman"
    assert folder_cards(setup.folder)["ann@example.com"]["X-TRADE"] == "Plumbing"
    # the server's own properties the hub does not model are still there
    assert server_cards(setup.radicale, setup.book)["ann@example.com"]["CATEGORIES"] == "a,b"

    # a deletion on the server reaches the folder
    with setup.radicale.client() as http:
        assert http.delete(f"{setup.book}ann.vcf").status_code == 200
    report = setup.sync()
    assert report["changes"]["folder"]["delete"] == 1
    assert set(folder_cards(setup.folder)) == {"bob@example.com", "cy@example.com"}
    # and one in the folder reaches the server
    (setup.folder / "bob.vcf").unlink()
    report = setup.sync()
    assert report["changes"]["dav"]["delete"] == 1 and report["errors"] == []
    assert set(server_cards(setup.radicale, setup.book)) == {"cy@example.com"}

    # the password is stored, never shown
    code, out = setup.cli("hubs", "--json")
    assert code == 0 and setup.password not in out
    raw = Path(setup.db.removeprefix("sqlite:///")).read_bytes()
    assert setup.password.encode() not in raw


def test_unknown_properties_survive_round_trips(setup: Setup) -> None:
    extras = ("X-SOCIALPROFILE;TYPE=twitter:http://twitter.com/ann", "IMPP:skype:ann.lee", "CATEGORIES:x,y")
    setup.put("ann.vcf", card("ann", "Ann", "Lee", "ann@example.com", "NOTE:first", *extras))
    extras_f = ("X-PHONETIC-FIRST-NAME:Bobby", "item1.URL:http://bob.example.com", "item1.X-ABLabel:blog")
    (setup.folder / "bob.vcf").write_bytes(card("bob", "Bob", "Roe", "bob@example.com", *extras_f))
    setup.sync()
    # edits on each side, then again the other way
    setup.edit_on_server("bob@example.com", "END:VCARD", "TITLE:Welder\r\nEND:VCARD")
    path = next(p for p in setup.folder.glob("*.vcf") if b"ann@example.com" in p.read_bytes())
    path.write_bytes(path.read_bytes().replace(b"END:VCARD", b"TITLE:Manager\r\nEND:VCARD"))
    setup.sync()
    setup.edit_on_server("ann@example.com", "NOTE:first", "NOTE:second")
    setup.sync()
    ann = server_cards(setup.radicale, setup.book)["ann@example.com"]
    assert ann["TITLE"] == "Manager" and ann["NOTE"] == "second"
    assert ann["X-SOCIALPROFILE"] == "http://twitter.com/ann" and ann["IMPP"] == "skype:ann.lee"
    assert ann["CATEGORIES"] == "x,y"
    bob = folder_cards(setup.folder)["bob@example.com"]
    assert bob["TITLE"] == "Welder" and bob["X-PHONETIC-FIRST-NAME"] == "Bobby"
    assert bob["ITEM1.X-ABLABEL"] == "blog"
    assert folder_cards(setup.folder)["ann@example.com"]["NOTE"] == "second"


def test_a_card_of_the_folder_arrives_on_the_server_whole(setup: Setup) -> None:
    """A new card on the server starts from the folder's card: what the hub does not model
    (a photo, IMPP, groups, X- properties) arrives too, where it was once left behind."""
    extras = (
        "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQIAHAAcAAD/2wBDAAMCAgICAgMC",
        "IMPP;X-SERVICE-TYPE=Skype:skype:bob.roe",
        "item1.URL:http://bob.example.com",
        "item1.X-ABLabel:blog",
        "X-TRADE:Welding",
    )
    (setup.folder / "bob.vcf").write_bytes(card("bob", "Bob", "Roe", "bob@example.com", *extras))
    assert setup.sync()["changes"]["dav"]["create"] == 1
    bob = server_cards(setup.radicale, setup.book)["bob@example.com"]
    assert bob["PHOTO"].startswith("/9j/4AAQ")
    assert bob["IMPP"] == "skype:bob.roe" and bob["ITEM1.X-ABLABEL"] == "blog"
    assert bob["X-TRADE"] == "Welding" and bob["UID"] == "bob"
    assert setup.sync()["changes"] == {}


def test_a_card_of_the_server_arrives_in_the_folder_whole(setup: Setup) -> None:
    """The other way: a new card in the folder starts from the server's card (fetched with
    one multiget per page), byte for byte where it says exactly the hub's fields."""
    extras = ("PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQIAHAAcAAD/2wBDAAMCAgICAgMC", "NICKNAME:Cy")
    setup.put("cy.vcf", card("cy", "Cy", "Poe", "cy@example.com", *extras))
    setup.put("di.vcf", card("di", "Di", "Fox", "di@example.com", "PHOTO;VALUE=uri:https://x.test/di.jpg"))
    assert setup.sync()["changes"]["folder"]["create"] == 2
    made = {p.name: p.read_bytes() for p in setup.folder.glob("*.vcf")}
    with setup.radicale.client() as http:
        stored = http.get(f"{setup.book}cy.vcf").content  # as Radicale keeps it (reordered)
    assert made["cy.vcf"] == stored.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert b"NICKNAME:Cy" in made["cy.vcf"] and b"PHOTO;ENCODING=b;TYPE=JPEG:/9j/" in made["cy.vcf"]
    assert b"PHOTO;VALUE=uri:https://x.test/di.jpg" in made["di.vcf"]
    assert setup.sync()["changes"] == {}


def test_newest_weighs_a_card_without_a_time_fairly(setup: Setup) -> None:
    """Radicale gives no getlastmodified in a multiget, and this card has no REV: its edit
    was taken as made when the run started, so it beat a later edit in the folder."""
    setup.put("ann.vcf", card("ann", "Ann", "Lee", "ann@example.com", "ORG:First"))
    setup.sync()
    setup.edit_on_server("ann@example.com", "ORG:First", "ORG:Server")
    time.sleep(1.1)
    path = next(setup.folder.glob("*.vcf"))
    path.write_bytes(path.read_bytes().replace(b"ORG:First", b"ORG:Folder"))
    report = setup.sync()
    assert report["conflicts"] == 1
    assert folder_cards(setup.folder)["ann@example.com"]["ORG"] == "Folder"
    assert server_cards(setup.radicale, setup.book)["ann@example.com"]["ORG"] == "Folder"
    assert setup.sync()["changes"] == {}


def test_a_book_never_read_loses_conflicts_to_values_with_a_time(setup: Setup, radicale: Radicale) -> None:
    """The connector pointed at another book (its links and cursor forgotten) finds the
    same person there with an older title and no time of its own: taken as made when the
    run started, it beat the folder's edit and overwrote it everywhere."""
    (setup.folder / "ann.vcf").write_bytes(card("ann", "Ann", "Lee", "ann@example.com", "TITLE:Old"))
    setup.sync()
    path = setup.folder / "ann.vcf"
    path.write_bytes(path.read_bytes().replace(b"TITLE:Old", b"TITLE:Folder edit"))
    setup.sync()  # the hub holds the folder's edit, with its time
    other = new_book(radicale)
    with radicale.client() as http:
        data = card("ann", "Ann", "Lee", "ann@example.com", "TITLE:Old")
        assert http.put(f"{other}ann.vcf", content=data).status_code == 201
    setup.toml.write_text(
        setup.toml.read_text().replace(
            setup.book.rstrip("/").rsplit("/", 1)[-1], other.rstrip("/").rsplit("/", 1)[-1]
        )
    )
    assert setup.cli("apply", str(setup.toml))[0] == 0
    setup.sync()
    assert folder_cards(setup.folder)["ann@example.com"]["TITLE"] == "Folder edit"
    assert server_cards(radicale, other)["ann@example.com"]["TITLE"] == "Folder edit"
    assert setup.sync()["changes"] == {}


def test_concurrent_edit_on_the_server_during_a_run(setup: Setup) -> None:
    setup.put("ann.vcf", card("ann", "Ann", "Lee", "ann@example.com", "TITLE:Clerk"))
    setup.sync()
    path = next(setup.folder.glob("*.vcf"))
    path.write_bytes(path.read_bytes().replace(b"END:VCARD", b"NOTE:from the folder\r\nEND:VCARD"))
    edited: list[str] = []

    def meanwhile(phase: str, done: int, total: int | None) -> None:
        # the folder is read after the server: its pull is over, its write not begun
        if phase == "reading folder" and not edited:
            setup.edit_on_server("ann@example.com", "TITLE:Clerk", "TITLE:Director")
            edited.append(phase)

    report = setup.sync_with(meanwhile)
    assert edited and report.status == "applied"
    assert [e["connector"] for e in report.errors] == ["dav"]
    assert "changed by someone else" in report.errors[0]["message"]
    assert "etag" not in report.errors[0]["message"]  # the server's tokens say nothing to a user
    ann = server_cards(setup.radicale, setup.book)["ann@example.com"]
    assert ann["TITLE"] == "Director" and "NOTE" not in ann  # nothing overwritten
    # the next run reads the server's edit and merges both
    report_json = setup.sync()
    assert report_json["errors"] == []
    ann = server_cards(setup.radicale, setup.book)["ann@example.com"]
    assert ann["TITLE"] == "Director" and ann["NOTE"] == "from the folder"
    folder = folder_cards(setup.folder)["ann@example.com"]
    assert folder["TITLE"] == "Director" and folder["NOTE"] == "from the folder"


def test_expired_sync_token_loses_nothing(setup: Setup) -> None:
    for i in range(6):
        setup.put(f"p{i}.vcf", card(f"p{i}", f"P{i}", "Doe", f"p{i}@example.com"))
    setup.sync()
    assert len(list(setup.folder.glob("*.vcf"))) == 6
    # changes on the server, then the server forgets the token the hub holds
    setup.edit_on_server("p1@example.com", "END:VCARD", "TITLE:Changed\r\nEND:VCARD")
    with setup.radicale.client() as http:
        assert http.delete(f"{setup.book}p2.vcf").status_code == 200
    setup.put("p9.vcf", card("p9", "P9", "Doe", "p9@example.com"))
    name = setup.book.rstrip("/").rsplit("/", 1)[-1]
    tokens = setup.radicale.book_folder("alice", name) / ".Radicale.cache" / "sync-token"
    for token in tokens.iterdir():
        token.unlink()
    report = setup.sync()
    assert report["errors"] == []
    assert report["changes"]["folder"] == {"create": 1, "update": 1, "delete": 1}
    cards = folder_cards(setup.folder)
    assert set(cards) == {f"p{i}@example.com" for i in (0, 1, 3, 4, 5, 9)}
    assert cards["p1@example.com"]["TITLE"] == "Changed"
    assert setup.sync()["changes"] == {}


def test_wrong_password_fails_the_run_clearly(tmp_path: Path, radicale: Radicale, book: str) -> None:
    bad = Setup(tmp_path, radicale, book, password="not-the-Password-42")
    (bad.folder / "bob.vcf").write_bytes(card("bob", "Bob", "Roe", "bob@example.com"))
    code, out = bad.cli("sync", "team", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["status"] == "failed"
    message = report["errors"][0]["message"]
    assert "dav" in message and "refused user 'alice'" in message and "password" in message
    assert "not-the-Password-42" not in out
    assert list(bad.folder.glob("*.vcf")) == [bad.folder / "bob.vcf"]  # nothing written
    code, out = bad.cli("sync", "team")
    assert code == 1 and "refused" in out and "not-the-Password-42" not in out


def test_same_people_are_matched_not_duplicated(setup: Setup) -> None:
    setup.put("ann.vcf", card("ann-server", "Ann", "Lee", "ann@example.com", "TITLE:Clerk"))
    (setup.folder / "ann.vcf").write_bytes(card("ann-folder", "Ann", "Lee", "ANN@example.com", "NOTE:hi"))
    setup.sync()
    assert len(server_cards(setup.radicale, setup.book)) == 1
    assert len(list(setup.folder.glob("*.vcf"))) == 1
    ann = server_cards(setup.radicale, setup.book)["ann@example.com"]
    assert ann["NOTE"] == "hi" and ann["TITLE"] == "Clerk"


def test_a_renamed_url_relinks_an_address_the_server_trimmed_without_doubling_it(setup: Setup) -> None:
    """A card's street ends in a comma left unescaped ("Silicon Alley 5,", as an iPhone
    export writes it), which Radicale stores without it. Re-spelling the book's ``url``
    (127.0.0.1 -> localhost) makes the next run read every card afresh and link it again,
    with no baseline: the two spellings were two addresses to the set merge, and the
    person ended with both, written into their own folder card."""
    adr = "ADR;TYPE=home:;;Silicon Alley 5,;New York;;12345;USA"
    (setup.folder / "jd.vcf").write_bytes(card("jd-1", "John", "Doe", "jd@example.com", adr))
    setup.sync()
    # (what makes the two spellings: the server's own)
    assert (
        server_cards(setup.radicale, setup.book)["jd@example.com"]["ADR"]
        == ";;Silicon Alley 5;New York;;12345;USA"
    )
    setup.toml.write_text(setup.toml.read_text().replace("http://127.0.0.1:", "http://localhost:"))
    assert setup.cli("apply", str(setup.toml))[0] == 0
    setup.sync()
    lines = (setup.folder / "jd.vcf").read_text().splitlines()
    assert [line for line in lines if line.startswith("ADR")] == [adr]
    with sqlite3.connect(setup.db.removeprefix("sqlite:///")) as db:
        (data,) = db.execute("SELECT data FROM contacts WHERE NOT deleted").fetchone()
    assert [a["street"] for a in json.loads(data)["addresses"]] == ["Silicon Alley 5,"]
    assert setup.sync()["changes"] == {}


def test_config_apply_keeps_the_password_encrypted(tmp_path: Path, radicale: Radicale, book: str) -> None:
    setup = Setup(tmp_path, radicale, book)
    engine = open_database(setup.db)
    with engine.connect() as conn:
        from sqlalchemy import text

        settings, secrets = conn.execute(
            text("select settings, secrets from connectors where name='dav'")
        ).one()
    assert "password" not in settings and setup.password not in secrets


class PasswordUI:
    """A person at the terminal typing ``password`` when asked."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.said: list[str] = []

    def echo(self, text: str) -> None:
        self.said.append(text)

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        assert secret and "alice" in prompt
        return self.password

    def open_link(self, url: str) -> None:
        raise AssertionError("no link to open")

    def wait_for_redirect(self, redirect_uri: str, state: str, timeout: float = 600) -> dict[str, str]:
        raise AssertionError("no redirect to wait for")


def test_password_given_with_connect_instead_of_the_hub_file(
    tmp_path: Path, radicale: Radicale, book: str
) -> None:
    from contacthub import service
    from contacthub.errors import FatalConnectorError

    setup = Setup(tmp_path, radicale, book)
    setup.toml.write_text(setup.toml.read_text().replace(f'password = "{setup.password}"\n', ""))
    code, out = setup.cli("apply", str(setup.toml))
    assert code == 0, out
    setup.put("ann.vcf", card("ann", "Ann", "Lee", "ann@example.com"))
    engine = open_database(setup.db)
    with pytest.raises(FatalConnectorError):
        service.connect(engine, "team", "dav", PasswordUI("wrong-one-77"))  # checked before saved
    ui = PasswordUI(setup.password)
    service.connect(engine, "team", "dav", ui)
    assert ui.said == ["the server accepted the password"]
    assert setup.sync()["changes"]["folder"]["create"] == 1
    raw = Path(setup.db.removeprefix("sqlite:///")).read_bytes()
    assert setup.password.encode() not in raw and b"wrong-one-77" not in raw


def test_an_undone_deletion_brings_the_server_card_back_whole(
    tmp_path: Path, radicale: Radicale, book: str
) -> None:
    """A card the hub deletes on the server is kept (``trash_days``) in the hub's data
    directory; undoing the run puts it back with its photo and X- properties, and the
    folder's new copy (the user deleted theirs, so the folder kept none) starts from it:
    both once came back with the hub's fields only. The folder is first in the hub, so this
    also checks that the book that puts a card back writes first."""
    setup = Setup(tmp_path, radicale, book)
    setup.folder_first()
    extras = ("PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAf", "X-FAV:blue")
    (setup.folder / "paula.vcf").write_bytes(card("pic-1", "Paula", "Pic", "paula@example.org", *extras))
    (setup.folder / "cy.vcf").write_bytes(card("cy", "Cy", "Poe", "cy@example.com"))
    assert setup.sync()["changes"]["dav"]["create"] == 2
    assert server_cards(setup.radicale, setup.book)["paula@example.org"]["X-FAV"] == "blue"

    (setup.folder / "paula.vcf").unlink()  # the user deletes it by mistake
    report = setup.sync()
    assert report["changes"]["dav"]["delete"] == 1
    assert set(server_cards(setup.radicale, setup.book)) == {"cy@example.com"}

    code, out = setup.cli("undo", str(report["run"]))
    assert code == 0, out
    setup.sync()
    for where in (server_cards(setup.radicale, setup.book), folder_cards(setup.folder)):
        paula = where["paula@example.org"]
        assert paula["X-FAV"] == "blue" and paula["PHOTO"].startswith("iVBORw0KGgo"), paula
        assert paula["FN"] == "Paula Pic"
    assert setup.sync()["changes"] == {}


@pytest.mark.parametrize("first", ["dav", "folder"])
def test_an_undone_run_that_deleted_on_both_sides_brings_both_cards_back_whole(
    tmp_path: Path, radicale: Radicale, book: str, first: str
) -> None:
    """The run undone deleted a card on the server (the user deleted its folder copy) and a
    folder card (the user deleted its server copy): each connector puts back one card from
    its trash and makes a new copy of the other person, which starts from the card put back
    there. Both connectors keep deleted cards, so no order of connectors serves both: the
    folder, first in the hub, made its new card from the hub's fields alone, before the book
    had put the card back (the photo and X- properties were lost); the book, first, lost
    those of the folder's card."""
    setup = Setup(tmp_path, radicale, book)
    if first == "folder":
        setup.folder_first()
    extras = ("PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAf", "X-FAV:blue")
    (setup.folder / "paula.vcf").write_bytes(card("pic-1", "Paula", "Pic", "paula@example.org", *extras))
    (setup.folder / "cy.vcf").write_bytes(card("cy", "Cy", "Poe", "cy@example.com"))
    setup.put("vic.vcf", card("vic-1", "Vic", "Vee", "vic@example.org", "X-FAV:green", "NICKNAME:V"))
    setup.sync()
    assert set(folder_cards(setup.folder)) == set(server_cards(setup.radicale, setup.book))

    (setup.folder / "paula.vcf").unlink()  # the user deletes one card here...
    with setup.radicale.client() as http:  # ...and another one on the server
        assert http.delete(f"{setup.book}vic.vcf").status_code in (200, 204)
    report = setup.sync()
    assert report["changes"]["dav"]["delete"] == 1 and report["changes"]["folder"]["delete"] == 1
    assert set(folder_cards(setup.folder)) == {"cy@example.com"}

    code, out = setup.cli("undo", str(report["run"]))
    assert code == 0, out
    setup.sync()
    for where in (server_cards(setup.radicale, setup.book), folder_cards(setup.folder)):
        paula, vic = where["paula@example.org"], where["vic@example.org"]
        assert paula["X-FAV"] == "blue" and paula["PHOTO"].startswith("iVBORw0KGgo"), paula
        assert vic["X-FAV"] == "green" and vic["NICKNAME"] == "V", vic
    assert setup.sync()["changes"] == {}


@pytest.mark.parametrize("kept", ['password = "typo-pass-31"', 'token = "stale-token-31"'])
def test_a_password_given_with_connect_replaces_one_kept_from_the_file(
    tmp_path: Path, radicale: Radicale, book: str, kept: str
) -> None:
    """A wrong password (or a token) applied once stays stored when the file leaves it out
    later; ``connect`` with the right password checks that one alone and replaces it: the
    stored one was preferred, so every sync failed after the server accepted the new one."""
    from contacthub import service

    setup = Setup(tmp_path, radicale, book)
    with_right = setup.toml.read_text()
    setup.toml.write_text(with_right.replace(f'password = "{setup.password}"', kept))
    assert setup.cli("apply", str(setup.toml))[0] == 0
    (setup.folder / "ann.vcf").write_bytes(card("ann", "Ann", "Lee", "ann@example.com"))
    assert setup.cli("sync", "team")[0] == 1
    setup.toml.write_text(with_right.replace(f'password = "{setup.password}"\n', ""))
    code, out = setup.cli("apply", str(setup.toml))
    assert code == 0 and "nothing changed" in out  # the stored secret is kept: still wrong
    ui = PasswordUI(setup.password)
    service.connect(open_database(setup.db), "team", "dav", ui)
    assert ui.said == ["the server accepted the password"]
    assert setup.sync()["changes"]["dav"]["create"] == 1
    # the file's password, given again later, is the newest word again
    setup.toml.write_text(with_right.replace(setup.password, "typo-again-32"))
    assert setup.cli("apply", str(setup.toml))[0] == 0
    assert setup.cli("sync", "team")[0] == 1


#: real cards a vobject-based server (Radicale) refuses with 400 when copied as they are:
#: a PROFILE line, two N lines, an unparseable line, a 4.0 card without FN
REFUSED_AS_THEY_ARE = (
    "apple-addressbook-6.1__3.0__ezvcard_John_Doe_LOTUS_NOTES.vcf",
    "rfc2426__3.0__icaljs_vcard3.vcf",
    "broken__3.0__eds_vcard_11.vcf",
    "jscontact-test__4.0__audriga_vcard_altid_language.vcf",
)


def test_a_card_the_server_refuses_as_copied_arrives_built_from_the_fields(
    setup: Setup, corpus_dir: Path
) -> None:
    """A first copy of a folder into a book sends each card as it is (or made from it); a
    card the server refuses so is sent at once again built from the hub's fields, so the
    person arrives. These people once never reached the book: run 1 said ``refused with
    400`` and later runs nothing, as the engine does not retry a refused record until
    the contact changes."""
    for name in REFUSED_AS_THEY_ARE:
        (setup.folder / name).write_bytes((corpus_dir / "vcards" / name).read_bytes())
    report = setup.sync()
    assert report["errors"] == [], report["errors"]
    assert report["changes"]["dav"]["create"] == len(REFUSED_AS_THEY_ARE)
    with setup.radicale.client() as http:
        listing = http.request("PROPFIND", setup.book, headers={"Depth": "1"}).text
        stored = [http.get(h).text for h in _hrefs(listing) if h.endswith(".vcf")]
    assert len(stored) == len(REFUSED_AS_THEY_ARE)
    names = sorted(props(text).get("FN", "") for text in stored)
    assert "Invalid AttributeParam" in names and "Mr. Doe John I Johny" in names, names
    assert "Mr. John Q. Public, Esq." in {n.replace("\\,", ",") for n in names}, names
    titles = {props(text).get("TITLE") for text in stored}
    assert "Chief Executive Officer" in titles or any("Chief Executive" in t for t in stored)
    # the second run has nothing to write, and no error
    report = setup.sync()
    assert report["changes"] == {} and report["errors"] == [], report


def test_a_token_in_the_urls_query_is_in_no_listing_and_no_error(
    tmp_path: Path, radicale: Radicale, book: str
) -> None:
    """A ``url`` with ``?apikey=...&sig=...`` (a share link) was listed by ``hubs`` as
    written, and a run that could not find the address book put it into the run's errors,
    shown to every user of the hub. The connector still syncs with the URL as written."""
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "bob.vcf").write_bytes(card("bob", "Bob", "Roe", "bob@example.com"))
    secret = "Dv4vTokenX9"

    def hub_file(url: str) -> Path:
        toml = tmp_path / "hub.toml"
        toml.write_text(
            f'[[hubs.team.connectors]]\nname = "dav"\ntype = "carddav"\nurl = "{url}"\n'
            f'username = "alice"\npassword = "{radicale.users["alice"]}"\n'
            f'[[hubs.team.connectors]]\nname = "folder"\ntype = "vcard-dir"\npath = "{folder}"\n'
        )
        return toml

    db = f"sqlite:///{tmp_path / 'hub.db'}"

    def cli(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--database", db, *args])
        return result.exit_code, result.output

    assert cli("apply", str(hub_file(f"{book}?apikey={secret}&sig=S1gQ7x")))[0] == 0
    code, out = cli("sync", "team", "--json")
    assert code == 0 and json.loads(out)["status"] == "applied", out
    assert set(server_cards(radicale, book)) == {"bob@example.com"}  # it reached the server
    code, out = cli("hubs", "--json")
    assert code == 0 and secret not in out and "S1gQ7x" not in out and "apikey=********" in out

    missing = f"{radicale.url}/alice/no-such-book/?apikey={secret}&sig=S1gQ7x"
    assert cli("apply", str(hub_file(missing)))[0] == 0
    code, out = cli("sync", "team", "--json")
    report = json.loads(out)
    assert code == 1 and report["status"] == "failed", out
    assert "nothing was found at" in report["errors"][0]["message"]
    assert secret not in out and "S1gQ7x" not in out
    code, out = cli("runs", "team")
    assert secret not in out and "S1gQ7x" not in out


def test_a_token_in_the_urls_query_is_stored_encrypted_and_still_sent(
    tmp_path: Path, radicale: Radicale, book: str
) -> None:
    """The password of ``https://alice:PW@host/?token=...`` was taken out and encrypted, but
    the ``?token=`` value, the credential of a server entered by a token in the URL, stayed
    in clear in ``connectors.settings``, readable by anyone who could read the store. It is
    kept encrypted with the password; the connector still sends it with every request; a
    store holding it in clear has it moved by the next ``apply`` of the same file, links kept."""
    import sqlite3

    token = "TOK3NSECRETq7"
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "bob.vcf").write_bytes(card("bob", "Bob", "Roe", "bob@example.com"))
    password = radicale.users["alice"]
    url = book.replace("http://", f"http://alice:{password}@") + f"?token={token}&x=1"
    toml = tmp_path / "hub.toml"
    toml.write_text(
        f'[[hubs.team.connectors]]\nname = "dav"\ntype = "carddav"\nurl = "{url}"\n'
        f'[[hubs.team.connectors]]\nname = "folder"\ntype = "vcard-dir"\npath = "{folder}"\n'
    )
    path = tmp_path / "hub.db"
    db = f"sqlite:///{path}"

    def cli(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--database", db, *args])
        return result.exit_code, result.output

    def stored() -> tuple[str, str]:
        with contextlib.closing(sqlite3.connect(path)) as plain:
            settings, secrets = plain.execute(
                "select settings, secrets from connectors where name='dav'"
            ).fetchone()
        return str(settings), str(secrets)

    code, out = cli("apply", str(toml))
    assert code == 0 and token not in out, out
    settings, secrets = stored()
    assert token not in settings and password not in settings and token not in secrets
    assert json.loads(settings)["url"] == book + "?token=********&x=********"
    for args in (("hubs",), ("hubs", "--json")):
        code, out = cli(*args)
        assert code == 0 and token not in out and "?token=********" in out, out
    code, out = cli("sync", "team", "--json")
    assert code == 0 and json.loads(out)["status"] == "applied" and token not in out, out
    assert set(server_cards(radicale, book)) == {"bob@example.com"}  # it reached the server
    with contextlib.closing(sqlite3.connect(path)) as plain:  # nor in the cursor (QA)
        cursors = [str(v) for (v,) in plain.execute("select value from cursors")]
    assert cursors and not any(token in v or password in v for v in cursors), cursors

    # the connector a run builds from the store sends the token to the server, every time
    engine = open_database(db)
    with engine.connect() as conn:
        store = Store(conn)
        hub = store.hub("team")
        [row] = [c for c in store.connectors(hub.id) if c.name == "dav"]
    connector = connector_for(row, hub, engine)
    sent: list[httpx.URL] = []
    connector.client._http.event_hooks["request"].append(lambda request: sent.append(request.url))
    try:
        listed = [r for r in connector.pull(None, {}).records if isinstance(r, Record)]
    finally:
        connector.close()
    assert [r.fields.get("display_name") for r in listed] == ["Bob Roe"]
    assert sent and all(dict(u.params) == {"token": token, "x": "1"} for u in sent), sent

    # a store of before, with the URL in clear: the next apply of the same file moves it
    from contacthub.store import secrets as kept

    clear = {"url": url.replace(f"alice:{password}@", ""), "username": "alice"}
    with contextlib.closing(sqlite3.connect(path)) as plain, plain:
        plain.execute(
            "update connectors set settings = ?, secrets = ? where name='dav'",
            [json.dumps(clear), kept.encrypt({"password": password})],
        )
    code, out = cli("apply", str(toml))
    assert code == 0 and token not in out, out
    assert out.strip() == "connector team/dav: its URL's query values are now kept encrypted", out
    settings, secrets = stored()
    assert token not in settings and token not in secrets
    assert kept.decrypt(secrets) == {"password": password, "url": clear["url"]}
    assert cli("apply", str(toml))[1].strip() == "nothing changed"
    code, out = cli("sync", "team", "--json")
    report = json.loads(out)
    assert code == 0 and report["status"] == "applied" and report["changes"] == {}, out


class _UnzonedDates(http.server.BaseHTTPRequestHandler):
    """In front of Radicale: says every card's ``getlastmodified`` (multiget) and
    ``Last-Modified`` (GET) as ``email.utils.formatdate`` writes them by default, at
    ``-0000`` (RFC 5322's UTC of unknown origin), which parses to a time without a zone."""

    def _any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        upstream: str = self.server.upstream  # type: ignore[attr-defined]
        answer = httpx.request(self.command, upstream + self.path, content=body, headers=headers)
        stamp = formatdate()  # 'Fri, 27 Nov 2026 03:53:00 -0000'
        assert stamp.endswith("-0000")
        content = answer.content
        if self.command == "REPORT":
            content = re.sub(
                rb"(<(\w+:)?getetag>[^<]*</\2?getetag>)",
                lambda m: (
                    m.group(1)
                    + b"<%sgetlastmodified>%s</%sgetlastmodified>"
                    % (m.group(2) or b"", stamp.encode(), m.group(2) or b"")
                ),
                content,
            )
        self.send_response(answer.status_code)
        for k, v in answer.headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                self.send_header(k, stamp if k.lower() == "last-modified" else v)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = do_OPTIONS = _any

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_time_without_a_zone_is_utc(tmp_path: Path, radicale: Radicale, book: str) -> None:
    """A ``getlastmodified`` at ``-0000`` gave a time without a zone, and comparing it with
    the card's REV raised TypeError: every run failed with an internal error. It is UTC."""
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _UnzonedDates)
    proxy.upstream = radicale.url  # type: ignore[attr-defined]
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        setup = Setup(tmp_path, radicale, book)
        setup.toml.write_text(
            setup.toml.read_text().replace(radicale.url, f"http://127.0.0.1:{proxy.server_address[1]}")
        )
        assert setup.cli("apply", str(setup.toml))[0] == 0
        rev = "REV:20260101T000000Z"  # earlier than the server's time, which counts then
        setup.put("ann.vcf", card("ann", "Ann", "Lee", "ann@example.com", "TITLE:Clerk", rev))
        report = setup.sync()
        assert report["status"] == "applied", report
        assert folder_cards(setup.folder)["ann@example.com"]["TITLE"] == "Clerk"
        engine = open_database(setup.db)
        with engine.connect() as conn:
            store = Store(conn)
            hub = store.hub("team")
            [row] = [c for c in store.connectors(hub.id) if c.name == "dav"]
        connector = connector_for(row, hub, engine)
        try:
            [listed] = [r for r in connector.pull(None, {}).records if isinstance(r, Record)]
            got = connector.get(listed.native_id)  # the GET's Last-Modified header, at -0000 too
        finally:
            connector.close()
        for record in (listed, got):
            assert record.modified is not None and record.modified.utcoffset() == timedelta(0)
            assert abs(record.modified - datetime.now(UTC)) < timedelta(minutes=5)
        assert setup.sync()["changes"] == {}
    finally:
        proxy.shutdown()
        proxy.server_close()
