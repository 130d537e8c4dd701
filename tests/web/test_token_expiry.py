"""API tokens that expire: ``token create --expires-days N``, refused once past (as an unknown
token is), and the expiry shown by ``token list``. A token lived until revoked before."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from contacthub.cli import app as cli
from contacthub.errors import UserError
from contacthub.store import tables as t
from contacthub.web import accounts
from tests.web.conftest import PASSWORD, client_for

runner = CliRunner()


def set_expiry(engine: Engine, token_id: int, moment: datetime) -> None:
    """Move a token's expiry (to the past: as if its days had gone by)."""
    with engine.begin() as conn:
        conn.execute(update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(expires_at=moment))


def last_used(engine: Engine, token_id: int) -> datetime | None:
    with engine.connect() as conn:
        value: datetime | None = conn.execute(
            select(t.api_tokens.c.last_used_at).where(t.api_tokens.c.id == token_id)
        ).scalar_one()
    return value


def test_an_unexpired_token_is_accepted(app: FastAPI, engine: Engine) -> None:
    ann = accounts.add_user(engine, "ann@example.com", PASSWORD)
    token = accounts.create_token(engine, ann, "ci", expires_days=1)
    [row] = accounts.tokens(engine, ann)
    assert row["expires_at"] - row["created_at"] == timedelta(days=1)
    assert row["expires_at"].utcoffset() == timedelta(0) and row["expired"] is False
    set_expiry(engine, row["id"], datetime.now(UTC) + timedelta(seconds=60))  # a minute left
    answer = client_for(app).get("/api/v1/hubs", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert accounts.token_user(engine, token) == ann
    assert last_used(engine, row["id"]) is not None


def test_an_expired_token_is_refused_as_an_unknown_one(app: FastAPI, engine: Engine) -> None:
    """The same 401 and the same words as a token that never existed: nothing tells the
    caller there was one. Its last use stays as it was."""
    ann = accounts.add_user(engine, "ann@example.com", PASSWORD)
    expiring = accounts.create_token(engine, ann, "ci", expires_days=30)
    lasting = accounts.create_token(engine, ann, "laptop")
    client = client_for(app)

    def get(token: str) -> tuple[int, str, str | None]:
        answer = client.get("/api/v1/hubs", headers={"Authorization": f"Bearer {token}"})
        return answer.status_code, answer.text, answer.headers.get("www-authenticate")

    assert get(expiring)[0] == 200
    token_id = accounts.tokens(engine, ann)[0]["id"]
    used = last_used(engine, token_id)
    set_expiry(engine, token_id, datetime.now(UTC) - timedelta(seconds=1))
    unknown = get(accounts.TOKEN_PREFIX + "x" * 43)
    assert unknown[0] == 401
    assert get(expiring) == unknown
    assert accounts.token_user(engine, expiring) is None
    assert last_used(engine, token_id) == used
    assert get(lasting)[0] == 200  # a token without an expiry never expires
    assert accounts.tokens(engine, ann)[0]["expired"] is True


def test_token_list_shows_the_expiry(sqlite_url: str, engine: Engine) -> None:
    ann = accounts.add_user(engine, "ann@example.com", PASSWORD)
    base = ["--database", sqlite_url, "token"]
    made = runner.invoke(cli, [*base, "create", "--name", "ci", "--expires-days", "30"])
    assert made.exit_code == 0, made.output
    assert "expires in 30 days" in made.stderr
    assert accounts.token_user(engine, made.stdout.strip()) == ann
    made = runner.invoke(cli, [*base, "create", "--name", "old", "--expires-days", "1"])
    assert made.exit_code == 0 and made.stderr.rstrip().endswith("it expires in 1 day")  # not "1 days"
    assert runner.invoke(cli, [*base, "create", "--name", "laptop"]).exit_code == 0
    for days in ("0", "-3"):
        refused = runner.invoke(cli, [*base, "create", "--expires-days", days])
        assert refused.exit_code == 2 and "--expires-days" in refused.output
    ci, old, _ = accounts.tokens(engine)
    past = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    set_expiry(engine, old["id"], past)

    listed = runner.invoke(cli, [*base, "list"])
    assert listed.exit_code == 0, listed.output
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(r[2], r[5]) for r in rows] == [
        ("ci", f"expires {ci['expires_at'].isoformat(timespec='seconds')}"),
        ("old", "expired 2024-03-01T12:00:00+00:00"),
        ("laptop", "never expires"),
    ]
    assert rows[0][5].endswith("+00:00") and rows[0][3].startswith("made ")

    as_json = runner.invoke(cli, [*base, "list", "--json"])
    assert as_json.exit_code == 0, as_json.output
    items = json.loads(as_json.stdout)
    assert [(i["name"], i["expires_at"], i["expired"]) for i in items] == [
        ("ci", ci["expires_at"].isoformat(timespec="seconds"), False),
        ("old", "2024-03-01T12:00:00+00:00", True),
        ("laptop", None, False),
    ]
    assert {i["email"] for i in items} == {"ann@example.com"}
    assert [i["last_used_at"] is None for i in items] == [False, True, True]  # ci was used above
    expires = datetime.fromisoformat(items[0]["expires_at"])
    assert timedelta(days=30) - timedelta(minutes=1) < expires - datetime.now(UTC) <= timedelta(days=30)


def test_create_token_refuses_an_expiry_out_of_range(engine: Engine) -> None:
    ann = accounts.add_user(engine, "ann@example.com", PASSWORD)
    for days in (0, -1, accounts.MAX_TOKEN_DAYS + 1):
        with pytest.raises(UserError, match="expires after 1 to"):
            accounts.create_token(engine, ann, expires_days=days)
    assert accounts.tokens(engine) == []
