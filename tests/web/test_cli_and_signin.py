"""The web's command-line commands (user add, token create) and signing a connector in from
the dashboard through the generic /connect/callback route."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from contacthub.cli import app as cli
from contacthub.connectors.registry import TYPES
from contacthub.store.credentials import StoredCredentials
from contacthub.store.db import open_database
from contacthub.web import accounts
from tests.web.conftest import PASSWORD, Person, client_for

runner = CliRunner()


def test_user_add_and_token_create(sqlite_url: str) -> None:
    ok = runner.invoke(
        cli,
        ["--database", sqlite_url, "user", "add", "Ann@Example.com", "--admin", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert ok.exit_code == 0, ok.output
    assert "user ann@example.com added (admin)" in ok.output
    again = runner.invoke(
        cli,
        ["--database", sqlite_url, "user", "add", "ann@example.com", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert again.exit_code == 2 and "exists already" in again.output
    short = runner.invoke(
        cli, ["--database", sqlite_url, "user", "add", "b@example.com", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 2 and "at least 8" in short.output
    made = runner.invoke(cli, ["--database", sqlite_url, "token", "create"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    assert token.startswith("chub_")
    engine = open_database(sqlite_url)
    user = accounts.token_user(engine, token)
    assert user is not None and user.email == "ann@example.com"
    accounts.add_user(engine, "b@example.com", PASSWORD)
    which = runner.invoke(cli, ["--database", sqlite_url, "token", "create"])
    assert which.exit_code == 2 and "--user" in which.output
    engine.dispose()


def test_tokens_revoked_and_users_removed(sqlite_url: str, app: FastAPI) -> None:
    """A leaked token, or a person who left, stayed valid until someone edited the database."""
    from tests.web.conftest import sign_in

    engine = open_database(sqlite_url)
    ann = accounts.add_user(engine, "ann@example.com", PASSWORD, admin=True)
    ben = accounts.add_user(engine, "ben@example.com", PASSWORD)
    kept, leaked = accounts.create_token(engine, ann, "ci"), accounts.create_token(engine, ann, "laptop")
    bens = accounts.create_token(engine, ben)
    listed = runner.invoke(cli, ["--database", sqlite_url, "token", "list", "--user", "ann@example.com"])
    assert listed.exit_code == 0, listed.output
    rows = [line.split("\t") for line in listed.output.splitlines()]
    assert [(r[1], r[2], r[4]) for r in rows] == [
        ("ann@example.com", "ci", "never used"),
        ("ann@example.com", "laptop", "never used"),
    ]
    assert kept not in listed.output and leaked not in listed.output
    gone = runner.invoke(cli, ["--database", sqlite_url, "token", "revoke", rows[1][0]])
    assert gone.exit_code == 0, gone.output
    assert accounts.token_user(engine, leaked) is None and accounts.token_user(engine, kept) is not None
    assert runner.invoke(cli, ["--database", sqlite_url, "token", "revoke", rows[1][0]]).exit_code == 2
    # ben is signed in and has a token; removed, he has neither
    ben_web = sign_in(app, "ben@example.com")
    assert ben_web.get("/api/v1/hubs").status_code == 200
    removed = runner.invoke(cli, ["--database", sqlite_url, "user", "remove", "ben@example.com"])
    assert removed.exit_code == 0, removed.output
    assert accounts.token_user(engine, bens) is None
    assert ben_web.get("/api/v1/hubs").status_code == 401
    users = runner.invoke(cli, ["--database", sqlite_url, "user", "list"])
    assert users.output.splitlines() == ["ann@example.com (admin)"]
    engine.dispose()


def test_a_users_password_is_changed_and_their_sessions_end(sqlite_url: str, app: FastAPI) -> None:
    """There was no way to change a password: removing and adding the user again was the
    only one, and it took their hubs from them for good (QA)."""
    from tests.web.conftest import sign_in

    engine = open_database(sqlite_url)
    ben = accounts.add_user(engine, "ben@example.com", PASSWORD)
    token = accounts.create_token(engine, ben)
    web = sign_in(app, "ben@example.com")
    assert web.get("/api/v1/hubs").status_code == 200
    args = ["--database", sqlite_url, "user", "password", "Ben@example.com", "--password-stdin"]
    done = runner.invoke(cli, args, input="a new one, long enough\n")
    assert done.exit_code == 0, done.output
    # not "signed out everywhere": the API tokens stay, and the message says so (QA)
    assert "signed out everywhere" not in done.output
    assert "new password set; their dashboard sessions are signed out; their API tokens stay valid" in (
        done.output
    )
    assert "contacthub token list --user ben@example.com" in done.output
    assert web.get("/api/v1/hubs").status_code == 401  # signed out
    assert accounts.authenticate(engine, "ben@example.com", PASSWORD) is None
    assert accounts.authenticate(engine, "ben@example.com", "a new one, long enough") is not None
    assert accounts.token_user(engine, token) is not None  # tokens stay (revoke them on their own)
    short = runner.invoke(cli, args, input="short\n")
    assert short.exit_code == 2 and "at least" in short.output
    nobody = runner.invoke(
        cli, [*args[:4], "nobody@example.com", "--password-stdin"], input="long enough pw\n"
    )
    assert nobody.exit_code == 2 and "no user nobody@example.com" in nobody.output
    engine.dispose()


@pytest.mark.parametrize("invite", [False, True])
def test_sign_in_from_the_dashboard(
    app: FastAPI, alice: Person, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invite: bool
) -> None:
    monkeypatch.setitem(TYPES, "signin-vcard", "tests.web.secret_connector:SignInConnector")
    c, auth = alice.client, alice.auth
    hub = c.post("/api/v1/hubs", json={"name": "s"}, headers=auth).json()
    made = c.post(
        f"/api/v1/hubs/{hub['id']}/connectors",
        json={"name": "m365", "type": "signin-vcard", "settings": {"path": str(tmp_path)}},
        headers=auth,
    ).json()
    page = c.get(f"/connectors/{made['id']}").text
    assert "Invite a partner" in page
    data = {"csrf": alice.csrf(), **({"invite": "true"} if invite else {})}
    assert c.post(f"/connectors/{made['id']}/signin", data=data).status_code == 303
    status = c.get(f"/connectors/{made['id']}/signin").text
    assert "waiting" in status and "login.example.com/authorize" in status
    # the partner's admin has no session here: the callback needs none, only the right state
    stranger = client_for(app)
    assert stranger.get("/connect/callback", params={"state": "forged", "code": "x"}).status_code == 400
    state = "state-invite" if invite else "state-user"
    arrived = stranger.get("/connect/callback", params={"state": state, "code": "c0de", "tenant": "t1"})
    assert arrived.status_code == 200 and "sign-in arrived" in arrived.text
    for _ in range(100):
        if "done" in c.get(f"/connectors/{made['id']}/signin").text:
            break
        time.sleep(0.05)
    assert "done" in c.get(f"/connectors/{made['id']}/signin").text
    saved = StoredCredentials(app.state.web.engine, made["id"], "m365").load()
    assert saved == {"code": "c0de", "tenant": "t1"}
