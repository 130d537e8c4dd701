"""Canonical fields -> an existing vCard card, changed in place as little as possible.

Writing into an existing card changes only the properties whose canonical value differs from
what the card already says, and within a multi-valued field only the elements that differ: an
unchanged ``item1.EMAIL`` keeps its group, params and original bytes, and everything the hub
does not model (PHOTO, X-..., CATEGORIES, groups) is never touched. ``new_card`` is the same
path started from an empty card; it is the reference that ``vcard_build`` (the fast way to
a new card) is tested against, and the property makers here are shared with it.

Apart from ``vcard_map`` (reading) because updating is its own job with its own helpers
(diffing elements, keeping params, the per-property makers), none of which reading needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from contacthub.formats.vcard_card import (
    PRODID,
    Card,
    Property,
    components,
    escape,
)
from contacthub.formats.vcard_card import split_unescaped as _split
from contacthub.formats.vcard_map import (
    _MULTI_ONLY,
    _MULTI_PROPS,
    _NOISE,
    FieldMap,
    _type_of,
    items_fields,
    read_fields,
)
from contacthub.model import (
    DEFAULT_REGION,
    MULTI_FIELDS,
    Fields,
    display_name_of,
    element_key,
    email_stand_in,
    field_equal,
)

# --- values and properties ----------------------------------------------------------------

_ISO_DAY = re.compile(r"\d{4}-\d\d-\d\d|--\d\d-\d\d")


def format_bday(value: str, version: str) -> tuple[str, dict[str, list[str]]]:
    """A canonical birthday as a BDAY value and params (4.0 allows only basic ISO dates).
    A birthday of text (``circa 1800``: a 4.0 card's ``VALUE=text``, a CSV cell) says so in
    3.0 too: ``BDAY:circa 1800`` is no date, so not a valid 3.0 card (QA)."""
    if _ISO_DAY.fullmatch(value):
        if version != "4.0":
            return value, {}
        if value[0] == "-":
            return "--" + value[2:].replace("-", ""), {}
        return value.replace("-", ""), {}
    return escape(value), ({"VALUE": ["text"]} if version in ("3.0", "4.0") else {})


_ADR_PARTS = ("street", "city", "region", "postal_code", "country")


def _params(type_: str, pref: bool, version: str) -> dict[str, list[str]]:
    types = type_.split()
    if pref and version != "4.0":
        types.append("pref")
    params: dict[str, list[str]] = {"TYPE": types} if types else {}
    if pref and version == "4.0":
        params["PREF"] = ["1"]
    return params


def _element_prop(kind: str, item: Mapping[str, Any], version: str, group: str) -> Property:
    """A new EMAIL/TEL/ADR/URL property for one canonical element."""
    type_ = str(item.get("type", ""))
    if kind == "addresses":
        value = ";;" + ";".join(escape(str(item.get(p, ""))) for p in _ADR_PARTS)
        return Property("ADR", value, _params(type_, False, version), group)
    text = str(item["value"])
    # URLs are URIs, not text: escaping their commas would change them for strict readers
    value = text.replace("\n", " ") if kind == "websites" else escape(text)
    return Property(_MULTI_PROPS[kind], value, _params(type_, bool(item.get("primary")), version), group)


def _element(kind: str, prop: Property, region: str) -> dict[str, Any] | None:
    """One property as the normalised element ``to_fields`` would make of it, with
    ``primary`` meaning "the property itself claims it" rather than "first in the list"."""
    items = items_fields([(prop.name, prop.params, prop.value)], _MULTI_ONLY, region)[0].get(kind)
    if not items:
        return None
    item: dict[str, Any] = items[0]
    if kind in ("emails", "phones"):
        item["primary"] = _type_of(prop)[1]
    return item


def _apply_multi(card: Card, kind: str, wanted: list[dict[str, Any]], version: str, region: str) -> None:
    """Keep the properties whose element is wanted as is, rewrite (in place) those whose
    type or preference changed, and write each new element over a property no longer
    wanted (one of the same type first: an edited address or email is a removal and an
    addition to the model, but one line to the person who edited it), so its group, its
    unmodelled params and an address's PO box stay. What is left is dropped or added
    after the last such property."""
    name = _MULTI_PROPS[kind]
    want = {element_key(kind, item): item for item in wanted}
    used: set[tuple[str, ...]] = set()
    out: list[Property] = []
    free: list[tuple[int, Property, str]] = []  # (place in out, property no longer wanted, its type)
    implicit: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}  # wanted primary, said without pref
    last = -1
    for prop in card.properties:
        if prop.name != name:
            out.append(prop)
            continue
        last = len(out)
        item = _element(kind, prop, region)
        if item is None:
            continue  # an empty value means nothing; the hub asked for the whole list
        key = element_key(kind, item)
        target = want.get(key)
        if target is None or key in used:
            free.append((len(out), prop, str(item.get("type", ""))))
            out.append(prop)  # a placeholder until the new elements are placed
            last = len(out)
            continue
        used.add(key)
        if kind == "emails" and item["value"] != target["value"]:
            target = {**target, "value": item["value"]}  # its case is the card's to keep
        if item == dict(target):
            out.append(prop)
        elif target.get("primary") and {**item, "primary": True} == dict(target):
            # primary only by being first: no rewrite needed if it stays first (below)
            implicit[id(prop)] = (target, item)
            out.append(prop)
        else:
            out.append(_rewrite(kind, target, version, prop, item))
        last = len(out)
    extra = [item for key, item in want.items() if key not in used]
    for same_type in (True, False):
        for item in list(extra):
            spot = next((f for f in free if not same_type or f[2] == item.get("type", "")), None)
            if spot is None:
                continue
            free.remove(spot)
            extra.remove(item)
            out[spot[0]] = _rewrite(kind, item, version, spot[1], None)
    position = last if last >= 0 else len(out)
    out[position:position] = [_element_prop(kind, item, version, "") for item in extra]
    gone = {id(prop) for _, prop, _ in free}  # placeholders no new element took
    emptied = {prop.group.upper() for _, prop, _ in free if prop.group}
    out = [p for p in out if id(p) not in gone]
    if emptied:
        # a group's label (Apple's itemN.X-ABLabel) goes with the last line it labelled
        still = {p.group.upper() for p in out if p.group and not p.name.startswith("X-AB")}
        out = [p for p in out if not (p.group.upper() in emptied - still and p.name.startswith("X-AB"))]
    first = next((i for i, p in enumerate(out) if p.name == name), -1)
    for i, p in enumerate(out):
        if id(p) in implicit and i != first:  # not first any more: it must say it
            target, said = implicit[id(p)]
            out[i] = _rewrite(kind, target, version, p, said)
    card.properties = out


def _rewrite(
    kind: str, target: Mapping[str, Any], version: str, old: Property, said: Mapping[str, Any] | None
) -> Property:
    """``target`` written over ``old``, which said ``said`` (None: another element). Kept
    from ``old``: its group, its params other than the type and (for an email or phone,
    whose preference the model holds) the preference, the TYPE values the model ignores
    (INTERNET, VOICE, POSTAL...; an address's or website's ``pref``), an address's PO box and the
    extended part of its street, and the value's own text where the value did not change
    (a phone in its notation, not E.164)."""
    new = _element_prop(kind, target, version, old.group)
    same_value = said is not None and all(
        said.get(part) == target.get(part) for part in ("value", *_ADR_PARTS) if part in target
    )
    if "CHARSET" in old.params or "ENCODING" in old.params:
        same_value = False  # the old text is in its transfer encoding: write it plainly
    # the model says which email and phone is preferred, not which address or website: an
    # address's ``pref`` (TYPE or PREF) is the card's to keep, as an unmodelled param is
    ours = kind in ("emails", "phones")
    drop = ("TYPE", "PREF") if ours else ("TYPE",)
    params = _kept_params(old, drop if same_value else (*drop, "VALUE", "LABEL"))
    noise = _NOISE[_MULTI_PROPS[kind]]
    types = [
        t.strip() for v in old.params.get("TYPE", ()) for t in v.split(",") if t.strip().lower() in noise
    ]
    types = [t for t in types if not ours or t.lower() != "pref"] + new.params.get("TYPE", [])
    if types:
        params["TYPE"] = types
    if "PREF" in new.params:
        params["PREF"] = new.params["PREF"]
    value = old.value if same_value else new.value
    if kind == "addresses" and not same_value:
        was = components(old.value) + [""] * 7
        street = str(target.get("street", ""))
        extended = was[1].strip()
        if extended and street.startswith(extended + "\n"):
            street = street[len(extended) + 1 :]
        else:
            extended = ""
        parts = [was[0], extended, street, *(str(target.get(p, "")) for p in _ADR_PARTS[1:])]
        value = ";".join(escape(part) for part in parts)
    return Property(new.name, value, params, old.group)


def _kept_params(old: Property | None, drop: tuple[str, ...]) -> dict[str, list[str]]:
    """The params of a property being rewritten, minus those its new value would make wrong."""
    if old is None:
        return {}
    gone = {"CHARSET", "ENCODING", *drop}
    return {k: v for k, v in old.params.items() if k not in gone}


def _replace_first(card: Card, name: str, make: Callable[[Property | None], Property | None]) -> None:
    """Replace the first ``name`` property with ``make(it)``; ``None`` removes every one of
    them, so that a cleared field does not read back as a duplicate hiding behind it."""
    index = next((i for i, p in enumerate(card.properties) if p.name == name), -1)
    new = make(card.properties[index] if index >= 0 else None)
    if new is None:
        card.properties = [p for p in card.properties if p.name != name]
    elif index >= 0:
        card.properties[index] = new
    else:
        card.properties.append(new)


def _struct_maker(
    name: str, slots: list[str | None], fields: Mapping[str, Any]
) -> Callable[[Property | None], Property | None]:
    def make(old: Property | None) -> Property | None:
        parts = _split(old.value) if old else []
        size = 5 if name == "N" else 1 + max(i for i, s in enumerate(slots) if s)
        parts += [""] * (size - len(parts))
        for i, slot in enumerate(slots):
            if slot:
                parts[i] = escape(str(fields.get(slot, "")))
        if name != "N":  # components beyond the ones we manage (ORG units) are kept
            while len(parts) > 1 and not parts[-1]:
                parts.pop()
            if not any(parts):
                return None
        params = _kept_params(old, ("SORT-AS",))
        return Property(name, ";".join(parts), params, old.group if old else "")

    return make


def _text_maker(
    name: str, text: str, fields: Mapping[str, Any], version: str
) -> Callable[[Property | None], Property | None]:
    def make(old: Property | None) -> Property | None:
        value = text
        if name == "FN" and not value:
            value = display_name_of(fields)  # FN is required: derive it, even if empty
        elif not value:
            return None
        params = _kept_params(old, ("VALUE", "X-APPLE-OMIT-YEAR"))
        if name == "BDAY":
            value, extra = format_bday(value, version)
            params.update(extra)
        else:
            value = escape(value)
        return Property(name, value, params, old.group if old else "")

    return make


def apply_fields(
    card: Card,
    fields: Mapping[str, Any],
    fmap: FieldMap,
    region: str = DEFAULT_REGION,
    version: str | None = None,
    current: Fields | None = None,
) -> None:
    """Make ``card`` say ``fields`` (the whole desired record), touching only what differs
    from ``current`` (what the card says now; read from it when not given)."""
    version = version or ("4.0" if card.version == "4.0" else "3.0")
    if current is None:
        current = read_fields(card, fmap, region)
    changed = {f for f in (*fmap.fields, *fields) if not field_equal(f, current.get(f), fields.get(f))}
    # an email standing in for a name (``email_stand_in``) is not written as one: a card
    # with no name keeps none, one whose name was cleared gets none (an email in FN, a
    # card's other stand-in, follows)
    nameless = fmap.text.get("FN") == "display_name" and email_stand_in(fields)
    if nameless and not current.get("display_name"):
        changed.discard("display_name")
    nameless = nameless and not email_stand_in(current)
    for prop_name, slots in fmap.struct.items():
        if changed.intersection(s for s in slots if s):
            _replace_first(card, prop_name, _struct_maker(prop_name, slots, fields))
    for prop_name, canonical in fmap.text.items():
        if canonical in changed:
            if prop_name == "FN" and nameless:  # a name cleared: no email written in its place
                _replace_first(card, prop_name, _text_maker(prop_name, "", {}, version))
                continue
            text = str(fields.get(canonical, ""))
            _replace_first(card, prop_name, _text_maker(prop_name, text, fields, version))
    for kind in MULTI_FIELDS:
        if kind in changed:
            _apply_multi(card, kind, list(fields.get(kind) or []), version, region)
    if changed:
        _touch_rev(card)
    if card.first("FN") is None:  # required (in 3.0 and 4.0): an empty one for a stand-in
        card.properties.append(Property("FN", "" if nameless else escape(display_name_of(fields))))
    if card.first("N") is None and version != "4.0":
        card.properties.append(Property("N", ";;;;"))  # required in 3.0


def _touch_rev(card: Card) -> None:
    """A card that says REV says when it last changed: programs that keep the newer of two
    copies by REV would otherwise take ours, just written, for the older one."""
    rev = card.first("REV")
    if rev is not None:
        rev.value = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        rev.params.pop("VALUE", None)
        rev.raw = None


def new_card(
    fields: Mapping[str, Any],
    fmap: FieldMap,
    uid: str,
    version: str = "3.0",
    region: str = DEFAULT_REGION,
) -> Card:
    """A fresh card for ``fields``: VERSION, PRODID, UID, FN, N, then the rest."""
    props = [Property("VERSION", version), Property("PRODID", PRODID)]
    props += [Property("UID", escape(uid)), Property("FN", escape(display_name_of(fields)))]
    if version != "4.0":
        props.append(Property("N", ";;;;"))
    card = Card(props, version)
    # FN is already what apply_fields would derive, so the card counts as saying nothing else
    derived = display_name_of(fields)
    current = {"display_name": derived} if derived and fmap.text.get("FN") == "display_name" else {}
    apply_fields(card, fields, fmap, region, version, current)
    return card
