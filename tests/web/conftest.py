"""Fixtures for the web tests: an app over a fresh store, two users with tokens, and a hub of
two vCard folders (``vcard_hub``) owned by the first user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from contacthub.store.db import open_database
from contacthub.web import accounts, create_app

PASSWORD = "correct horse battery"


@dataclass
class Person:
    user: accounts.User
    token: str
    client: TestClient  # signed in with a session cookie

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def csrf(self) -> str:
        page = self.client.get("/")
        match = re.search(r'<meta name="csrf" content="([^"]+)"', page.text)
        assert match, page.text[:500]
        return match.group(1)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = open_database(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def app(engine: Engine) -> FastAPI:
    return create_app(engine)


def client_for(app: FastAPI) -> TestClient:
    # https: the session cookie is Secure, as it is in production
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def sign_in(app: FastAPI, email: str, password: str = PASSWORD) -> TestClient:
    client = client_for(app)
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    answer = client.post("/login", data={"email": email, "password": password, "csrf": token.group(1)})
    assert answer.status_code == 303, answer.text
    return client


def make_person(app: FastAPI, engine: Engine, email: str, admin: bool = False) -> Person:
    user = accounts.add_user(engine, email, PASSWORD, admin=admin)
    return Person(user, accounts.create_token(engine, user), sign_in(app, email))


@pytest.fixture
def alice(app: FastAPI, engine: Engine) -> Person:
    """An admin: she sets up hubs of folders, whose paths only an admin may give."""
    return make_person(app, engine, "alice@example.com", admin=True)


@pytest.fixture
def bob(app: FastAPI, engine: Engine) -> Person:
    return make_person(app, engine, "bob@example.com")


def card(uid: str, name: str, email: str, extra: str = "") -> str:
    given, _, family = name.partition(" ")
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"UID:{uid}\r\nFN:{name}\r\nN:{family};{given};;;\r\nEMAIL;TYPE=work:{email}\r\n{extra}"
        "END:VCARD\r\n"
    )


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for i in range(10):
        (a / f"p{i}.vcf").write_text(card(f"p{i}", f"Person{i} Family{i}", f"p{i}@example.com"))
    return a, b


def make_hub(person: Person, folders: tuple[Path, Path], **hub: Any) -> dict[str, Any]:
    """A hub of ``person``'s (``name`` "team" unless given) with the two ``folders`` as
    vCard-folder connectors ``a`` and ``b``, made through the API; the API's view of it."""
    c = person.client
    answer = c.post("/api/v1/hubs", json={"name": hub.pop("name", "team"), **hub}, headers=person.auth)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    for name, path in zip(("a", "b"), folders, strict=True):
        r = c.post(
            f"/api/v1/hubs/{created['id']}/connectors",
            json={"name": name, "type": "vcard-dir", "settings": {"path": str(path)}},
            headers=person.auth,
        )
        assert r.status_code == 201, r.text
    return dict(c.get(f"/api/v1/hubs/{created['id']}", headers=person.auth).json())
