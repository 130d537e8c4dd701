"""Seed data for the Pipedrive emulator: organizations in several countries, persons with
accented names, labelled work and home emails, phones in international notation, custom
field values (a job title, an enum option, a monetary amount)."""

from __future__ import annotations

import random
import unicodedata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contacthub.emulators.pipedrive_data import Company


def seed_company(company: Company, persons: int, seed: int = 7) -> None:
    """``persons`` persons, one in five without an organization."""
    rng = random.Random(seed)
    orgs = [company.add_org(name, addr) for name, addr in ORGS]
    by_name = {f["name"]: f for f in company.custom_fields()}
    kinds = by_name["Customer type"]["options"]
    for i in range(persons):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        org = orgs[i % len(orgs)] if i % 5 else None
        domain = f"{ascii_of(org['name'].split()[0]).lower()}.example" if org else "mail.example"
        login = f"{ascii_of(given)}.{ascii_of(family)}{i}".lower()
        emails = [{"value": f"{login}@{domain}", "label": "work", "primary": True}]
        if i % 3 == 0:
            emails.append({"value": f"{login}@home.example", "label": "home", "primary": False})
        country, fmt = PHONES[i % len(PHONES)]
        phones = [{"value": fmt.format(n=1000 + i % 9000), "label": "work", "primary": True}]
        if i % 4 == 0:
            phones.append({"value": fmt.format(n=2000 + i % 7000), "label": "mobile", "primary": False})
        custom: dict[str, Any] = {
            by_name["Job title"]["key"]: rng.choice(TITLES),
            by_name["Customer type"]["key"]: kinds[i % len(kinds)]["id"],
        }
        if i % 7 == 0:
            custom[by_name["Annual value"]["key"]] = {"value": 1000 * (i % 50 + 1), "currency": "EUR"}
        body: dict[str, Any] = {
            "name": f"{given} {family}",
            "emails": emails,
            "phones": phones,
            "custom_fields": custom,
        }
        if org:
            body["org_id"] = org["id"]
        person = company.create_person(body)
        if company.contact_sync:
            person["job_title"] = custom[by_name["Job title"]["key"]]
            person["notes"] = f"Met at the {country} trade fair"


def ascii_of(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded if c.isalnum()) or "person"


ORGS = [
    ("Bäckerei Müller GmbH", "Hauptstraße 12, 80331 München, Germany"),
    ("Société Générale d'Électricité", "15 rue de la Paix, 75002 Paris, France"),
    ("Acme Construction Inc.", "6309 Carpinteria Ave, Carpinteria, CA 93013, USA"),
    ("Nordic Timber AB", "Kungsgatan 4, 111 43 Stockholm, Sweden"),
    ("Construções Lusitânia Lda", "Avenida da Liberdade 110, 1250-146 Lisboa, Portugal"),
    ("Tanaka Kōgyō K.K.", "1-1 Marunouchi, Chiyoda-ku, Tokyo, Japan"),
]
GIVEN = ["Zoë", "José", "Ana", "Łukasz", "Søren", "Chloé", "Jürgen", "Aiko", "Brian", "Fatima", "Nuno", "Eva"]
FAMILY = ["García", "Müller", "Nowak", "O'Brien", "Ångström", "Dubois", "Silva", "Tanaka", "Smith", "Haddad"]
TITLES = ["Site manager", "Buyer", "Project engineer", "CFO", "Office manager", "Estimator"]
PHONES = [
    ("US", "+1 202 555 {n:04d}"),
    ("DE", "+49 30 1234{n:04d}"),
    ("FR", "+33 1 42 68 {n:04d}"),
    ("GB", "+44 20 7946 {n:04d}"),
    ("PT", "+351 21 345 {n:04d}"),
    ("JP", "+81 3-1234-{n:04d}"),
]
