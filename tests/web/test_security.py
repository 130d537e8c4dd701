"""Security of the web app: authentication on every API route, ownership (404 for other
people's objects), CSRF on every change, markup shown as text, secrets never sent back,
cookie flags and sign-in throttling."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from contacthub.connectors.registry import TYPES
from contacthub.web import accounts, create_app
from tests.web.conftest import PASSWORD, Person, card, client_for, make_person, sign_in

SECRET = "s3cr3t-TOKEN-value-9f8e7d"


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document (which is the whole API under /api/v1)."""
    return [
        (method.upper(), path) for path, operations in app.openapi()["paths"].items() for method in operations
    ]


def fill(path: str, ids: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 1)), path)


def test_every_api_route_needs_a_session_or_token(app: FastAPI, alice: Person) -> None:
    anonymous = client_for(app)
    routes = api_routes(app)
    assert len(routes) >= 20
    for method, path in routes:
        answer = anonymous.request(method, fill(path, {}), json={})
        assert answer.status_code == 401, (method, path, answer.text)
        assert "token" in answer.json()["error"]
        wrong = anonymous.request(
            method, fill(path, {}), json={}, headers={"Authorization": "Bearer chub_nope"}
        )
        assert wrong.status_code == 401, (method, path)
    # and the pages send a stranger to the sign-in page
    for page in ("/", "/hubs/1", "/runs/1", "/contacts/x", "/connectors/1"):
        answer = anonymous.get(page)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


@pytest.fixture
def bobs_things(app: FastAPI, engine: Engine, bob: Person, tmp_path: Path) -> dict[str, Any]:
    """Bob's hub with a connector, runs, a held run, an open conflict and contacts (its
    folders set up by an admin: only an admin may give paths)."""
    c, auth = bob.client, bob.auth
    ops = make_person(app, engine, "ops@example.com", admin=True)
    a, b = tmp_path / "bob-a", tmp_path / "bob-b"
    a.mkdir()
    b.mkdir()
    for i in range(10):
        (a / f"p{i}.vcf").write_text(card(f"p{i}", f"Bob{i} Friend{i}", f"b{i}@example.com"))
    hub = c.post("/api/v1/hubs", json={"name": "bobs", "conflict": "manual"}, headers=auth).json()
    ids = []
    for name, path in (("a", a), ("b", b)):
        made = ops.client.post(
            f"/api/v1/hubs/{hub['id']}/connectors",
            json={"name": name, "type": "vcard-dir", "settings": {"path": str(path)}},
            headers=ops.auth,
        )
        ids.append(made.json()["id"])
    run = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()
    (a / "p1.vcf").write_text(card("p1", "Bob1 Friend1", "b1@example.com", "TITLE:A\r\n"))
    [bfile] = [p for p in b.glob("*.vcf") if "Bob1" in p.read_text()]
    bfile.write_text(bfile.read_text().replace("END:VCARD", "TITLE:B\r\nEND:VCARD"))
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    conflict = c.get(f"/api/v1/hubs/{hub['id']}/conflicts", headers=auth).json()[0]  # (one per side)
    for p in sorted(a.glob("*.vcf"))[5:]:
        p.unlink()
    held = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()
    assert held["status"] == "held"
    contact = c.get(f"/api/v1/hubs/{hub['id']}/contacts", headers=auth).json()[0]
    return {
        "hub_id": hub["id"],
        "connector_id": ids[0],
        "run_id": run["run"],
        "held_id": held["run"],
        "conflict_id": conflict["id"],
        "contact_id": contact["id"],
    }


VALID_BODIES: dict[str, Any] = {  # valid requests: a refusal must come from ownership, not shape
    "/api/v1/conflicts/{conflict_id}/resolve": {"take": "a"},
    "/api/v1/hubs/{hub_id}/connectors": {"name": "n", "type": "vcard-dir", "settings": {"path": "/tmp"}},
    "/api/v1/connectors/{connector_id}": {"direction": "to-hub"},
    "/api/v1/hubs/{hub_id}": {"conflict": "newest"},
}


def test_nobody_reaches_another_users_objects(
    app: FastAPI, engine: Engine, bob: Person, bobs_things: dict[str, Any]
) -> None:
    eve = make_person(app, engine, "eve@example.com")  # a user who is not an admin
    for method, path in api_routes(app):
        if "{" not in path:
            continue
        url = fill(path, bobs_things)
        body = VALID_BODIES.get(path, {}) if method in ("POST", "PATCH") else None
        for how in ("token", "session"):
            headers = eve.auth if how == "token" else {"X-CSRF-Token": eve.csrf()}
            answer = eve.client.request(method, url, json=body, headers=headers)
            assert answer.status_code == 404, (how, method, url, answer.text)
            assert "Bob" not in answer.text and "bobs" not in answer.text
    assert eve.client.get("/api/v1/hubs", headers=eve.auth).json() == []
    pages = [
        "/hubs/{hub_id}",
        "/connectors/{connector_id}",
        "/runs/{run_id}",
        "/contacts/{contact_id}",
        "/hubs/{hub_id}/contacts",
    ]
    for page in pages:
        assert eve.client.get(fill(page, bobs_things)).status_code == 404
    for action in (
        "/runs/{held_id}/approve",
        "/runs/{run_id}/undo",
        "/conflicts/{conflict_id}/resolve",
        "/hubs/{hub_id}/sync",
        "/connectors/{connector_id}/delete",
    ):
        answer = eve.client.post(fill(action, bobs_things), data={"csrf": eve.csrf(), "take": "a"})
        assert answer.status_code == 404, action
    # nothing of bob's changed: his held run is still held, his conflict still open
    run = bob.client.get(f"/api/v1/runs/{bobs_things['held_id']}", headers=bob.auth).json()
    assert run["status"] == "held"
    assert (
        len(bob.client.get(f"/api/v1/hubs/{bobs_things['hub_id']}/conflicts", headers=bob.auth).json()) == 2
    )  # (one per side)
    # an admin sees everyone's hubs
    admin = make_person(app, engine, "root@example.com", admin=True)
    assert [h["name"] for h in admin.client.get("/api/v1/hubs", headers=admin.auth).json()] == ["bobs"]
    assert admin.client.get(fill("/api/v1/runs/{run_id}", bobs_things), headers=admin.auth).status_code == 200


def test_a_hub_name_another_user_has_is_refused_without_telling_of_their_hub(
    app: FastAPI, engine: Engine, bob: Person, bobs_things: dict[str, Any]
) -> None:
    """Hub names are unique across users (``hubs.name``): taking one another user has is
    refused with a neutral "not available" (it said "a hub named 'bobs' exists already"),
    and that name opens nothing of theirs anywhere, in the API or the dashboard."""
    eve = make_person(app, engine, "eve@example.com")
    answer = eve.client.post("/api/v1/hubs", json={"name": "bobs"}, headers=eve.auth)
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]
    assert "not available" in message and "choose another" in message
    assert "exists" not in message and "Bob" not in answer.text
    page = eve.client.post("/hubs", data={"csrf": eve.csrf(), "name": " bobs "})
    assert page.status_code == 400 and "not available" in page.text and "exists" not in page.text
    assert eve.client.get("/api/v1/hubs", headers=eve.auth).json() == []
    # bob's own duplicate is named as his
    own = bob.client.post("/api/v1/hubs", json={"name": "bobs"}, headers=bob.auth)
    assert own.status_code == 400 and "you have a hub named 'bobs'" in own.json()["error"]
    # the name in place of an id reaches nothing
    for method, path in api_routes(app):
        if "{hub_id}" not in path:
            continue
        url = path.replace("{hub_id}", "bobs")
        body = VALID_BODIES.get(path, {}) if method in ("POST", "PATCH") else None
        got = eve.client.request(method, url, json=body, headers=eve.auth)
        assert got.status_code in (404, 422), (method, url, got.text)
        assert "Bob0" not in got.text and "b0@example.com" not in got.text
    for page_path in ("/hubs/bobs", "/hubs/bobs/contacts"):
        assert eve.client.get(page_path).status_code in (404, 422)
    for action in ("/hubs/bobs/sync", "/hubs/bobs/preview", "/hubs/bobs/settings"):
        got = eve.client.post(
            action, data={"csrf": eve.csrf(), "conflict": "newest", "delete_threshold": "1"}
        )
        assert got.status_code in (404, 422), action
    runs = bob.client.get(f"/api/v1/hubs/{bobs_things['hub_id']}/runs", headers=bob.auth).json()
    assert len(runs) == 3  # eve started none
    hub = bob.client.get(f"/api/v1/hubs/{bobs_things['hub_id']}", headers=bob.auth).json()
    assert hub["conflict"] == "manual"


def test_changes_without_the_csrf_token_are_refused(app: FastAPI, alice: Person) -> None:
    c = alice.client
    assert c.post("/hubs", data={"name": "x"}).status_code == 403
    assert c.post("/hubs", data={"name": "x", "csrf": "forged"}).status_code == 403
    assert c.post("/api/v1/hubs", json={"name": "x"}).status_code == 403  # cookie without the header
    assert c.post("/logout").status_code == 403
    assert c.get("/api/v1/hubs", headers=alice.auth).json() == []
    good = c.post("/hubs", data={"name": "x", "csrf": alice.csrf()})
    assert good.status_code == 303
    assert (
        c.post("/api/v1/hubs", json={"name": "y"}, headers={"X-CSRF-Token": alice.csrf()}).status_code == 201
    )
    # sign-in and first-run forms carry a token too
    stranger = client_for(app)
    stranger.get("/login")
    refused = stranger.post("/login", data={"email": "alice@example.com", "password": PASSWORD})
    assert refused.status_code == 403 and "contacthub_session" not in refused.headers.get("set-cookie", "")


def test_markup_in_a_name_is_shown_as_text(alice: Person, folders: tuple[Path, Path]) -> None:
    c, auth = alice.client, alice.auth
    (folders[0] / "evil.vcf").write_text(
        card("evil", "<script>alert(1)</script> <b>x</b>", "evil@example.com")
    )
    hub = c.post("/api/v1/hubs", json={"name": "<img src=x onerror=alert(2)>"}, headers=auth).json()
    c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "<i>a</i>", "type": "vcard-dir", "settings": {"path": str(folders[0])}},
        headers=auth,
    )
    run = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()
    [evil] = c.get(f"/api/v1/hubs/{hub['id']}/contacts", params={"q": "script"}, headers=auth).json()
    for page in (
        "/",
        f"/hubs/{hub['id']}",
        f"/hubs/{hub['id']}/contacts?q=script",
        f"/contacts/{evil['id']}",
        f"/runs/{run['run']}",
    ):
        html = c.get(page).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<i>a</i>" not in html, page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "&lt;img src=x" in html, page


def test_no_secret_in_any_response(
    app: FastAPI, alice: Person, folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(TYPES, "secret-vcard", "tests.web.secret_connector:SecretVCardConnector")
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "s"}, headers=auth).json()
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={
            "name": "x",
            "type": "secret-vcard",
            "settings": {"path": str(folders[0]), "api_token": SECRET},
        },
        headers=auth,
    )
    assert made.status_code == 201
    body = made.json()
    assert body["secrets"] == ["api_token"] and "api_token" not in body["settings"]
    cid = body["id"]
    responses = [made]
    responses.append(c.patch(f"/api/v1/connectors/{cid}", json={"direction": "to-hub"}, headers=auth))
    run = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    responses.append(run)
    for url in (
        f"/api/v1/hubs/{hub['id']}",
        "/api/v1/hubs",
        f"/api/v1/connectors/{cid}",
        f"/api/v1/hubs/{hub['id']}/connectors",
        f"/api/v1/runs/{run.json()['run']}",
    ):
        responses.append(c.get(url, headers=auth))
    for page in ("/", f"/hubs/{hub['id']}", f"/connectors/{cid}"):
        responses.append(c.get(page))
    # a request refused for its shape does not echo what was sent (a password, a token)
    responses.append(
        c.post(
            f"/api/v1/hubs/{hub['id']}/connectors",
            json={"name": 5, "settings": SECRET, "x": PASSWORD},
            headers=auth,
        )
    )
    responses.append(c.post("/setup", data={"email": "e@example.com", "password": PASSWORD}))
    for answer in responses:
        assert SECRET not in answer.text and PASSWORD not in answer.text, answer.request.url
        assert alice.token not in answer.text
    # the secret is kept, encrypted, and still used: the stored value survives an edit
    with app.state.web.engine.connect() as conn:
        from sqlalchemy import text

        stored = conn.execute(text("SELECT secrets FROM connectors WHERE id = :i"), {"i": cid}).scalar_one()
        hashes = conn.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
        pw = conn.execute(text("SELECT password_hash FROM users")).scalars().all()
    assert SECRET not in stored and alice.token not in hashes and all(h.startswith("$argon2id$") for h in pw)
    from contacthub.store import secrets

    assert secrets.decrypt(stored, "x")["api_token"] == SECRET


def test_session_cookie_flags_and_sign_out(app: FastAPI, engine: Engine) -> None:
    accounts.add_user(engine, "carol@example.com", PASSWORD)
    client = client_for(app)
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    answer = client.post(
        "/login", data={"email": "carol@example.com", "password": PASSWORD, "csrf": token.group(1)}
    )
    cookie = answer.headers["set-cookie"]
    assert "contacthub_session=" in cookie
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    csrf = re.search(r'<meta name="csrf" content="([^"]+)"', client.get("/").text)
    assert csrf
    assert client.post("/logout", data={"csrf": csrf.group(1)}).status_code == 303
    client.cookies.set("contacthub_session", cookie.split(";")[0].split("=", 1)[1])
    assert client.get("/").status_code == 303  # the session is gone on the server too


def test_no_page_of_a_signed_in_user_is_kept_by_the_browser(
    app: FastAPI, alice: Person, folders: tuple[Path, Path]
) -> None:
    """Back after "Sign out" showed the dashboard page again (contacts of a session that had
    ended): only /api/ answers said ``no-store``. Now every answer but the static files does."""
    from starlette.routing import Route

    from contacthub.web import (
        pages_connectors,
        pages_contacts,
        pages_hubs,
        pages_login,
        pages_runs,
        pages_signin,
    )

    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "t"}, headers=auth).json()
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "a", "type": "vcard-dir", "settings": {"path": str(folders[0])}},
        headers=auth,
    ).json()
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    ids = {"hub_id": hub["id"], "connector_id": made["id"]}
    groups = (pages_connectors, pages_contacts, pages_hubs, pages_login, pages_runs, pages_signin)
    pages = [
        fill(route.path, ids)
        for group in groups
        for route in group.router.routes
        if isinstance(route, Route) and "GET" in (route.methods or ())
    ]
    contact = re.search(r'href="(/contacts/[^"]+)"', c.get(f"/hubs/{hub['id']}/contacts").text)
    assert contact and "/login" in pages and f"/hubs/{hub['id']}" in pages
    shown = 0
    for path in [*pages, contact.group(1)]:
        answer = c.get(path)
        shown += answer.status_code == 200
        assert answer.headers.get("cache-control") == "no-store", (path, answer.status_code)
    assert shown >= 8  # the pages were shown, not only refused
    signed_out = client_for(app).get("/login")
    assert signed_out.status_code == 200 and signed_out.headers["cache-control"] == "no-store"
    assert "no-store" not in c.get("/static/favicon.svg").headers.get("cache-control", "")


def test_metrics_answer_only_an_admin(engine: Engine, alice: Person, bob: Person) -> None:
    """/metrics named every user's hubs and connectors to anyone who asked; each user sees
    only their own hubs, so the metrics are for an admin (token or session) only."""
    from contacthub.scheduler.metrics import metrics_router

    app = create_app(engine, extra_routers=[metrics_router(engine)])
    anyone = client_for(app)
    refused = anyone.get("/metrics")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert "contacthub_" not in refused.text
    assert anyone.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert anyone.get("/metrics", headers=bob.auth).status_code == 401  # not an admin
    assert sign_in(app, "bob@example.com").get("/metrics").status_code == 401
    for answer in (
        anyone.get("/metrics", headers=alice.auth),
        sign_in(app, "alice@example.com").get("/metrics"),
    ):
        assert answer.status_code == 200 and "contacthub_runs_total" in answer.text
        assert answer.headers["cache-control"] == "no-store"


def test_sign_in_is_throttled(app: FastAPI, engine: Engine) -> None:
    accounts.add_user(engine, "dave@example.com", PASSWORD)
    client = client_for(app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token
    for _ in range(5):
        wrong = client.post(
            "/login", data={"email": "dave@example.com", "password": "guess123", "csrf": token.group(1)}
        )
        assert wrong.status_code == 401 and "wrong email or password" in wrong.text
    blocked = client.post(
        "/login", data={"email": "dave@example.com", "password": PASSWORD, "csrf": token.group(1)}
    )
    assert (
        blocked.status_code == 429 and "too many" in blocked.text and int(blocked.headers["retry-after"]) > 0
    )
    # the address is throttled too: another account from it waits as well
    accounts.add_user(engine, "erin@example.com", PASSWORD)
    erin = client.post(
        "/login", data={"email": "erin@example.com", "password": PASSWORD, "csrf": token.group(1)}
    )
    assert erin.status_code == 429
    # the count is kept in memory by the serving process: a restarted server lets dave in
    assert sign_in(create_app(engine), "dave@example.com").get("/").status_code == 200


def test_first_run_page_creates_the_admin(app: FastAPI, engine: Engine) -> None:
    client = client_for(app)
    assert client.get("/").headers["location"] == "/setup"
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/setup").text)
    assert token
    done = client.post(
        "/setup", data={"email": "First@Example.com", "password": PASSWORD, "csrf": token.group(1)}
    )
    assert done.status_code == 303
    assert client.get("/").status_code == 200
    [user] = accounts.users(engine)
    assert (user.email, user.is_admin) == ("first@example.com", True)
    # once there is a user, the first-run page is closed
    assert client_for(app).get("/setup").headers["location"] == "/login"


def test_only_an_admin_gives_a_connector_a_file_or_an_address(
    app: FastAPI, engine: Engine, alice: Person, tmp_path: Path
) -> None:
    """A user who is not an admin pointed a CSV connector of their own hub at /etc/passwd
    (and read it as contacts), or a folder at another user's cards, or an API connector at
    an internal address: the server opened them. Now only an admin gives such settings."""
    eve = make_person(app, engine, "eve@example.com")
    hub = eve.client.post("/api/v1/hubs", json={"name": "eves"}, headers=eve.auth).json()
    for kind, settings in (
        ("csv", {"path": "/etc/passwd", "format": "plain"}),
        ("vcard-dir", {"path": str(tmp_path)}),
        ("carddav", {"url": "http://127.0.0.1:1/"}),
        ("procore", {"company_id": 1, "base_url": "http://169.254.169.254/"}),
    ):
        answer = eve.client.post(
            f"/api/v1/hubs/{hub['id']}/connectors",
            json={"name": "x", "type": kind, "settings": settings},
            headers=eve.auth,
        )
        assert answer.status_code == 400 and "only an admin" in answer.json()["error"], answer.text
    page = eve.client.post(
        f"/hubs/{hub['id']}/connectors",
        data={"csrf": eve.csrf(), "type": "csv", "name": "x", "settings": 'path = "/etc/passwd"'},
    )
    assert page.status_code == 400 and "only an admin" in page.text
    # an admin sets the folder up; its user may then change how it syncs, and send the
    # settings back unchanged (the dashboard's form does), but not move it elsewhere
    folder = tmp_path / "eve"
    folder.mkdir()
    made = alice.client.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "cards", "type": "vcard-dir", "settings": {"path": str(folder)}},
        headers=alice.auth,
    ).json()
    url = f"/api/v1/connectors/{made['id']}"
    same = {"direction": "to-hub", "settings": {"path": str(folder)}}
    assert eve.client.patch(url, json=same, headers=eve.auth).status_code == 200
    moved = eve.client.patch(url, json={"settings": {"path": "/etc"}}, headers=eve.auth)
    assert moved.status_code == 400 and "only an admin" in moved.json()["error"]
    assert eve.client.get(url, headers=eve.auth).json()["settings"]["path"] == str(folder)


def test_a_user_cannot_test_guesses_of_the_admins_token_in_a_url(
    app: FastAPI, engine: Engine, alice: Person
) -> None:
    """An admin set a CardDAV URL with a token in its query on another user's hub. That
    user PATCHing the URL with a guessed token got 400 for a wrong guess and 200 for the
    right one: an answer to as many guesses as they liked (QA). A URL that spells a query
    value out is a change of the address, the admin's to make, whatever the value."""
    eve = make_person(app, engine, "eve@example.com")
    hub = eve.client.post("/api/v1/hubs", json={"name": "eves"}, headers=eve.auth).json()
    real = "http://127.0.0.1:9/dav/?token=QTOKEN1&x=1"
    made = alice.client.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "dav", "type": "carddav", "settings": {"url": real}},
        headers=alice.auth,
    )
    assert made.status_code == 201, made.text
    url = f"/api/v1/connectors/{made.json()['id']}"
    answers = [
        eve.client.patch(url, json={"settings": {"url": real.replace("QTOKEN1", guess)}}, headers=eve.auth)
        for guess in ("WRONG", "QTOKEN1")
    ]
    assert [a.status_code for a in answers] == [400, 400], [a.text for a in answers]
    assert answers[0].json() == answers[1].json() and "only an admin" in answers[1].json()["error"]
    shown = eve.client.get(url, headers=eve.auth).json()["settings"]["url"]
    assert "QTOKEN1" not in shown
    assert eve.client.patch(url, json={"settings": {"url": shown}}, headers=eve.auth).status_code == 200
    assert alice.client.patch(url, json={"settings": {"url": real}}, headers=alice.auth).status_code == 200


def test_a_password_in_a_url_given_to_the_api_is_kept_encrypted(
    engine: Engine, alice: Person, tmp_path: Path
) -> None:
    """``apply`` took it out of the URL and encrypted it; the API and the dashboard stored
    the URL as given, and saving the dashboard's form (which shows it masked) then wrote
    the mask as the password."""
    from sqlalchemy import select

    from contacthub.store import secrets
    from contacthub.store import tables as t

    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "dav"}, headers=auth).json()
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "book", "type": "carddav", "settings": {"url": "http://bob:HunterPW42@127.0.0.1:9/"}},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    assert "HunterPW42" not in made.text
    assert made.json()["secrets"] == ["password"]  # no bearer token was given: none is listed

    def stored() -> tuple[str, dict[str, object]]:
        with engine.connect() as conn:
            row = conn.execute(select(t.connectors).where(t.connectors.c.id == made.json()["id"])).one()
        return row.settings, secrets.decrypt(row.secrets, "test")

    plain, secret = stored()
    assert "HunterPW42" not in plain and secret["password"] == "HunterPW42"
    page = c.get(f"/connectors/{made.json()['id']}")
    at = page.text.find("HunterPW42")
    assert at < 0, page.text[max(0, at - 300) : at + 50]
    save_as_shown(alice, made.json()["id"], page.text)
    plain, secret = stored()
    assert secret["password"] == "HunterPW42" and "********" not in plain
    # a URL sent back as shown masked elsewhere (``hubs``, logs) keeps the password
    masked = {"settings": {"url": "http://bob:********@127.0.0.1:9/"}}
    assert c.patch(f"/api/v1/connectors/{made.json()['id']}", json=masked, headers=auth).status_code == 200
    plain, secret = stored()
    assert secret["password"] == "HunterPW42" and "********" not in plain
    # with another host, the stored password is never sent there: refused
    away = {"settings": {"url": "http://bob:********@evil.example:9/"}}
    refused = c.patch(f"/api/v1/connectors/{made.json()['id']}", json=away, headers=auth)
    assert refused.status_code == 400 and "host changed" in refused.text, refused.text
    plain, secret = stored()
    assert secret["password"] == "HunterPW42" and "evil" not in plain


def save_as_shown(person: Person, connector_id: int, page: str) -> None:
    """Save a connector's dashboard form with its settings as the page shows them."""
    import html

    text = re.search(r'<textarea[^>]*name="settings"[^>]*>([^<]*)</textarea>', page)
    assert text is not None
    saved = person.client.post(
        f"/connectors/{connector_id}",
        data={"csrf": person.csrf(), "settings": html.unescape(text.group(1)), "direction": "to-hub"},
    )
    assert saved.status_code == 303, saved.text


def test_a_token_in_a_urls_query_is_never_shown_by_the_api_or_the_dashboard(
    engine: Engine, alice: Person
) -> None:
    """A CardDAV ``url`` with ``?access_token=...`` was returned by the API and shown on the
    connector's page as written. It is shown masked; saving the page's form, or PATCHing
    the URL as shown, keeps the token the connector uses."""
    from sqlalchemy import select

    from contacthub.store import tables as t

    c, auth = alice.client, alice.auth
    real = "http://127.0.0.1:9/books/?access_token=Hx7tokenQ9&apikey=K3y-9%2Bz"
    hub = c.post("/api/v1/hubs", json={"name": "dav"}, headers=auth).json()
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "book", "type": "carddav", "settings": {"url": real}},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    shown = "http://127.0.0.1:9/books/?access_token=********&apikey=********"
    url = f"/api/v1/connectors/{made.json()['id']}"
    for answer in (made, c.get(url, headers=auth), c.get(f"/api/v1/hubs/{hub['id']}", headers=auth)):
        assert answer.status_code in (200, 201) and "Hx7tokenQ9" not in answer.text, answer.text
        assert "K3y" not in answer.text and "/books/?access_token=" in answer.text
    assert c.get(url, headers=auth).json()["settings"]["url"] == shown

    def stored() -> str:
        """The URL the connector gets (kept encrypted); the clear settings never hold it."""
        from contacthub.store import secrets

        with engine.connect() as conn:
            clear, kept = conn.execute(
                select(t.connectors.c.settings, t.connectors.c.secrets).where(
                    t.connectors.c.id == made.json()["id"]
                )
            ).one()
        assert "Hx7tokenQ9" not in clear and "K3y" not in clear
        return str(secrets.decrypt(kept)["url"])

    page = c.get(f"/connectors/{made.json()['id']}")
    assert "Hx7tokenQ9" not in page.text and "K3y" not in page.text
    save_as_shown(alice, made.json()["id"], page.text)
    assert real in stored()
    # sent back as shown, also with another path: the masked values are the stored ones
    assert c.patch(url, json={"settings": {"url": shown}}, headers=auth).status_code == 200
    assert real in stored()
    moved = shown.replace("/books/", "/team/")
    assert c.patch(url, json={"settings": {"url": moved}}, headers=auth).status_code == 200
    assert real.replace("/books/", "/team/") in stored()
    # another host with the masked values: refused, never sent the stored token (QA)
    elsewhere = moved.replace("127.0.0.1:9", "evil.example:9")
    refused = c.patch(url, json={"settings": {"url": elsewhere}}, headers=auth)
    assert refused.status_code == 400 and "host changed" in refused.text, refused.text
    assert real.replace("/books/", "/team/") in stored() and "evil" not in stored()


def test_a_password_in_the_url_of_a_connector_that_takes_none_is_refused_by_the_api(alice: Person) -> None:
    """Stored in clear before, and printed in the connector's errors and test answers."""
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "crm"}, headers=auth).json()
    sent = {"name": "pd", "type": "pipedrive", "settings": {"base_url": "http://u:SECRETX7@127.0.0.1:9/"}}
    made = c.post(f"/api/v1/hubs/{hub['id']}/connectors", json=sent, headers=auth)
    assert made.status_code == 400 and "base_url holds a password" in made.json()["error"]
    assert "SECRETX7" not in made.text
    fine = {
        "name": "pd",
        "type": "pipedrive",
        "settings": {"base_url": "http://127.0.0.1:9/", "api_token": "t"},
    }
    made = c.post(f"/api/v1/hubs/{hub['id']}/connectors", json=fine, headers=auth)
    assert made.status_code == 201, made.text
    patched = c.patch(
        f"/api/v1/connectors/{made.json()['id']}",
        json={"settings": {"base_url": "http://u:SECRETX7@127.0.0.1:9/"}},
        headers=auth,
    )
    assert patched.status_code == 400 and "SECRETX7" not in patched.text
    assert c.get(f"/api/v1/connectors/{made.json()['id']}", headers=auth).json()["settings"]["base_url"] == (
        "http://127.0.0.1:9/"
    )


def test_settings_a_connector_refuses_are_refused_by_the_api(alice: Person) -> None:
    """Stored as given, they failed the hub's every run, its good connectors with it."""
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "bad"}, headers=auth).json()
    for settings in ({}, {"path": 123}, {"path": ["a"]}):
        answer = c.post(
            f"/api/v1/hubs/{hub['id']}/connectors",
            json={"name": "x", "type": "csv", "settings": settings},
            headers=auth,
        )
        assert answer.status_code == 400 and "path" in answer.json()["error"], answer.text
    assert c.get(f"/api/v1/hubs/{hub['id']}/connectors", headers=auth).json() == []


def test_a_csv_column_name_that_reads_as_a_formula_is_refused_by_the_api(
    app: FastAPI, engine: Engine, alice: Person, tmp_path: Path
) -> None:
    """A hub's owner who is no admin may change a CSV connector's mapping: a column named
    ``=cmd|x!A1`` went into the file's header as it is, a formula for whoever opens it."""
    eve = make_person(app, engine, "eve@example.com")
    hub = eve.client.post("/api/v1/hubs", json={"name": "eves"}, headers=eve.auth).json()
    sheet = tmp_path / "eve.csv"
    made = alice.client.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "sheet", "type": "csv", "settings": {"path": str(sheet), "create": True}},
        headers=alice.auth,
    ).json()
    url = f"/api/v1/connectors/{made['id']}"
    bad = eve.client.patch(url, json={"mapping": {"job_title": "=cmd|x!A1"}}, headers=eve.auth)
    assert bad.status_code == 400 and "'job_title' in the CSV column '=cmd|x!A1'" in bad.json()["error"]
    assert eve.client.get(url, headers=eve.auth).json()["mapping"] == {}
    added = alice.client.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "other", "type": "csv", "settings": {"path": str(tmp_path / "o.csv"), "create": True},
              "mapping": {"notes": "@SUM(A1)"}},
        headers=alice.auth,
    )  # fmt: skip
    assert added.status_code == 400 and "spreadsheet formula" in added.json()["error"]
    ok = eve.client.patch(url, json={"mapping": {"job_title": "Role"}}, headers=eve.auth)
    assert ok.status_code == 200, ok.text


def test_an_api_body_over_the_limit_is_refused_before_it_is_read(alice: Person) -> None:
    """A 30 MB token was stored (encrypted) and every listing of hubs then took seconds."""
    from contacthub.web.app import MAX_API_BODY

    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "big"}, headers=auth).json()
    huge = {"name": "pd", "type": "pipedrive", "settings": {"api_token": "x" * (MAX_API_BODY + 10)}}
    answer = c.post(f"/api/v1/hubs/{hub['id']}/connectors", json=huge, headers=auth)
    assert answer.status_code == 413 and "request body is over" in answer.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
        yield b'{"name": "pd", "type": "pipedrive", "settings": {"api_token": "'
        for _ in range(MAX_API_BODY // 65536 + 1):
            yield b"x" * 65536
        yield b'"}}'

    streamed = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        content=chunks(),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    assert c.get(f"/api/v1/hubs/{hub['id']}", headers=auth).json()["connectors"] == []
    fine = {"name": "pd", "type": "pipedrive", "settings": {"api_token": "t" * 1000}}
    assert c.post(f"/api/v1/hubs/{hub['id']}/connectors", json=fine, headers=auth).status_code == 201


def test_sign_ins_at_the_same_time_are_throttled_as_one_after_another() -> None:
    """The throttle was asked before the slow password check and told of the failure after
    it: 60 wrong passwords sent at once had 17 checked in 5 s, where 5 per 15 minutes are
    allowed (QA). An attempt counts from its start, and a success takes its count back."""
    import threading

    throttle = accounts.Throttle(limit=5, window=900.0)
    allowed: list[float] = []
    start = threading.Barrier(40)

    def attempt() -> None:
        start.wait()
        wait, moment = throttle.begin("email:x", "ip:1")
        if wait == 0:
            time.sleep(0.05)  # the password check
            allowed.append(moment or 0.0)

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 5
    fresh = accounts.Throttle(limit=5, window=900.0)
    for _ in range(3):
        wait, moment = fresh.begin("email:y", "ip:2")
        assert wait == 0
        fresh.succeeded(("email:y",), ("ip:2",), moment)  # each one signed in
    assert fresh.begin("email:z", "ip:2")[0] == 0  # the address's successes do not count


def test_correct_sign_ins_sent_at_once_all_go_through(app: FastAPI, engine: Engine) -> None:
    """An attempt counts as failed until it ends, so correct sign-ins for one account sent
    at once (tabs restoring a session, a script) were refused as if they had failed: 3 of
    8 got 429 (QA). Attempts for one email are checked one at a time."""
    import threading

    accounts.add_user(engine, "fay@example.com", PASSWORD)
    statuses: list[int] = []
    start = threading.Barrier(8)

    def sign_in_once() -> None:
        client = client_for(app)
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert token
        start.wait()
        answer = client.post(
            "/login",
            data={"email": "fay@example.com", "password": PASSWORD, "csrf": token.group(1)},
            follow_redirects=False,
        )
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=sign_in_once) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [303] * 8
