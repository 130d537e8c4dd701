"""One run of one hub, start to end: the order of the steps and what commits when.

    1. record the run (and mark runs a killed process left behind as interrupted)
    2. build the connectors; a connector that cannot work fails the run before any write
    3. inbound transaction: pull, filter, match, merge, deletions seen at the connectors
    4. hold check: too many deletions, or a connector that suddenly lists nothing
    5. dry run or held: the plan is recorded, the inbound transaction is rolled back, so
       nothing is written anywhere and no cursor moves
    6. otherwise commit the inbound work, then plan and apply page by page
       (``engine.outbound``), then save cursors and close the run

A record that is bad or refused is reported and skipped; the run still ends ``applied``.
Any other exception (a bug) ends the run ``failed`` at once, saying "internal error" and
what was raised, and is raised again for the command line or the worker to show.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, StatementError

from contacthub.connectors.base import Connector, ConnectorConfig
from contacthub.connectors.registry import build
from contacthub.engine.context import Options, Progress, Report, RunContext, Spoke
from contacthub.engine.inbound import Inbound
from contacthub.engine.outbound import apply_pages, describe, link_only, plan_pages, restore_pages
from contacthub.errors import ConfigError, ConnectorError, RecordError, UserError
from contacthub.filters import compile_filter
from contacthub.store import secrets
from contacthub.store.repo import ConnectorRow, HubRow, Store, loads

Prepare = Callable[[RunContext], None]

log = logging.getLogger(__name__)


def over_threshold(threshold: str, count: int, linked: int) -> bool:
    """Whether ``count`` deletions among ``linked`` records need a person's approval.

    ``"10%"`` means more than 10 % of the linked records and at least 5; ``"50"`` means more
    than 50."""
    text = threshold.strip()
    if text.endswith("%"):
        share = float(text[:-1])
        return count >= 5 and count > linked * share / 100
    return count > int(text)


def connector_for(row: ConnectorRow, hub: HubRow, engine: Engine | None = None) -> Connector:
    """The connector of a stored row, its secrets decrypted; with ``engine``, the tokens it
    obtains by signing in are kept in the store (``store.credentials``)."""
    settings = {**row.settings, **secrets.decrypt(row.secrets, f"connector {row.name!r}")}
    # null is no value of any setting: an older version stored ``trash_days = inf`` so, and
    # every run failed on it ("not None"); it counts as not set, the type's default
    settings = {key: value for key, value in settings.items() if value is not None}
    config = ConnectorConfig(row.name, settings, dict(row.mapping), hub.settings.get("phone_region", "US"))
    config.hub = hub.name
    if engine is not None:
        from contacthub.store.credentials import StoredCredentials

        config.credentials = StoredCredentials(engine, row.id, f"connector {row.name!r}")
        config.local_dir = local_dir(engine, row.id)
    return build(row.type, config)


def local_dir(engine: Engine, connector_id: int) -> Path:
    """A connector's own directory in the data directory, named after the database and the
    connector's id (as its credentials' side file is), so two hubs' stores never share one."""
    from contacthub.store.db import data_dir

    key = f"{engine.url.render_as_string(hide_password=True)}#{connector_id}"
    return data_dir() / "connectors" / hashlib.sha256(key.encode()).hexdigest()[:24]


def _spokes(
    engine: Engine, hub: HubRow, rows: list[ConnectorRow], options: Options, cursors: dict[int, str | None]
) -> list[Spoke]:
    """Each connector as this run sees it; what it holds is judged by the cursor its pull
    will get (``Connector.held_fields``): read before the pull, ``fields`` alone did not
    know what the hub last applied of it."""
    spokes = []
    for row in rows:
        connector = connector_for(row, hub, engine)
        spokes.append(
            Spoke(
                row.id,
                row.name,
                row.position,
                row.direction,
                frozenset(row.operations),
                row.on_delete,
                connector,
                compile_filter(row.filter, f"connector {row.name!r} filter"),
                connector.held_fields(cursors.get(row.id)),
                keep_records=row.id in options.rejected,
                kept_only=options.rejected_only,
                settings_changed=row.settings_changed,
            )
        )
    return spokes


class _Tx:
    """The current transaction on the run's connection, re-opened after each commit; it
    remembers the report's counts as of the last commit, which are what a run that fails
    afterwards kept (it showed the hub's creates of a pull that was rolled back)."""

    def __init__(self, conn: Connection, report: Report) -> None:
        self.conn = conn
        self.trans = conn.begin()
        self.report = report
        self.kept: dict[str, dict[str, int]] = {}

    def commit(self) -> None:
        self.trans.commit()
        self.trans = self.conn.begin()
        self.kept = {name: dict(counts) for name, counts in self.report.changes.items()}

    def rollback(self) -> None:
        if self.trans.is_active:
            self.trans.rollback()


def run_hub(
    engine: Engine,
    hub_name: str,
    *,
    kind: str = "sync",
    options: Options | None = None,
    parent_id: int | None = None,
    prepare: Prepare | None = None,
    progress: Progress | None = None,
    lock_wait: float | None = None,
    on_wait: Callable[[], None] | None = None,
) -> Report:
    """One run; see the module docstring. Returns the report whatever the outcome.

    The whole run holds the hub's lock (``scheduler.lock``), so a hub never runs twice at
    once whoever starts it; ``lock_wait`` is how long to wait for a run in progress
    (``None``: until it ends), after which ``HubBusy`` is raised and nothing is recorded;
    ``on_wait`` is called once if it has to wait."""
    from contacthub.scheduler.lock import hub_lock

    with hub_lock(engine, hub_name, wait=lock_wait, on_wait=on_wait):
        return _run_hub(engine, hub_name, kind, options, parent_id, prepare, progress)


def run_locked(
    engine: Engine,
    hub_name: str,
    *,
    kind: str,
    options: Options,
    parent_id: int | None = None,
    progress: Progress | None = None,
) -> Report:
    """``run_hub`` for a caller already holding the hub's lock: one that must decide what
    the run does under the lock (an approve or a reject, whose held run a sync finished
    while it waited may have put out of date)."""
    return _run_hub(engine, hub_name, kind, options, parent_id, None, progress)


def _run_hub(
    engine: Engine,
    hub_name: str,
    kind: str,
    options: Options | None,
    parent_id: int | None,
    prepare: Prepare | None,
    progress: Progress | None,
) -> Report:
    options = options or Options()
    with engine.begin() as conn:
        store = Store(conn)
        hub = store.hub(hub_name)
        options, carries = _carried(store, hub.id, options, parent_id if kind == "reject" else None)
        if options.dry_run:  # a dry run changes nothing: the next real run recovers them
            run_id = store.start_run(hub.id, "dry-run", parent_id)
        else:
            store.interrupted_runs(hub.id)
            run_id = store.start_run(hub.id, kind, parent_id, carries)
        rows = store.connectors(hub.id)
        cursors = {row.id: store.cursor(row.id) for row in rows}
    report = Report(run_id)
    started = datetime.now(UTC).isoformat()
    try:
        spokes = _spokes(engine, hub, rows, options, cursors)
        report.secrets = [value for spoke in spokes for value in spoke.connector.secret_values()]
        for spoke in spokes:
            spoke.connector.check()
    except (UserError, ConnectorError) as exc:
        return _fail(engine, report, exc)
    except Exception as exc:
        _fail_internal(engine, report, exc)
        raise
    conn = engine.connect()
    tx = _Tx(conn, report)
    ctx = RunContext(Store(conn), hub, spokes, run_id, started, options, report, progress)
    try:
        if hub.conflict != "manual":
            # left open under "manual" before the policy changed: the hub keeps its value
            # and edits merge by the new policy (they stayed waiting for a person)
            ctx.store.close_conflicts(hub.id)
        own: dict[int, int] = {}
        # a killed undo carried on: its deletions left undone are its own, also where it
        # made them before it was killed (the connector lists fewer: not held either)
        carried_own = {s.id: _undone(ctx, s) for s in spokes}
        prepared = 0  # the last journal row of the prepared changes
        if prepare is not None:
            prepare(ctx)
            prepared = ctx.store.last_change(run_id)
        ctx.open_conflicts = ctx.store.open_conflicts(hub.id)  # an undo may reopen some
        inbound = Inbound(ctx)
        inbound.pull_all()
        inbound.join_twins()
        deleted_by = {s.id: inbound.deletions(s) for s in spokes}
        inbound.take_up_left_behind()  # (a person added again: no second record beside)
        ctx.store.close_conflicts(hub.id, of_deleted=True)  # nothing left to decide
        for spoke in spokes:
            if spoke.writable:
                stored = ctx.store.stored_plan_mark(spoke.id)
                spoke.in_step = stored is not None and stored == ctx.store.plan_mark(hub.id, spoke.id)
        for spoke in spokes:  # those still to delete, once inbound dropped the ones made
            # what the prepared changes delete themselves (an undo of a first copy deletes
            # every copy it made): a person asked for exactly that, it is not held. Counted
            # now: one of them gone from the connector meanwhile is none to make (counted
            # before the pull, it hid another deletion there from the hold)
            if prepared:
                own[spoke.id] = ctx.store.count_prepared_linked(hub.id, spoke.id, run_id, prepared)
            own[spoke.id] = own.get(spoke.id, 0) + _undone(ctx, spoke)
        holds = [] if options.no_hold else _holds(ctx, deleted_by, own, carried_own)
        if options.dry_run or holds:
            ctx.spill_journal()
            _plan_only(ctx)
            _note_calls(report, spokes)
            tx.rollback()
            report.held = holds
            # a dry run is never held: nothing would be approved from it
            then = None
            if holds and kind == "undo" and parent_id is not None:
                then = f"the undo of run {parent_id} was not done: decide this run, then undo it again"
            # held, it still carries the killed undo on: the run deciding it (or the next
            # sync) does too (``Store.killed_decisions``)
            kept = {"undo_runs": sorted(options.undo_runs)} if holds and options.undo_runs else None
            return _record_plan(engine, ctx, "planned" if options.dry_run else "held", then, kept)
        ctx.store.set_run_status(run_id, "applying")
        tx.commit()
        # connectors that put deleted cards back whole write first: a restored person's new
        # copies elsewhere then start from the card with its photo (``start_from_cards``).
        # When two or more keep cards, no order serves each (an undo of a run that deleted
        # a card in each): their cards put back are written first, alone (``restore_pages``)
        writing = [s for s in spokes if s.writable and not s.in_step]
        keeping = [s for s in writing if s.connector.keeps_deleted_cards]
        failed: set[int] = set()
        for spoke in keeping if len(keeping) > 1 else []:
            errors = len(report.errors)
            apply_pages(ctx, spoke, restore_pages(ctx, spoke), tx.commit, _written(progress, spoke))
            if len(report.errors) != errors:
                failed.add(spoke.id)
        for spoke in sorted(writing, key=lambda s: not s.connector.keeps_deleted_cards):
            errors = len(report.errors)
            apply_pages(ctx, spoke, plan_pages(ctx, spoke), tx.commit, _written(progress, spoke))
            # in step only when every write went through; otherwise plan again next time
            clean = len(report.errors) == errors and spoke.id not in failed and not spoke.found_gone
            ctx.store.set_plan_mark(spoke.id, ctx.store.plan_mark(hub.id, spoke.id) if clean else None)
            tx.commit()
        for spoke in spokes:
            if spoke.pulled:
                ctx.store.set_cursor(spoke.id, spoke.connector.applied_cursor(spoke.cursor))
                if spoke.settings_changed and spoke.complete:  # read whole under them
                    ctx.store.settings_applied(spoke.id)
        report.status = "applied"
        _note_calls(report, spokes)
        ctx.store.finish_run(run_id, "applied", _counts(report), report.errors)
        tx.commit()
        return report
    except (UserError, ConnectorError) as exc:
        tx.rollback()
        report.changes = tx.kept
        _note_calls(report, spokes)
        return _fail(engine, report, exc)
    except Exception as exc:
        # a bug: ended as a connector's failure is (rolled back, what was committed kept),
        # then raised again. Left "running" it was shown so until the next run took it
        # for a killed one, and the hub was locked for nothing meanwhile in the dashboard
        tx.rollback()
        report.changes = tx.kept
        _note_calls(report, spokes)
        _fail_internal(engine, report, exc)
        raise
    finally:
        tx.rollback()
        conn.close()
        if ctx.spill is not None:
            ctx.spill.close()
        for spoke in spokes:
            waited = _waited(spoke.connector)
            if waited:
                report.waited[spoke.name] = waited
            spoke.connector.close()
            spoke.connector.config.credentials.flush()  # a token refreshed while the run held SQLite


def _written(progress: Progress | None, spoke: Spoke) -> Callable[[int], None] | None:
    """What the progress bar hears of each page written."""
    if progress is None:
        return None
    label = f"writing {spoke.name}"
    return lambda count: progress(label, count, None)


def _waited(connector: Connector) -> float:
    """Seconds the connector's API clients slept for rate limits and retries (for metrics)."""
    import sys

    http = sys.modules.get("contacthub.connectors.http")  # not loaded: no API client exists
    if http is None:
        return 0.0
    attrs = getattr(connector, "__dict__", {}).values()
    return float(sum(v.waited for v in attrs if isinstance(v, http.ApiClient)))


def _fail(engine: Engine, report: Report, exc: UserError | ConnectorError) -> Report:
    """End the run as failed, the error attributed to its connector (else to the hub)."""
    name = exc.connector if isinstance(exc, ConnectorError) and not isinstance(exc, RecordError) else None
    return _failed(engine, report, name, f"connector {name!r}: {exc.message}" if name else str(exc))


def _fail_internal(engine: Engine, report: Report, exc: Exception) -> None:
    """End the run as failed for an exception nobody raised on purpose (a bug), before the
    caller raises it again: said as an internal error with its type and its text (the
    database driver's words alone for a store error, never the statement, which holds
    people's data), masked like any message of the run. When even that cannot be recorded
    (the store is what failed), one line says so and the exception itself is what is raised;
    the run stays "running" until the hub's next run marks it interrupted and finishes it."""
    said = _said(exc)
    try:
        _failed(engine, report, None, f"internal error: {said}")
    except Exception as failure:
        # one line, no traceback: a database restarted mid-sync printed four chained ones
        # to the terminal (and cron's mail), with the statements' values, people's emails
        # (QA). When the run's own error was the store's too, whoever catches it says so
        # (the command line, a worker): this is only the log's detail, not a warning
        level = logging.INFO if isinstance(exc, DBAPIError) else logging.WARNING
        log.log(
            level,
            "run %s: its failure could not be recorded (%s); the hub's next run finishes it",
            report.run_id,
            report.unsaid(_said(failure)),
        )


def _said(exc: BaseException) -> str:
    """An exception in one line, its type and its text: for a store error the database
    driver's words alone, never the statement."""
    cause = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    text = " ".join(str(cause).split())
    return f"{type(cause).__name__}: {text[:500]}" if text else type(cause).__name__


def _failed(engine: Engine, report: Report, name: str | None, text: str) -> Report:
    """Record the run as failed with ``text`` (masked), attributed to connector ``name``."""
    message = report.unsaid(text)
    report.status = "failed"
    report.message = message
    report.error(name or "hub", "", message)
    with engine.begin() as conn:
        store = Store(conn)
        store.finish_run(report.run_id, "failed", _counts(report), report.errors, message)
        # a page whose writes went out when the system failed (a server gone mid-copy):
        # left "pending" for good, an undo took their copies for the system's own records
        store.mark_interrupted([report.run_id])
    return report


def _counts(report: Report) -> dict[str, Any]:
    counts = {"changes": report.changes, "conflicts": report.conflicts, "held": report.held}
    if report.api_calls:
        counts["api_calls"] = report.api_calls
    return counts


def _note_calls(report: Report, spokes: list[Spoke]) -> None:
    for spoke in spokes:
        calls = spoke.connector.api_calls()
        if calls:
            report.api_calls[spoke.name] = dict(calls)


def _undone(ctx: RunContext, spoke: Spoke) -> int:
    """Active links of ``spoke`` to contacts the killed undos this run carries on deleted
    (0 when it carries none)."""
    if not ctx.options.undo_runs:
        return 0
    return ctx.store.count_undone_linked(ctx.hub.id, spoke.id, ctx.options.undo_runs)


def _holds(
    ctx: RunContext, deleted_by: dict[int, int], own: dict[int, int], own_linked: dict[int, int]
) -> list[dict[str, Any]]:
    """Why this run needs a person before it writes anything (empty: it does not).

    ``own``: connector id -> deletions the run's ``prepare`` made itself, or a killed undo
    it carries on left to do, which are not counted (an undo's own deletions are what a
    person asked for). Those its sync found are, as in any sync: skipping the whole check
    for an undo carried out a mass deletion made meanwhile in one connector, in the hub
    and every other connector, unheld. ``own_linked``: the links of a carried undo's
    deletions before the pull; a connector listing nothing where it had only those is the
    undo's writes done before it was killed, not a connector emptied."""
    holds: list[dict[str, Any]] = []
    threshold = ctx.hub.delete_threshold
    approved, rejected = ctx.options.approved, ctx.options.rejected
    # an approve lets through the deletions its held run showed, each by its contact (in
    # the hub) or its contact and connector (outbound); any other is judged as in a sync.
    # Up to the held figures, it deleted people a person edited back and nobody saw
    # deleted instead: others deleted after the hold, in the same numbers
    shown_runs = sorted(ctx.options.approved_runs) if not ctx.options.approved_by_count else []
    shown = ctx.store.shown_deleted(shown_runs) if shown_runs else frozenset()
    unseen = f" that held run {', '.join(map(str, shown_runs))} did not show" if shown_runs else ""
    lost: dict[int, int] = {}  # connector id -> the hub contacts its deletions deleted, unapproved
    for spoke in ctx.spokes:
        linked = spoke.active_links
        others = linked - own_linked.get(spoke.id, 0)
        emptied = spoke.pulled and spoke.complete and spoke.listed == 0 and others > 0
        # a rejected one writes the records back: nothing of it is deleted to hold
        if emptied and spoke.id not in approved and spoke.id not in rejected:
            holds.append(
                {
                    "connector": spoke.name,
                    "connector_id": spoke.id,
                    "deletes": linked,
                    "reason": f"{spoke.name} listed no records where it had {linked} before",
                }
            )
            continue
        gone = deleted_by.get(spoke.id, 0)
        if shown_runs:
            gone = len([contact_id for contact_id in spoke.gone if contact_id not in shown])
        elif gone <= approved.get(spoke.id, -1):
            gone = 0
        lost[spoke.id] = gone
        over = over_threshold(threshold, gone, linked)
        # or records that went back in time (a folder put back from a backup): the people
        # missing from it were added since, and went from everywhere with the restore,
        # under the threshold, with nothing said (QA)
        if over or (gone and spoke.went_back):
            why = (
                f" (threshold {threshold})"
                if over
                else f", where {spoke.went_back} record(s) went back to older versions (a backup put back?)"
            )
            holds.append(
                {
                    "connector": spoke.name,
                    "connector_id": spoke.id,
                    "deletes": gone,
                    "reason": f"{gone} of {linked} records deleted in {spoke.name}{unseen}{why}",
                }
            )
    if not holds:
        holds += _hub_hold(ctx, lost, unseen)
    for spoke in ctx.spokes:
        if (
            spoke.in_step
            or not spoke.writable
            or spoke.on_delete == "ignore"
            or "delete" not in spoke.operations
            or spoke.keep_records  # a person rejected its deletions: they become detaches
        ):
            continue
        deleted = ctx.store.count_deleted_linked(ctx.hub.id, spoke.id, unshown_by=shown_runs)
        outgoing = max(0, deleted - own.get(spoke.id, 0))
        if not shown_runs and outgoing <= approved.get(spoke.id, -1):
            outgoing = 0
        if over_threshold(threshold, outgoing, spoke.active_links):
            holds.append(
                {
                    "connector": spoke.name,
                    "connector_id": spoke.id,
                    "deletes": outgoing,
                    "reason": f"would delete {outgoing} of {spoke.active_links} records in {spoke.name}"
                    f"{unseen} (threshold {threshold})",
                }
            )
    return holds


def _hub_hold(ctx: RunContext, lost: dict[int, int], unseen: str) -> list[dict[str, Any]]:
    """The hub's own hold: its deletions over all connectors against its live contacts, by
    the same threshold. Counted per connector alone, 4 deleted in one folder and 4 others
    in another of 50 people each stayed under "at least 5", and 16 % of the hub went from
    everywhere unheld (QA). Its entry names the connectors (``by``) whose deletions an
    approve or a reject decides (``held_figures``)."""
    total = sum(lost.values())
    if not total:
        return []
    threshold = ctx.hub.delete_threshold
    live = ctx.store.count_live(ctx.hub.id) + sum(len(spoke.gone) for spoke in ctx.spokes)
    if not over_threshold(threshold, total, live):
        return []
    where = ", ".join(f"{lost[spoke.id]} in {spoke.name}" for spoke in ctx.spokes if lost.get(spoke.id))
    return [
        {
            "connector": "hub",
            "connector_id": None,
            "by": {str(connector_id): n for connector_id, n in lost.items() if n},
            "deletes": total,
            "reason": f"{total} of {live} hub contacts deleted{unseen} ({where}; threshold {threshold})",
        }
    ]


def _plan_only(ctx: RunContext) -> None:
    """The outbound plan as journal rows (spilled with the rest), without writing anything.
    A planned write the connector refuses without a call (``Connector.refusal``) is one of
    the run's errors, as the real run would say it, not a planned change."""
    for spoke in ctx.spokes:
        if not spoke.writable or spoke.in_step:
            continue
        for page in plan_pages(ctx, spoke):
            rows = link_only(ctx, spoke, page)
            for step in page:
                if step.op is None:
                    continue
                refused = spoke.connector.refusal(step.op)
                if refused is not None:
                    ctx.report.error(spoke.name, refused.record, refused.message)
                    continue
                op, before, after = describe(step)
                rows.append(
                    ctx.change_row(spoke, op, step.contact.id, before, after, "planned", step.op.native_id)
                )
                ctx.report.count(spoke.name, op)
            ctx.spill_rows(rows)


def _record_plan(
    engine: Engine,
    ctx: RunContext,
    status: str,
    then: str | None = None,
    carries: dict[str, Any] | None = None,
) -> Report:
    """Record the journal of a run that is not applied, every row ``planned``; ``then``
    is said after the hold's reasons (what a held undo leaves to do); ``carries``: kept in
    its counts, what the runs after it carry on (``Store.killed_decisions``)."""
    report = ctx.report
    report.status = status
    message = "; ".join(h["reason"] for h in report.held) if report.held else None
    if message and status == "planned":
        message = f"a real run would be held: {message}"
    if message and then:
        message = f"{message}; {then}"
    report.message = message
    with engine.begin() as conn:
        store = Store(conn)
        for rows in ctx.spilled():
            for row in rows:
                row["status"] = "planned"
            store.add_changes(rows, returning=False)
        counts = _counts(report)
        if carries:
            counts["carries"] = carries
        store.finish_run(report.run_id, status, counts, report.errors, message)
    return report


def _carried(
    store: Store, hub_id: int, options: Options, rejecting: int | None = None
) -> tuple[Options, dict[str, Any] | None]:
    """A person's decision that a killed run was carrying out goes on in the next run: an
    approve (or reject, or undo) killed after it had committed the hub's side left the rest
    of its writes to the next sync, which held them again, and a reject of that hold was
    held too (only a second approve got out). An approve or reject killed before it
    committed anything goes on the same way: its held run is marked decided already. (An
    undo killed then did nothing, and can simply be asked for again.)

    Also returns the decisions carried, which the new run records (``start_run``): killed
    as well, it passes them on in turn, until a run carrying them ends.

    A reject is carried as the held runs it rejected, and refuses only the deletions they
    showed (``Store.deleted_in_runs``): carried for its whole connectors, a deletion the
    person made after the killed reject was written back too. (Carries recorded before
    there were held runs in them still refuse every deletion of their connectors.)

    An approve is carried as the held runs it approved (``Options.approved_runs``), and
    lets through only the deletions they showed (``_holds``); older carries, which name
    no run, still let through up to the held figures.

    A reject of an approve's own hold (held for deletions its held run did not show),
    made now or carried, refuses only the deletions that hold showed besides those of
    the approved run, whose approval is carried out (``Options.approved_runs``): the
    deletions a person approved happen, as the history says.

    A killed undo is carried as its run (``Options.undo_runs``): the deletions it left to
    do are its own, never held, while any other is held as in a sync (older carries said
    only ``no_hold``, and the whole hold check is still skipped for them). ``rejecting``:
    the held run a reject run decides, whose deletions it refuses (not the undo's)."""
    rows = store.killed_decisions(hub_id)
    approved: dict[int, int] = {}
    approved_runs: set[int] = set()
    by_count = False  # a carried approve that does not say which runs it approved
    rejected: set[int] = set()
    rejected_runs: set[int] = set()
    whole = False  # a carried reject that does not say which runs it rejected
    no_hold = False  # carries stored before they named the undo runs
    undo_runs: set[int] = set()
    for run_id, kind, status, parent_id, parent_counts, carried in rows:
        undo_runs.update(int(i) for i in carried.get("undo_runs") or [])
        if status not in ("applying", "running"):
            # held carrying an undo on: only that goes on (the decisions it carried were
            # shown in its hold, decided by the person with it)
            continue
        figures = held_figures(parent_counts) if parent_counts else {}
        if kind == "approve":
            _at_least(approved, figures)
            if parent_id is not None:
                approved_runs.add(int(parent_id))
        elif kind == "reject":
            rejected.update(figures)
            if parent_id is not None:
                rejected_runs.add(int(parent_id))
        elif kind == "undo":
            # its remaining deletions are its own (not held); any other is held as in a
            # sync (skipping the whole check carried out a mass deletion made meanwhile)
            undo_runs.add(run_id)
        _at_least(approved, {int(k): int(d) for k, d in (carried.get("approved") or {}).items()})
        approved_runs.update(int(i) for i in carried.get("approved_runs") or [])
        by_count = by_count or bool(carried.get("approved") and "approved_runs" not in carried)
        rejected.update(int(i) for i in carried.get("rejected") or [])
        rejected_runs.update(int(i) for i in carried.get("rejected_runs") or [])
        whole = whole or bool(carried.get("rejected") and "rejected_runs" not in carried)
        no_hold = no_hold or bool(carried.get("no_hold"))
    # a reject of an approve's own hold: the approval stands (its held run says "approved"),
    # only what the approve's hold showed besides is refused. Rejected whole, the reject
    # put back what the person had approved, and the history said it was approved
    rejecting_runs = rejected_runs | ({rejecting} if rejecting is not None else set())
    approvals = store.approvals_held(rejecting_runs) if rejecting_runs else {}
    if not (approved or rejected or no_hold or undo_runs or approvals):
        return options, None
    carried_any = bool(approved or rejected or no_hold or undo_runs)
    carries = {
        "approved": {str(k): v for k, v in approved.items()},
        "approved_runs": sorted(approved_runs),
        "rejected": sorted(rejected),
        "rejected_runs": sorted(rejected_runs),
        "no_hold": no_hold,
        "undo_runs": sorted(undo_runs),
    }
    _at_least(approved, options.approved)
    # a reject made now refuses every deletion of its connectors, as a reject always has
    only = None if whole or options.rejected or not rejected else store.deleted_in_runs(sorted(rejected_runs))
    if undo_runs and not whole and (rejected or options.rejected):
        # a reject decides the deletions its held run showed, not the killed undo's own
        # remaining ones, shown in that run's plan too (``rejecting``: the run rejected now)
        shown = sorted(rejecting_runs)
        only = store.deleted_in_runs(shown) - store.undone_contacts(undo_runs)
    if approvals and not whole:
        approved_now = sorted({held for held, _counts in approvals.values()})
        base = only if only is not None else store.deleted_in_runs(sorted(rejecting_runs))
        only = base - store.deleted_in_runs(approved_now)
        approved_runs.update(approved_now)
        for _held, counts in approvals.values():  # (figures: for a carry that names no run)
            _at_least(approved, held_figures(counts) if counts else {})
    merged = Options(
        options.dry_run,
        approved,
        frozenset(rejected | options.rejected),
        no_hold or options.no_hold,
        rejected_only=only,
        undo_runs=frozenset(undo_runs | options.undo_runs),
        approved_runs=frozenset(approved_runs | options.approved_runs),
        approved_by_count=by_count or options.approved_by_count,
    )
    return merged, carries if carried_any else None


def _at_least(approved: dict[int, int], figures: Mapping[int, int]) -> None:
    """Each connector's approved deletions raised to ``figures``' where those are more:
    every approval carried lets through the most any of them showed."""
    for connector_id, deletes in figures.items():
        approved[connector_id] = max(deletes, approved.get(connector_id, 0))


def held_figures(counts_json: str) -> dict[int, int]:
    """connector id -> deletions, from a held run's stored counts (for ``approve``)."""
    counts = loads(counts_json) or {}
    figures: dict[int, int] = {}
    for h in counts.get("held", []):
        if h.get("connector_id") is None:  # the hub's own hold: its connectors' deletions
            for key, deletes in (h.get("by") or {}).items():
                figures[int(key)] = max(int(deletes), figures.get(int(key), 0))
        else:
            figures[int(h["connector_id"])] = int(h["deletes"])
    return figures


def check_threshold(value: str) -> str:
    """Validate a ``delete_threshold`` setting: ``"10%"`` or a count."""
    text = str(value).strip()
    try:
        number = float(text[:-1]) if text.endswith("%") else int(text)
    except ValueError:
        raise ConfigError(
            f"delete_threshold must be a percentage like '10%' or a count like 50, not {value!r}"
        ) from None
    if not math.isfinite(number) or number < 0:
        # "nan%" compared false with every count: the hold was silently off
        raise ConfigError(f"delete_threshold must be a count or percentage from 0, not {value!r}")
    if text.endswith("%") and number > 100:
        # no run deletes more than all of a connector's records: "150%" was a typo that
        # turned the safety off without saying so
        raise ConfigError(f"delete_threshold cannot be more than 100%, not {text!r}")
    return text
