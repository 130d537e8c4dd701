"""``contacthub demo``: a hub on the embedded default with data that overlaps on purpose.

Two vCard folders (a phone's address book and a shared office folder) and an Outlook CSV
export hold some of the same people with different details: a phone number only on the
phone, a job title only in the export, an email in two places. One sync links them into one
hub contact each and writes the merged person back to all three.
"""

from __future__ import annotations

from pathlib import Path

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


def write_files(folder: Path) -> Path:
    """Lay out the demo's address books under ``folder``; returns the hub file."""
    phone, office = folder / "phone", folder / "office"
    for path, cards in ((phone, PHONE_CARDS), (office, OFFICE_CARDS)):
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.vcf"):
            old.unlink()
        for name, text in cards.items():
            (path / name).write_text(text, encoding="utf-8", newline="")
    csv_path = folder / "outlook.csv"
    csv_path.write_text(CSV_EXPORT, encoding="utf-8", newline="")
    hub_file = folder / "hub.toml"
    hub_file.write_text(
        HUB_FILE.format(phone=phone.as_posix(), office=office.as_posix(), csv=csv_path.as_posix()),
        encoding="utf-8",
    )
    return hub_file


def run_demo(database: str | None, folder: Path | None) -> None:
    from sqlalchemy import delete

    from contacthub import config, service
    from contacthub.store import tables as t
    from contacthub.store.db import data_dir, default_url, open_database, safe_url

    folder = (folder or data_dir() / "demo").resolve()
    hub_file = write_files(folder)
    url = database or default_url()
    engine = open_database(url)
    with engine.begin() as conn:  # a fresh demo every time: the old demo hub goes
        conn.execute(delete(t.hubs).where(t.hubs.c.name == "demo"))
    for line in config.apply(engine, config.load(hub_file)):
        typer.echo(line)
    report = service.sync(engine, "demo")
    typer.echo(f"\nsync run {report.run_id}: {report.status}")
    for name, counts in sorted(report.changes.items()):
        typer.echo(
            f"  {name:<8} created {counts['create']}, updated {counts['update']}, deleted {counts['delete']}"
        )
    for err in report.errors:
        typer.echo(f"  skipped {err['connector']}: {err['record']}: {err['message']}")
    people = service.contacts_of(engine, "demo")
    typer.echo(f"\nthe hub now holds {len(people)} people:")
    for person in people:
        emails = ", ".join(e["value"] for e in person.get("emails", []))
        typer.echo(f"  {person.get('display_name', '?'):<20} {emails}")
    typer.echo(
        f"\nfiles:    {folder}\n  phone:  {folder / 'phone'}\n  office: {folder / 'office'}\n"
        f"  csv:    {folder / 'outlook.csv'}\n  hub:    {hub_file}\ndatabase: {safe_url(url)}\n"
        f"\ntry: edit a file, then 'contacthub --database {safe_url(url)} sync demo'; "
        f"'contacthub runs demo'; 'contacthub show {report.run_id}'"
    )
