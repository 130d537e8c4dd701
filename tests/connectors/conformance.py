"""The conformance suite every connector type runs (after vdirsyncer's ``StorageTests``).

A connector opts in with a few lines::

    class TestVCardDir(ConnectorConformance):
        @pytest.fixture
        def connector(self, tmp_path):
            return VCardDirConnector(ConnectorConfig("t", {"path": str(tmp_path)}))

Comparisons are made on the fields the connector holds (``Connector.fields``), so a system
with no room for, say, addresses still passes when it round-trips everything it keeps.
"""

from __future__ import annotations

from typing import Any

import pytest

from contacthub.connectors.base import Connector, Record, WriteOp, WriteResult
from contacthub.errors import RecordError, RecordNotFoundError, StaleVersionError
from contacthub.model import Contact, Email, Phone, fields_equal, match_keys, project


def sample(i: int, **extra: Any) -> dict[str, Any]:
    contact = Contact(
        given_name=f"Given{i}",
        family_name=f"Family{i}",
        organization=f"Org {i}",
        job_title="Engineer",
        emails=[Email(f"person{i}@example.com", "work", True)],
        phones=[Phone(f"+1 202 555 {1000 + i:04d}", "cell")],
    )
    fields = contact.to_fields()
    fields.update(extra)
    return fields


def all_records(connector: Connector) -> dict[str, Record]:
    out: dict[str, Record] = {}
    for item in connector.pull(None, {}).records:
        assert isinstance(item, Record), item
        out[item.native_id] = item
    return out


def create(connector: Connector, fields: dict[str, Any], hub_id: str = "hub-1") -> WriteResult:
    [result] = connector.write([WriteOp("create", hub_id, fields)])
    assert result.error is None, result.error
    assert result.native_id and result.version and result.fields is not None
    return result


def same(connector: Connector, a: dict[str, Any], b: dict[str, Any]) -> bool:
    held = connector.fields
    return fields_equal(project(a, held), project(b, held))


class ConnectorConformance:
    """Subclasses provide a ``connector`` fixture giving an empty, writable connector."""

    def test_empty(self, connector: Connector) -> None:
        pull = connector.pull(None, {})
        assert list(pull.records) == []
        assert pull.complete is False or pull.listed == 0

    def test_create_list_get(self, connector: Connector) -> None:
        created = [create(connector, sample(i), hub_id=f"hub-{i}") for i in range(9)]
        listed = all_records(connector)
        assert set(listed) == {r.native_id for r in created}
        for result in created:
            record = listed[result.native_id]
            assert record.version == result.version
            assert result.fields is not None and same(connector, record.fields, result.fields)
            got = connector.get(result.native_id)
            assert got.version == record.version
            assert same(connector, got.fields, record.fields)
        by_given = {r.fields.get("given_name") for r in listed.values()}
        if connector.fields is None or "given_name" in connector.fields:
            assert by_given == {f"Given{i}" for i in range(9)}

    def test_write_result_matches_what_was_asked(self, connector: Connector) -> None:
        wanted = sample(1)
        result = create(connector, wanted)
        assert result.fields is not None and same(connector, result.fields, wanted)

    def test_get_missing(self, connector: Connector) -> None:
        with pytest.raises(RecordNotFoundError):
            connector.get("does-not-exist")

    def test_update_with_version(self, connector: Connector) -> None:
        result = create(connector, sample(1))
        changed = sample(1, job_title="Site manager")
        [upd] = connector.write([WriteOp("update", "hub-1", changed, result.native_id, result.version)])
        assert upd.error is None, upd.error
        assert upd.version != result.version
        got = connector.get(result.native_id or "")
        assert got.fields.get("job_title") == "Site manager"
        assert got.version == upd.version

    def test_stale_version_rejected(self, connector: Connector) -> None:
        result = create(connector, sample(1))
        [first] = connector.write(
            [WriteOp("update", "hub-1", sample(1, notes="first"), result.native_id, result.version)]
        )
        assert first.error is None
        [stale] = connector.write(
            [WriteOp("update", "hub-1", sample(1, notes="second"), result.native_id, result.version)]
        )
        assert isinstance(stale.error, StaleVersionError)
        assert connector.get(result.native_id or "").fields.get("notes") == "first"

    def test_update_others_stay_the_same(self, connector: Connector) -> None:
        a = create(connector, sample(1), "hub-a")
        b = create(connector, sample(2), "hub-b")
        connector.write([WriteOp("update", "hub-a", sample(1, notes="x"), a.native_id, a.version)])
        assert connector.get(b.native_id or "").version == b.version

    def test_update_missing(self, connector: Connector) -> None:
        [res] = connector.write([WriteOp("update", "hub-1", sample(1), "nope", "v")])
        assert isinstance(res.error, RecordError)

    def test_delete(self, connector: Connector) -> None:
        a = create(connector, sample(1), "hub-a")
        b = create(connector, sample(2), "hub-b")
        [res] = connector.write([WriteOp("delete", "hub-a", {}, a.native_id, a.version)])
        assert res.error is None, res.error
        assert set(all_records(connector)) == {b.native_id}
        with pytest.raises(RecordNotFoundError):
            connector.get(a.native_id or "")

    def test_delete_stale(self, connector: Connector) -> None:
        a = create(connector, sample(1))
        connector.write([WriteOp("update", "hub-1", sample(1, notes="n"), a.native_id, a.version)])
        [res] = connector.write([WriteOp("delete", "hub-1", {}, a.native_id, a.version)])
        assert isinstance(res.error, StaleVersionError)
        assert connector.get(a.native_id or "")

    def test_batch_mixes_success_and_failure(self, connector: Connector) -> None:
        a = create(connector, sample(1), "hub-a")
        results = connector.write(
            [
                WriteOp("create", "hub-b", sample(2)),
                WriteOp("update", "hub-x", sample(3), "missing", "v"),
                WriteOp("update", "hub-a", sample(1, notes="ok"), a.native_id, a.version),
            ]
        )
        assert [r.error is None for r in results] == [True, False, True]
        assert len(all_records(connector)) == 2

    def test_incremental_pull(self, connector: Connector) -> None:
        a = create(connector, sample(1), "hub-a")
        b = create(connector, sample(2), "hub-b")
        c = create(connector, sample(3), "hub-c")
        known = {r.native_id: r.version for r in (a, b, c) if r.native_id and r.version}
        connector.write([WriteOp("update", "hub-a", sample(1, notes="n"), a.native_id, a.version)])
        connector.write([WriteOp("delete", "hub-b", {}, b.native_id, b.version)])
        pull = connector.pull(None, known)
        changed = [r for r in pull.records if isinstance(r, Record)]
        assert [r.native_id for r in changed] == [a.native_id]
        if pull.complete:
            assert pull.deleted == {b.native_id}
            assert pull.listed == 2

    def test_find_by_match_key(self, connector: Connector) -> None:
        create(connector, sample(1), "hub-a")
        b = create(connector, sample(2), "hub-b")
        found = connector.find(match_keys(sample(2))[:1])
        assert found is not None and found.native_id == b.native_id
        assert connector.find(["email:nobody@example.com"]) is None

    def test_hub_id_round_trip(self, connector: Connector) -> None:
        a = create(connector, sample(1), "6f1c2a52-hub")
        listed = all_records(connector)[a.native_id or ""]
        assert listed.hub_id in (None, "6f1c2a52-hub")

    @pytest.mark.parametrize(
        "given,family,notes",
        [
            ("Zoë", "Ångström-Łukasiewicz", "Résumé: naïve café"),
            ("太郎", "山田", "東京都千代田区"),
            ("محمد", "الحسن", "مرحبا"),
            ("Emoji", "😀 Smith", "🎉 party"),
        ],
    )
    def test_unicode(self, connector: Connector, given: str, family: str, notes: str) -> None:
        wanted = sample(7, given_name=given, family_name=family, notes=notes)
        wanted.pop("display_name", None)
        result = create(connector, wanted)
        got = connector.get(result.native_id or "")
        assert same(connector, {**got.fields, "display_name": ""}, {**wanted, "display_name": ""})

    @pytest.mark.parametrize(
        "text",
        [
            'Smith, Jr.; "Bob" \\ O\'Neil',
            "line one\nline two\r\nline three",
            '=HYPERLINK("http://evil")',
            "+1+2",
            "-cmd",
            "@SUM(A1)",
            "<script>alert(1)</script>",
            "a:b;c,d\\e",
        ],
    )
    def test_special_characters(self, connector: Connector, text: str) -> None:
        wanted = sample(5, notes=text, organization=text.replace("\n", " ").replace("\r", ""))
        result = create(connector, wanted)
        got = connector.get(result.native_id or "")
        held = connector.fields
        for name in ("notes", "organization"):
            if held is None or name in held:
                assert got.fields.get(name) == wanted[name].replace("\r\n", "\n"), name
