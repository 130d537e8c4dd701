"""The GAL connector against the emulator: delta reads, deletions, resync, scope, writes that
never touch what is not ours, users, throttling, and inviting a partner tenant."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from contacthub.connectors.base import ConnectorConfig, MemoryCredentials, Record, WriteOp
from contacthub.connectors.m365 import M365GalConnector, complete_consent
from contacthub.emulators.m365 import Emulator
from contacthub.errors import ConfigError, FatalConnectorError, RecordError, StaleVersionError, UserError
from tests.connectors.conformance import sample
from tests.connectors.m365_support import app_cert, connector, emulator, served, settings


@pytest.fixture
def env() -> Iterator[tuple[Emulator, dict[str, Any]]]:
    emu = emulator(tenants=2, users=40, contacts=6, page_size=15)
    with served(emu) as info:
        yield emu, info


def pull_all(conn: M365GalConnector, cursor: str | None, known: dict[str, str]) -> tuple[list[Record], Any]:
    pull = conn.pull(cursor, known)
    records = [r for r in pull.records if isinstance(r, Record)]
    return records, pull


def in_scope_users(emu: Emulator, tenant: int = 0) -> set[str]:
    return {
        f"users/{u.id}"
        for u in emu.tenants[tenant].users.values()
        if not u.deleted and u.props["accountEnabled"]
    }


def test_first_pull_lists_users_and_contacts_then_a_noop_costs_one_call_per_type(env: Any) -> None:
    emu, info = env
    conn = connector(info)
    records, pull = pull_all(conn, None, {})
    ids = {r.native_id for r in records}
    contacts = {f"contacts/{c.id}" for c in emu.tenants[0].contacts.values()}
    assert ids == in_scope_users(emu) | contacts  # the disabled account is left out
    assert pull.complete and pull.listed == len(ids) and pull.deleted == set()
    adele = next(r for r in records if r.native_id.startswith("users/") and r.fields.get("job_title"))
    assert adele.fields["emails"][0]["type"] == "work" and adele.fields["phones"][0]["value"].startswith(
        "+1206"
    )
    known = {r.native_id: r.version for r in records}
    before = conn.graph_calls()
    again, quiet = pull_all(conn, pull.cursor, known)
    assert again == [] and quiet.deleted == set() and not quiet.complete
    assert conn.graph_calls() - before == 2  # one delta call per object type
    assert conn.api_calls().get("POST", 0) == 1  # Exchange: our own contacts, listed once on the first pull
    conn.close()


@pytest.mark.parametrize("mail", ["ann+sales@contoso.example", "o'brien&co@contoso.example"])
def test_find_looks_up_an_email_with_a_plus_a_quote_or_an_ampersand(env: Any, mail: str) -> None:
    """The filter went into the URL as typed: the ``+`` of a plus-address was read as a space
    and the user was not found; an ``&`` cut the filter short."""
    emu, info = env
    user = next(u for u in emu.tenants[0].users.values() if not u.deleted and u.props["accountEnabled"])
    user.props["mail"] = mail
    conn = connector(info)
    found = conn.find([f"email:{mail}"])
    assert found is not None and found.native_id == f"users/{user.id}"
    assert conn.find(["email:ann sales@contoso.example"]) is None
    conn.close()


def test_delta_after_three_edits_fetches_only_those_three(env: Any) -> None:
    emu, info = env
    conn = connector(info)
    records, pull = pull_all(conn, None, {})
    known = {r.native_id: r.version for r in records}
    tenant = emu.tenants[0]
    users = sorted(u for u in tenant.users if f"users/{u}" in known)[:2]
    tenant.update_user(users[0], {"jobTitle": "Chief Estimator"})
    tenant.update_user(users[1], {"mobilePhone": "+1 425 555 9999"})
    external = sorted(tenant.contacts)[0]
    tenant.update_contact(external, {"Title": "Buyer"})
    served_before = emu.graph.calls
    changed, later = pull_all(conn, pull.cursor, known)
    assert sorted(r.native_id for r in changed) == sorted(
        [f"users/{users[0]}", f"users/{users[1]}", f"contacts/{external}"]
    )
    assert emu.graph.calls - served_before == 2
    by_id = {r.native_id: r for r in changed}
    assert by_id[f"users/{users[0]}"].fields["job_title"] == "Chief Estimator"
    assert by_id[f"contacts/{external}"].fields["job_title"] == "Buyer"
    assert by_id[f"contacts/{external}"].hub_id is None  # not ours
    assert later.cursor != pull.cursor
    conn.close()


def test_removed_items_are_deletions_and_leaving_the_scope_too(env: Any) -> None:
    emu, info = env
    conn = connector(info)
    records, pull = pull_all(conn, None, {})
    known = {r.native_id: r.version for r in records}
    tenant = emu.tenants[0]
    users = sorted(u for u in tenant.users if f"users/{u}" in known)
    tenant.delete_user(users[0])
    tenant.update_user(users[1], {"accountEnabled": False})
    contact = sorted(tenant.contacts)[0]
    tenant.delete_contact(contact)
    changed, later = pull_all(conn, pull.cursor, known)
    assert changed == []
    assert later.deleted == {f"users/{users[0]}", f"users/{users[1]}", f"contacts/{contact}"}
    conn.close()


def test_410_starts_a_full_resync_that_loses_nothing(env: Any) -> None:
    emu, info = env
    conn = connector(info)
    records, pull = pull_all(conn, None, {})
    known = {r.native_id: r.version for r in records}
    tenant = emu.tenants[0]
    users = sorted(u for u in tenant.users if f"users/{u}" in known)
    tenant.update_user(users[0], {"department": "Estimating"})
    tenant.delete_user(users[1])
    added = tenant.add_user(
        {
            "displayName": "New Person",
            "mail": "new@contoso.example",
            "accountEnabled": True,
            "userType": "Member",
        }
    )
    emu.expire_delta = True
    changed, resync = pull_all(conn, pull.cursor, known)
    emu.expire_delta = False
    assert sorted(r.native_id for r in changed) == sorted([f"users/{users[0]}", f"users/{added.id}"])
    assert resync.deleted == {f"users/{users[1]}"}
    for record in changed:
        known[record.native_id] = record.version
    known.pop(f"users/{users[1]}")
    again, quiet = pull_all(conn, resync.cursor, known)
    assert again == [] and quiet.deleted == set()
    conn.close()


def test_an_expired_delta_link_400_starts_a_full_round_and_a_new_cursor(env: Any) -> None:
    """A deltaLink older than 7 days answers 400 syncStateNotFound: the run reads everything
    again and saves a new cursor, instead of failing now and on every later run."""
    emu, info = env
    conn = connector(info)
    records, pull = pull_all(conn, None, {})
    known = {r.native_id: r.version for r in records}
    tenant = emu.tenants[0]
    users = sorted(u for u in tenant.users if f"users/{u}" in known)
    tenant.update_user(users[0], {"department": "Estimating"})
    tenant.delete_user(users[1])
    real = emu.graph.clock
    emu.graph.clock = lambda: real() + 8 * 24 * 3600
    changed, resync = pull_all(conn, pull.cursor, known)
    assert [r.native_id for r in changed] == [f"users/{users[0]}"]
    assert resync.deleted == {f"users/{users[1]}"} and resync.complete
    assert resync.cursor != pull.cursor
    for record in changed:
        known[record.native_id] = record.version
    known.pop(f"users/{users[1]}")
    again, quiet = pull_all(conn, resync.cursor, known)
    assert again == [] and quiet.deleted == set()
    conn.close()


@pytest.mark.parametrize("code", ["syncStateNotFound", "syncStateInvalid", "resyncRequired"])
def test_delta_answers_naming_a_lost_sync_state_raise_resync_needed(code: str) -> None:
    from contacthub.connectors.http import ApiClient
    from contacthub.connectors.m365_graph import GraphClient, ResyncNeeded

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"code": code, "message": "expired"}})

    api = ApiClient("https://graph.example", connector="gal", transport=httpx.MockTransport(answer))
    graph = GraphClient(api, "gal")
    with pytest.raises(ResyncNeeded):
        list(graph.delta("users", ["id"], "https://graph.example/v1.0/users/delta?$deltatoken=old"))


def test_other_delta_400s_stay_errors() -> None:
    from contacthub.connectors.http import ApiClient
    from contacthub.connectors.m365_graph import GraphClient

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"code": "Request_BadRequest", "message": "bad"}})

    api = ApiClient("https://graph.example", connector="gal", transport=httpx.MockTransport(answer))
    with pytest.raises(FatalConnectorError):
        list(GraphClient(api, "gal").delta("users", ["id"], None))


def test_member_of_reads_only_the_group_and_follows_membership(env: Any) -> None:
    emu, info = env
    tenant = emu.tenants[0]
    group = next(g for g in tenant.groups.values() if g.display_name == "Field Team")
    conn = connector(info, objects=["users"], member_of=["Field Team"])
    records, pull = pull_all(conn, None, {})
    enabled = {u.id for u in tenant.users.values() if u.props["accountEnabled"]}
    assert {r.native_id for r in records} == {f"users/{m}" for m in group.members if m in enabled}
    known = {r.native_id: r.version for r in records}
    leaving = group.members[0]
    joining = next(u for u in sorted(enabled) if u not in group.members)
    group.members.remove(leaving)
    group.members.append(joining)
    changed, later = pull_all(conn, pull.cursor, known)
    assert [r.native_id for r in changed] == [f"users/{joining}"]
    assert later.deleted == {f"users/{leaving}"}
    conn.close()


def test_contacts_not_ours_are_never_written(env: Any) -> None:
    emu, info = env
    tenant = emu.tenants[0]
    conn = connector(info)
    records, _ = pull_all(conn, None, {})
    theirs = [r for r in records if r.native_id.startswith("contacts/")]
    before = copy.deepcopy({c.id: c.props for c in tenant.contacts.values()})
    ops = []
    for record in theirs[:3]:
        ops.append(
            WriteOp(
                "update", "h", {**record.fields, "job_title": "Changed"}, record.native_id, record.version
            )
        )
    ops.append(WriteOp("delete", "h", {}, theirs[3].native_id, theirs[3].version))
    ops.append(WriteOp("deactivate", "h", {}, theirs[4].native_id, theirs[4].version))
    results = conn.write(ops)
    assert all(isinstance(r.error, RecordError) for r in results)
    assert all("not created by contacthub" in str(r.error) for r in results)
    assert {c.id: c.props for c in tenant.contacts.values()} == before
    assert not any(c.deleted for c in tenant.contacts.values())
    conn.close()


def test_our_contacts_carry_the_anchor_hide_on_deactivate_and_come_back(env: Any) -> None:
    emu, info = env
    tenant = emu.tenants[0]
    conn = connector(info, anchor_attribute=7, anchor_prefix="hubA")
    [made] = conn.write([WriteOp("create", "hub-42", sample(3, notes="met at expo"))])
    assert made.error is None and made.native_id
    oid = made.native_id.split("/")[1]
    assert tenant.contacts[oid].props["CustomAttribute7"] == "hubA:hub-42"
    assert conn.get(made.native_id).hub_id == "hub-42"
    assert conn.get(made.native_id).fields["notes"] == "met at expo"
    [hidden] = conn.write([WriteOp("deactivate", "hub-42", {}, made.native_id, made.version)])
    assert hidden.error is None and tenant.contacts[oid].props["HiddenFromAddressListsEnabled"] is True
    [back] = conn.write([WriteOp("create", "hub-42", sample(3, notes="met at expo"))])  # replayed / restored
    assert back.native_id == made.native_id
    assert tenant.contacts[oid].props["HiddenFromAddressListsEnabled"] is False
    assert len([c for c in tenant.live_contacts() if c.props.get("CustomAttribute7")]) == 1
    other = connector(info, anchor_attribute=7, anchor_prefix="hubB")
    [refused] = other.write([WriteOp("delete", "x", {}, made.native_id, None)])
    assert (
        isinstance(refused.error, RecordError) and oid in tenant.contacts and not tenant.contacts[oid].deleted
    )
    [nomail] = conn.write([WriteOp("create", "hub-43", {"given_name": "No", "family_name": "Mail"})])
    assert nomail.error is not None and "email" in nomail.error.message
    conn.close()
    other.close()


def test_users_are_patched_in_batches_only_when_allowed(env: Any) -> None:
    emu, info = env
    tenant = emu.tenants[0]
    reader = connector(info, objects=["users"])
    records, _ = pull_all(reader, None, {})
    cloud = [r for r in records if not tenant.users[r.native_id[6:]].props.get("onPremisesSyncEnabled")][:25]
    synced = next(r for r in records if tenant.users[r.native_id[6:]].props.get("onPremisesSyncEnabled"))
    [refused] = reader.write(
        [WriteOp("update", "h", {**cloud[0].fields, "job_title": "X"}, cloud[0].native_id, None)]
    )
    assert refused.error is not None and "write_users" in refused.error.message
    writer = connector(info, objects=["users"], write_users=True)
    ops = [
        WriteOp("update", f"h{i}", {**r.fields, "job_title": f"Title {i}"}, r.native_id, r.version)
        for i, r in enumerate(cloud)
    ]
    ops.append(
        WriteOp("update", "hs", {**synced.fields, "job_title": "Nope"}, synced.native_id, synced.version)
    )
    ops.append(WriteOp("delete", "hd", {}, cloud[0].native_id, None))
    posts = writer.api_calls().get("POST", 0)
    results = writer.write(ops)
    assert [r.error is None for r in results] == [True] * 25 + [False, False]
    assert "on-premises Active Directory" in str(results[25].error)
    assert tenant.users[synced.native_id[6:]].props["jobTitle"] != "Nope"
    assert tenant.users[cloud[7].native_id[6:]].props["jobTitle"] == "Title 7"
    assert writer.api_calls()["POST"] - posts == 4  # 25 reads and 25 patches, 20 per $batch
    assert writer.get(cloud[7].native_id).version == results[7].version
    [stale] = writer.write([WriteOp("update", "h", cloud[1].fields, cloud[1].native_id, cloud[1].version)])
    assert isinstance(stale.error, StaleVersionError)
    reader.close()
    writer.close()


def test_a_users_properties_the_hub_did_not_change_are_not_written(env: Any) -> None:
    """QA: only the title changed, yet the PATCH rewrote the user's phones as the hub
    spells them ("+1 (206) 555-7003" as "+12065557003") and their business phones as the
    one the hub reads (the second dropped): every property whose raw value differed from
    the hub's normalised one was sent. Only a change of meaning is sent now; a changed work
    phone is sent as the one number Graph lets an app set."""
    emu, info = env
    tenant = emu.tenants[0]
    user = tenant.add_user(
        {
            "displayName": "Two Phones",
            "givenName": "Two",
            "surname": "Phones",
            "mail": "two.phones@contoso.example",
            "userPrincipalName": "two.phones@contoso.example",
            "businessPhones": ["+1 206 555 7001", "+1 206 555 7002"],
            "mobilePhone": "+1 (206) 555-7003",
            "jobTitle": "Old",
            "accountEnabled": True,
            "userType": "Member",
        }
    )
    writer = connector(info, objects=["users"], write_users=True)
    record = writer.get(f"users/{user.id}")
    assert [p["value"] for p in record.fields["phones"]] == ["+12065557001", "+12065557003"]
    [done] = writer.write(
        [WriteOp("update", "h", {**record.fields, "job_title": "New"}, record.native_id, record.version)]
    )
    assert done.error is None, done.error
    assert user.props["jobTitle"] == "New"
    assert user.props["businessPhones"] == ["+1 206 555 7001", "+1 206 555 7002"]
    assert user.props["mobilePhone"] == "+1 (206) 555-7003"
    assert done.version == writer.get(record.native_id).version
    phones = [{"value": "+12065557009", "type": "work"}, {"value": "+12065557003", "type": "cell"}]
    [moved] = writer.write(
        [WriteOp("update", "h", {**done.fields, "phones": phones}, record.native_id, None)]
    )
    assert moved.error is None, moved.error
    assert user.props["businessPhones"] == ["+12065557009"]  # Graph sets one number only
    assert user.props["mobilePhone"] == "+1 (206) 555-7003"
    writer.close()


def test_a_mail_contacts_properties_the_hub_did_not_change_are_not_written(env: Any) -> None:
    """The same for our mail contacts: a phone typed in Exchange in its own spelling stays
    as typed when only the title changes (Set-Contact sent every phone in E.164)."""
    emu, info = env
    tenant = emu.tenants[0]
    conn = connector(info)
    [made] = conn.write([WriteOp("create", "hub-p", sample(3))])
    assert made.error is None, made.error
    contact = tenant.contacts[(made.native_id or "")[len("contacts/") :]]
    tenant.update_contact(contact.id, {"MobilePhone": "+1 (202) 555-1003", "Phone": "+1 202-555-1004"})
    record = conn.get(made.native_id or "")
    [done] = conn.write(
        [
            WriteOp(
                "update", "hub-p", {**record.fields, "job_title": "Foreman"}, record.native_id, record.version
            )
        ]
    )
    assert done.error is None, done.error
    assert contact.props["Title"] == "Foreman"
    assert (contact.props["MobilePhone"], contact.props["Phone"]) == ("+1 (202) 555-1003", "+1 202-555-1004")
    conn.close()


def test_a_throttling_storm_converges(env: Any) -> None:
    emu, info = env
    emu.retry_after = 0
    emu.throttle_rate = 0.35
    conn = connector(info)
    records, _ = pull_all(conn, None, {})
    assert len(records) == len(in_scope_users(emu)) + 6
    results = conn.write([WriteOp("create", f"hub-{i}", sample(i)) for i in range(8)])
    assert [r.error for r in results] == [None] * 8
    emu.throttle_rate = 0.0
    ours = [c for c in emu.tenants[0].live_contacts() if c.props.get("CustomAttribute15")]
    assert sorted(c.props["CustomAttribute15"] for c in ours) == sorted(
        f"contacthub:hub-{i}" for i in range(8)
    )
    assert emu.throttled > 10
    conn.close()


def test_throttled_requests_inside_a_batch_are_sent_again(env: Any) -> None:
    emu, info = env
    tenant = emu.tenants[0]
    writer = connector(info, objects=["users"], write_users=True)
    records, _ = pull_all(writer, None, {})
    cloud = [r for r in records if not tenant.users[r.native_id[6:]].props.get("onPremisesSyncEnabled")][:30]
    emu.retry_after, emu.throttle_rate = 0, 0.4
    before = emu.throttled
    ops = [
        WriteOp("update", f"h{i}", {**r.fields, "department": f"Dept {i}"}, r.native_id, r.version)
        for i, r in enumerate(cloud)
    ]
    results = writer.write(ops)
    emu.throttle_rate = 0.0
    assert [r.error for r in results] == [None] * 30
    assert [tenant.users[r.native_id[6:]].props["department"] for r in cloud] == [
        f"Dept {i}" for i in range(30)
    ]
    assert emu.throttled - before > 5
    writer.close()


def test_retry_after_is_honoured(env: Any) -> None:
    emu, info = env
    emu.graph_limit, emu.graph_window = 2, 1.0  # the third call within a second waits
    emu.retry_after = 1
    conn = connector(info, objects=["users"])
    started = time.monotonic()
    records, _ = pull_all(conn, None, {})
    assert records and conn.graph().api.waited >= 1 and time.monotonic() - started >= 1
    conn.close()


# --- partner tenants by invitation ---------------------------------------------------------


class ConsentUI:
    """Plays the other organisation's admin: opens the consent link and follows it."""

    def __init__(self, info: dict[str, Any], state: str | None = None) -> None:
        self.info = info
        self.forced_state = state
        self.links: list[str] = []
        self.said: list[str] = []

    def echo(self, text: str) -> None:
        self.said.append(text)

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        raise AssertionError("no question may be asked: no password of the other organisation")

    def open_link(self, url: str) -> None:
        self.links.append(url)

    def wait_for_redirect(self, redirect_uri: str, state: str, timeout: float = 600) -> dict[str, str]:
        import ssl

        answer = httpx.get(self.links[-1], verify=ssl.create_default_context(cafile=self.info["ca_file"]))
        assert answer.status_code == 302
        location = answer.headers["location"]
        assert location.startswith(redirect_uri)
        params = dict(parse_qsl(urlsplit(location).query))
        if self.forced_state is not None:
            params["state"] = self.forced_state
        return params


def partner_config(info: dict[str, Any]) -> ConnectorConfig:
    values = settings(info, 1)
    values.pop("tenant_id")
    return ConnectorConfig("partner", values, credentials=MemoryCredentials())


def test_invitation_round_trip(env: Any) -> None:
    emu, info = env
    partner = info["tenants"][1]["tenant_id"]
    config = partner_config(info)
    blocked = M365GalConnector(ConnectorConfig("partner", settings(info, 1)))
    with pytest.raises(FatalConnectorError, match="AADSTS700016"):
        blocked.check()
    blocked.close()
    with pytest.raises(FatalConnectorError, match="--invite"):
        M365GalConnector(config).check()
    ui = ConsentUI(info)
    M365GalConnector.connect(config, ui, invite=True)
    link = urlsplit(ui.links[0])
    assert link.path == "/organizations/adminconsent"
    assert set(dict(parse_qsl(link.query))) == {"client_id", "redirect_uri", "state"}
    assert config.credentials.load() == {"tenant_id": partner}
    conn = M365GalConnector(config)
    records, _ = pull_all(conn, None, {})
    assert {r.native_id for r in records if r.native_id.startswith("users/")} == in_scope_users(emu, 1)
    conn.close()


def test_declined_or_mismatched_consent_is_a_clear_error(env: Any) -> None:
    emu, info = env
    emu.decline_consent = True
    config = partner_config(info)
    with pytest.raises(UserError, match="did not grant access"):
        M365GalConnector.connect(config, ConsentUI(info), invite=True)
    emu.decline_consent = False
    with pytest.raises(UserError, match="another state"):
        M365GalConnector.connect(config, ConsentUI(info, state="forged"), invite=True)
    assert config.credentials.load() == {}
    with pytest.raises(UserError, match="admin_consent"):
        complete_consent({"state": "s", "tenant": "t"}, "s")


def test_invitation_through_the_terminal_listener(env: Any) -> None:
    """The CLI's own redirect listener (``contacthub connect --invite``) receives the answer."""
    from contacthub.signin import TerminalUI

    _emu, info = env
    config = partner_config(info)
    with socket_port() as port:
        config.settings["redirect_uri"] = f"http://127.0.0.1:{port}/m365/consent"

    class Admin(TerminalUI):
        def open_link(self, url: str) -> None:
            super().open_link(url)
            threading.Thread(target=follow, args=(url,), daemon=True).start()

    def follow(url: str) -> None:
        import ssl

        answer = httpx.get(url, verify=ssl.create_default_context(cafile=info["ca_file"]))
        for _ in range(100):
            try:
                httpx.get(answer.headers["location"])
                return
            except httpx.TransportError:
                time.sleep(0.05)

    M365GalConnector.connect(config, Admin(browser=False), invite=True)
    assert config.credentials.load()["tenant_id"] == info["tenants"][1]["tenant_id"]


class socket_port:
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port: int = self.sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_contacthub_connect_invite_from_the_command_line(
    env: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``contacthub connect HUB gal --invite``: the link goes to the 'browser' (the partner's
    admin here), the CLI's listener gets the answer, the tenant id is stored encrypted, and
    ``contacthub sync`` then reads the partner's GAL."""
    import json
    import ssl
    import webbrowser

    from typer.testing import CliRunner

    from contacthub.cli import app

    emu, info = env
    with socket_port() as port:
        redirect = f"http://127.0.0.1:{port}/m365/consent"
    values = settings(info, 1, redirect_uri=redirect, objects=["users"])
    values.pop("tenant_id")
    block = "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
    hub_file = tmp_path / "hub.toml"
    hub_file.write_text(
        f'[hubs.p]\n[[hubs.p.connectors]]\nname = "gal"\ntype = "m365-gal"\ndirection = "to-hub"\n{block}\n'
    )
    db = f"sqlite:///{tmp_path / 'hub.db'}"

    def admin(url: str, *args: Any, **kwargs: Any) -> bool:
        def follow() -> None:
            answer = httpx.get(url, verify=ssl.create_default_context(cafile=info["ca_file"]))
            for _ in range(100):
                try:
                    httpx.get(answer.headers["location"])
                    return
                except httpx.TransportError:
                    time.sleep(0.05)

        threading.Thread(target=follow, daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", admin)
    runner = CliRunner()
    assert runner.invoke(app, ["--database", db, "apply", str(hub_file)]).exit_code == 0
    result = runner.invoke(app, ["--database", db, "connect", "p", "gal", "--invite"])
    assert result.exit_code == 0, result.output
    assert info["client_secret"] not in result.output
    result = runner.invoke(app, ["--database", db, "sync", "p", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["changes"]["hub"]["create"] == len(in_scope_users(emu, 1))


def test_write_budget_waits_for_room() -> None:
    from contacthub.connectors.http import ApiClient
    from contacthub.connectors.m365 import WriteBudget

    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    api = ApiClient(
        "https://example.invalid", connector="t", sleep=sleep, clock=lambda: now[0], max_wait=1000
    )
    budget = WriteBudget(3, 150.0, api)
    budget.spend(3)
    assert slept == []
    now[0] += 10
    budget.spend()
    assert slept == [pytest.approx(140.0)]
    api.close()


def test_exchange_errors_are_read_from_the_cmdlet_details() -> None:
    """The cmdlet's own message and type name hide in ``error.details[].message`` as JSON;
    a 403 means the app lacks its Exchange role: the connector cannot work at all."""
    import json

    from contacthub.connectors.http import ApiClient
    from contacthub.connectors.m365_exchange import CmdletError, ExchangeClient

    def answer(request: httpx.Request) -> httpx.Response:
        name = json.loads(request.content)["CmdletInput"]["CmdletName"]
        if name == "Get-Mailbox":
            return httpx.Response(403, json={"error": {"code": "Forbidden", "message": "Access denied"}})
        detail = json.dumps(
            {
                "Message": "The object 'x' couldn't be found.",
                "TypeName": "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
            }
        )
        return httpx.Response(
            404,
            json={
                "error": {
                    "code": "NotFound",
                    "message": "Error executing cmdlet",
                    "details": [{"code": "Context", "message": detail}],
                }
            },
        )

    api = ApiClient("https://exchange.invalid", connector="t", transport=httpx.MockTransport(answer))
    client = ExchangeClient(api, "tid", "t")
    with pytest.raises(CmdletError) as info:
        client.run("Get-MailContact", Identity="x")
    assert info.value.not_found and info.value.message == "The object 'x' couldn't be found."
    with pytest.raises(FatalConnectorError, match="Exchange Recipient Administrator"):
        client.run("Get-Mailbox")
    api.close()


def _failing(emu: Emulator, monkeypatch: pytest.MonkeyPatch, cmdlet: str, after: bool) -> dict[str, bool]:
    """Make ``cmdlet`` answer 503 while ``on`` (``after``: done first, its answer lost)."""
    from contacthub.emulators.m365_wire import Reply

    switch = {"on": True}
    real = type(emu.exchange).invoke

    def invoke(self: Any, tenant: Any, base: str, body: Any, *rest: Any) -> Reply:
        if switch["on"] and (body.get("CmdletInput") or {}).get("CmdletName") == cmdlet:
            if after:
                real(self, tenant, base, body, *rest)
            return Reply(
                503, {"error": {"code": "ServiceUnavailable", "message": "busy"}}, {"Retry-After": "0"}
            )
        return real(self, tenant, base, body, *rest)

    monkeypatch.setattr(type(emu.exchange), "invoke", invoke)
    return switch


@pytest.mark.parametrize("lost", ["Set-MailContact", "New-MailContact"])
def test_a_create_left_unmarked_by_a_failure_is_finished_later_and_only_ours(
    env: Any, monkeypatch: pytest.MonkeyPatch, lost: str
) -> None:
    """New-MailContact takes no CustomAttribute: the anchor is a second call, and when it
    (or the create's answer) is lost the contact exists unmarked. The next write for that
    hub contact marks and finishes it; an admin's unmarked contact stays untouched."""
    emu, info = env
    tenant = emu.tenants[0]
    saved = MemoryCredentials()
    conn = M365GalConnector(ConnectorConfig("gal", settings(info), credentials=saved))
    switch = _failing(emu, monkeypatch, lost, after=lost == "New-MailContact")
    fields = sample(5, job_title="Buyer")
    with pytest.raises(Exception, match="503"):
        conn.write([WriteOp("create", "hub-5", fields)])
    switch["on"] = False
    conn.close()
    [made] = [
        c
        for c in tenant.live_contacts()
        if str(c.props.get("ExternalEmailAddress")).lower() == "smtp:person5@example.com"
    ]
    assert not made.props.get("CustomAttribute15")
    later = M365GalConnector(ConnectorConfig("gal", settings(info), credentials=saved))
    theirs = next(
        c for c in tenant.live_contacts() if c.id != made.id and not c.props.get("CustomAttribute15")
    )
    [refused] = later.write([WriteOp("update", "hub-5", fields, f"contacts/{theirs.id}", None)])
    assert refused.error is not None and "not created by contacthub" in refused.error.message
    if lost == "Set-MailContact":  # the engine found it by its address: an update
        op = WriteOp("update", "hub-5", {**fields, "job_title": "Head Buyer"}, f"contacts/{made.id}", None)
    else:  # the create is tried again
        op = WriteOp("create", "hub-5", {**fields, "job_title": "Head Buyer"})
    [done] = later.write([op])
    assert done.error is None and done.native_id == f"contacts/{made.id}"
    assert made.props["CustomAttribute15"] == "contacthub:hub-5"
    assert made.props["Title"] == "Head Buyer" and made.props["MobilePhone"]
    assert (
        len(
            [
                c
                for c in tenant.live_contacts()
                if str(c.props.get("ExternalEmailAddress")).lower() == "smtp:person5@example.com"
            ]
        )
        == 1
    )
    assert not saved.load().get("unmarked_creates")
    later.close()


def test_a_user_whose_address_is_only_in_proxy_addresses_is_read_with_it_and_never_added(env: Any) -> None:
    """A user whose ``mail`` is empty has their primary SMTP proxy address as their email,
    and no mail contact is made in their own tenant for it (nor for an alias of theirs)."""
    emu, info = env
    tenant = emu.tenants[0]
    user = next(u for u in tenant.users.values() if u.props["accountEnabled"])
    proxies = ["smtp:adele@alias.example", "SMTP:adele@contoso.example"]
    tenant.update_user(user.id, {"mail": None, "proxyAddresses": proxies})
    conn = connector(info)
    [record] = [r for r in pull_all(conn, None, {})[0] if r.native_id == f"users/{user.id}"]
    assert [e["value"] for e in record.fields["emails"]] == ["adele@contoso.example"]
    before = len(tenant.live_contacts())
    for address in ("adele@contoso.example", "ADELE@alias.example"):
        fields = {**sample(9), "emails": [{"value": address, "type": "work", "pref": True}]}
        [refused] = conn.write([WriteOp("create", f"hub-{address}", fields)])
        assert refused.error is not None and "directory user" in refused.error.message
    assert len(tenant.live_contacts()) == before
    conn.close()


def test_a_certificate_the_file_gives_wins_over_a_kept_secret(tmp_path: Any) -> None:
    """Secrets a hub file no longer names are kept by the store; the file's key file and
    thumbprint (plain settings, always the file's) decide the credential."""
    from contacthub.connectors.m365_auth import client_credential

    new_key, old_key = app_cert().private_key_pem, other_key()
    key = tmp_path / "app.key"
    key.write_text(new_key)
    given = {"certificate_key_file": str(key), "certificate_thumbprint": "AB:CD"}
    assert client_credential({"client_secret": "old", **given}, "x") == {
        "private_key": new_key,
        "thumbprint": "ABCD",
    }
    assert client_credential({"certificate_key": old_key, **given}, "x")["private_key"] == new_key  # type: ignore[index]
    assert client_credential({"client_secret": "s"}, "x") == "s"
    assert client_credential(
        {"client_secret": "s", "certificate_key": old_key, "certificate_thumbprint": "AB"}, "x"
    ) == {
        "private_key": old_key,
        "thumbprint": "AB",
    }
    # a key beside its certificate in one file signs in as well (PyJWT finds the key)
    key.write_text(app_cert().certificate_pem + new_key)
    assert client_credential(given, "x")["private_key"] == key.read_text()  # type: ignore[index]
    # a stale key text the store kept is not read when a client secret is what signs in
    assert client_credential({"client_secret": "s", "certificate_key": "OLD KEY"}, "x") == "s"


def other_key(kind: str = "rsa", password: bytes | None = None) -> str:
    """A PEM private key other than the app's (``kind`` rsa or ec), encrypted with
    ``password`` if given."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    crypt: Any = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt).decode()


def bad_keys() -> dict[str, tuple[str | bytes, str]]:
    """name -> (what a key file or text holds, what the error says of it)."""
    key = app_cert().private_key_pem
    return {
        "garbage": ("not a key\n", "not a PEM private key (one begins with -----BEGIN PRIVATE KEY-----)"),
        "empty": ("", "not a PEM private key"),
        "certificate": (
            app_cert().certificate_pem,
            "not a PEM private key (a certificate? the key file is the one with PRIVATE KEY)",
        ),
        "encrypted": (other_key(password=b"pw"), "an encrypted private key: give it without its password"),
        "damaged": (key[:200] + key[-30:], "a PEM private key that cannot be read"),
        "ec": (other_key("ec"), "not an RSA private key"),
        "binary": (b"\x30\x82\x04\xa4\x02\x01\x00\xff\xfe", "not a PEM private key but a binary file"),
    }


@pytest.mark.parametrize("name", list(bad_keys()))
def test_a_key_that_is_no_usable_private_key_is_said_to_be_one_naming_the_setting(
    tmp_path: Path, name: str
) -> None:
    """msal only handed the text to PyJWT when it signed its first request: a certificate
    pasted for the key, an encrypted key or any other text ended the sync in a traceback
    ("Could not parse the provided public key"). The error names the setting (and the
    file), says what is wrong, and never repeats the key's text."""
    from contacthub.connectors.m365_auth import client_credential

    content, said = bad_keys()[name]
    path = tmp_path / "app.key"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    thumb = {"certificate_thumbprint": "AB"}
    cases = [({"certificate_key_file": str(path), **thumb}, f"certificate_key_file {path}: ")]
    if isinstance(content, str) and content:  # (an empty key text is no key: the secret signs in)
        cases.append(({"certificate_key": content, "client_secret": "s", **thumb}, "certificate_key: "))
    for given, setting in cases:
        with pytest.raises(ConfigError) as info:
            client_credential(given, "gal")
        assert info.value.where == "gal" and info.value.message.startswith(setting + said)
        for line in str(content).splitlines()[1:-1]:  # the key's own lines
            assert line not in str(info.value)


def test_apply_refuses_a_bad_key_and_a_run_with_one_fails_with_the_message(
    tmp_path: Path, sqlite_url: str
) -> None:
    """``apply`` reads the key (no network) and refuses a file that holds the certificate;
    a key file spoilt after apply fails the run with that message, the run recorded as
    failed (it ended in a traceback and stayed "running"), and the next run after the key
    is fixed gets past it (to the sign-in, which has no server here)."""
    from contacthub import config
    from contacthub.engine.context import Options
    from contacthub.engine.run import run_hub
    from contacthub.service import views
    from contacthub.store.db import open_database

    key_file = tmp_path / "app.key"
    key_file.write_text(app_cert().certificate_pem)
    gal = {
        "name": "gal",
        "type": "m365-gal",
        "tenant_id": "t1",
        "client_id": "c1",
        "authority_url": "https://127.0.0.1:9",  # nothing listens: no sign-in is reached
        "certificate_key_file": str(key_file),
        "certificate_thumbprint": app_cert().thumbprint,
    }
    spec = config.HubFile.model_validate({"hubs": {"h": {"connectors": [gal]}}})
    engine = open_database(sqlite_url)
    with pytest.raises(ConfigError) as info:
        config.apply(engine, spec)
    assert "certificate_key_file" in str(info.value) and "a certificate?" in str(info.value)
    inline = {**{k: v for k, v in gal.items() if k != "certificate_key_file"}, "certificate_key": "pasted"}
    with pytest.raises(ConfigError, match="certificate_key: not a PEM private key"):
        config.apply(engine, config.HubFile.model_validate({"hubs": {"h": {"connectors": [inline]}}}))

    key_file.write_text(app_cert().private_key_pem)
    config.apply(engine, spec)
    key_file.write_text(other_key(password=b"pw"))
    report = run_hub(engine, "h", options=Options())
    assert report.status == "failed"
    assert report.message is not None and "certificate_key_file" in report.message
    assert "an encrypted private key" in report.message
    [run] = views.runs(engine, "h")
    assert run["status"] == "failed" and run["message"] == report.message
    key_file.write_text(app_cert().private_key_pem)
    again = run_hub(engine, "h", options=Options())
    assert again.status == "failed" and "certificate_key" not in str(again.message)
    assert "sign-in server" in str(again.message)
