"""Unit tests for the pure three-way merge of engine/merge.py (no store, no connectors)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contacthub.engine.merge import MergeResult, Side, Sources, merge, merge_sets
from contacthub.model import Fields, element_key, fields_equal, normalize_multi

HUB_CONNECTOR = 1  # the connector that set the hub's values (position 0)
INCOMING = 2  # the connector bringing "theirs" (position 1)
POSITIONS = {HUB_CONNECTOR: 0, INCOMING: 1}
EARLY = "2026-01-01T00:00:00+00:00"
LATE = "2026-01-02T00:00:00+00:00"


def side(modified: str = LATE, connector_id: int = INCOMING) -> Side:
    return Side(connector_id, POSITIONS.get(connector_id, 9), modified)


def run(
    base: Fields | None,
    ours: Fields,
    theirs: Fields,
    *,
    policy: str = "newest",
    held: frozenset[str] | None = None,
    sources: Sources | None = None,
    by: Side | None = None,
) -> MergeResult:
    return merge(base, ours, theirs, held, sources or {}, by or side(), policy, POSITIONS)


def emails(*values: str, primary: str | None = None, types: dict[str, str] | None = None) -> list[Any]:
    items = [{"value": v, "type": (types or {}).get(v, ""), "primary": v == primary} for v in values]
    return normalize_multi("emails", items)


def values_of(items: list[Any]) -> set[str]:
    return {e["value"] for e in items}


# --- one side changed ------------------------------------------------------------------------


def test_only_theirs_changed_takes_theirs_and_records_the_source() -> None:
    base = {"job_title": "Clerk", "notes": "n"}
    result = run(base, dict(base), {"job_title": "Foreman", "notes": "n"})
    assert result.fields == {"job_title": "Foreman", "notes": "n"}
    assert result.changed == ["job_title"]
    assert result.conflicts == []
    assert result.sources["job_title"] == [INCOMING, LATE]


def test_newest_a_change_of_one_side_by_a_record_older_than_the_hub_value_is_no_edit() -> None:
    """A folder restored from a backup: its card changed since the hub last agreed with it,
    but the card is older than the hub's value (set since, elsewhere). Under ``newest`` the
    hub keeps its value, and the card's is kept in a conflict the hub won. Within the
    clocks' 5 minutes, or with no time of the record's own, or under ``priority``, it is an
    edit as before."""
    base = {"job_title": "Clerk"}
    hub = {"job_title": "Clerk"}
    sources: Sources = {"job_title": [HUB_CONNECTOR, LATE]}
    older = Side(INCOMING, 1, EARLY, own=True)
    result = run(base, hub, {"job_title": "Fitter"}, sources=sources, by=older)
    assert result.fields == hub and result.changed == []
    [c] = result.conflicts
    assert (c.ours, c.theirs, c.winner) == ("Clerk", "Fitter", "hub")
    slack = Side(INCOMING, 1, "2026-01-01T23:56:00+00:00", own=True)  # 4 minutes before
    assert run(base, hub, {"job_title": "Fitter"}, sources=sources, by=slack).changed == ["job_title"]
    timeless = Side(INCOMING, 1, EARLY, own=False)  # its connector's last read, not its own
    assert run(base, hub, {"job_title": "Fitter"}, sources=sources, by=timeless).changed == ["job_title"]
    ranked = run(base, hub, {"job_title": "Fitter"}, sources=sources, by=older, policy="priority")
    assert ranked.changed == ["job_title"]
    # a value where the hub has none is a first sighting (a column added back), taken
    first = run({}, {}, {"job_title": "Fitter"}, sources={"*": [HUB_CONNECTOR, LATE]}, by=older)
    assert first.changed == ["job_title"] and not first.older


def test_only_ours_changed_keeps_ours() -> None:
    base = {"job_title": "Clerk"}
    result = run(base, {"job_title": "Foreman"}, dict(base))
    assert result.fields == {"job_title": "Foreman"}
    assert result.changed == [] and result.conflicts == []


def test_theirs_removed_a_field_removes_it() -> None:
    base = {"job_title": "Clerk", "notes": "n"}
    result = run(base, dict(base), {"notes": "n"})
    assert "job_title" not in result.fields
    assert result.changed == ["job_title"]


def test_theirs_added_a_field() -> None:
    base = {"notes": "n"}
    result = run(base, {"notes": "n"}, {"notes": "n", "custom.trade": "HVAC"})
    assert result.fields["custom.trade"] == "HVAC"


def test_inputs_are_not_mutated() -> None:
    base = {"job_title": "Clerk"}
    ours = {"job_title": "Clerk"}
    sources: Sources = {"job_title": [HUB_CONNECTOR, EARLY]}
    run(base, ours, {"job_title": "Foreman"}, sources=sources)
    assert ours == {"job_title": "Clerk"}
    assert sources == {"job_title": [HUB_CONNECTOR, EARLY]}


def test_both_changed_to_the_same_value_is_no_conflict() -> None:
    base = {"job_title": "Clerk"}
    result = run(base, {"job_title": "Foreman"}, {"job_title": "Foreman"}, policy="manual")
    assert result.fields == {"job_title": "Foreman"}
    assert result.conflicts == [] and result.changed == []


# --- both changed differently: the policies ----------------------------------------------------


def conflicting(policy: str, sources: Sources, by: Side) -> MergeResult:
    return run(
        {"job_title": "Clerk"},
        {"job_title": "Hub value"},
        {"job_title": "Their value"},
        policy=policy,
        sources=sources,
        by=by,
    )


def test_newest_takes_the_later_record() -> None:
    result = conflicting("newest", {"job_title": [HUB_CONNECTOR, EARLY]}, side(LATE))
    assert result.fields["job_title"] == "Their value"
    [c] = result.conflicts
    assert (c.field, c.ours, c.theirs, c.ours_source, c.winner) == (
        "job_title",
        "Hub value",
        "Their value",
        HUB_CONNECTOR,
        "incoming",
    )
    assert result.sources["job_title"] == [INCOMING, LATE]


def test_newest_keeps_the_hub_value_when_it_is_later() -> None:
    result = conflicting("newest", {"job_title": [HUB_CONNECTOR, LATE]}, side(EARLY))
    assert result.fields["job_title"] == "Hub value"
    [c] = result.conflicts
    assert c.winner == "hub" and c.theirs == "Their value"  # the loser is kept
    assert result.changed == []
    assert result.sources["job_title"] == [HUB_CONNECTOR, LATE]


def test_newest_a_stored_time_past_the_horizon_is_none() -> None:
    """A time an older version stored ahead (a REV of 2100, kept as it was) beat every real
    edit for good; past the latest time the hub itself stores now (``Side.horizon``) it is
    no time: a record with a time of its own wins, one that says none (never read) not."""
    ahead = {"job_title": [HUB_CONNECTOR, "2100-01-01T00:00:00+00:00"]}
    horizon = "2026-01-02T00:05:01+00:00"
    assert conflicting("newest", ahead, Side(INCOMING, 1, LATE, horizon)).conflicts[0].winner == "incoming"
    assert conflicting("newest", ahead, Side(INCOMING, 1, "", horizon)).conflicts[0].winner == "hub"
    # within it, a time stored is weighed as it is
    held = {"job_title": [HUB_CONNECTOR, "2026-01-02T00:05:00.5+00:00"]}
    assert conflicting("newest", held, Side(INCOMING, 1, LATE, horizon)).conflicts[0].winner == "hub"


def test_newest_without_a_known_hub_time_takes_theirs() -> None:
    result = conflicting("newest", {}, side(EARLY))
    assert result.fields["job_title"] == "Their value"
    assert result.conflicts[0].winner == "incoming"


def test_priority_keeps_the_value_of_the_earlier_connector() -> None:
    # the hub value came from position 0, the incoming connector is position 1
    result = conflicting("priority", {"job_title": [HUB_CONNECTOR, EARLY]}, side(LATE))
    assert result.fields["job_title"] == "Hub value"
    assert result.conflicts[0].winner == "hub"


def test_priority_takes_the_earlier_connector_even_if_older() -> None:
    result = conflicting("priority", {"job_title": [INCOMING, LATE]}, side(EARLY, connector_id=HUB_CONNECTOR))
    assert result.fields["job_title"] == "Their value"
    assert result.conflicts[0].winner == "incoming"


def test_priority_when_the_hub_value_has_no_known_connector() -> None:
    result = conflicting("priority", {"job_title": [None, LATE]}, side(EARLY))
    assert result.fields["job_title"] == "Their value"


def test_manual_leaves_it_open_and_the_hub_keeps_its_value() -> None:
    result = conflicting("manual", {"job_title": [HUB_CONNECTOR, EARLY]}, side(LATE))
    assert result.fields["job_title"] == "Hub value"
    [c] = result.conflicts
    assert c.winner == "open" and c.theirs == "Their value" and c.ours == "Hub value"
    assert result.changed == []


@pytest.mark.parametrize("policy", ["newest", "priority", "manual"])
def test_conflict_on_one_field_does_not_block_the_others(policy: str) -> None:
    base = {"job_title": "Clerk", "notes": "old"}
    result = run(
        base,
        {"job_title": "A", "notes": "old"},
        {"job_title": "B", "notes": "new"},
        policy=policy,
        sources={"job_title": [HUB_CONNECTOR, EARLY]},
    )
    assert result.fields["notes"] == "new"
    assert [c.field for c in result.conflicts] == ["job_title"]


# --- no baseline: first link ----------------------------------------------------------------


def test_no_baseline_fills_empty_fields_from_theirs() -> None:
    result = run(None, {"given_name": "Ada"}, {"given_name": "Ada", "organization": "ACME"})
    assert result.fields == {"given_name": "Ada", "organization": "ACME"}
    assert result.changed == ["organization"] and result.conflicts == []


def test_no_baseline_never_takes_absence_as_deletion() -> None:
    result = run(None, {"given_name": "Ada", "notes": "keep"}, {"given_name": "Ada"})
    assert result.fields == {"given_name": "Ada", "notes": "keep"}
    assert result.changed == []


def test_no_baseline_unites_sets() -> None:
    ours = {"emails": emails("a@x.org", primary="a@x.org")}
    theirs = {"emails": emails("b@x.org", "a@x.org", primary="b@x.org")}
    result = run(None, ours, theirs)
    assert values_of(result.fields["emails"]) == {"a@x.org", "b@x.org"}
    assert result.conflicts == []


@pytest.mark.parametrize("policy,winner", [("newest", "incoming"), ("manual", "open")])
def test_no_baseline_conflict_on_different_scalars(policy: str, winner: str) -> None:
    result = run(None, {"job_title": "A"}, {"job_title": "B"}, policy=policy)
    [c] = result.conflicts
    assert c.field == "job_title" and c.winner == winner


SHORT = {"display_name": "Ann Lee", "given_name": "Ann", "family_name": "Lee"}
LONG = {
    "display_name": "Dr. Ann Marie Lee-Smith",
    "name_prefix": "Dr.",
    "given_name": "Ann",
    "middle_name": "Marie",
    "family_name": "Lee-Smith",
}


@pytest.mark.parametrize(
    "ours,theirs,hub_time,whole",
    [
        (SHORT, LONG, LATE, SHORT),  # the hub's short name wins: theirs' extra parts stay out
        (LONG, SHORT, EARLY, SHORT),  # theirs' short name wins: the hub's extra parts go
        (SHORT, LONG, EARLY, LONG),
    ],
)
def test_no_baseline_a_name_is_decided_whole(
    ours: Fields, theirs: Fields, hub_time: str, whole: Fields
) -> None:
    """First sight of two names: the parts only one side has are part of its name, not
    empty slots to fill in (the winner "Ann Lee" became "Lee;Ann;Marie;Dr.")."""
    sources: Sources = {"*": [HUB_CONNECTOR, hub_time]}
    result = run(
        None, dict(ours), dict(theirs), sources=sources, by=side(modified="2026-01-01T12:00:00+00:00")
    )
    assert result.fields == whole
    winners = {c.winner for c in result.conflicts}
    assert winners == {"hub" if whole is ours else "incoming"}
    assert {c.field for c in result.conflicts} >= {
        "display_name",
        "family_name",
        "middle_name",
        "name_prefix",
    }


def test_no_baseline_name_parts_fill_a_display_name_alone() -> None:
    result = run(None, {"display_name": "Ann Lee"}, dict(SHORT))
    assert result.fields == SHORT
    assert result.conflicts == []


# --- multi-valued fields merge as sets ---------------------------------------------------------


def test_additions_on_both_sides_survive() -> None:
    base = {"emails": emails("a@x.org")}
    ours = {"emails": emails("a@x.org", "hub@x.org")}
    theirs = {"emails": emails("a@x.org", "their@x.org")}
    result = run(base, ours, theirs, policy="manual")
    assert values_of(result.fields["emails"]) == {"a@x.org", "hub@x.org", "their@x.org"}
    assert result.conflicts == [] and result.changed == ["emails"]


def test_removal_on_their_side_is_applied_keeping_our_additions() -> None:
    base = {"emails": emails("a@x.org", "gone@x.org")}
    ours = {"emails": emails("a@x.org", "gone@x.org", "hub@x.org")}
    theirs = {"emails": emails("a@x.org")}
    result = run(base, ours, theirs)
    assert values_of(result.fields["emails"]) == {"a@x.org", "hub@x.org"}


def test_removing_the_last_element_removes_the_field() -> None:
    base = {"emails": emails("a@x.org"), "given_name": "Ada"}
    result = run(base, dict(base), {"given_name": "Ada"})
    assert "emails" not in result.fields


def test_element_attribute_edit_on_their_side() -> None:
    base = {"emails": emails("a@x.org", types={"a@x.org": "work"})}
    ours = {"emails": emails("a@x.org", "hub@x.org", types={"a@x.org": "work"})}
    theirs = {"emails": emails("a@x.org", types={"a@x.org": "home"})}
    result = run(base, ours, theirs)
    by_value = {e["value"]: e for e in result.fields["emails"]}
    assert by_value["a@x.org"]["type"] == "home"
    assert "hub@x.org" in by_value


def test_element_edit_on_our_side_is_kept_when_theirs_did_not_touch_it() -> None:
    base = {"emails": emails("a@x.org", "b@x.org", types={"a@x.org": "work"})}
    ours = {"emails": emails("a@x.org", "b@x.org", types={"a@x.org": "home"})}
    theirs = {"emails": emails("a@x.org", "b@x.org", "c@x.org", types={"a@x.org": "work"})}
    result = run(base, ours, theirs)
    by_value = {e["value"]: e for e in result.fields["emails"]}
    assert by_value["a@x.org"]["type"] == "home"
    assert set(by_value) == {"a@x.org", "b@x.org", "c@x.org"}


def test_a_type_the_file_could_not_hold_is_no_edit_of_ours() -> None:
    """A third work phone sits in Outlook's untyped Other Phone (baseline: no type); moved
    there to Home Phone, it is home: the hub's "work" was where the file could not say it,
    not an edit, and it won, putting the number back in Other Phone every run."""
    base = {"emails": emails("a@x.org", types={"a@x.org": ""})}
    ours = {"emails": emails("a@x.org", types={"a@x.org": "work"})}
    theirs = {"emails": emails("a@x.org", types={"a@x.org": "home"})}
    assert run(base, ours, theirs).fields["emails"][0]["type"] == "home"


def test_primary_moved_on_their_side_is_followed() -> None:
    base = {"emails": emails("a@x.org", "b@x.org", primary="a@x.org")}
    ours = {"emails": emails("a@x.org", "b@x.org", "hub@x.org", primary="a@x.org")}
    theirs = {"emails": emails("a@x.org", "b@x.org", primary="b@x.org")}
    result = run(base, ours, theirs)
    merged = result.fields["emails"]
    assert [e["value"] for e in merged if e["primary"]] == ["b@x.org"]
    assert merged[0]["value"] == "b@x.org"  # the primary comes first
    assert values_of(merged) == {"a@x.org", "b@x.org", "hub@x.org"}


def test_an_element_edited_where_it_was_primary_by_default_moves_no_primary() -> None:
    """QA: an Outlook file of Mobile and Other Phone columns read its first phone as the
    primary; the person's mobile edited there (the element primary in that file edited
    away, the new number primary by default) became their primary phone everywhere."""
    base = {"emails": emails("m@x.org", "h@x.org", primary="m@x.org")}
    ours = {"emails": emails("h@x.org", "m@x.org", "c@x.org", primary="h@x.org")}
    theirs = {"emails": emails("m2@x.org", "h@x.org", primary="m2@x.org")}
    merged = run(base, ours, theirs).fields["emails"]
    assert [e["value"] for e in merged if e["primary"]] == ["h@x.org"]
    assert values_of(merged) == {"h@x.org", "m2@x.org", "c@x.org"}


def test_a_record_seen_for_the_first_time_does_not_move_the_primary() -> None:
    """Linked without a baseline, nothing of it moved: a Thunderbird file whose Work Phone
    column comes first made that number the person's primary, and their card said pref."""
    ours = {"emails": emails("a@x.org", "b@x.org", primary="a@x.org")}
    theirs = {"emails": emails("b@x.org", "c@x.org", primary="b@x.org")}
    result = run(None, ours, theirs)
    merged = result.fields["emails"]
    assert [e["value"] for e in merged if e["primary"]] == ["a@x.org"]
    assert values_of(merged) == {"a@x.org", "b@x.org", "c@x.org"}


def test_element_edit_survives_a_primary_move_on_our_side() -> None:
    base = {"emails": emails("a@x.org", "b@x.org", primary="a@x.org", types={"b@x.org": "work"})}
    ours = {"emails": emails("a@x.org", "b@x.org", primary="b@x.org", types={"b@x.org": "work"})}
    theirs = {"emails": emails("a@x.org", "b@x.org", primary="a@x.org", types={"b@x.org": "home"})}
    result = run(base, ours, theirs)
    by_value = {e["value"]: e for e in result.fields["emails"]}
    assert by_value["b@x.org"]["type"] == "home"  # their edit
    assert by_value["b@x.org"]["primary"] is True  # our primary move


def test_phones_are_one_element_whatever_the_punctuation() -> None:
    base = {"phones": [{"value": "+12025550100", "type": "", "primary": True}]}
    ours = {"phones": [{"value": "+1 (202) 555-0100", "type": "", "primary": True}]}
    theirs = {
        "phones": [
            {"value": "+12025550100", "type": "", "primary": True},
            {"value": "+12025550199", "type": "cell", "primary": False},
        ]
    }
    result = run(base, ours, theirs)
    assert len(result.fields["phones"]) == 2


def test_addresses_merge_as_sets() -> None:
    home = {"street": "1 Main St", "city": "Springfield", "region": "", "postal_code": "", "country": ""}
    work = {**home, "street": "9 Work Rd"}
    shop = {**home, "street": "5 Shop Ln"}
    base = {"addresses": [{**home, "type": "home"}]}
    ours = {"addresses": [{**home, "type": "home"}, {**work, "type": "work"}]}
    theirs = {"addresses": [{**shop, "type": "work"}]}
    result = run(base, ours, theirs)
    streets = {a["street"] for a in result.fields["addresses"]}
    assert streets == {"9 Work Rd", "5 Shop Ln"}  # home removed there, work added here


def test_merge_sets_directly() -> None:
    merged = merge_sets(
        "websites",
        [{"value": "https://a.example", "type": ""}],
        [{"value": "https://a.example", "type": ""}, {"value": "https://b.example", "type": ""}],
        [{"value": "https://c.example", "type": ""}],
    )
    # a removed there and c added: an edit of a, which keeps a's place
    assert [w["value"] for w in merged] == ["https://c.example", "https://b.example"]


# --- held limits the fields considered -------------------------------------------------------


def test_held_ignores_fields_the_connector_does_not_hold() -> None:
    base = {"job_title": "Clerk", "notes": "hub notes"}
    ours = dict(base)
    theirs = {"job_title": "Foreman"}  # no notes: it cannot store them
    result = run(base, ours, theirs, held=frozenset({"job_title"}))
    assert result.fields == {"job_title": "Foreman", "notes": "hub notes"}
    assert result.changed == ["job_title"]


def test_without_held_the_same_absence_is_a_deletion() -> None:
    base = {"job_title": "Clerk", "notes": "hub notes"}
    result = run(base, dict(base), {"job_title": "Foreman"}, held=None)
    assert "notes" not in result.fields


def test_held_custom_wildcard() -> None:
    base = {"custom.a": "1", "notes": "n"}
    theirs = {"custom.a": "2", "custom.b": "new"}
    result = run(base, dict(base), theirs, held=frozenset({"custom.*"}))
    assert result.fields == {"custom.a": "2", "custom.b": "new", "notes": "n"}


def test_held_without_custom_ignores_custom_fields() -> None:
    base = {"custom.a": "1"}
    result = run(base, dict(base), {"custom.a": "2"}, held=frozenset({"notes"}))
    assert result.fields == {"custom.a": "1"} and result.changed == []


# --- properties (after vdirsyncer's metasync fuzz test) ---------------------------------------

POOL = ["a@x.org", "b@x.org", "c@x.org", "d@x.org", "e@x.org"]
SCALARS = ["job_title", "notes", "custom.trade"]

scalar_value = st.sampled_from(["", "one", "two", "three"])
email_set = st.lists(st.sampled_from(POOL), unique=True, max_size=4).flatmap(
    lambda vs: st.builds(
        lambda primary, types: emails(*vs, primary=primary, types=types),
        st.sampled_from([None, *vs]),
        st.fixed_dictionaries({v: st.sampled_from(["", "work", "home"]) for v in vs}),
    )
)


@st.composite
def contact(draw: st.DrawFn) -> Fields:
    out: Fields = {}
    for name in SCALARS:
        value = draw(scalar_value)
        if value:
            out[name] = value
    items = draw(email_set)
    if items:
        out["emails"] = items
    return out


def keys_of(items: list[Any] | None) -> set[tuple[str, ...]]:
    return {element_key("emails", e) for e in items or ()}


@settings(max_examples=200)
@given(
    base=st.one_of(st.none(), contact()),
    ours=contact(),
    theirs=contact(),
    policy=st.sampled_from(["newest", "priority", "manual"]),
    hub_time=st.sampled_from([EARLY, LATE]),
)
def test_never_drops_an_element_theirs_added(
    base: Fields | None, ours: Fields, theirs: Fields, policy: str, hub_time: str
) -> None:
    sources: Sources = {k: [HUB_CONNECTOR, hub_time] for k in ours}
    result = merge(base, ours, theirs, None, sources, side(), policy, POSITIONS)
    added = keys_of(theirs.get("emails")) - keys_of((base or {}).get("emails"))
    assert added <= keys_of(result.fields.get("emails"))
    # and sets never conflict
    assert all(c.field != "emails" for c in result.conflicts)
    # and the result is normalised: exactly one primary, first
    merged = result.fields.get("emails")
    if merged:
        assert [e["primary"] for e in merged] == [True] + [False] * (len(merged) - 1)


@settings(max_examples=200)
@given(base=contact(), ours=contact(), policy=st.sampled_from(["newest", "priority", "manual"]))
def test_theirs_unchanged_keeps_ours(base: Fields, ours: Fields, policy: str) -> None:
    result = merge(base, ours, dict(base), None, {}, side(), policy, POSITIONS)
    assert fields_equal(result.fields, ours)
    assert result.changed == [] and result.conflicts == []


@settings(max_examples=200)
@given(base=contact(), theirs=contact(), policy=st.sampled_from(["newest", "priority", "manual"]))
def test_ours_unchanged_takes_theirs(base: Fields, theirs: Fields, policy: str) -> None:
    result = merge(base, dict(base), theirs, None, {}, side(), policy, POSITIONS)
    assert fields_equal(result.fields, theirs)
    assert result.conflicts == []


@settings(max_examples=200)
@given(base=st.one_of(st.none(), contact()), ours=contact(), theirs=contact())
def test_merging_again_is_stable(base: Fields | None, ours: Fields, theirs: Fields) -> None:
    """Merging the same record twice changes nothing the second time: no ping-pong."""
    first = merge(base, ours, theirs, None, {}, side(), "newest", POSITIONS)
    second = merge(base, first.fields, theirs, None, first.sources, side(), "newest", POSITIONS)
    # element attributes are left out: see test_element_edit_survives_a_primary_move_on_our_side
    assert {k: v for k, v in second.fields.items() if k != "emails"} == {
        k: v for k, v in first.fields.items() if k != "emails"
    }
    assert keys_of(second.fields.get("emails")) == keys_of(first.fields.get("emails"))
    assert second.conflicts == []


def test_an_element_edited_there_keeps_the_type_ours_gave_it() -> None:
    """The baseline holds the type a file's slot reads as ("other": Outlook's Other address
    columns), the hub the type a person chose ("work"). An edit of the city there (to the
    set: one address removed, one added) kept the slot's type; theirs did not change the
    type, so ours stays. A type theirs did change is still theirs."""
    a = {"street": "1 A St", "city": "NYC", "region": "", "postal_code": "", "country": ""}
    b = {**a, "street": "2 B St"}
    base = [{**a, "type": "work"}, {**b, "type": "other"}]
    ours = [{**a, "type": "work"}, {**b, "type": "work"}]
    theirs = [{**a, "type": "work"}, {**b, "city": "Brooklyn", "type": "other"}]
    merged = merge_sets("addresses", base, ours, theirs)
    assert merged == [{**a, "type": "work"}, {**b, "city": "Brooklyn", "type": "work"}]
    theirs[1]["type"] = "home"
    assert merge_sets("addresses", base, ours, theirs)[1] == {**b, "city": "Brooklyn", "type": "home"}


def test_an_address_spelt_with_a_separator_at_an_end_is_the_same_address() -> None:
    """ "Silicon Alley 5," (a card's comma left unescaped) and the "Silicon Alley 5" a
    CardDAV server stores for it: linked afresh (no baseline), the record's spelling is no
    second address (the person had both). Removing the comma there is still an edit, as
    is any other change of the street."""
    home = {"street": "Silicon Alley 5,", "city": "New York", "region": "", "postal_code": "", "country": ""}
    trimmed = {**home, "street": "Silicon Alley 5"}
    assert element_key("addresses", home) == element_key("addresses", trimmed)
    assert merge_sets("addresses", None, [home], [trimmed], follow_primary=False) == [home]
    assert merge_sets("addresses", [home], [home], [trimmed]) == [trimmed]
    moved = {**home, "street": "Silicon Alley 6"}
    assert merge_sets("addresses", [home], [home], [moved]) == [moved]
    assert not fields_equal({"addresses": [home]}, {"addresses": [trimmed]})
    assert element_key("addresses", {**home, "street": "; Silicon Alley 5 ;"}) == element_key(
        "addresses", trimmed
    )
    assert element_key("addresses", {**home, "street": "Silicon, Alley 5"}) != element_key(
        "addresses", trimmed
    )


def test_an_element_removed_there_with_another_added_of_another_type_is_not_paired() -> None:
    base = emails("a@x.org", types={"a@x.org": ""})
    ours = emails("a@x.org", types={"a@x.org": "work"})
    theirs = emails("b@x.org", types={"b@x.org": "home"})
    assert merge_sets("emails", base, ours, theirs) == theirs


def test_an_element_edited_there_keeps_its_place() -> None:
    """A file with three email slots, the hub four: the edit of E-mail 3 (to the set, e3
    removed, e3x added) takes e3's place. At the end of the list, the same run wrote the
    file back with e4 in that slot, and the person's edit vanished from their own file."""
    ours = emails("e1@x.org", "e2@x.org", "e3@x.org", "e4@x.org", primary="e1@x.org")
    base = emails("e1@x.org", "e2@x.org", "e3@x.org", primary="e1@x.org")
    theirs = emails("e1@x.org", "e2@x.org", "e3x@x.org", primary="e1@x.org")
    merged = merge_sets("emails", base, ours, theirs)
    assert [e["value"] for e in merged] == ["e1@x.org", "e2@x.org", "e3x@x.org", "e4@x.org"]
    # two edits pair in order; an addition with nothing removed still goes to the end
    theirs = emails("e1@x.org", "e2x@x.org", "e3x@x.org", "e5@x.org", primary="e1@x.org")
    merged = merge_sets("emails", base, ours, theirs)
    assert [e["value"] for e in merged] == ["e1@x.org", "e2x@x.org", "e3x@x.org", "e4@x.org", "e5@x.org"]
    # the hub's primary, edited there, stays primary
    ours = emails("e1@x.org", "e2@x.org", "e3@x.org", primary="e2@x.org")
    theirs = emails("e1@x.org", "e2x@x.org", "e3@x.org", primary="e1@x.org")
    merged = merge_sets("emails", base, ours, theirs)
    assert [(e["value"], e["primary"]) for e in merged][:2] == [("e2x@x.org", True), ("e1@x.org", False)]
