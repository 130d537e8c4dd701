"""Keeping secrets out of what contacthub says: log lines, run errors, test answers.

Two ways, used together. ``redact`` knows the shapes secrets take in text (a password in a
URL, ``Authorization`` values, ``token=``/``secret=`` pairs, a URL's query fields named like
a secret, a webhook receiver's token) and masks them whatever produced the text. ``mask``
masks given values wherever they appear, also URL-encoded: the secrets a request carried
(``sent_secrets``: a vendor, a proxy or a debugging sign-in server that quotes the request
in its error put the API token into the run's errors, shown to every user of the hub) and a
connector's secret settings and its URLs' query values (``url_secrets``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

MASK = "********"
#: words in a header, query or form field name that say its value is secret
_SECRET_NAMES = (
    "token",
    "secret",
    "password",
    "passwd",
    "key",
    "auth",
    "cookie",
    "assertion",
    "code",
    "signature",
)
#: whole names that say so (as words they are in too many others: "design", "assigned")
_SECRET_FIELDS = frozenset({"sig"})
_PATTERNS = [
    # scheme://user:password@host -> scheme://user:********@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), rf"\1{MASK}@"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {MASK}"),
    (
        re.compile(
            r"(?i)\b((?:access_|refresh_|id_|api_)?token|password|passwd|secret|client_secret|clientstate"
            r"|api_key|validationtoken)([\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}]+"
        ),
        rf"\1\2{MASK}",
    ),
    # a URL's query field named like a secret (?apikey=, &sig=): a connector's URL said it
    (
        re.compile(
            rf"(?i)([?&](?:[\w.~-]*(?:{'|'.join(_SECRET_NAMES)})[\w.~-]*|{'|'.join(_SECRET_FIELDS)})=)"
            r"[^&#\s\"'<>]+"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(/hooks/[a-z0-9-]+/)[A-Za-z0-9_-]{8,}"), rf"\1{MASK}"),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), rf"\1{MASK}@"),  # https://user:password@host
]
#: values shorter than this are not masked: "id", "1" would mask half of every message
_SHORTEST = 4


def redact(text: str) -> str:
    """``text`` with every secret of a known shape masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub(text: str, values: Iterable[str] = ()) -> str:
    """``text`` with ``values`` masked (``mask``), then every secret of a known shape
    (``redact``): what every message said of a connector goes through."""
    return redact(mask(text, values))


def mask(text: str, values: Iterable[str]) -> str:
    """``text`` with each of ``values`` masked, as it is and in the encodings a server may
    echo it in (URL-encoded, every sign percent-encoded, HTML entities: "Zq9%2Dhunter2" and
    "Zq9&#45;hunter2" went through); longest first, so a secret that contains another is
    masked whole."""
    for value in sorted({v for v in values if v and len(v) >= _SHORTEST}, key=len, reverse=True):
        for form in _forms(value):
            if form in text:
                text = text.replace(form, MASK)
    return text


def _forms(value: str) -> set[str]:
    upper = "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in value)
    lower = "".join(c if c.isalnum() else f"%{ord(c):02x}" for c in value)
    entities = "".join(c if c.isalnum() else f"&#{ord(c)};" for c in value)
    return {value, quote(value, safe=""), quote_plus(value), upper, lower, entities}


def sent_secrets(request: Any) -> list[str]:
    """The secret values an ``httpx.Request`` carried: headers whose name says so (the value,
    the credentials after its scheme, a Basic pair's password), and query and form or JSON
    body fields whose name says so."""
    out: list[str] = []
    for name, value in request.headers.items():
        if _secret_name(name):
            out.append(value)
            scheme, _, credentials = value.partition(" ")
            if credentials:
                out.append(credentials)
                if scheme.lower() == "basic":
                    out += _basic_pair(credentials)
    out += [v for k, v in request.url.params.multi_items() if _secret_name(k)]
    try:
        body = request.content.decode("utf-8", "replace")
    except Exception:  # a streamed body, never read here
        return out
    kind = request.headers.get("content-type", "")
    if "x-www-form-urlencoded" in kind:
        out += [v for k, v in parse_qsl(body) if _secret_name(k)]
    elif "json" in kind:
        try:
            data = json.loads(body)
        except ValueError:
            return out
        if isinstance(data, dict):
            out += [str(v) for k, v in data.items() if _secret_name(str(k)) and isinstance(v, str | int)]
    return out


def url_secrets(url: str) -> list[str]:
    """The values of a URL's query fields (``https://dav.example/books/?token=...``), as
    written and decoded: masked wherever the URL's connector is spoken of. Every value, not
    only those named like a secret: a server that lets in by a token in the URL names the
    field as it likes (``?t=``, ``?k=``, ``?share=``), and a connector's URL holds no query
    otherwise."""
    try:
        query = urlsplit(url).query
    except ValueError:  # no URL (``http://[::1``): its query as written, cut by ``_query``
        query = "&".join(k if v is None else f"{k}={v}" for k, v in _query(url)[1])
    decoded = [v for _k, v in parse_qsl(query, keep_blank_values=True) if v]
    return decoded + [v for _k, v in _query(url)[1] if v]


def hide_url_secrets(url: str) -> str:
    """``url`` as shown and stored (``store.secrets.split_settings``): every value of its
    query masked (``?user=********&token=********``, see ``url_secrets`` for why every one),
    the names, the rest of the URL and a field without a value as written."""
    head, fields, tail = _query(url)
    return _url(head, [(k, MASK if v else v) for k, v in fields], tail)


def unhide_url_secrets(url: str, stored: str) -> str:
    """``url`` sent back as shown (``hide_url_secrets``): each masked query value is the one
    the ``stored`` URL has in the field of that name."""
    if f"={MASK}" not in url:
        return url
    old = {k: v for k, v in reversed(_query(stored)[1]) if v is not None}
    head, fields, tail = _query(url)
    return _url(head, [(k, old.get(k, v) if v == MASK else v) for k, v in fields], tail)


def _query(url: str) -> tuple[str, list[tuple[str, str | None]], str]:
    """``url`` cut around its query (up to and with the ``?``, its fields as written, the
    fragment); a field without ``=`` has the value None."""
    start = url.find("?")
    if start < 0:
        return url, [], ""
    end = url.find("#", start)
    end = len(url) if end < 0 else end
    fields = [field.partition("=") for field in url[start + 1 : end].split("&")]
    return url[: start + 1], [(k, v if eq else None) for k, eq, v in fields], url[end:]


def _url(head: str, fields: list[tuple[str, str | None]], tail: str) -> str:
    return head + "&".join(k if v is None else f"{k}={v}" for k, v in fields) + tail


def _secret_name(name: str) -> bool:
    lower = name.lower()
    return lower in _SECRET_FIELDS or any(word in lower for word in _SECRET_NAMES)


def _basic_pair(credentials: str) -> list[str]:
    try:
        pair = base64.b64decode(credentials, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return []
    _user, _, password = pair.partition(":")
    return [pair, password] if password else [pair]
