"""What one run carries around: the hub, its connectors as spokes, the report being built."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from contacthub.connectors.base import Connector
from contacthub.filters import Predicate
from contacthub.model import NAME_FIELDS, fields_equal, project
from contacthub.redact import scrub
from contacthub.store.repo import OP_COUNT, HubRow, Store, dumps, now

Progress = Callable[[str, int, int | None], None]  # phase, done, total (None: unknown)


@dataclass(slots=True)
class Spoke:
    """A connector of the hub as one run sees it."""

    id: int
    name: str
    position: int
    direction: str
    operations: frozenset[str]
    on_delete: str
    connector: Connector
    predicate: Predicate | None
    held: frozenset[str] | None
    active_links: int = 0
    #: deletions here were rejected by a person: detach instead of deleting
    keep_records: bool = False
    #: of these contacts only (``Options.rejected_only``); ``None``: all
    kept_only: frozenset[str] | None = None
    #: nothing changed since the connector was last fully in step: no plan needed
    in_step: bool = False
    #: its settings changed since its last applied run: the records its read no longer
    #: lists are let go, not deleted (``Inbound.deletions``)
    settings_changed: bool = False
    #: a write found its record gone (``outbound.gone``): the plan may have passed its
    #: contact already, so the connector is not taken as in step (the next run creates it)
    found_gone: bool = False
    #: the contacts whose cards it was asked to put back before any other write
    #: (``outbound.restore_pages``): one that failed is not tried a second time in the run
    restoring: set[str] = field(default_factory=set)
    # filled by the pull
    deleted: set[str] = field(default_factory=set)
    #: the hub contacts its deletions deleted in this run (``Inbound.deletions``), for the hold
    gone: list[str] = field(default_factory=list)
    #: its records read in this run that went back in time (``MergeResult.older``: older
    #: versions put back, a backup): its deletions are then held whatever their number
    went_back: int = 0
    complete: bool = False
    listed: int = 0
    cursor: str | None = None
    pulled: bool = False
    #: the end of its last applied run: when its records without a time of their own changed
    seen_at: str | None = None
    #: it keeps detached links (asked once, when a page first inserts links: ``outbound``)
    has_detached: bool | None = None
    #: it makes name parts of a display name sent alone (asked once: ``splits_names``)
    splits: bool | None = None

    def splits_names(self) -> bool:
        """Whether the system splits a display name it is sent without name parts into
        parts of its own (Pipedrive's first and last name), as its ``read_back`` says: only
        such a system's parts that spell the display name are none of the hub's. Guessed
        from the data alone, parts a person typed into a card to spell its unchanged FN
        were taken for a split, and the card was written back with N emptied (QA)."""
        if self.splits is None:
            sample = {
                "display_name": "Ann Lee",
                "emails": [{"value": "ann@example.com", "type": "", "primary": True}],
            }
            back = self.read_back(sample)  # (a connector that cannot say: taken to split)
            self.splits = back is None or any(back.get(n) for n in NAME_FIELDS)
        return self.splits

    def read_back(self, fields: dict[str, Any]) -> dict[str, Any] | None:
        """What a record written with ``fields`` reads as there (``Connector.read_back``),
        or None when the connector cannot say: the callers then compare as they are."""
        try:
            return self.connector.read_back(fields)
        except Exception:
            return None

    @property
    def readable(self) -> bool:
        """Its edits flow into the hub."""
        return self.direction in ("two-way", "to-hub")

    @property
    def writable(self) -> bool:
        """The hub writes into it."""
        return self.direction in ("two-way", "from-hub")

    @property
    def sends_deletions(self) -> bool:
        """A deleted hub contact's record here is deleted or deactivated (as
        ``outbound.plan_link`` decides), not left unlinked."""
        caps = self.connector.capabilities
        if (
            not self.writable
            or (self.keep_records and self.kept_only is None)
            or "delete" not in self.operations
        ):
            return False
        return (self.on_delete == "delete" and caps.delete) or (
            self.on_delete == "deactivate" and caps.deactivate
        )

    def keeps(self, contact_id: str) -> bool:
        """A person rejected the deletion of this contact's record here: detach it."""
        return self.keep_records and (self.kept_only is None or contact_id in self.kept_only)

    def passes(self, fields: dict[str, Any]) -> bool:
        return self.predicate is None or self.predicate(fields)

    def record_passes(self, fields: dict[str, Any], hub: Mapping[str, Any]) -> bool:
        """Whether a linked record is in this connector's filter: its own fields, and the
        hub's for the fields it cannot hold. A filter on ``custom.trade`` of a folder that
        maps no X-TRADE saw no trade in any card: each edited card left the filter, and
        its edit was never synced (the plan, which sees the hub's, took it back in)."""
        if self.predicate is None:
            return True
        if self.held is None:
            return self.predicate(fields)
        own = project(hub, self.held)
        view = {k: v for k, v in hub.items() if k not in own}
        view.update(fields)
        return self.predicate(view)

    def holds(self, want: dict[str, Any], record: Mapping[str, Any]) -> bool:
        """Whether a record holding ``record`` (projected on what this connector holds)
        holds ``want``: exactly, or all of it the system can (``Connector.read_back``: an
        Outlook file has no email types; compared as they were, a row of a person with
        typed emails was written again, unchanged, after every run that read it and
        whenever their title changed elsewhere)."""
        if fields_equal(want, record):
            return True
        held = self.connector.read_back(want)
        return held is not want and fields_equal(project(held, self.held), record)


@dataclass(slots=True)
class Options:
    dry_run: bool = False
    #: connector id -> deletions a person approved (a held run's figures)
    approved: dict[int, int] = field(default_factory=dict)
    #: connector ids whose deletions a person rejected: restore instead of delete
    rejected: frozenset[int] = frozenset()
    #: skip the delete hold (a run carrying on an undo killed before carries said which:
    #: ``run._carried``, carries stored by older versions)
    no_hold: bool = False
    #: the contacts those deletions were of, when a run carries on a killed reject
    #: (``run._carried``): a deletion made after the reject is not the person's to refuse.
    #: ``None``: every deletion in those connectors (the reject run itself)
    rejected_only: frozenset[str] | None = None
    #: killed undo runs this run carries on: the deletions they left undone in connectors
    #: are theirs, asked for by a person, and not held (``Store.count_undone_linked``);
    #: any other deletion is held as in a sync
    undo_runs: frozenset[int] = frozenset()
    #: the held runs a person approved: what their journals showed deleted goes through,
    #: any other deletion is held as in a sync (``run._holds``); a count let through
    #: deletions nobody saw, made after the hold
    approved_runs: frozenset[int] = frozenset()
    #: an approval carried by an older version, which named no run: up to the figures
    approved_by_count: bool = False


@dataclass(slots=True)
class Report:
    """Counts and errors of a run, in the shape ``contacthub sync --json`` prints."""

    run_id: int
    status: str = "running"
    changes: dict[str, dict[str, int]] = field(default_factory=dict)
    conflicts: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    message: str | None = None
    held: list[dict[str, Any]] = field(default_factory=list)
    #: requests each connector made to its system's API, by HTTP method
    api_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    #: seconds each connector's API clients waited (rate limits, retries), read by metrics
    waited: dict[str, float] = field(default_factory=dict)
    #: the secret settings of the run's connectors: never in an error (``unsaid``)
    secrets: list[str] = field(default_factory=list, repr=False)
    #: records let go per connector (out of its filter, a deletion it may not make): no
    #: change to count, but the text report says so, or an edit that went nowhere (made
    #: to a record as it left the filter) ended in "no changes" (not in ``--json``)
    unlinked: dict[str, int] = field(default_factory=dict)
    #: records left behind for deleted people that people added again took up, per
    #: connector (``engine.leftovers``): instead of a second record beside each (not in
    #: ``--json`` either)
    taken_up: dict[str, int] = field(default_factory=dict)
    #: an undo's: of the people it deletes (the undone run created or restored them), how
    #: many a later run edited, the edit still standing: they go with their edits, which a
    #: person should see before going ahead (``None``: not an undo)
    edited_since: int | None = None

    def count(self, name: str, op: str, n: int = 1) -> None:
        kind = OP_COUNT.get(op)
        if kind:
            self.changes.setdefault(name, {"create": 0, "update": 0, "delete": 0})[kind] += n

    def error(self, connector: str, record: str, message: str) -> None:
        self.errors.append(
            {"connector": connector, "record": self.unsaid(record), "message": self.unsaid(message)}
        )

    def unsaid(self, text: str) -> str:
        """``text`` without the run's secrets: the errors are stored with the run, and shown
        to every user of the hub, for good (``contacthub.redact``; the vendor's words are
        masked where they are read too, ``http.message_of``)."""
        return scrub(text, self.secrets)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run": self.run_id,
            "status": self.status,
            "changes": self.changes,
            "conflicts": self.conflicts,
            "errors": self.errors,
        }
        if self.api_calls:
            out["api_calls"] = self.api_calls
        if self.edited_since is not None:
            out["edited_since"] = self.edited_since
        if self.held:  # a held run's reasons, or a dry run's: what a real run would hold
            out["held"] = [
                {"connector": h["connector"], "deletes": h["deletes"], "reason": h["reason"]}
                for h in self.held
            ]
        return out


@dataclass(slots=True)
class RunContext:
    store: Store
    hub: HubRow
    spokes: list[Spoke]
    run_id: int
    started: str  # ISO time of the run start, UTC
    options: Options
    report: Report
    progress: Progress | None = None
    #: journal rows not yet written (see ``flush_journal``)
    journal: list[dict[str, Any]] = field(default_factory=list)
    #: conflicts the policy settled (``auto``), written with the journal: one insert a
    #: chunk, where each merge's own cost a first sync of overlapping books a round trip
    #: per contact; open ones are written at once, as the run reads them back
    settled: list[dict[str, Any]] = field(default_factory=list)
    #: the journal of a run that ends held or planned, copied to a temporary file before its
    #: transaction is rolled back and recorded again from there (``spill_journal``), without
    #: keeping a large run's journal in memory
    spill: IO[bytes] | None = None
    open_conflicts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: hub contacts an earlier pull of this run changed (see ``Inbound.deletions``)
    edited: set[str] = field(default_factory=set)
    #: hub contact -> the connector whose record changed its display name earlier in this
    #: run: a connector holding none that renames the person then is a rival name
    #: (``Inbound._merge``), not one to spell into that display name
    shown_by: dict[str, int] = field(default_factory=dict)
    #: how many hub contacts this run made (``engine.twins``; which ones, the journal says:
    #: a set of 50,000 ids was 6 MB of a first sync's peak)
    made: int = 0
    #: link id -> what its record held before the run an undo takes back (``engine.undo``)
    reverts: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: link ids of records an undone run took up and showed again, to hide again
    #: (``engine.undo._taken_up_hidden``, ``outbound.hide_again``)
    hide_again: set[int] = field(default_factory=set)

    def flush_settled(self) -> None:
        """Write the pending settled conflicts (one bulk insert)."""
        if self.settled:
            self.store.add_conflicts(self.settled)
            self.settled = []

    def flush_journal(self) -> None:
        """Write the pending journal rows and settled conflicts (a bulk insert each)."""
        self.flush_settled()
        if not self.journal:
            return
        self.store.add_changes(self.journal, returning=False)
        self.journal = []

    def spill_journal(self) -> None:
        """Copy the run's journal so far to the spill file, before its transaction is
        rolled back. Done only for runs that are not applied: copying every row of every
        run as it was written cost a first sync 10 µs a row."""
        self.flush_journal()
        for rows in self.store.journal_pages(self.run_id):
            self.spill_rows(rows)

    def spill_rows(self, rows: list[dict[str, Any]]) -> None:
        import orjson

        if self.spill is None:
            self.spill = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the run ends
        for row in rows:
            self.spill.write(orjson.dumps({**row, "at": row["at"].isoformat()}) + b"\n")

    def spilled(self, size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """The spilled rows again, in batches, in the order they were written."""
        import orjson

        if self.spill is None:
            return
        self.spill.seek(0)
        batch: list[dict[str, Any]] = []
        for line in self.spill:
            row = orjson.loads(line)
            row["at"] = datetime.fromisoformat(row["at"])
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    @property
    def positions(self) -> dict[int, int]:
        return {s.id: s.position for s in self.spokes}

    def spoke_name(self, connector_id: int | None) -> str:
        for spoke in self.spokes:
            if spoke.id == connector_id:
                return spoke.name
        return "hub"

    def let_go(self, spoke: Spoke) -> None:
        """Count a record the connector lets go (out of its filter, out of what its changed
        settings list, a deletion it may not make) for the report; not the unlinks of
        records gone, whose person is written there again (modification beats deletion,
        a reject)."""
        self.report.unlinked[spoke.name] = self.report.unlinked.get(spoke.name, 0) + 1

    def change_row(
        self,
        spoke: Spoke | None,
        op: str,
        contact_id: str | None,
        before: Any,
        after: Any,
        status: str,
        native_id: str | None = None,
    ) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "connector_id": spoke.id if spoke else None,
            "connector_name": spoke.name if spoke else "hub",
            "contact_id": contact_id,
            "native_id": native_id,
            "op": op,
            "before": None if before is None else dumps(before),
            "after": None if after is None else dumps(after),
            "status": status,
            "error": None,
            "at": now(),
        }
