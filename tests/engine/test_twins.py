"""Which contacts a run made twice pair up (``engine.twins``), without a store."""

from __future__ import annotations

from contacthub.engine.twins import twins


def test_a_new_contact_pairs_with_one_of_an_earlier_run() -> None:
    assert twins([["n1", "old"]], created={"n1"}) == [("old", "n1")]


def test_new_contacts_pair_with_the_first_made() -> None:
    assert twins([["n2", "n1"]], created={"n1", "n2"}) == [("n1", "n2")]


def test_only_contacts_that_share_a_key_pair() -> None:
    """John shares the household email with Jane's card, Jane's card shares her phone with
    her CSV row: John and the CSV row share nothing, and were folded together."""
    groups = [["john", "jane_card"], ["jane_row", "jane_card"]]
    pairs = twins(groups, created={"jane_row", "john", "jane_card"})
    assert pairs == [("jane_card", "jane_row"), ("jane_card", "john")]
    assert ("jane_row", "john") not in pairs and ("john", "jane_row") not in pairs


def test_contacts_of_earlier_runs_never_pair() -> None:
    assert twins([["old1", "old2"]], created=set()) == []
    assert twins([["old1", "old2", "n1"]], created={"n1"}) == [("old1", "n1")]


def test_namesakes_with_no_email_or_phone_are_matched_only_when_alike(database_url: str) -> None:
    """A person with no email and no phone has only their name as a key (``NAME_ONLY``): a
    record of that name finds them only when it holds exactly what the hub holds; two
    namesakes that differ stay two people, in the same run (no twins) and later."""
    from tests.engine.harness import Hub as MemoryHub

    hub = MemoryHub(database_url, ["a", "b", "c"], threshold="50")
    ann = {"display_name": "Ann Lee", "given_name": "Ann", "family_name": "Lee"}
    hub.book("a").put("x", {**ann, "organization": "X"})
    hub.book("b").put("y", {**ann, "organization": "Y"})
    hub.sync()
    assert sorted(i.fields["organization"] for i in hub.book("c").items.values()) == ["X", "Y"]
    bo = {"display_name": "Bo Ek", "given_name": "Bo", "family_name": "Ek", "organization": "Ek & Sons"}
    hub.book("c").put("z", bo)
    hub.book("a").put("w", dict(bo))
    report = hub.sync()
    assert report.changes.get("hub", {}).get("create") == 1, report.changes
    assert len(hub.book("b").items) == 3 and len(hub.book("a").items) == 3
    assert hub.sync().changes == {}


def test_a_record_of_a_name_alone_never_finds_a_person_by_it(database_url: str) -> None:
    """A list that holds only names (a colleague "John Smith") held exactly what the hub
    held of the plumber John Smith there, his name: it was linked to him, and removing
    the row deleted his card everywhere (QA). A name alone proves nothing: a record found
    by its name must agree on another value too."""
    from tests.engine.harness import Hub as MemoryHub

    hub = MemoryHub(database_url, ["a"], threshold="50")
    smith = {"display_name": "John Smith", "given_name": "John", "family_name": "Smith", "notes": "plumber"}
    hub.book("a").put("x", smith)
    hub.sync()
    hub.book("b").put("row", {"display_name": "John Smith"})  # a list of colleagues' names
    hub.names.append("b")
    hub.apply(b={"fields": ["display_name"]})
    hub.sync()
    assert hub.book("a").items["x"].fields["notes"] == "plumber"
    assert len(hub.book("a").items) == 2 and len(hub.book("b").items) == 2  # two people
    del hub.book("b").items["row"]  # the colleague leaves the list
    hub.sync()
    assert [i.fields.get("notes") for i in hub.book("a").items.values()] == ["plumber"]
