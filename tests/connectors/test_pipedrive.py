"""The Pipedrive connector against the Pipedrive emulator (in-process): the conformance
suite, then what only Pipedrive can get wrong: custom fields by name, organizations,
incremental pulls, OAuth, and the daily token budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contacthub.connectors.base import ConnectorConfig, MemoryCredentials, Record, WriteOp
from contacthub.connectors.pipedrive import PipedriveConnector
from contacthub.emulators.base import background
from contacthub.emulators.pipedrive import Settings, State, create_app
from contacthub.emulators.pipedrive_data import Company
from contacthub.errors import ConfigError, FatalConnectorError, RetriableError
from contacthub.signin import wait_for_redirect
from tests.connectors.conformance import ConnectorConformance, all_records, create, sample
from tests.net import free_port

TOKEN = "test-token"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, State]]:
    app = create_app(Settings(api_token=TOKEN, burst=400), Company())
    with background(app) as url:
        yield url, app.state.pd


@pytest.fixture
def emulator(server: tuple[str, State]) -> tuple[str, State]:
    """The module's emulator, emptied: no persons, no organizations, fresh limits."""
    url, state = server
    company = state.company
    with company.lock:
        company.persons.clear()
        company.orgs.clear()
    state.spent, state.writes_left = 0, 10_000
    state.windows.clear()
    state.settings.daily_tokens = 300_000
    state.settings.faults.error_rate = 0.0
    return url, state


def make(url: str, **settings: Any) -> PipedriveConnector:
    return PipedriveConnector(ConnectorConfig("pd", {"base_url": url, "api_token": TOKEN, **settings}))


class TestPipedriveConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, emulator: tuple[str, State]) -> Iterator[PipedriveConnector]:
        connector = make(emulator[0])
        yield connector
        connector.close()


# --- beyond conformance ---------------------------------------------------------------------


def persons_of(state: State) -> list[dict[str, Any]]:
    return [p for p in state.company.persons.values() if not p["is_deleted"]]


def key_of(state: State, name: str) -> str:
    return next(f["key"] for f in state.company.fields if f["name"] == name and f["edit_flag"])


def test_custom_fields_by_name_and_mapped_canonical_fields(emulator: tuple[str, State]) -> None:
    url, state = emulator
    connector = make(url)
    assert {"job_title", "department", "notes", "birthday", "custom.Customer type"} <= (
        connector.fields or set()
    )
    wanted = sample(
        1,
        birthday="1984-02-29",
        department="Estimating",
        **{"custom.Customer type": "partner", "custom.Annual value": "2300 EUR"},
    )
    made = create(connector, wanted)
    [person] = persons_of(state)
    custom = person["custom_fields"]
    assert custom[key_of(state, "Job title")] == "Engineer"
    assert custom[key_of(state, "Birthday")] == "1984-02-29"
    partner = next(
        o["id"]
        for f in state.company.fields
        if f["name"] == "Customer type"
        for o in f["options"]
        if o["label"] == "Partner"
    )
    assert custom[key_of(state, "Customer type")] == partner  # the option's id, found by its label
    assert custom[key_of(state, "Annual value")] == {"value": 2300, "currency": "EUR"}
    got = connector.get(made.native_id or "")
    assert got.fields["custom.Customer type"] == "Partner" and got.fields["custom.Annual value"] == "2300 EUR"
    assert got.fields["job_title"] == "Engineer" and got.fields["department"] == "Estimating"


def test_unknown_option_refuses_that_record_only(emulator: tuple[str, State]) -> None:
    url, state = emulator
    connector = make(url)
    results = connector.write(
        [
            WriteOp("create", "h1", sample(1, **{"custom.Customer type": "Alien"})),
            WriteOp("create", "h2", sample(2)),
            WriteOp("create", "h3", sample(3, given_name="x" * 300)),
        ]
    )
    assert results[0].error is not None and "Alien" in results[0].error.message
    assert results[1].error is None
    assert results[2].error is not None and "255" in results[2].error.message
    assert [p["first_name"] for p in persons_of(state)] == ["Given2"]
    # the refused person's organization was never made (it was, before the refusal, and
    # again on every run that tried the person again)
    assert "Org 1" not in {o["name"] for o in state.company.orgs.values()}


def test_a_multiple_option_field_round_trips_and_money_needs_a_currency() -> None:
    """A set field is written as its options' ids (v2's array of numbers), read back as their
    labels, and what the hub wanted agrees with what was read (``read_back``): the next run
    writes nothing. An amount without a currency is refused before anything is sent: v2
    holds "a numeric value and a currency value"."""
    company = Company()
    skills = company.add_field("Skills", "set", ["Welding", "Roofing", "Glazing"])
    with background(create_app(Settings(api_token=TOKEN, burst=400), company)) as url:
        connector = make(url)
        wanted = sample(1, **{"custom.Skills": "roofing, Welding", "custom.Annual value": "2300 EUR"})
        made = create(connector, wanted)
        ids = {o["label"]: o["id"] for o in skills["options"]}
        [person] = [p for p in company.persons.values() if not p["is_deleted"]]
        assert person["custom_fields"][skills["key"]] == [ids["Roofing"], ids["Welding"]]
        got = connector.get(made.native_id or "")
        assert got.fields["custom.Skills"] == "Roofing, Welding"
        assert connector.read_back(wanted) == got.fields
        pull = connector.pull(None, {got.native_id: got.version})
        assert list(pull.records) == []
        [refused] = connector.write(
            [
                WriteOp(
                    "update", "hub-1", {**wanted, "custom.Annual value": "2300"}, got.native_id, got.version
                )
            ]
        )
        assert refused.error is not None and "currency" in refused.error.message
        assert person["custom_fields"][key_of_company(company, "Annual value")] == {
            "value": 2300,
            "currency": "EUR",
        }
        connector.close()


def key_of_company(company: Company, name: str) -> str:
    return next(f["key"] for f in company.fields if f["name"] == name and f["edit_flag"])


def test_a_mapping_to_a_missing_field_is_not_held(emulator: tuple[str, State]) -> None:
    connector = PipedriveConnector(
        ConnectorConfig(
            "pd",
            {"base_url": emulator[0], "api_token": TOKEN},
            mapping={"notes": "Remarks", "custom.trade": "Preferred language"},
        )
    )
    held = connector.fields or set()
    assert "notes" not in held and "custom.trade" in held and "custom.Preferred language" not in held
    assert connector.schema().missing == ["Remarks"]


def test_hub_id_kept_in_a_custom_field(emulator: tuple[str, State]) -> None:
    url, state = emulator
    field = state.company.add_field("contacthub id", "varchar", [])
    try:
        connector = make(url, hub_id_field="contacthub id")
        assert "custom.contacthub id" not in (connector.fields or set())
        made = create(connector, sample(1), "0190-hub-contact")
        record = all_records(make(url, hub_id_field="contacthub id"))[made.native_id or ""]
        assert record.hub_id == "0190-hub-contact"
        assert (
            state.company.persons[int(made.native_id or 0)]["custom_fields"][field["key"]]
            == "0190-hub-contact"
        )
        # an update leaves it alone
        connector.write([WriteOp("update", "other", sample(1, notes="n"), made.native_id, made.version)])
        assert connector.get(made.native_id or "").hub_id == "0190-hub-contact"
        assert make(url, hub_id_field="no such field").schema().missing == ["no such field"]
    finally:
        state.company.fields.remove(field)


def test_person_fields_past_the_first_hundred(emulator: tuple[str, State]) -> None:
    url, state = emulator
    added = [state.company.add_field(f"Extra {i}", "varchar", []) for i in range(120)]
    try:
        assert "custom.Extra 119" in (make(url).fields or set())
    finally:
        state.company.fields[:] = [f for f in state.company.fields if f not in added]


def test_organizations_are_found_by_name_created_once_and_cached(emulator: tuple[str, State]) -> None:
    url, state = emulator
    existing = state.company.add_org("Bäckerei Müller GmbH")
    connector = make(url)
    a = create(connector, sample(1, organization="bäckerei müller gmbh"), "a")
    b = create(connector, sample(2, organization="New Partner Ltd"), "b")
    c = create(connector, sample(3, organization="New  Partner Ltd "), "c")  # stray spaces, one company
    orgs = {o["name"]: o["id"] for o in state.company.orgs.values()}
    assert len(orgs) == 2
    by_id = {p["id"]: p["org_id"] for p in persons_of(state)}
    assert by_id[int(a.native_id or 0)] == existing["id"]
    assert by_id[int(b.native_id or 0)] == by_id[int(c.native_id or 0)] == orgs["New Partner Ltd"]
    assert c.fields is not None and c.fields["organization"] == "New Partner Ltd"
    # a fresh run reads names through one listing of the organizations, not one call per person
    reader = make(url)
    records = all_records(reader)
    assert {r.fields.get("organization") for r in records.values()} == {
        "Bäckerei Müller GmbH",
        "New Partner Ltd",
    }
    assert reader.api_calls()["GET"] == 3  # personFields, organizations, persons


def test_no_organizations_created_when_told_not_to(emulator: tuple[str, State]) -> None:
    url, state = emulator
    result = create(make(url, create_organizations=False), sample(1, organization="Nowhere Inc"))
    assert state.company.orgs == {} and result.fields is not None and "organization" not in result.fields


def test_incremental_pull_asks_for_changes_since_the_newest_update(emulator: tuple[str, State]) -> None:
    url, state = emulator
    connector = make(url)
    made = [create(connector, sample(i), f"h{i}") for i in range(4)]
    first = connector.pull(None, {})
    assert len(list(first.records)) == 4 and first.complete and first.cursor
    known = {r.native_id or "": r.version or "" for r in made}
    changed = state.company.update_person(int(made[2].native_id or 0), {"name": "Renamed Person"})
    assert changed is not None
    seen: list[httpx.Request] = []
    inc = make(url)
    inc.api.client._http.event_hooks["request"] = [seen.append]
    pull = inc.pull(first.cursor, known)
    records = [r for r in pull.records if isinstance(r, Record)]
    assert [r.native_id for r in records] == [made[2].native_id]
    assert records[0].fields["display_name"] == "Renamed Person"
    assert pull.complete is False and pull.deleted == set()
    listing = next(r for r in seen if r.url.path == "/api/v2/persons")
    assert listing.url.params["sort_by"] == "update_time" and listing.url.params["updated_since"]
    # nothing changed: nothing yielded, the cursor stays
    quiet = make(url).pull(pull.cursor, {**known, made[2].native_id or "": records[0].version})
    assert list(quiet.records) == [] and quiet.cursor is not None
    # a full listing again after full_every_hours: deletions are seen
    state.company.delete_person(int(made[0].native_id or 0))
    full = make(url, full_every_hours=0).pull(pull.cursor, known)
    list(full.records)
    assert full.complete and full.deleted == {made[0].native_id}


def test_an_edit_made_during_a_listing_is_seen_by_the_next_incremental_run(
    emulator: tuple[str, State],
) -> None:
    """A person edited after its page was read, then a person not yet listed edited later:
    the next run's ``updated_since`` must not pass the first edit. It did (the newest
    ``update_time`` the listing saw, the second edit's), so the first edit waited for the
    next full listing, ``full_every_hours`` later."""
    url, state = emulator
    company = state.company
    writer = make(url)
    made = [create(writer, sample(i), f"h{i}") for i in range(6)]
    known = {r.native_id or "": r.version or "" for r in made}
    first, last = int(made[0].native_id or 0), int(made[-1].native_id or 0)
    connector = make(url, page_size=2)  # a full listing (no cursor) sorted by id, 3 pages
    pull = connector.pull(None, known)
    # the first page is read, then both edits land, the already-listed person's first, the
    # other seconds later (``update_time`` has whole seconds: the emulator's clock is moved)
    listing = connector.api.pages

    def pages(path: str, params: Any, what: str) -> Any:
        for number, chunk in enumerate(listing(path, params, what)):
            yield chunk
            if number == 0:
                company.update_person(first, {"name": "Edited During Listing"})
                with company.lock:
                    company._last_time += 5
                company.update_person(last, {"name": "Also Edited"})

    connector.api.pages = pages  # type: ignore[method-assign]
    seen = [r for r in pull.records if isinstance(r, Record)]
    assert [r.fields["display_name"] for r in seen] == ["Also Edited"]
    known.update({r.native_id or "": r.version or "" for r in seen})
    later = make(url).pull(pull.cursor, known)
    again = [r for r in later.records if isinstance(r, Record)]
    assert not later.complete  # an incremental run, not the next full listing
    assert [r.fields["display_name"] for r in again] == ["Edited During Listing"]


def test_burst_limit_is_waited_for_not_run_into(emulator: tuple[str, State]) -> None:
    url, state = emulator
    for i in range(9):
        state.company.create_person({"name": f"Person {i}"})
    state.settings.burst = 3
    state.windows.clear()
    try:
        connector = make(url, page_size=2)
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            time.sleep(seconds)

        connector.api.client.sleep = sleep
        assert len(all_records(connector)) == 9
        assert slept and state.rate_limited == 0
    finally:
        state.settings.burst = 400
        state.windows.clear()


def test_429_storm_is_retried(emulator: tuple[str, State]) -> None:
    url, state = emulator
    for i in range(5):
        state.company.create_person({"name": f"Person {i}"})
    state.settings.storm, state.settings.storm_wait = 0.4, 0
    try:
        connector = make(url, page_size=1)
        spent = state.spent
        assert len(all_records(connector)) == 5
        assert state.rate_limited > 0
        # what Pipedrive charged: a call it refused with a 429 ran nothing (QA: "480 tokens
        # spent by this run" of a 400-token day)
        assert connector.budget.spent == state.spent - spent
    finally:
        state.settings.storm = 0.0


def test_daily_budget_defers_writes_and_the_next_day_finishes_them(emulator: tuple[str, State]) -> None:
    url, state = emulator
    state.settings.daily_tokens = 100
    connector = make(url, daily_reserve=20, create_organizations=False)
    connector.schema()  # 20 tokens
    ops = [WriteOp("create", f"h{i}", sample(i)) for i in range(20)]
    results = connector.write(ops)
    done = [r for r in results if r.error is None]
    deferred = [r for r in results if r.error is not None]
    # 80 tokens left, 20 kept in reserve: creates of 5 tokens until the reserve, then stop
    assert 8 <= len(done) <= 12 and len(done) + len(deferred) == 20
    assert all("deferred" in (r.error.message if r.error else "") for r in deferred)
    assert results[: len(done)] == done  # in order: the rest of the batch is deferred
    assert len(persons_of(state)) == len(done) and state.spent <= 100 - 20 + 5
    # midnight: the budget is back; the deferred ones are written, nothing twice
    state.spent, state.settings.daily_tokens = 0, 1000
    again = make(url, daily_reserve=20, create_organizations=False).write([r.op for r in deferred])
    assert all(r.error is None for r in again)
    assert sorted(p["first_name"] for p in persons_of(state)) == sorted(f"Given{i}" for i in range(20))


def test_no_writes_left_today_defers_writes(emulator: tuple[str, State]) -> None:
    url, state = emulator
    connector = make(url, create_organizations=False)
    first = create(connector, sample(1), "h1")
    assert connector.budget.writes_left == 9999
    state.writes_left = 1  # the documented per-day POST/PUT count for API tokens
    results = connector.write([WriteOp("create", f"h{i}", sample(i)) for i in range(2, 5)])
    assert [r.error is None for r in results] == [True, False, False]
    assert results[1].error is not None and "deferred" in results[1].error.message
    assert first.native_id and len(persons_of(state)) == 2


def test_max_tokens_per_run(emulator: tuple[str, State]) -> None:
    url = emulator[0]
    connector = make(url, max_tokens_per_run=40, create_organizations=False)
    results = connector.write([WriteOp("create", f"h{i}", sample(i)) for i in range(10)])
    assert 0 < sum(r.error is None for r in results) < 10
    assert connector.budget.spent <= 40


def test_an_exhausted_budget_fails_a_read_fast_and_clearly(emulator: tuple[str, State]) -> None:
    url, state = emulator
    state.settings.daily_tokens = 20
    connector = make(url)
    connector.api.client.sleep = lambda s: pytest.fail("waited on a day-long Retry-After")
    connector.schema()  # spends the 20
    with pytest.raises(RetriableError) as info:
        list(connector.pull(None, {}).records)
    assert "budget" in info.value.message and "next run" in info.value.message


def test_a_wrong_token_is_fatal_and_never_shown(emulator: tuple[str, State]) -> None:
    connector = PipedriveConnector(
        ConnectorConfig("pd", {"base_url": emulator[0], "api_token": "wrong-secret"})
    )
    with pytest.raises(FatalConnectorError) as info:
        connector.check()
    assert "wrong-secret" not in str(info.value) and "unauthorized" in str(info.value)


def test_settings_need_a_credential() -> None:
    with pytest.raises(ConfigError):
        PipedriveConnector(ConnectorConfig("pd", {"base_url": "http://127.0.0.1:9"}))


class FollowingUI:
    """Plays the person's browser: opens the authorization link, which the emulator answers
    with a redirect to our listener, and follows it."""

    def __init__(self) -> None:
        self.echoed: list[str] = []
        self.link = ""

    def echo(self, text: str) -> None:
        self.echoed.append(text)

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        return ""

    def open_link(self, url: str) -> None:
        self.link = url

    def wait_for_redirect(self, redirect_uri: str, state: str, timeout: float = 600) -> dict[str, str]:
        def visit() -> None:
            time.sleep(0.2)
            answer = httpx.get(self.link, follow_redirects=False)
            httpx.get(answer.headers["location"])

        threading.Thread(target=visit, daemon=True).start()
        return wait_for_redirect(redirect_uri, state, timeout=10)


def test_oauth_connect_then_sync_and_refresh(emulator: tuple[str, State]) -> None:
    url, state = emulator
    state.settings.client_id, state.settings.client_secret = "cid", "csecret"
    creds = MemoryCredentials()
    settings = {
        "oauth_url": url,
        "client_id": "cid",
        "client_secret": "csecret",
        "redirect_uri": f"http://127.0.0.1:{free_port()}/callback",
    }
    config = ConnectorConfig("pd", settings, credentials=creds)
    ui = FollowingUI()
    PipedriveConnector.connect(config, ui)
    link = httpx.URL(ui.link)
    assert link.params["client_id"] == "cid" and "csecret" not in ui.link
    assert creds.values["access_token"] and creds.values["api_domain"] == url
    connector = PipedriveConnector(config)  # no base_url: the company URL from the sign-in
    assert connector.base_url == url
    connector.check()
    create(connector, sample(1))
    refresh = creds.values["refresh_token"]
    state.access.clear()  # the access token died: one refresh, the same refresh token back
    assert len(all_records(connector)) == 1
    assert creds.values["refresh_token"] == refresh and creds.saves == 2
    with pytest.raises(ConfigError):
        PipedriveConnector.connect(ConnectorConfig("pd", {"api_token": TOKEN}), ui)


def test_an_update_keeps_the_spelling_of_the_emails_a_person_has(emulator: tuple[str, State]) -> None:
    """Every update sends all of a person's emails: one the person has as "Bo.Ek@Example.ORG",
    which the hub holds as "bo.ek@example.org" (the spelling it saw first, or one an older
    version lower-cased), keeps its own; a new one is sent as the hub has it."""
    url, state = emulator
    connector = make(url)
    typed = sample(1, emails=[{"value": "Bo.Ek@Example.ORG", "type": "work", "primary": True}])
    made = create(connector, typed)
    hub = sample(1)
    hub["emails"] = [
        {"value": "bo.ek@example.org", "type": "work", "primary": True},
        {"value": "Bo@Home.Example", "type": "home", "primary": False},
    ]
    [result] = connector.write([WriteOp("update", "hub-1", hub, made.native_id, made.version)])
    assert result.error is None, result.error
    person = state.company.persons[int(made.native_id or 0)]
    assert [e["value"] for e in person["emails"]] == ["Bo.Ek@Example.ORG", "Bo@Home.Example"]
    assert connector.get(made.native_id or "").fields["emails"][0]["value"] == "Bo.Ek@Example.ORG"


def test_a_type_of_several_words_gets_the_label_of_its_place_or_kind(emulator: tuple[str, State]) -> None:
    """A card's ``TEL;TYPE=home,x-useless`` (a phone app's own type beside the place) is
    the hub's type "home x-useless", and ``TYPE=cell,home`` "home cell": taken whole, both
    were labelled "other" in Pipedrive (QA). The label is found among the words, a phone's
    kind first; what the write leaves is what the hub reads back, so the next run writes
    nothing."""
    url, state = emulator
    connector = make(url)
    wanted = sample(1)
    wanted["phones"] = [
        {"value": "+12025557101", "type": "home x-useless", "primary": True},
        {"value": "+12025557102", "type": "home cell", "primary": False},
        {"value": "+12025557103", "type": "x-useless", "primary": False},
        {"value": "+12025557104", "type": "", "primary": False},
    ]
    wanted["emails"] = [{"value": "a@home.example", "type": "home x-private", "primary": True}]
    made = create(connector, wanted)
    person = state.company.persons[int(made.native_id or 0)]
    assert [p["label"] for p in person["phones"]] == ["home", "mobile", "other", "work"]
    assert [e["label"] for e in person["emails"]] == ["home"]
    got = connector.get(made.native_id or "")
    assert connector.read_back(wanted) == got.fields
    assert list(connector.pull(None, {got.native_id: got.version}).records) == []


def test_an_update_time_utc_cannot_hold_is_no_time() -> None:
    """``update_time`` at the edge of the calendar with an offset is no time: kept as it was,
    the engine's conversion to UTC raised OverflowError and failed every run."""
    from datetime import UTC, datetime

    from contacthub.connectors.pipedrive_map import modified_of

    assert modified_of({"update_time": "9999-12-31T23:00:00-01:00"}) is None
    assert modified_of({"update_time": "0001-01-01T00:00:00+01:00"}) is None
    got = modified_of({"update_time": "2026-03-04T05:06:07+02:00"})
    assert got == datetime(2026, 3, 4, 3, 6, 7, tzinfo=UTC) and got.utcoffset() == UTC.utcoffset(None)
    assert modified_of({"update_time": "2026-03-04 05:06:07"}) == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
