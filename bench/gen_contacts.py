"""Deterministic generator of realistic vCard 3.0 contacts for the benchmarks.

Each contact is written to its own ``<UID>.vcf`` file, the layout vdirsyncer and
Radicale use. The same ``(count, seed)`` always produces the same bytes.

    python bench/gen_contacts.py OUT_DIR [--count 10000] [--seed 42]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

GIVEN = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Margaret",
    "Mark",
    "Sandra",
    "Steven",
    "Ashley",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Olivia",
    "Liam",
    "Noah",
    "Emma",
    "Ava",
    "Sophia",
    "Isabella",
    "Mia",
    "Lucas",
    "Ethan",
    "Priya",
    "Rahul",
    "Aisha",
    "Omar",
    "Fatima",
    "Yusuf",
    "Mei",
    "Wei",
    "Hiroshi",
    "Yuki",
    "Kwame",
    "Amara",
    "Chidi",
    "Ngozi",
    "Lars",
    "Ingrid",
    "Sven",
    "Astrid",
    "Pablo",
    "Lucia",
    "Mateo",
    "Valentina",
    "Giulia",
    "Marco",
    "Anna",
    "Jan",
    "Pieter",
    "Sanne",
    "Oleksandr",
]
GIVEN_NON_ASCII = [
    "José",
    "María",
    "François",
    "Zoë",
    "Łukasz",
    "Søren",
    "Björn",
    "Åsa",
    "Renée",
    "Jürgen",
    "Ólafur",
    "Dvořák",
    "Ana Sofía",
    "Ines",
    "Çağla",
    "Şebnem",
    "Małgorzata",
    "Frédéric",
    "Héloïse",
    "Nuño",
    "Žofie",
    "Ødegaard",
    "Γιώργος",
    "Дмитрий",
    "Анна",
    "太郎",
    "美咲",
    "伟",
    "민준",
    "Ngọc",
    "Thảo",
]
FAMILY = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Patel",
    "Shah",
    "Khan",
    "Ali",
    "Chen",
    "Wang",
    "Li",
    "Zhang",
    "Tanaka",
    "Suzuki",
    "Kim",
    "Park",
    "Okafor",
    "Mensah",
    "Johansson",
    "Larsen",
    "Rossi",
    "Bianchi",
    "de Vries",
    "van der Berg",
    "O'Brien",
    "McAllister",
    "Kowalski",
    "Novak",
    "Schmidt",
    "Fischer",
]
FAMILY_NON_ASCII = [
    "Müller",
    "Núñez",
    "García-López",
    "Ólafsdóttir",
    "Dvořák",
    "Søndergaard",
    "Østergaard",
    "Łukasiewicz",
    "Gómez",
    "Peña",
    "Böhm",
    "Schäfer",
    "Françoise",
    "Yılmaz",
    "Öztürk",
    "Papadopoulos",
    "Παπαδόπουλος",
    "Иванов",
    "Петрова",
    "佐藤",
    "鈴木",
    "王",
    "김",
    "Nguyễn",
    "Trần",
]
PREFIXES = ["Dr.", "Mr.", "Ms.", "Mrs.", "Prof."]
SUFFIXES = ["Jr.", "Sr.", "III", "PhD", "MD"]
ORGS = [
    "Acme Corporation",
    "Globex",
    "Initech",
    "Umbrella Labs",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli",
    "Pied Piper",
    "Vandelay Industries",
    "Soylent Green Foods",
    "Wonka Confectionery",
    "Tyrell Systems",
    "Cyberdyne",
    "Aperture Science",
    "Black Mesa Research",
    "Monarch Solutions",
    "Northwind Traders",
    "Contoso",
    "Fabrikam",
    "Tailspin Toys",
    "Blue Yonder Airlines",
    "Litware",
    "Adventure Works",
    "Wide World Importers",
    "Müller & Söhne GmbH",
    "Café Lumière SARL",
    "Oceanic Airlines",
    "Dunder Mifflin",
    "Sterling Cooper",
    "Gringotts Bank",
]
DEPARTMENTS = [
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Legal",
    "Human Resources",
    "Operations",
    "Research",
    "Support",
    "Procurement",
    "IT",
]
TITLES = [
    "Software Engineer",
    "Senior Software Engineer",
    "Engineering Manager",
    "Account Executive",
    "Sales Director",
    "Marketing Specialist",
    "Chief Financial Officer",
    "Legal Counsel",
    "HR Business Partner",
    "Operations Manager",
    "Research Scientist",
    "Support Lead",
    "Product Manager",
    "Designer",
    "Data Analyst",
    "Office Manager",
    "CEO",
    "CTO",
    "Consultant",
    "Procurement Officer",
    "Architect",
    "Nurse",
    "Teacher",
    "Accountant",
    "Plumber",
]
PERSONAL_DOMAINS = ["example.com", "example.net", "example.org", "mail.example", "post.example"]
STREETS = [
    "Main Street",
    "High Street",
    "Oak Avenue",
    "Maple Drive",
    "Elm Street",
    "Station Road",
    "Rue de la Paix",
    "Hauptstraße",
    "Calle Mayor",
    "Baker Street",
    "Church Lane",
    "Park Road",
]
CITIES = [
    ("Springfield", "IL", "62701", "USA"),
    ("Washington", "DC", "20500", "USA"),
    ("San Francisco", "CA", "94103", "USA"),
    ("New York", "NY", "10001", "USA"),
    ("London", "", "SW1A 1AA", "United Kingdom"),
    ("Manchester", "", "M1 1AE", "United Kingdom"),
    ("Paris", "", "75008", "France"),
    ("Berlin", "", "10115", "Germany"),
    ("München", "Bayern", "80331", "Germany"),
    ("Madrid", "", "28013", "Spain"),
    ("Tokyo", "", "100-0001", "Japan"),
    ("Sydney", "NSW", "2000", "Australia"),
    ("Toronto", "ON", "M5H 2N2", "Canada"),
    ("São Paulo", "SP", "01310-100", "Brazil"),
]
NOTE_SENTENCES = [
    "Met at the annual conference in Berlin.",
    "Prefers to be contacted by email, never before 9 am.",
    "Follow up about the Q3 proposal; she asked for a revised quote.",
    "Has two kids; likes hiking and photography.",
    "Introduced by a mutual friend from university.",
    "Allergic to peanuts — remember for the team dinner.",
    "Old number no longer works; use the mobile.",
    "Interested in the enterprise plan, budget approved for next year.",
    "Speaks French, German and a little Japanese.",
    "Birthday party invitation sent, RSVP pending.",
    "Works remotely on Fridays; calendar link in the signature.",
]
CATEGORIES = ["friends", "family", "work", "clients", "suppliers", "VIP", "newsletter", "golf"]
SOCIAL = ["twitter", "linkedin", "mastodon", "github"]


def _phone(rng: random.Random) -> str:
    """A phone number in one of several real-world notations (fictional ranges)."""
    n4 = rng.randint(100, 199)
    area = rng.choice(["202", "415", "212", "312", "617", "303", "512"])
    kind = rng.randrange(12)
    if kind == 0:
        return f"+1 {area}-555-0{n4}"
    if kind == 1:
        return f"({area}) 555-0{n4}"
    if kind == 2:
        return f"{area}.555.0{n4}"
    if kind == 3:
        return f"+1{area}5550{n4}"
    if kind == 4:
        return f"+44 20 7946 0{rng.randint(0, 999):03d}"
    if kind == 5:
        return f"+44 7700 900{rng.randint(0, 999):03d}"
    if kind == 6:
        return f"020 7946 0{rng.randint(0, 999):03d}"
    if kind == 7:
        return "+33 1 " + " ".join(f"{rng.randint(10, 99)}" for _ in range(4))
    if kind == 8:
        return f"+49 30 {rng.randint(1000000, 99999999)}"
    if kind == 9:
        return f"+81 3-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
    if kind == 10:
        return f"+61 2 {rng.randint(8000, 9999)} {rng.randint(1000, 9999)}"
    return f"+1 ({area}) 555-0{n4} ext. {rng.randint(2, 999)}"


def new_phone(rng: random.Random) -> str:
    """A phone number used by the benchmark's edits (NANP fictional range)."""
    return f"+1 {rng.choice(['202', '415', '212'])}-555-01{rng.randint(0, 99):02d}"


def new_title(rng: random.Random, n: int) -> str:
    """A job title used by the benchmark's edits: unique per edit, no escaping needed."""
    return f"{rng.choice(TITLES)} {n}"


def _ascii_slug(text: str) -> str:
    out = []
    for ch in text.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
    return "".join(out)


def escape(text: str) -> str:
    """Escape a vCard TEXT value."""
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 6350 3.2), never inside a UTF-8 character."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line + "\r\n"
    parts: list[str] = []
    limit = 75
    current: list[str] = []
    size = 0
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            parts.append("".join(current))
            current = [" "]
            size = 1
            limit = 75
        current.append(ch)
        size += width
    parts.append("".join(current))
    return "\r\n".join(parts) + "\r\n"


@dataclass
class Card:
    """One generated contact: its UID, modification time and content lines."""

    uid: str
    mtime: float
    lines: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(fold(line) for line in self.lines)

    def filename(self) -> str:
        return f"{self.uid}.vcf"


BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)


def make_card(rng: random.Random) -> Card:
    uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    non_ascii = rng.random() < 0.2
    given = rng.choice(GIVEN_NON_ASCII if non_ascii and rng.random() < 0.6 else GIVEN)
    family = rng.choice(FAMILY_NON_ASCII if non_ascii else FAMILY)
    middle = rng.choice(GIVEN) if rng.random() < 0.15 else ""
    prefix = rng.choice(PREFIXES) if rng.random() < 0.08 else ""
    suffix = rng.choice(SUFFIXES) if rng.random() < 0.04 else ""
    fn = " ".join(p for p in (prefix, given, middle, family, suffix) if p)
    rev = BASE_TIME - timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "PRODID:-//contacthub//bench generator//EN",
        f"UID:{uid}",
        f"FN:{escape(fn)}",
        "N:" + ";".join(escape(p) for p in (family, given, middle, prefix, suffix)),
    ]
    if rng.random() < 0.1:
        lines.append(f"NICKNAME:{escape(given[:3])}")
    org = rng.choice(ORGS)
    if rng.random() < 0.85:
        dept = rng.choice(DEPARTMENTS) if rng.random() < 0.5 else ""
        lines.append("ORG:" + escape(org) + (f";{escape(dept)}" if dept else ""))
        lines.append(f"TITLE:{escape(rng.choice(TITLES))}")
    else:
        # Keep every card editable by title: people without an org still have a role.
        lines.append(f"TITLE:{escape(rng.choice(TITLES))}")
    slug_given = _ascii_slug(given) or "user"
    slug_family = _ascii_slug(family) or "contact"
    org_domain = (_ascii_slug(org) or "company") + ".example"
    n_emails = rng.choices([1, 2, 3], weights=[3, 4, 3])[0]
    emails: list[tuple[str, str]] = []
    candidates = [
        (f"{slug_given}.{slug_family}@{org_domain}", "WORK"),
        (f"{slug_given}{rng.randint(1, 999)}@{rng.choice(PERSONAL_DOMAINS)}", "HOME"),
        (f"{slug_given[0]}{slug_family}@{rng.choice(PERSONAL_DOMAINS)}", "HOME"),
    ]
    rng.shuffle(candidates)
    emails = candidates[:n_emails]
    for i, (addr, kind) in enumerate(emails):
        pref = ",pref" if i == 0 and n_emails > 1 else ""
        lines.append(f"EMAIL;TYPE=INTERNET,{kind}{pref}:{addr}")
    n_phones = rng.choices([1, 2, 3], weights=[3, 4, 3])[0]
    kinds = ["CELL", "WORK", "HOME", "VOICE", "FAX"]
    for i in range(n_phones):
        kind = kinds[0] if i == 0 else rng.choice(kinds[1:])
        lines.append(f"TEL;TYPE={kind}:{_phone(rng)}")
    for _ in range(rng.choices([0, 1, 2], weights=[5, 4, 1])[0]):
        city, region, postal, country = rng.choice(CITIES)
        street = f"{rng.randint(1, 2500)} {rng.choice(STREETS)}"
        ext = f"Suite {rng.randint(100, 999)}" if rng.random() < 0.2 else ""
        kind = rng.choice(["WORK", "HOME"])
        parts = ["", ext, street, city, region, postal, country]
        lines.append(f"ADR;TYPE={kind}:" + ";".join(escape(p) for p in parts))
    if rng.random() < 0.3:
        year = rng.randint(1950, 2004)
        lines.append(f"BDAY:{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
    if rng.random() < 0.25:
        lines.append(f"URL:https://www.{org_domain}/people/{slug_given}-{slug_family}")
    if rng.random() < 0.5:
        note = " ".join(rng.sample(NOTE_SENTENCES, rng.randint(1, 3)))
        if rng.random() < 0.3:
            note += "\n" + rng.choice(NOTE_SENTENCES)
        lines.append(f"NOTE:{escape(note)}")
    if rng.random() < 0.25:
        net = rng.choice(["xmpp", "sip", "skype"])
        lines.append(f"IMPP;TYPE=WORK:{net}:{slug_given}.{slug_family}@{org_domain}")
    if rng.random() < 0.3:
        lines.append("CATEGORIES:" + ",".join(rng.sample(CATEGORIES, rng.randint(1, 3))))
    lines.append(f"X-ABUID:{uuid.UUID(int=rng.getrandbits(128), version=4)}:ABPerson")
    if rng.random() < 0.3:
        net = rng.choice(SOCIAL)
        lines.append(f"X-SOCIALPROFILE;TYPE={net}:https://{net}.example/{slug_given}{slug_family}")
    if rng.random() < 0.2:
        lines.append("item1.URL:https://calendar.example/" + slug_given + slug_family)
        lines.append("item1.X-ABLabel:_$!<HomePage>!$_")
    if non_ascii and rng.random() < 0.7:
        lines.append(f"X-PHONETIC-FIRST-NAME:{escape(slug_given.title())}")
        lines.append(f"X-PHONETIC-LAST-NAME:{escape(slug_family.title())}")
    if rng.random() < 0.15:
        lines.append(f"X-ASSISTANT:{escape(rng.choice(GIVEN))} {escape(rng.choice(FAMILY))}")
    if rng.random() < 0.1:
        lines.append(f"X-CUSTOM-TRADE:{rng.choice(['electrician', 'carpenter', 'roofer'])}")
    lines.append(f"REV:{rev.strftime('%Y%m%dT%H%M%SZ')}")
    lines.append("END:VCARD")
    return Card(uid=uid, mtime=rev.timestamp(), lines=lines)


def generate(count: int, seed: int = 42) -> Iterator[Card]:
    """Yield ``count`` cards, deterministically from ``seed``."""
    rng = random.Random(seed)
    for _ in range(count):
        yield make_card(rng)


def write_cards(directory: Path, count: int, seed: int = 42) -> list[str]:
    """Write ``count`` cards into ``directory`` (created if needed); return their UIDs."""
    directory.mkdir(parents=True, exist_ok=True)
    uids: list[str] = []
    for card in generate(count, seed):
        path = directory / card.filename()
        path.write_bytes(card.text().encode("utf-8"))
        os.utime(path, (card.mtime, card.mtime))
        uids.append(card.uid)
    return uids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the .vcf files into")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    uids = write_cards(args.out, args.count, args.seed)
    total = sum((args.out / f"{uid}.vcf").stat().st_size for uid in uids)
    print(
        f"wrote {len(uids)} cards to {args.out} in {time.perf_counter() - started:.2f} s, "
        f"{total / max(len(uids), 1):.0f} bytes per card on average"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
