"""Names and owners where they come in from several doors: a hub file applied over a hub a
dashboard user made, names and emails in other Unicode forms (NFC and NFD) or holding
invisible characters, and the hub file's names held to the dashboard's rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from contacthub import config
from contacthub.cli import app as cli
from contacthub.errors import ConfigError, UserError
from contacthub.service.editing import create_hub
from contacthub.store import tables as t
from contacthub.store.repo import now
from contacthub.web import accounts
from tests.web.conftest import PASSWORD, Person, sign_in

runner = CliRunner()


def test_apply_refuses_a_hub_a_user_made(
    sqlite_url: str, engine: Engine, app: FastAPI, alice: Person, bob: Person, tmp_path: Path
) -> None:
    made = bob.client.post("/api/v1/hubs", json={"name": "sales"}, headers=bob.auth)
    assert made.status_code == 201, made.text
    mine = tmp_path / "mine"
    mine.mkdir()
    bobs = alice.client.post(  # (an admin gives a folder's path)
        f"/api/v1/hubs/{made.json()['id']}/connectors",
        json={"name": "phones", "type": "vcard-dir", "settings": {"path": str(mine)}},
        headers=alice.auth,
    )
    assert bobs.status_code == 201, bobs.text
    private = tmp_path / "private"
    private.mkdir()
    hub_file = tmp_path / "admin.toml"
    hub_file.write_text(
        '[hubs.other]\n[hubs.sales]\ninterval = "off"\n'
        f'[[hubs.sales.connectors]]\nname = "board"\ntype = "vcard-dir"\npath = "{private}"\n',
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["--database", sqlite_url, "apply", str(hub_file)])
    assert result.exit_code == 2, result.output
    assert "hub 'sales' was made by the user bob@example.com" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    with engine.connect() as conn:
        hubs = conn.execute(select(t.hubs.c.name)).scalars().all()
        connectors = conn.execute(select(t.connectors.c.name, t.connectors.c.settings)).all()
    assert hubs == ["sales"], "nothing of the file was applied, not even its other hub"
    assert [c.name for c in connectors] == ["phones"] and str(private) not in connectors[0].settings


NFC, NFD = "Jos\u00e9", "Jose\u0301"  # one name, composed and decomposed


def test_an_email_is_one_user_in_either_unicode_form(sqlite_url: str, engine: Engine, app: FastAPI) -> None:
    """``user add`` of an NFD and an NFC address made two users that print alike, and the
    NFD admin could not sign in (browsers send NFC)."""
    added = runner.invoke(
        cli,
        ["--database", sqlite_url, "user", "add", f"{NFD}@example.com", "--admin", "--password-stdin"],
        input="nfd-password-1\n",
    )
    assert added.exit_code == 0, added.output
    again = runner.invoke(
        cli,
        ["--database", sqlite_url, "user", "add", f"{NFC}@example.com", "--password-stdin"],
        input="nfc-password-1\n",
    )
    assert again.exit_code == 2 and "exists already" in again.output
    with engine.connect() as conn:
        assert conn.execute(select(t.users.c.email)).scalars().all() == [f"{NFC.lower()}@example.com"]
    assert sign_in(app, f"{NFC}@example.com", "nfd-password-1") is not None


def test_an_email_stored_in_nfd_before_still_signs_in(engine: Engine, app: FastAPI) -> None:
    with engine.begin() as conn:  # as an older contacthub stored it
        conn.execute(
            t.users.insert().values(
                email=f"{NFD.lower()}@example.com",
                password_hash=accounts._hasher.hash(PASSWORD),
                is_admin=True,
                created_at=now(),
            )
        )
    assert accounts.authenticate(engine, f"{NFC}@example.com", PASSWORD) is not None
    assert sign_in(app, f"{NFC}@example.com") is not None
    assert accounts.find_user(engine, f"{NFC}@example.com") is not None


@pytest.mark.parametrize(
    "hidden",
    [
        "\u202e", "\u2066", "\u200b", "\u200d", "\ufeff",
        # LRM, RLM, Arabic letter mark, word joiner, soft hyphen, Mongolian vowel separator,
        # combining grapheme joiner, a tag character, a Hangul filler: missed by a list
        "\u200e", "\u200f", "\u061c", "\u2060", "\u00ad", "\u180e", "\u034f", "\U000e0041", "\u3164",
    ],
)  # fmt: skip
def test_bidi_and_zero_width_characters_are_refused(engine: Engine, tmp_path: Path, hidden: str) -> None:
    """``team`` and ``team`` with a word joiner (or a soft hyphen, an LRM...) were two hubs
    that print alike: every character that is not seen is refused, in emails too."""
    with pytest.raises(UserError, match="invisible character"):
        accounts.add_user(engine, f"ann{hidden}@example.com", PASSWORD)
    with pytest.raises(UserError, match="invisible character"):
        create_hub(engine, f"sales{hidden}")
    for text in (
        f'[hubs."sales{hidden}"]\n',
        f'[[hubs.sales.connectors]]\nname = "a{hidden}"\ntype = "csv"\n',
    ):
        path = tmp_path / "h.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match="invisible character"):
            config.load(path)


@pytest.mark.parametrize(
    "name",
    [
        "فريق المبيعات",  # Arabic
        "צוות מכירות",  # Hebrew
        "बिक्री टीम",  # Hindi: virama and vowel signs (combining marks)
        "ทีมขาย",  # Thai: above and below vowels
        "销售团队",  # Chinese
        "営業チーム",  # Japanese
        "영업팀",  # Korean
        "Ελληνικά",
        "Ærø Śląsk",
        "sales 🚀",
        "❤️ team",  # a variation selector (Mn) stays
    ],
)
def test_names_in_every_script_are_taken(engine: Engine, tmp_path: Path, name: str) -> None:
    """Refusing every format character takes nothing a name is written with."""
    create_hub(engine, name)
    accounts.add_user(engine, f"{name.replace(' ', '')}@example.com", PASSWORD)
    path = tmp_path / "h.toml"
    path.write_text(f'[hubs."{name}"]\n', encoding="utf-8")
    assert list(config.load(path).hubs) == [name]


def test_hub_and_connector_names_are_one_name_in_either_form(
    sqlite_url: str, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "h.toml"
    path.write_text(f'[hubs."{NFC}"]\n[hubs."{NFD}"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="are one name"):
        config.load(path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    path.write_text(
        f'[[hubs.team.connectors]]\nname = "{NFC}"\ntype = "vcard-dir"\npath = "{tmp_path / "a"}"\n'
        f'[[hubs.team.connectors]]\nname = "{NFD}"\ntype = "vcard-dir"\npath = "{tmp_path / "b"}"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="names the connector"):
        config.load(path)
    create_hub(engine, NFD)  # the API and the dashboard: stored NFC
    with pytest.raises(UserError, match="not available"):
        create_hub(engine, NFC)
    with engine.connect() as conn:
        assert conn.execute(select(t.hubs.c.name)).scalars().all() == [NFC]


def test_a_name_stored_in_nfd_before_is_found_and_kept(
    sqlite_url: str, engine: Engine, tmp_path: Path
) -> None:
    """A hub and connector an older contacthub stored in NFD are found by either spelling,
    and ``apply`` of the unchanged file keeps them as stored: renamed to NFC, every webhook
    receiver's URL and secret (derived from the names) changed, and the vendors' registered
    webhooks got 404 (QA)."""
    from contacthub.store import secrets
    from contacthub.store.repo import Store
    from contacthub.webhooks import tokens

    (tmp_path / "a").mkdir()
    with engine.begin() as conn:  # as an older contacthub stored them
        hub_id = conn.execute(
            t.hubs.insert().values(
                name=NFD,
                conflict="newest",
                delete_threshold="10%",
                settings='{"phone_region":"US"}',
                created_at=now(),
                updated_at=now(),
            )
        ).inserted_primary_key[0]
    path = tmp_path / "h.toml"
    text = f'[hubs."{NFD}"]\n[[hubs."{NFD}".connectors]]\nname = "{NFD}"\ntype = "vcard-dir"\n'
    text += f'path = "{tmp_path / "a"}"\n'
    text += f'[[hubs."{NFD}".connectors]]\nname = "cr{NFD}"\ntype = "pipedrive"\napi_token = "abc123"\n'
    path.write_text(text, encoding="utf-8")
    with engine.begin() as conn:  # connectors stored in NFD too: applied before as typed
        spec = config.load(path).hubs[NFC].connectors
        common = {
            "hub_id": hub_id, "direction": "two-way", "operations": '["create", "update", "delete"]',
            "on_delete": "delete", "filter": "null", "mapping": "{}", "created_at": now(),
            "updated_at": now(),
        }  # fmt: skip
        conn.execute(
            t.connectors.insert().values(
                name=NFD, position=0, type="vcard-dir", settings=f'{{"path": "{tmp_path / "a"}"}}', **common
            )
        )
        conn.execute(
            t.connectors.insert().values(
                name=f"cr{NFD}", position=1, type="pipedrive", settings="{}",
                secrets=secrets.encrypt({"api_token": "abc123"}), **common,
            )
        )  # fmt: skip
    assert [c.name for c in spec] == [NFC, f"cr{NFC}"]
    hooks = ["--database", sqlite_url, "webhooks", NFD, "--base-url", "https://hub.example.com", "--reveal"]
    given = runner.invoke(cli, hooks)  # what the vendor was given
    assert given.exit_code == 0 and tokens.url_token(NFD, f"cr{NFD}") in given.output, given.output
    applied = runner.invoke(cli, ["--database", sqlite_url, "apply", str(path)])
    assert applied.exit_code == 0, applied.output
    assert applied.output.strip() == "nothing changed"
    with engine.connect() as conn:
        assert conn.execute(select(t.hubs.c.id, t.hubs.c.name)).all() == [(hub_id, NFD)]
        stored = conn.execute(select(t.connectors.c.name).order_by(t.connectors.c.position)).scalars()
        assert stored.all() == [NFD, f"cr{NFD}"]
    for spelling in (NFC, NFD):  # found by either spelling, the receivers unchanged
        shown = runner.invoke(cli, [*hooks[:3], spelling, *hooks[4:]])
        assert shown.exit_code == 0 and shown.output == given.output, shown.output
        with engine.connect() as conn:  # as sync, approve, connect and the API find it
            assert Store(conn).hub(spelling).id == hub_id
    target = tokens.Directory(engine).find(tokens.url_token(NFD, f"cr{NFD}"))
    assert target == tokens.Target(NFD, f"cr{NFD}", "pipedrive")


PADDED = "  " + "p" * 200 + "  "  # 200 characters once the blanks go
DECOMPOSED = "u\u0308" * 150  # "ü" typed in NFD: 300 code points, 150 characters in NFC


@pytest.mark.parametrize("door", ["api", "dashboard", "apply"])
def test_a_name_is_counted_as_stored_at_every_door(
    sqlite_url: str, engine: Engine, alice: Person, tmp_path: Path, door: str
) -> None:
    """The 200 characters of a name are counted after surrounding blanks go and in NFC, as
    ``apply`` counts: the API and the dashboard counted what was typed, and refused a name
    padded with blanks or typed decomposed that ``apply`` created. 201 is too long at each."""
    c = alice.client
    hub_id = None
    for name, fine in ((PADDED, True), (DECOMPOSED, True), ("q" * 201, False), (" " + "r" * 201, False)):
        if door == "api":
            answer = c.post("/api/v1/hubs", json={"name": name}, headers=alice.auth)
            assert answer.status_code == (201 if fine else 400), answer.text
            if fine:
                hub_id = answer.json()["id"]
        elif door == "dashboard":
            form = {"csrf": alice.csrf(), "name": name, "conflict": "newest", "delete_threshold": "10%"}
            answer = c.post("/hubs", data=form, follow_redirects=False)
            assert answer.status_code == (303 if fine else 400), answer.text[:300]
            if not fine:
                assert "at most 200 characters; this one has 201" in answer.text
        else:
            path = tmp_path / "h.toml"
            path.write_text(f'[hubs."{name}"]\n', encoding="utf-8")
            result = runner.invoke(cli, ["--database", sqlite_url, "apply", str(path)])
            assert result.exit_code == (0 if fine else 2), result.output
    with engine.connect() as conn:
        stored = set(conn.execute(select(t.hubs.c.name)).scalars())
    assert {"p" * 200, "\u00fc" * 150} <= stored and not any(len(n) > 200 for n in stored)
    if hub_id is not None:  # a connector's name is counted in NFC too (the API keeps its blanks)
        made = c.post(
            f"/api/v1/hubs/{hub_id}/connectors",
            json={
                "name": DECOMPOSED,
                "type": "csv",
                "settings": {"path": str(tmp_path / "x.csv"), "create": True},
            },
            headers=alice.auth,
        )
        assert made.status_code == 201, made.text
        long = c.post(
            f"/api/v1/hubs/{hub_id}/connectors",
            json={
                "name": "c" * 201,
                "type": "csv",
                "settings": {"path": str(tmp_path / "y.csv"), "create": True},
            },
            headers=alice.auth,
        )
        assert long.status_code == 400 and "at most 200 characters; this one has 201" in long.text


@pytest.mark.parametrize(
    ("mapping", "says"),
    [
        ({"custom.a\nb": "Col\r\nInjected,Row"},
         "'custom.a\\nb' = 'Col\\r\\nInjected,Row': its field name holds a control character"),
        ({"custom.trade": "Col\r\nInjected,Row"},
         "its column or property name holds a control character"),
        ({"custom.a\u202eb": "X-TRADE"}, "its field name holds an invisible character (U+202E"),
        ({"custom.trade": "X-\u200bTRADE"},
         "its column or property name holds an invisible character (U+200B"),
    ],
)  # fmt: skip
def test_a_mapping_with_control_or_invisible_characters_is_refused_by_the_api(
    alice: Person, tmp_path: Path, mapping: dict[str, str], says: str
) -> None:
    """``{"custom.a\\nb": "Col\\r\\nInjected,Row"}`` and ``custom.a\\u202eb`` were taken (201):
    a line break in a CSV header, a name reading as another. Refused (400) as in a hub file,
    when a connector is added and when its mapping changes."""
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "team"}, headers=auth).json()
    folder = tmp_path / "cards"
    folder.mkdir()
    connector = {"name": "cards", "type": "vcard-dir", "settings": {"path": str(folder)}}
    added = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors", json={**connector, "mapping": mapping}, headers=auth
    )
    assert added.status_code == 400 and says in added.json()["error"], added.text
    made = c.post(f"/api/v1/hubs/{hub['id']}/connectors", json=connector, headers=auth)
    assert made.status_code == 201, made.text
    url = f"/api/v1/connectors/{made.json()['id']}"
    changed = c.patch(url, json={"mapping": mapping}, headers=auth)
    assert changed.status_code == 400 and says in changed.json()["error"], changed.text
    assert c.get(url, headers=auth).json()["mapping"] == {}
