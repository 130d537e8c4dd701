"""An update of a vCard 2.1 card writes a 2.1 card (``VCardCodec(keep_21=True)``, a folder's).

QA: any hub edit of a file an old phone, Outlook 2003 or BlackBerry wrote rewrote the whole
card as 3.0 (quoted-printable decoded, CHARSET dropped, ``WORK`` become ``TYPE=WORK``): the
program that reads only 2.1 might no longer read its own file.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contacthub.formats.vcard import VCardCodec

CODEC = VCardCodec(keep_21=True)

#: Outlook-style: CHARSET=Windows-1252 on every text line, 8-bit and quoted-printable,
#: bare params, a soft-broken QP note, a base64 photo ended by a blank line
CARD = (
    b"BEGIN:VCARD\r\n"
    b"VERSION:2.1\r\n"
    b"N;CHARSET=Windows-1252:Do\xeb;John;;;\r\n"
    b"FN;CHARSET=Windows-1252:John Do\xeb\r\n"
    b"ORG;CHARSET=Windows-1252:Acme\r\n"
    b"TITLE;CHARSET=Windows-1252:Clerk\r\n"
    b"TEL;WORK;VOICE:(111) 555-1212\r\n"
    b"TEL;HOME;VOICE:(404) 555-1212\r\n"
    b"EMAIL;PREF;INTERNET:john@example.com\r\n"
    b"ADR;WORK;CHARSET=Windows-1252;ENCODING=QUOTED-PRINTABLE:;;1 Stra=DFe=0D=0AHof 2;Z=FCrich;;8000;CH\r\n"
    b"LABEL;WORK;ENCODING=QUOTED-PRINTABLE:1 Stra=DFe=0D=0A=\r\n"
    b"Z=FCrich\r\n"
    b"NOTE;ENCODING=QUOTED-PRINTABLE:first=0D=0Asecond line is a long one, long enough to be =\r\n"
    b"broken softly\r\n"
    b"X-MS-OL-DEFAULT-POSTAL-ADDRESS:2\r\n"
    b"PHOTO;ENCODING=BASE64;TYPE=JPEG:\r\n"
    b" /9j/4AAQSkZJRgABAQEASABIAAD\r\n"
    b" /2wBDAAMCAgMCAgMDAwMEAwMEBQgF\r\n"
    b"\r\n"
    b"REV:20120305T131933Z\r\n"
    b"END:VCARD\r\n"
)


def _update(data: bytes, edit: dict[str, Any], codec: VCardCodec = CODEC) -> tuple[dict[str, Any], bytes]:
    fields = {**codec.read(data)[0], **edit}
    cards = [parsed.card for parsed in codec.parse(data)]
    return fields, codec.update(cards, fields, uid="hub-1", data=data)


def _kept_in_order(old: list[bytes], new: list[bytes]) -> None:
    at = 0
    for line in old:
        at = new.index(line, at) + 1


def test_an_update_of_a_21_card_keeps_its_lines_and_writes_21() -> None:
    phones = CODEC.read(CARD)[0]["phones"]
    fields, new = _update(
        CARD,
        {
            "job_title": "Buchhalter, Zürich",
            "notes": "one; two\nthree, four",
            "phones": [*phones, {"value": "+41445550100", "type": "cell", "primary": False}],
        },
    )
    lines = new.split(b"\r\n")
    assert lines[1] == b"VERSION:2.1"
    # every line of a property the update did not change, byte for byte, in its place
    edited = (b"TITLE", b"NOTE", b"REV", b"broken softly", b"second line")
    untouched = [line for line in CARD.split(b"\r\n") if not line.startswith(edited)]
    _kept_in_order(untouched, lines)
    assert b"PHOTO;ENCODING=BASE64;TYPE=JPEG:\r\n /9j/4AAQSkZJRgABAQEASABIAAD\r\n" in new
    assert b" /2wBDAAMCAgMCAgMDAwMEAwMEBQgF\r\n\r\nREV:" in new  # 2.1's blank line after base64
    # the edited ones in 2.1: the card's own charset, quoted-printable, only ';' escaped
    assert b"TITLE;CHARSET=Windows-1252;ENCODING=QUOTED-PRINTABLE:Buchhalter, Z=FCrich\r\n" in new
    assert b"NOTE;ENCODING=QUOTED-PRINTABLE:one\\; two=0D=0Athree, four\r\n" in new
    assert b"TEL;CELL:+41445550100\r\n" in new
    written = [line for line in lines if line not in untouched]
    assert not any(b"TYPE=" in line or b"\\n" in line or b"\\," in line for line in written)
    # read back as written, and a second write of the same is no change
    assert CODEC.read(new)[0] == fields
    again = [parsed.card for parsed in CODEC.parse(new)]
    assert CODEC.update(again, fields, data=new) == new


def test_a_rewritten_phone_keeps_its_bare_params() -> None:
    phones = [dict(p) for p in CODEC.read(CARD)[0]["phones"]]
    phones[0]["value"] = "+11115559999"
    emails = [{"value": "john@example.org", "type": "", "primary": True}]
    _, new = _update(CARD, {"phones": phones, "emails": emails})
    # (primary by being first: said once rewritten, as in 3.0)
    assert b"\r\nTEL;VOICE;WORK;PREF:+11115559999\r\n" in new
    assert b"\r\nEMAIL;INTERNET;PREF:john@example.org\r\n" in new
    assert b"\r\nTEL;HOME;VOICE:(404) 555-1212\r\n" in new


def test_the_charset_of_a_new_value() -> None:
    """The card's own CHARSET where every line naming one names it and it holds the text;
    else UTF-8; none for ASCII."""
    fields, new = _update(CARD, {"job_title": "Ǽgean 東京"})  # not in windows-1252
    assert b"TITLE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=C7=BCgean =E6=9D=B1=E4=BA=AC\r\n" in new
    assert CODEC.read(new)[0] == fields
    plain = CARD.replace(b"CHARSET=Windows-1252", b"CHARSET=UTF-8").replace(b"\xeb", b"\xc3\xab")
    fields, new = _update(plain.replace(b"N;CHARSET=UTF-8", b"N;CHARSET=ISO-8859-1"), {"job_title": "Zoë"})
    assert b"TITLE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Zo=C3=AB\r\n" in new  # two charsets
    assert CODEC.read(new)[0] == fields
    _, new = _update(CARD, {"job_title": "Boss"})
    assert b"\r\nTITLE:Boss\r\n" in new


def test_a_name_edited_in_a_card_whose_only_charset_lines_were_its_name_keeps_the_charset() -> None:
    """Roundcube's windows-1252 card names its CHARSET on N and FN only: renamed, both were
    written as UTF-8, the card's charset taken from the lines left unchanged (none)."""
    card = (
        b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=windows-1252:Doe;John;;;\r\n"
        b"FN;CHARSET=windows-1252:John Doe\r\nEMAIL:john@example.com\r\nEND:VCARD\r\n"
    )
    fields, new = _update(
        card, {"given_name": "J\u00f6hn", "family_name": "Do\u00eb", "display_name": "J\u00f6hn Do\u00eb"}
    )
    assert b"N;CHARSET=windows-1252;ENCODING=QUOTED-PRINTABLE:Do=EB;J=F6hn;;;\r\n" in new, new
    assert b"FN;CHARSET=windows-1252;ENCODING=QUOTED-PRINTABLE:J=F6hn Do=EB\r\n" in new
    assert CODEC.read(new)[0] == fields


def test_a_long_value_is_broken_softly() -> None:
    fields, new = _update(CARD, {"notes": "é" * 60 + "\n" + "x" * 100})
    note = new[new.index(b"NOTE;") : new.index(b"\r\n", new.index(b"=0D=0A"))]
    assert all(len(line) <= 76 and line.endswith(b"=") for line in note.split(b"\r\n")[:-1])
    assert CODEC.read(new)[0] == fields


def test_a_21_card_is_written_as_30_where_21_is_not_kept() -> None:
    """A CardDAV book's codec (and a copy or a new card): 3.0, as before."""
    codec = VCardCodec()
    fields, new = _update(CARD, {"job_title": "Boss"}, codec)
    assert b"VERSION:3.0\r\n" in new and b"QUOTED-PRINTABLE" not in new and b"TEL;TYPE=WORK" in new
    assert codec.read(new)[0] == fields


# NFC, as every value the hub holds is (``model_normalize.clean_text``): a card is only ever
# written with such text (U+2F800, a compatibility ideograph, is held as U+4E3D)
_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x85\u2028\u2029")
).map(lambda t: unicodedata.normalize("NFC", t))


@settings(max_examples=150, deadline=None)
@given(
    title=_TEXT.filter(lambda t: t.strip() == t),
    notes=st.lists(_TEXT, max_size=3).map("\n".join).filter(lambda t: t.strip() == t),
    org=_TEXT.filter(lambda t: t.strip() == t),
)
def test_values_written_in_21_read_back_as_they_were(title: str, notes: str, org: str) -> None:
    """Backslashes, semicolons, commas, line breaks and any text, in a 2.1 card."""
    _, new = _update(CARD, {"job_title": title, "notes": notes, "organization": org})
    assert new.split(b"\r\n")[1] == b"VERSION:2.1"
    read = CODEC.read(new)[0]
    assert {k: read.get(k, "") for k in ("job_title", "notes", "organization")} == {
        "job_title": title,
        "notes": notes,
        "organization": org,
    }


AGENT = (
    b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Gump;Forrest\r\nFN:Forrest Gump\r\n"
    b"AGENT:\r\nBEGIN:VCARD\r\nVERSION:2.1\r\nN:Friday;Fred\r\nTEL;WORK;VOICE:+1-213-555-1234\r\n"
    b"END:VCARD\r\nEMAIL:f@x.test\r\nEND:VCARD\r\n"
)


def test_an_agents_embedded_card_stays_in_its_agent() -> None:
    """vCard 2.1 writes an AGENT's card after ``AGENT:``, whole (BEGIN:VCARD to END:VCARD).
    It was read as a second card of the file, and an update wrote it after the person's
    card, a second person in the file (QA). It is the AGENT's value: kept in its place, and
    its telephone is not the person's."""
    fields, new = _update(AGENT, {"job_title": "Boss"})
    assert fields["display_name"] == "Forrest Gump" and not fields.get("phones")
    embedded = AGENT[AGENT.index(b"AGENT:") : AGENT.index(b"EMAIL")]
    assert embedded in new and new.count(b"BEGIN:VCARD") == 2
    assert new.rstrip(b"\r\n").endswith(b"END:VCARD") and new.index(b"EMAIL") > new.index(embedded)
    assert len(CODEC.parse(new)) == 1
    # in 3.0 the embedded card is the AGENT's text value (RFC 2426)
    _, as30 = _update(AGENT, {"job_title": "Boss"}, VCardCodec())
    assert (
        b"AGENT:BEGIN:VCARD\\nVERSION:2.1\\nN:Friday\\;Fred\\nTEL\\;WORK\\;VOICE:+1-213-555-1234\\nEND:VCARD"
        in as30.replace(b"\r\n ", b"")
    )
    assert len(VCardCodec().parse(as30)) == 1 and b"\r\nBEGIN:VCARD" not in as30


def test_a_soft_break_that_lost_its_line_end_is_no_character(corpus_dir: Path) -> None:
    """audriga's card writes ``=0D=0A=Baytown`` in a quoted-printable LABEL: a soft break
    whose line end was lost. Decoded as ``=Ba``, it read ``ºytown``, and a card written
    again as 3.0 (a CardDAV book) said so. 0xBA breaks the UTF-8 the LABEL declares, so
    ``=`` before it is the lost soft break, dropped. A 2.1 card keeps its line as it was."""
    data = (corpus_dir / "vcards" / "empty-values__2.1__audriga_test_vcard_2.vcf").read_bytes()
    label = next(line for line in data.splitlines() if line.startswith(b"LABEL;HOME"))
    _, new = _update(data, {"job_title": "Boss"})
    assert label in new.splitlines()  # 2.1: untouched
    _, as30 = _update(data, {"job_title": "Boss"}, VCardCodec())
    written = as30.decode("utf-8").replace("\r\n ", "").replace("\n ", "")
    assert "LABEL;TYPE=HOME:42 Plantation St.\\nBaytown, LA 30314\\nUnited States of America" in written
    assert "º" not in written


def _note(value: str, charset: str = ";CHARSET=UTF-8") -> str:
    note = f"NOTE{charset};ENCODING=QUOTED-PRINTABLE:{value}"
    card = f"BEGIN:VCARD\r\nVERSION:2.1\r\nN:A;B\r\n{note}\r\nEND:VCARD\r\n"
    return str(VCardCodec().parse(card.encode("latin-1"))[0].fields["notes"])


@pytest.mark.parametrize(
    ("value", "charset", "text"),
    [
        # QA: one '=XY' that is no real byte made the whole value invalid UTF-8, read as Latin-1
        ("caf=C3=A9 line=0D=0A=ABERDEEN", ";CHARSET=UTF-8", "café line\nABERDEEN"),
        ("Stra=C3=9Fe=0D=0A=bad news", ";CHARSET=UTF-8", "Straße\nbad news"),
        ("caf=C3=A9=0D=0A=Deerfield=0D=0A=C3=A9", ";CHARSET=UTF-8", "café\nDeerfield\né"),
        # nothing else in UTF-8: the declared charset over Latin-1 bytes (a phone's), not
        # lost breaks; 'cafE9' was the repair's reading
        ("caf=E9 au lait", ";CHARSET=UTF-8", "café au lait"),
        ("Stra=DFe", ";CHARSET=UTF-8", "Straße"),
        ("Stra=C3=9Fe=0D=0A=bad news", "", "Straße\nbad news"),  # no CHARSET, UTF-8 beside
        # real multi-byte escapes read as before
        ("caf=c3=a9 =e2=80=9cq=e2=80=9d", ";CHARSET=UTF-8", "café “q”"),
        ("Zo=C3=\r\n=AB", ";CHARSET=UTF-8", "Zoë"),
        ("a=3Db", ";CHARSET=UTF-8", "a=b"),
        # no CHARSET and nothing else in UTF-8: windows-1252 (The Bat!), not 'IksiF1ski'
        ("Iksi=F1ski", "", "Iksiñski"),
        ("Stra=DFe", "", "Straße"),
    ],
)
def test_an_escape_that_breaks_utf8_is_a_lost_soft_break(value: str, charset: str, text: str) -> None:
    """QA: ``=0D=0A=ABERDEEN`` (a soft break whose line end was lost) read ``=AB`` as a byte,
    which made ``caf=C3=A9`` beside it ``cafÃ©``. Where UTF-8 is meant, an escape whose byte
    breaks the UTF-8 is the lost break: ``=`` dropped, ``AB`` kept as text."""
    assert _note(value, charset) == text


def test_the_corpus_thebat_card_stays_windows_1252(corpus_dir: Path) -> None:
    """A card without CHARSET whose escapes are Latin-1 letters is not taken for lost breaks."""
    data = (corpus_dir / "vcards" / "thebat__2.1__roundcube_thebat.vcf").read_bytes()
    assert VCardCodec().parse(data)[0].fields["family_name"] == "Iksiñski"
