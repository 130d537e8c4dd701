"""The commands that run something beside a sync: signing a connector in, the emulators and the
demo, the web server, the Celery worker and beat, and printing the webhook receivers the
server answers on. Each imports its server stack (uvicorn, celery, the web app) only when it
runs, so the sync commands never pay for them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from contacthub.cli.common import HubName, State, _guard, app, db, fail


@app.command()
@_guard
def connect(
    hub: HubName,
    connector: Annotated[str, typer.Argument(help="The connector's name in that hub.")],
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


def _systems() -> str:
    """The emulated systems, for ``emulate``'s help: "m365, pipedrive or procore"."""
    from contacthub.emulators import SYSTEMS

    *rest, last = sorted(SYSTEMS)
    return f"{', '.join(rest)} or {last}" if rest else last


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
    # the systems named from the emulators' own list (an argument's help is not shown by
    # every Typer and Click pair: with Click 8.5, Typer 0.25 drops it)
    help=f"Run an emulator of a hosted API on 127.0.0.1. SYSTEM is {_systems()}.\n\n"
    "'contacthub emulate SYSTEM --help' lists that emulator's options.",
)
@_guard
def emulate(ctx: typer.Context, system: Annotated[str, typer.Argument(metavar="SYSTEM")]) -> None:
    """Run an emulator (the help is ``app.command``'s, with the systems there are)."""
    from contacthub.emulators import main as run_emulator

    if system in ("--help", "-h"):  # help is the system's own, so the option is off here
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    run_emulator(system, list(ctx.args))


@app.command()
@_guard
def demo(
    folder: Annotated[Path | None, typer.Option("--dir", help="Where to put the demo files.")] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep the emulated systems and the dashboard running.")
    ] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Dashboard port with --serve.")] = 8080,
    reset: Annotated[
        bool,
        typer.Option(
            "--reset", help="Start over: drop the demo hubs, their runs and history, and rewrite the files."
        ),
    ] = False,
) -> None:
    """Create a demo hub (vCard folders, a CSV file and emulated hosted systems) and sync it.

    Run again, it keeps hub demo, its runs and the files as they are, and syncs them
    (--reset starts over)."""
    from contacthub.demo import run_demo

    run_demo(State.database, folder, serve=serve, port=port, reset=reset, prepare=_demo_folder)


def _demo_folder(folder: Path) -> None:
    """Make ``--dir`` (a folder that is there is used): a file, or a place it cannot be
    made (``/proc/nope``), ended in a NotADirectoryError or FileNotFoundError traceback."""
    if folder.exists() and not folder.is_dir():
        fail(f"--dir {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--dir {folder}: the folder cannot be made ({exc.strerror or exc})")


@app.command()
@_guard
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
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
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            "--forwarded-allow-ips",
            help="Reverse proxies (comma-separated addresses or networks) whose X-Forwarded-For"
            " and X-Forwarded-Proto are believed. Default: none, the client is the socket's peer.",
            envvar="CONTACTHUB_FORWARDED_ALLOW_IPS",
        ),
    ] = "",
) -> None:
    """Serve the dashboard, the REST API (/api/docs), webhooks and /metrics, and run the schedules."""
    import uvicorn

    from contacthub.scheduler import logs
    from contacthub.scheduler.serve import served_app
    from contacthub.web.forwarded import uvicorn_options

    if log_format not in ("text", "json"):
        fail(f"--log-format {log_format!r}: use text or json")
    proxies = uvicorn_options(forwarded_allow_ips)
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
    uvicorn.run(web, host=host, port=port, log_config=None, access_log=False, **proxies)


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
        int | None,
        typer.Option("--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on 127.0.0.1:PORT."),
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
    from contacthub.store.db import data_dir, make_data_dir

    app_ = celery_app.configure(tick=tick)
    db()
    make_data_dir()
    app_.start(celery_app.beat_argv(log_level.upper(), str(data_dir() / "celerybeat-schedule")))


def _base_url(value: str) -> str:
    """``webhooks --base-url`` checked, without its last slash: an http(s) URL with a host,
    no query and no fragment (joined to them, ``?y=1`` and ``#frag`` ended up before the
    receiver's path, and ``h.example`` or "" gave relative URLs no vendor can call), and no
    ``user:password@`` (printed in clear, though URL passwords are masked everywhere else;
    refused, and masked in the message: a vendor calls the receiver by its token)."""
    import re
    from urllib.parse import urlsplit

    said = re.sub(r"(?<=//).*@", "********@", value)  # never the password, however spelt
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        parts.port  # noqa: B018 (a port that is no number raises ValueError)
    except ValueError:
        parts, host = None, None
    if "@" in value.partition("//")[2].split("/", 1)[0]:
        fail(f"--base-url {said}: leave out the user and password; the receivers are called by their token")
    if parts is None or parts.scheme not in ("http", "https") or not host:
        fail(f"--base-url {said!r}: give an http:// or https:// URL with a host (https://hub.example.com)")
    if "?" in value or "#" in value:
        fail(f"--base-url {said!r}: leave out the query (?...) and the fragment (#...)")
    return parts.geturl().rstrip("/")


@app.command()
@_guard
def webhooks(
    hub: HubName,
    base_url: Annotated[
        str, typer.Option("--base-url", help="Where the vendors reach 'contacthub serve'.")
    ] = "https://contacthub.example.com",
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Print the secret parts (to paste into the vendor's settings).")
    ] = False,
) -> None:
    """Print, for each of HUB's connectors that a vendor can notify, its receiver URL and
    what to register with that vendor (secret parts masked unless --reveal).

    Each connector gets its own vendor's settings only (Procore, Pipedrive or Microsoft
    Graph); a folder, a CSV file or a CardDAV book is listed as polled on the hub's
    schedule."""
    # (the docstring is the --help text: what the command does. Only the connector's own
    # vendor is printed: a Graph URL printed for a Procore connector was one more thing to
    # paste in the wrong place)
    from contacthub.store.repo import Store
    from contacthub.store.secrets import REDACTED
    from contacthub.webhooks import tokens

    def shown(value: str) -> str:
        return value if reveal else REDACTED

    engine = db()
    with engine.connect() as conn:
        store = Store(conn)
        found = store.hub(hub)
        rows = store.connectors(found.id)
    hub = found.name  # as stored: the receivers' tokens are made from it
    root = _base_url(base_url)
    hooked = [row for row in rows if row.type in tokens.RECEIVERS]
    if not hooked:
        typer.echo(
            f"hub {hub!r} has no connector that receives webhooks (only "
            + ", ".join(sorted(tokens.RECEIVERS))
            + " do): its connectors are polled on the hub's schedule"
        )
        return
    for row in rows:
        source = tokens.RECEIVERS.get(row.type)
        if source is None:
            typer.echo(f"{row.name} ({row.type}): polled (no webhooks)")
            continue
        url = f"{root}/hooks/{source}/{shown(tokens.url_token(hub, row.name))}"
        typer.echo(f"{row.name} ({row.type}):")
        if source == "procore":
            typer.echo(f"  Procore webhook destination_url: {url}")
            bearer = shown(tokens.bearer(hub, row.name))
            typer.echo(f"  destination_headers Authorization: Bearer {bearer}")
        elif source == "graph":
            typer.echo(f"  Microsoft Graph notificationUrl: {url}")
            typer.echo(f"  clientState: {shown(tokens.client_state(hub, row.name))}")
            typer.echo(f'  (or set notify_url = "{root}": the connector subscribes and renews itself)')
        else:
            typer.echo(f"  Pipedrive webhook subscription_url: {url}")
            password = shown(tokens.basic_password(hub, row.name))
            typer.echo(f"  http_auth_user: {tokens.BASIC_USER}  http_auth_password: {password}")
    if not reveal:
        typer.echo("secret parts are masked: add --reveal to print them")
