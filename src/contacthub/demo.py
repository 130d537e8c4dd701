"""``contacthub demo``: a hub on the embedded default with data that overlaps on purpose.

Two vCard folders (a phone's address book and a shared office folder) and an Outlook CSV
export hold some of the same people with different details: a phone number only on the
phone, a job title only in the export, an email in two places: hub ``demo``. Emulated
hosted systems (``demo_cloud``: a Procore company, a Pipedrive CRM, two Microsoft 365
tenants, served on 127.0.0.1 while the demo runs) form hub ``demo-cloud`` with the office
folder, which the two hubs share. Syncing demo, demo-cloud and demo again links everyone
into one contact per person and writes the merged people back everywhere.

The emulators live as long as the command: ``contacthub demo --serve`` keeps them (and the
dashboard) running. Hub ``demo`` needs nothing running, so it keeps working afterwards.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import typer

PHONE_CARDS = {
    "ada.vcf": (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:demo-ada\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\n"
        "EMAIL;TYPE=work:ada@analytical.example\r\nTEL;TYPE=cell:+44 20 7946 0018\r\n"
        "X-PHONE-RINGTONE:chime\r\nEND:VCARD\r\n"
    ),
    "grace.vcf": (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:demo-grace\r\nFN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n"
        "EMAIL;TYPE=work:grace@navy.example\r\nTEL;TYPE=cell:(202) 555-0143\r\nEND:VCARD\r\n"
    ),
    "linus.vcf": (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:demo-linus\r\nFN:Linus Torvalds\r\nN:Torvalds;Linus;;;\r\n"
        "EMAIL:linus@kernel.example\r\nEND:VCARD\r\n"
    ),
}

OFFICE_CARDS = {
    "margaret.vcf": (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:demo-margaret\r\nFN:Margaret Hamilton\r\n"
        "N:Hamilton;Margaret;;;\r\nORG:Apollo Guidance;Software\r\nTITLE:Director\r\n"
        "EMAIL;TYPE=work:margaret@apollo.example\r\nEND:VCARD\r\n"
    ),
    "grace-office.vcf": (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:demo-grace-office\r\nFN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n"
        "ORG:US Navy\r\nTITLE:Rear Admiral\r\nEMAIL;TYPE=work:Grace@Navy.example\r\n"
        "ADR;TYPE=work:;;1 Navy Way;Arlington;VA;22202;USA\r\nEND:VCARD\r\n"
    ),
}

CSV_EXPORT = (
    "First Name,Last Name,Company,Job Title,E-mail Address,Business Phone,Mobile Phone,Notes\r\n"
    "Ada,Lovelace,Analytical Engines Ltd,Mathematician,ada@analytical.example,,,"
    "Met at the engine demo\r\n"
    "Alan,Turing,Bletchley Park,Cryptanalyst,alan@bletchley.example,+44 1908 640404,,\r\n"
    "Margaret,Hamilton,,,margaret@apollo.example,,+1 617 555 0199,\r\n"
)

HUB_FILE = """\
[hubs.demo]
conflict = "newest"
delete_threshold = "10%"

[[hubs.demo.connectors]]
name = "phone"
type = "vcard-dir"
path = "{phone}"

[[hubs.demo.connectors]]
name = "office"
type = "vcard-dir"
path = "{office}"

[[hubs.demo.connectors]]
name = "outlook"
type = "csv"
path = "{csv}"
"""


def write_files(folder: Path, cloud: list[dict[str, Any]] | None = None) -> Path:
    """Lay out the demo's address books under ``folder``; returns the hub file. ``cloud``
    holds the settings of emulated connectors to add to the hub."""
    phone, office = folder / "phone", folder / "office"
    for path, cards in ((phone, PHONE_CARDS), (office, OFFICE_CARDS)):
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.vcf"):
            old.unlink()
        for name, text in cards.items():
            (path / name).write_text(text, encoding="utf-8", newline="")
    (folder / "outlook.csv").write_text(CSV_EXPORT, encoding="utf-8", newline="")
    return write_hub_file(folder, cloud)


def write_hub_file(folder: Path, cloud: list[dict[str, Any]] | None = None) -> Path:
    """Write the demo's hub file into ``folder`` (the address books' places in it), and
    returns it: written again by every ``demo``, as the emulators' addresses change."""
    phone, office, csv_path = folder / "phone", folder / "office", folder / "outlook.csv"
    hub_file = folder / "hub.toml"
    text = HUB_FILE.format(phone=phone.as_posix(), office=office.as_posix(), csv=csv_path.as_posix())
    if cloud:
        text += '\n[hubs.demo-cloud]\nconflict = "newest"\n\n[[hubs.demo-cloud.connectors]]\n'
        text += f'name = "office"\ntype = "vcard-dir"\npath = "{office.as_posix()}"\n'
    for settings in cloud or []:
        text += "\n[[hubs.demo-cloud.connectors]]\n" + "".join(
            f"{key} = {json.dumps(value)}\n" for key, value in settings.items()
        )
    hub_file.write_text(text, encoding="utf-8")
    return hub_file


@contextmanager
def demo_cloud(folder: Path) -> Iterator[list[dict[str, Any]]]:
    """Start the emulated hosted systems in this process; yields their connector settings
    (JSON strings are valid TOML strings, so they go into the hub file as they are)."""
    from contacthub.emulators.base import background
    from contacthub.emulators.procore import ProcoreEmulator
    from contacthub.emulators.procore_state import ProcoreState

    with ExitStack() as stack:
        connectors: list[dict[str, Any]] = []
        state = folder / "emulators"
        state.mkdir(parents=True, exist_ok=True)
        for old in state.iterdir():
            if old.is_file():
                old.unlink()

        client_id, client_secret = "demo-procore-app", "demo-procore-secret"
        procore = ProcoreEmulator(
            ProcoreState(
                users=12,
                vendors=4,
                client_id=client_id,
                client_secret=client_secret,
                state_file=str(state / "procore.json"),
            )
        )
        url = stack.enter_context(background(procore.app))
        connectors.append(
            {
                "name": "procore",
                "type": "procore",
                "base_url": url,
                "login_url": url,
                "company_id": procore.state.company_id,
                "client_id": client_id,
                "client_secret": client_secret,
                "objects": ["users"],
            }
        )
        from contacthub.emulators.pipedrive import create_app as pipedrive_app
        from contacthub.emulators.pipedrive_data import Company
        from contacthub.emulators.pipedrive_wire import Settings

        crm = Company()
        crm.seed(10, 7)
        token = "demo-pipedrive-token"
        url = stack.enter_context(
            background(pipedrive_app(Settings(api_token=token), crm, state / "pipedrive.json"))
        )
        connectors.append({"name": "pipedrive", "type": "pipedrive", "base_url": url, "api_token": token})

        from contacthub.emulators.m365 import Emulator, running

        gal = stack.enter_context(running(Emulator(tenants=2, users=8, contacts=3, consent="all"), state))
        for tenant, name in zip(gal["tenants"], ("gal-own", "gal-partner"), strict=False):
            connectors.append(
                {
                    "name": name,
                    "type": "m365-gal",
                    "tenant_id": tenant["tenant_id"],
                    "client_id": gal["client_id"],
                    "client_secret": gal["client_secret"],
                    "authority_url": gal["authority_url"],
                    "graph_url": gal["graph_url"],
                    "exchange_url": gal["exchange_url"],
                    "ca_file": gal["ca_file"],
                    # the partner's address list is read, never written
                    **({"direction": "to-hub"} if name == "gal-partner" else {}),
                }
            )
        yield connectors


def run_demo(
    database: str | None,
    folder: Path | None,
    serve: bool = False,
    port: int = 8080,
    reset: bool = False,
    prepare: Callable[[Path], None] | None = None,
) -> None:
    """Run the demo. A store that holds hub ``demo`` already keeps it (its runs, and its
    files with what the person edited, as the first demo told them to), and syncs it
    again: a second ``demo`` (``demo --serve`` after ``demo``, as the first one suggests)
    dropped the hub and rewrote the files, silently. ``reset`` starts over, as before.
    Hub ``demo-cloud`` is made afresh every time: its emulated systems live as long as the
    command. ``prepare`` makes a fresh demo's ``--dir`` (after the kept one was looked for)."""
    from sqlalchemy import delete

    from contacthub import config, service
    from contacthub.store import tables as t
    from contacthub.store.db import data_dir, default_url, open_database, safe_url

    url = database or default_url()
    engine = open_database(url)
    kept = None if reset else _kept(engine, folder)
    if kept is not None:
        folder = kept[0]
    else:
        if folder is not None and prepare is not None:
            prepare(folder)
        folder = (folder or data_dir() / "demo").resolve()
    with demo_cloud(folder) as cloud:
        hub_file = write_hub_file(folder, cloud) if kept else write_files(folder, cloud)
        gone = ["demo-cloud"] if kept else ["demo", "demo-cloud"]
        with engine.begin() as conn:  # (kept: demo-cloud's emulators are new ones)
            conn.execute(delete(t.hubs).where(t.hubs.c.name.in_(gone)))
        spec = config.load(hub_file)
        if kept is not None:
            del spec.hubs["demo"]  # as it is: settings changed since are not undone
            typer.echo(
                f"hub demo: kept, with its {kept[1]} run(s) and the files in {folder}"
                " ('contacthub demo --reset' starts it over)"
            )
        for line in config.apply(engine, spec):
            typer.echo(line)
        for hub in ("demo", "demo-cloud", "demo"):
            report = service.sync(engine, hub)
            typer.echo(f"\nsync {hub}, run {report.run_id}: {report.status}")
            if report.message:
                typer.echo(f"  {report.message}")
            for name, counts in sorted(report.changes.items()):
                typer.echo(
                    f"  {name:<10} created {counts['create']}, updated {counts['update']}, "
                    f"deleted {counts['delete']}"
                )
            for err in report.errors:
                typer.echo(f"  skipped {err['connector']}: {err['record']}: {err['message']}")
        people = service.contacts_of(engine, "demo")
        typer.echo(f"\nhub demo now holds {len(people)} people, for example:")
        for person in people[:8]:
            emails = ", ".join(e["value"] for e in person.get("emails", []))
            typer.echo(f"  {person.get('display_name', '?'):<24} {emails}")
        emulated = ", ".join(f"{c['name']} ({c['type']})" for c in cloud)
        typer.echo(
            f"\nfiles:    {folder}\n  phone:  {folder / 'phone'}\n  office: {folder / 'office'}\n"
            f"  csv:    {folder / 'outlook.csv'}\n  hub:    {hub_file}\ndatabase: {safe_url(url)}\n"
            f"emulated: {emulated}"
        )
        if serve:
            _serve(engine, port)
            return
    ch = _command(database)
    typer.echo(
        f"\nthe emulated systems of hub demo-cloud stopped with this command; 'contacthub demo "
        f"--serve' keeps them and the dashboard running.\ntry: edit a file, then\n  {ch} sync "
        f"demo\n  {ch} runs demo\n  {ch} show {report.run_id}"
    )


def _kept(engine: Any, folder: Path | None) -> tuple[Path, int] | None:
    """The folder and the number of runs of the store's demo hub, or None when there is
    none. A hub named ``demo`` whose phone, office and outlook connectors are not the
    demo's files in one folder (someone's own hub), one whose folder is gone, or a
    ``--dir`` other than its folder, is refused, naming ``--reset``: nothing is guessed."""
    from sqlalchemy import func, select

    from contacthub.errors import ConfigError
    from contacthub.store import tables as t
    from contacthub.store.repo import Store

    with engine.connect() as conn:
        store = Store(conn)
        row = store.hub_row("demo")
        if row is None:
            return None
        paths = {c.name: c.settings.get("path") for c in store.connectors(row.id)}
        runs = conn.execute(select(func.count()).select_from(t.runs).where(t.runs.c.hub_id == row.id))
        count = int(runs.scalar_one())
    office = paths.get("office")
    home = Path(office).parent if isinstance(office, str) else None
    books = {"phone": "phone", "office": "office", "outlook": "outlook.csv"}
    if home is None or any(paths.get(name) != str(home / place) for name, place in books.items()):
        raise ConfigError(
            "this store has a hub named demo that is not the demo's (its connectors are not"
            " the demo's files): 'contacthub demo --reset' replaces it, its runs and history"
        )
    if not home.is_dir():
        raise ConfigError(f"the demo's files in {home} are gone: 'contacthub demo --reset' makes them again")
    if folder is not None and folder.resolve() != home.resolve():
        raise ConfigError(
            f"hub demo keeps its files in {home}: leave out --dir to sync it again there, or add"
            f" --reset to start the demo over in {folder}"
        )
    return home, count


def _command(database: str | None) -> str:
    """``contacthub`` with the ``--database`` the demo was given: without it, the commands
    suggested looked in the default store, which has no demo hub. The URL as ``safe_url``
    shows it (a password is never printed: ``***`` to be replaced)."""
    from contacthub.store.db import safe_url

    if not database:
        return "contacthub"
    return f"contacthub --database {shlex.quote(safe_url(database))}"


def _serve(engine: Any, port: int) -> None:
    """Keep the emulators up and serve the dashboard; a first admin is created for the demo."""
    import secrets

    import uvicorn

    from contacthub.scheduler.serve import served_app
    from contacthub.web import accounts

    if accounts.user_count(engine) == 0:
        password = secrets.token_urlsafe(12)
        accounts.add_user(engine, "demo@example.com", password, admin=True)
        typer.echo(f"\ndashboard user: demo@example.com  password: {password}  (shown once)")
    typer.echo(f"dashboard: http://127.0.0.1:{port}  (Ctrl-C stops it and the emulators)")
    web = served_app(engine, secure_cookies=False)
    # no forwarded header is believed (uvicorn's default believes 127.0.0.1's), as ``serve``
    # without --forwarded-allow-ips
    from contacthub.web.forwarded import uvicorn_options

    uvicorn.run(
        web, host="127.0.0.1", port=port, log_level="warning", access_log=False, **uvicorn_options(None)
    )
