"""A URL setting that is no URL, given to the API or the dashboard: a clean 400 naming the
connector and the setting, never its password or token. ``http://u:pw@[::1`` went up as a
500 (``urlsplit``'s ``ValueError`` in ``secrets.url_credentials``) and reset the connection;
``http:/alice:pw@host`` was refused with the password quoted, and put back into the
dashboard's settings box."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.web.conftest import Person

#: no URL, a password or a token in each
LEAKY = [
    "http:/alice:SECRETPW@dav.example.com/",
    "https//alice:SECRETPW@dav.example.com/",
    "alice:SECRETPW@dav.example.com/dav/",
    "dav.example.com/?token=SECRETPW",
]
#: ``urlsplit`` cannot take these apart (a ``[`` not closed, no IPv6 address in brackets)
UNSPLITTABLE = ["http://u:SECRETPW@[::1", "http://u:SECRETPW@[zz]/", "http://[::1/dav/"]


def hub_of(person: Person, name: str = "dav") -> int:
    answer = person.client.post("/api/v1/hubs", json={"name": name}, headers=person.auth)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


@pytest.mark.parametrize(
    ("kind", "key", "extra"),
    [("carddav", "url", {}), ("pipedrive", "base_url", {"api_token": "t"}),
     ("pipedrive", "oauth_url", {"api_token": "t"}), ("procore", "login_url", {"company_id": 1}),
     ("m365-gal", "graph_url", {"client_id": "c", "tenant_id": "t"})],
)  # fmt: skip
def test_a_url_that_is_none_is_a_400_naming_the_setting_and_no_secret(
    alice: Person, kind: str, key: str, extra: dict[str, object]
) -> None:
    c, auth = alice.client, alice.auth
    hub = hub_of(alice)
    fine = c.post(
        f"/api/v1/hubs/{hub}/connectors",
        json={"name": "ok", "type": kind, "settings": {key: "https://127.0.0.1:9/", **extra}},
        headers=auth,
    )
    assert fine.status_code == 201, fine.text
    for url in UNSPLITTABLE + LEAKY:
        sent = {"name": "bad", "type": kind, "settings": {key: url, **extra}}
        made = c.post(f"/api/v1/hubs/{hub}/connectors", json=sent, headers=auth)
        patched = c.patch(
            f"/api/v1/connectors/{fine.json()['id']}", json={"settings": {key: url}}, headers=auth
        )
        for answer in (made, patched):
            assert answer.status_code == 400, (url, answer.status_code, answer.text)
            error = answer.json()["error"]
            assert f"{key!r}" in error and "connector " in error, error
            assert "SECRETPW" not in answer.text, answer.text
            assert "********" in error or "SECRETPW" not in url
    # the client's connection is still good, and nothing was stored
    listed = c.get(f"/api/v1/hubs/{hub}/connectors", headers=auth)
    assert [x["name"] for x in listed.json()] == ["ok"]
    assert listed.json()[0]["settings"][key] == "https://127.0.0.1:9/"


def test_the_dashboard_shows_the_form_again_without_the_secret(alice: Person) -> None:
    c = alice.client
    hub = hub_of(alice)
    for url in UNSPLITTABLE + LEAKY:
        answer = c.post(
            f"/hubs/{hub}/connectors",
            data={"csrf": alice.csrf(), "type": "carddav", "name": "book",
                  "settings": f'url = "{url}"\ntimeout = 30', "direction": "two-way",
                  "operations": ["create", "update", "delete"], "on_delete": "delete"},
        )  # fmt: skip
        assert answer.status_code == 400, (url, answer.status_code, answer.text[:500])
        assert "SECRETPW" not in answer.text, url
        found = re.search(r'id="form-error"[^>]*>(.*?)</p>', answer.text, re.S)
        assert found and "url" in html.unescape(found.group(1)), answer.text[:2000]
        box = re.search(r'<textarea id="settings"[^>]*>(.*?)</textarea>', answer.text, re.S)
        assert box and "timeout = 30" in html.unescape(box.group(1))
        if "SECRETPW" in url:  # left out of the box, and the page says so
            assert "url =" not in html.unescape(box.group(1))
            retype = re.search(r'id="retype">(.*?)</p>', answer.text, re.S)
            assert retype and "url" in retype.group(1)
    assert c.get(f"/api/v1/hubs/{hub}/connectors", headers=alice.auth).json() == []


@pytest.mark.parametrize("extension", ["/../../escape.vcf", ".vcf\x00x", ".v/cf", ".vcf\\x", ".vc\nf", "."])
def test_a_vcard_extension_that_is_no_plain_suffix_is_refused(
    bob: Person, alice: Person, folders: tuple[Path, Path], extension: str
) -> None:
    """Stored as given (200 for a user who is not an admin), ``/../../escape.vcf`` named
    files outside the folder and ``.vcf\\x00x`` failed every run."""
    hub = hub_of(bob, "bobs")
    made = alice.client.post(  # a folder is an admin's to give
        f"/api/v1/hubs/{hub}/connectors",
        json={"name": "a", "type": "vcard-dir", "settings": {"path": str(folders[0])}},
        headers=alice.auth,
    )
    assert made.status_code == 201, made.text
    url = f"/api/v1/connectors/{made.json()['id']}"
    answer = bob.client.patch(url, json={"settings": {"extension": extension}}, headers=bob.auth)
    assert answer.status_code == 400, answer.text
    assert "'extension'" in answer.json()["error"] and "plain suffix" in answer.json()["error"]
    assert bob.client.get(url, headers=bob.auth).json()["settings"].get("extension") is None
    fine = bob.client.patch(url, json={"settings": {"extension": ".vcard"}}, headers=bob.auth)
    assert fine.status_code == 200, fine.text
    assert fine.json()["settings"]["extension"] == ".vcard"
