"""Filters: which contacts a connector lets in and out.

A filter is a tree of conditions written in the hub file::

    filter = {all = [{field = "email", op = "ends_with", value = "@example.com"},
                     {any = [{field = "custom.trade", op = "in", value = ["Electrical", "HVAC"]},
                             {field = "job_title", op = "matches", value = "(?i)foreman"}]}]}

``compile_filter`` validates the whole tree once (unknown field, unknown operator, bad regex:
a ``ConfigError`` that says where), so a run never fails half-way on a typo.

Text comparisons ignore case (``matches`` excepted: write ``(?i)`` for that), because people
type "ACME" and "Acme" for the same company. Emails are seen lower-cased (``email_key``),
``matches`` included, as they were when the hub stored them so. On multi-valued fields (emails, phones,
websites, addresses) a condition holds when any value satisfies it; ``not_equals`` holds when
none equals, and ``is_empty`` when there is no value at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from contacthub.errors import ConfigError
from contacthub.model import ADDRESS_PARTS, CUSTOM_PREFIX, SCALAR_FIELDS, clean_text, email_key
from contacthub.names import invisible

Predicate = Callable[[Mapping[str, Any]], bool]

OPERATORS = (
    "equals",
    "not_equals",
    "contains",
    "starts_with",
    "ends_with",
    "in",
    "is_empty",
    "is_not_empty",
    "matches",
)

_MULTI_ALIASES = {
    "email": "emails",
    "emails": "emails",
    "phone": "phones",
    "phones": "phones",
    "website": "websites",
    "websites": "websites",
}


def _values(name: str) -> Callable[[Mapping[str, Any]], list[str]]:
    """A function returning the text values of field ``name`` of a flat contact."""
    if name in _MULTI_ALIASES:
        key = _MULTI_ALIASES[name]
        if key == "emails":
            # lower-cased, as emails were stored before they kept their case: a ``matches``
            # written for those ("^sales@") still holds for "Sales@Example.com" (else a
            # linked record read again left the filter, and was unlinked)
            return lambda f: [email_key(str(e["value"])) for e in f.get(key, ())]
        return lambda f: [str(e["value"]) for e in f.get(key, ())]
    if name in ("address", "addresses"):
        return lambda f: [
            ", ".join(str(a.get(p, "")) for p in ADDRESS_PARTS if a.get(p)) for a in f.get("addresses", ())
        ]
    part = name.removeprefix("address.")
    if part in ADDRESS_PARTS:
        return lambda f: [str(a[part]) for a in f.get("addresses", ()) if a.get(part)]
    if name == "name":
        name = "display_name"
    if name in SCALAR_FIELDS or (name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX)):
        return lambda f: [str(f[name])] if f.get(name) else []
    known = ", ".join(
        [
            *SCALAR_FIELDS,
            "name",
            "email",
            "phone",
            "website",
            "address",
            "address.<part>",
            "custom.<name>",
        ]
    )
    raise ConfigError(f"unknown field {name!r} (fields: {known})")


#: what to write instead of comparing with an empty or blank text (``_no_empty_text``)
_INSTEAD = {
    "in": 'op = "is_empty" (or any = [{op = "is_empty"}, {op = "in", value = [...]}])',
    "equals": 'op = "is_empty"',
    "not_equals": 'op = "is_not_empty"',
}
#: operators for which an empty text holds for every field with a value
_HAS_A_VALUE = frozenset({"contains", "starts_with", "ends_with"})


def _blank(text: str) -> bool:
    """Whether ``text`` is nothing once normalised as a field's value is (``clean_text``:
    trimmed, so ``" "`` and a no-break space are nothing) with the characters that are not
    seen (a zero-width space, ``names.invisible``) left out too: no field holds it as a
    value one could mean."""
    cleaned = clean_text(text)
    return not cleaned or all(invisible(ch) for ch in cleaned)


def _no_empty_text(op: str, value: Any, where: str) -> None:
    """Refuse an empty or blank text to compare with (``in [""]``, ``equals " "``): a field
    with no value has no text at all, and a field's value is trimmed, so ``in [""]`` and
    ``equals " "`` never match, and ``not_equals ""`` matches every field with a value.
    Taken without a word, a filter meant as ``is_empty`` let nobody in (QA); ``contains ""``
    (``starts_with``, ``ends_with``) held for every field with a value. An error, not a
    warning: such a filter is always a slip, and a warning in ``apply``'s output went unread."""
    texts = value if op == "in" and isinstance(value, list) else [value]
    if op == "contains":
        # only the empty text: a blank one is a real test (``contains " "``, a name of two
        # words), where a value, trimmed, never starts or ends with one
        texts = [v for v in texts if v == ""]
    blank = next((v for v in texts if isinstance(v, str) and _blank(v)), None)
    if blank is None:
        return
    if op in _INSTEAD:
        raise ConfigError(
            f"{op!r} with an empty text ({blank!r}) never holds as meant: a field with no value"
            f" has no text to compare, and a value is trimmed; for an empty field write {_INSTEAD[op]}",
            where,
        )
    if op in _HAS_A_VALUE:
        raise ConfigError(
            f"{op!r} with an empty text ({blank!r}) does not test what it seems to: an empty one"
            " holds for every field with a value, and a value is trimmed; for a field with a value"
            """ write op = "is_not_empty" (for a blank inside a value, op = "contains", value = " ")""",
            where,
        )


def _test(op: str, value: Any, where: str, strict: bool = False) -> Callable[[list[str]], bool]:
    """The test one operator applies to a field's list of values (``strict``:
    ``_no_empty_text`` too)."""
    if op not in OPERATORS:
        raise ConfigError(f"unknown operator {op!r} (operators: {', '.join(OPERATORS)})", where)
    if strict:
        _no_empty_text(op, value, where)
    if op in ("is_empty", "is_not_empty"):
        return (lambda vs: not vs) if op == "is_empty" else (lambda vs: bool(vs))
    if op == "in":
        if not isinstance(value, list) or not value:
            raise ConfigError("'in' needs a non-empty list as value", where)
        choices = {str(v).casefold() for v in value}
        return lambda vs: any(v.casefold() in choices for v in vs)
    if value is None or isinstance(value, (list, dict)):
        raise ConfigError(f"{op!r} needs a text value", where)
    text = str(value)
    if op == "matches":
        search = _regex(text, where)
        return lambda vs: any(search(v) for v in vs)
    folded = text.casefold()
    tests: dict[str, Callable[[list[str]], bool]] = {
        "equals": lambda vs: any(v.casefold() == folded for v in vs),
        "not_equals": lambda vs: all(v.casefold() != folded for v in vs),
        "contains": lambda vs: any(folded in v.casefold() for v in vs),
        "starts_with": lambda vs: any(v.casefold().startswith(folded) for v in vs),
        "ends_with": lambda vs: any(v.casefold().endswith(folded) for v in vs),
    }
    return tests[op]


#: the deepest nesting of ``all``/``any`` groups a filter may have: a person writes two or
#: three; one nested 150 deep failed to be stored (orjson's recursion limit), deeper ones
#: hit Python's, each a traceback
MAX_NESTING = 32


def compile_filter(
    spec: Mapping[str, Any] | None, where: str = "filter", *, strict: bool = False
) -> Predicate | None:
    """A predicate over flat contacts, or None for "no filter" (everything passes).
    ``strict`` where a filter is set (a hub file, the dashboard, the API): an empty text to
    compare with is refused too (``_no_empty_text``); a run reads a filter stored before
    as it was, rather than fail every run of the hub."""
    if not spec:
        return None
    if _nesting(spec) > MAX_NESTING:
        raise ConfigError(f"groups nest more than {MAX_NESTING} deep: write the filter flatter", where)
    return _compile(spec, where, strict)


def _nesting(spec: Any) -> int:
    """How deep ``all``/``any`` groups nest (a loop, not recursion: it runs before the
    recursive ``_compile``), counted no further than one past ``MAX_NESTING``."""
    deepest, level = 0, [spec]
    while level and deepest <= MAX_NESTING:
        groups = [
            items
            for node in level
            if isinstance(node, Mapping)
            for kind in ("all", "any")
            if isinstance(items := node.get(kind), list)
        ]
        if not groups:
            break
        deepest += 1
        level = [item for items in groups for item in items]
    return deepest


def _compile(spec: Any, where: str, strict: bool = False) -> Predicate:
    if not isinstance(spec, Mapping):
        raise ConfigError("a condition must be a table such as {field=..., op=..., value=...}", where)
    groups = [k for k in ("all", "any") if k in spec]
    if groups:
        if len(spec) != 1:
            raise ConfigError("a group holds only 'all' or only 'any'", where)
        kind = groups[0]
        items = spec[kind]
        if not isinstance(items, list) or not items:
            raise ConfigError(f"'{kind}' needs a non-empty list of conditions", where)
        parts = [_compile(item, f"{where}.{kind}[{i}]", strict) for i, item in enumerate(items)]
        if kind == "all":
            return lambda f: all(p(f) for p in parts)
        return lambda f: any(p(f) for p in parts)
    unknown = set(spec) - {"field", "op", "value"}
    if unknown or "field" not in spec or "op" not in spec:
        raise ConfigError("a condition needs 'field', 'op' and (mostly) 'value'", where)
    value = spec.get("value")
    try:
        values = _values(str(spec["field"]))
    except ConfigError as exc:
        raise ConfigError(exc.message, where) from None
    test = _test(str(spec["op"]), value, where, strict)
    if isinstance(value, Mapping) or (
        isinstance(value, list) and any(isinstance(v, (list, Mapping)) for v in value)
    ):
        # what ``_test`` lets by ('in' items, an ignored value): nested lists mean nothing
        # here, and 200 deep could not be stored (orjson's recursion limit)
        raise ConfigError("'value' is a text, or a list of texts for 'in'", where)
    return lambda f: test(values(f))


#: the longest ``matches`` pattern: what a person writes for a filter is far shorter
MAX_PATTERN = 2000


def _regex(text: str, where: str) -> Callable[[str], object]:
    """A ``matches`` pattern, compiled by RE2, whose time is linear in the text: Python's
    ``re`` backtracks, and a pattern like ``(a+)+$`` (any user may set a filter through
    the API) took minutes on a 30-character note, holding the hub and the scheduler. RE2
    has no backreferences or lookaround; such a pattern is refused, saying so."""
    import re2

    if len(text) > MAX_PATTERN:
        raise ConfigError(
            f"a regular expression may have at most {MAX_PATTERN} characters, not {len(text)}", where
        )
    options = re2.Options()
    options.log_errors = False  # the error is the user's, told below, not a line on stderr
    # a filter asks whether the text matches, never for groups: with 10,000 of them, each
    # search took seconds, whatever the text
    options.never_capture = True
    try:
        pattern = re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ConfigError(
            f"invalid regular expression {text!r}: {reason} (RE2 syntax: no backreferences or lookaround)",
            where,
        ) from None
    return pattern.search  # type: ignore[no-any-return]
