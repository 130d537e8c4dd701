"""The canonical model: normalisation, multi-valued fields, equality, match keys and the flat
form. The hot-path functions are also checked against a verbatim copy of their first, plain
implementation (``_ref_*``), so that speed-ups cannot change a result."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contacthub.model import (
    ADDRESS_PARTS,
    SCALAR_FIELDS,
    Address,
    Contact,
    Email,
    Phone,
    Website,
    clean_text,
    display_name_of,
    element_key,
    email_key,
    field_equal,
    fields_equal,
    is_known_field,
    keep_spelling,
    match_keys,
    name_key,
    normalize_email,
    normalize_multi,
    normalize_phone,
    normalize_type,
    phone_key,
    phone_same_key,
    project,
    split_renamed,
)

# --- the reference: the model's first implementation, kept as the definition ----------------

_SPACES = re.compile(r"\s+")


def _ref_phone_key(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def _ref_element_key(field_name: str, item: dict[str, Any]) -> tuple[str, ...]:
    if field_name == "addresses":
        return tuple(_SPACES.sub(" ", str(item.get(p, ""))).casefold().strip(" ,;") for p in ADDRESS_PARTS)
    if field_name == "phones":
        return (_ref_phone_key(item["value"]) or str(item["value"]).casefold(),)
    if field_name == "emails":  # emails keep their case now: a Turkish İ folds as lower() did
        return (str(item["value"]).casefold().replace("i\u0307", "i"),)
    return (str(item["value"]).casefold(),)


def _ref_normalize_multi(field_name: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, ...]] = set()
    out: list[dict[str, Any]] = []
    for item in items:
        if field_name == "addresses":
            if not any(item.get(p) for p in ADDRESS_PARTS):
                continue
        elif not item.get("value"):
            continue
        key = _ref_element_key(field_name, item)
        if key in seen:
            continue
        seen.add(key)
        out.append(dict(item))
    if field_name in ("emails", "phones") and out:
        index = next((i for i, e in enumerate(out) if e.get("primary")), 0)
        for i, e in enumerate(out):
            e["primary"] = i == index
        if index:
            out.insert(0, out.pop(index))
    return out


def _ref_to_fields(contact: Contact, region: str = "US") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in SCALAR_FIELDS:
        value = clean_text(getattr(contact, name))
        if value:
            out[name] = value
    if "display_name" not in out:
        derived = display_name_of(out)
        if derived:
            out["display_name"] = derived
    emails = [
        {"value": normalize_email(e.value), "type": normalize_type(e.type), "primary": e.primary}
        for e in contact.emails
    ]
    phones = [
        {"value": normalize_phone(p.value, region), "type": normalize_type(p.type), "primary": p.primary}
        for p in contact.phones
    ]
    addresses = [
        {**{part: clean_text(getattr(a, part)) for part in ADDRESS_PARTS}, "type": normalize_type(a.type)}
        for a in contact.addresses
    ]
    websites = [{"value": clean_text(w.value), "type": normalize_type(w.type)} for w in contact.websites]
    for name, items in (
        ("emails", emails),
        ("phones", phones),
        ("addresses", addresses),
        ("websites", websites),
    ):
        normal = _ref_normalize_multi(name, items)
        if normal:
            out[name] = normal
    for key, value in contact.custom.items():
        text = clean_text(value)
        name = clean_text(key)
        if text and name:
            out["custom." + name] = text
    return out


# --- normalisation ----------------------------------------------------------------------------


def test_clean_text() -> None:
    assert clean_text(None) == ""
    assert clean_text(5) == "5"
    assert clean_text("  a\x00b\tc\n ") == "ab\tc"
    assert clean_text("line one\nline two") == "line one\nline two"
    assert clean_text("x\x7fy\x1b") == "xy"
    assert clean_text("\u00a0é\u00a0") == "é"  # str.strip() knows Unicode spaces
    assert clean_text("Jose\u0301") == "José"  # e + combining accent, as macOS writes it


def test_one_value_in_its_other_spellings_is_one_value() -> None:
    """Each of these made a second person of someone already in the hub."""
    assert normalize_email("Bob Roe <bob@example.com>") == "bob@example.com"  # an Outlook cell
    assert normalize_email('"Roe, Bob" < CEM@Example.com >') == "CEM@Example.com"  # case kept
    assert key("İLKAY@EXAMPLE.COM") == key("ilkay@example.com") == "ilkay@example.com"
    assert key("JOERG@MÜNCHEN.DE") == key("joerg@xn--mnchen-3ya.de") == key("Joerg@XN--MNCHEN-3YA.DE")
    assert normalize_email("hans@xn--strae-oqa.de") == "hans@straße.de"  # IDNA 2008
    assert normalize_email("jörg@xn--mnchen-3ya.de") == "jörg@münchen.de"
    assert normalize_email("Jörg@XN--MNCHEN-3YA.de") == "Jörg@münchen.de"  # the local part as typed
    assert key("ann@xn--ls8h.la") == key("ann@💩.la")  # IDNA 2003 only
    assert key("bob@bücher.xn--80akhbyknj4f") == key("bob@xn--bcher-kva.испытание")
    assert normalize_email("a@xn--zz.example") == "a@xn--zz.example"  # no punycode: as written
    assert normalize_email("A@XN--ZZ.example") == "A@XN--ZZ.example"
    assert normalize_email("a<b>@c.example") == "a<b>@c.example"
    # the trunk prefix in brackets after the country code is no digit of the number
    assert normalize_phone("+44 (0)7700 900123", "GB") == normalize_phone("07700 900123", "GB")
    assert normalize_phone("+49 (0)89 7654321", "DE") == "+49897654321"
    assert normalize_phone("+1 (202) 555-0147") == "+12025550147"
    assert name_key({"given_name": "Ｋｅｎ", "family_name": "Ｓａｔｏ"}) == name_key(
        {"display_name": "Ken Sato"}
    )


def key(value: str) -> str:
    return email_key(normalize_email(value))


def test_normalize_email() -> None:
    """An email keeps the case it was typed in; it compares, matches and is one element of
    a set by its lower-cased key."""
    assert normalize_email("  Ann.Lee@Example.COM ") == "Ann.Lee@Example.COM"
    assert normalize_email("MAILTO:ann@example.com") == "ann@example.com"
    assert normalize_email("") == ""
    assert key("  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    fields = Contact(emails=[Email("Bo.Ek@Example.ORG"), Email("bo.ek@example.org")]).to_fields()
    assert fields["emails"] == [{"value": "Bo.Ek@Example.ORG", "type": "", "primary": True}]
    assert match_keys(fields) == ["email:bo.ek@example.org"]  # as stored before: still found
    lower = Contact(emails=[Email("bo.ek@example.org")]).to_fields()
    assert fields_equal(fields, lower) and field_equal("emails", lower["emails"], fields["emails"])
    assert element_key("emails", fields["emails"][0]) == element_key("emails", lower["emails"][0])
    other = [{"value": "bo.ek@example.com", "type": "", "primary": True}]
    assert not field_equal("emails", fields["emails"], other)
    assert keep_spelling("emails", lower["emails"] + [{"value": "x@y.z"}], fields["emails"]) == [
        {"value": "Bo.Ek@Example.ORG", "type": "", "primary": True},
        {"value": "x@y.z"},
    ]


def test_normalize_phone_e164_with_region() -> None:
    assert normalize_phone("+1 202-555-0147") == "+12025550147"
    assert normalize_phone("(202) 555-0147") == "+12025550147"
    assert normalize_phone("(202) 555-0147", "GB") == "+442025550147"
    assert normalize_phone("020 7946 0958", "GB") == "+442079460958"
    assert normalize_phone("tel:+44 20 7946 0958") == "+442079460958"
    assert normalize_phone(" +49 (30) 123456 ") == "+4930123456"


def test_normalize_phone_keeps_what_does_not_parse() -> None:
    assert normalize_phone("020 7946 0958") == "020 7946 0958"  # not a possible US number
    # ten digits after a 0 are no US number either (they were made +10351223344: QA, corpus)
    for foreign in ("0351 223344", "0311111111", "(0351) 223344", "0351/223344"):
        assert normalize_phone(foreign) == foreign
        assert normalize_phone(foreign, "CA") == foreign
    # E.164 would lose what these say: an extension; the area code a local number lacks
    assert normalize_phone("(202) 555-0199 ext. 12") == "(202) 555-0199 ext. 12"
    assert normalize_phone("+1 202 555 0199 x12") == "+1 202 555 0199 x12"
    assert normalize_phone("555-0100") == "555-0100"
    assert normalize_phone("7946 0958", "GB") == "7946 0958"
    assert normalize_phone("call me") == "call me"
    assert normalize_phone(" 12 ") == "12"
    assert normalize_phone("") == ""
    assert normalize_phone("tel:") == ""


def test_normalize_type() -> None:
    assert normalize_type(None) == ""
    assert normalize_type("  Work \n Cell ") == "work cell"


def test_phone_key() -> None:
    assert phone_key("+1 (202) 555-0147") == "12025550147"
    assert phone_key("call me") == ""
    assert phone_key("") == ""
    assert phone_key("٣٤٥") == _ref_phone_key("٣٤٥")  # Unicode digits count as digits


@given(st.text())
def test_phone_key_matches_reference(value: str) -> None:
    assert phone_key(value) == _ref_phone_key(value)


def test_name_key() -> None:
    assert name_key({"given_name": "Ann", "family_name": "LEE", "display_name": "X"}) == "ann lee"
    assert name_key({"display_name": "  Dr.  Ann   Lee "}) == "dr. ann lee"
    assert name_key({}) == ""


def test_is_known_field() -> None:
    assert is_known_field("emails")
    assert is_known_field("custom.trade")
    assert not is_known_field("custom.")
    assert not is_known_field("nickname")


# --- multi-valued fields ----------------------------------------------------------------------


def test_normalize_multi_primary_first_and_unique() -> None:
    items = [
        {"value": "a@x", "type": "", "primary": False},
        {"value": "b@x", "type": "", "primary": True},
        {"value": "A@x", "type": "work", "primary": True},  # a repeat of a@x: dropped
        {"value": "", "type": "home", "primary": False},  # empty: dropped
    ]
    assert normalize_multi("emails", items) == [
        {"value": "b@x", "type": "", "primary": True},
        {"value": "a@x", "type": "", "primary": False},
    ]


def test_normalize_multi_first_is_primary_when_none_claims() -> None:
    out = normalize_multi("phones", [{"value": "+1", "primary": False}, {"value": "+2"}])
    assert [p["primary"] for p in out] == [True, False]


def test_normalize_multi_first_claim_wins() -> None:
    items = [{"value": "1"}, {"value": "2", "primary": True}, {"value": "3", "primary": True}]
    out = normalize_multi("phones", items)
    assert [(p["value"], p["primary"]) for p in out] == [("2", True), ("1", False), ("3", False)]


def test_normalize_multi_phones_by_digits_addresses_by_parts() -> None:
    phones = normalize_multi("phones", [{"value": "+1 202 555 0147"}, {"value": "+12025550147"}])
    assert len(phones) == 1
    addresses = [
        {"street": "1 Main  St", "city": "Springfield", "type": "home"},
        {"street": "1 main st", "city": "SPRINGFIELD", "type": "work"},
        {"street": "", "city": "", "type": "home"},
    ]
    out = normalize_multi("addresses", addresses)
    assert out == [addresses[0]]
    assert out[0] is not addresses[0]  # copies, never the caller's dicts
    assert "primary" not in out[0]


def test_normalize_multi_websites_have_no_primary() -> None:
    out = normalize_multi("websites", [{"value": "https://a", "type": ""}])
    assert out == [{"value": "https://a", "type": ""}]


def test_element_key() -> None:
    assert element_key("emails", {"value": "A@X"}) == ("a@x",)
    assert element_key("phones", {"value": "+1 202"}) == ("1202",)
    assert element_key("phones", {"value": "Call ME"}) == ("call me",)
    assert element_key("addresses", {"street": "A  b", "city": "C"}) == ("a b", "c", "", "", "")


_items = st.lists(
    st.fixed_dictionaries(
        {"value": st.sampled_from(["", "a", "A", "+1 2", "12", "x y", "٣"]) | st.text(max_size=5)},
        optional={"type": st.sampled_from(["", "work"]), "primary": st.booleans()},
    ),
    max_size=6,
)
_addresses = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            p: st.sampled_from(["", "a", "A ", "a\tb", "a  b", "a,", ", a;", ",", "a, b"])
            for p in (*ADDRESS_PARTS, "type")
        },
    ),
    max_size=5,
)


@given(st.sampled_from(["emails", "phones", "websites"]), _items)
def test_normalize_multi_matches_reference(kind: str, items: list[dict[str, Any]]) -> None:
    assert normalize_multi(kind, items) == _ref_normalize_multi(kind, items)
    for item in items:
        if item.get("value"):
            assert element_key(kind, item) == _ref_element_key(kind, item)


@given(_addresses)
def test_normalize_multi_addresses_match_reference(items: list[dict[str, Any]]) -> None:
    assert normalize_multi("addresses", items) == _ref_normalize_multi("addresses", items)
    for item in items:
        assert element_key("addresses", item) == _ref_element_key("addresses", item)


# --- equality ---------------------------------------------------------------------------------


def test_field_equal_scalars_and_empties() -> None:
    assert field_equal("display_name", "Ann", "Ann")
    assert not field_equal("display_name", "Ann", "ann")
    assert field_equal("notes", None, "")
    assert field_equal("emails", [], None)
    assert not field_equal("notes", None, "x")
    assert not field_equal("notes", "x", None)


def test_field_equal_multi_is_a_set() -> None:
    a = [{"value": "a@x", "type": "", "primary": True}, {"value": "b@x", "type": "", "primary": False}]
    b = list(reversed(a))
    assert field_equal("emails", a, b)
    moved = [{**a[0], "primary": False}, {**a[1], "primary": True}]
    assert not field_equal("emails", a, moved)  # which one is primary matters
    assert not field_equal("emails", a, a[:1])
    assert not field_equal("emails", a, [*a, {"value": "c@x", "type": "", "primary": False}])


def test_fields_equal_and_project() -> None:
    a = {"display_name": "Ann", "custom.x": "1", "notes": ""}
    assert fields_equal(a, {"display_name": "Ann", "custom.x": "1"})
    assert not fields_equal(a, {"display_name": "Ann"})
    assert fields_equal(a, {"display_name": "Ann"}, names=["display_name"])
    assert project(a, None) == a and project(a, None) is not a
    assert project(a, frozenset({"display_name"})) == {"display_name": "Ann"}
    assert project(a, frozenset({"custom.*"})) == {"custom.x": "1"}


def test_match_keys() -> None:
    fields = {
        "given_name": "Ann",
        "family_name": "Lee",
        "emails": [{"value": "ann@x", "type": "", "primary": True}],
        "phones": [{"value": "+12025550147"}, {"value": "call me"}],
    }
    assert match_keys(fields) == ["email:ann@x", "phone+name:12025550147|ann lee"]
    assert match_keys({"phones": [{"value": "+1"}]}) == []  # a phone alone matches nobody
    assert match_keys({}) == []


# --- the flat form ----------------------------------------------------------------------------


def _contact() -> Contact:
    return Contact(
        given_name=" Ann ",
        family_name="Lee",
        name_prefix="Dr.",
        name_suffix="PhD",
        organization="ACME\x00",
        birthday="1980-02-03",
        emails=[Email("ANN@X.COM", "Work"), Email("b@x.com", "", True), Email("ann@x.com")],
        phones=[Phone("(202) 555-0147", "cell"), Phone("call me"), Phone("", "home")],
        addresses=[Address(street="1 Main St", city="Springfield", type="HOME"), Address()],
        websites=[Website(" https://ann.example ")],
        custom={"trade": " plumber ", " ": "x", "empty": " "},
    )


def test_to_fields() -> None:
    assert _contact().to_fields() == {
        "display_name": "Dr. Ann Lee, PhD",
        "given_name": "Ann",
        "family_name": "Lee",
        "name_prefix": "Dr.",
        "name_suffix": "PhD",
        "organization": "ACME",
        "birthday": "1980-02-03",
        "emails": [
            {"value": "b@x.com", "type": "", "primary": True},
            {"value": "ANN@X.COM", "type": "work", "primary": False},
        ],
        "phones": [
            {"value": "+12025550147", "type": "cell", "primary": True},
            {"value": "call me", "type": "", "primary": False},
        ],
        "addresses": [
            {
                "street": "1 Main St",
                "city": "Springfield",
                "region": "",
                "postal_code": "",
                "country": "",
                "type": "home",
            }
        ],
        "websites": [{"value": "https://ann.example", "type": ""}],
        "custom.trade": "plumber",
    }


def test_to_fields_display_name_fallbacks() -> None:
    assert Contact(organization="ACME").to_fields()["display_name"] == "ACME"
    # the name is derived from the scalar fields only: an email alone gives none
    assert "display_name" not in Contact(emails=[Email("a@x")]).to_fields()
    assert Contact().to_fields() == {}
    assert Contact(display_name="Boss", given_name="Ann").to_fields()["display_name"] == "Boss"


def test_to_fields_from_fields_round_trip() -> None:
    fields = _contact().to_fields("GB")
    assert Contact.from_fields(fields).to_fields("GB") == fields


_text = st.sampled_from(["", " ", "a", "Ann", "ÉLODIE", "x\x00y", " two  words ", "a\nb"]) | st.text(
    max_size=8
)
_phone_text = st.sampled_from(["+1 202-555-0147", "(202) 555-0147", "020 7946 0958", "12", "x", ""])


@settings(max_examples=200)
@given(
    st.builds(
        Contact,
        display_name=_text,
        given_name=_text,
        family_name=_text,
        organization=_text,
        notes=_text,
        emails=st.lists(st.builds(Email, _text, _text, st.booleans()), max_size=3),
        phones=st.lists(st.builds(Phone, _phone_text | _text, _text, st.booleans()), max_size=3),
        addresses=st.lists(st.builds(Address, _text, _text, _text, _text, _text, _text), max_size=2),
        websites=st.lists(st.builds(Website, _text, _text), max_size=2),
        custom=st.dictionaries(_text, _text, max_size=2),
    ),
    st.sampled_from(["US", "GB", ""]),
)
def test_to_fields_matches_reference(contact: Contact, region: str) -> None:
    fields = contact.to_fields(region)
    assert fields == _ref_to_fields(contact, region)
    assert list(fields) == list(_ref_to_fields(contact, region))
    assert Contact.from_fields(fields).to_fields(region) == fields


def _ref_normalize_phone(value: str, region: str) -> str:
    import phonenumbers

    text = clean_text(value)
    if text[:4].lower() == "tel:":
        text = text[4:]
    if not text:
        return ""
    compact = re.sub(r"[\s().\-/]", "", text)
    if re.fullmatch(r"\+[1-9]\d{6,14}", compact):
        return compact
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return text
    if number.extension:
        return text
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return text
    if number.country_code == 1 and number.italian_leading_zero:  # no NANP number starts with 0
        return text
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


@settings(max_examples=1500)
@given(
    st.from_regex(r"\(?[0-9]{3}\)?[ .-]?[ ]?[0-9]{3}[ .-]?[0-9]{4}", fullmatch=True)
    | st.from_regex(
        r"\+1 ?\(?[0-9]{3}\)?[ .-]?[0-9]{3}[ .-]?[0-9]{4} ?(ext\.?|x|X|EXT) ?[0-9]{1,7}", fullmatch=True
    )
    | st.from_regex(r"0[0-9 ().-]{5,14}", fullmatch=True)
    | st.text(alphabet="0123456789 ().-+/xet", min_size=7, max_size=16),
    st.sampled_from(["US", "GB", "CA", ""]),
)
def test_normalize_phone_matches_reference(text: str, region: str) -> None:
    """The shortcuts (``+<digits>``, US national numbers) give what phonenumbers gives."""
    assert normalize_phone(text, region) == _ref_normalize_phone(text, region)


@pytest.mark.parametrize(
    ("parts", "renamed", "split"),
    [
        (
            {"given_name": "Ann", "family_name": "Lee"},
            "Ann Lee-Smith",
            {"given_name": "Ann", "family_name": "Lee-Smith"},
        ),
        (
            {"given_name": "Ann", "family_name": "Lee"},
            "Annie Lee",
            {"given_name": "Annie", "family_name": "Lee"},
        ),
        (
            {"given_name": "Ann", "family_name": "Lee"},
            "Ann  Lee",
            {"given_name": "Ann", "family_name": "Lee"},
        ),
        ({"given_name": "Ann", "family_name": "Lee"}, "Lee", {"family_name": "Lee"}),
        ({"given_name": "Ann"}, "Ann Lee", {"given_name": "Ann", "family_name": "Lee"}),
        ({"family_name": "Lee"}, "Ann Lee", {"given_name": "Ann", "family_name": "Lee"}),
        (
            {"name_prefix": "Dr.", "given_name": "Ann", "family_name": "Lee", "name_suffix": "PhD"},
            "Dr. Ann Lee-Smith, PhD",
            {"name_prefix": "Dr.", "given_name": "Ann", "family_name": "Lee-Smith", "name_suffix": "PhD"},
        ),
        ({"given_name": "Ann", "family_name": "Lee"}, "Ann Marie Lee", None),  # given or family?
        ({"given_name": "Ann", "family_name": "Lee"}, "Bob Jones", None),
        ({"given_name": "Ann", "family_name": "Lee", "name_suffix": "Jr."}, "Ann Lee", None),
    ],
)
def test_split_renamed(parts: dict[str, Any], renamed: str, split: dict[str, Any] | None) -> None:
    assert split_renamed(parts, renamed) == split


_EXTENSION_SPELLINGS = [
    "+1 202 555 0147 ext. 12",
    "+1 (202) 555-0147 ext. 12",
    "+1-202-555-0147 Ext 12",
    "+1 202 555 0147 x12",
    "+1.202.555.0147 x. 12",
    "+1 202 555 0147 #12",
    "+1 202 555 0147 extension 12",
    "+1 202 555 0147;ext=12",
    "+1 202 555 0147, 12",
    "+12025550147 ext12",
]


@pytest.mark.parametrize("spelling", _EXTENSION_SPELLINGS)
def test_a_phone_with_an_extension_compares_by_number_and_extension(spelling: str) -> None:
    """A number with an extension is kept as written (E.164 has none), so re-punctuated in
    a CRM it differed as text: an edit, written over every other copy. It compares by its
    number and extension, split where phonenumbers splits them."""
    import phonenumbers

    parsed = phonenumbers.parse(spelling, None)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    assert phone_same_key(spelling) == f"{e164};ext={parsed.extension}"
    hub = [{"value": "+1 202 555 0147 ext. 12", "type": "work", "primary": True}]
    assert field_equal("phones", hub, [{**hub[0], "value": spelling}])
    assert fields_equal({"phones": hub}, {"phones": [{**hub[0], "value": spelling}]})


def test_another_extension_or_number_is_another_phone() -> None:
    hub = [{"value": "+1 202 555 0147 ext. 12", "type": "work", "primary": True}]
    for other in (
        "+1 202 555 0147 ext. 13",
        "+1 202 555 01471 ext. 2",
        "+1 202 555 0147",
        "+1 202 555 0148 x12",
    ):
        assert not field_equal("phones", hub, [{**hub[0], "value": other}]), other
    assert not field_equal("phones", hub, [{**hub[0], "type": "home"}])  # the type still counts
    # local numbers kept as written compare by their digits; text with letters as written
    local = [{"value": "555-0100", "type": "", "primary": True}]
    assert field_equal("phones", local, [{**local[0], "value": "555 0100"}])
    assert not field_equal("phones", local, [{**local[0], "value": "+555 0100"}])
    words = [{"value": "1-800-FLOWERS", "type": "", "primary": True}]
    assert field_equal("phones", words, [{**words[0], "value": "1-800-flowers"}])
    assert not field_equal("phones", words, [{**words[0], "value": "1-800-FLOWERZ"}])
    assert phone_same_key("+44 (0)20 7946 0958 x5") == "+442079460958;ext=5"
    # digits of other scripts compare as written (not dropped, every such number one)
    arabic = [{"value": "٣٣٣ ٤٤٤", "type": "", "primary": True}]
    assert not field_equal("phones", arabic, [{**arabic[0], "value": "٣٣٣ ٥٥٥"}])


def test_split_extension_is_the_extension_phone_same_key_compares_by() -> None:
    from contacthub.model import split_extension

    for text in ("+1 (212) 555-0103 ext. 315", "+1 212 555 0103 x315", "+1 212-555-0103;ext=315"):
        number, ext = split_extension(text)
        assert ext == "315" and phone_same_key(f"{number} ext. {ext}") == phone_same_key(text)
    assert split_extension("+1 212 555 0103") == ("+1 212 555 0103", "")
    assert split_extension("1-800-FLOWERS x5") == ("1-800-FLOWERS x5", "")
