"""A new card starts from the same person's card in another vCard folder of the hub.

A card built from the hub's fields alone has only what the hub models: a first sync of a
phone's folder into an empty folder or CardDAV book once left every photo, nickname, IMPP,
X- property and Apple group behind. These tests hold the copy to vdirsyncer's standard
(the card whole, byte for byte when nothing else changed) and check the cases where the
source cannot be copied as it is: merged with another system's values, changed since it
was read, another version, another mapping.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from contacthub.connectors.card_source import CardSource, file_version
from contacthub.errors import RecordError
from contacthub.formats.vcard import VCardCodec
from tests.radicale_server import Radicale, new_book, serve
from tests.sheets import HubCli

PHOTO = (
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQIAHAAcAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUG"
    "CQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD"
)


def rich_card(uid: str = "ann-1", version: str = "3.0", email: str = "ann@example.com") -> bytes:
    """A card with much the hub does not model, as a phone writes it."""
    lines = [
        "BEGIN:VCARD",
        f"VERSION:{version}",
        "PRODID:-//Apple Inc.//iPhone OS 17.1//EN",
        f"UID:{uid}",
        "FN:Ann Example",
        "N:Example;Ann;;;",
        "NICKNAME:Annie",
        f"item1.EMAIL;TYPE=INTERNET:{email}",
        "item1.X-ABLabel:_$!<Other>!$_",
        "TEL;TYPE=CELL:+1 202-555-0147",
        "IMPP;X-SERVICE-TYPE=Skype:skype:ann.example",
        "CATEGORIES:Friends,Climbing",
        "X-ABUID:5C1F2B1E-0F0E-4C3F-9B5E-1F2D3C4B5A69:ABPerson",
        PHOTO,
        "END:VCARD",
        "",
    ]
    return "\r\n".join(lines).encode()


# --- the codec ------------------------------------------------------------------------


def test_an_exact_source_is_copied_byte_for_byte() -> None:
    codec = VCardCodec()
    data = rich_card()
    fields, _, _ = codec.read(data)
    made = codec.create_from(data, fields, "ann-1", exact=True)
    assert made is not None and made[0] == data and made[1] is fields


def test_an_exact_source_with_another_uid_is_rewritten_with_the_hub_id() -> None:
    codec = VCardCodec()
    data = rich_card(uid="phone-uid")
    fields, _, _ = codec.read(data)
    made = codec.create_from(data, fields, "hub-7", exact=True)
    assert made is not None
    text = made[0].decode()
    assert "UID:hub-7\r\n" in text and "phone-uid" not in text
    assert PHOTO in text and "X-ABUID:" in text and "item1.X-ABLabel" in text
    assert made[1] == codec.read(made[0])[0]


def test_fields_that_differ_are_written_into_the_copy_and_the_rest_kept() -> None:
    codec = VCardCodec()
    data = rich_card()
    fields, _, _ = codec.read(data)
    phones = [*fields["phones"], {"value": "+12025550199", "type": "home"}]
    fields = {**fields, "job_title": "Guide", "phones": phones}
    made = codec.create_from(data, fields, "ann-1", exact=False)
    assert made is not None
    text, read = made[0].decode(), made[1]
    assert read["job_title"] == "Guide" and len(read["phones"]) == 2
    for kept in ("NICKNAME:Annie", "CATEGORIES:Friends,Climbing", PHOTO, "item1.EMAIL;TYPE=INTERNET:ann@"):
        assert kept in text
    assert "TEL;TYPE=CELL:+1 202-555-0147" in text  # an unchanged phone keeps its notation


def test_apples_escaped_colon_is_written_plainly_in_a_copy() -> None:
    """iOS writes ``http\\://``, an escape vCard does not have. Copied as it is into a
    CardDAV book, Radicale stored it with the backslash escaped, and the next reading of
    the card there spread ``http\\://`` into every connector."""
    codec = VCardCodec()
    data = rich_card().replace(b"END:VCARD", b"item2.URL;type=pref:http\\://www.ibm.com\r\nEND:VCARD")
    fields, _, _ = codec.read(data)
    assert fields["websites"][0]["value"] == "http://www.ibm.com"
    for exact in (True, False):
        made = codec.create_from(data, fields, "ann-1", exact=exact)
        assert made is not None
        assert b"item2.URL;type=pref:http://www.ibm.com\r\n" in made[0] and b"\\:" not in made[0]
        assert codec.read(made[0])[0] == fields


def test_a_copy_leaves_out_the_hub_data_its_settings_do_not_read() -> None:
    """The source reads ``custom.trade`` in X-TRADE and the department in X-DEPARTMENT; a
    target mapping neither keeps no X-TRADE (never written again there, it stayed the value
    at the copy for good) and writes the department in ORG. What the source does not read
    either is kept."""
    source = VCardCodec({"custom.trade": "X-TRADE", "department": "X-DEPARTMENT"})
    data = rich_card().replace(
        b"END:VCARD", b"X-TRADE:mason\r\nX-DEPARTMENT:Rigging\r\nORG:Acme;Old unit\r\nEND:VCARD"
    )
    fields, _, _ = source.read(data)
    assert fields["custom.trade"] == "mason" and fields["department"] == "Rigging"
    target = VCardCodec()
    wanted = {k: v for k, v in fields.items() if k != "custom.trade"}
    made = target.create_from(data, wanted, "ann-1", exact=False, mapped=source.fmap)
    assert made is not None
    text = made[0].decode()
    assert "X-TRADE" not in text and "X-DEPARTMENT" not in text and "Old unit" not in text
    assert "ORG:Acme;Rigging\r\n" in text and made[1]["department"] == "Rigging"
    for kept in ("NICKNAME:Annie", "CATEGORIES:Friends,Climbing", PHOTO, "X-ABUID:", "item1.X-ABLabel"):
        assert kept in text
    assert made[1] == target.read(made[0])[0]


def test_a_copy_whose_settings_read_the_property_as_another_field_writes_that_field() -> None:
    """The target reads X-TRADE as ``custom.job``: the copy's X-TRADE says the hub's job,
    or nothing when the hub has none (not the source's trade); the target's department,
    read from ORG's second component by the source, is its own X-DEPARTMENT."""
    source = VCardCodec({"custom.trade": "X-TRADE"})
    data = rich_card().replace(b"END:VCARD", b"X-TRADE:mason\r\nORG:Acme;Rigging\r\nEND:VCARD")
    fields, _, _ = source.read(data)
    target = VCardCodec({"custom.job": "X-TRADE", "department": "X-DEPARTMENT"})
    wanted = {k: v for k, v in fields.items() if k not in ("custom.trade", "department")}
    for job, line in ((None, None), ("welder", "X-TRADE:welder\r\n")):
        want = wanted if job is None else {**wanted, "custom.job": job}
        made = target.create_from(data, want, "ann-1", exact=False, mapped=source.fmap)
        assert made is not None
        text = made[0].decode()
        assert "mason" not in text and "Rigging" not in text and "ORG:Acme\r\n" in text
        assert (line in text) if line else ("X-TRADE" not in text)
        assert made[1] == target.read(made[0])[0] == want


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_utf16_card_is_copied_in_utf8_with_what_the_hub_does_not_model(codec: str, exact: bool) -> None:
    """The version was looked for as the bytes ``\\nVERSION:3.0``, which UTF-16 never has:
    a UTF-16 card was built from the fields, its photo and X- lines left behind. The copy
    is in UTF-8, as every new card is (and as a CardDAV server takes it)."""
    target = VCardCodec()
    data = rich_card(uid="phone-uid")
    fields, _, _ = target.read(data)
    made = target.create_from(
        b"\xff\xfe" * (codec == "utf-16-le") + data.decode().encode(codec), fields, "ann-1", exact
    )
    assert made is not None
    text = made[0].decode("utf-8")
    assert "UID:ann-1\r\n" in text and PHOTO in text and "X-ABUID:" in text and "item1.X-ABLabel" in text
    assert made[1] == target.read(made[0])[0] == fields


def test_a_card_saying_its_version_in_lower_case_is_copied() -> None:
    target = VCardCodec()
    data = rich_card().replace(b"VERSION:3.0", b"version:3.0")
    fields, _, _ = target.read(data)
    made = target.create_from(data, fields, "ann-1", exact=False)
    assert made is not None and PHOTO.encode() in made[0] and b"NICKNAME:Annie" in made[0]


def test_only_the_first_card_of_a_file_is_copied() -> None:
    codec = VCardCodec()
    data = rich_card() + rich_card(uid="bob-2", email="bob@example.com").replace(b"Ann", b"Bob")
    fields, _, _ = codec.read(data)
    made = codec.create_from(data, fields, "ann-1", exact=True)
    assert made is not None
    assert made[0].count(b"BEGIN:VCARD") == 1 and b"bob@example.com" not in made[0]
    assert made[1]["emails"] == fields["emails"]


@pytest.mark.parametrize(
    ("source_version", "target_version"), [("2.1", None), ("3.0", "4.0"), ("4.0", "3.0")]
)
def test_a_card_of_another_version_is_not_a_source(source_version: str, target_version: str | None) -> None:
    """A 2.1 card is built anew (CardDAV books need 3.0 or 4.0), and a folder set to write
    new cards in one version does not get copies in another."""
    codec = VCardCodec(version=target_version)
    data = rich_card(version=source_version)
    fields, _, _ = VCardCodec().read(data)
    assert codec.create_from(data, fields, "ann-1", exact=True) is None


def test_a_template_that_is_not_a_card_is_not_a_source() -> None:
    assert VCardCodec().create_from(b"VERSION:3.0\nnot a card\n", {}, "x", exact=False) is None


def test_a_source_that_changed_since_it_was_read_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "ann.vcf"
    path.write_bytes(rich_card())
    st = path.stat()
    source = CardSource(str(path), file_version(st), True)
    assert source.read() == rich_card()
    path.write_bytes(rich_card(email="ann@elsewhere.example"))
    os.utime(path, ns=(st.st_mtime_ns + 10**9, st.st_mtime_ns + 10**9))
    assert source.read() is None
    path.unlink()
    assert source.read() is None


def test_a_card_over_16_mb_is_copied_with_its_photo(tmp_path: Path) -> None:
    """A large PHOTO once made the source too big to read: the new card lost it, silently."""
    line = "PHOTO;ENCODING=b;TYPE=JPEG:" + "QUJD" * (17 * 1024 * 1024 // 4)
    folded = "\r\n ".join(line[i : i + 74] for i in range(0, len(line), 74))
    data = rich_card().replace(PHOTO.encode(), folded.encode())
    path = tmp_path / "ann.vcf"
    path.write_bytes(data)
    codec = VCardCodec()
    fields = codec.read(data)[0]
    made = CardSource(str(path), file_version(path.stat()), True).card(codec, fields, "ann-1")
    assert made is not None and made[0] == data


def test_a_source_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    """Over the writer's ``max_card_mb`` (a card linked before there were limits, or read
    by a folder allowing more): an error naming its size and the limit, whether a file's
    or already fetched; at or under it, read as before."""
    data = rich_card()
    path = tmp_path / "ann.vcf"
    path.write_bytes(data)
    fetched = CardSource("book/ann.vcf", "1", data=data)
    for source in (CardSource(str(path), file_version(path.stat())), fetched):
        with pytest.raises(RecordError, match=rf"{len(data)} bytes, over the limit of {len(data) - 1} bytes"):
            source.read(len(data) - 1)
        assert source.read(len(data)) == data


# --- through the command line -------------------------------------------------------


class Hub(HubCli):
    """A hub ``h`` of connectors added one by one, driven through the command line."""

    def __init__(self, tmp_path: Path, conflict: str = "newest") -> None:
        self.tmp = tmp_path
        self.db = f"sqlite:///{tmp_path / 'hub.db'}"
        self.toml = tmp_path / "hub.toml"
        self.toml.write_text(f'[hubs.h]\nconflict = "{conflict}"\n')

    def add(self, name: str, type_: str = "vcard-dir", **settings: str) -> Path:
        """Add a connector (a folder ``name`` unless ``path`` is given) and apply the file."""
        path = Path(settings.pop("path", str(self.tmp / name)))
        if type_ == "vcard-dir":
            path.mkdir(exist_ok=True)
        lines = [f'name = "{name}"', f'type = "{type_}"']
        lines += [] if type_ == "carddav" else [f'path = "{path}"']
        lines += [f"{key} = {value}" for key, value in settings.items()]
        self.toml.write_text(self.toml.read_text() + "\n[[hubs.h.connectors]]\n" + "\n".join(lines) + "\n")
        self.cli("apply", str(self.toml))
        return path

    def files(self, folder: str) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted((self.tmp / folder).glob("*.vcf"))}


def test_a_first_copy_of_a_folder_keeps_every_card_whole(tmp_path: Path, corpus_dir: Path) -> None:
    """Every single-card 3.0/4.0 corpus card arrives in the empty folder byte for byte,
    under the same name where the name is its UID; the next runs change nothing."""
    hub = Hub(tmp_path)
    a = hub.add("a")
    hub.add("b")
    for path in sorted((corpus_dir / "vcards").glob("*.vcf")):
        shutil.copy(path, a / path.name)
    (a / "ann.vcf").write_bytes(rich_card())
    first = hub.sync()
    assert first["status"] == "applied"
    made = hub.files("b")
    assert made[next(n for n in made if b"UID:ann-1" in made[n])] == rich_card()
    copied = 0
    for data in hub.files("a").values():
        one_card = data.count(b"BEGIN:VCARD") == 1 and data.count(b"\nUID") == 1
        modern = b"\nVERSION:3.0" in data or b"\nVERSION:4.0" in data
        if one_card and modern and data in made.values():
            copied += 1
    assert copied >= 20, f"only {copied} corpus cards were copied whole"
    assert hub.sync()["changes"] == {}
    assert hub.sync()["changes"] == {}


def test_a_utf16_card_copied_into_a_new_folder_keeps_its_unmodelled_lines(
    tmp_path: Path, corpus_dir: Path
) -> None:
    """QA: the corpus's UTF-16 Roundcube card, synced into an empty folder, arrived without
    its ``item1.X-ABADR`` and ``X-ABUID`` lines. It arrives with them, in UTF-8."""
    hub = Hub(tmp_path)
    a = hub.add("a")
    hub.add("b")
    shutil.copy(corpus_dir / "vcards" / "utf16be__3.0__roundcube_utf-16_sample.vcf", a / "rc.vcf")
    assert hub.sync()["changes"]["b"]["create"] == 1
    (made,) = hub.files("b").values()
    text = made.decode("utf-8")
    assert "item1.X-ABADR:us\r\n" in text and "X-ABUID:DC88726E-3E31-4B75-AEB5-C51BC6326779" in text
    assert "item1.ADR;type=WORK;type=pref:" in text and "Conceptión" in text
    assert hub.sync()["changes"] == {}


def sheet_of_ann(tmp_path: Path, *, phone: str = "") -> Path:
    sheet = tmp_path / "people.csv"
    sheet.write_text(f"given_name,family_name,emails,phones\nAnn,Example,ann@example.com,{phone}\n")
    return sheet


def test_a_card_merged_with_another_system_starts_from_the_card(tmp_path: Path) -> None:
    """The hub contact holds more than the card (a phone from the CSV file): the third
    folder's card is the card, photo and all, with the phone written into it."""
    hub = Hub(tmp_path)
    (hub.add("a") / "ann.vcf").write_bytes(rich_card())
    hub.add("sheet", "csv", path=str(sheet_of_ann(tmp_path, phone="home:+1 202 555 0199")), format='"plain"')
    assert hub.sync()["status"] == "applied"
    assert b"5550199" in (tmp_path / "a" / "ann.vcf").read_bytes()  # the two were one person
    hub.add("c")  # a third folder joins the hub later
    assert hub.sync()["changes"]["c"]["create"] == 1
    (made,) = hub.files("c").values()
    text = made.decode()
    for kept in (PHOTO, "NICKNAME:Annie", "X-ABUID:", "IMPP;X-SERVICE-TYPE=Skype:skype:ann.example"):
        assert kept in text
    assert "5550199" in text.replace("-", "").replace(" ", "")
    assert hub.sync()["changes"] == {}


def test_a_folder_with_its_own_mapping_gets_a_copy_read_its_own_way(tmp_path: Path) -> None:
    """Settings that read cards differently make the copy go through the fields: the custom
    field lands in the target's own property, and the source's is left out (hub data
    there, which the target would never write again)."""
    hub = Hub(tmp_path)
    a = hub.add("a", mapping='{"custom.trade" = "X-TRADE"}')
    (a / "ann.vcf").write_bytes(rich_card().replace(b"END:VCARD", b"X-TRADE:Rigging\r\nEND:VCARD"))
    hub.add("b", mapping='{"custom.trade" = "X-JOB"}')
    assert hub.sync()["changes"]["b"]["create"] == 1
    (made,) = hub.files("b").values()
    assert b"X-JOB:Rigging" in made and PHOTO.encode() in made and b"X-TRADE" not in made
    assert hub.sync()["changes"] == {}


@pytest.mark.parametrize("direction", ['"to-hub"', '"two-way"'])
def test_a_copy_into_a_folder_that_does_not_map_a_field_keeps_no_stale_value(
    tmp_path: Path, direction: str
) -> None:
    """QA: a folder mapping ``custom.trade`` to X-TRADE fed a ``from-hub`` folder mapping
    nothing; the copy kept X-TRADE:mason, which no run wrote again, so after the trade was
    edited to carpenter the copy said mason for good. The copy has no X-TRADE at all, and
    keeps what neither folder reads."""
    hub = Hub(tmp_path)
    src = hub.add("src", direction=direction, mapping='{"custom.trade" = "X-TRADE"}')
    lines = ["BEGIN:VCARD", "VERSION:3.0", "UID:ben-uid", "FN:Ben Doe", "N:Doe;Ben;;;"]
    lines += ["EMAIL:ben@example.com", "X-TRADE:mason", "X-ABUID:B3E1:ABPerson", PHOTO, "END:VCARD", ""]
    (src / "ben.vcf").write_bytes("\r\n".join(lines).encode())
    hub.add("out", direction='"from-hub"')
    assert hub.sync()["changes"]["out"]["create"] == 1
    (made,) = hub.files("out").values()
    assert b"X-TRADE" not in made and b"X-ABUID:B3E1:ABPerson" in made and PHOTO.encode() in made
    (src / "ben.vcf").write_bytes((src / "ben.vcf").read_bytes().replace(b"mason", b"carpenter"))
    hub.sync()
    assert b"mason" not in next(iter(hub.files("out").values()))
    assert hub.sync()["changes"] == {}


GUS = (
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:gus-1\r\nFN:Gus Fring\r\nN:Fring;Gus;;;\r\n"
    b"X-TRADE:UnmappedHere\r\nX-FOO:bar\r\nEMAIL:gus@example.com\r\nEND:VCARD\r\n"
)


@pytest.mark.parametrize("later", [False, True])
def test_a_copy_starts_from_the_card_found_in_its_system_not_from_a_copy(tmp_path: Path, later: bool) -> None:
    """QA: ``a`` maps ``custom.trade`` to X-TRADE, ``c`` (the card's own folder) to X-CRAFT
    and ``b`` maps nothing. ``a``'s copy rightly has no X-TRADE (hub data there, and the hub
    has no trade); ``b``'s copy, started from ``a``'s because ``a`` comes first, lost the
    X-TRADE line neither ``c`` nor ``b`` reads. It starts from ``c``'s card, the one found
    there, whether ``a``'s copy was written earlier in the run or in an earlier run."""
    hub = Hub(tmp_path)
    hub.add("a", mapping='{"custom.trade" = "X-TRADE"}')
    c = hub.add("c", mapping='{"custom.trade" = "X-CRAFT"}')
    (c / "gus.vcf").write_bytes(GUS)
    if later:
        assert hub.sync()["changes"]["a"]["create"] == 1
    hub.add("b")
    assert hub.sync()["changes"]["b"]["create"] == 1
    (copy_a,) = hub.files("a").values()
    (copy_b,) = hub.files("b").values()
    assert b"X-TRADE" not in copy_a and b"X-FOO:bar" in copy_a
    assert b"X-TRADE:UnmappedHere\r\n" in copy_b and b"X-FOO:bar\r\n" in copy_b
    assert hub.sync()["changes"] == {}


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    yield from serve(tmp_path_factory)


def test_a_copy_starts_from_the_card_found_in_a_carddav_book_not_from_a_copy(
    tmp_path: Path, radicale: Radicale
) -> None:
    """The same with the card in a Radicale book mapping ``custom.trade`` to X-CRAFT,
    listed between the two folders: the second folder's copy keeps X-TRADE."""
    book = new_book(radicale)
    with radicale.client() as http:
        assert http.put(f"{book}gus.vcf", content=GUS).status_code in (201, 204)
    hub = Hub(tmp_path)
    hub.add("a", mapping='{"custom.trade" = "X-TRADE"}')
    dav = {"url": f'"{radicale.url}"', "addressbook": f'"{book.rstrip("/").rsplit("/", 1)[-1]}"'}
    dav |= {"username": '"alice"', "password": f'"{radicale.users["alice"]}"'}
    hub.add("c", "carddav", mapping='{"custom.trade" = "X-CRAFT"}', **dav)
    hub.add("b")
    assert hub.sync()["changes"]["b"]["create"] == 1
    (copy_a,) = hub.files("a").values()
    (copy_b,) = hub.files("b").values()
    assert b"X-TRADE" not in copy_a
    assert b"X-TRADE:UnmappedHere\r\n" in copy_b and b"X-FOO:bar\r\n" in copy_b
    assert hub.sync()["changes"] == {}


def test_a_folder_the_hub_only_writes_to_is_not_copied_from(tmp_path: Path) -> None:
    """A ``from-hub`` folder's edits never flow into the hub, and neither do its photos: a
    card it holds of a hub person is not where another folder's new card starts."""
    hub = Hub(tmp_path)
    (hub.add("a", direction='"from-hub"') / "ann.vcf").write_bytes(rich_card())
    hub.add("sheet", "csv", path=str(sheet_of_ann(tmp_path)), format='"plain"')
    assert hub.sync()["status"] == "applied"
    assert list(hub.files("a")) == ["ann.vcf"]  # matched, not written a second time
    hub.add("c")
    assert hub.sync()["changes"]["c"]["create"] == 1
    (made,) = hub.files("c").values()
    assert b"ann@example.com" in made and b"PHOTO" not in made and b"NICKNAME" not in made


def test_a_new_card_never_copies_the_losing_side_of_an_open_conflict(tmp_path: Path) -> None:
    """Under ``manual``, a folder whose title lost an open conflict still agrees with the
    hub (it keeps its value until a person decides). A folder added then got that card
    byte for byte, with the losing title, and kept it after the conflict was resolved."""
    hub = Hub(tmp_path, conflict="manual")
    sheet = tmp_path / "people.csv"
    hub.add("sheet", "csv", path=str(sheet), format='"plain"', create="true")
    c = hub.add("c")
    lines = ["BEGIN:VCARD", "VERSION:3.0", "UID:ann-1", "FN:Ann Lee", "N:Lee;Ann;;;"]
    lines += ["EMAIL:ann@example.com", "TITLE:Engineer", PHOTO, "END:VCARD", ""]
    (c / "ann.vcf").write_bytes("\r\n".join(lines).encode())
    assert hub.sync()["status"] == "applied"
    sheet.write_text(sheet.read_text().replace("Engineer", "Manager"))
    (c / "ann.vcf").write_bytes((c / "ann.vcf").read_bytes().replace(b"Engineer", b"Director"))
    assert hub.sync()["conflicts"] == 2  # one per side: the hub keeps Engineer
    hub.add("b")
    assert hub.sync()["changes"]["b"]["create"] == 1
    (made,) = hub.files("b").values()
    assert b"TITLE:Engineer" in made and PHOTO.encode() in made  # the hub's value, in C's card
    assert b"Director" not in made
    conflict = json.loads(hub.cli("conflicts", "h", "--json"))[0]["id"]
    hub.cli("resolve", str(conflict), "--take", "sheet")
    hub.sync()
    assert b"TITLE:Manager" in (c / "ann.vcf").read_bytes()
    assert b"TITLE:Manager" in next(iter(hub.files("b").values()))
    assert hub.sync()["changes"] == {}


def _person(uid: str, name: str, phone: str) -> bytes:
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n"
        f"EMAIL:{name}@example.com\r\nTEL:+1 555 111 {phone}\r\nEND:VCARD\r\n"
    ).encode()


def test_cards_swapping_names_and_files_named_by_position_keep_who_they_are(tmp_path: Path) -> None:
    """Two cards of one size swap names (``mv`` keeps the mtime): each is read again and
    known by its UID; an edit of Ann goes to Ann's card, not over Bob's. Then an exporter
    writes its files again by position without Ann: Ann is deleted, the others stay."""
    hub = Hub(tmp_path)
    a = hub.add("a")
    b = hub.add("b")
    (a / "1.vcf").write_bytes(_person("uid-ann", "Ann", "1111"))
    (a / "2.vcf").write_bytes(_person("uid-bob", "Bob", "2222"))
    (a / "3.vcf").write_bytes(_person("uid-cyd", "Cyd", "3333"))
    for name in ("1.vcf", "2.vcf"):  # written in one clock tick, as a script writes them
        os.utime(a / name, ns=(10**18, 10**18))
    hub.sync()
    os.rename(a / "1.vcf", a / "t")
    os.rename(a / "2.vcf", a / "1.vcf")
    os.rename(a / "t", a / "2.vcf")
    assert hub.sync()["changes"] == {}
    ann_b = b / "uid-ann.vcf"
    ann_b.write_bytes(ann_b.read_bytes().replace(b"111 1111", b"999 9999"))
    hub.sync()
    assert b"5559999999" in (a / "2.vcf").read_bytes() and b"FN:Ann" in (a / "2.vcf").read_bytes()
    assert (a / "1.vcf").read_bytes() == _person("uid-bob", "Bob", "2222")
    for name in ("1.vcf", "2.vcf", "3.vcf"):
        (a / name).unlink()
    (a / "1.vcf").write_bytes(_person("uid-bob", "Bob", "2222"))
    (a / "2.vcf").write_bytes(_person("uid-cyd", "Cyd", "3333"))
    report = hub.sync()
    assert report["changes"]["b"] == {"create": 0, "update": 0, "delete": 1}, report["changes"]
    assert sorted(hub.files("b")) == ["uid-bob.vcf", "uid-cyd.vcf"]
    assert b"FN:Bob" in (b / "uid-bob.vcf").read_bytes() and b"FN:Cyd" in (b / "uid-cyd.vcf").read_bytes()
    assert hub.sync()["changes"] == {}


def test_a_person_inserted_before_files_named_by_position_takes_no_ones_card(tmp_path: Path) -> None:
    """An exporter writes its files again by position with a new person first: ``1.vcf``
    (Ann's) now holds Zed, with a UID no contact has. Read as an edit of Ann, Zed took Ann's
    card in b, with what only that card held, and Ann came back as a stranger."""
    hub = Hub(tmp_path)
    a = hub.add("a")
    b = hub.add("b")
    (a / "1.vcf").write_bytes(_person("uid-ann", "Ann", "1111"))
    (a / "2.vcf").write_bytes(_person("uid-bob", "Bob", "2222"))
    hub.sync()
    ann_b = b / "uid-ann.vcf"
    ann_b.write_bytes(ann_b.read_bytes().replace(b"END:VCARD", b"X-SECRET:ann-private\r\nEND:VCARD"))
    hub.sync()
    for name in ("1.vcf", "2.vcf"):
        (a / name).unlink()
    (a / "1.vcf").write_bytes(_person("uid-zed", "Zed", "9999"))
    (a / "2.vcf").write_bytes(_person("uid-ann", "Ann", "1111"))
    (a / "3.vcf").write_bytes(_person("uid-bob", "Bob", "2222"))
    report = hub.sync()
    assert report["changes"]["b"] == {"create": 1, "update": 0, "delete": 0}, report["changes"]
    assert sorted(hub.files("b")) == ["uid-ann.vcf", "uid-bob.vcf", "uid-zed.vcf"]
    assert b"FN:Ann" in ann_b.read_bytes() and b"X-SECRET:ann-private" in ann_b.read_bytes()
    assert b"X-SECRET" not in (b / "uid-zed.vcf").read_bytes()
    assert hub.sync()["changes"] == {}


def test_a_card_that_became_a_broken_link_is_an_error_not_a_deletion(tmp_path: Path) -> None:
    """A card linked from another disk, unmounted now, is a link to nothing: skipped as
    absent, the run deleted its person from every other folder, with no error said (QA).
    So did a card file that became a folder. Each is an error of that file until it reads
    again, and nobody is deleted."""
    hub = Hub(tmp_path)
    a = hub.add("a")
    hub.add("b")
    disk = tmp_path / "disk"
    disk.mkdir()
    (disk / "ann.vcf").write_bytes(rich_card())
    (a / "ann.vcf").symlink_to(disk / "ann.vcf")
    (a / "bob.vcf").write_bytes(rich_card("bob-1", email="bob@example.com").replace(b"Ann", b"Bob"))
    assert hub.sync()["changes"]["b"]["create"] == 2
    copies = hub.files("b")
    (disk / "ann.vcf").rename(tmp_path / "away.vcf")  # the disk is gone
    (a / "bob.vcf").unlink()
    (a / "bob.vcf").mkdir()
    run = hub.sync()
    assert run["status"] == "applied" and run["changes"] == {}, run
    assert sorted((Path(e["record"]).name, e["message"][:13]) for e in run["errors"]) == [
        ("ann.vcf", "cannot read: "),
        ("bob.vcf", "cannot read: "),
    ]
    assert hub.files("b") == copies
    # edited elsewhere while the disk is gone: the card waits (a write of it, taken for
    # gone, made a second card beside the link, and a second person once the disk was back)
    [(name, data)] = [(n, d) for n, d in copies.items() if b"UID:ann-1" in d]
    (hub.tmp / "b" / name).write_bytes(data.replace(b"END:VCARD", b"TITLE:Chief\r\nEND:VCARD"))
    waiting = hub.sync()
    assert waiting["changes"] == {"hub": {"create": 0, "update": 1, "delete": 0}}, waiting
    assert sorted(p.name for p in a.iterdir()) == ["ann.vcf", "bob.vcf"]
    (tmp_path / "away.vcf").rename(disk / "ann.vcf")  # mounted again
    back = hub.sync()
    assert back["changes"] == {"a": {"create": 0, "update": 1, "delete": 0}}, back
    assert b"TITLE:Chief" in (disk / "ann.vcf").read_bytes() and (a / "ann.vcf").is_symlink()
    assert hub.sync()["changes"] == {}


def test_a_card_over_the_limit_of_the_folder_copied_into_is_an_error_there(tmp_path: Path) -> None:
    """A folder that allows bigger cards than the one the hub copies them into: the copy
    is an error of that person there, saying the sizes (neither made from the hub's fields
    without its photo, nor written as a card its folder then would not read)."""
    hub = Hub(tmp_path)
    a = hub.add("a")
    hub.add("b", max_card_mb="0.001")  # 1048 bytes
    big = rich_card().replace(b"END:VCARD", b"NOTE:" + b"n" * 2000 + b"\r\nEND:VCARD")
    (a / "ann.vcf").write_bytes(big)
    (a / "bob.vcf").write_bytes(rich_card(uid="bob-2", email="bob@example.com").replace(b"Ann", b"Bob"))
    report = hub.sync()
    [error] = report["errors"]
    assert error["connector"] == "b" and "over the limit of 1048 bytes" in error["message"]
    assert str(a / "ann.vcf") in error["message"]
    assert [n for n, d in hub.files("b").items() if b"bob@example.com" in d]
    assert not [n for n, d in hub.files("b").items() if b"ann@example.com" in d]
    assert (a / "ann.vcf").read_bytes() == big
    hub.add("c")  # a folder that takes it: copied whole
    hub.sync()
    assert big.replace(b"UID:ann-1", b"") in [d.replace(b"UID:ann-1", b"") for d in hub.files("c").values()]


def test_among_copies_a_copy_starts_from_one_read_as_its_own_folder_reads(tmp_path: Path) -> None:
    """QA: with the original card out of the filter of its folder ``c``, a new folder's
    copy started from the first copy in hub order: ``a``'s, mapping ``custom.trade`` to
    X-TRADE, which has no X-TRADE line of the original's, where ``b``'s (mapping nothing,
    as the new folder) has it. Among copies, one whose folder reads cards as the new one
    does comes first, whatever the order."""
    hub = Hub(tmp_path)
    hub.add("a", mapping='{"custom.trade" = "X-TRADE"}')
    c = hub.add(
        "c",
        mapping='{"custom.trade" = "X-CRAFT"}',
        filter='{all = [{field = "email", op = "ends_with", value = "@example.com"}]}',
    )
    hub.add("b")
    (c / "gus.vcf").write_bytes(GUS)
    hub.sync()
    (copy_b,) = hub.files("b").values()
    assert b"X-TRADE:UnmappedHere\r\n" in copy_b
    (c / "gus.vcf").write_bytes(GUS.replace(b"@example.com", b"@elsewhere.org"))  # leaves c's filter
    hub.sync()
    hub.add("e")
    assert hub.sync()["changes"]["e"]["create"] == 1
    (copy_e,) = hub.files("e").values()
    assert b"X-TRADE:UnmappedHere\r\n" in copy_e and b"X-FOO:bar\r\n" in copy_e
    assert hub.sync()["changes"] == {}
