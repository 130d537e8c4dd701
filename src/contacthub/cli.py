"""The command line. Every user error ends in one message saying what and where, and a
non-zero exit; never a traceback. Heavy modules are imported inside the commands so that
``contacthub sync`` on an unchanged hub spends its time syncing, not importing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from contacthub.engine.context import Report

app = typer.Typer(
    help="contacthub: keep contacts in sync across address books, directories and CRMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_HELD = 3
EXIT_USER = 2


class State:
    database: str | None = None


def fail(message: str, code: int = EXIT_USER) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def db() -> Engine:
    from contacthub.store.db import open_database

    return open_database(State.database)


@app.callback()
def main_options(
    database: Annotated[
        str | None,
        typer.Option("--database", envvar="CONTACTHUB_DATABASE_URL", help="SQLAlchemy URL of the store."),
    ] = None,
) -> None:
    State.database = database


def _progress() -> Any:
    """A rich progress display on a terminal; nothing when output is piped."""
    if not sys.stderr.isatty():
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
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text  # names people typed are shown as text, never as markup

    console = Console()
    console.print(f"run {report.run_id}: [bold]{report.status}[/bold]", highlight=False)
    if report.message:
        console.print(report.message, markup=False, highlight=False)
    if report.changes:
        table = Table("where", "create", "update", "delete")
        for name, c in sorted(report.changes.items()):
            table.add_row(Text(name), str(c["create"]), str(c["update"]), str(c["delete"]))
        console.print(table)
    else:
        console.print("no changes")
    if report.conflicts:
        console.print(f"{report.conflicts} conflict(s); see 'contacthub conflicts'")
    for name, calls in sorted(report.api_calls.items()):
        spent = ", ".join(f"{n} {method}" for method, n in sorted(calls.items()))
        console.print(Text(f"{name}: API calls {spent}"))
    for err in report.errors:
        console.print(
            f"skipped {err['connector']}: {err['record']}: {err['message']}",
            markup=False,
            highlight=False,
        )
    if report.status == "held":
        console.print(
            f"nothing was written. 'contacthub approve {report.run_id}' to go ahead, "
            f"'contacthub reject {report.run_id}' to keep the records."
        )


def _guard(func: Any) -> Any:
    """Turn our errors into one line and an exit code."""
    from functools import wraps

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from contacthub.errors import ContacthubError

        try:
            return func(*args, **kwargs)
        except ContacthubError as exc:
            fail(str(exc))

    return wrapper


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
    lines = config.apply(db(), spec)
    for line in lines or ["nothing changed"]:
        typer.echo(line)


@app.command()
@_guard
def hubs(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the hubs, their connectors and their last run (credentials are never shown)."""
    from contacthub import service

    items = service.hubs(db())
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
    hub: str,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    queue: Annotated[
        bool, typer.Option("--queue", help="Hand the run to the workers (CONTACTHUB_BROKER_URL) and return.")
    ] = False,
) -> None:
    """Run one sync of HUB (waits while another run of it ends)."""
    from contacthub import service

    engine = db()
    if queue:
        _enqueue(engine, hub, dry_run, as_json)
        return
    bar, update = (None, None) if as_json else _progress()
    if bar is not None:
        with bar:
            report = service.sync(engine, hub, dry_run=dry_run, progress=update)
    else:
        report = service.sync(engine, hub, dry_run=dry_run)
    _print_report(report, as_json)
    _exit_for(report)


@app.command()
@_guard
def runs(hub: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the runs of HUB, newest first."""
    from contacthub import service

    items = service.runs(db(), hub)
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("run", "kind", "status", "started", "changes", "conflicts", "errors")
    for r in items:
        total = {k: sum(c[k] for c in r["changes"].values()) for k in ("create", "update", "delete")}
        table.add_row(
            str(r["id"]),
            r["kind"],
            r["status"],
            (r["started_at"] or "")[:19],
            "+{create} ~{update} -{delete}".format(**total),
            str(r["conflicts"]),
            str(len(r["errors"])),
        )
    Console().print(table)


@app.command()
@_guard
def show(run: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show RUN with every change and its values before and after."""
    from contacthub import service

    data = service.show_run(db(), run)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    from rich.console import Console

    console = Console(highlight=False)
    console.print(f"run {data['id']} of hub {data['hub']}: {data['kind']}, {data['status']}", markup=False)
    if data["message"]:
        console.print(data["message"], markup=False)
    for c in data["journal"]:
        head = f"{c['status']:>9} {c['op']:<8} {c['connector']:<12} {c['record'] or c['contact'] or ''}"
        console.print(head, markup=False)
        if c["op"] == "update":
            for name, value in (c["after"] or {}).items():
                before = (c["before"] or {}).get(name)
                console.print(f"            {name}: {_short(before)} -> {_short(value)}", markup=False)
        if c["error"]:
            console.print(f"            error: {c['error']}", markup=False)


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v.get("value", v)) if isinstance(v, dict) else str(v) for v in value) or "-"
    return "-" if value in (None, "") else str(value)


@app.command()
@_guard
def conflicts(
    hub: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Include conflicts settled by the policy.")] = False,
) -> None:
    """List the conflicts of HUB that wait for a person."""
    from contacthub import service

    items = service.conflicts(db(), hub, include_settled=show_all)
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False))
        return
    if not items:
        typer.echo("no open conflicts")
    for c in items:
        typer.echo(f"conflict {c['id']} [{c['status']}] {c['name']}: {c['field']}")
        typer.echo(f"    {c['hub_source'] or 'hub'}: {_short(c['hub'])}")
        typer.echo(f"    {c['source']}: {_short(c['incoming'])}")


@app.command()
@_guard
def resolve(
    conflict: int, take: Annotated[str, typer.Option("--take", help="Connector name, or 'hub'.")]
) -> None:
    """Settle CONFLICT with the value from connector NAME."""
    from contacthub import service

    result = service.resolve(db(), conflict, take)
    typer.echo(
        f"conflict {conflict}: {result['field']} = {_short(result['value'])}; the next sync carries it"
    )


@app.command()
@_guard
def approve(run: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Approve a held RUN: sync again, allowing the deletions it held."""
    from contacthub import service

    report = service.approve(db(), run)
    _print_report(report, as_json)
    _exit_for(report)


@app.command()
@_guard
def reject(run: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Reject a held RUN: keep the records it would have deleted."""
    from contacthub import service

    report = service.reject(db(), run)
    _print_report(report, as_json)
    _exit_for(report)


@app.command()
@_guard
def undo(run: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Undo RUN: apply the inverse of its changes as a new run."""
    from contacthub import service

    report = service.undo(db(), run)
    _print_report(report, as_json)
    _exit_for(report)


@app.command()
@_guard
def connect(
    hub: str,
    connector: str,
    invite: Annotated[
        bool, typer.Option("--invite", help="Ask another organisation's admin to consent (partner tenants).")
    ] = False,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open sign-in links in a browser.")
    ] = True,
) -> None:
    """Sign a connector in (OAuth) and keep its tokens, encrypted, in the store."""
    from contacthub import service
    from contacthub.signin import TerminalUI

    service.connect(db(), hub, connector, TerminalUI(browser), invite=invite)
    typer.echo(f"connector {hub}/{connector}: signed in")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@_guard
def emulate(
    ctx: typer.Context, system: Annotated[str, typer.Argument(help="procore, pipedrive or m365")]
) -> None:
    """Run an emulator of a hosted API on 127.0.0.1 (see `contacthub emulate SYSTEM --help`)."""
    from contacthub.emulators import main as run_emulator

    run_emulator(system, list(ctx.args))


@app.command()
@_guard
def demo(
    folder: Annotated[Path | None, typer.Option("--dir", help="Where to put the demo files.")] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep the emulated systems and the dashboard running.")
    ] = False,
    port: Annotated[int, typer.Option(help="Dashboard port with --serve.")] = 8080,
) -> None:
    """Create a demo hub (vCard folders, a CSV file and emulated hosted systems) and sync it."""
    from contacthub.demo import run_demo

    run_demo(State.database, folder, serve=serve, port=port)


@app.command()
@_guard
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    secure_cookies: Annotated[
        bool | None,
        typer.Option(
            "--secure-cookies/--no-secure-cookies",
            help="Mark cookies Secure (HTTPS only). Default: on, except on a loopback address.",
        ),
    ] = None,
    log_format: Annotated[
        str, typer.Option("--log-format", help="text or json", envvar="CONTACTHUB_LOG_FORMAT")
    ] = "text",
) -> None:
    """Serve the dashboard, the REST API (/api/docs), webhooks and /metrics, and run the schedules."""
    import uvicorn

    from contacthub.scheduler import logs
    from contacthub.scheduler.serve import served_app

    if log_format not in ("text", "json"):
        fail(f"--log-format {log_format!r}: use text or json")
    logs.configure(log_format, "INFO")
    engine = db()
    loopback = host in ("127.0.0.1", "localhost", "::1")
    secure = (not loopback) if secure_cookies is None else secure_cookies
    from contacthub.web import accounts

    if accounts.user_count(engine) == 0:
        typer.echo(f"no user yet: open http://{host}:{port}/setup or run 'contacthub user add EMAIL --admin'")
    if secure and not loopback:
        typer.echo("cookies are Secure: serve this behind HTTPS (a reverse proxy), or sign-in will not stick")
    # no access log: webhook receiver paths carry their token
    web = served_app(engine, secure_cookies=secure)
    uvicorn.run(web, host=host, port=port, proxy_headers=True, log_config=None, access_log=False)


user_app = typer.Typer(help="Dashboard and API users.", no_args_is_help=True)
app.add_typer(user_app, name="user")
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@user_app.command("add")
@_guard
def user_add(
    email: str,
    admin: Annotated[bool, typer.Option("--admin", help="An admin sees and changes every hub.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user who signs in to the dashboard (the password is asked for, never an argument)."""
    from contacthub.web import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    user = accounts.add_user(db(), email, password, admin=admin)
    typer.echo(f"user {user.email} added{' (admin)' if user.is_admin else ''}")


@token_app.command("create")
@_guard
def token_create(
    user: Annotated[
        str | None, typer.Option("--user", help="Whose token (needed when there are several users).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A label to recognise it by.")] = "api",
) -> None:
    """Create an API token (Authorization: Bearer TOKEN). It is printed once and kept only hashed."""
    from contacthub.errors import UserError
    from contacthub.web import accounts

    engine = db()
    if user:
        owner = accounts.find_user(engine, user)
        if owner is None:
            raise UserError(f"no user {user}: add one with 'contacthub user add EMAIL'")
    else:
        everyone = accounts.users(engine)
        if len(everyone) != 1:
            raise UserError(
                "say whose token with --user EMAIL"
                if everyone
                else "no user yet: add one with 'contacthub user add EMAIL'"
            )
        owner = everyone[0]
    typer.echo(accounts.create_token(engine, owner, name))
    typer.echo(f"token for {owner.email}: shown this once, keep it safe", err=True)


def _enqueue(engine: Engine, hub: str, dry_run: bool, as_json: bool) -> None:
    from contacthub.scheduler import celery_app
    from contacthub.store.repo import Store

    if dry_run:
        fail("--queue runs real syncs; a dry run is done here, without --queue")
    with engine.connect() as conn:
        Store(conn).hub(hub)  # a clear error for a name that is not a hub
    celery_app.configure()
    queued = celery_app.enqueue(hub, origin="cli")
    if as_json:
        typer.echo(json.dumps({"hub": hub, "queued": queued}))
    else:
        said = "run queued" if queued else "a run is already queued; it covers this one"
        typer.echo(f"hub {hub}: {said}")


LogFormat = Annotated[str, typer.Option("--log-format", help="text or json", envvar="CONTACTHUB_LOG_FORMAT")]
LogLevel = Annotated[str, typer.Option("--log-level", help="debug, info, warning, error")]


def _worker_env(log_format: str, log_level: str) -> None:
    """What a long-running process needs: logging set up, and the database URL given with
    --database visible to code that opens the store by itself (the Celery tasks)."""
    import os

    from contacthub.scheduler import logs

    if log_format not in ("text", "json"):
        fail(f"--log-format {log_format!r}: use text or json")
    logs.configure(log_format, log_level.upper())
    if State.database:
        os.environ["CONTACTHUB_DATABASE_URL"] = State.database


@app.command()
@_guard
def worker(
    concurrency: Annotated[int, typer.Option(help="Hubs this worker runs at the same time.")] = 1,
    name: Annotated[str | None, typer.Option(help="Celery node name (default: celery@HOST).")] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve Prometheus metrics on 127.0.0.1:PORT.")
    ] = None,
    log_format: LogFormat = "text",
    log_level: LogLevel = "info",
) -> None:
    """Run a Celery worker for hub runs (needs CONTACTHUB_BROKER_URL=redis://...)."""
    _worker_env(log_format, log_level)
    from contacthub.scheduler import celery_app

    app_ = celery_app.configure()
    db()  # migrate the store once, before any task opens it
    if metrics_port is not None:
        from prometheus_client import start_http_server

        from contacthub.scheduler import metrics

        metrics.set_queue_depth_source(celery_app.queue_depth)
        start_http_server(metrics_port, addr="127.0.0.1")
    app_.worker_main(celery_app.worker_argv(max(1, concurrency), log_level.upper(), name))


@app.command()
@_guard
def beat(
    tick: Annotated[float, typer.Option(help="Seconds between looks at the hubs' schedules.")] = 5.0,
    log_format: LogFormat = "text",
    log_level: LogLevel = "info",
) -> None:
    """Run the schedule: every TICK seconds, queue the hubs that are due (one beat only)."""
    _worker_env(log_format, log_level)
    from contacthub.scheduler import celery_app
    from contacthub.store.db import data_dir

    app_ = celery_app.configure(tick=tick)
    db()
    data_dir().mkdir(parents=True, exist_ok=True)
    app_.start(celery_app.beat_argv(log_level.upper(), str(data_dir() / "celerybeat-schedule")))


@app.command()
@_guard
def webhooks(
    hub: str,
    base_url: Annotated[
        str, typer.Option("--base-url", help="Where the vendors reach 'contacthub serve'.")
    ] = "https://contacthub.example.com",
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Print the secret parts (to paste into the vendor's settings).")
    ] = False,
) -> None:
    """Print the webhook receivers of HUB's connectors (secret parts masked unless --reveal)."""
    from contacthub.store.repo import Store
    from contacthub.store.secrets import REDACTED
    from contacthub.webhooks import tokens

    def shown(value: str) -> str:
        return value if reveal else REDACTED

    engine = db()
    with engine.connect() as conn:
        store = Store(conn)
        rows = store.connectors(store.hub(hub).id)
    root = base_url.rstrip("/")
    for row in rows:
        token = shown(tokens.url_token(hub, row.name))
        typer.echo(f"{row.name} ({row.type}):")
        typer.echo(f"  procore:   {root}/hooks/procore/{token}")
        bearer = shown(tokens.bearer(hub, row.name))
        typer.echo(f"             destination_headers Authorization: Bearer {bearer}")
        typer.echo(f"  graph:     {root}/hooks/graph/{token}")
        typer.echo(f"             clientState: {shown(tokens.client_state(hub, row.name))}")
        typer.echo(f"  pipedrive: {root}/hooks/pipedrive/{token}")
        password = shown(tokens.basic_password(hub, row.name))
        typer.echo(f"             http_auth_user: {tokens.BASIC_USER}  http_auth_password: {password}")
    if not reveal:
        typer.echo("secret parts are masked: add --reveal to print them")


def main() -> None:
    import gc

    # a run allocates many small dicts that live until it ends; the cyclic collector would
    # walk them again and again for nothing (our data has no reference cycles to free)
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    app()


if __name__ == "__main__":
    main()
