"""People a run made twice: which new hub contacts are another contact of the hub.

Matching takes a record's keys one record at a time, in hub order. The same person can
then become two contacts in one run: a phone's card with only their email, a CRM's entry
with only their phone and name (neither matches the other), and an export with both, read
last, links to the first and makes it share a key with the second. Nothing written yet
holds the second one, so it is folded into the first once every connector is read
(``Inbound.join_twins``) instead of being copied everywhere as a duplicate for good.

Only a contact made in this run is folded, into the older of the pair: a contact of an
earlier run has copies in other connectors, and joining two such is a person's decision.
Never when one connector holds a record of each: that is two people there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def order(created: set[str]) -> Callable[[str], tuple[bool, str]]:
    """Oldest first: contacts of earlier runs, then those of this run as they were made
    (ids sort by time of making)."""
    return lambda cid: (cid in created, cid)


def twins(groups: Iterable[list[str]], created: set[str]) -> list[tuple[str, str]]:
    """Pairs of contacts that share a match key directly, at least one made in this run,
    the older first, from groups of contacts holding one key each. Only direct pairs: two
    people who each share a key with a third (a household's email, the second one's
    phone) are no pair, and folding along a chain joined them."""
    oldest = order(created)
    out: set[tuple[str, str]] = set()
    for group in groups:
        members = sorted(set(group), key=oldest)
        keep = members[0]
        out.update((keep, cid) for cid in members[1:] if cid in created)
    return sorted(out, key=lambda pair: (oldest(pair[0]), oldest(pair[1])))
