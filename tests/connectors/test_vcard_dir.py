"""The vCard folder connector: the conformance suite, plus what only a folder can get wrong."""

from __future__ import annotations

import builtins
import os
import re
from datetime import UTC, datetime
from hashlib import blake2b
from pathlib import Path
from typing import Any

import pytest

from contacthub.connectors.base import ConnectorConfig, Record, Unchanged, WriteOp, WriteResult
from contacthub.connectors.card_source import content_version, stat_part
from contacthub.connectors.vcard_dir import VCardDirConnector
from contacthub.errors import (
    ConfigError,
    FatalConnectorError,
    RecordError,
    RecordNotFoundError,
    StaleVersionError,
)
from tests.connectors.conformance import ConnectorConformance, create, sample


def make(path: Path, **settings: Any) -> VCardDirConnector:
    return VCardDirConnector(ConnectorConfig("t", {"path": str(path), **settings}))


def saved(connector: VCardDirConnector) -> str:
    """The cursor an applied run that noted nothing saves: a pull under it reads only the
    files new or changed (under none, as after an upgrade, it reads every file)."""
    return connector.applied_cursor(None)


class TestVCardDirConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, tmp_path: Path) -> VCardDirConnector:
        return make(tmp_path)


class TestVCardDirConformance40(ConnectorConformance):
    @pytest.fixture
    def connector(self, tmp_path: Path) -> VCardDirConnector:
        return make(tmp_path, version="4.0")


CARD_WITH_EXTRAS = (
    b"BEGIN:VCARD\r\n"
    b"VERSION:3.0\r\n"
    b"PRODID:-//Apple Inc.//iOS 5.0.1//EN\r\n"
    b"UID:ext-1\r\n"
    b"N:Doe;John;;;\r\n"
    b"FN:John Doe\r\n"
    b"ORG:Acme;\r\n"
    b"item1.EMAIL;type=INTERNET;type=pref:john@example.com\r\n"
    b"item1.X-ABLabel:_$!<Other>!$_\r\n"
    b"TEL;type=CELL:+1 202 555 0101\r\n"
    b"CATEGORIES:friends,work\\, mostly\r\n"
    b"X-SOCIALPROFILE;type=twitter;x-user=jd:http://twitter.com/jd\r\n"
    b"IMPP;X-SERVICE-TYPE=Skype;type=HOME:skype:john.doe\r\n"
    b"PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQg\r\n"
    b" KCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQ\r\n"
    b" EAX/2gAIAQEAAD8A0s8g/9k=\r\n"
    b"X-FOLDED:a long unmodelled value that is folded by its producer in a way we w\r\n"
    b" ould never fold it ourselves\r\n"
    b"REV:2021-03-14T09:28:38Z\r\n"
    b"END:VCARD\r\n"
)


def unmodelled_lines(data: bytes) -> list[bytes]:
    """Every line the hub does not model (REV aside: a write moves it to when it wrote)."""
    keep = (b"PRODID", b"item1.X-ABLabel", b"CATEGORIES", b"X-SOCIALPROFILE", b"IMPP")
    keep += (b"PHOTO", b" ", b"X-FOLDED", b"UID", b"item1.EMAIL")
    return [line for line in data.split(b"\r\n") if line.startswith(keep)]


def test_unknown_properties_survive_an_update_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / "ext-1.vcf").write_bytes(CARD_WITH_EXTRAS)
    os.utime(tmp_path / "ext-1.vcf", (1.5e9, 1.5e9))  # 2017: the REV (2021) is later
    connector = make(tmp_path)
    record = connector.get("ext-1.vcf")
    assert record.hub_id == "ext-1"
    assert record.modified is not None and record.modified.year == 2021
    fields = dict(record.fields, job_title="Boss", notes="new note; with, specials")
    [result] = connector.write([WriteOp("update", "h", fields, "ext-1.vcf", record.version)])
    assert result.error is None, result.error
    written = (tmp_path / "ext-1.vcf").read_bytes()
    assert unmodelled_lines(written) == unmodelled_lines(CARD_WITH_EXTRAS)
    assert b"TITLE:Boss\r\n" in written
    assert b"NOTE:new note\\; with\\, specials\r\n" in written
    got = connector.get("ext-1.vcf")
    assert got.fields["job_title"] == "Boss"
    assert got.fields["emails"] == record.fields["emails"]
    assert result.fields == got.fields and result.version == got.version
    # the card says it changed now, so a program keeping the newer copy by REV keeps this
    assert b"REV:2021" not in written and got.modified is not None
    assert abs((got.modified - datetime.now(UTC)).total_seconds()) < 120


def test_changed_email_keeps_its_group(tmp_path: Path) -> None:
    (tmp_path / "ext-1.vcf").write_bytes(CARD_WITH_EXTRAS)
    connector = make(tmp_path)
    record = connector.get("ext-1.vcf")
    emails = [{"value": "john@example.com", "type": "work", "primary": True}]
    fields = dict(record.fields, emails=emails)
    [result] = connector.write([WriteOp("update", "h", fields, "ext-1.vcf", record.version)])
    assert result.error is None
    written = (tmp_path / "ext-1.vcf").read_bytes()
    # INTERNET says nothing the hub keeps, so it stays; the type and preference change
    assert b"item1.EMAIL;TYPE=INTERNET,work,pref:john@example.com\r\n" in written
    assert b"item1.X-ABLabel:_$!<Other>!$_\r\n" in written


def test_an_edited_address_keeps_its_line(tmp_path: Path) -> None:
    """An address edited elsewhere is a removal and an addition to the model, but one line
    to the person who edited it: the line keeps its group, its PO box and the extended part
    of its street, and only the city changes."""
    card = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:adr-1\r\nFN:Ann Lee\r\nN:Lee;Ann;;;\r\n"
        b"monkey.ADR;TYPE=WORK:Postfach 314;Floor 2;Main St 22;Berlin;;10115;Germany\r\n"
        b"monkey.X-ABLabel:Monkey Tree\r\n"
        b"EMAIL;TYPE=INTERNET:ann@example.com\r\nTEL:555-010-1234\r\nEND:VCARD\r\n"
    )
    (tmp_path / "adr-1.vcf").write_bytes(card)
    connector = make(tmp_path)
    record = connector.get("adr-1.vcf")
    [address] = record.fields["addresses"]
    extra_email = {"value": "ann@work.example", "type": "", "primary": False}
    fields = dict(
        record.fields,
        addresses=[{**address, "city": "Potsdam"}],
        emails=[*record.fields["emails"], extra_email],
    )
    [result] = connector.write([WriteOp("update", "h", fields, "adr-1.vcf", record.version)])
    assert result.error is None
    written = (tmp_path / "adr-1.vcf").read_bytes()
    assert b"monkey.ADR;TYPE=work:Postfach 314;Floor 2;Main St 22;Potsdam;;10115;Germany\r\n" in written
    assert b"monkey.X-ABLabel:Monkey Tree\r\n" in written
    # adding an email rewrites no other line
    assert b"EMAIL;TYPE=INTERNET:ann@example.com\r\n" in written
    assert b"TEL:555-010-1234\r\n" in written
    assert connector.get("adr-1.vcf").fields["addresses"][0]["city"] == "Potsdam"


def test_a_removed_grouped_email_takes_its_label_along(tmp_path: Path) -> None:
    (tmp_path / "ext-1.vcf").write_bytes(CARD_WITH_EXTRAS)
    connector = make(tmp_path)
    record = connector.get("ext-1.vcf")
    [result] = connector.write(
        [WriteOp("update", "h", dict(record.fields, emails=[]), "ext-1.vcf", record.version)]
    )
    assert result.error is None
    written = (tmp_path / "ext-1.vcf").read_bytes()
    assert b"item1." not in written  # no X-ABLabel left labelling nothing
    assert b"X-SOCIALPROFILE" in written and b"PHOTO" in written


def test_no_op_pull_reads_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connector = make(tmp_path)
    made = [create(connector, sample(i), f"hub-{i}") for i in range(5)]
    known = {r.native_id or "": r.version or "" for r in made}

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a no-op pull opened a file")

    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    pull = connector.pull(saved(connector), known)
    assert list(pull.records) == []
    assert pull.deleted == set() and pull.complete and pull.listed == 5


def test_pull_tells_new_changed_and_gone_files_apart(tmp_path: Path) -> None:
    connector = make(tmp_path)
    made = [create(connector, sample(i), f"hub-{i}") for i in range(6)]
    known = {r.native_id or "": r.version or "" for r in made}
    known["forgotten.vcf"] = "1-1"  # a link whose file went while nobody looked
    (tmp_path / (made[0].native_id or "")).unlink()
    (tmp_path / (made[1].native_id or "")).write_bytes(
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Changed\r\nEND:VCARD\r\n"
    )
    (tmp_path / "new.vcf").write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:New\r\nEND:VCARD\r\n")
    (tmp_path / ".hidden.vcf").write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Hidden\r\nEND:VCARD\r\n")
    (tmp_path / "notes.txt").write_text("not a card")
    pull = connector.pull(None, known)
    assert sorted(r.native_id for r in pull.records if isinstance(r, Record)) == sorted(
        [made[1].native_id, "new.vcf"]
    )
    assert pull.deleted == {made[0].native_id, "forgotten.vcf"}
    assert pull.listed == 6


def test_a_link_to_a_card_of_the_folder_is_not_a_second_card(tmp_path: Path) -> None:
    """A symlink naming a card of the same folder is one person, read once; a link to a
    card elsewhere is read; a dangling link and a loop of links are an error each (once
    skipped without a word), as is a folder named like a card."""
    folder, elsewhere = tmp_path / "cards", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    connector = make(folder)
    made = create(connector, sample(1))
    (folder / "alias.vcf").symlink_to(made.native_id or "")
    (elsewhere / "far.vcf").write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Far\r\nEND:VCARD\r\n")
    (folder / "far.vcf").symlink_to(elsewhere / "far.vcf")
    (folder / "dangling.vcf").symlink_to(folder / "missing.vcf")
    (folder / "loop.vcf").symlink_to(folder / "loop.vcf")
    (folder / "box.vcf").mkdir()
    pull = connector.pull(None, {})
    items = list(pull.records)
    records = {r.native_id: r for r in items if isinstance(r, Record)}
    assert sorted(records) == sorted([made.native_id or "", "far.vcf"])
    assert pull.listed == 5  # the three unread ones are there all the same
    errors = {Path(e.record).name: e.message for e in items if isinstance(e, RecordError)}
    assert sorted(errors) == ["box.vcf", "dangling.vcf", "loop.vcf"]
    assert f"a link to {str(folder / 'missing.vcf')!r}" in errors["dangling.vcf"]
    assert "not a file" in errors["box.vcf"]
    far = records["far.vcf"]
    [result] = connector.write(
        [WriteOp("update", "h", {**far.fields, "job_title": "Far away"}, "far.vcf", far.version)]
    )
    assert result.error is None
    assert (folder / "far.vcf").is_symlink()  # written through the link, which stays
    assert "TITLE:Far away" in (elsewhere / "far.vcf").read_text()


def _counting_reads(connector: VCardDirConnector) -> list[str]:
    """The paths the connector's codec parses from now on (a spy: each is still parsed)."""
    seen: list[str] = []
    read = connector.codec.read

    def counted(data: bytes, where: str) -> Any:
        seen.append(Path(where).name)
        return read(data, where)

    connector.codec.read = counted  # type: ignore[method-assign]
    return seen


def _touched_card(tmp_path: Path) -> tuple[VCardDirConnector, WriteResult, Path]:
    """A card the connector wrote, then touched: a newer mtime, the same bytes."""
    connector = make(tmp_path)
    made = create(connector, sample(1))
    path = tmp_path / (made.native_id or "")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    return connector, made, path


def test_touched_file_is_unchanged_and_not_parsed(tmp_path: Path) -> None:
    """A file touched (a newer mtime, the same bytes) is read, not parsed: ``Unchanged``,
    with its new version and the one the hub knew; ``get`` still reads it whole."""
    connector, made, path = _touched_card(tmp_path)
    nid = path.name
    parsed = _counting_reads(connector)
    [item] = connector.pull(None, {nid: made.version or ""}).records
    assert item == Unchanged(nid, content_version(path.stat(), path.read_bytes()), made.version or "")
    assert item.version != made.version and parsed == []
    assert connector.get(nid).fields == made.fields and parsed == [nid]


def test_touched_file_read_whole_where_the_hub_knows_no_digest(tmp_path: Path) -> None:
    """A version stored before versions had digests (``mtime-size-inode``), or forgotten
    ("": a mapping changed), says nothing of the bytes: the touched file is read whole."""
    connector, made, path = _touched_card(tmp_path)
    nid = path.name
    for known in (stat_part(made.version or ""), ""):
        [record] = connector.pull(None, {nid: known}).records
        assert isinstance(record, Record) and record.fields == made.fields
        assert record.version == content_version(path.stat(), path.read_bytes())


def test_a_write_refuses_a_file_whose_bytes_changed_behind_its_stat(tmp_path: Path) -> None:
    """Two cards of one size swapped in place, size, mtime and inode kept (``cp -p`` over
    each other after a ``touch`` gave them one mtime): the stat says nothing, the write
    finds other bytes than its version's digest and refuses, rather than write one person's
    edit into the other's card; and the next pull reads every file, parsing only those
    whose bytes changed."""
    connector = make(tmp_path)
    ann = create(connector, {"given_name": "Ann", "family_name": "Lee"}, "ann")
    bob = create(connector, {"given_name": "Bob", "family_name": "Lee"}, "bob")
    a_path, b_path = tmp_path / (ann.native_id or ""), tmp_path / (bob.native_id or "")
    a_bytes, b_bytes = a_path.read_bytes(), b_path.read_bytes()
    assert len(a_bytes) == len(b_bytes)
    a_st, b_st = a_path.stat(), b_path.stat()
    for path, data, st in ((a_path, b_bytes, a_st), (b_path, a_bytes, b_st)):
        with path.open("r+b") as handle:  # in place: the inode stays
            handle.write(data)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert stat_part(ann.version or "") == stat_part(content_version(a_path.stat(), b""))
    quiet = saved(connector)
    [result] = connector.write(
        [
            WriteOp(
                "update",
                "ann",
                {"given_name": "Ann", "family_name": "Lee", "note": "x"},
                ann.native_id,
                ann.version,
            )
        ]
    )
    assert isinstance(result.error, StaleVersionError) and a_path.read_bytes() == b_bytes
    cursor = connector.applied_cursor(None)
    assert cursor != quiet
    known = {ann.native_id or "": ann.version or "", bob.native_id or "": bob.version or ""}
    parsed = _counting_reads(connector)
    items = {item.native_id: item for item in connector.pull(cursor, known).records}
    assert sorted(parsed) == sorted(known)  # both files changed: both parsed
    assert connector.applied_cursor(None) == quiet  # (the reread is said once: a run's writes say it)
    assert isinstance(items[a_path.name], Record) and items[a_path.name].fields["given_name"] == "Bob"
    # a pull with that cursor again (nothing changed since): every file read, none parsed
    again = connector.pull(cursor, {n: i.version for n, i in items.items() if isinstance(i, Record)})
    assert [type(item) for item in again.records] == [Unchanged, Unchanged] and len(parsed) == 2


def test_file_with_other_bytes_is_a_record_though_size_and_mtime_are_kept(tmp_path: Path) -> None:
    """An edit of the same size, its mtime put back (``cp -p`` of another card, ``touch -r``):
    the inode or the digest tells it, and it is parsed; one copied back from a backup with
    the same bytes, a new inode, is ``Unchanged``."""
    connector = make(tmp_path)
    made = create(connector, {"given_name": "Ann", "family_name": "Lee"})
    nid = made.native_id or ""
    path = tmp_path / nid
    old = path.stat()
    data = path.read_bytes()
    edited = tmp_path / "edited.tmp"
    edited.write_bytes(data.replace(b"Ann", b"Bob"))
    os.utime(edited, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(edited, path)
    [record] = connector.pull(None, {nid: made.version or ""}).records
    assert isinstance(record, Record) and record.fields["given_name"] == "Bob"
    backup = tmp_path / "backup.tmp"
    backup.write_bytes(path.read_bytes())
    os.replace(backup, path)
    [item] = connector.pull(None, {nid: record.version}).records
    assert isinstance(item, Unchanged) and item.was == record.version


def test_bad_file_is_a_record_error_and_others_are_read(tmp_path: Path) -> None:
    connector = make(tmp_path)
    create(connector, sample(1), "good")
    (tmp_path / "bad.vcf").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.vcf").write_bytes(b"")
    (tmp_path / ".hidden.vcf").write_bytes(b"junk")
    (tmp_path / "notes.txt").write_bytes(b"junk")
    pull = connector.pull(None, {})
    items = list(pull.records)
    errors = [i for i in items if isinstance(i, RecordError)]
    records = [i for i in items if isinstance(i, Record)]
    assert [r.native_id for r in records] == ["good.vcf"]
    assert sorted(e.record for e in errors) == [
        str(tmp_path / "bad.vcf"),
        str(tmp_path / "empty.vcf"),
    ]
    assert all(e.connector == "t" for e in errors)
    assert pull.listed == 3


@pytest.mark.parametrize("native_id", ["../x.vcf", "..", "a/b.vcf", "a\\b.vcf", ".hidden.vcf", ""])
def test_unsafe_native_ids_are_refused(tmp_path: Path, native_id: str) -> None:
    (tmp_path / "sub").mkdir()
    connector = make(tmp_path / "sub")
    with pytest.raises(RecordError) as info:
        connector.get(native_id)
    assert not isinstance(info.value, RecordNotFoundError)
    [result] = connector.write([WriteOp("update", "h", sample(1), native_id, None)])
    assert isinstance(result.error, RecordError)
    [result] = connector.write([WriteOp("delete", "h", {}, native_id, None)])
    assert isinstance(result.error, RecordError)


def test_missing_folder_is_fatal_and_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    connector = make(missing)
    for action in (connector.check, lambda: connector.pull(None, {})):
        with pytest.raises(FatalConnectorError) as info:
            action()
        assert str(missing) in str(info.value) and "create" in str(info.value)
    assert not missing.exists()
    make(missing, create=True).check()
    assert not missing.exists()  # made by the first write, not by a check
    creating = make(missing, create=True)
    assert list(creating.pull(None, {}).records) == []
    assert not missing.exists()  # nor by the pull: a dry run stops after it
    create(creating, sample(1), "hub-1")
    assert missing.is_dir()


def test_a_created_folder_gone_later_fails_instead_of_being_made_again(tmp_path: Path) -> None:
    """``create`` makes the folder on first use only: made again empty when the folder of
    known cards had gone (an unmounted disk), every person read as deleted."""
    folder = tmp_path / "cards"
    connector = make(folder, create=True)
    connector.check()
    assert list(connector.pull(None, {}).records) == [] and not folder.exists()
    made = create(connector, sample(1), "hub-1")
    folder.rename(tmp_path / "unmounted")
    again = make(folder, create=True)
    again.check()  # a run's check passes: only its pull knows the hub knows cards here
    with pytest.raises(FatalConnectorError, match="is gone") as info:
        again.pull(None, {made.native_id: made.version})
    assert str(folder) in str(info.value)
    with pytest.raises(FatalConnectorError, match="is gone"):
        again.write([WriteOp("create", "hub-2", sample(2))])
    assert not folder.exists()


def test_replayed_create_is_not_duplicated(tmp_path: Path) -> None:
    connector = make(tmp_path)
    first = create(connector, sample(1), "hub-1")
    again = create(connector, sample(1), "hub-1")
    assert again.native_id == first.native_id and again.version == first.version
    assert [p.name for p in tmp_path.iterdir()] == ["hub-1.vcf"]


def test_create_does_not_overwrite_a_foreign_file_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "hub-1.vcf").write_bytes(CARD_WITH_EXTRAS)
    connector = make(tmp_path)
    made = create(connector, sample(1), "hub-1")
    assert made.native_id != "hub-1.vcf"
    assert (tmp_path / "hub-1.vcf").read_bytes() == CARD_WITH_EXTRAS
    assert connector.get(made.native_id or "").hub_id == "hub-1"


def test_unsafe_hub_id_gets_a_generated_name(tmp_path: Path) -> None:
    connector = make(tmp_path)
    made = create(connector, sample(1), "../../etc/passwd")
    assert made.native_id and "/" not in made.native_id and made.native_id.endswith(".vcf")
    assert connector.get(made.native_id).hub_id == "../../etc/passwd"


def test_same_size_rewrite_still_changes_the_version(tmp_path: Path) -> None:
    connector = make(tmp_path)
    made = create(connector, sample(1, notes="aaaa"))
    [upd] = connector.write(
        [WriteOp("update", "hub-1", sample(1, notes="bbbb"), made.native_id, made.version)]
    )
    assert upd.error is None and upd.version != made.version


def test_multi_card_file_keeps_its_other_cards(tmp_path: Path) -> None:
    second = CARD_WITH_EXTRAS.replace(b"ext-1", b"ext-2")
    (tmp_path / "two.vcf").write_bytes(CARD_WITH_EXTRAS + second)
    connector = make(tmp_path)
    record = connector.get("two.vcf")
    assert record.hub_id == "ext-1"
    fields = dict(record.fields, job_title="Boss")
    [result] = connector.write([WriteOp("update", "h", fields, "two.vcf", record.version)])
    assert result.error is None
    assert (tmp_path / "two.vcf").read_bytes().endswith(second)


def test_editing_the_first_card_keeps_the_other_cards_byte_for_byte(tmp_path: Path, corpus_dir: Path) -> None:
    """The other cards of a file are not synced: an update of the first leaves them as
    they were. They were written again from their parsed form, a 2.1 card as 3.0
    (``TEL;WORK;VOICE`` became ``TEL;TYPE=WORK,VOICE``, its long lines folded)."""
    name = "mixed__mixed__nodevcf_multiple.multi.vcf"
    data = (corpus_dir / "vcards" / name).read_bytes()
    (tmp_path / name).write_bytes(data)
    connector = make(tmp_path)
    record = connector.get(name)
    fields = dict(record.fields, job_title="Chefredaktion")
    [result] = connector.write([WriteOp("update", "h", fields, name, record.version)])
    assert result.error is None, result.error
    written = (tmp_path / name).read_bytes()
    others = data[data.index(b"END:VCARD\r\n") + 11 :]
    assert b"VERSION:2.1\r\n" in others and b"TEL;WORK;VOICE:(0221) 9999123\r\n" in others
    assert written.endswith(b"END:VCARD\r\n" + others)
    assert b"TITLE:Chefredaktion\r\n" in written[: len(written) - len(others)]
    assert connector.get(name).fields == result.fields


@pytest.mark.parametrize(
    "name",
    [
        "apple-addressbook__3.0__roundcube_apple.vcf",  # CRLF lines, its photo folded with LF
        "apple-ios5__3.0__ezvcard_John_Doe_IPHONE.vcf",  # every line ended with \r\r\n
        "apple-macos-10.11__3.0__kcontacts_vcardwithitemasapplesupport.vcf",  # LF only
    ],
)
def test_an_update_keeps_the_line_ends_of_the_lines_it_does_not_edit(
    tmp_path: Path, corpus_dir: Path, name: str
) -> None:
    """Every line was written with CRLF, so that one edited field rewrote the whole file;
    the lines written anew end as the file's first line does."""
    data = (corpus_dir / "vcards" / name).read_bytes()
    (tmp_path / name).write_bytes(data)
    connector = make(tmp_path)
    record = connector.get(name)
    [result] = connector.write([WriteOp("update", "h", dict(record.fields, job_title="Boss"), name, None)])
    assert result.error is None, result.error
    written = (tmp_path / name).read_bytes()
    ends = re.compile(rb"[^\r\n]*(?:\r\r\n|\r\n|\n|\r)")
    before, after = ends.findall(data), ends.findall(written)
    first_end = before[0][len(b"BEGIN:VCARD") :]
    assert [line for line in before if line not in after and not line.startswith((b"TITLE", b"REV"))] == []
    new = [line for line in after if line not in before]
    assert new and all(line.startswith((b"TITLE", b"REV", b"UID")) for line in new)
    assert all(line.endswith(first_end) and not line.endswith(b"\r" + first_end) for line in new)
    assert b"TITLE:Boss" + first_end in written
    assert connector.get(name).fields == result.fields


def test_a_file_of_several_cards_is_read_and_the_others_reported(tmp_path: Path, corpus_dir: Path) -> None:
    """An address book exported whole and dropped into the folder: its first card is read,
    and the pull says the file holds more, which are not synced. A card nested in another
    (a vCard 2.1 AGENT) is part of it, not another card."""
    for name in (
        "google-takeout__3.0__audriga_google_takeout_contacts.multi.vcf",
        "android-aosp__2.1__aosp_v21_nest.vcf",
    ):
        (tmp_path / name).write_bytes((corpus_dir / "vcards" / name).read_bytes())
    items = list(make(tmp_path).pull(None, {}).records)
    assert sorted(i.native_id for i in items if isinstance(i, Record)) == sorted(
        p.name for p in tmp_path.iterdir()
    )
    [error] = [i for i in items if isinstance(i, RecordError)]
    assert error.record.endswith("google_takeout_contacts.multi.vcf")
    assert "holds 9 cards" in error.message and "only the first is synced" in error.message


def test_a_file_of_several_cards_starting_with_a_bom_is_one_of_several(tmp_path: Path) -> None:
    """A UTF-8 BOM before the first BEGIN:VCARD: the file was taken for one card, so the
    pull did not report the others and a delete sent them all to the trash."""
    second = CARD_WITH_EXTRAS.replace(b"ext-1", b"ext-2").replace(b"John", b"Tim")
    (tmp_path / "two.vcf").write_bytes(b"\xef\xbb\xbf" + CARD_WITH_EXTRAS + second)
    connector = make(tmp_path)
    items = list(connector.pull(None, {}).records)
    [error] = [i for i in items if isinstance(i, RecordError)]
    assert "holds 2 cards" in error.message
    record = connector.get("two.vcf")
    [result] = connector.write([WriteOp("delete", "h", {}, "two.vcf", record.version)])
    assert result.error is None
    assert (tmp_path / "two.vcf").read_bytes() == second


@pytest.mark.parametrize(
    ("codec", "bom"), [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-16-be", b"")]
)
def test_a_utf16_file_of_several_cards_is_one_of_several(
    tmp_path: Path, corpus_dir: Path, codec: str, bom: bytes
) -> None:
    """A file in UTF-16 was not looked into for more cards: a pull did not report the
    others, an edit of the first wrote every card again (in UTF-8) and a delete sent them
    all to the trash. Now as a UTF-8 file of several cards: the others stay byte for byte,
    and the file stays in UTF-16, its byte-order mark (if any) kept."""
    sample = (corpus_dir / "vcards" / "utf16be__3.0__roundcube_utf-16_sample.vcf").read_bytes()
    second = sample.decode("utf-16-be")  # Roundcube's card (BOM-less), with letters beyond latin-1
    first = CARD_WITH_EXTRAS.replace(b"John", "Jöhn".encode()).decode()
    other = second.encode(codec)
    (tmp_path / "two.vcf").write_bytes(bom + (first + second).encode(codec))
    connector = make(tmp_path)
    items = list(connector.pull(None, {}).records)
    [error] = [i for i in items if isinstance(i, RecordError)]
    assert "holds 2 cards" in error.message
    record = connector.get("two.vcf")
    assert record.hub_id == "ext-1" and record.fields["display_name"] == "Jöhn Doe"

    fields = dict(record.fields, job_title="Señor engineer")
    [result] = connector.write([WriteOp("update", "h", fields, "two.vcf", record.version)])
    assert result.error is None, result.error
    written = (tmp_path / "two.vcf").read_bytes()
    assert written.startswith(bom) and written.endswith(other)
    text = written[len(bom) :].decode(codec)
    assert "TITLE:Señor engineer\r\n" in text and text.count("BEGIN:VCARD") == 2
    assert connector.get("two.vcf").fields == result.fields

    record = connector.get("two.vcf")
    [gone] = connector.write([WriteOp("delete", "ext-1", {}, "two.vcf", record.version)])
    assert gone.error is None
    assert (tmp_path / "two.vcf").read_bytes() == bom + other
    assert connector.get("two.vcf").fields["display_name"] == "Ǽgean ĽdaMonté"


def test_an_update_keeps_a_utf8_byte_order_mark(tmp_path: Path) -> None:
    """Windows programs write one, and some of them look for it to read the file as UTF-8."""
    (tmp_path / "bom.vcf").write_bytes(b"\xef\xbb\xbf" + CARD_WITH_EXTRAS)
    connector = make(tmp_path)
    record = connector.get("bom.vcf")
    fields = {**record.fields, "job_title": "Señor engineer"}
    [result] = connector.write([WriteOp("update", "h", fields, "bom.vcf", record.version)])
    assert result.error is None
    data = (tmp_path / "bom.vcf").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfBEGIN:VCARD") and "TITLE:Señor engineer".encode() in data


def test_deleting_the_record_of_a_file_of_several_cards_keeps_the_others(tmp_path: Path) -> None:
    """Only the first card is the record: the others go on as they were, byte for byte,
    and the file's next first card is read as a record of its own."""
    second = CARD_WITH_EXTRAS.replace(b"ext-1", b"ext-2").replace(b"John", b"Tim")
    (tmp_path / "two.vcf").write_bytes(CARD_WITH_EXTRAS + second)
    connector = make(tmp_path)
    record = connector.get("two.vcf")
    [result] = connector.write([WriteOp("delete", "h", {}, "two.vcf", record.version)])
    assert result.error is None
    assert (tmp_path / "two.vcf").read_bytes() == second
    assert connector.get("two.vcf").hub_id == "ext-2"
    [alone] = connector.write([WriteOp("delete", "h", {}, "two.vcf", None)])
    assert alone.error is None and not (tmp_path / "two.vcf").exists()


def test_a_card_deleted_from_a_file_of_several_comes_back_whole(tmp_path: Path) -> None:
    """The card taken out of a file of several waits in the trash like a whole file: an
    undo brings it back with its photo and unmodelled lines (it was built anew, without)."""
    second = CARD_WITH_EXTRAS.replace(b"ext-1", b"ext-2").replace(b"John", b"Tim")
    (tmp_path / "two.vcf").write_bytes(CARD_WITH_EXTRAS + second)
    connector = make(tmp_path)
    record = connector.get("two.vcf")
    [gone] = connector.write([WriteOp("delete", "ext-1", {}, "two.vcf", record.version)])
    assert gone.error is None and (tmp_path / "two.vcf").read_bytes() == second
    [back] = connector.write([WriteOp("create", "ext-1", record.fields)])
    assert back.error is None and back.native_id is not None
    data = (tmp_path / back.native_id).read_bytes()
    assert unmodelled_lines(data) == unmodelled_lines(CARD_WITH_EXTRAS)
    assert data.count(b"BEGIN:VCARD") == 1


def test_a_card_cut_off_while_written_is_an_error_not_a_shorter_card(tmp_path: Path) -> None:
    """Read as it is, a half-written card says everything after the cut was removed, and a
    sync would remove it everywhere: cut inside a line or at a line's end, it has no
    END:VCARD. Junk after the END does not make a card cut off."""
    (tmp_path / "cut.vcf").write_bytes(CARD_WITH_EXTRAS[:90])
    at_line = CARD_WITH_EXTRAS[: CARD_WITH_EXTRAS.index(b"TEL;")]
    assert at_line.endswith(b"\r\n")
    (tmp_path / "cut-at-line.vcf").write_bytes(at_line)
    (tmp_path / "no-end.vcf").write_bytes(CARD_WITH_EXTRAS.replace(b"END:VCARD\r\n", b""))
    (tmp_path / "tail.vcf").write_bytes(CARD_WITH_EXTRAS + b"\r\n\r\n")
    items = list(make(tmp_path).pull(None, {}).records)
    errors = {Path(i.record).name: i.message for i in items if isinstance(i, RecordError)}
    assert sorted(errors) == ["cut-at-line.vcf", "cut.vcf", "no-end.vcf"]
    assert all("no END:VCARD" in m for m in errors.values())
    [record] = [i for i in items if isinstance(i, Record)]
    assert record.native_id == "tail.vcf" and record.fields["emails"][0]["value"] == "john@example.com"


def test_a_card_deleted_for_the_hub_comes_back_whole(tmp_path: Path) -> None:
    """Deleted cards wait in the folder's hidden trash; a create for the same hub id (an
    undo) takes the card back, photo and all, with the hub's fields written into it, under
    its own file name (it came back under the hub id's)."""
    (tmp_path / "John Doe.vcf").write_bytes(CARD_WITH_EXTRAS)
    connector = make(tmp_path)
    record = connector.get("John Doe.vcf")
    [gone] = connector.write([WriteOp("delete", "ext-1", {}, "John Doe.vcf", record.version)])
    assert gone.error is None and not (tmp_path / "John Doe.vcf").exists()
    assert list(connector.pull(None, {}).records) == []  # the trash is not read
    fields = dict(record.fields, job_title="Back")
    [back] = connector.write([WriteOp("create", "ext-1", fields)])
    assert back.error is None and back.fields is not None and back.fields["job_title"] == "Back"
    assert back.native_id == "John Doe.vcf"
    data = (tmp_path / back.native_id).read_bytes()
    assert unmodelled_lines(data) == unmodelled_lines(CARD_WITH_EXTRAS)
    assert not any((tmp_path / ".contacthub-trash").iterdir())


def test_the_trash_can_be_off_and_is_pruned(tmp_path: Path) -> None:
    (tmp_path / "a.vcf").write_bytes(CARD_WITH_EXTRAS)
    off = make(tmp_path, trash_days=0)
    [gone] = off.write([WriteOp("delete", "ext-1", {}, "a.vcf", None)])
    assert gone.error is None and list(tmp_path.iterdir()) == []
    (tmp_path / "a.vcf").write_bytes(CARD_WITH_EXTRAS)
    kept = make(tmp_path, trash_days=2)
    kept.write([WriteOp("delete", "ext-1", {}, "a.vcf", None)])
    [card] = (tmp_path / ".contacthub-trash").glob("*.vcf")
    kept.trash.prune(now=card.stat().st_mtime + 86400)
    assert card.exists() and kept.trash.origin("ext-1") == "a.vcf"
    kept.trash.prune(now=card.stat().st_mtime + 3 * 86400)
    assert not any((tmp_path / ".contacthub-trash").iterdir())  # its name went with it
    with pytest.raises(ConfigError):
        make(tmp_path, trash_days="forever")


def test_custom_mapping(tmp_path: Path) -> None:
    config = ConnectorConfig(
        "t",
        {"path": str(tmp_path)},
        mapping={"custom.trade": "X-TRADE", "department": "X-DEPARTMENT"},
    )
    connector = VCardDirConnector(config)
    assert connector.fields is not None
    assert {"custom.trade", "department", "emails"} <= connector.fields
    made = create(connector, sample(1, **{"custom.trade": "Plumbing", "department": "Ops"}))
    data = (tmp_path / (made.native_id or "")).read_bytes()
    assert b"X-TRADE:Plumbing\r\n" in data and b"X-DEPARTMENT:Ops\r\n" in data
    assert b"ORG:Org 1\r\n" in data
    got = connector.get(made.native_id or "")
    assert got.fields["custom.trade"] == "Plumbing" and got.fields["department"] == "Ops"


def test_modified_is_the_later_of_rev_and_mtime(tmp_path: Path) -> None:
    """A person editing a file in a text editor leaves REV old: the edit must count as new
    for the ``newest`` conflict policy; a REV ahead of the mtime (a copied file) still wins."""
    from datetime import UTC, datetime

    path = tmp_path / "a.vcf"
    path.write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nREV:2020-01-01T00:00:00Z\r\nEND:VCARD\r\n")
    edited = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    os.utime(path, ns=(0, int(edited.timestamp()) * 10**9))
    conn = make(tmp_path)
    assert conn.get("a.vcf").modified == edited
    old = datetime(2019, 1, 1, tzinfo=UTC)
    os.utime(path, ns=(0, int(old.timestamp()) * 10**9))
    assert conn.get("a.vcf").modified == datetime(2020, 1, 1, tzinfo=UTC)
    path.write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nEND:VCARD\r\n")
    os.utime(path, ns=(0, int(edited.timestamp()) * 10**9))
    assert conn.get("a.vcf").modified == edited  # no REV: the mtime


def test_a_rev_off_the_calendar_in_utc_reads_as_no_rev(tmp_path: Path) -> None:
    """``REV:99991231T230000-0100`` is past year 9999 in UTC: reading it raised
    OverflowError, which failed every run of the hub; it is no REV, the mtime counts."""
    path = tmp_path / "a.vcf"
    path.write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nREV:99991231T230000-0100\r\nEND:VCARD\r\n")
    edited = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    os.utime(path, ns=(0, int(edited.timestamp()) * 10**9))
    [record] = make(tmp_path).pull(None, {}).records
    assert isinstance(record, Record) and record.modified == edited


def test_create_leaves_no_temporary_file_and_never_overwrites(tmp_path: Path) -> None:
    conn = make(tmp_path)
    [result] = conn.write([WriteOp("create", "h-1", {"given_name": "Ann"})])
    assert result.error is None and result.native_id == "h-1.vcf"
    st = (tmp_path / "h-1.vcf").stat()
    digest = blake2b((tmp_path / "h-1.vcf").read_bytes(), digest_size=16).hexdigest()
    assert result.version == f"{st.st_mtime_ns}-{st.st_size}-{st.st_ino}:{digest}"
    assert result.fields == conn.get("h-1.vcf").fields
    (tmp_path / "h-2.vcf").write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Other\r\nUID:x\r\nEND:VCARD\r\n")
    [result] = conn.write([WriteOp("create", "h-2", {"given_name": "Bob"})])
    assert result.error is None and result.native_id != "h-2.vcf"
    assert b"FN:Other" in (tmp_path / "h-2.vcf").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_create_without_tmpfile_support(tmp_path: Path) -> None:
    """The temporary-file way, where O_TMPFILE or /proc is missing, writes the same."""
    conn = make(tmp_path)
    conn._tmpfile = False
    [result] = conn.write([WriteOp("create", "h-1", {"given_name": "Ann"})])
    assert result.error is None and result.fields == conn.get("h-1.vcf").fields
    assert [p.name for p in tmp_path.iterdir()] == ["h-1.vcf"]


APPLE_GROUP = (
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//AddressBook 6.1//EN\r\nN:Friends\r\n"
    b"FN:Friends\r\nX-ADDRESSBOOKSERVER-KIND:group\r\n"
    b"X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:ext-1\r\nUID:group-1\r\nEND:VCARD\r\n"
)
V4_GROUP = (
    b"BEGIN:VCARD\r\nVERSION:4.0\r\nkind:Group\r\nFN:Site crew\r\n"
    b"MEMBER:urn:uuid:ext-1\r\nUID:group-2\r\nEND:VCARD\r\n"
)


def test_a_contact_group_card_is_no_person(tmp_path: Path) -> None:
    """Apple Contacts and iCloud keep groups as cards of their own: read as people, a CSV
    or a CRM got a person named Friends. They are left alone, neither records nor errors;
    a person's card of another KIND, and one whose NOTE speaks of a group, are people."""
    (tmp_path / "person.vcf").write_bytes(CARD_WITH_EXTRAS)
    (tmp_path / "group.vcf").write_bytes(APPLE_GROUP)
    (tmp_path / "group4.vcf").write_bytes(V4_GROUP)
    (tmp_path / "org.vcf").write_bytes(
        b"BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:org\r\nFN:Acme\r\nORG:Acme\r\n"
        b"NOTE:KIND:group is what Apple writes\r\nEND:VCARD\r\n"
    )
    connector = make(tmp_path)
    items = list(connector.pull(None, {}).records)
    assert sorted(i.native_id for i in items if isinstance(i, Record)) == ["org.vcf", "person.vcf"]
    assert [i for i in items if isinstance(i, RecordError)] == []
    with pytest.raises(RecordNotFoundError):
        connector.get("group.vcf")
    assert (tmp_path / "group.vcf").read_bytes() == APPLE_GROUP


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_a_contact_group_card_in_utf16_is_no_person(tmp_path: Path, codec: str) -> None:
    data = APPLE_GROUP.decode().encode(codec)
    (tmp_path / "group.vcf").write_bytes(data)
    connector = make(tmp_path)
    items = list(connector.pull(None, {}).records)
    assert items == []
    with pytest.raises(RecordNotFoundError):
        connector.get("group.vcf")
    assert (tmp_path / "group.vcf").read_bytes() == data


def _card(uid: str, name: str) -> bytes:
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nEND:VCARD\r\n".encode()


def test_two_cards_of_one_size_swapping_names_are_read_again_and_not_written_over(
    tmp_path: Path,
) -> None:
    """``mv`` keeps mtime and size: the inode in the version tells the swap."""
    connector = make(tmp_path)
    (tmp_path / "x.vcf").write_bytes(_card("uid-ann", "Ann"))
    (tmp_path / "y.vcf").write_bytes(_card("uid-bob", "Bob"))
    os.utime(tmp_path / "y.vcf", ns=(1, os.stat(tmp_path / "x.vcf").st_mtime_ns))
    read = {r.native_id: r for r in connector.pull(None, {}).records if isinstance(r, Record)}
    known = {nid: r.version for nid, r in read.items()}
    os.rename(tmp_path / "x.vcf", tmp_path / "t")
    os.rename(tmp_path / "y.vcf", tmp_path / "x.vcf")
    os.rename(tmp_path / "t", tmp_path / "y.vcf")
    again = {r.native_id: r.hub_id for r in connector.pull(None, known).records if isinstance(r, Record)}
    assert again == {"x.vcf": "uid-bob", "y.vcf": "uid-ann"}
    # a write with the version read before the swap is refused, not written over Bob's card
    [result] = connector.write([WriteOp("update", "uid-ann", sample(1), "x.vcf", known["x.vcf"])])
    assert result.error is not None
    assert b"FN:Bob" in (tmp_path / "x.vcf").read_bytes()


def test_versions_of_the_older_form_are_read_once_then_no_more(tmp_path: Path) -> None:
    """A hub upgraded from ``mtime_ns-size`` versions reads each file once, no more."""
    connector = make(tmp_path)
    made = [create(connector, sample(i), f"hub-{i}") for i in range(3)]
    old = {r.native_id or "": (r.version or "").rsplit("-", 1)[0] for r in made}
    records = [r for r in connector.pull(None, old).records if isinstance(r, Record)]
    assert sorted(r.native_id for r in records) == sorted(old)
    assert list(connector.pull(saved(connector), {r.native_id: r.version for r in records}).records) == []


def test_a_file_over_max_card_mb_is_an_error_of_its_record_and_not_read(tmp_path: Path) -> None:
    """A file bigger than ``max_card_mb`` is an error saying its size and the limit, told
    from the listing's stat: a stray 300 MB ``.vcf`` was read whole on every run (1 GB of
    memory, 10 s). Not read, its bytes (not a card at all) give no parse error; known,
    it is no deletion; and no write or ``get`` reads it either."""
    connector = make(tmp_path, max_card_mb=0.001)  # 1048 bytes
    good = create(connector, sample(1), "good")
    (tmp_path / "junk.vcf").write_bytes(b"\0" * 5000)
    big = tmp_path / "big.vcf"
    big.write_bytes(_card("big-1", "Big").replace(b"END:VCARD", b"NOTE:" + b"x" * 2000 + b"\r\nEND:VCARD"))
    pull = connector.pull(None, {})
    items = list(pull.records)
    assert [r.native_id for r in items if isinstance(r, Record)] == [good.native_id]
    errors = {Path(e.record).name: e.message for e in items if isinstance(e, RecordError)}
    assert sorted(errors) == ["big.vcf", "junk.vcf"]
    assert "5000 bytes, over the limit of 1048 bytes" in errors["junk.vcf"]
    assert "max_card_mb" in errors["junk.vcf"]
    assert pull.listed == 3
    # linked before it grew past the limit: an error each run, never a deletion
    known = {good.native_id or "": good.version or "", "big.vcf": "1-1-1"}
    pull = connector.pull(None, known)
    assert pull.deleted == set()
    errors = {Path(e.record).name: e.message for e in pull.records if isinstance(e, RecordError)}
    assert "over the limit" in errors["big.vcf"]
    version = "-".join(str(x) for x in (big.stat().st_mtime_ns, big.stat().st_size, big.stat().st_ino))
    # known at this very version (the hub wrote it so): unchanged, nothing to say
    pull = connector.pull(saved(connector), {**known, "big.vcf": version})
    assert pull.deleted == set()
    assert [Path(e.record).name for e in pull.records if isinstance(e, RecordError)] == ["junk.vcf"]
    before = big.read_bytes()
    with pytest.raises(RecordError, match="over the limit"):
        connector.get("big.vcf")
    results = connector.write(
        [
            WriteOp("update", "h-big", {"display_name": "Smaller"}, "big.vcf", version),
            WriteOp("delete", "h-big", {}, "big.vcf", version),
        ]
    )
    assert all(r.error is not None and "over the limit" in r.error.message for r in results)
    # a deletion that waits says so (the pull's "not read" line was said again, word for word)
    said = [r.error.message.split(":")[0] if r.error else None for r in results]
    assert said == ["not read", "not deleted"]
    assert big.read_bytes() == before


@pytest.mark.parametrize("value", [0, -1, "20", True])
def test_max_card_mb_must_be_a_positive_number(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ConfigError, match="max_card_mb"):
        make(tmp_path, max_card_mb=value)


def test_new_file_names_never_differ_only_in_case(tmp_path: Path) -> None:
    """Cards whose UIDs differ only in case (``ABC``, ``abc``) are two people, but their
    files ``ABC.vcf`` and ``abc.vcf`` are one file on macOS and Windows: the folder synced
    or copied there lost one of them (QA). A new file's name differs from every file's in
    the folder by more than case; a create replayed under its own name still finds it."""
    (tmp_path / "Kim.vcf").write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:Kim\r\nFN:Kim\r\nEND:VCARD\r\n")
    conn = make(tmp_path)
    ops = [WriteOp("create", uid, {"display_name": uid}) for uid in ("ABC", "abc", "aBc", "KIM")]
    results = conn.write(ops)
    assert [r.error for r in results] == [None] * 4
    names = sorted(p.name for p in tmp_path.glob("*.vcf"))
    assert len(names) == 5 and len({n.lower() for n in names}) == 5, names
    assert results[0].native_id == "ABC.vcf"  # the first keeps its UID's name
    assert {conn.get(r.native_id or "").hub_id for r in results} == {"ABC", "abc", "aBc", "KIM"}
    # a create replayed (after a crash) under the name it took is that file, not a new one
    [again] = make(tmp_path).write([WriteOp("create", "ABC", {"display_name": "ABC"})])
    assert again.native_id == "ABC.vcf" and len(list(tmp_path.glob("*.vcf"))) == 5


def test_a_capitalised_name_after_its_lower_case_twin_is_another_name(tmp_path: Path) -> None:
    """The other order: ``abc`` made first (a lower-case name, kept as a hash only), then
    ``ABC``, whose name would be the same file on macOS and Windows; and a lower-case file
    there before the run."""
    (tmp_path / "kim.vcf").write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:kim\r\nFN:Kim\r\nEND:VCARD\r\n")
    conn = make(tmp_path)
    results = conn.write([WriteOp("create", uid, {"display_name": uid}) for uid in ("abc", "ABC", "Kim")])
    assert [r.error for r in results] == [None] * 3
    names = sorted(p.name for p in tmp_path.glob("*.vcf"))
    assert len(names) == 4 and len({n.lower() for n in names}) == 4, names
    assert results[0].native_id == "abc.vcf"


def test_files_are_read_in_name_order_whatever_the_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder's listing order is the filesystem's (tmpfs lists the newest first, ext4
    by a hash of the name): records came in that order, and matching and twins, which go
    by the order records are read, gave one folder and its ``cp -a`` copy other people."""
    folder = tmp_path
    connector = make(folder)
    names = [create(connector, sample(i), hub_id=f"hub-{i}").native_id for i in range(6)]
    listed = os.scandir

    class Reversed:
        def __init__(self, path: Any) -> None:
            with listed(path) as entries:
                self.entries = sorted(entries, key=lambda e: e.name, reverse=True)

        def __enter__(self) -> list[os.DirEntry[str]]:
            return self.entries

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(os, "scandir", Reversed)
    pull = make(folder).pull(None, {})
    read = [r.native_id for r in pull.records if isinstance(r, Record)]
    assert read == sorted(names)
