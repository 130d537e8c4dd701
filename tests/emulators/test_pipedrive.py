"""The Pipedrive emulator answers as Pipedrive documents: bodies checked against the vendor's
OpenAPI documents (/work/shared/specs), paging, auth, limits, OAuth and faults."""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from contacthub.emulators.pipedrive import Settings, create_app
from contacthub.emulators.pipedrive_data import Company

SPECS = Path("/work/shared/specs")
TOKEN = "tok-123"
H = {"x-api-token": TOKEN}


def spec_errors(spec: str, path: str, method: str, status: int, body: Any) -> list[str]:
    if not (SPECS / "validate_specs.py").exists():
        pytest.skip("the vendor specs are not on this machine")
    sys.path.insert(0, str(SPECS))
    try:
        from validate_specs import response_errors
    finally:
        sys.path.remove(str(SPECS))
    errors: list[str] = response_errors(spec, path, method, status, body)
    # null where the documents forget ``nullable``: next_cursor (its description says null on
    # the last page), org_id, picture_id, last_name (made nullable "to match real API
    # behavior" in Pipedrive's own client), and v1's org_name and label of a person with none
    return [e for e in errors if not NULLABLE.search(e)]


NULLABLE = re.compile(r"(next_cursor|org_id|picture_id|last_name|org_name|label): None ")


@pytest.fixture
def client() -> Iterator[TestClient]:
    company = Company()
    company.seed(120)
    with TestClient(create_app(Settings(api_token=TOKEN, burst=1000), company)) as c:
        yield c


def test_v2_list_pages_with_a_cursor_and_matches_the_spec(client: TestClient) -> None:
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 50}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/api/v2/persons", params=params, headers=H)
        assert r.status_code == 200
        body = r.json()
        assert spec_errors("pipedrive-persons.json", "/persons", "get", 200, body) == []
        assert body["success"] is True and len(body["data"]) <= 50
        seen += [p["id"] for p in body["data"]]
        pages += 1
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == list(range(1, 121))
    person = client.get("/api/v2/persons/1", headers=H).json()["data"]
    assert len(next(iter(person["custom_fields"]))) == 40
    assert any(
        e["label"] == "home"
        for p in range(1, 10)
        for e in client.get(f"/api/v2/persons/{p}", headers=H).json()["data"]["emails"]
    )


def test_limit_over_500_is_refused(client: TestClient) -> None:
    r = client.get("/api/v2/persons", params={"limit": 501}, headers=H)
    assert r.status_code == 400 and r.json()["success"] is False and "limit" in r.json()["error"]


def test_crud_and_soft_delete_match_the_spec(client: TestClient) -> None:
    body = {
        "name": "Zoë Ångström",
        "emails": [{"value": "zoe@example.se", "label": "work", "primary": True}],
        "phones": [{"value": "+46 8 123 456", "label": "mobile"}],
        "org_id": 1,
    }
    r = client.post("/api/v2/persons", json=body, headers=H)
    assert r.status_code == 200  # v2 creates answer 200, not 201
    created = r.json()
    assert spec_errors("pipedrive-persons.json", "/persons", "post", 200, created) == []
    pid = created["data"]["id"]
    assert created["data"]["first_name"] == "Zoë" and created["data"]["last_name"] == "Ångström"
    assert created["data"]["phones"][0]["primary"] is True  # the first becomes primary
    r = client.patch(f"/api/v2/persons/{pid}", json={"phones": []}, headers=H)
    assert spec_errors("pipedrive-persons.json", "/persons/{id}", "patch", 200, r.json()) == []
    assert r.json()["data"]["phones"] == [] and r.json()["data"]["emails"][0]["value"] == "zoe@example.se"
    r = client.delete(f"/api/v2/persons/{pid}", headers=H)
    assert r.json() == {"success": True, "data": {"id": pid}, "additional_data": None}
    assert spec_errors("pipedrive-persons.json", "/persons/{id}", "delete", 200, r.json()) == []
    got = client.get(f"/api/v2/persons/{pid}", headers=H).json()["data"]
    assert got["is_deleted"] is True
    listed = client.get("/api/v2/persons", params={"ids": str(pid)}, headers=H).json()["data"]
    assert listed == []
    assert client.patch(f"/api/v2/persons/{pid}", json={"name": "x"}, headers=H).status_code == 404


@pytest.mark.parametrize(
    "body,words",
    [
        ({"emails": [{"value": "a@b.c"}]}, "name"),
        ({"name": "A", "visible_to": "3"}, "visible_to"),
        ({"name": "A", "bogus": 1}, "bogus"),
        ({"name": "A", "org_id": 99999}, "Organization"),
        ({"name": "A", "custom_fields": {"f" * 40: "x"}}, "custom field"),
        ({"name": "x" * 256}, "255"),
        (
            {"name": "A", "phones": [{"value": "1", "primary": True}, {"value": "2", "primary": True}]},
            "primary",
        ),
    ],
)
def test_validation_errors_use_the_error_envelope(client: TestClient, body: Any, words: str) -> None:
    r = client.post("/api/v2/persons", json=body, headers=H)
    assert r.status_code == 400
    answer = r.json()
    assert answer["success"] is False and answer["data"] is None and words in answer["error"]


def test_set_and_monetary_custom_values_take_the_v2_shapes_only(client: TestClient) -> None:
    """The migration guide's v2 shapes: a multiple-option field takes an array of numeric
    option ids (v1's "123,456" is refused), a monetary field a value and a currency."""
    company: Company = client.app.state.pd.company  # type: ignore[attr-defined]
    skills = company.add_field("Skills", "set", ["Welding", "Roofing"])
    money = next(f for f in company.custom_fields() if f["field_type"] == "monetary")
    ids = [o["id"] for o in skills["options"]]
    r = client.post("/api/v2/persons", json={"name": "A", "custom_fields": {skills["key"]: ids}}, headers=H)
    assert r.status_code == 200, r.text
    pid = r.json()["data"]["id"]
    assert r.json()["data"]["custom_fields"][skills["key"]] == ids
    v1 = client.get(f"/v1/persons/{pid}", headers=H).json()["data"]
    assert v1[skills["key"]] == f"{ids[0]},{ids[1]}"
    for bad in ("Welding", f"{ids[0]},{ids[1]}", [str(ids[0])], [ids[0], 999999], ids[0]):
        r = client.patch(f"/api/v2/persons/{pid}", json={"custom_fields": {skills["key"]: bad}}, headers=H)
        assert r.status_code == 400 and "Skills" in r.json()["error"], bad
    for bad in (
        {"value": 2300, "currency": None},
        {"value": 2300},
        {"value": "2300", "currency": "EUR"},
        2300,
    ):
        r = client.patch(f"/api/v2/persons/{pid}", json={"custom_fields": {money["key"]: bad}}, headers=H)
        assert r.status_code == 400 and money["name"] in r.json()["error"], bad
    good = {"value": 2300, "currency": "EUR"}
    r = client.patch(f"/api/v2/persons/{pid}", json={"custom_fields": {money["key"]: good}}, headers=H)
    assert r.status_code == 200 and r.json()["data"]["custom_fields"][money["key"]] == good


def test_name_parts_given_with_a_name_are_kept_as_given(client: TestClient) -> None:
    """Only a name alone is split the v1 way (first word, the rest); parts sent with it are
    the person's own ("Mary Ann" was stored as "Mary" / "Ann van der Berg")."""
    body = {"name": "Mary Ann van der Berg", "first_name": "Mary Ann", "last_name": "van der Berg"}
    r = client.post("/api/v2/persons", json=body, headers=H)
    assert r.status_code == 200
    person = r.json()["data"]
    assert (person["name"], person["first_name"], person["last_name"]) == (
        "Mary Ann van der Berg",
        "Mary Ann",
        "van der Berg",
    )


def test_v2_writes_take_json_only(client: TestClient) -> None:
    r = client.post("/api/v2/persons", data={"name": "A"}, headers=H)
    assert r.status_code == 400


def test_updated_since_and_sort_by_update_time(client: TestClient) -> None:
    first = client.get("/api/v2/persons/5", headers=H).json()["data"]["update_time"]
    client.patch("/api/v2/persons/3", json={"name": "Later Person"}, headers=H)
    params = {"updated_since": first, "sort_by": "update_time", "limit": 500}
    data = client.get("/api/v2/persons", params=params, headers=H).json()["data"]
    assert data[-1]["id"] == 3
    times = [p["update_time"] for p in data]
    assert times == sorted(times) and all(t >= first for t in times)
    params["updated_since"] = "2999-01-01T00:00:00Z"
    assert client.get("/api/v2/persons", params=params, headers=H).json()["data"] == []
    assert client.get("/api/v2/persons", params={"updated_since": "yesterday"}, headers=H).status_code == 400


def test_organizations_and_search_match_the_spec(client: TestClient) -> None:
    r = client.get("/api/v2/organizations", headers=H)
    assert spec_errors("pipedrive-persons.json", "/organizations", "get", 200, r.json()) == []
    names = [o["name"] for o in r.json()["data"]]
    assert "Bäckerei Müller GmbH" in names
    one = client.get("/api/v2/organizations/1", headers=H).json()
    assert spec_errors("pipedrive-persons.json", "/organizations/{id}", "get", 200, one) == []
    made = client.post("/api/v2/organizations", json={"name": "New Org"}, headers=H).json()
    assert spec_errors("pipedrive-persons.json", "/organizations", "post", 200, made) == []
    email = client.get("/api/v2/persons/2", headers=H).json()["data"]["emails"][0]["value"]
    found = client.get(
        "/api/v2/persons/search", params={"term": email, "fields": "email", "exact_match": "true"}, headers=H
    ).json()
    assert spec_errors("pipedrive-persons.json", "/persons/search", "get", 200, found) == []
    assert [i["item"]["id"] for i in found["data"]["items"]] == [2]


def test_person_fields_v1_shape_and_paging(client: TestClient) -> None:
    r = client.get("/v1/personFields", params={"start": 0, "limit": 5}, headers=H)
    body = r.json()
    assert spec_errors("pipedrive-persons.json", "/personFields", "get", 200, body) == []
    assert body["additional_data"]["pagination"] == {
        "start": 0,
        "limit": 5,
        "more_items_in_collection": True,
        "next_start": 5,
    }
    every = client.get("/api/v1/personFields", params={"limit": 500}, headers=H).json()["data"]
    custom = [f for f in every if f["edit_flag"]]
    assert {f["name"] for f in custom} >= {"Job title", "Customer type"}
    assert all(len(f["key"]) == 40 and int(f["key"], 16) >= 0 for f in custom)
    enum = next(f for f in custom if f["field_type"] == "enum")
    assert [o["label"] for o in enum["options"]] == ["Private person", "Company", "Partner"]


def test_v1_persons_for_older_clients(client: TestClient) -> None:
    r = client.get("/v1/persons", params={"start": 100, "limit": 50}, headers=H)
    body = r.json()
    assert spec_errors("pipedrive-persons-v1.json", "/persons", "get", 200, body) == []
    assert (
        len(body["data"]) == 20 and body["additional_data"]["pagination"]["more_items_in_collection"] is False
    )
    one = client.get("/v1/persons/2", headers=H).json()
    assert spec_errors("pipedrive-persons-v1.json", "/persons/{id}", "get", 200, one) == []
    assert one["data"]["org_id"]["value"] == 2 and " " in one["data"]["add_time"]
    job_key = next(
        f["key"] for f in client.get("/v1/personFields", headers=H).json()["data"] if f["name"] == "Job title"
    )
    made = client.post(
        "/v1/persons", json={"name": "Old Client", "email": "old@example.com", job_key: "Buyer"}, headers=H
    )
    assert made.status_code == 201
    assert spec_errors("pipedrive-persons-v1.json", "/persons", "post", 201, made.json()) == []
    pid = made.json()["data"]["id"]
    assert made.json()["data"][job_key] == "Buyer"
    assert made.json()["data"]["email"] == [{"value": "old@example.com", "primary": True, "label": "work"}]
    form = client.put(f"/api/v1/persons/{pid}", data={"name": "Form Client"}, headers=H)
    assert form.status_code == 200 and form.json()["data"]["name"] == "Form Client"
    v2 = client.get(f"/api/v2/persons/{pid}", headers=H).json()["data"]
    assert v2["name"] == "Form Client" and v2["custom_fields"][job_key] == "Buyer"
    assert client.delete(f"/v1/persons/{pid}", headers=H).json()["success"] is True
    assert client.get(f"/v1/persons/{pid}", headers=H).json()["data"]["active_flag"] is False


def test_unknown_paths_methods_and_parameters_use_the_envelope(client: TestClient) -> None:
    for response, status in [
        (client.get("/api/v2/persons/abc", headers=H), 400),
        (client.get("/api/v2/nothing", headers=H), 404),
        (client.put("/api/v2/persons/1", json={}, headers=H), 405),
    ]:
        assert response.status_code == status
        assert response.json()["success"] is False and response.json()["data"] is None


def test_auth_header_legacy_query_and_refusals(client: TestClient) -> None:
    assert client.get("/api/v2/persons/1", params={"api_token": TOKEN}).status_code == 200
    r = client.get("/api/v2/persons/1", headers={"x-api-token": "wrong"})
    assert r.status_code == 401
    assert r.json()["success"] is False and r.json()["error"] == "unauthorized access"
    assert TOKEN not in r.text
    missing = client.get("/api/v2/persons/999999", headers=H)
    assert missing.status_code == 404 and missing.json()["error"] == "Entity was not found"


def test_burst_limit_headers_and_429() -> None:
    with TestClient(create_app(Settings(api_token=TOKEN, burst=3), Company())) as c:
        answers = [c.get("/api/v2/persons", headers=H) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert answers[0].headers["x-ratelimit-limit"] == "3"
    assert 1 <= int(answers[3].headers["x-ratelimit-reset"]) <= 2
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert answers[3].json()["success"] is False


def test_daily_token_budget_by_documented_cost() -> None:
    with TestClient(create_app(Settings(api_token=TOKEN, daily_tokens=30), Company())) as c:
        list_call = c.get("/api/v2/persons", headers=H)  # 10 tokens
        made = c.post("/api/v2/persons", json={"name": "A B"}, headers=H)  # 5
        got = c.get(f"/api/v2/persons/{made.json()['data']['id']}", headers=H)  # 1
        assert list_call.headers["x-daily-ratelimit-token-remaining"] == "20"
        assert made.headers["x-daily-ratelimit-token-remaining"] == "15"
        assert made.headers["x-daily-requests-left"] == "9999"  # writes, API token only
        assert "x-daily-requests-left" not in got.headers
        assert got.headers["x-daily-ratelimit-token-remaining"] == "14"
        last = c.get("/api/v2/persons", headers=H)
        assert last.status_code == 200 and last.headers["x-daily-ratelimit-token-remaining"] == "4"
        served = c.get(f"/api/v2/persons/{made.json()['data']['id']}", headers=H)
        assert served.status_code == 200
        drained = c.get("/api/v2/persons", headers=H)  # 3 left, costs 10: served, then none
        assert drained.status_code == 200 and drained.headers["x-daily-ratelimit-token-remaining"] == "0"
        refused = c.get("/api/v2/persons/1", headers=H)
    assert refused.status_code == 429
    assert refused.headers["x-daily-ratelimit-token-remaining"] == "0"
    assert int(refused.headers["Retry-After"]) > 0


def test_oauth_code_then_refresh_basic_auth_form_only() -> None:
    settings = Settings(api_token=TOKEN, client_id="cid", client_secret="csecret")
    basic = {"Authorization": "Basic " + base64.b64encode(b"cid:csecret").decode()}
    with TestClient(create_app(settings, Company())) as c:
        r = c.get(
            "/oauth/authorize",
            params={"client_id": "cid", "redirect_uri": "http://127.0.0.1:9/cb", "state": "s1"},
            follow_redirects=False,
        )
        assert r.status_code == 302
        location = httpx.URL(r.headers["location"])
        assert location.params["state"] == "s1"
        code = location.params["code"]
        as_json = c.post(
            "/oauth/token", json={"grant_type": "authorization_code", "code": code}, headers=basic
        )
        assert as_json.status_code == 400 and "x-www-form-urlencoded" in as_json.json()["message"]
        wrong = c.post(
            "/oauth/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/cb"},
            headers={"Authorization": "Basic " + base64.b64encode(b"cid:nope").decode()},
        )
        assert wrong.status_code == 400 and "client is invalid" in wrong.json()["message"]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/cb"}
        tokens = c.post("/oauth/token", data=form, headers=basic).json()
        assert spec_errors("pipedrive-persons.json", "/oauth/token", "post", 200, tokens) == []
        assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
        assert c.post("/oauth/token", data=form, headers=basic).status_code == 400  # codes are single use
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert c.get("/api/v2/persons", headers=bearer).headers["x-ratelimit-limit"] == "160"
        again = c.post(
            "/oauth/token/",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            headers=basic,
        ).json()
        assert (
            again["refresh_token"] == tokens["refresh_token"]
            and again["access_token"] != tokens["access_token"]
        )
        bad = c.post(
            "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "nope"}, headers=basic
        )
        assert bad.status_code == 400 and "refresh_token is invalid" in bad.json()["message"]
        settings.faults.expire_tokens = True
        assert (
            c.get("/api/v2/persons", headers={"Authorization": f"Bearer {again['access_token']}"}).status_code
            == 401
        )


def test_storm_switch_answers_burst_429s() -> None:
    with TestClient(create_app(Settings(api_token=TOKEN, storm=1.0, storm_wait=3), Company())) as c:
        r = c.get("/api/v2/persons", headers=H)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert r.headers["x-ratelimit-remaining"] == "0"


def test_server_error_fault_switch() -> None:
    settings = Settings(api_token=TOKEN)
    settings.faults.error_rate = 1.0
    with TestClient(create_app(settings, Company())) as c:
        r = c.get("/api/v2/persons", headers=H)
    assert r.status_code in (500, 503) and r.json()["error"] == "Requested service is not available"


def test_contacthub_emulate_pipedrive_announces_itself_first() -> None:
    import json
    import subprocess

    command = [sys.executable, "-m", "contacthub", "emulate", "pipedrive", "--port", "0", "--persons", "3"]
    command += ["--api-token", "cli-token"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["api_token"] == "cli-token" and info["url"].startswith("http://127.0.0.1:")
        body = httpx.get(f"{info['url']}/api/v2/persons", headers={"x-api-token": "cli-token"}).json()
        assert len(body["data"]) == 3 and body["success"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_state_file_keeps_the_data_across_restarts(tmp_path: Path) -> None:
    import json
    import subprocess

    state = tmp_path / "pd.json"
    command = [sys.executable, "-m", "contacthub", "emulate", "pipedrive", "--port", "0", "--persons", "4"]
    command += ["--api-token", "t", "--state", str(state)]
    made = 0
    for round_ in range(2):
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            url = json.loads(proc.stdout.readline())["url"]
            client = httpx.Client(base_url=url, headers={"x-api-token": "t"})
            if round_ == 0:
                made = client.post("/api/v2/persons", json={"name": "Kept Person"}).json()["data"]["id"]
                client.delete("/api/v2/persons/1")
            else:
                names = [p["name"] for p in client.get("/api/v2/persons").json()["data"]]
                assert len(names) == 4 and "Kept Person" in names
                assert client.get("/api/v2/persons/1").json()["data"]["is_deleted"] is True
                again = client.post("/api/v2/persons", json={"name": "Next"}).json()["data"]["id"]
                assert again == made + 1
        finally:
            proc.terminate()
            proc.wait(timeout=10)
