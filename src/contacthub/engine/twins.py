"""People a run made twice: which new hub contacts are another contact of the hub.

Matching takes a record's keys one record at a time, in hub order. The same person can
then become two contacts in one run: a phone's card with only their email, a CRM's entry
with only their phone and name (neither matches the other), and an export with both, read
last, links to the first and makes it share a key with the second. Nothing written yet
holds the second one, so it is folded into the first once every connector is read
(``Inbound.join_twins``) instead of being copied everywhere as a duplicate for good.

Only contacts made in this run are folded, never into one of their own: a contact of an
earlier run has copies in other connectors, and joining two such is a person's decision.
"""

from __future__ import annotations

from collections.abc import Iterable


def twins(groups: Iterable[list[str]], created: set[str]) -> list[tuple[str, str]]:
    """(keep, fold) pairs from groups of contact ids that share a match key: each contact
    made in this run (``created``) folds into the oldest contact of its group, a contact
    of an earlier run first, else the first made (ids sort by time of making); groups that
    share a contact join (a chain of shared keys is one person)."""
    parent: dict[str, str] = {}

    def root(cid: str) -> str:
        while parent.get(cid, cid) != cid:
            cid = parent[cid]
        return cid

    def order(cid: str) -> tuple[bool, str]:
        return (cid in created, cid)

    for group in groups:
        members = sorted({root(cid) for cid in group}, key=order)
        keep = members[0]
        for cid in members[1:]:
            if cid in created:
                parent[cid] = keep
    return [(root(cid), cid) for cid in sorted(parent, key=order)]
