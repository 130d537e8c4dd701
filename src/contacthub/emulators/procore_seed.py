"""Seed data for the Procore emulator: a construction company's directory.

Deterministic for a given seed so tests and benchmarks see the same people every time. The
mix is what a real general contractor's directory holds: the firm's own site staff, the
trade partners (vendors) with their foremen and office people, names with accents and
apostrophes, phone numbers written the way people type them in several countries, and a
few contacts with no login (reference people).
"""

from __future__ import annotations

import random
from typing import Any

TRADES = [
    ("Concrete", "Pour & Form"),
    ("Electrical", "Volt"),
    ("Plumbing", "Pipeworks"),
    ("HVAC", "Airflow"),
    ("Structural Steel", "Ironworks"),
    ("Drywall", "Interiors"),
    ("Roofing", "Roofing"),
    ("Excavation", "Earthworks"),
    ("Glazing", "Glass"),
    ("Masonry", "Stoneworks"),
    ("Fire Protection", "Sprinkler"),
    ("Painting", "Coatings"),
]

VENDOR_STEMS = [
    "Müller",
    "Nordström",
    "O'Brien",
    "García",
    "Dubois",
    "Kowalski",
    "Nguyễn",
    "Okafor",
    "Søndergaard",
    "Rossi",
    "Tanaka",
    "Fernández",
    "MacLeod",
    "Havel",
    "Aalto",
    "Brennan",
]

FIRST = [
    "José",
    "Zoë",
    "Łukasz",
    "Søren",
    "Françoise",
    "Björn",
    "Aoife",
    "Siobhán",
    "Renée",
    "Mateo",
    "Amélie",
    "Jürgen",
    "Chloé",
    "Ana",
    "Oğuz",
    "Ngozi",
    "Priya",
    "Wei",
    "Kenji",
    "Maria",
    "Carl",
    "Dana",
    "Luis",
    "Fatima",
    "Emeka",
    "Olivia",
    "Noah",
    "Hannah",
    "Ivan",
    "Marta",
    "Tomás",
    "Leila",
    "Sean",
    "Agnieszka",
    "Pierre",
    "Giulia",
    "Kwame",
    "Ines",
]

LAST = [
    "Müller",
    "O'Neil",
    "García Márquez",
    "Nowak",
    "Dubois",
    "Jensen",
    "Lindqvist",
    "Ó Súilleabháin",
    "Rossi",
    "Kim",
    "Nguyen",
    "Okonkwo",
    "Sharma",
    "Chen",
    "Yamamoto",
    "Silva",
    "Contractor",
    "Smith",
    "Johnson",
    "Brown",
    "Williams",
    "Martínez",
    "Kowalczyk",
    "Fischer",
    "Dupont",
    "Andersson",
    "Papadopoulos",
    "Haddad",
    "Mensah",
    "Costa",
    "Łukasiewicz",
    "Ferreira",
]

TITLES = [
    "Superintendent",
    "Project Manager",
    "Assistant Project Manager",
    "Foreman",
    "General Foreman",
    "Estimator",
    "Safety Manager",
    "Site Engineer",
    "Project Engineer",
    "Field Engineer",
    "Office Manager",
    "Owner",
    "Quality Manager",
    "BIM Coordinator",
]

# (country_code, state_code, city, street, zip, phone formats)
PLACES: list[tuple[str, str, str, str, str, list[str]]] = [
    ("US", "CA", "Carpinteria", "6309 Carpinteria Ave", "93013", ["(805) 555-{a:04d}", "+1 805 555 {a:04d}"]),
    ("US", "TX", "Austin", "500 W 2nd St", "78701", ["512-555-{a:04d}", "+1 (512) 555-{a:04d}"]),
    ("US", "NY", "Brooklyn", "45 Main St", "11201", ["718.555.{a:04d}"]),
    ("GB", "", "London", "10 Fleet Place", "EC4M 7RB", ["+44 20 7946 {a:04d}", "020 7946 {a:04d}"]),
    ("DE", "BE", "Berlin", "Friedrichstraße 68", "10117", ["+49 30 9018{a:04d}", "030 9018 {a:04d}"]),
    ("FR", "", "Lyon", "12 Rue de la République", "69002", ["+33 4 78 {b:02d} {c:02d} {d:02d}"]),
    ("AU", "NSW", "Sydney", "1 Martin Pl", "2000", ["+61 2 9374 {a:04d}"]),
    ("CA", "ON", "Toronto", "100 King St W", "M5X 1A9", ["+1 416-555-{a:04d}"]),
    ("IE", "", "Dublin", "Sráid an Phiarsaigh 7", "D02 X285", ["+353 1 555 {a:04d}"]),
]


def _phone(rng: random.Random, formats: list[str]) -> str:
    a = rng.randrange(100, 9999)
    return rng.choice(formats).format(
        a=a, b=rng.randrange(10, 99), c=rng.randrange(10, 99), d=rng.randrange(10, 99)
    )


def _slug(text: str) -> str:
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum()) or "x"


def seed_vendors(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Vendor attributes (before ids and timestamps are given)."""
    out = []
    for i in range(count):
        trade, word = TRADES[i % len(TRADES)]
        stem = VENDOR_STEMS[(i // len(TRADES)) % len(VENDOR_STEMS)]
        suffix = (
            "" if i < len(TRADES) * len(VENDOR_STEMS) else f" {i // (len(TRADES) * len(VENDOR_STEMS)) + 1}"
        )
        country, state, city, street, zip_code, formats = PLACES[i % len(PLACES)]
        name = f"{stem} {word}{suffix}" + (
            " Ltd" if country in ("GB", "IE") else " GmbH" if country == "DE" else " Inc."
        )
        domain = f"{_slug(stem)}{_slug(word)}{i}.example.com"
        out.append(
            {
                "name": name,
                "trade_name": trade,
                "address": street,
                "city": city,
                "state_code": state,
                "zip": zip_code,
                "country_code": country,
                "business_phone": _phone(rng, formats),
                "email_address": f"office@{domain}",
                "website": f"https://www.{domain}",
                "_domain": domain,
                "_formats": formats,
            }
        )
    return out


def seed_people(
    count: int, vendors: list[dict[str, Any]], rng: random.Random, *, start: int = 0
) -> list[dict[str, Any]]:
    """User attributes; roughly a third work for the company itself (employees), the rest for
    a vendor. ``vendor_index`` refers to ``vendors``."""
    out = []
    for i in range(start, start + count):
        first = FIRST[rng.randrange(len(FIRST))]
        last = LAST[rng.randrange(len(LAST))]
        employee = not vendors or i % 3 == 0
        vendor_index = None if employee else rng.randrange(len(vendors))
        if vendor_index is None:
            country, state, city, street, zip_code, formats = PLACES[0]
            domain = "summitbuilders.example.com"
        else:
            v = vendors[vendor_index]
            country, state, city, street, zip_code = (
                v["country_code"],
                v["state_code"],
                v["city"],
                v["address"],
                v["zip"],
            )
            formats, domain = v["_formats"], v["_domain"]
        person: dict[str, Any] = {
            "first_name": first,
            "last_name": last,
            "email_address": f"{_slug(first)}.{_slug(last)}.{i}@{domain}",
            "job_title": TITLES[rng.randrange(len(TITLES))],
            "mobile_phone": _phone(rng, formats),
            "business_phone": _phone(rng, formats) if rng.random() < 0.6 else None,
            "fax_number": _phone(rng, formats) if rng.random() < 0.05 else None,
            "address": street,
            "city": city,
            "state_code": state or None,
            "zip": zip_code,
            "country_code": country,
            "is_employee": employee,
            "employee_id": f"E{i:05d}" if employee else None,
            "notes": f"Site access badge #{1000 + i}" if rng.random() < 0.1 else None,
            "vendor_index": vendor_index,
        }
        out.append(person)
    return out
