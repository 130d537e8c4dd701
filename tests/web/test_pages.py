"""Dashboard pages without a browser: the filter builder, the mapping editor, the settings
lines, the preview's before -> after, and where the forms send people."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.datastructures import FormData

from contacthub.errors import UserError
from contacthub.web.forms import filter_rows, parse_filter, parse_mapping, parse_settings
from tests.web.conftest import Person, card


def test_filter_builder_rows_and_groups() -> None:
    form = FormData(
        [
            ("filter_mode", "any"),
            ("g_mode", "all"),
            ("g_mode", "any"),
            ("f_group", "0"), ("f_field", "email"), ("f_op", "ends_with"), ("f_value", "@acme.com"),
            ("f_group", "1"), ("f_field", "custom.trade"), ("f_op", "in"), ("f_value", "HVAC, Electrical"),
            ("f_group", "1"), ("f_field", "job_title"), ("f_op", "is_not_empty"), ("f_value", "ignored"),
            ("f_group", "0"), ("f_field", ""), ("f_op", "equals"), ("f_value", ""),
        ]
    )  # fmt: skip
    tree = parse_filter(form)
    assert tree == {
        "any": [
            {"field": "email", "op": "ends_with", "value": "@acme.com"},
            {"any": [
                {"field": "custom.trade", "op": "in", "value": ["HVAC", "Electrical"]},
                {"field": "job_title", "op": "is_not_empty"},
            ]},
        ]
    }  # fmt: skip
    top, modes, rows = filter_rows(tree)
    assert (top, modes) == ("any", ["all", "any"])
    assert [(r["group"], r["field"], r["text"]) for r in rows] == [
        (0, "email", "@acme.com"),
        (1, "custom.trade", "HVAC, Electrical"),
        (1, "job_title", ""),
    ]
    assert parse_filter(FormData([("f_field", ""), ("f_op", "equals")])) is None
    with pytest.raises(UserError, match="operator"):
        parse_filter(FormData([("f_field", "email"), ("f_op", "drop table")]))


def test_mapping_and_settings_lines() -> None:
    pairs = FormData(
        [("m_field", "custom.trade"), ("m_native", "X-TRADE"), ("m_field", ""), ("m_native", "")]
    )
    assert parse_mapping(pairs) == {"custom.trade": "X-TRADE"}
    with pytest.raises(UserError, match="both"):
        parse_mapping(FormData([("m_field", "custom.trade"), ("m_native", "")]))
    text = 'path = /srv/my contacts\ncreate_missing = true\n# a comment\nlimit = 3\nname = "quoted"'
    assert parse_settings(text) == {
        "path": "/srv/my contacts",
        "create_missing": True,
        "limit": 3,
        "name": "quoted",
    }
    with pytest.raises(UserError, match="line 1"):
        parse_settings("just words")


def test_connector_form_saves_filter_and_mapping(alice: Person, folders: tuple[Path, Path]) -> None:
    c = alice.client
    hub = c.post("/hubs", data={"name": "team", "csrf": alice.csrf()})
    hub_url = hub.headers["location"]
    made = c.post(
        f"{hub_url}/connectors",
        data={"csrf": alice.csrf(), "type": "vcard-dir", "name": "a", "settings": f"path = {folders[0]}",
              "direction": "to-hub", "operations": ["create", "update"], "on_delete": "ignore"},
    )  # fmt: skip
    assert made.status_code == 303
    connector_url = made.headers["location"]
    cid = connector_url.rsplit("/", 1)[1]
    saved = c.post(
        connector_url,
        data={"csrf": alice.csrf(), "settings": f"path = {folders[0]}", "direction": "two-way",
              "operations": ["create"], "on_delete": "delete", "filter_mode": "all", "g_mode": ["all"],
              "f_group": ["0"], "f_field": ["email"], "f_op": ["contains"], "f_value": ["p1"],
              "m_field": ["custom.trade", ""], "m_native": ["X-TRADE", ""]},
    )  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"].endswith("?saved=1")
    api = c.get(f"/api/v1/connectors/{cid}", headers=alice.auth).json()
    assert api["filter"] == {"all": [{"field": "email", "op": "contains", "value": "p1"}]}
    assert api["mapping"] == {"custom.trade": "X-TRADE"}
    assert (api["direction"], api["operations"]) == ("two-way", ["create"])
    page = c.get(saved.headers["location"]).text
    assert 'value="X-TRADE"' in page and 'value="p1"' in page and "Saved." in page
    # a bad row comes back as a message, and nothing is changed
    bad = c.post(
        connector_url,
        data={"csrf": alice.csrf(), "settings": f"path = {folders[0]}", "f_field": ["nosuchfield"],
              "f_op": ["equals"], "f_value": ["x"]},
    )  # fmt: skip
    assert bad.status_code == 400 and "unknown field" in bad.text
    assert c.get(f"/api/v1/connectors/{cid}", headers=alice.auth).json()["filter"] == api["filter"]


def test_preview_shows_before_and_after(alice: Person, folders: tuple[Path, Path]) -> None:
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "t"}, headers=auth).json()
    for name, folder in zip("ab", folders, strict=True):
        c.post(
            f"/api/v1/hubs/{hub['id']}/connectors",
            json={"name": name, "type": "vcard-dir", "settings": {"path": str(folder)}},
            headers=auth,
        )
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    (folders[0] / "p4.vcf").write_text(card("p4", "Person4 Family4", "p4@example.com", "TITLE:Chief\r\n"))
    preview = c.post(f"/hubs/{hub['id']}/preview", data={"csrf": alice.csrf()})
    page = c.get(preview.headers["location"]).text
    assert "Preview" in page and "nothing was written" in page
    assert "<strong>job_title</strong>: (empty) → Chief" in page
    assert "TITLE" not in next(p for p in folders[1].glob("*.vcf") if "Person4" in p.read_text()).read_text()


def test_a_superseded_hold_offers_no_approve_or_reject(alice: Person, folders: tuple[Path, Path]) -> None:
    """The hub's page listed every held run with Approve and Reject buttons, the run's page
    too, though a hold a later run superseded is refused. Only the current hold offers
    them; the old one's page says it is superseded, by which run, and why."""
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "t"}, headers=auth).json()
    for name, folder in zip("ab", folders, strict=True):
        c.post(
            f"/api/v1/hubs/{hub['id']}/connectors",
            json={"name": name, "type": "vcard-dir", "settings": {"path": str(folder)}},
            headers=auth,
        )
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    for p in list(folders[0].glob("*.vcf"))[:5]:
        p.unlink()
    old = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()["run"]
    new = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()["run"]

    page = c.get(f"/hubs/{hub['id']}").text
    held = page[page.index('id="held"') : page.index('id="conflicts"')]
    assert f'action="/runs/{new}/approve"' in held and f'action="/runs/{new}/reject"' in held
    assert f"/runs/{old}/" not in held
    history = page[page.index('id="runs"') :]
    assert f'held (superseded by <a href="/runs/{new}">#{new}</a>)' in history

    page = c.get(f"/runs/{old}").text
    assert 'id="approve"' not in page and 'id="reject"' not in page
    assert f"/runs/{old}/approve" not in page and f"/runs/{old}/reject" not in page
    assert f'held (superseded by <a href="/runs/{new}">#{new}</a>)' in page
    why = page[page.index('id="superseded"') :]
    assert f"run {old} is out of date: run {new} is the held run to approve or reject" in why
    page = c.get(f"/runs/{new}").text
    assert 'id="approve"' in page and 'id="reject"' in page and "superseded" not in page


def test_sign_in_goes_back_only_to_this_site(alice: Person) -> None:
    from tests.web.conftest import sign_in

    app = alice.client.app
    client = sign_in(app, "alice@example.com")  # next defaults to /
    import re

    for target, expected in (("/hubs/1", "/hubs/1"), ("//evil.example", "/"), ("/\\evil.example", "/"),
                             ("https://evil.example", "/")):  # fmt: skip
        page = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        answer = client.post(
            "/login",
            data={"email": "alice@example.com", "password": "correct horse battery", "csrf": token.group(1),
                  "next": target},
        )  # fmt: skip
        assert answer.headers["location"] == expected, target


def test_settings_shown_on_a_page_read_back_the_same() -> None:
    """A tab delimiter was shown as a bare tab, which reading the form stripped: saving the
    page unchanged sent an empty delimiter, refused; a leading space or "inf" were lost."""
    from contacthub.web.forms import parse_settings, settings_text

    settings = {"delimiter": "\t", "path": "/srv/a b", "anchor_prefix": " x", "p": "inf", "n": 3, "on": True}
    assert parse_settings(settings_text(settings)) == settings
    assert "path = /srv/a b" in settings_text(settings)  # a path stays as typed


def filtered_connector(alice: Person, folder: Path, written: dict) -> tuple[dict, str]:
    """A connector made through the API with the filter ``written``, and its page."""
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "t"}, headers=auth).json()
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "a", "type": "vcard-dir", "settings": {"path": str(folder)}, "filter": written},
        headers=auth,
    ).json()
    return made, c.get(f"/connectors/{made['id']}").text


@pytest.mark.parametrize(
    "written",
    [
        {"field": "email", "op": "ends_with", "value": "@example.com"},  # one bare condition
        {"any": [{"field": "organization", "op": "equals", "value": "Acme"},
                 {"all": [{"field": "email", "op": "contains", "value": "@"},
                          {"any": [{"field": "job_title", "op": "equals", "value": "CEO"},
                                   {"field": "job_title", "op": "equals", "value": "CTO"}]}]}]},
        {"all": [{"field": "family_name", "op": "in", "value": ["Smith, Jr", "Doe"]}]},
    ],
)  # fmt: skip
def test_saving_the_page_keeps_a_filter_the_rows_show_flattened(
    alice: Person, folders: tuple[Path, Path], written: dict
) -> None:
    """Save (for another setting) stored what the rows showed: a single condition became no
    filter at all, a deeper filter was flattened into another meaning, a list value was
    split at its comma. Rows left as shown keep the filter as written; edited, they win."""
    c, auth = alice.client, alice.auth
    made, page = filtered_connector(alice, folders[0], written)
    assert 'id="filter-flattened"' in page
    top, modes, rows = filter_rows(written)
    form = {"csrf": alice.csrf(), "settings": f"path = {folders[0]}", "direction": "to-hub",
            "operations": ["create", "update", "delete"], "on_delete": "delete", "filter_mode": top,
            "g_mode": modes, "f_group": [str(r["group"]) for r in rows],
            "f_field": [r["field"] for r in rows], "f_op": [r["op"] for r in rows],
            "f_value": [r["text"] for r in rows]}  # fmt: skip
    assert c.post(f"/connectors/{made['id']}", data=form).status_code == 303
    stored = c.get(f"/api/v1/connectors/{made['id']}", headers=auth).json()
    assert (stored["filter"], stored["direction"]) == (written, "to-hub")
    form["f_value"] = ["changed", *form["f_value"][1:]]
    c.post(f"/connectors/{made['id']}", data=form)
    assert c.get(f"/api/v1/connectors/{made['id']}", headers=auth).json()["filter"] != written


def test_a_name_with_a_control_character_is_refused_by_the_forms(
    alice: Person, folders: tuple[Path, Path]
) -> None:
    """The API refused them; the forms stored "bad\\nname", which printed broken lines."""
    c = alice.client
    bad = c.post("/hubs", data={"name": "bad\nname", "csrf": alice.csrf()})
    assert bad.status_code == 400 and "control character" in bad.text
    hub = c.post("/hubs", data={"name": "team", "csrf": alice.csrf()})
    made = c.post(
        f"{hub.headers['location']}/connectors",
        data={
            "csrf": alice.csrf(),
            "type": "vcard-dir",
            "name": "X\x07\nY",
            "settings": f"path = {folders[0]}",
        },
    )
    assert made.status_code == 400 and "control character" in made.text
    assert [h["name"] for h in c.get("/api/v1/hubs", headers=alice.auth).json()] == ["team"]


def test_a_filter_of_more_than_ten_groups_is_shown_whole(alice: Person, folders: tuple[Path, Path]) -> None:
    """The page offered ten groups: rows of groups 11 and 12 were posted as group 1, and a
    save for another setting stored another filter, without a warning."""
    written = {"any": [{"field": "organization", "op": "equals", "value": f"Org{i}"} for i in range(12)]}
    _, page = filtered_connector(alice, folders[0], written)
    assert '<option value="11" selected>group 12</option>' in page
    assert page.count('name="g_mode"') == 12 and 'id="filter-flattened"' not in page


# awkward values a setting can hold: lists of mixed-case strings (m365 user types, groups,
# Procore projects), unicode, quotes, backslashes, numbers, booleans, tables
AWKWARD = [
    ["Member", "Guest"],
    ["Sales Team", "ÉQUIPE Zürich", "日本"],
    'say "hi" \\ C:\\Users\\Ann',
    ['a"b', "c\\d", "", " spaced ", "tab\there", "line\u2028break", "del\x7f"],
    True,
    False,
    0,
    -12,
    2.5,
    1e100,
    [1, 2, 3],
    {"Key": "Value", "odd key": ["X", "y"], "n": 1},
    [{"Name": "A"}, {"Name": "B"}],
    "true",
    "1979-05-27",
    "[not a list]",
    "inf",
    "/srv/ÄÖ/path with spaces",
]


def test_every_connector_types_settings_read_back_the_same() -> None:
    """Rendering settings for the page and reading the form back is the identity, for every
    setting of every connector type: ``user_types = ["Member", "Guest"]`` was shown as
    ``['member', 'guest']`` and a save of the page unchanged stored it lowercased."""
    from contacthub.connectors.registry import TYPES, connector_class
    from contacthub.web.forms import settings_text

    for type_name in TYPES:
        keys = sorted(connector_class(type_name).known_settings)
        assert keys, type_name
        for shift in range(len(AWKWARD)):
            settings = {k: AWKWARD[(i + shift) % len(AWKWARD)] for i, k in enumerate(keys)}
            assert parse_settings(settings_text(settings)) == settings, (type_name, settings_text(settings))
    m365 = {"tenant_id": "T", "user_types": ["Member", "Guest"], "member_of": ["Sales-EU", "Ops"],
            "include_disabled": False, "write_budget": 500}  # fmt: skip
    text = settings_text(m365)
    assert 'user_types = ["Member", "Guest"]' in text and "include_disabled = false" in text
    assert parse_settings(text) == m365
    # a value that has no TOML spelling is left out: a save keeps it as stored
    assert settings_text({"a": None, "b": [1, None], "c": 1}) == "c = 1"


def test_a_text_setting_typed_bare_in_the_settings_box_stays_text() -> None:
    """Settings of the wrong JSON type are refused (``config._check_types``): a client id
    of digits typed without quotes is taken as the text typed, not refused as a number."""
    from contacthub.web.forms import text_settings

    typed = 'client_id = 12345\nhub_id_field = 1e5\nredirect_uri = "7"\npage_size = 50\n'
    typed += "create_organizations = true"
    assert parse_settings(typed, text_settings("pipedrive")) == {
        "client_id": "12345", "hub_id_field": "1e5", "redirect_uri": "7", "page_size": 50,
        "create_organizations": True,
    }  # fmt: skip
    assert parse_settings(typed)["client_id"] == 12345 and text_settings("no-such-type") == frozenset()


def test_saving_a_connector_page_unchanged_keeps_its_list_settings(alice: Person) -> None:
    """Through the form handler: the settings box as the page shows it, sent back."""
    import html
    import re

    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "cloud"}, headers=auth).json()
    settings = {"tenant_id": "contoso", "client_id": "app", "user_types": ["Member", "Guest"],
                "member_of": ["Sales-EU", "Ünits \"A\""], "include_disabled": True}  # fmt: skip
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "gal", "type": "m365-gal", "direction": "to-hub", "settings": settings},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    page = c.get(f"/connectors/{cid}").text
    box = re.search(r'<textarea id="settings" name="settings">(.*?)</textarea>', page, re.S)
    assert box
    assert 'user_types = ["Member", "Guest"]' in html.unescape(box.group(1))
    saved = c.post(
        f"/connectors/{cid}",
        data={"csrf": alice.csrf(), "settings": html.unescape(box.group(1)), "direction": "to-hub",
              "operations": ["create", "update", "delete"], "on_delete": "delete"},
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    stored = c.get(f"/api/v1/connectors/{cid}", headers=auth).json()["settings"]
    assert {k: stored[k] for k in settings} == settings
