"""The Microsoft 365 emulator answers as Microsoft documents: Graph bodies checked against
Microsoft's OpenAPI description (/work/shared/specs/graph-gal.json), error envelopes, paging,
delta, $batch, throttling, sign-in and consent."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from contacthub.emulators.m365 import Emulator
from tests.connectors.m365_support import emulator, served

SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs"


def _validator() -> Any:
    path = SPECS / "validate_specs.py"
    if not path.exists():
        pytest.skip("the shared vendor specs are not here")
    spec = importlib.util.spec_from_file_location("validate_specs", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["validate_specs"] = module
    spec.loader.exec_module(module)
    return module


def check(path: str, method: str, response: httpx.Response) -> None:
    body = response.json() if response.content else None
    problems = _validator().response_errors("graph-gal.json", path, method, response.status_code, body)
    assert problems == [], problems


@pytest.fixture
def env() -> Iterator[tuple[Emulator, dict[str, Any], httpx.Client, httpx.Client]]:
    emu = emulator(tenants=2, users=30, contacts=4, page_size=7)
    with served(emu) as info:
        tenant = info["tenants"][0]["tenant_id"]

        def token(resource: str) -> str:
            answer = httpx.post(
                f"{info['authority_url']}/{tenant}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": info["client_id"],
                    "client_secret": info["client_secret"],
                    "scope": f"{resource}/.default",
                },
                verify=_ctx(info),
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["token_type"] == "Bearer"
            return str(answer.json()["access_token"])

        graph = httpx.Client(
            base_url=info["graph_url"],
            verify=_ctx(info),
            headers={"Authorization": f"Bearer {token(info['graph_url'])}"},
        )
        exchange = httpx.Client(
            base_url=info["exchange_url"],
            verify=_ctx(info),
            headers={"Authorization": f"Bearer {token(info['exchange_url'])}"},
        )
        yield emu, info, graph, exchange
        graph.close()
        exchange.close()


def _ctx(info: dict[str, Any]) -> Any:
    import ssl

    return ssl.create_default_context(cafile=info["ca_file"])


def test_users_pages_and_schema(env: Any) -> None:
    _emu, _, graph, _ = env
    first = graph.get("/v1.0/users", params={"$top": "10", "$select": "id,displayName,mail,accountEnabled"})
    assert first.status_code == 200
    check("/users", "get", first)
    seen = [u["id"] for u in first.json()["value"]]
    assert set(first.json()["value"][0]) == {"id", "displayName", "mail", "accountEnabled"}
    url = first.json()["@odata.nextLink"]
    while url:
        page = graph.get(url)
        check("/users", "get", page)
        seen += [u["id"] for u in page.json()["value"]]
        url = page.json().get("@odata.nextLink")
    assert len(seen) == len(set(seen)) == 30
    bad = graph.get("/v1.0/users", params={"$top": "1000"})
    assert bad.status_code == 400
    check("/users", "get", bad)
    assert "Must be between 1 and 999 inclusive" in bad.json()["error"]["message"]
    missing = graph.get("/v1.0/users/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"
    check("/users/{user-id}", "get", missing)
    assert {"date", "request-id", "client-request-id"} <= set(missing.json()["error"]["innerError"])


def test_delta_rounds_removed_and_410(env: Any) -> None:
    emu, _, graph, _ = env
    tenant = emu.tenants[0]
    url = "/v1.0/users/delta?$select=id,displayName,jobTitle"
    ids: list[str] = []
    pages = 0
    while True:
        page = graph.get(url)
        assert page.status_code == 200
        check("/users/delta()", "get", page)
        pages += 1
        ids += [u["id"] for u in page.json()["value"]]
        if "@odata.deltaLink" in page.json():
            delta = page.json()["@odata.deltaLink"]
            break
        url = page.json()["@odata.nextLink"]
    assert pages == 5 and len(set(ids)) == 30
    quiet = graph.get(delta)
    assert quiet.json()["value"] == [] and "@odata.deltaLink" in quiet.json()
    some = sorted(tenant.users)[:2]
    tenant.update_user(some[0], {"jobTitle": "Chief"})
    tenant.delete_user(some[1])
    changed = graph.get(quiet.json()["@odata.deltaLink"]).json()
    check("/users/delta()", "get", graph.get(quiet.json()["@odata.deltaLink"]))
    by_id = {item["id"]: item for item in changed["value"]}
    assert by_id[some[0]]["jobTitle"] == "Chief"
    # soft-deleted: restorable from deletedItems for 30 days, which Graph calls "changed"
    assert by_id[some[1]] == {"id": some[1], "@removed": {"reason": "changed"}}
    emu.expire_delta = True
    gone = graph.get(changed["@odata.deltaLink"])
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "syncStateNotFound"
    assert gone.headers["Location"].endswith("/v1.0/users/delta?$deltatoken=")


def test_a_delta_link_older_than_seven_days_answers_400_sync_state_not_found(env: Any) -> None:
    """Microsoft documents an expired directory delta token as 400 syncStateNotFound (not the
    410 reset), with the message below (gal.md section 5)."""
    emu, _, graph, _ = env
    url = "/v1.0/contacts/delta?$select=id,displayName"
    while True:
        page = graph.get(url).json()
        if "@odata.deltaLink" in page:
            break
        url = page["@odata.nextLink"]
    fresh = graph.get(page["@odata.deltaLink"])
    assert fresh.status_code == 200
    real = emu.graph.clock
    emu.graph.clock = lambda: real() + 8 * 24 * 3600
    expired = graph.get(page["@odata.deltaLink"])
    assert expired.status_code == 400
    check("/contacts/delta()", "get", expired)
    error = expired.json()["error"]
    assert error["code"] == "syncStateNotFound"
    assert error["message"].startswith("The sync state generation is not found.")
    assert "Location" not in expired.headers


def test_contacts_delta_shape(env: Any) -> None:
    _emu, _, graph, _ = env
    page = graph.get("/v1.0/contacts/delta?$select=id,displayName,mail,phones,addresses")
    check("/contacts/delta()", "get", page)
    one = page.json()["value"][0]
    got = graph.get(f"/v1.0/contacts/{one['id']}")
    check("/contacts/{orgContact-id}", "get", got)
    assert {p["type"] for p in got.json()["phones"]} == {"business", "mobile", "businessFax"}
    listing = graph.get("/v1.0/contacts")
    check("/contacts", "get", listing)
    refused = graph.patch(f"/v1.0/contacts/{one['id']}", json={"jobTitle": "x"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Authorization_RequestDenied"


def test_group_members_and_batch(env: Any) -> None:
    emu, _, graph, _ = env
    tenant = emu.tenants[0]
    group = next(g for g in tenant.groups.values() if g.display_name == "Field Team")
    found = graph.get("/v1.0/groups", params={"$filter": "displayName eq 'Field Team'"}).json()["value"]
    assert [g["id"] for g in found] == [group.id]
    members = graph.get(f"/v1.0/groups/{group.id}/members", params={"$select": "id,displayName"})
    check("/groups/{group-id}/members", "get", members)
    assert {m["id"] for m in members.json()["value"]} == set(group.members)
    assert all(m["@odata.type"] == "#microsoft.graph.user" for m in members.json()["value"])
    synced = next(u for u in tenant.users.values() if u.props.get("onPremisesSyncEnabled"))
    cloud = next(u for u in tenant.users.values() if not u.props.get("onPremisesSyncEnabled"))
    batch = graph.post(
        "/v1.0/$batch",
        json={
            "requests": [
                {
                    "id": "1",
                    "method": "PATCH",
                    "url": f"/users/{cloud.id}",
                    "headers": {"Content-Type": "application/json"},
                    "body": {"jobTitle": "Lead"},
                },
                {
                    "id": "2",
                    "method": "PATCH",
                    "url": f"/users/{synced.id}",
                    "headers": {"Content-Type": "application/json"},
                    "body": {"jobTitle": "Lead"},
                },
                {"id": "3", "method": "GET", "url": f"/users/{cloud.id}", "dependsOn": ["2"]},
            ]
        },
    )
    assert batch.status_code == 200
    answers = {a["id"]: a for a in batch.json()["responses"]}
    assert answers["1"]["status"] == 204 and cloud.props["jobTitle"] == "Lead"
    assert answers["2"]["status"] == 400
    assert "on-premises mastered Directory Sync objects" in answers["2"]["body"]["error"]["message"]
    assert synced.props["jobTitle"] != "Lead"
    assert answers["3"]["status"] == 424
    too_many = graph.post(
        "/v1.0/$batch",
        json={"requests": [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]},
    )
    assert too_many.status_code == 400


def test_throttling_answers_429_with_retry_after(env: Any) -> None:
    emu, _, graph, _ = env
    emu.graph_limit = 3
    statuses = [graph.get("/v1.0/users", params={"$top": "1"}).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = graph.get("/v1.0/users")
    assert 1 <= int(refused.headers["Retry-After"]) <= 10  # when the 10-second window has room again
    assert refused.json()["error"]["code"] == "TooManyRequests"
    check("/users", "get", refused)


def test_invoke_command_cmdlets_and_errors(env: Any) -> None:
    emu, info, graph, exchange = env
    tenant = emu.tenants[0]
    path = f"/adminapi/beta/{tenant.id}/InvokeCommand"

    def run(name: str, **params: Any) -> httpx.Response:
        return exchange.post(path, json={"CmdletInput": {"CmdletName": name, "Parameters": params}})

    made = run("New-MailContact", Name="Ann Lee", ExternalEmailAddress="ann@partner.example", FirstName="Ann")
    assert made.status_code == 200, made.text
    row = made.json()["value"][0]
    assert row["ExternalEmailAddress"] == "SMTP:ann@partner.example"
    assert row["EmailAddresses@odata.type"] == "#Collection(String)"
    oid = row["ExternalDirectoryObjectId"]
    again = run("New-MailContact", Name="Ann Lee", ExternalEmailAddress="other@partner.example")
    assert again.status_code == 400
    assert "ADObjectAlreadyExistsException" in again.json()["error"]["details"][0]["message"]
    assert run("Set-MailContact", Identity=oid, CustomAttribute15="contacthub:h1").status_code == 200
    assert run("Set-Contact", Identity=oid, Title="Buyer", Notes="likes tea").json()["value"] == []
    mine = run("Get-MailContact", Filter="CustomAttribute15 -like 'contacthub:*'").json()["value"]
    assert [r["ExternalDirectoryObjectId"] for r in mine] == [oid]
    contact = run("Get-Contact", Identity=oid).json()["value"][0]
    assert contact["Title"] == "Buyer" and contact["Notes"] == "likes tea"
    assert graph.get(f"/v1.0/contacts/{oid}").json()["jobTitle"] == "Buyer"  # the Graph view follows
    assert run("Set-MailContact", Identity=oid, HiddenFromAddressListsEnabled=True).status_code == 200
    assert run("Get-MailContact", Identity=oid).json()["value"][0]["HiddenFromAddressListsEnabled"] is True
    bad = run("Set-Contact", Identity=oid, Colour="red")
    assert bad.status_code == 400 and "ParameterBindingException" in bad.text
    assert run("Remove-MailContact", Identity=oid, Confirm=False).status_code == 200
    missing = run("Get-MailContact", Identity=oid)
    assert missing.status_code == 404
    assert "ManagementObjectNotFoundException" in missing.json()["error"]["details"][0]["message"]
    paged = exchange.post(
        path,
        json={"CmdletInput": {"CmdletName": "Get-Contact", "Parameters": {}}},
        headers={"Prefer": "odata.maxpagesize=2"},
    ).json()
    assert len(paged["value"]) == 2 and "@odata.nextLink" in paged
    # a Graph token is not an Exchange token
    wrong = httpx.post(
        f"{info['exchange_url']}{path}", json={}, headers=dict(graph.headers), verify=_ctx(info)
    )
    assert wrong.status_code == 401


def test_sign_in_and_consent(env: Any) -> None:
    _emu, info, _, _ = env
    partner = info["tenants"][1]["tenant_id"]
    form = {
        "grant_type": "client_credentials",
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "scope": f"{info['graph_url']}/.default",
    }
    url = f"{info['authority_url']}/{partner}/oauth2/v2.0/token"
    refused = httpx.post(url, data=form, verify=_ctx(info))
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    assert "AADSTS700016" in refused.json()["error_description"]
    wrong = httpx.post(
        f"{info['authority_url']}/{info['tenants'][0]['tenant_id']}/oauth2/v2.0/token",
        data={**form, "client_secret": "nope"},
        verify=_ctx(info),
    )
    assert wrong.status_code == 401 and "AADSTS7000215" in wrong.json()["error_description"]
    assert "nope" not in wrong.text
    consent = httpx.get(
        f"{info['authority_url']}/organizations/adminconsent",
        params={"client_id": info["client_id"], "redirect_uri": "http://127.0.0.1:9/cb", "state": "s1"},
        verify=_ctx(info),
    )
    assert consent.status_code == 302
    query = parse_qs(urlsplit(consent.headers["location"]).query)
    assert query == {"admin_consent": ["True"], "tenant": [partner], "state": ["s1"]}
    assert httpx.post(url, data=form, verify=_ctx(info)).status_code == 200
    config = httpx.get(
        f"{info['authority_url']}/{partner}/v2.0/.well-known/openid-configuration", verify=_ctx(info)
    ).json()
    assert config["token_endpoint"].endswith(f"/{partner}/oauth2/v2.0/token")


def test_contacthub_emulate_m365_announces_itself() -> None:
    """``contacthub emulate m365``: the first stdout line is JSON with everything a connector
    needs; the TLS certificate it names is the one the server presents."""
    import json
    import subprocess

    command = [
        sys.executable,
        "-m",
        "contacthub",
        "emulate",
        "m365",
        "--port",
        "0",
        "--tenants",
        "2",
        "--users",
        "3",
        "--contacts",
        "1",
        "--consent",
        "all",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert {"authority_url", "graph_url", "exchange_url", "ca_file", "client_id", "client_secret"} <= set(
            info
        )
        assert [t["consented"] for t in info["tenants"]] == [True, True]
        tenant = info["tenants"][1]["tenant_id"]
        answer = httpx.get(
            f"{info['authority_url']}/{tenant}/v2.0/.well-known/openid-configuration", verify=_ctx(info)
        )
        assert answer.status_code == 200 and answer.json()["issuer"].endswith(f"/{tenant}/v2.0")
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_users_filter_on_proxy_addresses_takes_the_any_lambda(env: Any) -> None:
    """Graph filters a string collection with ``any``: ``proxyAddresses/any(x:x eq '...')``,
    compared without regard to case; a bare ``eq`` on a collection is not a query it takes."""
    emu, _, graph, _ = env
    user = next(iter(emu.tenants[0].users.values()))
    emu.tenants[0].update_user(
        user.id, {"mail": None, "proxyAddresses": ["SMTP:ann@x.example", "smtp:a@y.example"]}
    )
    for wanted in (
        "proxyAddresses/any(x:x eq 'smtp:ann@x.example')",
        "proxyAddresses/any(p: p eq 'SMTP:A@Y.EXAMPLE')",
    ):
        found = graph.get("/v1.0/users", params={"$filter": wanted, "$select": "id,mail"})
        assert found.status_code == 200, found.text
        check("/users", "get", found)
        assert [u["id"] for u in found.json()["value"]] == [user.id]
    none = graph.get("/v1.0/users", params={"$filter": "proxyAddresses/any(x:x eq 'smtp:nobody@x.example')"})
    assert none.status_code == 200 and none.json()["value"] == []
    for bad in ("proxyAddresses eq 'smtp:ann@x.example'", "displayName/any(x:x eq 'Ann')"):
        refused = graph.get("/v1.0/users", params={"$filter": bad})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "Request_UnsupportedQuery"
