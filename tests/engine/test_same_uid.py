"""Two records of one connector carrying one UID: a copy of a record (a file manager's
"Duplicate" of a card) is no second person, in any connector.

Made a person of its own (under a hub-made UID), the copy was one more person everywhere,
and its edit, read as another person's record at its id (its UID is another contact's),
deleted that person everywhere and made a third.
"""

from __future__ import annotations

from contacthub.engine.context import Report
from tests.engine.harness import Hub
from tests.engine.test_scenarios import person


def _copy_errors(report: Report) -> list[tuple[str, str]]:
    return [(e["record"], e["message"]) for e in report.errors if "same UID" in e["message"]]


def test_records_new_in_one_pull_with_one_uid_make_one_person(database_url: str) -> None:
    """None linked yet: the shortest id is the person's record, whatever order they come in."""
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("y", person(1, job_title="Copy"), "uid-ann")
    a.put("x", person(1), "uid-ann")
    report = hub.sync()
    assert report.changes["hub"]["create"] == 1 and report.changes["b"]["create"] == 1
    assert _copy_errors(report) == [
        ("memory:y", "holds the same UID as 'x' (a copy?): not synced; delete one, or give it its own UID")
    ]
    [item] = b.items.values()
    assert item.hub_id == "uid-ann" and "job_title" not in item.fields  # x's, not y's
    again = hub.sync()
    assert again.changes == {} and len(_copy_errors(again)) == 1  # said on every run


def test_a_file_managers_copy_named_longer_is_the_copy_at_a_first_sync(database_url: str) -> None:
    """ "ann (1).vcf" sorts before "ann.vcf" (a space before a dot): taken first by id, the
    copy was the person, its details synced, and the original was named the copy (QA)."""
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("ann.vcf", person(1), "uid-ann")
    a.put("ann (1).vcf", person(1, job_title="Copy"), "uid-ann")
    report = hub.sync()
    assert _copy_errors(report) == [
        (
            "memory:ann (1).vcf",
            "holds the same UID as 'ann.vcf' (a copy?): not synced; delete one, or give it its own UID",
        )
    ]
    [item] = b.items.values()
    assert "job_title" not in item.fields  # the original's details, not the copy's


def test_a_copy_of_a_linked_record_is_not_synced_and_its_edit_changes_nothing(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1), "uid-ann")
    hub.sync()
    before = {nid: (item, dict(item.fields)) for nid, item in b.items.items()}
    a.put("a-copy", person(1), "uid-ann")  # sorts before the original: the link decides
    report = hub.sync()
    assert report.changes == {}, report.changes
    assert [m for _, m in _copy_errors(report)] == [
        "holds the same UID as 'x' (a copy?): not synced; delete one, or give it its own UID"
    ]
    a.edit("a-copy", job_title="Edited copy")
    report = hub.sync()
    assert report.changes == {} and len(_copy_errors(report)) == 1
    assert {nid: (item, item.fields) for nid, item in b.items.items()} == before
    assert set(a.items) == {"x", "a-copy"}  # nothing written to the copy, nothing deleted
    a.edit("x", job_title="Edited original")  # the original's edits flow on
    assert hub.sync().changes["b"]["update"] == 1
    assert [i.fields.get("job_title") for i in b.items.values()] == ["Edited original"]


def test_a_copy_kept_when_the_original_goes_is_the_record_moved(database_url: str) -> None:
    hub = Hub(database_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    a.put("x", person(1), "uid-ann")
    hub.sync()
    [(bid, b_item)] = b.items.items()
    a.put("x (1)", person(1), "uid-ann")
    hub.sync()
    del a.items["x"]
    report = hub.sync()
    assert report.changes == {} and report.errors == []
    assert b.items == {bid: b_item}  # never deleted and made again
    a.edit("x (1)", job_title="Kept copy")
    assert hub.sync().changes["b"] == {"create": 0, "update": 1, "delete": 0}
    assert b.items[bid].fields["job_title"] == "Kept copy"
