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
