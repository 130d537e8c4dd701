"""One hub over three kinds of system at once: a real Radicale address book, a vCard folder
and the Pipedrive emulator. Everyone reaches every system once, an edit in any one reaches
the other two, and a run after that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contacthub import config
from contacthub.emulators.base import background
from contacthub.emulators.pipedrive import Settings, State, create_app
from contacthub.emulators.pipedrive_data import Company
from contacthub.engine.context import Options, Report
from contacthub.engine.run import run_hub
from contacthub.store.db import open_database
from tests.connectors.test_carddav_sync import card, folder_cards, server_cards
from tests.radicale_server import Radicale, new_book, serve

TOKEN = "three-systems-token"


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    yield from serve(tmp_path_factory)


@pytest.fixture
def pipedrive() -> Iterator[tuple[str, State]]:
    company = Company()
    company.seed(6)
    app = create_app(Settings(api_token=TOKEN, burst=400), company)
    with background(app) as url:
        yield url, app.state.pd


def emails_of(state: State) -> dict[str, dict[str, Any]]:
    return {
        str(e["value"]).lower(): p
        for p in state.company.persons.values()
        if not p["is_deleted"]
        for e in p["emails"]
        if e["primary"]
    }


def test_radicale_folder_and_pipedrive_in_one_hub(
    radicale: Radicale, pipedrive: tuple[str, State], sqlite_url: str, tmp_path: Path
) -> None:
    url, state = pipedrive
    book = new_book(radicale)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "bob.vcf").write_bytes(card("bob", "Bob", "Brandt", "bob@folder.example"))
    with radicale.client() as http:
        put = http.put(f"{book}ann.vcf", content=card("ann", "Ann", "Dav", "ann@dav.example"))
        assert put.status_code in (201, 204)
    engine = open_database(sqlite_url)
    spec = config.HubFile.model_validate(
        {
            "hubs": {
                "three": {
                    "connectors": [
                        {
                            "name": "dav",
                            "type": "carddav",
                            "url": radicale.url,
                            "addressbook": book.rstrip("/").rsplit("/", 1)[-1],
                            "username": "alice",
                            "password": radicale.users["alice"],
                        },
                        {"name": "folder", "type": "vcard-dir", "path": str(folder)},
                        {"name": "crm", "type": "pipedrive", "base_url": url, "api_token": TOKEN},
                    ]
                }
            }
        }
    )
    config.apply(engine, spec)

    def sync() -> Report:
        report = run_hub(engine, "three", options=Options())
        assert report.status == "applied", report.as_json()
        assert not report.errors, report.errors
        return report

    sync()
    crm = set(emails_of(state))
    dav = set(server_cards(radicale, book))
    files = set(folder_cards(folder))
    assert {"ann@dav.example", "bob@folder.example"} <= crm
    assert len(crm) == 6 + 2, "the six CRM persons and the two people from the address books"
    assert {e.lower() for e in dav} == crm == {e.lower() for e in files}

    # an edit in the CRM reaches the server and the folder
    ann = emails_of(state)["ann@dav.example"]
    state.company.update_person(
        ann["id"], {"phones": [{"value": "+49 30 901820", "label": "work", "primary": True}]}
    )
    # and one on the server reaches the folder and the CRM
    with radicale.client() as http:
        bob = card("bob", "Bob", "Brandt", "bob@folder.example", "TITLE:Site foreman")
        hrefs = [
            h for h, c in _cards_by_href(radicale, book).items() if c.get("EMAIL") == "bob@folder.example"
        ]
        assert len(hrefs) == 1
        assert http.put(hrefs[0], content=bob).status_code in (201, 204)
    sync()
    assert "4930901820" in folder_cards(folder)["ann@dav.example"].get("TEL", "").replace(" ", "").replace(
        "+", ""
    )
    assert folder_cards(folder)["bob@folder.example"].get("TITLE") == "Site foreman"
    dav_ann = server_cards(radicale, book)["ann@dav.example"]
    assert "4930901820" in dav_ann.get("TEL", "").replace(" ", "").replace("+", "")
    crm_bob = emails_of(state)["bob@folder.example"]
    assert "Site foreman" in str(crm_bob)

    quiet = sync()
    assert quiet.changes == {}, quiet.changes
    assert len(emails_of(state)) == 8 and len(server_cards(radicale, book)) == 8


def _cards_by_href(radicale: Radicale, book: str) -> dict[str, dict[str, str]]:
    from tests.connectors.test_carddav_sync import _hrefs, props

    with radicale.client() as http:
        listing = http.request("PROPFIND", book, headers={"Depth": "1"}).text
        return {h: props(http.get(h).text) for h in _hrefs(listing) if h.endswith(".vcf")}
