"""A touched vCard folder (every file a newer mtime, the same bytes) through the whole run:
no change, no file parsed, and the next run reads none (``Unchanged``)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from contacthub.connectors.card_source import content_version, stat_part
from contacthub.connectors.vcard_dir import VCardDirConnector
from contacthub.formats.vcard import VCardCodec
from contacthub.store import tables as t
from tests.sheets import site


def touch(folder: Path, *names: str) -> None:
    for path in folder.glob("*.vcf"):
        if not names or path.name in names:
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The files the folder connector opens and the cards its codec parses, by name (a spy:
    each is still read and parsed)."""
    seen: dict[str, list[str]] = {"read": [], "parsed": []}
    read, parse = VCardDirConnector._read, VCardCodec.read

    def reading(self: VCardDirConnector, path: Path) -> Any:
        seen["read"].append(path.name)
        return read(self, path)

    def parsing(self: VCardCodec, data: bytes, where: str) -> Any:
        seen["parsed"].append(Path(where).name)
        return parse(self, data, where)

    monkeypatch.setattr(VCardDirConnector, "_read", reading)
    monkeypatch.setattr(VCardCodec, "read", parsing)
    return seen


def forget(seen: dict[str, list[str]]) -> None:
    for names in seen.values():
        names.clear()


def versions(db: str) -> dict[str, str]:
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.links.c.native_id, t.links.c.version).where(t.links.c.native_id.like("%.vcf"))
        )
        out = {nid: version for nid, version in rows}
    engine.dispose()
    return out


def test_a_touched_folder_is_no_change_and_nothing_is_parsed(
    tmp_path: Path, spied: dict[str, list[str]]
) -> None:
    hub = site(tmp_path, people=3)
    hub.sync()
    hub.settled()
    touch(hub.folder)
    forget(spied)
    assert hub.sync()["changes"] == {}
    assert sorted(spied["read"]) == ["p1.vcf", "p2.vcf", "p3.vcf"] and spied["parsed"] == []
    for name, version in versions(hub.db).items():
        path = hub.folder / name
        assert version == content_version(path.stat(), path.read_bytes())
    forget(spied)
    hub.settled()
    assert spied["read"] == []  # the versions moved: the next run opens no file


def test_a_touched_card_with_an_edited_one_beside_it(tmp_path: Path, spied: dict[str, list[str]]) -> None:
    hub = site(tmp_path, people=3)
    hub.sync()
    touch(hub.folder)
    forget(spied)
    edited = hub.folder / "p2.vcf"
    edited.write_text(edited.read_text().replace("FN:Person 2", "FN:Person Two"))
    result = hub.sync()
    assert result["changes"] == {
        "hub": {"create": 0, "update": 1, "delete": 0},
        "sheet": {"create": 0, "update": 1, "delete": 0},
    }
    assert spied["parsed"].count("p2.vcf") >= 1 and "p1.vcf" not in spied["parsed"]
    assert "Person Two" in hub.sheet.read_text()
    hub.settled()


def test_a_touched_card_the_filter_left_out_is_read_whole(
    tmp_path: Path, spied: dict[str, list[str]]
) -> None:
    """Only a link active at the version the hub knows moves without a read: the card of a
    person who left the folder's filter (its link "left") is read and weighed as any
    changed card (the read decides whether it is in the filter now); its version moves too."""
    flt = 'filter = {all = [{field = "family_name", op = "not_equals", value = "Gone"}]}'
    hub = site(tmp_path, cards_settings=flt, people=2)
    hub.sync()
    left = hub.folder / "p1.vcf"
    left.write_text(left.read_text().replace("N:Person;1", "N:Gone;1"))
    hub.sync()
    hub.settled()
    engine = sa.create_engine(hub.db)
    with engine.connect() as conn:
        states = dict(conn.execute(sa.select(t.links.c.native_id, t.links.c.state)).all())
    engine.dispose()
    assert states["p1.vcf"] == "left" and states["p2.vcf"] == "active"
    touch(hub.folder)
    forget(spied)
    assert hub.sync()["changes"] == {}
    assert spied["parsed"] == ["p1.vcf"]
    for name, version in versions(hub.db).items():
        path = hub.folder / name
        assert version == content_version(path.stat(), path.read_bytes()), name
    forget(spied)
    hub.settled()
    assert spied["read"] == []


def test_a_hub_whose_versions_have_no_digest_reads_touched_cards_whole(
    tmp_path: Path, spied: dict[str, list[str]]
) -> None:
    """Links written before versions had digests (``mtime-size-inode``): an untouched card
    is still unchanged, a touched one is parsed once, and holds a digest from then on."""
    hub = site(tmp_path, people=2)
    hub.sync()
    engine = sa.create_engine(hub.db)
    with engine.begin() as conn:
        for nid, version in versions(hub.db).items():
            conn.execute(
                sa.update(t.links).where(t.links.c.native_id == nid).values(version=stat_part(version))
            )
    engine.dispose()
    forget(spied)
    hub.settled()
    assert spied["read"] == []
    touch(hub.folder, "p1.vcf")
    forget(spied)
    hub.settled()
    assert spied["parsed"] == ["p1.vcf"]
    assert ":" in versions(hub.db)["p1.vcf"] and ":" not in versions(hub.db)["p2.vcf"]


def test_two_cards_swapped_behind_their_stats_are_found_and_nobody_is_overwritten(tmp_path: Path) -> None:
    """Two cards of one size given one mtime, then swapped in place keeping size, mtime and
    inode (``cp -p`` over each other): no listing can see it. An edit of the first person
    in the sheet then found the second person's card under the first's name: it was
    written there (one person's card with the other's UID, and the first person twice in
    the folder, for good). Now the write is refused, and the next run reads every file and
    finds both where they are."""
    hub = site(tmp_path, people=2)
    hub.sync()
    one, two = hub.folder / "p1.vcf", hub.folder / "p2.vcf"
    stamp = one.stat().st_mtime_ns + 5_000_000_000
    for path in (one, two):
        os.utime(path, ns=(stamp, stamp))
    hub.settled()
    first, second = one.read_bytes(), two.read_bytes()
    for path, data in ((one, second), (two, first)):
        with path.open("r+b") as handle:
            handle.write(data)
        os.utime(path, ns=(stamp, stamp))
    hub.settled()  # (nothing any listing can see)
    rows = list(csv.DictReader(io.StringIO(hub.sheet.read_text())))
    for row in rows:
        if row["id"] == "u1":
            row["notes"] = "from the sheet"
    with hub.sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    refused = hub.sync()
    assert [e["record"] for e in refused["errors"]] == [str(one)]
    assert one.read_bytes() == second and two.read_bytes() == first  # nobody overwritten
    hub.sync()
    assert "UID:u2" in one.read_text() and "from the sheet" not in one.read_text()
    assert "UID:u1" in two.read_text() and "from the sheet" in two.read_text()
    assert hub.cards() == ["p1.vcf", "p2.vcf"]
    hub.settled()
