"""The REST API end to end over a real store: hubs, connectors, runs, conflicts, contacts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from contacthub.store.db import open_database
from tests.web.conftest import Person, card, make_hub


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The API tests run on SQLite and on PostgreSQL (the other web tests on SQLite)."""
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def test_hub_connectors_preview_sync_and_contacts(alice: Person, folders: tuple[Path, Path]) -> None:
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    assert [x["name"] for x in hub["connectors"]] == ["a", "b"]
    assert hub["connectors"][0]["settings"] == {"path": str(folders[0])}

    test = c.post(f"/api/v1/connectors/{hub['connectors'][0]['id']}/test", headers=auth).json()
    assert test["ok"] and test["listed"] == 10

    # "yes", "no", 1: refused, not read as true or false (a "no" taken loosely is a real run)
    for loose in ("yes", "no", 1, "true"):
        refused = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={"dry_run": loose}, headers=auth)
        assert refused.status_code == 422 and "dry_run" in refused.json()["error"], refused.text
    assert list(folders[1].glob("*.vcf")) == []
    preview = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={"dry_run": True}, headers=auth).json()
    assert preview["status"] == "planned"
    assert preview["changes"]["b"]["create"] == 10
    assert list(folders[1].glob("*.vcf")) == []  # a preview writes nothing
    plan = c.get(f"/api/v1/runs/{preview['run']}", headers=auth).json()
    assert {ch["op"] for ch in plan["journal"] if ch["connector"] == "b"} == {"create"}

    run = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()
    assert run["status"] == "applied"
    assert len(list(folders[1].glob("*.vcf"))) == 10
    runs = c.get(f"/api/v1/hubs/{hub['id']}/runs", headers=auth).json()
    assert [r["id"] for r in runs] == [run["run"], preview["run"]]

    found = c.get(f"/api/v1/hubs/{hub['id']}/contacts", params={"q": "person3"}, headers=auth).json()
    assert [f["display_name"] for f in found] == ["Person3 Family3"]
    one = c.get(f"/api/v1/contacts/{found[0]['id']}", headers=auth).json()
    assert one["provenance"]["display_name"]["connector"] == "a"
    assert {r["connector"] for r in one["records"]} == {"a", "b"}
    assert any(h["op"] == "create" and h["connector"] == "b" for h in one["history"])

    seen = c.post(f"/api/v1/runs/{run['run']}/undo", json={"dry_run": True}, headers=auth).json()
    assert seen["status"] == "planned" and seen["changes"]["b"]["delete"] == 10
    assert len(list(folders[1].glob("*.vcf"))) == 10  # an undo's preview writes nothing
    undone = c.post(f"/api/v1/runs/{run['run']}/undo", headers=auth).json()
    assert undone["status"] == "applied"
    assert list(folders[1].glob("*.vcf")) == []


def test_connector_settings_filter_and_mapping(alice: Person, folders: tuple[Path, Path]) -> None:
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    b = hub["connectors"][1]
    flt = {"all": [{"field": "email", "op": "ends_with", "value": "1@example.com"}]}
    changed = c.patch(
        f"/api/v1/connectors/{b['id']}",
        json={
            "direction": "from-hub",
            "operations": ["create"],
            "filter": flt,
            "mapping": {"custom.trade": "X-TRADE"},
        },
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["direction"], body["operations"], body["filter"]) == ("from-hub", ["create"], flt)
    assert body["mapping"] == {"custom.trade": "X-TRADE"}
    run = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()
    assert run["changes"]["b"]["create"] == 1  # only p1 passes the filter
    bad = c.patch(
        f"/api/v1/connectors/{b['id']}",
        json={"filter": {"all": [{"field": "email", "op": "nope"}]}},
        headers=auth,
    )
    assert bad.status_code == 400 and "nope" in bad.json()["error"]
    bad = c.patch(f"/api/v1/connectors/{b['id']}", json={"mapping": {"shoe_size": "X"}}, headers=auth)
    assert bad.status_code == 400 and "shoe_size" in bad.json()["error"]


def test_a_misspelt_setting_is_refused_through_the_api(alice: Person, folders: tuple[Path, Path]) -> None:
    """The web checks settings as apply does: a key the type does not read is refused."""
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "x", "type": "csv", "settings": {"path": str(folders[0] / "x.csv"), "delimeter": ";"}},
        headers=auth,
    )
    assert made.status_code == 400 and "unknown setting 'delimeter'" in made.json()["error"]
    assert "did you mean 'delimiter'?" in made.json()["error"]
    b = hub["connectors"][1]
    bad = c.patch(f"/api/v1/connectors/{b['id']}", json={"settings": {"trash_dys": 3}}, headers=auth)
    assert bad.status_code == 400 and "did you mean 'trash_days'?" in bad.json()["error"]
    gone = str(folders[0] / "nope")
    bad = c.patch(f"/api/v1/connectors/{b['id']}", json={"settings": {"path": gone}}, headers=auth)
    assert bad.status_code == 400 and f"the vCard folder {gone} does not exist" in bad.json()["error"]
    long = str(folders[0] / ("a" * 300))  # a name too long for the disk: was a 500
    bad = c.patch(f"/api/v1/connectors/{b['id']}", json={"settings": {"path": long}}, headers=auth)
    assert bad.status_code == 400 and "file name too long" in bad.json()["error"]
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "x", "type": "vcard-dir", "settings": {"path": long, "create": True}},
        headers=auth,
    )
    assert made.status_code == 400 and "file name too long" in made.json()["error"]
    bad = c.patch(f"/api/v1/hubs/{hub['id']}", json={"phone_region": "XX"}, headers=auth)
    assert bad.status_code == 400 and "phone_region" in bad.json()["error"]


def pages(person: Person, url: str, **params: Any) -> tuple[list[Any], list[str]]:
    """Every page of a listing, following its ``Link: <...>; rel="next"`` headers: the pages
    (each as the body says it) and the links followed."""
    import re

    answers, links = [], []
    answer = person.client.get(url, params=params, headers=person.auth)
    while True:
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
        link = answer.headers.get("link")
        if link is None:
            return answers, links
        match = re.fullmatch(r'<(/api/v1/[^>]+)>; rel="next"', link)
        assert match, link
        links.append(match.group(1))
        answer = person.client.get(match.group(1), headers=person.auth)


def test_long_listings_are_paged(
    alice: Person, folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs (newest first, ``before``), contacts (by id, ``after``, read page by page from
    the database) and a run's changes (``after``, with the run's totals on every page) come
    in pages, each saying where the next is in a Link header: runs past the newest 500, a
    hub's contacts past 1000, and the journal of a first sync could not be had but whole."""
    from contacthub.service import views

    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    made = [c.post(f"/api/v1/hubs/{hub['id']}/runs", json={"dry_run": True}, headers=auth).json()["run"]]
    run = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()["run"]
    made += [run] + [
        c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()["run"] for _ in range(3)
    ]
    newest_first = sorted(made, reverse=True)

    listed, links = pages(alice, f"/api/v1/hubs/{hub['id']}/runs", limit=2)
    assert [[r["id"] for r in page] for page in listed] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:],
    ]
    assert links[0] == f"/api/v1/hubs/{hub['id']}/runs?limit=2&before={newest_first[1]}"
    one_page, links = pages(alice, f"/api/v1/hubs/{hub['id']}/runs")  # no more: no Link
    assert [r["id"] for r in one_page[0]] == newest_first and links == []
    older = c.get(f"/api/v1/hubs/{hub['id']}/runs", params={"before": run}, headers=auth).json()
    assert [r["id"] for r in older] == [made[0]]

    # (in the database's order of contact ids: its collation, not Python's, decides it)
    everyone = [f["id"] for f in c.get(f"/api/v1/hubs/{hub['id']}/contacts", headers=auth).json()]
    assert len(set(everyone)) == 10
    listed, links = pages(alice, f"/api/v1/hubs/{hub['id']}/contacts", limit=3)
    assert [len(page) for page in listed] == [3, 3, 3, 1]
    assert [f["id"] for page in listed for f in page] == everyone  # by contact id, each once
    assert links[0].endswith(f"contacts?limit=3&after={everyone[2]}")
    # a search reads on, chunk after chunk, until a page is full
    monkeypatch.setattr(views, "CONTACTS_CHUNK", 1)
    listed, links = pages(alice, f"/api/v1/hubs/{hub['id']}/contacts", q="family", limit=4)
    assert [f["id"] for page in listed for f in page] == everyone and [len(p) for p in listed] == [4, 4, 2]
    assert "q=family" in links[0]
    found, _ = pages(alice, f"/api/v1/hubs/{hub['id']}/contacts", q="person7", limit=1)
    assert [[f["display_name"] for f in page] for page in found] == [["Person7 Family7"]]

    whole = c.get(f"/api/v1/runs/{run}", headers=auth).json()
    assert whole["journal_total"] == len(whole["journal"]) >= 10
    listed, links = pages(alice, f"/api/v1/runs/{run}", limit=4)
    assert [ch for page in listed for ch in page["journal"]] == whole["journal"]
    assert len(listed[0]["journal"]) == 4 and len(links) == len(listed) - 1
    assert links[0] == f"/api/v1/runs/{run}?limit=4&after={whole['journal'][3]['id']}"
    for page in listed:  # the run itself, its totals included, on every page
        assert {k: v for k, v in page.items() if k != "journal"} == {
            k: v for k, v in whole.items() if k != "journal"
        }
    assert whole["changes"]["b"]["create"] == 10
    bad = c.get(f"/api/v1/hubs/{hub['id']}/runs", params={"before": 0}, headers=auth)
    assert bad.status_code == 422


def test_a_setting_of_the_wrong_type_is_refused_through_the_api(
    alice: Person, folders: tuple[Path, Path]
) -> None:
    """Settings are checked against their declared JSON types before anything is stored
    (400, naming the connector and the setting): an API token sent as an object, a list
    or a number was stored, then every run failed with "refused the credentials";
    ``page_size: true`` was read as 1; ``operations`` kept a duplicate."""
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    base = {"base_url": "http://127.0.0.1:9", "api_token": "tok"}
    for token in [{"x": "RIGHTTOKEN"}, ["RIGHTTOKEN"], 12345]:
        made = c.post(
            f"/api/v1/hubs/{hub['id']}/connectors",
            json={"name": "pd", "type": "pipedrive", "settings": {**base, "api_token": token}},
            headers=auth,
        )
        assert made.status_code == 400, made.text
        error = made.json()["error"]
        assert "the setting 'api_token' of connector 'pd' (pipedrive)" in error and "must be text" in error
        assert "RIGHTTOKEN" not in error and "12345" not in error
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "pd", "type": "pipedrive", "settings": {**base, "page_size": True}},
        headers=auth,
    )
    assert made.status_code == 400 and "'page_size' of connector 'pd'" in made.json()["error"]
    assert "must be a whole number" in made.json()["error"]
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "pd", "type": "pipedrive", "settings": {**base, "page_size": 50}},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    pd = made.json()["id"]
    bad = c.patch(f"/api/v1/connectors/{pd}", json={"settings": {"page_size": "50"}}, headers=auth)
    assert bad.status_code == 400 and "must be a whole number, not text ('50')" in bad.json()["error"]
    bad = c.patch(f"/api/v1/connectors/{pd}", json={"operations": ["create", "create"]}, headers=auth)
    assert bad.status_code == 400 and "operations names 'create' twice" in bad.json()["error"]
    b = hub["connectors"][1]
    bad = c.patch(f"/api/v1/connectors/{b['id']}", json={"settings": {"fsync": "no"}}, headers=auth)
    assert bad.status_code == 400 and "'fsync' of connector" in bad.json()["error"]
    stored = c.get(f"/api/v1/connectors/{pd}", headers=auth).json()
    assert stored["settings"]["page_size"] == 50 and stored["operations"] == ["create", "update", "delete"]


def test_a_number_json_cannot_hold_is_refused_through_the_api(
    alice: Person, folders: tuple[Path, Path]
) -> None:
    """``trash_days: 1e999`` (infinity to Python's JSON reader) was stored as null: every
    sync then failed on it and every later change of the connector was refused; infinity
    for ``max_card_mb`` and a whole number beyond 64 bits were 500s. Each is a 400 naming
    the setting, nothing is stored, and the hub still syncs."""
    c, auth = alice.client, {**alice.auth, "Content-Type": "application/json"}
    hub = make_hub(alice, folders)
    b = hub["connectors"][1]
    for raw, said in [
        ('{"settings": {"trash_days": 1e999}}',
         "'trash_days' of connector 'b' (vcard-dir) of hub 'team' must be a finite number, not inf"),
        ('{"settings": {"max_card_mb": 1e999}}',
         "'max_card_mb' of connector 'b' (vcard-dir) of hub 'team' must be a finite number, not inf"),
        ('{"settings": {"trash_days": NaN}}',
         "'trash_days' of connector 'b' (vcard-dir) of hub 'team' must be a finite number, not nan"),
        ('{"settings": {"max_card_mb": 100000000000000000000}}',
         "'max_card_mb' of connector 'b' (vcard-dir) of hub 'team' must be a whole number that fits in 64 "
         "bits"),
        ('{"settings": {"trash_days": 40000}}', "must be at most 36500, not 40000"),
    ]:  # fmt: skip
        bad = c.patch(f"/api/v1/connectors/{b['id']}", content=raw, headers=auth)
        assert bad.status_code == 400, (raw, bad.text)
        assert said in bad.json()["error"], bad.json()["error"]
    stored = c.get(f"/api/v1/connectors/{b['id']}", headers=auth).json()["settings"]
    assert "trash_days" not in stored and "max_card_mb" not in stored
    run = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()
    assert run["status"] == "applied", run
    ok = c.patch(f"/api/v1/connectors/{b['id']}", json={"settings": {"trash_days": 36500}}, headers=auth)
    assert ok.status_code == 200 and ok.json()["settings"]["trash_days"] == 36500


def test_a_null_setting_an_older_version_stored_is_as_if_not_set(
    alice: Person, folders: tuple[Path, Path], engine: Engine
) -> None:
    """``trash_days = inf`` was stored as null by an older version: every sync then failed
    ("not None"), and every later change of the connector was refused until a person
    worked out that the setting itself had to be given again. Null is no value any setting
    can have: it counts as not set (the connector's default), and an edit drops it."""
    from sqlalchemy import select, update

    from contacthub.store import tables as t

    c, auth = alice.client, {**alice.auth, "Content-Type": "application/json"}
    hub = make_hub(alice, folders)
    b = hub["connectors"][1]
    with engine.begin() as conn:
        stored = json.loads(
            conn.execute(select(t.connectors.c.settings).where(t.connectors.c.id == b["id"])).scalar_one()
        )
        conn.execute(
            update(t.connectors)
            .where(t.connectors.c.id == b["id"])
            .values(settings=json.dumps({**stored, "trash_days": None}))
        )
    run = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()
    assert run["status"] == "applied", run
    ok = c.patch(f"/api/v1/connectors/{b['id']}", json={"settings": {"max_card_mb": 30}}, headers=auth)
    assert ok.status_code == 200, ok.text
    assert ok.json()["settings"]["max_card_mb"] == 30 and "trash_days" not in ok.json()["settings"]


def test_a_connector_on_another_ones_folder_is_refused(alice: Person, folders: tuple[Path, Path]) -> None:
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "x", "type": "vcard-dir", "settings": {"path": f"{folders[0]}/"}},
        headers=auth,
    )
    assert (
        made.status_code == 400 and f"connectors 'a' and 'x' of hub 'team' both use {folders[0]}" in made.text
    )
    b = hub["connectors"][1]
    moved = c.patch(
        f"/api/v1/connectors/{b['id']}", json={"settings": {"path": str(folders[0])}}, headers=auth
    )
    assert moved.status_code == 400 and "both use" in moved.json()["error"]
    same = c.patch(
        f"/api/v1/connectors/{b['id']}", json={"settings": {"path": f"{folders[1]}/"}}, headers=auth
    )
    assert same.status_code == 200, same.text  # its own folder again is no clash with itself


def test_a_setting_stored_before_it_was_refused_goes(
    alice: Person, folders: tuple[Path, Path], engine: Engine
) -> None:
    """A key stored before types declared their settings was never read; it does not stop
    the connector from being edited (the web cannot remove a key, only replace it)."""
    from sqlalchemy import update

    from contacthub.store import tables as t
    from contacthub.store.repo import dumps

    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    b = hub["connectors"][1]
    stale = {"path": str(folders[1]), "fliter": {"field": "email", "op": "is_empty"}}
    with engine.begin() as conn:
        conn.execute(update(t.connectors).where(t.connectors.c.id == b["id"]).values(settings=dumps(stale)))
    # sent back as it is shown (the dashboard's form sends the settings box it showed)
    shown = c.get(f"/api/v1/connectors/{b['id']}", headers=auth).json()["settings"]
    assert shown["fliter"] == stale["fliter"]
    again = c.patch(
        f"/api/v1/connectors/{b['id']}", json={"settings": shown, "direction": "to-hub"}, headers=auth
    )
    assert again.status_code == 200, again.text
    assert again.json()["settings"] == {"path": str(folders[1])} and again.json()["direction"] == "to-hub"
    with engine.begin() as conn:
        conn.execute(update(t.connectors).where(t.connectors.c.id == b["id"]).values(settings=dumps(stale)))
    changed = c.patch(f"/api/v1/connectors/{b['id']}", json={"direction": "from-hub"}, headers=auth)
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"] == {"path": str(folders[1])}
    typed = c.patch(f"/api/v1/connectors/{b['id']}", json={"settings": {"fliter": "new"}}, headers=auth)
    assert typed.status_code == 400 and "did you mean 'filter'" in typed.text


def test_conflict_resolved_through_the_api(alice: Person, folders: tuple[Path, Path]) -> None:
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders, conflict="manual")
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    a_file = folders[0] / "p2.vcf"
    a_file.write_text(card("p2", "Person2 Family2", "p2@example.com", "TITLE:From A\r\n"))
    [b_file] = [p for p in folders[1].glob("*.vcf") if "Person2" in p.read_text()]
    b_file.write_text(b_file.read_text().replace("END:VCARD", "TITLE:From B\r\nEND:VCARD"))
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    found = c.get(f"/api/v1/hubs/{hub['id']}/conflicts", headers=auth).json()
    [conflict] = [x for x in found if x["source"] == "a"]  # (b's value is another: one per side)
    assert conflict["field"] == "job_title" and len(found) == 2
    wrong = c.post(f"/api/v1/conflicts/{conflict['id']}/resolve", json={"take": "zzz"}, headers=auth)
    assert wrong.status_code == 400 and "between" in wrong.json()["error"]
    done = c.post(f"/api/v1/conflicts/{conflict['id']}/resolve", json={"take": "b"}, headers=auth).json()
    assert done["value"] == "From B"
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    assert "TITLE:From B" in a_file.read_text()
    # settled, it leaves the open list and is shown on the hub's page among the settled ones
    assert c.get(f"/api/v1/hubs/{hub['id']}/conflicts", headers=auth).json() == []
    page = c.get(f"/hubs/{hub['id']}").text
    settled = page[page.index('id="settled"') :]
    assert "Nothing to settle." in page and "job_title" in settled and "by a person" in settled
    assert "From A" in settled and "From B" in settled and "<td>b</td>" in settled


def test_held_run_approved_through_the_api(alice: Person, folders: tuple[Path, Path]) -> None:
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    for p in list(folders[0].glob("*.vcf"))[:5]:
        p.unlink()
    held = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()
    assert held["status"] == "held"
    assert len(list(folders[1].glob("*.vcf"))) == 10
    again = c.post(f"/api/v1/runs/{held['run']}/approve", headers=auth).json()
    assert again["status"] == "applied"
    assert len(list(folders[1].glob("*.vcf"))) == 5
    refused = c.post(f"/api/v1/runs/{held['run']}/approve", headers=auth)
    assert refused.status_code == 400 and "not held" in refused.json()["error"]


def test_a_held_run_a_later_run_superseded_is_listed_as_such(
    alice: Person, folders: tuple[Path, Path]
) -> None:
    """A hold that a later hold superseded was listed ``held`` with nothing to tell it from
    the current one, and approving it was refused as out of date. It keeps its status and
    names the run that superseded it, in the listing and alone."""
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    for p in list(folders[0].glob("*.vcf"))[:5]:
        p.unlink()
    old = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()
    new = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()
    assert old["status"] == new["status"] == "held"
    assert "superseded_by" not in new  # the run being made says what it is, as before
    listed = {r["id"]: r for r in c.get(f"/api/v1/hubs/{hub['id']}/runs", headers=auth).json()}
    assert listed[old["run"]]["status"] == "held" and listed[old["run"]]["superseded_by"] == new["run"]
    assert listed[new["run"]]["superseded_by"] is None and listed[new["run"]]["superseded_reason"] is None
    shown = c.get(f"/api/v1/runs/{old['run']}", headers=auth).json()
    assert shown["status"] == "held" and shown["superseded_by"] == new["run"]
    refused = c.post(f"/api/v1/runs/{old['run']}/approve", headers=auth)
    assert refused.status_code == 400 and refused.json()["error"] == shown["superseded_reason"]
    assert c.get(f"/api/v1/runs/{new['run']}", headers=auth).json()["superseded_by"] is None
    assert c.post(f"/api/v1/runs/{new['run']}/approve", headers=auth).json()["status"] == "applied"
    assert len(list(folders[1].glob("*.vcf"))) == 5


def test_errors_are_json_a_person_can_act_on(alice: Person) -> None:
    c, auth = alice.client, alice.auth
    r = c.post("/api/v1/hubs", json={"name": "x", "delete_threshold": "lots"}, headers=auth)
    assert r.status_code == 400 and "threshold" in r.json()["error"]
    r = c.post("/api/v1/hubs", json={"name": ""}, headers=auth)
    assert r.status_code == 422 and r.json()["error"].startswith("body.name")
    r = c.get("/api/v1/runs/999", headers=auth)
    assert r.status_code == 404 and r.json() == {"error": "no run 999"}
    hub = c.post("/api/v1/hubs", json={"name": "h"}, headers=auth).json()
    r = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors", json={"name": "x", "type": "fax-machine"}, headers=auth
    )
    assert r.status_code == 400 and "known: " in r.json()["error"]


def test_openapi_document_lists_the_api(alice: Person) -> None:
    doc = TestClient(alice.client.app).get("/api/v1/openapi.json").json()
    paths = set(doc["paths"])
    for path in (
        "/api/v1/hubs",
        "/api/v1/hubs/{hub_id}/runs",
        "/api/v1/runs/{run_id}/undo",
        "/api/v1/conflicts/{conflict_id}/resolve",
        "/api/v1/contacts/{contact_id}",
    ):
        assert path in paths
    assert not any(not p.startswith("/api/v1/") for p in paths)


def test_a_hub_runs_once_at_a_time(alice: Person, folders: tuple[Path, Path]) -> None:
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    web = c.app.state.web  # type: ignore[attr-defined]
    with web.running(hub["id"]):  # as while another request's run is in progress
        busy = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
        assert busy.status_code == 409 and "running now" in busy.json()["error"]
        page = c.post(f"/hubs/{hub['id']}/sync", data={"csrf": alice.csrf()})
        assert page.status_code == 409
    assert list(folders[1].glob("*.vcf")) == []
    assert c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()["status"] == "applied"


def test_runs_started_from_the_api_reach_the_metrics(alice: Person, folders: tuple[Path, Path]) -> None:
    """Only the scheduler's runs were counted: a sync, approve, reject or undo from the
    dashboard or the API left /metrics as it was."""
    from prometheus_client import REGISTRY

    def created(hub: str) -> float:
        value = REGISTRY.get_sample_value(
            "contacthub_changes_total", {"hub": hub, "connector": "b", "kind": "create"}
        )
        return value or 0.0

    hub = make_hub(alice, folders, name="metered")
    before = created("metered")
    run = alice.client.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=alice.auth)
    assert run.status_code == 201 and run.json()["changes"]["b"]["create"] == 10
    assert created("metered") == before + 10
    undone = alice.client.post(f"/api/v1/runs/{run.json()['run']}/undo", headers=alice.auth)
    assert undone.status_code == 200, undone.text
    assert (REGISTRY.get_sample_value("contacthub_runs_total", {"status": "applied"}) or 0) >= 2


def test_a_connector_pointed_elsewhere_through_the_api_is_a_new_book(
    alice: Person, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    """``apply`` forgot a connector's links when its path changed; the API kept them, so
    the new folder's absence of everyone read as deletions (held, and approving deleted
    everyone everywhere)."""
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders, name="moving")
    assert c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()["status"] == "applied"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    b = next(x for x in hub["connectors"] if x["name"] == "b")
    moved = c.patch(
        f"/api/v1/connectors/{b['id']}", json={"settings": {"path": str(elsewhere)}}, headers=auth
    )
    assert moved.status_code == 200, moved.text
    run = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()
    assert run["status"] == "applied", run
    assert run["changes"]["b"]["create"] == 10 and "hub" not in run["changes"]
    assert len(list(elsewhere.glob("*.vcf"))) == 10 and len(list(folders[1].glob("*.vcf"))) == 10


def test_a_renamed_connector_is_named_so_in_its_open_conflicts(
    alice: Person, folders: tuple[Path, Path]
) -> None:
    """Conflicts name their sides: after a rename they still offered the old name, resolve
    refused the new one, and a connector given the old name later seemed to be a side."""
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders, conflict="manual")
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    (folders[0] / "p2.vcf").write_text(card("p2", "Person2 Family2", "p2@example.com", "TITLE:From A\r\n"))
    [b_file] = [p for p in folders[1].glob("*.vcf") if "Person2" in p.read_text()]
    b_file.write_text(b_file.read_text().replace("END:VCARD", "TITLE:From B\r\nEND:VCARD"))
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    b = next(
        x for x in c.get(f"/api/v1/hubs/{hub['id']}", headers=auth).json()["connectors"] if x["name"] == "b"
    )
    assert c.patch(f"/api/v1/connectors/{b['id']}", json={"name": "laptop"}, headers=auth).status_code == 200
    found = c.get(f"/api/v1/hubs/{hub['id']}/conflicts", headers=auth).json()
    assert {x["source"] for x in found} == {"a", "laptop"}
    [conflict] = [x for x in found if x["source"] == "laptop"]
    done = c.post(f"/api/v1/conflicts/{conflict['id']}/resolve", json={"take": "laptop"}, headers=auth)
    assert done.status_code == 200 and done.json()["value"] == "From B"


def test_a_connection_test_counts_a_hosted_systems_records(
    alice: Person, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Pipedrive is read page by page: ``Pull.listed`` was read after the first record, so a
    test said "connected; 0 record(s), e.g. Hannah Nowak". The records are counted as read
    (up to a limit: a test is not a sync)."""
    from contacthub.emulators.base import background
    from contacthub.emulators.pipedrive import create_app as pipedrive_app
    from contacthub.emulators.pipedrive_data import Company
    from contacthub.emulators.pipedrive_wire import Settings
    from contacthub.service import editing

    crm = Company()
    crm.seed(120, 7)
    people = list(crm.persons.values())
    assert len(people) > 100  # more than one page of Pipedrive's 100
    c, auth = alice.client, alice.auth
    with background(pipedrive_app(Settings(api_token="tok"), crm, tmp_path / "pd.json")) as url:
        hub = c.post("/api/v1/hubs", json={"name": "crm"}, headers=auth).json()
        made = c.post(
            f"/api/v1/hubs/{hub['id']}/connectors",
            json={"name": "pd", "type": "pipedrive", "settings": {"base_url": url, "api_token": "tok"}},
            headers=auth,
        )
        assert made.status_code == 201, made.text
        test = c.post(f"/api/v1/connectors/{made.json()['id']}/test", headers=auth).json()
        assert test["ok"] and test["listed"] == len(people), test
        assert test["message"].startswith(f"connected; {len(people)} record(s), e.g. ")
        page = c.post(f"/connectors/{made.json()['id']}/test", data={"csrf": alice.csrf()}).text
        assert f"connected; {len(people)} record(s)" in page
        monkeypatch.setattr(editing, "TEST_READ_LIMIT", 50)
        test = c.post(f"/api/v1/connectors/{made.json()['id']}/test", headers=auth).json()
        assert test["listed"] == 50 and test["message"].startswith("connected; at least 50 record(s), e.g. ")


def test_a_connector_is_not_changed_under_a_running_run(
    alice: Person, folders: tuple[Path, Path], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change or removal of a connector waits for a run of its hub, then is refused as
    busy (409), never made under the run (which it failed half-way)."""
    from contacthub.scheduler.lock import hub_lock
    from contacthub.service import editing

    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    b = hub["connectors"][1]
    monkeypatch.setattr(editing, "EDIT_WAIT", 0.3)
    with hub_lock(engine, hub["name"]):  # as a run holds it
        changed = c.patch(f"/api/v1/connectors/{b['id']}", json={"direction": "from-hub"}, headers=auth)
        removed = c.delete(f"/api/v1/connectors/{b['id']}", headers=auth)
    assert changed.status_code == 409 and "being synced" in changed.json()["error"], changed.text
    assert removed.status_code == 409, removed.text
    after = c.get(f"/api/v1/hubs/{hub['id']}", headers=auth).json()
    assert [(x["name"], x["direction"]) for x in after["connectors"]] == [("a", "two-way"), ("b", "two-way")]
    # with no run, both go through
    assert (
        c.patch(f"/api/v1/connectors/{b['id']}", json={"direction": "from-hub"}, headers=auth).status_code
        == 200
    )
    assert c.delete(f"/api/v1/connectors/{b['id']}", headers=auth).status_code in (200, 204)


def test_a_paging_id_too_big_for_the_database_is_a_422(alice: Person, folders: tuple[Path, Path]) -> None:
    """``?before=9223372036854775808`` was a 500 (SQLite: OverflowError; PostgreSQL: int4) (QA)."""
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders)
    run = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()["run"]
    for url, key in ((f"/api/v1/hubs/{hub['id']}/runs", "before"), (f"/api/v1/runs/{run}", "after")):
        answer = c.get(url, params={key: 2**63}, headers=auth)
        assert c.get(url, params={key: 2**31}, headers=auth).status_code == 422
        assert answer.status_code == 422 and "error" in answer.json(), answer.text
        assert c.get(url, params={key: 2**31 - 1}, headers=auth).status_code == 200
