"""The vCard reader and writer against real files from 20+ producers, vobject as a
reference, and generated values."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contacthub.errors import RecordError
from contacthub.formats.vcard import (
    Card,
    FieldMap,
    Property,
    VCardCodec,
    components,
    escape,
    fold,
    parse_bday,
    parse_cards,
    parse_rev,
    serialize_card,
    unescape,
)
from contacthub.model import Contact, Email, Phone, email_key, normalize_phone, phone_key

CODEC = VCardCodec()


@pytest.fixture(scope="module")
def vcards(corpus_dir: Path) -> Path:
    return corpus_dir / "vcards"


def one(data: bytes) -> dict[str, Any]:
    [parsed] = CODEC.parse(data)
    return parsed.fields


def test_every_corpus_file_parses(vcards: Path) -> None:
    cards = 0
    errors = []
    for path in sorted(vcards.glob("*.vcf")):
        try:
            parsed = CODEC.parse(path.read_bytes(), str(path))
        except RecordError as exc:
            assert exc.record == str(path)
            errors.append(path.name)
            continue
        cards += len(parsed)
        for item in parsed:
            serialize_card(item.card)  # and every card can be written back
    # 7: no BEGIN:VCARD at all; 8: no END:VCARD, which a writer killed halfway leaves too
    assert errors == ["broken__3.0__eds_vcard_7.vcf", "broken__3.0__eds_vcard_8.vcf"]
    assert cards >= 135


def _vobject_key(card: Any) -> tuple[Any, ...]:
    fn = card.fn.value if hasattr(card, "fn") else None
    emails = sorted({e.value.strip().lower() for e in card.contents.get("email", []) if e.value.strip()})
    phones = {phone_key(normalize_phone(t.value)) or t.value for t in card.contents.get("tel", [])}
    org = None
    if hasattr(card, "org"):
        value = card.org.value
        while isinstance(value, list):  # vobject splits on "," too
            value = value[0] if value else ""
        org = value
    return fn, emails, len(phones), org


def test_key_fields_agree_with_vobject(vcards: Path) -> None:
    vobject = pytest.importorskip("vobject")
    logging.getLogger("vobject").setLevel(logging.CRITICAL)
    compared = 0
    for path in sorted(vcards.glob("*.vcf")):
        data = path.read_bytes()
        try:
            ours = CODEC.parse(data)
            theirs = list(vobject.readComponents(data.decode("utf-8"), ignoreUnreadable=True))
        except Exception:  # ours raising is caught by the test above; vobject cannot read it
            continue
        if len(theirs) != len(ours):
            continue
        for mine, other in zip(ours, theirs, strict=True):
            try:
                fn, emails, phones, org = _vobject_key(other)
            except Exception:
                continue
            fields = mine.fields
            raw_fn = mine.card.first("FN")
            if fn and raw_fn is not None and "," not in raw_fn.value:  # vobject splits FN on ","
                assert fields.get("display_name") == fn.strip(), path.name
            # (emails keep their case; vobject's are lower-cased above)
            assert sorted(email_key(e["value"]) for e in fields.get("emails", [])) == emails, path.name
            assert len(fields.get("phones", [])) == phones, path.name
            if org and org.strip():
                assert str(fields.get("organization")).startswith(org.strip()), path.name
            compared += 1
    assert compared >= 100


def test_cr_cr_lf_ios(vcards: Path) -> None:
    fields = one((vcards / "apple-ios-6.1.3__3.0__aosp_v30_ios_613_multiline.vcf").read_bytes())
    assert fields["display_name"] == "Bob Smith" and fields["given_name"] == "Bob"
    assert fields["emails"][0]["value"] == "bob@smithauto.com"
    assert fields["organization"] == "Smith Auto Repair"


def test_quoted_printable_soft_breaks(vcards: Path) -> None:
    cards = CODEC.parse((vcards / "unknown-2.1-qp__2.1__kcontacts_vcard10.multi.vcf").read_bytes())
    assert cards[0].fields["addresses"][0]["street"] == "DDDDDDDDDDDDDDD-Staße 2\n00000 DDDDDDDDDD"
    assert cards[1].fields["addresses"][0]["street"] == "AAAAAAA-AäAAAAA 11"
    assert cards[1].fields["websites"][0]["value"] == "http://some-webseite.com"
    assert cards[3].fields["job_title"] == "Facharzt für Allgemeinmedizin"
    assert cards[3].fields["notes"].startswith("Sprechzeiten:\nMo   8–12, 15–18\nDi")
    comment = one((vcards / "android-aosp__2.1__aosp_v21_invalid_comment_line.vcf").read_bytes())
    assert comment["notes"] == "This is an (sharp ->#<- sharp) example. This message must NOT be ignored."


def test_shift_jis(vcards: Path) -> None:
    fields = one((vcards / "japanese-feature-phone__2.1__aosp_v21_japanese_2.vcf").read_bytes())
    assert fields["display_name"] == "安藤 ロイド 1"
    assert fields["family_name"] == "安藤" and fields["given_name"] == "ロイド1"
    assert fields["addresses"][0]["street"] == "東京都渋谷区桜丘町26-1セルリアンタワー6階"
    assert fields["notes"] == "メモ"


def test_utf16_and_windows_1252(vcards: Path) -> None:
    fields = one((vcards / "utf16be__3.0__roundcube_utf-16_sample.vcf").read_bytes())
    assert fields["display_name"] == "Ǽgean ĽdaMonté"
    assert fields["addresses"][0]["country"] == "Perú"
    with_bom = "\ufeffBEGIN:VCARD\r\nFN:Zoë\r\nEND:VCARD\r\n".encode("utf-16-le")
    assert one(with_bom)["display_name"] == "Zoë"
    fields = one((vcards / "windows-1252__2.1__roundcube_johndoe.vcf").read_bytes())
    assert fields["display_name"] == "John Doë"
    assert fields["emails"][0] == {"value": "roundcube@gmail.com", "type": "home", "primary": True}


def test_fold_splitting_a_utf8_character(vcards: Path) -> None:
    data = (vcards / "owncloud__3.0__kcontacts_vcard9.vcf").read_bytes()
    fields = one(data)
    assert fields["display_name"] == "βγδεαβγδ1" * 11
    assert fields["notes"].startswith("Длинный комментарий") and fields["notes"].endswith("70 символов.")
    assert "\ufffd" not in str(fields)


def test_rfc6868_carets(vcards: Path) -> None:
    [parsed] = CODEC.parse((vcards / "unknown__4.0__ezvcard_issue114.vcf").read_bytes())
    adr = parsed.card.first("ADR")
    assert adr is not None
    assert adr.params["LABEL"] == ['Dummy-Dummy-Strasse 1 61352 Bad Homburg\nGERMANY"']
    assert parsed.fields["display_name"] == "Dummy, Dummy"
    assert parsed.fields["phones"][0] == {"value": "+49123456789", "type": "cell", "primary": True}


def test_escaped_semicolons(vcards: Path) -> None:
    fields = one((vcards / "nextcloud__3.0__icaljs_escape_semicolon.vcf").read_bytes())
    assert {"value": "205246;;,;", "type": "work fax", "primary": False} in fields["phones"]
    assert fields["addresses"][1]["country"] == "Germany work"
    assert fields["birthday"] == "2019-02-10"


def test_oddities() -> None:
    text = (
        b"junk before\nBEGIN:vCard\nVERSION:2.1\nTEL;WORK;VOICE:+1 202 555 0100\n"
        b"this line has no colon\nEMAIL;PREF;INTERNET:A@Example.com\nN:Doe;Jane\nend:vcard\njunk after\n"
    )
    fields = one(text)
    assert fields["phones"] == [{"value": "+12025550100", "type": "work", "primary": True}]
    assert fields["emails"] == [{"value": "A@Example.com", "type": "", "primary": True}]
    assert fields["display_name"] == "Jane Doe"
    with pytest.raises(RecordError):
        parse_cards(b"\x00\x01\x02 garbage", "x.vcf")
    with pytest.raises(RecordError):
        parse_cards(b"BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n", "x.vcf")


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("19800115", "1980-01-15"),
        ("1980-01-15", "1980-01-15"),
        ("--0115", "--01-15"),
        ("--01-15", "--01-15"),
        ("1980-01-15T10:00:00Z", "1980-01-15"),
        ("16040101", "--01-01"),
        ("1995/05/05", "1995-05-05"),
        ("circa 1800", "circa 1800"),
        ("19801315", "19801315"),
    ],
)
def test_birthdays(raw: str, expected: str) -> None:
    assert parse_bday(raw) == expected


def test_rev() -> None:
    assert parse_rev("20210314T092838Z") == parse_rev("2021-03-14T09:28:38Z")
    assert parse_rev("2021-03-14T11:28:38+02:00") == parse_rev("2021-03-14T09:28:38Z")
    assert parse_rev("2014722T222710Z") is None


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The machine's local zone is UTC+9 (a POSIX TZ: no tz database needed)."""
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_rev_without_a_zone_is_local_time(tokyo: None) -> None:
    """RFC 6350: a time without a zone is local time. Read as UTC, a card edited at 10:15
    in Tokyo (01:15 UTC) counted as edited at 10:15 UTC, newer than an edit made at 05:00
    UTC elsewhere, and won under ``newest`` (QA)."""
    from datetime import UTC, datetime

    assert parse_rev("20231015T101500") == datetime(2023, 10, 15, 1, 15, tzinfo=UTC)
    assert parse_rev("2023-10-15T10:15:00") == datetime(2023, 10, 15, 1, 15, tzinfo=UTC)
    assert parse_rev("20231015") == datetime(2023, 10, 14, 15, 0, tzinfo=UTC)  # local midnight
    assert parse_rev("20231015T101500Z") == datetime(2023, 10, 15, 10, 15, tzinfo=UTC)  # zoned: as said
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u\r\nFN:A\r\nREV:{}\r\nEND:VCARD\r\n"
    local = CODEC.read(card.format("20231015T101500").encode())
    other = CODEC.read(card.format("20231015T050000Z").encode())
    assert local[2] is not None and other[2] is not None and local[2] < other[2]


@pytest.mark.parametrize("rev", ["99991231T230000-0100", "00010101T000000+0100", "9999-12-31T23:30:00-00:45"])
def test_a_rev_utc_cannot_hold_is_no_rev(rev: str) -> None:
    """Shifted to UTC it falls off the calendar: its OverflowError crashed every run of the
    hub; it is as unusable as a REV that does not parse (the file's mtime is used)."""
    assert parse_rev(rev) is None
    card = f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Ann Lee\r\nREV:{rev}\r\nEND:VCARD\r\n"
    fields, uid, stamp = CODEC.read(card.encode())
    assert fields["display_name"] == "Ann Lee" and uid == "u1" and stamp is None
    assert parse_rev("99991231T225959+0100") is not None  # the edge itself, held


# --- writing ----------------------------------------------------------------------------


def test_fold_never_exceeds_75_octets_nor_splits_characters() -> None:
    for text in ("a" * 500, "é" * 300, "😀x" * 100, "東京" * 90):
        data = fold("NOTE:" + text)
        lines = data.split(b"\r\n")[:-1]
        assert all(len(line) <= 75 for line in lines)
        for line in lines:
            line.decode("utf-8")  # every physical line is whole UTF-8
        assert b"".join(line[1:] if i else line for i, line in enumerate(lines)) == ("NOTE:" + text).encode()


def test_escaping() -> None:
    assert escape("a,b;c\\d\ne\r\nf") == "a\\,b\\;c\\\\d\\ne\\nf"
    assert unescape("a\\,b\\;c\\\\d\\ne\\Nf\\:g") == "a,b;c\\d\ne\nf:g"
    assert components("Doe\\;Smith;John\\,Jr;;") == ["Doe;Smith", "John,Jr", "", ""]


text_values = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=200
)


@settings(max_examples=200, deadline=None)
@given(text_values, text_values, text_values)
def test_round_trip_of_text_values(note: str, org: str, family: str) -> None:
    card = Card(
        [
            Property("VERSION", "3.0"),
            Property("NOTE", escape(note)),
            Property("ORG", escape(org) + ";" + escape(family)),
            Property("X-THING", escape(family), {"X-LABEL": [note or "x"]}),
        ],
        "3.0",
    )
    [back] = parse_cards(serialize_card(card))
    assert [(p.name, p.value) for p in back.properties] == [(p.name, p.value) for p in card.properties]
    assert unescape(back.properties[1].value) == note
    assert components(back.properties[2].value) == [org, family]
    assert back.properties[3].params["X-LABEL"] == [note or "x"]


@settings(max_examples=100, deadline=None)
@given(text_values, text_values)
def test_round_trip_of_fields(notes: str, title: str) -> None:
    fields = Contact(
        given_name="Zoë",
        family_name="O'Neil; Jr",
        notes=notes,
        job_title=title,
        emails=[Email("z@example.com", "work", True)],
        phones=[Phone("+1 202 555 0100", "cell")],
    ).to_fields()
    for version in ("3.0", "4.0"):
        codec = VCardCodec(version=version)
        [parsed] = codec.parse(codec.create(fields, "uid-1"))
        assert parsed.fields == fields
        assert parsed.uid == "uid-1"


def test_update_changes_only_what_differs() -> None:
    source = (
        b'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Jane Doe\r\nN;SORT-AS="Doe,Jane":Doe;Jane;;;\r\n'
        b"EMAIL;TYPE=work;PREF=1:jane@example.com\r\nEMAIL;TYPE=home:old@example.com\r\n"
        b"X-KEEP;X-P=1:keep me\r\nBDAY:--0115\r\nEND:VCARD\r\n"
    )
    cards = [p.card for p in CODEC.parse(source)]
    fields = one(source)
    assert fields["birthday"] == "--01-15"
    fields["emails"] = [
        fields["emails"][0],
        {"value": "new@example.com", "type": "home", "primary": False},
    ]
    out = CODEC.update(cards, fields)
    assert out.startswith(
        b'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Jane Doe\r\nN;SORT-AS="Doe,Jane":Doe;Jane;;;\r\n'
    )
    assert b"EMAIL;TYPE=work;PREF=1:jane@example.com\r\nEMAIL;TYPE=home:new@example.com\r\n" in out
    assert b"old@example.com" not in out and b"X-KEEP;X-P=1:keep me\r\n" in out
    assert b"BDAY:--0115\r\n" in out
    assert one(out) == fields


def test_field_map_validation() -> None:
    from contacthub.errors import ConfigError

    with pytest.raises(ConfigError):
        FieldMap({"emails": "X-EMAIL"})
    with pytest.raises(ConfigError):
        FieldMap({"notes": "EMAIL"})
    with pytest.raises(ConfigError):
        FieldMap({"custom.a": "X-A", "custom.b": "X-A"})
    for binary in ("PHOTO", "photo", "LOGO", "SOUND", "KEY"):  # their data is no text to sync
        with pytest.raises(ConfigError, match=f"to vCard property {binary!r}"):
            FieldMap({"custom.trade": binary})
    fmap = FieldMap({"job_title": "ROLE"})
    assert "ROLE" in fmap.text and "TITLE" not in fmap.text


def test_speed_print() -> None:
    fields = Contact(
        given_name="Given",
        family_name="Family",
        organization="Org",
        job_title="Engineer",
        notes="A note, with; specials",
        emails=[Email("a@example.com", "work", True)],
        phones=[Phone("+1 202 555 0100", "cell"), Phone("+1 202 555 0101", "work")],
    ).to_fields()
    data = CODEC.create(fields, "uid")
    count = 2000
    start = time.perf_counter()
    for _ in range(count):
        CODEC.parse(data)
    elapsed = time.perf_counter() - start
    print(f"vCard parse+map: {elapsed / count * 1e6:.1f} µs/card")


def test_fast_path_reads_like_the_general_one(vcards: Path) -> None:
    from contacthub.formats.vcard_lines import _every_row, _fast_cards, _slow_cards, _to_text

    def key(cards: list[Card]) -> list[Any]:
        return [[(p.group, p.name, p.value, p.params, p.raw) for p in c.properties] for c in cards]

    checked = 0
    for path in sorted(vcards.glob("*.vcf")):
        text = _to_text(path.read_bytes())
        if "\n " in text or "\n\t" in text or "=\n" in text:
            continue  # the fast path is only for unfolded text
        assert key(_fast_cards(text, "windows-1252")[0]) == key(_slow_cards(text, "windows-1252")[0]), (
            path.name
        )
        # and read again with its unreadable lines, as parse_cards does for an empty card
        every = _fast_cards(text, "windows-1252", _every_row(text))[0]
        assert key(every) == key(_fast_cards(text, "windows-1252")[0]), path.name
        checked += 1
    assert checked >= 20


def test_redirected_display_name_is_written_and_fn_kept() -> None:
    codec = VCardCodec({"display_name": "X-SHOWN"})
    fields = Contact(given_name="Ann", family_name="Lee", display_name="Ann Lee").to_fields()
    data = codec.create(fields, "u")
    assert b"X-SHOWN:Ann Lee\r\n" in data and b"FN:Ann Lee\r\n" in data
    [parsed] = codec.parse(data)
    assert parsed.fields == fields


# --- the reading hot path and the create shortcut against the general reader -----------------

_MAPPINGS: list[dict[str, str] | None] = [
    None,
    {"department": "X-DEPARTMENT", "custom.trade": "X-CUSTOM-TRADE", "display_name": "X-SHOWN"},
]


def _check_read_and_create(codec: VCardCodec, data: bytes) -> None:
    from contacthub.formats.vcard_map import read_card

    try:
        parsed = codec.parse(data)
    except RecordError:
        with pytest.raises(RecordError):
            codec.read(data)
        return
    first = parsed[0]
    contact, uid, rev = read_card(first.card, codec.fmap)
    assert (first.fields, first.uid, first.rev) == (contact.to_fields(codec.region), uid, rev)
    assert codec.read(data) == (first.fields, first.uid, first.rev)
    made, fields = codec.create_read(first.fields, "uid-1")
    assert codec.parse(made)[0].fields == fields
    assert codec.read(made)[0] == fields
    for version in ("3.0", "4.0"):
        _check_build(codec, first.fields, version)


def _check_build(codec: VCardCodec, fields: dict[str, Any], version: str) -> None:
    """``build_card`` writes exactly what ``new_card`` + ``serialize_card`` write, and its
    result fields are what reading the bytes gives (both readers)."""
    from contacthub.formats.vcard_map import build_card, new_card

    data, result = build_card(fields, codec.fmap, "uid-1", version, codec.region)
    assert data == serialize_card(new_card(fields, codec.fmap, "uid-1", version, codec.region))
    assert codec.read(data)[0] == result
    assert codec.parse(data)[0].fields == result


@pytest.mark.parametrize("mapping", _MAPPINGS)
def test_read_and_create_shortcuts_agree_with_the_general_reader(
    vcards: Path, mapping: dict[str, str] | None, tmp_path: Path
) -> None:
    """``read`` (the line reader that builds no cards) and ``create_read`` (fields of the
    card before it is written) give what parsing the bytes gives, on every corpus file and
    on generated cards."""
    import subprocess
    import sys

    codec = VCardCodec(mapping)
    for path in sorted(vcards.glob("*.vcf")):
        _check_read_and_create(codec, path.read_bytes())
    gen = Path(__file__).parents[2] / "bench" / "gen_contacts.py"
    subprocess.run(
        [sys.executable, str(gen), str(tmp_path), "--count", "300"], check=True, capture_output=True
    )
    for path in sorted(tmp_path.glob("*.vcf")):
        _check_read_and_create(codec, path.read_bytes())


_odd_lines = st.sampled_from(
    [
        "BEGIN:VCARD",
        "END:VCARD",
        "begin:vcard",
        "BEGIN:VCARD  ",
        "x.BEGIN:VCARD",
        "BEGIN;X=1:VCARD",
        "END:VCARD\x0c",
        "BEGIN:VCALENDAR",
        "VERSION:3.0",
        "FN:Ann Lee",
        "FN :Ann",
        "fn:ann",
        "N:Lee;Ann;;;",
        "EMAIL;TYPE=work:ann@x.example",
        'EMAIL;X-A="a:b";TYPE=home:b@x.example',
        "EMAIL;TYPE=INTERNET,pref:c@x.example",
        "item1.TEL;TYPE=cell:(202) 555-0147",
        "it em.TEL:+1 202 555 0100",
        "TEL;CHARSET=UTF-8:+44 20 7946 0958",
        "NOTE;ENCODING=QUOTED-PRINTABLE:a=3Db=",
        "ADR;TYPE=home:;;1 Main St;Springfield;;12345;US",
        "URL:https://a.example",
        "UID:u-1",
        "REV:20220101T000000Z",
        "ORG:ACME;IT",
        "TITLE:Boss",
        "X-DEPARTMENT:Sales",
        "X-CUSTOM-TRADE:roofer",
        "junk line",
        'FN;X-P="a"b"c;Y="""":Quote Person',
        'EMAIL;TYPE="work:quote@x.example',
        "EMAIL;TYPE=work",
        "",
        " continued",
        "\tcontinued",
        "NOTE:caf\xc3\xa9",
        "NOTE:caf\xe9",
        "BDAY:1980-02-03",
        "PHOTO;ENCODING=b:AAAA==",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_odd_lines, max_size=14), st.sampled_from(["\r\n", "\n", "\r"]))
def test_read_agrees_with_parse_on_odd_input(lines: list[str], eol: str) -> None:
    data = eol.join(["BEGIN:VCARD", *lines, "END:VCARD"]).encode("latin-1")
    for mapping in _MAPPINGS:
        _check_read_and_create(VCardCodec(mapping), data)


# --- the direct builder of new cards against new_card + serialize_card ------------------------

_texts = st.one_of(
    st.sampled_from(
        ["", " ", "Ann", " Ann ", "a;b", "a,b", "a\\b", "a\\nb", "l1\nl2", "x\r\ny", "c\rd", "\x01z"]
    ),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=60, max_size=120),
)
_types = st.one_of(
    st.sampled_from(
        ["", "home", "work", "cell", "work home", "pref", "internet", "Voice cell", "a,b", 'x"y', "a;b", "é"]
    ),
    st.text(max_size=12),
)
_emails = st.one_of(
    st.sampled_from(
        ["ann@x.example", "Ann@X.example", " b@x.example", "mailto:c@x.example", "", "d@x.example"]
    ),
    _texts,
)
_phones = st.one_of(
    st.sampled_from(
        ["+15125550188", "+1 512 555 0188", "(202) 555-0147", "020 7946 0580", "+442079460580", "", "12"]
    ),
    _texts,
)
_urls = st.one_of(
    st.sampled_from(["https://a.example/x,y", "https://b.example", "a\\,b", "u\nv", ""]), _texts
)
_bdays = st.sampled_from(
    ["1980-02-03", "--02-03", "1604-02-03", "2020-13-01", "19800203", "1980/02/03", "soon", ""]
)


@st.composite
def _fields(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in (
        "display_name", "given_name", "family_name", "middle_name", "name_prefix", "name_suffix",
        "organization", "department", "job_title", "notes",
    ):  # fmt: skip
        if draw(st.booleans()):
            fields[name] = draw(_texts)
    if draw(st.booleans()):
        fields["birthday"] = draw(st.one_of(_bdays, _texts))
    for kind, values in (("emails", _emails), ("phones", _phones), ("websites", _urls)):
        if draw(st.booleans()):
            fields[kind] = [
                {"value": v, "type": t, "primary": p}
                for v, t, p in draw(st.lists(st.tuples(values, _types, st.booleans()), max_size=4))
            ]
            if kind == "websites":
                for item in fields[kind]:
                    del item["primary"]
    if draw(st.booleans()):
        fields["addresses"] = [
            dict(zip(("street", "city", "region", "postal_code", "country", "type"), parts, strict=True))
            for parts in draw(st.lists(st.tuples(_texts, _texts, _texts, _texts, _texts, _types), max_size=3))
        ]
    if draw(st.booleans()):
        fields["custom.trade"] = draw(_texts)
    if draw(st.booleans()):
        fields["custom.unmapped"] = draw(_texts)
    return fields


@settings(max_examples=400, deadline=None)
@given(_fields(), st.sampled_from(["3.0", "4.0"]), st.sampled_from(_MAPPINGS))
def test_build_card_writes_what_new_card_writes(
    fields: dict[str, Any], version: str, mapping: dict[str, str] | None
) -> None:
    _check_build(VCardCodec(mapping), fields, version)


@settings(max_examples=200, deadline=None)
@given(_fields(), st.sampled_from(["3.0", "4.0"]), st.sampled_from(_MAPPINGS))
def test_build_card_of_normalised_fields(
    fields: dict[str, Any], version: str, mapping: dict[str, str] | None
) -> None:
    """The usual case (fields from the hub, already normal, the builder's shortcut): the
    same checks."""
    codec = VCardCodec(mapping)
    _check_build(codec, codec.read(codec.create(fields, "u"))[0], version)


def test_build_card_with_odd_mappings() -> None:
    """Maps that move FN, N parts or BDAY elsewhere."""
    fields = Contact(
        given_name="Ann", family_name="Lee", organization="ACME", department="IT", notes="1980-02-03"
    ).to_fields() | {"birthday": "--02-03", "custom.x": "y"}
    for mapping in (
        {"display_name": "X-SHOWN", "custom.x": "FN"},
        {"display_name": "X-SHOWN", "job_title": "FN"},
        {"given_name": "X-GIVEN", "organization": "X-ORG"},
        {"birthday": "X-BDAY", "notes": "BDAY"},
        {
            "family_name": "X-F",
            "given_name": "X-G",
            "middle_name": "X-M",
            "name_prefix": "X-P",
            "name_suffix": "X-S",
        },
    ):
        codec = VCardCodec(mapping)
        for version in ("3.0", "4.0"):
            _check_build(codec, fields, version)
            _check_build(codec, {}, version)
            _check_build(codec, {"emails": [{"value": "a@b.example", "type": "", "primary": False}]}, version)


def test_a_value_rewritten_out_of_its_charset_loses_its_value_type() -> None:
    """A phone in a CHARSET-tagged ``VALUE=uri`` line, its type changed: the value is
    written plainly (no transfer encoding), so ``VALUE=uri`` no longer says what it is.
    It was kept, leaving a plain number marked as a URI."""
    codec = VCardCodec()
    data = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:A B\r\nN:B;A;;;\r\n"
        b"TEL;VALUE=uri;CHARSET=UTF-8;TYPE=cell:tel:+12025550147\r\nEND:VCARD\r\n"
    )
    fields = codec.read(data)[0]
    fields["phones"] = [dict(fields["phones"][0], type="work")]
    out = codec.update([p.card for p in codec.parse(data)], fields)
    (line,) = [ln for ln in out.split(b"\r\n") if ln.startswith(b"TEL")]
    assert b"VALUE=uri" not in line and line.endswith(b":+12025550147")
    assert codec.read(out)[0]["phones"] == fields["phones"]


@pytest.mark.parametrize(
    "name",
    [
        "apple-addressbook__3.0__roundcube_apple.vcf",
        "apple-macos__3.0__ezvcard_John_Doe_MAC_ADDRESS_BOOK.vcf",
    ],
)
def test_a_copy_writes_only_a_urls_escaped_colon_plainly(vcards: Path, name: str) -> None:
    """Apple's ``http\\://`` is written ``http://`` in a copy (see ``create_from``); every
    other ``\\:`` is kept as it was: the unmodelled ``X-ABUID:...\\:ABPerson`` and a NOTE's
    ``Color\\: Blue`` lost their backslash too."""
    data = (vcards / name).read_bytes()
    fields = CODEC.read(data)[0]
    made = CODEC.create_from(data, fields, "ann-1")
    assert made is not None
    copy, read = made
    assert read == fields == CODEC.read(copy)[0]
    copied = set(copy.splitlines())
    for line in data.splitlines():
        if b"http\\://" in line:
            assert line.replace(b"http\\://", b"http://") in copied
        elif not line.startswith((b"UID", b"PRODID", b"REV")):
            assert line in copied
    assert any(b"\\:ABPerson" in line for line in copied)
    assert b"\\://" not in copy


def test_a_rewritten_address_or_website_keeps_its_pref(vcards: Path) -> None:
    """The model says which email and phone is preferred, not which address or website:
    Apple's ``item1.ADR;type=WORK;type=pref``, its city edited, lost its ``pref``."""
    data = (vcards / "apple-addressbook__3.0__roundcube_apple.vcf").read_bytes()
    fields = CODEC.read(data)[0]
    fields["addresses"] = [dict(fields["addresses"][0], city="Zürich")]
    fields["websites"] = [dict(fields["websites"][0], type="work")]
    out = CODEC.update([p.card for p in CODEC.parse(data)], fields, data=data)
    lines = out.split(b"\r\n")
    assert "item1.ADR;TYPE=pref,work:;;Birgistrasse 4a;Zürich;;8304;Switzerland".encode() in lines
    assert b"item2.URL;TYPE=pref,work:http\\://www.apple.ch" in lines
    assert CODEC.read(out)[0] == fields


def test_a_quote_escaped_by_gmail_and_apple_reads_as_a_quote(vcards: Path) -> None:
    """Gmail and macOS Address Book write ``\\"`` in text (no escape RFC 6350 defines): kept
    as written, the backslashes went into every other system's copy of the note."""
    for name in (
        "google-gmail__3.0__ezvcard_John_Doe_GMAIL.vcf",
        "apple-macos__3.0__ezvcard_John_Doe_MAC_ADDRESS_BOOK.vcf",
    ):
        [parsed] = CODEC.parse((vcards / name).read_bytes(), name)
        note = parsed.fields["notes"]
        assert 'CONTRIBUTORS "AS IS" AND' in note and "\\" not in note, (name, note)
    assert unescape('say \\"hi\\", \\q') == 'say "hi", \\q'  # other unknown escapes stay


# --- lines that are not quite vCard --------------------------------------------------------

_QUOTE_CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:quote-1\r\n{}END:VCARD\r\n"
_OPEN_QUOTES = 'FN;X-P="a"b"c;Y="""":Quote Person\r\nEMAIL;TYPE="work:quote@example.com\r\n'


@pytest.mark.parametrize("fold", ["", "NOTE:a long\r\n  note\r\n"])
def test_a_quote_left_open_in_the_params_keeps_the_value(fold: str) -> None:
    """No ':' outside quotes: the first ':' ends the params. The line was dropped, and a
    card of such lines synced as a person with no data, without a word."""
    data = _QUOTE_CARD.format(fold + _OPEN_QUOTES).encode()
    [parsed] = CODEC.parse(data, "q.vcf")
    expected = {"value": "quote@example.com", "type": "work", "primary": True}
    assert parsed.fields["display_name"] == "Quote Person"
    assert parsed.fields["emails"] == [expected]
    assert CODEC.read(data, "q.vcf") == (parsed.fields, "quote-1", None)
    fn = parsed.card.first("FN")
    assert fn is not None and fn.params == {"X-P": ['a"b"c;Y="""']}
    assert serialize_card(parsed.card) == data  # read leniently, written back as it was


def test_a_card_with_nothing_read_but_unreadable_lines_is_an_error() -> None:
    """A card whose only lines besides UID and VERSION are not properties (here: no ':')
    is refused naming the file, on both readers, rather than synced as an empty person."""
    for lines in ("FN Quote Person\r\nEMAIL;TYPE=work\r\n", "FN Quote\r\nNOTE\r\n  folded\r\n"):
        data = _QUOTE_CARD.format(lines).encode()
        for read in (CODEC.read, CODEC.parse, parse_cards):
            with pytest.raises(RecordError) as exc:
                read(data, "q.vcf")
            assert exc.value.record == "q.vcf"
            assert "could be read" in exc.value.message and "'FN Quote" in exc.value.message
    # a card holding only a PHOTO, or an X- property, holds something: read as before
    for lines in ("PHOTO;ENCODING=b:AAAA\r\n", "PHOTO;ENCODING=b:AAAA\r\njunk\r\n", "X-A:1\r\njunk\r\n", ""):
        data = _QUOTE_CARD.format(lines).encode()
        assert CODEC.read(data, "q.vcf") == ({}, "quote-1", None)
        assert CODEC.parse(data, "q.vcf")[0].fields == {}
    # a line with no ':' at all is skipped, as it always was, in a card holding something
    data = _QUOTE_CARD.format("FN:Ann\r\nEMAIL;TYPE=work\r\n").encode()
    assert CODEC.read(data, "q.vcf")[0] == CODEC.parse(data)[0].fields == {"display_name": "Ann"}


_NAMELESS = (
    "BEGIN:VCARD\r\nVERSION:{}\r\nUID:x1\r\nN:;;;;\r\nFN:\r\n"
    "EMAIL:forrest@example.com\r\nTEL:+1 217 555 0100\r\nEND:VCARD\r\n"
)


@pytest.mark.parametrize("version", ["3.0", "4.0"])
def test_a_card_without_a_name_is_not_given_an_email_as_one(version: str) -> None:
    """QA: a card with an empty FN and N, whose hub contact is named by its email (every
    hub contact has a name to show), got ``FN:forrest@example.com`` from the first write
    of anything else (a title edited in an Outlook file). It keeps its empty FN, and a
    card without FN gets an empty one (required), not the email."""
    data = _NAMELESS.format(version).encode()
    fields = {**CODEC.read(data)[0], "display_name": "forrest@example.com", "job_title": "Runner"}
    out = CODEC.update([p.card for p in CODEC.parse(data)], fields, data=data)
    assert out == data.replace(b"END:VCARD", b"TITLE:Runner\r\nEND:VCARD")
    without_fn = data.replace(b"FN:\r\n", b"")
    out = CODEC.update([p.card for p in CODEC.parse(without_fn)], fields, data=without_fn)
    assert b"\r\nFN:\r\n" in out and b"FN:forrest" not in out
    # what the card reads as agrees with the hub's fields (``read_back``), so a read of it
    # after an edit does not plan a write of it again
    read = CODEC.read(out)[0]
    assert "display_name" not in read and read == CODEC.read_back(fields)
    assert CODEC.read_back({**fields, "given_name": "Forrest"}) == {**fields, "given_name": "Forrest"}


def test_a_name_cleared_elsewhere_leaves_fn_empty_not_the_email() -> None:
    """A card whose name was cleared in another system (the hub then names the person by
    their email) gets an empty FN; a card whose FN is an email, as the hub writes a new
    card of a person with no name, keeps showing one."""
    named = _NAMELESS.format("3.0").replace("N:;;;;\r\nFN:", "N:Gump;Forrest;;;\r\nFN:Forrest Gump").encode()
    fields = {k: v for k, v in CODEC.read(named)[0].items() if k not in ("given_name", "family_name")}
    fields["display_name"] = "forrest@example.com"
    out = CODEC.update([p.card for p in CODEC.parse(named)], fields, data=named)
    assert b"\r\nN:;;;;\r\nFN:\r\n" in out and b"FN:forrest" not in out
    new = CODEC.create(fields, "x2")
    assert b"\r\nFN:forrest@example.com\r\n" in new
    moved = {**fields, "display_name": "forrest@new.example"}  # a card's email stand-in follows
    out = CODEC.update([p.card for p in CODEC.parse(new)], moved, data=new)
    assert b"\r\nFN:forrest@new.example\r\n" in out


@pytest.mark.parametrize("version", ["3.0", "4.0"])
def test_a_birthday_of_text_is_written_as_text(version: str) -> None:
    """``BDAY:circa 1800`` is no valid 3.0 (or 4.0) card: a date is expected there. A
    birthday of text is written ``VALUE=text`` in both, and reads back as that text."""
    codec = VCardCodec()
    fields = {"display_name": "Dee Ng", "birthday": "circa 1800"}
    _check_build(codec, fields, version)
    from contacthub.formats.vcard_map import build_card

    data, result = build_card(fields, codec.fmap, "uid-1", version, codec.region)
    assert b"\r\nBDAY;VALUE=text:circa 1800\r\n" in data
    assert result["birthday"] == "circa 1800"
