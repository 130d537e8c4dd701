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
