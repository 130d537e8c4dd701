"""The dashboard's contact list in pages: it showed the first 200 of a hub's contacts and said
"first 200 shown"; the rest were reachable only by a search or the API. Next and Previous
walk the list by name (a keyset of name and id), keeping the search."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from tests.web.conftest import Person, card


def rows(page: str) -> list[tuple[str, str]]:
    """(contact id, name) of each row of the list."""
    return [
        (cid, html.unescape(name))
        for cid, name in re.findall(r'<a href="/contacts/([^"]+)">([^<]*)</a>', page)
    ]


def link(page: str, which: str) -> str | None:
    found = re.search(rf'id="{which}-page" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def synced_folder(person: Person, name: str, folder: Path) -> dict[str, Any]:
    """A hub of ``person``'s named ``name`` reading ``folder``, synced once."""
    c, auth = person.client, person.auth
    hub: dict[str, Any] = c.post("/api/v1/hubs", json={"name": name}, headers=auth).json()
    c.post(f"/api/v1/hubs/{hub['id']}/connectors",
           json={"name": "f", "type": "vcard-dir", "direction": "to-hub", "settings": {"path": str(folder)}},
           headers=auth)  # fmt: skip
    assert c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).status_code == 201
    return hub


def test_every_contact_is_reached_once_by_next_and_previous(alice: Person, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(450):
        # a run of namesakes across the first page's end, and names that sort by case only
        name = (
            "Person190 Same"
            if 190 <= i < 215
            else (f"person{i:03d} Lower" if i % 7 == 0 else f"Person{i:03d} X")
        )
        (folder / f"c{i}.vcf").write_text(card(f"c{i}", name, f"c{i}@example.com"))
    c = alice.client
    hub = synced_folder(alice, "many", folder)

    url: str | None = f"/hubs/{hub['id']}/contacts"
    pages: list[list[tuple[str, str]]] = []
    while url:
        page = c.get(url)
        assert page.status_code == 200
        pages.append(rows(page.text))
        url = link(page.text, "next")
    assert [len(p) for p in pages] == [200, 200, 50]
    assert "450 contact(s): 1–200 shown" in c.get(f"/hubs/{hub['id']}/contacts").text
    seen = [row for p in pages for row in p]
    assert len({cid for cid, _ in seen}) == 450 == len(seen)
    assert [name.casefold() for _, name in seen] == sorted(name.casefold() for _, name in seen)
    # and back again, page by page, to the same pages
    back: list[list[tuple[str, str]]] = [pages[-1]]
    url = link(page.text, "previous")
    while url:
        page = c.get(url)
        back.insert(0, rows(page.text))
        url = link(page.text, "previous")
    assert back == pages

    assert [name for _, name in pages[0][-3:] + pages[1][:3]] == ["Person190 Same"] * 6  # namesakes split

    # a search keeps its term from page to page
    matching = {cid for p in pages for cid, name in p if name.endswith(" X")}
    assert len(matching) > 200
    first = c.get(f"/hubs/{hub['id']}/contacts", params={"q": " x"})
    assert f"{len(matching)} contact(s): 1–200 shown" in first.text
    following = link(first.text, "next")
    assert following and "q=+x" in following
    second = rows(c.get(following).text)
    assert {cid for cid, _ in rows(first.text) + second} == matching and len(second) == len(matching) - 200


def test_a_search_finds_a_name_typed_decomposed_and_a_phone_as_dialled(alice: Person, tmp_path: Path) -> None:
    """A name typed decomposed (``e`` and a combining accent, as macOS and some keyboards
    give it) found nothing: the hub holds names composed (NFC) and the search compared the
    query as typed. A phone typed as dialled found nothing either: the hub holds it in E.164."""
    folder = tmp_path / "people"
    folder.mkdir()
    people = [
        ("José Pérez", "TEL;TYPE=cell:(415) 555-0005\r\n"),
        ("Renée Lefèvre", "TEL:+44 20 7946 0018\r\n"),
        ('Ann O"Brien', ""),
        ("Ann Lee", ""),
    ]
    for i, (name, extra) in enumerate(people):
        (folder / f"c{i}.vcf").write_text(card(f"c{i}", name, f"c{i}@example.com", extra))
    c, auth = alice.client, alice.auth
    hub = synced_folder(alice, "people", folder)

    def found(q: str) -> dict[str, list[str]]:
        """The names each way of searching finds: the page, the live search, the API."""
        page = c.get(f"/hubs/{hub['id']}/contacts", params={"q": q}).text
        live = c.get(f"/hubs/{hub['id']}/contacts", params={"q": q}, headers={"HX-Request": "true"}).text
        api = c.get(f"/api/v1/hubs/{hub['id']}/contacts", params={"q": q}, headers=auth).json()
        return {
            "page": [name for _, name in rows(page)],
            "live": [name for _, name in rows(live)],
            "api": sorted(contact["display_name"] for contact in api),
        }

    def everywhere(*names: str) -> dict[str, list[str]]:
        return {"page": list(names), "live": list(names), "api": sorted(names)}

    assert found("José") == found("Jose\u0301") == found("JOSE\u0301") == everywhere("José Pérez")
    assert found("Renée") == found("Rene\u0301e") == found("LEFE\u0300VRE") == everywhere("Renée Lefèvre")
    assert found("(415) 555-0005") == found("415.555.0005") == found("555-0005") == everywhere("José Pérez")
    assert found("+44 (0)20 7946 0018") == found("+44 20 7946 0018") == everywhere("Renée Lefèvre")
    assert found("020 7946 0018") == everywhere()  # a US hub: not a number it can read
    assert found('o"brien') == everywhere('Ann O"Brien')
    assert found("ann ") == everywhere("Ann Lee", 'Ann O"Brien')

    # a number without its country code is read in the hub's phone region
    assert c.patch(f"/api/v1/hubs/{hub['id']}", json={"phone_region": "GB"}, headers=auth).status_code == 200
    assert found("020 7946 0018") == everywhere("Renée Lefèvre")


def test_the_list_sorts_names_as_people_do_accents_and_case_aside(alice: Person, tmp_path: Path) -> None:
    """The list sorted by code point after case-folding: every name starting with an
    accented or another letter (Ángel, Émile, Łukasz, Ørjan) came after Z, and on a hub of
    over 200 people on a later page than its neighbours. Names that sort alike (Jose, José,
    jose) go by the name as written, then by id, so the pages neither repeat nor skip one."""
    order = [
        "Adam Smith", "Æsa Berg", "Ángel Ruiz", "Émile Zola", "Eve Martin", "Jose Ruiz",
        "José Ruiz", "jose ruiz", "Lars Berg", "Łukasz Nowak", "Ørjan Ås", "Zoë Adams",
    ]  # fmt: skip
    folder = tmp_path / "people"
    folder.mkdir()
    for i, name in enumerate(reversed(order)):
        (folder / f"c{i}.vcf").write_text(card(f"c{i}", name, f"c{i}@example.com"))
    c, auth = alice.client, alice.auth
    hub = synced_folder(alice, "people", folder)
    assert [name for _, name in rows(c.get(f"/hubs/{hub['id']}/contacts").text)] == order

    # over three pages, namesakes (alike but for accents and case, or the same) at their edges
    for i in range(12, 450):
        name = order[i % 12] if i % 3 == 0 else f"{order[i % 12]} {i:03d}"
        (folder / f"c{i}.vcf").write_text(card(f"c{i}", name, f"c{i}@example.com"))
    assert c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).status_code == 201
    url: str | None = f"/hubs/{hub['id']}/contacts"
    pages: list[list[tuple[str, str]]] = []
    while url:
        page = c.get(url)
        pages.append(rows(page.text))
        url = link(page.text, "next")
    assert [len(p) for p in pages] == [200, 200, 50]
    seen = [row for p in pages for row in p]
    assert len({cid for cid, _ in seen}) == 450
    rank = {
        word: i
        for i, word in enumerate(
            ["Adam", "Æsa", "Ángel", "Émile", "Eve", "Jose", "Lars", "Łukasz", "Ørjan", "Zoë"]
        )
    }
    rank.update({"José": rank["Jose"], "jose": rank["Jose"]})  # alike: their other words decide
    ranks = [rank[name.split()[0]] for _, name in seen]
    assert ranks == sorted(ranks)
    back = [pages[-1]]
    url = link(page.text, "previous")
    while url:
        page = c.get(url)
        back.insert(0, rows(page.text))
        url = link(page.text, "previous")
    assert back == pages
