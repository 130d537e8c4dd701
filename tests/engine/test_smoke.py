from typing import Any

from tests.engine.harness import Hub
from tests.memory_connector import same_people


def person(i, **extra):
    from contacthub.model import Contact, Email

    f = Contact(given_name=f"G{i}", family_name=f"F{i}", emails=[Email(f"p{i}@x.com")]).to_fields()
    f.update(extra)
    return f


def test_two_books_converge(sqlite_url):
    hub = Hub(sqlite_url, ["a", "b"])
    a, b = hub.book("a"), hub.book("b")
    for i in range(3):
        a.put(f"a{i}", person(i))
    b.put("b1", person(1, job_title="Boss"))
    b.put("b9", person(9))
    rep = hub.sync()
    assert rep.status == "applied", rep
    assert len(a.items) == 4 and len(b.items) == 4
    assert same_people(a, b)
    assert any(i.fields.get("job_title") == "Boss" for i in a.items.values())
    rep2 = hub.sync()
    assert rep2.changes == {}, rep2.changes


def test_a_forgotten_version_is_no_version_to_check() -> None:
    """A settings change forgets link versions ("") so records are read again; a record
    that is never read (an M365 mail contact under objects = ["users"]) kept "" as the
    version its update was checked against, which never matched: refused on every run."""
    from contacthub.connectors.base import Capabilities
    from contacthub.engine.context import Spoke
    from contacthub.engine.outbound import plan_link
    from contacthub.store.repo import ContactRow, LinkRow

    class Writable:
        capabilities = Capabilities()

        def read_back(self, fields: dict[str, Any]) -> dict[str, Any]:
            return fields

    spoke = Spoke(
        1, "gal", 0, "two-way", frozenset({"create", "update", "delete"}), "delete", Writable(), None, None
    )  # type: ignore[arg-type]
    contact = ContactRow("c1", {"given_name": "Zoe", "job_title": "Guide"}, {}, 3, False, "zoe")
    link = LinkRow(7, 1, "c1", "contacts/1", "", {"given_name": "Zoe"}, 0, "active")
    step = plan_link(spoke, link, contact, {})
    assert step.op is not None and step.op.kind == "update" and step.op.version is None
    contact.deleted = True
    gone = plan_link(spoke, link, contact, {})
    assert gone.op is not None and gone.op.kind == "delete" and gone.op.version is None
