"""A dashboard form the service refuses comes back as the form: the message beside it in plain
words, what was typed filled in again (escaped; never a secret), a working CSRF token, and
nothing saved. They went to a separate message page that lost what was typed and said
``body.delete_threshold: Field required``; a hub name too long or empty got a bare 422."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.web.conftest import Person

XSS = "<script>alert(1)</script>"


def message(page: str) -> str:
    """The form's error message as a person reads it."""
    found = re.search(r'id="form-error"[^>]*>(.*?)</p>', page, re.S)
    assert found, page[:2000]
    text = html.unescape(found.group(1))
    assert "body." not in text and "Value error" not in text and "Field required" not in text, text
    return text


def form_csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    return found.group(1)


def hubs(person: Person) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = person.client.get("/api/v1/hubs", headers=person.auth).json()
    return answer


@pytest.mark.parametrize(
    ("sent", "said"),
    [
        ({"name": ""}, "Name: this is required"),
        ({}, "Name: this is required"),
        ({"name": "x" * 201}, "Name: at most 200 characters; this one has 201"),
        ({"name": "team", "delete_threshold": "lots"}, "Deletion threshold: must be a percentage like '10%'"),
        ({"name": "team", "delete_threshold": "9" * 30}, "Deletion threshold: at most 20 characters"),
        (
            {"name": f"{XSS} team", "conflict": "priority", "delete_threshold": "-3"},
            "Deletion threshold: must",
        ),
    ],
)
def test_a_refused_new_hub_is_the_form_again(alice: Person, sent: dict[str, str], said: str) -> None:
    c = alice.client
    answer = c.post("/hubs", data={"csrf": alice.csrf(), **sent})
    assert answer.status_code == 400, answer.text[:500]
    assert message(answer.text).startswith(said)
    assert "Create a hub" in answer.text and 'id="message"' not in answer.text
    name = re.search(r'id="hub-name" name="name" value="([^"]*)"', answer.text)
    assert name and html.unescape(name.group(1)) == sent.get("name", "")
    threshold = re.search(r'name="delete_threshold" value="([^"]*)"', answer.text)
    assert threshold and html.unescape(threshold.group(1)) == sent.get("delete_threshold", "10%")
    if "conflict" in sent:
        assert f'<option value="{sent["conflict"]}" selected>' in answer.text
    if XSS in sent.get("name", ""):  # typed markup comes back as text, never as markup
        assert XSS not in answer.text and "&lt;script&gt;alert(1)&lt;/script&gt; team" in answer.text
    assert hubs(alice) == []
    # the form shown again carries the session's token: sent corrected, it is taken
    fixed = c.post("/hubs", data={"csrf": form_csrf(answer.text), "name": "fixed", "delete_threshold": "5"})
    assert fixed.status_code == 303, fixed.text[:500]
    assert [h["name"] for h in hubs(alice)] == ["fixed"]


@pytest.mark.parametrize(
    ("sent", "said"),
    [
        (
            {"delete_threshold": "lots"},
            "Deletion threshold: must be a percentage like '10%' or a count like 50",
        ),
        ({"delete_threshold": ""}, "Deletion threshold: this is required"),
        ({"delete_threshold": None}, "Deletion threshold: this is required"),
        ({"phone_region": "ZZ"}, "Phone region: must be a country code such as US, GB or DE, not 'ZZ'"),
        ({"phone_region": "USA"}, "Phone region: must be a country code"),
        ({"conflict": "loudest"}, "Conflicts: input should be 'newest', 'priority' or 'manual'"),
    ],
)
def test_refused_hub_settings_are_the_hubs_page_again(
    alice: Person, sent: dict[str, str | None], said: str
) -> None:
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "team", "delete_threshold": "7"}, headers=auth).json()
    before = c.get(f"/api/v1/hubs/{hub['id']}", headers=auth).json()
    form = {"csrf": alice.csrf(), "conflict": "manual", "delete_threshold": "25%", "phone_region": "GB"}
    form.update({k: v for k, v in sent.items() if v is not None})
    for gone in (k for k, v in sent.items() if v is None):
        del form[gone]
    answer = c.post(f"/hubs/{hub['id']}/settings", data=form)
    assert answer.status_code == 400, answer.text[:500]
    assert message(answer.text).startswith(said)
    assert "Hub team" in answer.text
    settings = answer.text[answer.text.index('id="settings"') :]
    assert f'<option value="{form["conflict"]}" selected>' in settings or form["conflict"] == "loudest"
    assert f'name="delete_threshold" value="{form.get("delete_threshold", "")}"' in settings
    assert f'name="phone_region" value="{form["phone_region"]}"' in settings
    assert c.get(f"/api/v1/hubs/{hub['id']}", headers=auth).json() == before  # nothing half-saved
    fixed = {**form, "csrf": form_csrf(settings), "delete_threshold": "3", "phone_region": "DE"}
    fixed["conflict"] = "manual"
    assert c.post(f"/hubs/{hub['id']}/settings", data=fixed).status_code == 303
    after = c.get(f"/api/v1/hubs/{hub['id']}", headers=auth).json()
    assert (after["conflict"], after["delete_threshold"]) == ("manual", "3")


def test_a_refused_new_connector_is_its_form_again_without_its_secrets(
    alice: Person, folders: tuple[Path, Path]
) -> None:
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "team"}, headers=auth).json()
    url = f"/hubs/{hub['id']}/connectors"
    typed = {"csrf": alice.csrf(), "type": "vcard-dir", "name": "",
             "settings": f"path = {folders[0]}\n# {XSS}", "direction": "to-hub",
             "operations": ["create", "update"], "on_delete": "ignore"}  # fmt: skip
    for name, said in (("", "Name: this is required"), ("y" * 201, "Name: at most 200 characters")):
        answer = c.post(url, data={**typed, "name": name})
        assert answer.status_code == 400
        assert message(answer.text).startswith(said)
        assert f'id="name" name="name" value="{name}"' in answer.text
        box = re.search(r'<textarea id="settings"[^>]*>(.*?)</textarea>', answer.text, re.S)
        assert box and html.unescape(box.group(1)) == typed["settings"]
        assert XSS not in answer.text and "&lt;script&gt;" in box.group(1)
        assert '<option value="to-hub" selected>' in answer.text
        assert '<option value="ignore" selected>' in answer.text
        assert 'value="create" checked' in answer.text and 'value="delete" checked' not in answer.text
    # an unknown type: the type picker again, with the message
    answer = c.post(url, data={**typed, "type": "nope", "name": "a"})
    assert answer.status_code == 400 and message(answer.text).startswith(
        "Type: unknown connector type 'nope'"
    )
    assert 'id="type-vcard-dir"' in answer.text
    # a secret typed is never sent back: its field is empty and says to type it again, and
    # a password written into an address is left out of the settings box
    answer = c.post(
        url,
        data={"csrf": alice.csrf(), "type": "pipedrive", "name": "crm",
              "settings": "base_url = http://u:PW-IN-URL9@127.0.0.1:9/\npage_size = lots\ncompany = Acme",
              "secret_api_token": "TOKEN-TYPED7"},
    )  # fmt: skip
    assert answer.status_code == 400, answer.text[:500]
    assert "TOKEN-TYPED7" not in answer.text and "PW-IN-URL9" not in answer.text
    assert "api_token (must be typed again)" in answer.text
    assert re.search(
        r'type="password" id="secret_api_token" name="secret_api_token" autocomplete="off">', answer.text
    )
    retype = re.search(r'id="retype">(.*?)</p>', answer.text, re.S)
    assert retype and "api_token" in retype.group(1) and "base_url" in retype.group(1)
    assert "company = Acme" in answer.text
    assert c.get(f"/api/v1/hubs/{hub['id']}/connectors", headers=auth).json() == []


def test_a_refused_connector_save_is_its_page_again_with_the_rows_typed(
    alice: Person, folders: tuple[Path, Path]
) -> None:
    """The QA case: a bad regular expression in the filter builder."""
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "team"}, headers=auth).json()
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "a", "type": "vcard-dir", "settings": {"path": str(folders[0])},
              "filter": {"field": "email", "op": "contains", "value": "@"}},
        headers=auth,
    ).json()  # fmt: skip
    before = c.get(f"/api/v1/connectors/{made['id']}", headers=auth).json()
    form = {"csrf": alice.csrf(), "settings": f"path = {folders[0]}\nrecursive = yes please",
            "direction": "from-hub", "operations": ["update"], "on_delete": "ignore", "filter_mode": "any",
            "g_mode": ["all", "any"], "f_group": ["0", "1"], "f_field": ["organization", "email"],
            "f_op": ["equals", "matches"], "f_value": [XSS, "(["],
            "m_field": ["custom.trade", "custom.half"], "m_native": ["X-TRADE", ""]}  # fmt: skip
    answer = c.post(f"/connectors/{made['id']}", data=form)
    assert answer.status_code == 400, answer.text[:500]
    said = message(answer.text)
    assert said.startswith("Filter, row 2 (email matches): invalid regular expression '(['"), said
    page = answer.text
    assert 'name="f_value" value="(["' in page and 'name="f_field" value="email"' in page
    assert (
        '<option value="matches" selected>' in page and '<option value="1" selected>group 2</option>' in page
    )
    assert XSS not in page and 'name="f_value" value="&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert '<option value="any" selected>any group</option>' in page
    assert 'name="m_native" value="X-TRADE"' in page and 'name="m_field" value="custom.half"' in page
    assert '<option value="from-hub" selected>' in page and '<option value="ignore" selected>' in page
    assert 'value="update" checked' in page and 'value="create" checked' not in page
    assert "recursive = yes please" in page
    assert c.get(f"/api/v1/connectors/{made['id']}", headers=auth).json() == before  # nothing half-saved
    # other refusals of the same form, each in words beside it
    for change, said in (
        ({"f_value": ["x", "ok"], "f_op": ["equals", "drop table"]}, "Filter, row 2 (email drop table)"),
        (
            {"m_field": ["custom.trade", "custom.half"], "m_native": ["X-TRADE", ""]},
            "each mapping row needs both",
        ),
        ({"direction": "sideways"}, "Direction: input should be 'two-way', 'to-hub' or 'from-hub'"),
        ({"settings": "just words"}, "Settings, line 1: write it as 'name = value'"),
    ):
        base = {**form, "f_value": [XSS, "@"], "f_op": ["equals", "contains"], "m_field": ["custom.trade"],
                "m_native": ["X-TRADE"], "settings": f"path = {folders[0]}"}  # fmt: skip
        answer = c.post(f"/connectors/{made['id']}", data={**base, **change, "csrf": form_csrf(page)})
        assert answer.status_code == 400 and message(answer.text).startswith(said), answer.text[:3000]
        assert c.get(f"/api/v1/connectors/{made['id']}", headers=auth).json() == before
    # corrected, with the token of the page shown again: saved
    fixed = {**form, "f_value": [XSS, "@example"], "m_field": ["custom.trade"], "m_native": ["X-TRADE"],
             "settings": f"path = {folders[0]}", "csrf": form_csrf(page)}  # fmt: skip
    assert c.post(f"/connectors/{made['id']}", data=fixed).status_code == 303
    assert c.get(f"/api/v1/connectors/{made['id']}", headers=auth).json()["direction"] == "from-hub"


def test_no_form_post_answers_pydantics_words(alice: Person) -> None:
    """The forms that keep FastAPI's own checks (a button's hidden field) say it in words."""
    answer = alice.client.post("/conflicts/1/resolve", data={"csrf": alice.csrf()})
    assert answer.status_code == 422
    text = html.unescape(re.search(r'id="message">(.*?)</p>', answer.text, re.S).group(1))  # type: ignore[union-attr]
    assert text == "Side to keep: this is required"


def test_sign_in_with_a_too_long_email_is_the_form_again(alice: Person) -> None:
    from tests.web.conftest import client_for

    client = client_for(alice.client.app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token
    answer = client.post("/login", data={"csrf": token.group(1), "email": "a" * 400, "password": "x"})
    assert answer.status_code == 400 and "Email: at most 320 characters" in answer.text
    assert 'id="password"' in answer.text


def test_a_connector_whose_stored_filter_is_in_an_empty_text_saves_its_other_settings(
    alice: Person, folders: tuple[Path, Path], engine: Engine
) -> None:
    """QA: a filter an older version stored (``in [""]``) is shown as a row with no text;
    saved untouched with a new direction, the row was refused as ``in []`` and nothing
    could be saved from the page. Left as shown, it is the stored filter, kept."""
    from sqlalchemy import update

    from contacthub.store import tables as t
    from contacthub.store.repo import dumps

    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "team"}, headers=auth).json()
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "a", "type": "vcard-dir", "settings": {"path": str(folders[0])}},
        headers=auth,
    ).json()
    old = {"all": [{"field": "display_name", "op": "in", "value": [""]}]}
    with engine.begin() as conn:
        conn.execute(update(t.connectors).where(t.connectors.c.id == made["id"]).values(filter=dumps(old)))
    form = {"csrf": alice.csrf(), "settings": f"path = {folders[0]}", "direction": "from-hub",
            "operations": ["create", "update", "delete"], "on_delete": "delete", "filter_mode": "all",
            "g_mode": ["all"], "f_group": ["0"], "f_field": ["display_name"], "f_op": ["in"],
            "f_value": [""]}  # fmt: skip
    answer = c.post(f"/connectors/{made['id']}", data=form)
    assert answer.status_code in (200, 303), message(answer.text)
    after = c.get(f"/api/v1/connectors/{made['id']}", headers=auth).json()
    assert after["direction"] == "from-hub" and after["filter"] == old
    # a row typed anew is checked as any filter set
    form |= {"f_op": ["equals"], "f_value": [""]}
    refused = c.post(f"/connectors/{made['id']}", data=form)
    assert refused.status_code == 400


def test_a_form_error_is_a_sentence_before_nothing_was_saved(alice: Person) -> None:
    """QA: "…, username, verify, version Nothing was saved": a message ending in a list of
    settings ran into the sentence after it. Each ends with a full stop, once."""
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "team"}, headers=auth).json()
    answer = c.post(
        f"/hubs/{hub['id']}/connectors",
        data={"csrf": alice.csrf(), "type": "carddav", "name": "book",
              "settings": 'url = "https://dav.example.com/"\nzzz = 1', "direction": "two-way",
              "operations": ["create", "update", "delete"], "on_delete": "delete"},
    )  # fmt: skip
    assert answer.status_code == 400, answer.text[:500]
    said = message(answer.text)
    assert "unknown setting 'zzz'" in said and said.endswith(
        ", username, verify, version. Nothing was saved: the form below holds what you typed."
    ), said
    asked = c.post(  # a message ending with its own question mark gets no full stop after it
        f"/hubs/{hub['id']}/connectors",
        data={"csrf": alice.csrf(), "type": "carddav", "name": "book",
              "settings": 'url = "https://dav.example.com/"\nverfy = 1', "direction": "two-way",
              "operations": ["create", "update", "delete"], "on_delete": "delete"},
    )  # fmt: skip
    assert message(asked.text).endswith(
        "did you mean 'verify'? Nothing was saved: the form below holds what you typed."
    )
