"""The commands about hubs and their runs: apply a hub file, list hubs, sync, look at runs and
conflicts, settle conflicts, approve or reject a held run, undo one. They share how a run's
report is shown and its exit code, which live here with them; the commands that start servers
and workers are in ``server.py``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from contacthub.cli.common import (
    EXIT_HELD,
    EXIT_INTERRUPTED,
    ID_MAX,
    INTERRUPTED,
    ConflictId,
    HubName,
    IdCommand,
    RunId,
    _guard,
    app,
    db,
    fail,
    store_refusal,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from contacthub.engine.context import Report


def _progress() -> Any:
    """A rich progress display on a terminal; nothing when output is piped."""
    if sys.stderr is None or not sys.stderr.isatty():  # (None: closed, ``2>&-``)
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int | None) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        if phase.startswith("writing"):
            bar.advance(tasks[phase], done)
        else:
            bar.update(tasks[phase], completed=done)

    return bar, update


def _print_report(report: Report, as_json: bool) -> None:
    """The run's report: a rich table on a terminal; piped, the same lines as plain text
    (rich costs a sync run a tenth of a second and 2 MB of memory for nothing to see)."""
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False))
        return
    rows = [(name, c["create"], c["update"], c["delete"]) for name, c in sorted(report.changes.items())]
    after = []
    if report.conflicts:
        after.append(f"{report.conflicts} conflict(s); see 'contacthub conflicts'")
    if report.edited_since:
        after.append(
            f"{report.edited_since} of the people it deletes were edited since the run it undoes:"
            " their edits go with them"
        )
    for name, n in sorted(report.unlinked.items()):
        after.append(
            f"{name}: {n} record(s) let go (out of its filter or its new settings, or a deletion "
            f"it may not make): see 'contacthub show {report.run_id}'"
        )
    for name, n in sorted(report.taken_up.items()):
        after.append(
            f"{name}: {n} record(s) left behind for a deleted person linked to the person "
            f"added again, not made twice: see 'contacthub show {report.run_id}'"
        )
    for name, calls in sorted(report.api_calls.items()):
        spent = ", ".join(f"{n} {method}" for method, n in sorted(calls.items()))
        after.append(f"{name}: API calls {spent}")
    for err in report.errors:
        if not err["record"] and report.message and err["message"] in report.message:
            continue  # the connector's failure the run failed with: said once, above
        # an error of a whole connector has no record: no empty place before its message
        where = f"{err['record']}: " if err["record"] else ""
        after.append(f"skipped {err['connector']}: {where}{err['message']}")
    if report.status == "held":
        after.append(
            f"nothing was written. 'contacthub approve {report.run_id}' to go ahead, "
            f"'contacthub reject {report.run_id}' to keep the records."
        )
    if not _terminal():
        typer.echo(f"run {report.run_id}: {report.status}")
        if report.message:
            typer.echo(report.message)
        typer.echo(_plain_table(rows) if rows else "no changes")
        for line in after:
            typer.echo(line)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text  # names people typed are shown as text, never as markup

    console = Console()
    console.print(f"run {report.run_id}: [bold]{report.status}[/bold]", highlight=False)
    if report.message:
        console.print(report.message, markup=False, highlight=False)
    if rows:
        table = Table("where", "create", "update", "delete")
        for name, *counts in rows:
            table.add_row(Text(name), *(str(n) for n in counts))
        console.print(table)
    else:
        console.print("no changes")
    for line in after:
        console.print(line, markup=False, highlight=False)


def _terminal() -> bool:
    return sys.stdout is not None and sys.stdout.isatty()  # (None: closed, ``>&-``)


def _plain_table(rows: list[tuple[str, int, int, int]]) -> str:
    """The changes per connector as aligned columns of plain text."""
    head = ("where", "create", "update", "delete")
    width = max(len(head[0]), *(len(r[0]) for r in rows))
    lines = [f"{head[0]:<{width}}  {head[1]:>6}  {head[2]:>6}  {head[3]:>6}"]
    lines += [f"{name:<{width}}  {c:>6}  {u:>6}  {d:>6}" for name, c, u, d in rows]
    return "\n".join(lines)


def _exit_for(report: Report) -> None:
    if report.status == "held":
        raise typer.Exit(EXIT_HELD)
    if report.status == "failed":
        raise typer.Exit(1)


@app.command()
@_guard
def apply(file: Annotated[Path, typer.Argument(help="TOML hub file")]) -> None:
    """Create or update the hubs and connectors declared in a TOML file."""
    from contacthub import config

    spec = config.load(file)

    def waiting(hub: str) -> None:
        typer.echo(f"hub {hub}: a run (or another apply) is in progress; waiting for it to end ...", err=True)

    lines = config.apply(db(), spec, on_wait=waiting)
    for line in lines or ["nothing changed"]:
        typer.echo(line)


@app.command()
@_guard
def hubs(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the hubs, their connectors and their last run (credentials are never shown)."""
    from contacthub import service

    items = service.hubs(db(create=False))
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False))
        return
    if not items:
        typer.echo("no hubs yet: create one with 'contacthub apply FILE'")
    for hub in items:
        last = hub["last_run"]
        state = f"last run {last['id']} {last['status']}" if last else "never synced"
        typer.echo(
            f"{hub['name']}: conflict {hub['conflict']}, delete threshold {hub['delete_threshold']}, {state}"
        )
        for c in hub["connectors"]:
            where = c["settings"].get("path") or c["settings"].get("url") or ""
            typer.echo(f"  {c['name']} ({c['type']}, {c['direction']}) {where}")


@app.command()
@_guard
def sync(
    hub: HubName,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    queue: Annotated[
        bool, typer.Option("--queue", help="Hand the run to the workers (CONTACTHUB_BROKER_URL) and return.")
    ] = False,
) -> None:
    """Run one sync of HUB (waits while another run of it ends)."""
    from contacthub import service

    # Typer turned Ctrl-C into a silent exit 130: the person was left wondering what state
    # the hub was in
    interrupted = (
        f"interrupted: the run stopped part way; the next 'contacthub sync {hub}' finishes"
        " it (nothing is made twice, no edit is lost)"
    )
    cut_short = f"a run it cut short is finished by the next 'contacthub sync {hub}'{_AGAIN}"
    with _one_object(as_json, interrupted, cut_short, queue=hub if queue else None):
        engine = db(create=False)
        if queue:
            _enqueue(engine, hub, dry_run, as_json)
            return
        bar, update = (None, None) if as_json else _progress()
        if bar is not None:
            with bar:
                report = service.sync(engine, hub, dry_run=dry_run, progress=update, on_wait=_waiting)
        else:
            report = service.sync(engine, hub, dry_run=dry_run, on_wait=_waiting)
    _print_report(report, as_json)
    _exit_for(report)


_AGAIN = ", with nothing made twice; check the database, then run the command again"

#: what ``approve``, ``reject`` and ``undo`` say after the store failed (``_one_object``)
CUT_SHORT = f"a run it cut short is finished by the next 'contacthub sync' of its hub{_AGAIN}"


@contextmanager
def _one_object(
    as_json: bool, interrupted: str, cut_short: str = CUT_SHORT, queue: str | None = None
) -> Iterator[None]:
    """Where ``--json`` promises one JSON object on stdout whatever happened (``sync``,
    ``approve``, ``reject``, ``undo``): when no run could start (an unknown hub or run, a
    store that cannot be opened or was not there, no broker) or Ctrl-C stopped it, the
    object is printed for it; the one-line error still goes to stderr, as ``_guard`` says
    it, and the exit code is the same as without ``--json``.

    The store failing (a database restarted or gone mid-run) is said in one line too, the
    driver's words followed by ``cut_short``: what becomes of a run it stopped, and what to
    do (QA: a restart mid-sync said only the driver's words, after four tracebacks)."""
    from sqlalchemy.exc import OperationalError

    from contacthub.errors import ContacthubError

    try:
        yield
    except OperationalError as exc:
        # (``--queue`` starts no run here: nothing of one to say)
        said = store_refusal(exc) if queue is not None else f"{store_refusal(exc)}; {cut_short}"
        if as_json:  # one JSON object on stdout whatever happened (a script reads it)
            _print_unrun(queue, said)
        fail(said)
    except ContacthubError as exc:
        if as_json:
            _print_unrun(queue, str(exc))
        raise
    except KeyboardInterrupt:
        if as_json:
            _print_unrun(queue, interrupted)
        fail(interrupted, EXIT_INTERRUPTED)


def _print_unrun(queue: str | None, message: str) -> None:
    """The object when no run could start: the keys of a run's (of ``--queue``'s, for hub
    ``queue``), ``run`` null (``queued`` false) and the reason as the hub's error."""
    error = {"connector": "hub", "record": "", "message": message}
    if queue is not None:
        typer.echo(json.dumps({"hub": queue, "queued": False, "errors": [error]}, ensure_ascii=False))
        return
    empty: dict[str, Any] = {"run": None, "status": "failed", "changes": {}, "conflicts": 0}
    typer.echo(json.dumps({**empty, "errors": [error]}, ensure_ascii=False))


@app.command()
@_guard
def runs(
    hub: HubName,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=ID_MAX, help="How many runs to list.")] = 50,
    before: Annotated[
        int | None, typer.Option("--before", min=1, max=2**31 - 1, help="Only runs older than this run.")
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Every run of the hub.")] = False,
    paged: Annotated[
        bool,
        typer.Option(
            "--paged", help="With --json: one object, the runs with their total and the next page's --before."
        ),
    ] = False,
) -> None:
    """List the runs of HUB, newest first (the 50 newest; --limit, --before, --all)."""
    from contacthub import service

    if paged and not as_json:
        fail("--paged is a form of --json: give both")
    engine = db(create=False)
    items = service.runs(engine, hub, None if show_all else limit + 1, before)
    # one more than asked for says whether older runs were left out (as the API's pages)
    older = not show_all and len(items) > limit
    items = items if show_all else items[:limit]
    total = service.run_count(engine, hub)
    # the list was cut: the oldest run of the first copy could not be found, and nothing said so
    cut = f"{len(items)} of {total} runs shown; --before {items[-1]['id']} for older ones" if older else None
    if as_json:
        if paged:
            page = {"runs": items, "total": total, "before": items[-1]["id"] if older else None}
            typer.echo(json.dumps(page, ensure_ascii=False))
            return
        typer.echo(json.dumps(items, ensure_ascii=False))  # (the array it always was)
        if cut:
            typer.echo(cut, err=True)
        return
    if not items:
        typer.echo(
            f"no runs of hub {hub} older than run {before}" if before else f"hub {hub} has no runs yet"
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("run", "kind", "status", "started", "changes", "conflicts", "errors")
    for r in items:
        total_of = {k: sum(c[k] for c in r["changes"].values()) for k in ("create", "update", "delete")}
        table.add_row(
            str(r["id"]),
            r["kind"],
            _status(r),
            (r["started_at"] or "")[:19],
            "+{create} ~{update} -{delete}".format(**total_of),
            str(r["conflicts"]),
            str(len(r["errors"])),
        )
    Console().print(table)
    if cut:
        typer.echo(cut)


@app.command(cls=IdCommand)
@_guard
def show(
    run: RunId,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, max=ID_MAX, help="Show at most N changes.")
    ] = None,
    after: Annotated[
        int | None, typer.Option("--after", min=0, max=2**31 - 1, help="Only changes after this change id.")
    ] = None,
) -> None:
    """Show RUN with every change and its values before and after."""
    from contacthub import service

    engine = db(create=False)
    data = service.show_run(engine, run, limit=0)  # the run; its journal is read in chunks
    chunks = service.journal_chunks(engine, run, after=after, limit=limit)
    try:
        if as_json:
            _stream_json(data, chunks)
        else:
            shown, last = _print_run(data, chunks)
            if not shown:  # a header alone read as if the changes had failed to print
                typer.echo(f"no changes after change {after}" if after is not None else "no changes")
            more = limit is not None and shown == limit and last is not None
            if more and next(service.journal_chunks(engine, run, after=last, limit=1), None):
                typer.echo(
                    f"{shown} of {data['journal_total']} changes shown; --after {last} for the next ones"
                )
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (``show 1 | head``): what it wanted it has; end quietly, and
        # keep Python from complaining again when it flushes stdout at exit
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None


def _stream_json(data: dict[str, Any], chunks: Any) -> None:
    """``show --json``'s one object, the shape ``json.dumps(show_run(...))`` gives, written
    a chunk of the journal at a time: the whole object of a 40,000-change run was one 34 MB
    string built in 400 MB of memory."""
    out = sys.stdout
    head = json.dumps({k: v for k, v in data.items() if k != "journal"}, ensure_ascii=False)
    out.write(head[:-1] + ', "journal": [')
    first = True
    for chunk in chunks:
        body = ", ".join(json.dumps(c, ensure_ascii=False) for c in chunk)
        out.write(body if first else ", " + body)
        first = False
    out.write("]}\n")


def _print_run(data: dict[str, Any], chunks: Any) -> tuple[int, int | None]:
    """The run and its changes as plain lines, whatever the output: Rich wrapped them at 80
    columns when piped (a value split in two, lost to grep) and cost a minute for a first
    sync's 40,000 changes; a terminal wraps long lines itself. Returns how many changes it
    showed and the last one's id."""
    write = sys.stdout.write
    write(f"run {data['id']} of hub {data['hub']}: {data['kind']}, {_status(data)}\n")
    if data["pruned"]:
        kept = f" ({data['journal_total']} kept that later syncs still read)" if data["journal_total"] else ""
        write(f"its changes were pruned on {data['pruned'][:10]}{kept}\n")
    for line in (data["message"], data["superseded_reason"]):
        if line:
            write(f"{line}\n")
    for err in data["errors"]:  # (what was skipped or kept, and why: as ``sync`` says it)
        where = f"{err['record']}: " if err["record"] else ""
        write(f"skipped {err['connector']}: {where}{err['message']}\n")
    shown, last = 0, None
    for chunk in chunks:
        lines = []
        for c in chunk:
            lines.append(
                f"{c['status']:>9} {c['op']:<8} {c['connector']:<12} {c['record'] or c['contact'] or ''}"
            )
            # every change with its values: an update's fields, a create's (or restore's)
            # new values, a deletion's last ones
            before, after_values = c["before"] or {}, c["after"] or {}
            for name in [*after_values, *(k for k in before if k not in after_values)]:
                old, new = before.get(name), after_values.get(name)
                lines.append(f"            {name}: {_short(old)} -> {_short(new)}")
            if c["error"]:
                lines.append(f"            error: {c['error']}")
        write("\n".join(lines) + "\n")
        shown += len(chunk)
        last = chunk[-1]["id"]
    return shown, last


@app.command()
@_guard
def prune(
    hub: HubName,
    keep_days: Annotated[
        int | None,
        # (a century: from 740,000 days on the date is before year 1, an OverflowError)
        typer.Option("--keep-days", min=0, max=36500, help="Prune runs started more than D days ago."),
    ] = None,
    before: Annotated[
        int | None, typer.Option("--before", min=1, max=2**31 - 1, help="Prune runs older than RUN.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; delete nothing.")] = False,
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="Then VACUUM and ANALYZE the store (gives the space back).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Delete the changes (journal) of HUB's old runs; the runs stay, marked pruned.

    Say which with --keep-days D, --before RUN, or both. Given both, a run goes only when it
    is older than both: started more than D days ago and older than RUN."""
    from contacthub import service

    result = service.prune(
        db(create=False), hub, keep_days=keep_days, before=before, dry_run=dry_run, vacuum=vacuum
    )
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    runs = result["runs"]
    verb = "would delete" if dry_run else "deleted"
    if runs:
        span = f"run {runs[0]}" if len(runs) == 1 else f"runs {runs[0]} to {runs[-1]}"
        typer.echo(f"hub {hub}: {verb} {result['changes']:,} changes of {len(runs)} run(s) ({span})")
        if result["kept"]:
            typer.echo(f"{result['kept']:,} change(s) of them kept: later syncs still read them")
    else:
        typer.echo(f"hub {hub}: nothing to prune")
    if result["protected_from"] is not None:
        typer.echo(
            f"kept whole: run {result['protected_from']} and every later run (from the newest"
            " applied run, or from an older running run, the hold still to decide, or a run an"
            " open conflict came from, which an undo compares with the runs after it)"
        )
    if runs and not dry_run:
        typer.echo("the pruned runs keep their counts and status; they can no longer be undone")
    if result["vacuumed"]:
        typer.echo("store vacuumed and analyzed")
    elif vacuum and dry_run:
        typer.echo("(--vacuum does nothing with --dry-run)")


def _status(run: dict[str, Any]) -> str:
    """A run's status as ``runs`` and ``show`` print it: a held run a later run superseded
    says so, naming that run (``approve`` and ``reject`` refuse it)."""
    if run["superseded_by"] is not None:
        return f"{run['status']} (superseded by run {run['superseded_by']})"
    return str(run["status"])


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_element(v) for v in value) or "-"
    return "-" if value in (None, "") else str(value)


def _element(item: Any) -> str:
    """An email, phone or address as ``show`` prints it: its value, with its type (a
    change of type alone showed as ``x -> x``)."""
    if not isinstance(item, dict):
        return str(item)
    text = str(item.get("value", item))
    return f"{text} ({item['type']})" if item.get("type") else text


@app.command()
@_guard
def conflicts(
    hub: HubName,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Include conflicts settled by the policy.")] = False,
) -> None:
    """List the conflicts of HUB that wait for a person."""
    from contacthub import service

    items = service.conflicts(db(create=False), hub, include_settled=show_all)
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False))
        return
    if not items:
        typer.echo("no open conflicts")
    for c in items:
        typer.echo(f"conflict {c['id']} [{c['status']}] {c['name']}: {c['field']}")
        # a settled conflict says which value stayed: under ``newest`` the hub's may have
        # beaten a record older than it (a folder put back from a backup), which the two
        # values alone did not tell
        # (the winner is the connector whose value stayed, or "hub"; when the hub's value
        # came from that same connector, its newer reading is the one that stayed: a
        # connector that brought back a user's old title after an undo showed the old
        # value "(kept)", QA)
        winner = c.get("winner")
        kept_theirs = winner is not None and winner == c["source"]
        kept_hub = not kept_theirs and (winner == "hub" or (winner is not None and winner == c["hub_source"]))
        typer.echo(f"    {c['hub_source'] or 'hub'}: {_short(c['hub'])}{'  (kept)' if kept_hub else ''}")
        typer.echo(f"    {c['source']}: {_short(c['incoming'])}{'  (kept)' if kept_theirs else ''}")


@app.command(cls=IdCommand)
@_guard
def resolve(
    conflict: ConflictId, take: Annotated[str, typer.Option("--take", help="Connector name, or 'hub'.")]
) -> None:
    """Settle CONFLICT with the value from connector NAME."""
    from contacthub import service

    result = service.resolve(db(create=False), conflict, take)
    typer.echo(
        f"conflict {conflict}: {result['field']} = {_short(result['value'])}; the next sync carries it"
    )


@app.command(cls=IdCommand)
@_guard
def approve(run: RunId, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Approve a held RUN: sync again, allowing the deletions it held."""
    from contacthub import service

    with _one_object(as_json, INTERRUPTED):
        report = service.approve(db(create=False), run, on_wait=_waiting)
    _print_report(report, as_json)
    _exit_for(report)


@app.command(cls=IdCommand)
@_guard
def reject(run: RunId, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Reject a held RUN: keep the records it would have deleted."""
    from contacthub import service

    with _one_object(as_json, INTERRUPTED):
        report = service.reject(db(create=False), run, on_wait=_waiting)
    _print_report(report, as_json)
    _exit_for(report)


@app.command(cls=IdCommand)
@_guard
def undo(
    run: RunId,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what the undo would change; write nothing")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Undo RUN: apply the inverse of its changes as a new run."""
    from contacthub import service

    with _one_object(as_json, INTERRUPTED):
        report = service.undo(db(create=False), run, on_wait=_waiting, dry_run=dry_run)
    _print_report(report, as_json)
    _exit_for(report)


def _waiting() -> None:
    """Said on stderr (``--json`` keeps stdout one object) when the hub is busy."""
    typer.echo("another run of this hub is in progress; waiting for it to end ...", err=True)


def _enqueue(engine: Engine, hub: str, dry_run: bool, as_json: bool) -> None:
    from contacthub.errors import UserError
    from contacthub.scheduler import celery_app
    from contacthub.store.repo import Store

    if dry_run:  # (raised, not ``fail``: ``--json`` prints its object for it)
        raise UserError("--queue runs real syncs; a dry run is done here, without --queue")
    with engine.connect() as conn:
        # a clear error for a name that is not a hub; the stored spelling (NFC or NFD) is
        # the one the queue's marker and the scheduler's last start go by
        hub = Store(conn).hub(hub).name
    celery_app.configure()
    queued = celery_app.enqueue(hub, origin="cli")
    if as_json:
        typer.echo(json.dumps({"hub": hub, "queued": queued}))
    else:
        said = "run queued" if queued else "a run is already queued; it covers this one"
        typer.echo(f"hub {hub}: {said}")
