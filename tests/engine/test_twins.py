"""Which contacts a run made twice fold into which (``engine.twins``), without a store."""

from __future__ import annotations

from contacthub.engine.twins import twins


def test_a_new_contact_folds_into_one_of_an_earlier_run() -> None:
    assert twins([["n1", "old"]], created={"n1"}) == [("old", "n1")]


def test_new_contacts_fold_into_the_first_made() -> None:
    assert twins([["n2", "n1"]], created={"n1", "n2"}) == [("n1", "n2")]


def test_a_chain_of_shared_keys_is_one_person() -> None:
    groups = [["n1", "n2"], ["n3", "n2"], ["n3", "old"]]
    assert sorted(twins(groups, created={"n1", "n2", "n3"})) == [("old", "n1"), ("old", "n2"), ("old", "n3")]


def test_contacts_of_earlier_runs_never_fold() -> None:
    assert twins([["old1", "old2"]], created=set()) == []
    assert twins([["old1", "old2", "n1"]], created={"n1"}) == [("old1", "n1")]
