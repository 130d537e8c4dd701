"""The directory the Microsoft 365 emulator serves: tenants, users, mail contacts, groups.

Mail contacts are kept in Exchange's own terms (``FirstName``, ``Title``, ``CustomAttribute1``,
``HiddenFromAddressListsEnabled``...), because Exchange is where they are written; Graph's
read-only ``orgContact`` is a view of them (``graph_contact``), as Microsoft documents: GAL
contacts are mastered in Exchange and read-only in Graph. Users are kept in Graph's terms.

Every change takes the next number of the tenant's sequence. An object remembers the number
of its last change that Graph can see (``seen``): a change to a property Graph does not show
(``Notes``, a custom attribute) is not reported by delta queries, as with Microsoft's service.
Deleted objects stay as tombstones so a delta round reports them as ``@removed``.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Exchange properties of a contact that Graph's orgContact shows (a change to another one is
#: invisible to Graph delta queries)
GRAPH_VISIBLE = frozenset(
    {
        "FirstName",
        "LastName",
        "DisplayName",
        "ExternalEmailAddress",
        "EmailAddresses",
        "Title",
        "Department",
        "Company",
        "Office",
        "StreetAddress",
        "City",
        "StateOrProvince",
        "PostalCode",
        "CountryOrRegion",
        "Phone",
        "MobilePhone",
        "Fax",
        "Alias",
    }
)

CONTACT_PROPS = (
    "Name",
    "Alias",
    "DisplayName",
    "FirstName",
    "LastName",
    "Initials",
    "ExternalEmailAddress",
    "Title",
    "Department",
    "Company",
    "Office",
    "StreetAddress",
    "City",
    "StateOrProvince",
    "PostalCode",
    "CountryOrRegion",
    "Phone",
    "MobilePhone",
    "Fax",
    "Notes",
    "WebPage",
    "HiddenFromAddressListsEnabled",
    *(f"CustomAttribute{i}" for i in range(1, 16)),
)


@dataclass(slots=True)
class Obj:
    id: str
    props: dict[str, Any]
    seen: int = 0
    deleted: bool = False
    created: str = ""
    changed: str = ""


@dataclass(slots=True)
class Group:
    id: str
    display_name: str
    members: list[str] = field(default_factory=list)


@dataclass
class Tenant:
    id: str
    domain: str
    name: str
    consented: set[str] = field(default_factory=set)
    users: dict[str, Obj] = field(default_factory=dict)
    contacts: dict[str, Obj] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    seq: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def tick(self) -> int:
        self.seq += 1
        return self.seq

    # --- users (Graph terms) ------------------------------------------------------------

    def add_user(self, props: dict[str, Any]) -> Obj:
        with self.lock:
            uid = props.get("id") or str(uuid.uuid4())
            obj = Obj(uid, {**props, "id": uid}, self.tick(), created=stamp(), changed=stamp())
            self.users[uid] = obj
            return obj

    def update_user(self, uid: str, changes: dict[str, Any]) -> Obj:
        with self.lock:
            obj = self.users[uid]
            if any(obj.props.get(k) != v for k, v in changes.items()):
                obj.props.update(changes)
                obj.seen, obj.changed = self.tick(), stamp()
            return obj

    def delete_user(self, uid: str) -> None:
        with self.lock:
            obj = self.users[uid]
            obj.deleted, obj.seen = True, self.tick()

    # --- mail contacts (Exchange terms) -------------------------------------------------

    def add_contact(self, props: dict[str, Any]) -> Obj:
        with self.lock:
            cid = str(uuid.uuid4())
            full: dict[str, Any] = dict.fromkeys(CONTACT_PROPS)
            full["HiddenFromAddressListsEnabled"] = False
            full.update(props)
            obj = Obj(cid, full, self.tick(), created=stamp(), changed=stamp())
            self.contacts[cid] = obj
            return obj

    def update_contact(self, cid: str, changes: dict[str, Any]) -> Obj:
        with self.lock:
            obj = self.contacts[cid]
            moved = {k for k, v in changes.items() if obj.props.get(k) != v}
            if moved:
                obj.props.update(changes)
                obj.changed = stamp()
                tick = self.tick()
                if moved & GRAPH_VISIBLE:
                    obj.seen = tick
            return obj

    def delete_contact(self, cid: str) -> None:
        with self.lock:
            obj = self.contacts[cid]
            obj.deleted, obj.seen = True, self.tick()

    def live_contacts(self) -> list[Obj]:
        return [c for c in self.contacts.values() if not c.deleted]


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0+00:00")


def graph_contact(obj: Obj) -> dict[str, Any]:
    """The Graph ``orgContact`` view of a mail contact, spelled as Microsoft documents it."""
    p = obj.props
    mail = p.get("ExternalEmailAddress") or None
    if mail and mail.lower().startswith("smtp:"):
        mail = mail[5:]
    return {
        "id": obj.id,
        "deletedDateTime": None,
        "companyName": p.get("Company"),
        "department": p.get("Department"),
        "displayName": p.get("DisplayName"),
        "givenName": p.get("FirstName"),
        "surname": p.get("LastName"),
        "jobTitle": p.get("Title"),
        "mail": mail,
        "mailNickname": p.get("Alias"),
        "proxyAddresses": [f"SMTP:{mail}"] if mail else [],
        "imAddresses": [],
        "onPremisesLastSyncDateTime": None,
        "onPremisesSyncEnabled": p.get("onPremisesSyncEnabled"),
        "onPremisesProvisioningErrors": [],
        "serviceProvisioningErrors": [],
        "addresses": [
            {
                "city": p.get("City"),
                "countryOrRegion": p.get("CountryOrRegion"),
                "officeLocation": p.get("Office"),
                "postalCode": p.get("PostalCode"),
                "state": p.get("StateOrProvince"),
                "street": p.get("StreetAddress"),
            }
        ],
        "phones": [
            {"number": p.get("Fax"), "type": "businessFax"},
            {"number": p.get("MobilePhone"), "type": "mobile"},
            {"number": p.get("Phone"), "type": "business"},
        ],
    }


# --- seed data ---------------------------------------------------------------------------

GIVEN = [
    "Adele",
    "Alex",
    "Ben",
    "Chloe",
    "Diego",
    "Emma",
    "Farah",
    "Grady",
    "Hana",
    "Isaiah",
    "Johanna",
    "Kenji",
    "Lee",
    "Lidia",
    "Megan",
    "Nestor",
    "Olga",
    "Pradeep",
    "Quinn",
    "Raul",
    "Sofia",
    "Tomás",
    "Uma",
    "Victor",
    "Wen",
    "Xavier",
    "Yuki",
    "Zoë",
]
FAMILY = [
    "Vance",
    "Wilber",
    "Okafor",
    "Müller",
    "Nakamura",
    "Lindqvist",
    "García",
    "Patel",
    "Dubois",
    "Kowalski",
    "Rossi",
    "O'Neil",
    "Hansen",
    "Ibrahim",
    "Kim",
    "Novak",
    "Silva",
    "Tanaka",
    "Weber",
    "Young",
]
TITLES = ["Engineer", "Site manager", "Accountant", "Project manager", "Estimator", "Foreman", "Designer"]
DEPARTMENTS = ["Operations", "Finance", "Engineering", "Sales", "Field", "HR"]
CITIES = [("Seattle", "WA", "98101"), ("Bellevue", "WA", "98004"), ("Austin", "TX", "73301")]


def seed(tenant: Tenant, users: int, contacts: int, rng: random.Random, offset: int = 0) -> None:
    """Fill a tenant with people, a few of them synced from on-premises AD, guests or
    disabled, two groups, and external mail contacts nobody in contacthub created.
    ``offset`` shifts the family names so that two tenants hold different people."""
    domain = tenant.domain
    member_ids: list[str] = []
    for i in range(users):
        given, family = GIVEN[i % len(GIVEN)], FAMILY[(i // len(GIVEN) + offset) % len(FAMILY)]
        nick = f"{given}.{family}{i}".lower().replace("'", "").replace(" ", "")
        city, state, code = CITIES[i % len(CITIES)]
        guest = i % 25 == 24
        mail = f"{nick}@{domain}" if not guest else f"{nick}@partner.example"
        props = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "displayName": f"{given} {family}",
            "givenName": given,
            "surname": family,
            "mail": mail,
            "userPrincipalName": f"{nick}@{domain}" if not guest else f"{nick}_ext#EXT#@{domain}",
            "proxyAddresses": [f"SMTP:{mail}", f"smtp:{nick}@{tenant.name.lower()}.mail.example"],
            "businessPhones": [f"+1 206 555 {i % 10000:04d}"],
            "mobilePhone": f"+1 425 555 {(i * 7) % 10000:04d}" if i % 3 else None,
            "jobTitle": TITLES[i % len(TITLES)],
            "department": DEPARTMENTS[i % len(DEPARTMENTS)],
            "companyName": tenant.name,
            "officeLocation": f"{i % 40}/{1000 + i % 900}",
            "streetAddress": f"{100 + i % 800} Main Street",
            "city": city,
            "state": state,
            "postalCode": code,
            "country": "United States",
            "accountEnabled": i % 40 != 39,
            "userType": "Guest" if guest else "Member",
            "onPremisesSyncEnabled": True if i % 10 == 5 else None,
            "faxNumber": None,
        }
        obj = tenant.add_user(props)
        member_ids.append(obj.id)
    staff = Group(str(uuid.UUID(int=rng.getrandbits(128), version=4)), "All Staff", list(member_ids))
    field_team = Group(str(uuid.UUID(int=rng.getrandbits(128), version=4)), "Field Team", member_ids[::3])
    tenant.groups = {g.id: g for g in (staff, field_team)}
    for i in range(contacts):
        given, family = GIVEN[(i + 5) % len(GIVEN)], FAMILY[(i + 3) % len(FAMILY)]
        mail = f"{given}.{family}.{i}@supplier{i % 7}.example".lower().replace("'", "")
        tenant.add_contact(
            {
                "Name": f"{given} {family} {i}",
                "Alias": f"ext{i}",
                "DisplayName": f"{given} {family} (Supplier {i % 7})",
                "FirstName": given,
                "LastName": family,
                "ExternalEmailAddress": f"SMTP:{mail}",
                "Company": f"Supplier {i % 7}",
                "Title": TITLES[(i + 2) % len(TITLES)],
                "Phone": f"+1 312 555 {i % 10000:04d}",
            }
        )
