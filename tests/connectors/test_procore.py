"""The Procore connector against the emulator: conformance, then what only Procore does."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
import pytest
from sqlalchemy import select

from contacthub import config as hubconfig
from contacthub.connectors.base import ConnectorConfig, MemoryCredentials, Record, WriteOp
from contacthub.connectors.procore import ProcoreConnector
from contacthub.engine.run import run_hub
from contacthub.errors import (
    FatalConnectorError,
    RecordError,
    RecordNotFoundError,
    RetriableError,
    StaleVersionError,
)
from contacthub.model import match_keys
from contacthub.signin import TerminalUI
from contacthub.store import tables
from contacthub.store.credentials import StoredCredentials
from contacthub.store.db import open_database
from tests.connectors.conformance import ConnectorConformance, sample
from tests.connectors.procore_helpers import CLIENT_ID, CLIENT_SECRET, Served, served
from tests.net import free_port


@pytest.fixture
def emulator() -> Iterator[Served]:
    with served() as srv:
        yield srv


class TestProcoreConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, emulator: Served) -> Iterator[ProcoreConnector]:
        conn = emulator.connector()
        yield conn
        conn.close()


# --- what only Procore does ------------------------------------------------------------------


def records(
    conn: ProcoreConnector, cursor: str | None = None, known: dict[str, str] | None = None
) -> tuple[list[Record], Any]:
    pull = conn.pull(cursor, known or {})
    items = [r for r in pull.records if isinstance(r, Record)]
    return items, pull


def test_paging_follows_link_with_the_largest_page() -> None:
    with served(users=25) as srv:
        conn = srv.connector(per_page=10)
        items, pull = records(conn)
        assert len({r.native_id for r in items}) == 25 and pull.complete and pull.listed == 25
        assert srv.api_calls("GET", "/users") == 3
        conn = srv.connector()  # default: 1000 a page
        records(conn)
        assert srv.api_calls("GET", "/users") == 4


def test_a_listing_short_of_its_total_header_is_retriable_and_deletes_nothing() -> None:
    """Page 2 answered with page 3 (``--skip-page``): every header still looks right, but
    15 distinct users came of ``Total: 25``. Taken whole, the 10 left out were deleted."""
    with served(users=25) as srv:
        conn = srv.connector(per_page=5, full_every="0s")
        everyone, _ = records(conn)
        known = {r.native_id: r.version for r in everyone}
        srv.emu.faults.skip_page = 2
        pull = conn.pull(None, known)
        with pytest.raises(RetriableError) as caught:
            list(pull.records)
        assert caught.value.connector == "procore"
        said = caught.value.message
        assert "came up short: 20 of Total 25" in said and "the next run tries again" in said, said
        assert pull.deleted == set()
        assert srv.emu.faults.skip_page == 0  # (the switch fires once)
        _, pull = records(conn, None, known)
        assert pull.deleted == set() and pull.listed == 25


def test_records_added_or_deactivated_during_a_listing_are_no_short_listing() -> None:
    """``Total`` moves with the records while a listing runs: a user added after page 1
    makes it 26, one deactivated on a page not yet read 25 again; neither is a short listing
    (the smallest ``Total`` seen is what the distinct records must reach)."""
    with served(users=25) as srv:
        conn = srv.connector(per_page=10)
        last = max(srv.state.users)
        known = {str(uid): "an older version" for uid in srv.state.users}  # every one yielded
        pull = conn.pull(None, known)
        stream = iter(pull.records)
        first = [next(stream) for _ in range(10)]  # page 1; page 2 not asked for yet
        srv.state.create_user({"last_name": "Newcomer", "email_address": "new.comer@example.com"})
        rest = list(stream)
        assert len({r.native_id for r in first + rest}) == 26 and pull.deleted == set()
        pull = conn.pull(None, known)
        stream = iter(pull.records)
        first = [next(stream) for _ in range(10)]
        srv.state.update_user(last, {"is_active": False})  # on page 3
        rest = list(stream)
        assert len(first + rest) == 25 and pull.deleted == {str(last)}


def test_no_op_run_is_one_call_per_object_type() -> None:
    with served(users=30, vendors=5, people=4) as srv:
        conn = srv.connector(objects=["users", "vendors", "people"])
        items, pull = records(conn)
        kinds = {r.native_id.split(":")[0] if ":" in r.native_id else "user" for r in items}
        assert kinds == {"user", "vendor", "person"} and len(items) == 39
        known = {r.native_id: r.version for r in items}
        srv.emu.log.clear()
        again, second = records(conn, pull.cursor, known)
        assert again == [] and second.deleted == set() and not second.complete
        assert len(srv.emu.log) == 3
        queries = {path: parse_qs(q) for _, path, q in srv.emu.log}
        assert "filters[updated_at]" in queries["/rest/v1.0/companies/1/users"]
        assert "filters[updated_at]" in queries["/rest/v1.0/vendors"]
        # an edit is all the next run reads
        uid = next(iter(srv.state.users))
        srv.state.update_user(uid, {"job_title": "Crane Operator"})
        changed, _ = records(conn, second.cursor, known)
        assert [r.native_id for r in changed] == [str(uid)]
        assert changed[0].fields["job_title"] == "Crane Operator"


def test_vendor_names_are_organizations_and_vendors_are_contacts() -> None:
    with served(users=12, vendors=3, people=2) as srv:
        conn = srv.connector(objects=["users", "vendors", "people"])
        items, _ = records(conn)
        by_id = {r.native_id: r for r in items}
        for user in srv.state.users.values():
            record = by_id[str(user["id"])]
            vendor = srv.state.vendors.get(user["vendor_id"]) if user["vendor_id"] else None
            assert record.fields.get("organization") == (vendor["name"] if vendor else None)
        vendor = next(iter(srv.state.vendors.values()))
        org = by_id[f"vendor:{vendor['id']}"].fields
        assert org["organization"] == vendor["name"] and org["custom.trade"] == vendor["trade_name"]
        assert org["websites"][0]["value"] == vendor["website"] and "given_name" not in org
        people = [r for r in items if r.native_id.startswith("person:")]
        assert len(people) == 2 and all(p.fields["emails"] for p in people)
        # an organization-only contact becomes a vendor, a person without email a reference person
        [made_vendor, made_person] = conn.write(
            [
                WriteOp(
                    "create",
                    "hub-v",
                    {
                        "organization": "Łódź Formwork Sp. z o.o.",
                        "emails": [{"value": "biuro@lodz.example.pl", "type": "work", "primary": True}],
                    },
                ),
                WriteOp(
                    "create", "hub-p", {"given_name": "Ana", "family_name": "Costa", "job_title": "Laborer"}
                ),
            ]
        )
        assert made_vendor.native_id and made_vendor.native_id.startswith("vendor:")
        assert made_person.native_id and made_person.native_id.startswith("person:")
        [gone] = conn.write([WriteOp("delete", "hub-v", {}, made_vendor.native_id, made_vendor.version)])
        assert gone.error is None
        assert not srv.state.vendors[int(made_vendor.native_id[7:])]["is_active"]


def test_deactivations_send_the_fields_procore_requires_and_change_nothing_else() -> None:
    """A delete op carries no fields, yet Procore's PATCH bodies require user.last_name and
    email_address, vendor.name, person.last_name: the connector sends the record's own
    values with the flag (one user alone, two through users/sync, a vendor, a person)."""
    with served(users=6, vendors=2, people=2) as srv:
        conn = srv.connector(objects=["users", "vendors", "people"])
        items, _ = records(conn)
        users = [r for r in items if r.native_id.isdigit()][:3]
        vendor = next(r for r in items if r.native_id.startswith("vendor:"))
        person = next(r for r in items if r.native_id.startswith("person:"))
        before = {int(r.native_id): dict(srv.state.users[int(r.native_id)]) for r in users}
        alone = conn.write([WriteOp("delete", "h0", {}, users[0].native_id, users[0].version)])
        batch = conn.write(
            [WriteOp("deactivate", f"h{i}", {}, r.native_id, r.version) for i, r in enumerate(users[1:], 1)]
        )
        others = conn.write(
            [
                WriteOp("delete", "hv", {}, vendor.native_id, vendor.version),
                WriteOp("delete", "hp", {}, person.native_id, person.version),
            ]
        )
        assert [r.error for r in alone + batch + others] == [None] * 5
        for uid, was in before.items():
            now = srv.state.users[uid]
            assert now["is_active"] is False
            assert (now["last_name"], now["email_address"], now["first_name"]) == (
                was["last_name"],
                was["email_address"],
                was["first_name"],
            )
        assert srv.state.vendors[int(vendor.native_id[7:])]["is_active"] is False
        assert srv.state.people[int(person.native_id[7:])]["active"] is False
        missing = conn.write([WriteOp("delete", "hx", {}, "vendor:999999", None)])[0]
        assert isinstance(missing.error, RecordNotFoundError)


def test_deactivating_many_people_lists_the_people_once_a_write() -> None:
    """Procore documents no single-person GET, so a deactivation finds the person's own
    values (for the PATCH's required last_name) in the people listing: one listing for a
    write of many, not one per person. Users and vendors are shown one GET each."""
    with served(users=4, vendors=3, people=6) as srv:
        conn = srv.connector(objects=["users", "vendors", "people"], per_page=2)
        items, _ = records(conn)
        people = [r for r in items if r.native_id.startswith("person:")]
        vendors = [r for r in items if r.native_id.startswith("vendor:")]
        users = [r for r in items if r.native_id.isdigit()][:2]
        assert len(people) == 6
        srv.state.calls.clear()
        ops = [
            WriteOp("delete", f"h{i}", {}, r.native_id, r.version)
            for i, r in enumerate([*people, *vendors, *users])
        ]
        ops.append(WriteOp("delete", "hx", {}, "person:999999", None))
        results = conn.write(ops)
        assert [r.error for r in results[:-1]] == [None] * 11
        assert isinstance(results[-1].error, RecordNotFoundError)
        assert all(srv.state.people[int(p.native_id[7:])]["active"] is False for p in people)
        # one listing of the 6 reference people, 2 a page: 3 pages plus the empty 4th at most
        assert srv.api_calls("GET", "/people") <= 4
        assert srv.api_calls("PATCH", "/people/") == 6
        assert srv.api_calls("GET", "/vendors/") == 3
        assert srv.api_calls("GET", "/users/") == 2
        srv.state.calls.clear()  # the next write reads the listing afresh (it may have changed)
        again = conn.write([WriteOp("delete", "hy", {}, people[0].native_id, None)])[0]
        assert isinstance(again.error, RecordNotFoundError)  # deactivated: gone from the list
        assert 1 <= srv.api_calls("GET", "/people") <= 4


def test_find_by_phone_and_name_searches_users_by_family_name() -> None:
    """Procore's user search knows no full names: a phone+name key is searched by its
    family name and the candidates checked against the whole key."""
    with served(users=8) as srv:
        conn = srv.connector()
        items, _ = records(conn)
        record = next(r for r in items if r.fields.get("phones") and r.fields.get("given_name"))
        key = next(k for k in match_keys(record.fields) if k.startswith("phone+name:"))
        found = conn.find([key])
        assert found is not None and found.native_id == record.native_id
        digits, _, name = key.partition("|")
        assert conn.find([f"{digits}|someone else {name.split()[-1]}"]) is None


def test_projects_limit_the_directory() -> None:
    with served(users=20, vendors=3, projects=2) as srv:
        pid = sorted(srv.state.projects)[0]
        conn = srv.connector(projects=[pid])
        items, _ = records(conn)
        assert {int(r.native_id) for r in items} == srv.state.projects[pid]["user_ids"]
        [made] = conn.write([WriteOp("create", "hub-new", sample(3))])
        assert made.error is None and int(made.native_id or 0) in srv.state.projects[pid]["user_ids"]
        # a user who leaves the project is not deleted; one deactivated in the company is
        known = {r.native_id: r.version for r in items}
        members = sorted(srv.state.projects[pid]["user_ids"] - {int(made.native_id or 0)})
        srv.state.projects[pid]["user_ids"].discard(members[0])
        srv.state.update_user(members[1], {"is_active": False})
        _, pull = records(srv.connector(projects=[pid]), None, known)
        assert pull.deleted == {str(members[1])}
        missing = srv.connector(projects=[424242])
        with pytest.raises(FatalConnectorError, match="Procore project 424242"):
            records(missing)


def test_a_project_that_refuses_a_new_user_is_that_users_error_not_the_runs() -> None:
    """A 403 on adding a new user to the connector's project was raised for the whole
    connector: every run failed, the batch's other writes were lost, and users went on
    being made in Procore unlinked. It is the new user's error now; the others are written,
    and the next run (``origin_id``) makes no second user."""
    with served(users=2, vendors=0, projects=1) as srv:
        pid = sorted(srv.state.projects)[0]
        conn = srv.connector(projects=[pid])
        [member] = [u for u in records(conn)[0] if int(u.native_id) in srv.state.projects[pid]["user_ids"]][
            :1
        ]
        srv.emu.faults.fail["POST /actions/add"] = 403
        update = WriteOp("update", "hub-1", {**member.fields, "job_title": "Foreman"}, member.native_id, None)
        made, updated = conn.write([WriteOp("create", "hub-new", sample(3)), update])
        assert isinstance(made.error, RecordError) and not isinstance(made.error, FatalConnectorError)
        assert f"not added to project {pid}" in made.error.message and "403" in made.error.message
        assert updated.error is None and srv.state.users[int(member.native_id)]["job_title"] == "Foreman"
        users = len(srv.state.users)
        srv.emu.faults.fail.clear()
        [again] = srv.connector(projects=[pid]).write([WriteOp("create", "hub-new", sample(3))])
        assert again.error is None and len(srv.state.users) == users
        assert int(again.native_id or 0) in srv.state.projects[pid]["user_ids"]


def test_project_vendors_are_read_without_an_updated_at_filter() -> None:
    """A project's vendor listing takes no filters[updated_at] (Procore documents search and
    ids only): later runs list it whole and keep only what changed, by version."""
    with served(users=6, vendors=3, projects=1) as srv:
        pid = sorted(srv.state.projects)[0]
        conn = srv.connector(projects=[pid], objects=["users", "vendors"])
        items, pull = records(conn)
        known = {r.native_id: r.version for r in items}
        vid = sorted(srv.state.projects[pid]["vendor_ids"])[0]
        srv.state.clock = lambda: time.time() + 5
        srv.state.update_vendor(vid, {"trade_name": "Curtain Wall"})
        srv.emu.log.clear()
        changed, _ = records(srv.connector(projects=[pid], objects=["users", "vendors"]), pull.cursor, known)
        assert [r.native_id for r in changed] == [f"vendor:{vid}"]
        asked = [query for _, path, query in srv.emu.log if path.endswith(f"/projects/{pid}/vendors")]
        assert asked and not any("updated_at" in unquote(q) for q in asked)
        assert any("updated_at" in unquote(q) for _, p, q in srv.emu.log if p.endswith("/users"))


def test_wrong_company_is_named() -> None:
    with served(users=2) as srv:
        conn = srv.connector(company_id=99)
        with pytest.raises(FatalConnectorError, match="Procore company 99") as info:
            records(conn)
        assert "refused" in info.value.message


def test_a_lost_create_is_found_by_origin_id() -> None:
    with served(users=0) as srv:
        conn = srv.connector()
        [first] = conn.write([WriteOp("create", "hub-7", sample(7))])
        # the answer was lost: the engine retries the same create, alone and in a batch
        [again] = conn.write([WriteOp("create", "hub-7", sample(7, job_title="Site manager"))])
        assert again.error is None and again.native_id == first.native_id
        batch = conn.write(
            [WriteOp("create", "hub-7", sample(7, notes="n")), WriteOp("create", "hub-8", sample(8))]
        )
        assert [r.error for r in batch] == [None, None] and batch[0].native_id == first.native_id
        assert len(srv.state.users) == 2
        assert srv.state.users[int(first.native_id or 0)]["notes"] == "n"


def test_batches_go_through_sync_and_refusals_stay_per_record() -> None:
    with served(users=0) as srv:
        conn = srv.connector()
        ops = [WriteOp("create", f"hub-{i}", sample(i)) for i in range(5)]
        ops.append(
            WriteOp(
                "create",
                "hub-bad",
                sample(9, emails=[{"value": "not-an-email", "type": "work", "primary": True}]),
            )
        )
        ops.append(WriteOp("create", "hub-nomail", {"given_name": "No", "family_name": "Mail"}))
        results = conn.write(ops)
        assert [r.error is None for r in results] == [True] * 5 + [False, False]
        assert (
            isinstance(results[5].error, RecordError)
            and "email_address is invalid" in results[5].error.message
        )
        assert "need an email address" in (results[6].error.message if results[6].error else "")
        assert srv.api_calls("PATCH", "/users/sync") == 1 and srv.api_calls("POST", "/users") == 0
        # updates in a batch: one listing of the users (version check, vendors), one sync call
        srv.emu.log.clear()
        updates = [
            WriteOp("update", r.op.hub_id, sample(i, job_title="Foreman"), r.native_id, r.version)
            for i, r in enumerate(results[:5])
        ]
        srv.state.update_user(int(results[0].native_id or 0), {"notes": "changed meanwhile"})
        done = conn.write(updates)
        assert isinstance(done[0].error, StaleVersionError)
        assert [r.error for r in done[1:]] == [None] * 4
        assert [m for m, _, _ in srv.emu.log] == ["GET", "PATCH"]
        # single ops on a single-record refusal: 422 from POST
        [bad] = conn.write(
            [WriteOp("create", "hub-x", sample(1, emails=[{"value": "x@@", "type": "", "primary": True}]))]
        )
        assert isinstance(bad.error, RecordError) and "422" in bad.error.message


def test_expired_token_is_refreshed_once() -> None:
    with served(users=3) as srv:
        conn = srv.connector()
        records(conn)
        srv.emu.faults.expire_tokens = True
        items, _ = records(conn)
        assert len(items) == 3 and conn.session.refreshes == 2


def test_server_errors_are_retried() -> None:
    with served(users=30) as srv:
        conn = srv.connector(per_page=5)
        waits: list[float] = []
        conn.client.sleep = waits.append
        srv.emu.faults.error_rate = 0.5
        items, _ = records(conn)
        assert len(items) == 30 and waits and conn.client.calls["GET"] > 6


class BrowserUI(TerminalUI):
    """The terminal's sign-in with a scripted browser that clicks "Allow"."""

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        super().__init__(browser=False)
        self.answers = answers or {}
        self.asked: list[str] = []

    def echo(self, text: str) -> None:
        pass

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        self.asked.append(prompt)
        return next(v for k, v in self.answers.items() if k in prompt)

    def open_link(self, url: str) -> None:
        def browse() -> None:
            page = httpx.get(url)
            form = {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)}
            approve = httpx.post(url.split("?")[0], data=form)
            httpx.get(approve.headers["location"])

        threading.Thread(target=browse, daemon=True).start()


def test_connect_with_the_authorization_code_flow() -> None:
    with served(users=4) as srv:
        creds = MemoryCredentials()
        redirect = f"http://127.0.0.1:{free_port()}/callback"
        settings = srv.settings(redirect_uri=redirect)
        del settings["client_secret"]
        ui = BrowserUI({"secret": CLIENT_SECRET})
        ProcoreConnector.connect(ConnectorConfig("procore", settings, credentials=creds), ui)
        assert ui.asked == ["Procore app client secret"]
        assert creds.values["refresh_token"] and creds.values["client_secret"] == CLIENT_SECRET
        conn = ProcoreConnector(ConnectorConfig("procore", settings, credentials=creds))
        assert conn.session.grant == "authorization_code"
        assert len(records(conn)[0]) == 4


def test_refresh_rotation_survives_a_crash_before_the_database_has_it(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresh answered (the old refresh token is dead) and the process dies while
    saving: the new pair is already in the side file, and the next run signs in with it."""
    with served(users=5) as srv:
        engine = open_database(sqlite_url)
        settings = {k: v for k, v in srv.settings(grant="authorization_code").items() if k != "client_secret"}
        folder = tmp_path / "cards"
        folder.mkdir()
        spec = hubconfig.HubFile.model_validate(
            {
                "hubs": {
                    "site": {
                        "connectors": [
                            {"name": "procore", "type": "procore", **settings},
                            {"name": "cards", "type": "vcard-dir", "path": str(folder)},
                        ]
                    }
                }
            }
        )
        hubconfig.apply(engine, spec)
        with engine.connect() as db:
            connector_id = db.execute(
                select(tables.connectors.c.id).where(tables.connectors.c.name == "procore")
            ).scalar_one()
        stored = StoredCredentials(engine, connector_id, "connector 'procore'")
        first = srv.state.issue_tokens(CLIENT_ID, refresh=True)
        stored.save({**first, "expires_at": 0, "client_secret": CLIENT_SECRET})  # the access token is spent

        class Killed(BaseException):
            pass

        def crash(self: StoredCredentials) -> None:
            raise Killed

        monkeypatch.setattr(StoredCredentials, "flush", crash)
        with pytest.raises(Killed):
            run_hub(engine, "site")
        monkeypatch.undo()
        assert not srv.state.take_refresh(first["refresh_token"], CLIENT_ID)  # rotated: dead
        report = run_hub(engine, "site")
        assert report.errors == [] and len(list(folder.glob("*.vcf"))) == 5
        assert not stored.side_file.exists()
        saved = StoredCredentials(engine, connector_id, "connector 'procore'").load()
        assert (
            saved["refresh_token"] != first["refresh_token"] and saved["refresh_token"] in srv.state.refresh
        )


def test_settings_are_checked() -> None:
    with pytest.raises(Exception, match="company_id"):
        ProcoreConnector(ConnectorConfig("p", {}))
    with pytest.raises(Exception, match="objects"):
        ProcoreConnector(ConnectorConfig("p", {"company_id": 1, "objects": ["invoices"]}))
    with pytest.raises(Exception, match="full_every"):
        ProcoreConnector(ConnectorConfig("p", {"company_id": 1, "full_every": "soon"}))
    with pytest.raises(Exception, match="can be mapped"):
        ProcoreConnector(ConnectorConfig("p", {"company_id": 1}, mapping={"custom.x": "password"}))
    conn = ProcoreConnector(
        ConnectorConfig("p", {"company_id": 1}, mapping={"custom.employee_id": "employee_id"})
    )
    assert conn.base_url == "https://api.procore.com" and conn.login_url == "https://login.procore.com"
    assert "custom.employee_id" in conn.fields


def test_connect_a_service_account() -> None:
    with served(users=2) as srv:
        creds = MemoryCredentials()
        settings = {k: v for k, v in srv.settings(grant="client_credentials").items() if k != "client_id"}
        ui = BrowserUI({"client id": CLIENT_ID})
        ProcoreConnector.connect(ConnectorConfig("procore", settings, credentials=creds), ui)
        assert ui.asked == ["Procore app client id"]
        assert creds.values["access_token"] and "refresh_token" not in creds.values
        assert creds.values["client_id"] == CLIENT_ID and "client_secret" not in creds.values
        conn = ProcoreConnector(ConnectorConfig("procore", settings, credentials=creds))
        assert len(records(conn)[0]) == 2 and conn.session.refreshes == 0  # the saved token served


def test_an_update_procore_has_no_room_for_makes_no_call() -> None:
    with served(users=0) as srv:
        conn = srv.connector()
        [made] = conn.write([WriteOp("create", "hub-1", sample(1))])
        assert made.fields is not None
        more = {
            **made.fields,
            "emails": [
                *made.fields["emails"],
                {"value": "home@example.com", "type": "home", "primary": False},
            ],
            "websites": [{"value": "https://example.com", "type": ""}],
        }
        srv.emu.log.clear()
        [same] = conn.write([WriteOp("update", "hub-1", more, made.native_id, made.version)])
        assert same.error is None and same.version == made.version and same.fields == made.fields
        assert list(srv.emu.log) == []  # no version check either: nothing is written
        [real] = conn.write(
            [WriteOp("update", "hub-1", {**more, "job_title": "Foreman"}, made.native_id, made.version)]
        )
        assert real.error is None and real.version != made.version
        assert srv.state.users[int(made.native_id or 0)]["job_title"] == "Foreman"


def test_read_back_is_what_a_write_reads_as(emulator: Served) -> None:
    """``read_back`` tells, without a call, what the write of these fields makes of each
    record type: compared with the fields the written record reads as."""
    conn = emulator.connector(objects=["users", "vendors", "people"])
    base: dict[str, Any] = {
        "emails": [
            {"value": "ann@lee.example", "type": "", "primary": True},
            {"value": "ann@home.example", "type": "home", "primary": False},
        ],
        "phones": [{"value": "+12065550100", "type": "pager", "primary": True}],
        "addresses": [
            {
                "street": "1 Main St",
                "city": "Seattle",
                "region": "wa",
                "postal_code": "98101",
                "country": "United States",
                "type": "home",
            }
        ],
    }
    user = {**base, "given_name": "Ann", "family_name": "Lee", "organization": "Lee Builders"}
    vendor = {**base, "organization": "Acme Concrete", "display_name": "Acme Concrete"}
    person = {"given_name": "Bo", "family_name": "Ng", "job_title": "Driver"}
    ops = [WriteOp("create", f"h{i}", fields) for i, fields in enumerate((user, vendor, person))]
    results = conn.write(ops)
    assert [r.native_id.split(":")[0] if ":" in (r.native_id or "") else "user" for r in results] == [
        "user",
        "vendor",
        "person",
    ]
    for op, result in zip(ops, results, strict=True):
        assert result.error is None and result.fields is not None
        assert conn.read_back(op.fields) == result.fields
    assert results[0].fields is not None and results[0].fields["addresses"][0]["country"] == "US"
    conn.close()


def test_an_updated_at_utc_cannot_hold_is_no_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """At the edge of the calendar with an offset, ``astimezone`` raised OverflowError and
    failed the run: no time instead. One without a zone is UTC, not the machine's time."""
    from datetime import UTC, datetime

    from contacthub.connectors.procore_map import parse_time

    assert parse_time("9999-12-31T23:00:00-01:00") is None
    assert parse_time("0001-01-01T00:00:00+01:00") is None
    assert parse_time("2026-03-04T05:06:07Z") == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert parse_time("2026-03-04T05:06:07") == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_update_that_keeps_the_organization_sends_no_vendor() -> None:
    """QA: every user update resolved the hub's organization by name. A vendor renamed in
    Procore moves no user's ``updated_at``: the hub kept the old name, and the first
    unrelated edit (a job title) found no vendor of it, made one ("old name",
    ``contacthub-company``) and moved the user onto it. Now an update sends the vendor
    only when the organization is not the user's vendor's name, and a user whose vendor
    was renamed since its version is stale, not written."""
    with served(users=6, vendors=2) as srv:
        conn = srv.connector(objects=["users", "vendors"])
        items, _ = records(conn)
        by_id = {r.native_id: r for r in items}
        state = srv.state
        user = next(u for u in state.users.values() if u["vendor_id"])
        vid, old = user["vendor_id"], state.vendors[user["vendor_id"]]["name"]
        read = by_id[str(user["id"])]
        # a second vendor of the same name: the user stays on its own, none is looked up
        twin = state.create_vendor({"name": old})
        fresh = srv.connector(objects=["users", "vendors"])  # (no vendor names held)
        srv.emu.log.clear()
        [same] = fresh.write(
            [
                WriteOp(
                    "update",
                    read.hub_id or "h",
                    {**read.fields, "job_title": "Estimator"},
                    read.native_id,
                    read.version,
                )
            ]
        )
        assert same.error is None and state.users[user["id"]]["vendor_id"] == vid
        assert not [p for _, p, _ in srv.emu.log if p.startswith("/rest/v1.0/vendors")]
        assert twin["id"] != vid
        # the vendor renamed in Procore: the hub's old name is no edit of the organization
        state.update_vendor(vid, {"name": "Renamed Plumbing GmbH"})
        vendors_before = set(state.vendors)
        [stale] = fresh.write(
            [
                WriteOp(
                    "update",
                    read.hub_id or "h",
                    {**read.fields, "job_title": "Chief"},
                    same.native_id,
                    same.version,
                )
            ]
        )
        assert isinstance(stale.error, StaleVersionError)
        assert set(state.vendors) == vendors_before and state.users[user["id"]]["vendor_id"] == vid
        # an organization the hub changed moves the user, as before
        again = fresh.get(str(user["id"]))
        [moved] = fresh.write(
            [
                WriteOp(
                    "update",
                    "h",
                    {**again.fields, "organization": "Brand New Co"},
                    again.native_id,
                    again.version,
                )
            ]
        )
        assert moved.error is None and moved.fields is not None
        assert moved.fields["organization"] == "Brand New Co"
        assert state.vendors[state.users[user["id"]]["vendor_id"]]["name"] == "Brand New Co"


def test_an_incremental_read_gives_the_users_of_a_renamed_vendor_its_new_name() -> None:
    """A vendor renamed moves no user's ``updated_at``: the users' filtered listing never
    showed them again, and the hub kept the old organization until the daily full
    listing. The users of the vendors changed since the last run are read again (one
    listing), with the vendors synced or not."""
    for objects in (["users", "vendors"], ["users"]):
        with served(users=8, vendors=3) as srv:
            conn = srv.connector(objects=objects)
            items, pull = records(conn)
            known = {r.native_id: r.version for r in items}
            state = srv.state
            vid = next(u["vendor_id"] for u in state.users.values() if u["vendor_id"])
            theirs = {str(u["id"]) for u in state.users.values() if u["vendor_id"] == vid}
            state.update_vendor(vid, {"name": "Renamed Plumbing GmbH"})
            changed, _ = records(conn, pull.cursor, known)
            users = {r.native_id: r for r in changed if not r.native_id.startswith("vendor:")}
            assert set(users) == theirs, objects
            assert {r.fields["organization"] for r in users.values()} == {"Renamed Plumbing GmbH"}
            # nothing changed since: no user read again
            known.update({r.native_id: r.version for r in changed})
            _, second = records(conn, pull.cursor, known)
            again, _ = records(conn, second.cursor, known)
            assert again == []


def test_a_phone_type_of_several_words_finds_its_slot_by_its_kind() -> None:
    """A card's ``TEL;TYPE=cell,home`` is the hub's "home cell" and a phone app's own type
    beside the place makes "work x-main": taken whole, neither was a type Procore has, and
    the mobile filled the business slot (the first free one)."""
    from contacthub.connectors.procore_map import phone_slots

    phones = [
        {"value": "+12025550101", "type": "home cell"},
        {"value": "+12025550102", "type": "work x-main"},
        {"value": "+12025550103", "type": "work fax"},
    ]
    assert phone_slots({"phones": phones}) == {
        "business_phone": "+12025550102",
        "mobile_phone": "+12025550101",
        "fax_number": "+12025550103",
    }
    # untyped ones still fill the free slots in order, business first
    assert (
        phone_slots({"phones": [{"value": "+12025550104", "type": ""}]})["business_phone"] == "+12025550104"
    )
