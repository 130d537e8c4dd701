"""The Procore emulator answers in the shape Procore documents (checked against the vendor's
OpenAPI extracts in ../shared/specs), with its paging, rate-limit and OAuth behaviour."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from contacthub.emulators.base import _bind, background
from contacthub.emulators.procore import ProcoreEmulator
from contacthub.emulators.procore_state import ProcoreState

SPECS = Path(__file__).resolve().parents[2].parent.parent / "shared" / "specs"
for candidate in (SPECS, Path("/work/shared/specs")):
    if (candidate / "validate_specs.py").exists():
        SPECS = candidate
        break
SPEC = "procore-directory.json"
CID, SECRET = "emu-client", "emu-secret"


def validator() -> Any:
    path = SPECS / "validate_specs.py"
    if not path.exists():
        pytest.skip("the vendor specs (../shared/specs) are not on this machine")
    spec = importlib.util.spec_from_file_location("validate_specs", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_nulls(body: Any) -> Any:
    """Procore sends ``null`` for empty values (its ERP example, the Elixir SDK's nullable
    types); the extracts dropped ``nullable``, so nulls are left out of the check."""
    if isinstance(body, dict):
        return {k: without_nulls(v) for k, v in body.items() if v is not None}
    if isinstance(body, list):
        return [without_nulls(v) for v in body]
    return body


def conforms(path: str, method: str, status: int, body: Any) -> None:
    errors = validator().response_errors(SPEC, path, method, status, without_nulls(body))
    assert errors == [], errors[:5]


@pytest.fixture
def emu() -> Iterator[tuple[ProcoreEmulator, httpx.Client]]:
    emulator = ProcoreEmulator(
        ProcoreState(users=30, vendors=6, reference_people=3, projects=2, client_id=CID, client_secret=SECRET)
    )
    with background(emulator.app) as url:
        token = httpx.post(
            f"{url}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": CID, "client_secret": SECRET},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Procore-Company-Id": "1"}
        with httpx.Client(base_url=url, headers=headers) as client:
            yield emulator, client


def test_users_list_show_create_update_sync_conform(emu: tuple[ProcoreEmulator, httpx.Client]) -> None:
    _, client = emu
    listing = client.get("/rest/v1.0/companies/1/users")
    assert listing.status_code == 200 and len(listing.json()) == 30
    conforms("/rest/v1.0/companies/{company_id}/users", "get", 200, listing.json())
    first = listing.json()[0]
    assert set(first) >= {"email_address", "first_name", "last_name", "vendor", "updated_at", "origin_id"}
    show = client.get(f"/rest/v1.0/companies/1/users/{first['id']}")
    conforms("/rest/v1.0/companies/{company_id}/users/{id}", "get", 200, show.json())
    assert "permission_template" not in show.json() and "is_insurance_manager" in show.json()
    made = client.post(
        "/rest/v1.0/companies/1/users",
        json={
            "user": {"first_name": "Søren", "last_name": "Kierkegaard", "email_address": "soren@example.dk"}
        },
    )
    assert made.status_code == 201
    conforms("/rest/v1.0/companies/{company_id}/users", "post", 201, made.json())
    changed = client.patch(
        f"/rest/v1.0/companies/1/users/{made.json()['id']}", json={"user": {"job_title": "Foreman"}}
    )
    assert changed.status_code == 200 and changed.json()["job_title"] == "Foreman"
    assert changed.json()["last_name"] == "Kierkegaard"  # PATCH is partial
    assert changed.json()["email_address"] == "soren@example.dk"
    conforms("/rest/v1.0/companies/{company_id}/users/{id}", "patch", 200, changed.json())
    sync = client.patch(
        "/rest/v1.0/companies/1/users/sync",
        json={
            "updates": [
                {"id": first["id"], "job_title": "PM"},
                {"id": 999999},
                {"last_name": "New", "email_address": "n@example.com", "origin_id": "x-1"},
            ]
        },
    )
    assert sync.status_code == 200
    conforms("/rest/v1.0/companies/{company_id}/users/sync", "patch", 200, sync.json())
    body = sync.json()
    assert len(body["entities"]) == 2
    assert body["errors"] == [{"id": 999999, "errors": {"id": ["Entity with this ID not found"]}}]


def test_inactive_users_and_reactivation(emu: tuple[ProcoreEmulator, httpx.Client]) -> None:
    _, client = emu
    user = client.get("/rest/v1.0/companies/1/users").json()[0]
    uid = user["id"]
    required = {"last_name": user["last_name"], "email_address": user["email_address"]}
    gone = client.patch(
        f"/rest/v1.0/companies/1/users/{uid}", json={"user": {**required, "is_active": False}}
    )
    assert gone.status_code == 200
    assert uid not in {u["id"] for u in client.get("/rest/v1.0/companies/1/users").json()}
    inactive = client.get("/rest/v1.0/companies/1/users/inactive").json()
    assert [u["id"] for u in inactive] == [uid]
    conforms("/rest/v1.0/companies/{company_id}/users/inactive", "get", 200, inactive)
    back = client.patch(f"/rest/v1.0/companies/1/users/inactive/{uid}")
    assert back.status_code == 200 and back.json()["is_active"] is True
    conforms("/rest/v1.0/companies/{company_id}/users/inactive/{id}", "patch", 200, back.json())


def test_a_company_user_patch_is_partial(emu: tuple[ProcoreEmulator, httpx.Client]) -> None:
    """Procore documents PATCH as a partial update, a deactivation as
    ``{"user": {"is_active": false}}``, and an update including ``email_address`` as
    refused without Directory Admin permission: the OpenAPI's ``required: [email_address,
    last_name]`` on the user PATCH is create's, copied. A body of the flag alone, or of a
    phone alone, is taken (the emulator refused it with 400 "can't be blank"); a blank
    last name sent is still refused."""
    emulator, client = emu
    user = client.get("/rest/v1.0/companies/1/users").json()[0]
    path = f"/rest/v1.0/companies/1/users/{user['id']}"
    phone = client.patch(path, json={"user": {"mobile_phone": "+1 805 555 0199"}})
    assert phone.status_code == 200, phone.json()
    assert (phone.json()["mobile_phone"], phone.json()["last_name"]) == ("+1 805 555 0199", user["last_name"])
    assert phone.json()["email_address"] == user["email_address"]
    conforms("/rest/v1.0/companies/{company_id}/users/{id}", "patch", 200, phone.json())
    only_flag = client.patch(path, json={"user": {"is_active": False}})
    assert only_flag.status_code == 200 and emulator.state.users[user["id"]]["is_active"] is False
    blank = client.patch(path, json={"user": {"last_name": " "}})
    assert blank.status_code == 422 and blank.json()["errors"] == {"last_name": ["can't be blank"]}


def test_a_patch_without_a_field_the_docs_require_is_refused_400(
    emu: tuple[ProcoreEmulator, httpx.Client],
) -> None:
    """Procore's OpenAPI marks vendor.name and person.last_name required in the PATCH
    bodies: a deactivation sending only the flag is a 400 "missing required field", and
    the record stays active."""
    emulator, client = emu
    vendor = client.get("/rest/v1.0/vendors", params={"company_id": 1}).json()[0]
    no_name = client.patch(
        f"/rest/v1.0/vendors/{vendor['id']}", json={"company_id": 1, "vendor": {"is_active": False}}
    )
    assert no_name.status_code == 400 and set(no_name.json()["errors"]) == {"name"}
    assert emulator.state.vendors[vendor["id"]]["is_active"] is True
    named = client.patch(
        f"/rest/v1.0/vendors/{vendor['id']}",
        json={"company_id": 1, "vendor": {"name": vendor["name"], "is_active": False}},
    )
    assert named.status_code == 200 and named.json()["is_active"] is False
    person = client.get(
        "/rest/v1.0/companies/1/people", params={"filters[reference_users_only]": "true"}
    ).json()[0]
    no_last = client.patch(
        f"/rest/v1.0/companies/1/people/{person['id']}", json={"person": {"active": False}}
    )
    assert no_last.status_code == 400 and set(no_last.json()["errors"]) == {"last_name"}
    kept = client.patch(
        f"/rest/v1.0/companies/1/people/{person['id']}",
        json={"person": {"last_name": person["last_name"], "active": False}},
    )
    assert kept.status_code == 200


def test_vendors_people_projects_me_companies_conform(emu: tuple[ProcoreEmulator, httpx.Client]) -> None:
    emulator, client = emu
    vendors = client.get("/rest/v1.0/vendors", params={"company_id": 1}).json()
    assert len(vendors) == 6 and vendors[0]["trades"]
    conforms("/rest/v1.0/vendors", "get", 200, vendors)
    shown = client.get(f"/rest/v1.0/vendors/{vendors[0]['id']}", params={"company_id": 1}).json()
    conforms("/rest/v1.0/vendors/{id}", "get", 200, shown)
    people = client.get("/rest/v1.0/companies/1/people").json()
    assert len(people) == 33  # 30 users and 3 people without a login
    conforms("/rest/v1.0/companies/{company_id}/people", "get", 200, people)
    refs = client.get(
        "/rest/v1.0/companies/1/people", params={"filters[reference_users_only]": "true", "view": "extended"}
    ).json()
    assert len(refs) == 3 and all(p["user_id"] is None and p["reference_user"] for p in refs)
    pid = sorted(emulator.state.projects)[0]
    members = client.get(f"/rest/v1.0/projects/{pid}/users").json()
    assert {u["id"] for u in members} == emulator.state.projects[pid]["user_ids"]
    conforms("/rest/v1.0/projects/{project_id}/users", "get", 200, members)
    conforms("/rest/v1.0/me", "get", 200, client.get("/rest/v1.0/me").json())
    conforms("/rest/v1.0/companies", "get", 200, client.get("/rest/v1.0/companies").json())
    assert client.get("/rest/v1.0/projects/123/users").status_code == 404


def test_user_search_matches_name_parts_not_the_full_name(
    emu: tuple[ProcoreEmulator, httpx.Client],
) -> None:
    """Procore documents the company-user search over first name, last name, email, job
    title and company name; unlike its people search, not over the full name."""
    _, client = emu
    user = client.get("/rest/v1.0/companies/1/users").json()[0]

    def search(term: str) -> list[int]:
        found = client.get("/rest/v1.0/companies/1/users", params={"filters[search]": term})
        return [u["id"] for u in found.json()]

    assert user["id"] in search(user["last_name"]) and user["id"] in search(user["first_name"])
    assert search(f"{user['first_name']} {user['last_name']}") == []


def test_project_vendors_ignore_the_filters_procore_does_not_document_there(
    emu: tuple[ProcoreEmulator, httpx.Client],
) -> None:
    """RestV10ProjectsProjectIdVendorsGet takes filters[search] and filters[id][], no
    filters[updated_at] or filters[origin_id]: those are ignored, not applied."""
    emulator, client = emu
    pid = sorted(emulator.state.projects)[0]
    members = sorted(emulator.state.projects[pid]["vendor_ids"])
    assert members
    far = "2100-01-01T00:00:00Z...2100-01-02T00:00:00Z"
    path = f"/rest/v1.0/projects/{pid}/vendors"
    listed = client.get(path, params={"filters[updated_at]": far, "filters[origin_id]": "nobody"})
    assert listed.status_code == 200 and [v["id"] for v in listed.json()] == members
    one = client.get(path, params={"filters[id][]": members[0]}).json()
    assert [v["id"] for v in one] == members[:1]
    company = client.get("/rest/v1.0/vendors", params={"company_id": 1, "filters[updated_at]": far})
    assert company.json() == []  # the company listing documents it


def test_company_users_and_inactive_vendors_ignore_filters_not_documented_there(
    emu: tuple[ProcoreEmulator, httpx.Client],
) -> None:
    """RestV10CompaniesCompanyIdUsersGet documents no filters[id], and the inactive vendors
    listing no filter at all: the emulator applied them, so a client relying on them would
    pass here and get every row from Procore."""
    emulator, client = emu
    users = client.get("/rest/v1.0/companies/1/users", params={"per_page": 100}).json()
    assert len(users) > 1
    wanted = {"per_page": 100, "filters[id]": users[0]["id"]}
    assert len(client.get("/rest/v1.0/companies/1/users", params=wanted).json()) == len(users)
    [vid] = sorted(emulator.state.vendors)[:1]
    emulator.state.vendors[vid]["is_active"] = False
    path = "/rest/v1.0/companies/1/vendors/inactive"
    inactive = [v["id"] for v in client.get(path).json()]
    assert vid in inactive
    searched = client.get(path, params={"filters[search]": "no such vendor"}).json()
    assert [v["id"] for v in searched] == inactive


def test_paging_headers(emu: tuple[ProcoreEmulator, httpx.Client]) -> None:
    _, client = emu
    pages = []
    for page in (1, 2, 3):
        response = client.get("/rest/v1.0/companies/1/users", params={"page": page, "per_page": 10})
        assert response.headers["Total"] == "30" and response.headers["Per-Page"] == "10"
        pages.append(response)
    rels = [set(r.links) for r in pages]
    assert rels == [{"next", "last"}, {"first", "next", "last"}, {"first", "prev"}]
    assert parse_qs(urlsplit(pages[0].links["next"]["url"]).query)["page"] == ["2"]
    ids = [u["id"] for r in pages for u in r.json()]
    assert len(set(ids)) == 30
    capped = client.get("/rest/v1.0/companies/1/users", params={"per_page": 50_000})
    assert capped.headers["Per-Page"] == "1000"


def test_skip_page_answers_the_next_page_once_headers_and_all(
    emu: tuple[ProcoreEmulator, httpx.Client],
) -> None:
    """``--skip-page 2``: page 2 comes back as page 3 would (``Total`` unchanged, no
    ``next``), once; the same call then gets page 2."""
    emulator, client = emu
    emulator.faults.skip_page = 2
    path, params = "/rest/v1.0/companies/1/users", {"page": 2, "per_page": 10}
    skipped = client.get(path, params=params)
    assert skipped.headers["Total"] == "30" and "next" not in skipped.links
    third = client.get(path, params={"page": 3, "per_page": 10})
    assert skipped.json() == third.json() and emulator.faults.skip_page == 0
    second = client.get(path, params=params)
    assert {u["id"] for u in second.json()}.isdisjoint(u["id"] for u in third.json())


def test_filters(emu: tuple[ProcoreEmulator, httpx.Client]) -> None:
    emulator, client = emu
    user = client.get("/rest/v1.0/companies/1/users").json()[3]
    uid = user["id"]
    required = {"last_name": user["last_name"], "email_address": user["email_address"]}
    emulator.state.clock = lambda: time.time() + 3600  # an edit an hour from now
    client.patch(f"/rest/v1.0/companies/1/users/{uid}", json={"user": {**required, "job_title": "Glazier"}})
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1800))
    window = f"{later}...{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + 7200))}"
    found = client.get("/rest/v1.0/companies/1/users", params={"filters[updated_at]": window}).json()
    assert [u["id"] for u in found] == [uid]
    search = client.get("/rest/v1.0/companies/1/users", params={"filters[search]": "glazier"}).json()
    assert [u["id"] for u in search] == [uid]
    bad = client.get("/rest/v1.0/companies/1/users", params={"filters[updated_at]": "yesterday"})
    assert bad.status_code == 400


def test_rate_limit_headers_and_429() -> None:
    emulator = ProcoreEmulator(ProcoreState(users=1, client_id=CID, client_secret=SECRET), rate_10s=5)
    with background(emulator.app) as url:
        token = httpx.post(
            f"{url}/oauth/token",
            json={"grant_type": "client_credentials", "client_id": CID, "client_secret": SECRET},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Procore-Company-Id": "1"}
        answers = [httpx.get(f"{url}/rest/v1.0/companies/1/users", headers=headers) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
    assert all(a.headers["X-Rate-Limit-Limit"] == "5" for a in answers)
    assert int(answers[0].headers["X-Rate-Limit-Reset"]) >= int(time.time())
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 10
    assert emulator.throttled == 1


def test_company_header_and_bad_tokens(emu: tuple[ProcoreEmulator, httpx.Client]) -> None:
    emulator, client = emu
    missing = client.get("/rest/v1.0/companies/1/users", headers={"Procore-Company-Id": ""})
    assert missing.status_code == 403
    no_header = httpx.get(
        f"{str(client.base_url).rstrip('/')}/rest/v1.0/companies/1/users",
        headers={"Authorization": client.headers["Authorization"]},
    )
    assert no_header.status_code == 400 and no_header.json() == {
        "errors": "Missing Procore-Company-Id header!"
    }
    other = client.get("/rest/v1.0/companies/2/users", headers={"Procore-Company-Id": "2"})
    assert other.status_code == 403
    emulator.faults.expire_tokens = True
    expired = client.get("/rest/v1.0/companies/1/users")
    assert expired.status_code == 401 and expired.json()["error_description"] == "The access token is invalid"


def test_oauth_code_flow_with_rotation_and_body_formats(emu: tuple[ProcoreEmulator, httpx.Client]) -> None:
    _, client = emu
    base = str(client.base_url).rstrip("/")
    page = httpx.get(
        f"{base}/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": CID,
            "redirect_uri": "http://127.0.0.1:9/cb",
            "state": "s-1",
        },
    )
    assert page.status_code == 200 and "<form" in page.text
    approve = httpx.post(
        f"{base}/oauth/authorize",
        data={
            "client_id": CID,
            "redirect_uri": "http://127.0.0.1:9/cb",
            "state": "s-1",
            "response_type": "code",
        },
    )
    assert approve.status_code == 302
    query = parse_qs(urlsplit(approve.headers["location"]).query)
    assert query["state"] == ["s-1"]
    code = query["code"][0]
    # multipart, as Procore's curl examples send it
    first = httpx.post(
        f"{base}/oauth/token",
        files={
            "grant_type": (None, "authorization_code"),
            "code": (None, code),
            "client_id": (None, CID),
            "client_secret": (None, SECRET),
            "redirect_uri": (None, "http://127.0.0.1:9/cb"),
        },
    )
    assert first.status_code == 200
    tokens = first.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 5400 and tokens["refresh_token"]
    assert validator().response_errors(SPEC, "/oauth/token", "post", 200, tokens) == []
    again = httpx.post(
        f"{base}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": CID, "client_secret": SECRET},
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"  # codes are single use
    rotated = httpx.post(
        f"{base}/oauth/token",
        json={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": CID,
            "client_secret": SECRET,
        },
    )
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != tokens["refresh_token"]
    reused = httpx.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": CID,
            "client_secret": SECRET,
        },
    )
    assert reused.status_code == 400 and reused.json()["error_description"] == "The refresh token is invalid"
    wrong = httpx.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": CID, "client_secret": "nope"},
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    dmsa = httpx.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": CID, "client_secret": SECRET},
    ).json()
    assert "refresh_token" not in dmsa
    me = httpx.get(f"{base}/rest/v1.0/me", headers={"Authorization": f"Bearer {dmsa['access_token']}"})
    assert me.status_code == 400  # a service account sends Procore-Company-Id even here
    me = httpx.get(
        f"{base}/rest/v1.0/me", headers={"Authorization": f"Bearer {rotated.json()['access_token']}"}
    )
    assert me.status_code == 200


def test_faults_and_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "procore.json"
    state = ProcoreState(users=3, client_id=CID, client_secret=SECRET, state_file=str(state_file))
    emulator = ProcoreEmulator(state)
    emulator.faults.error_rate = 1.0
    with background(emulator.app) as url:
        token = httpx.post(
            f"{url}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": CID, "client_secret": SECRET},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Procore-Company-Id": "1"}
        failing = httpx.get(f"{url}/rest/v1.0/companies/1/users", headers=headers)
        assert failing.status_code == 503 and failing.headers["Retry-After"] == "1"
        emulator.faults.error_rate = 0.0
        httpx.post(
            f"{url}/rest/v1.0/companies/1/users",
            headers=headers,
            json={"user": {"last_name": "Kept", "email_address": "kept@example.com"}},
        )
    reloaded = ProcoreState(state_file=str(state_file))
    assert "kept@example.com" in {u["email_address"] for u in reloaded.users.values()}


def test_seed_is_a_construction_directory() -> None:
    state = ProcoreState(users=60, vendors=12)
    names = " ".join(f"{u['first_name']} {u['last_name']}" for u in state.users.values())
    assert any(ch in names for ch in "éøöłüó")  # accents
    phones = [u["mobile_phone"] for u in state.users.values()]
    assert any(p.startswith("+44") for p in phones) and any(p.startswith("(") or "." in p for p in phones)
    assert {v["trade_name"] for v in state.vendors.values()} >= {"Concrete", "Electrical", "Plumbing"}
    assert ProcoreState(users=60, vendors=12).users.keys() == state.users.keys()  # deterministic


def test_listening_sockets_disable_nagle() -> None:
    """Accepted connections get TCP_NODELAY only when the listener says it is TCP."""
    sock = _bind(0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_command_line_prints_connection_details_first() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "contacthub",
            "emulate",
            "procore",
            "--port",
            "0",
            "--users",
            "3",
            "--client-secret",
            "s3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["base_url"] == info["url"] and info["company_id"] == 1 and info["client_secret"] == "s3"
        token = httpx.post(
            f"{info['login_url']}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": info["client_id"], "client_secret": "s3"},
        ).json()
        users = httpx.get(
            f"{info['base_url']}/rest/v1.0/companies/1/users",
            headers={"Authorization": f"Bearer {token['access_token']}", "Procore-Company-Id": "1"},
        )
        assert len(users.json()) == 3
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_origin_ids_are_unique_among_vendors_and_among_people(
    emu: tuple[ProcoreEmulator, httpx.Client],
) -> None:
    """ "Origin IDs are unique within a company", a duplicate is 409: served for users only,
    a second vendor or person with an origin id taken (by an inactive one too) was made."""
    _, client = emu
    vendors, people = "/rest/v1.0/vendors", "/rest/v1.0/companies/1/people"
    first = client.post(vendors, json={"company_id": 1, "vendor": {"name": "Dup 1", "origin_id": "same-v"}})
    assert first.status_code == 201
    vid = first.json()["id"]
    gone = client.patch(
        f"{vendors}/{vid}", json={"company_id": 1, "vendor": {"name": "Dup 1", "is_active": False}}
    )
    assert gone.status_code == 200
    second = client.post(vendors, json={"company_id": 1, "vendor": {"name": "Dup 2", "origin_id": "same-v"}})
    assert second.status_code == 409
    other = client.post(vendors, json={"company_id": 1, "vendor": {"name": "Other", "origin_id": "other-v"}})
    assert other.status_code == 201
    taken = client.patch(
        f"{vendors}/{other.json()['id']}",
        json={"company_id": 1, "vendor": {"name": "Other", "origin_id": "same-v"}},
    )
    assert taken.status_code == 409
    same = client.patch(
        f"{vendors}/{vid}", json={"company_id": 1, "vendor": {"name": "Dup 1", "origin_id": "same-v"}}
    )
    assert same.status_code == 200  # its own origin id, written again
    made = client.post(people, json={"person": {"last_name": "Dup1", "origin_id": "same-p"}})
    assert made.status_code == 201
    assert (
        client.post(people, json={"person": {"last_name": "Dup2", "origin_id": "same-p"}}).status_code == 409
    )
    again = client.patch(
        f"{people}/{made.json()['id']}", json={"person": {"last_name": "Dup1", "origin_id": "same-p"}}
    )
    assert again.status_code == 200
    assert [
        v["name"] for v in client.get(vendors, params={"company_id": 1}).json() if v["origin_id"] == "same-v"
    ] == []
