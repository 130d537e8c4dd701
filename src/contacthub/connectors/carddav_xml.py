"""WebDAV and CardDAV XML: the request bodies the CardDAV connector sends and a reader of
the ``multistatus`` answers (RFC 4918, RFC 6352, RFC 6578).

Kept apart from the connector so the wire format can be read and tested on its own. The
standard library's ElementTree is enough: answers are parsed whole (a listing of 10,000
etags is about 1.5 MB), and expat (2.4.1 and later, as shipped with Python 3.11+) refuses
entity-expansion bombs; external entities are never fetched.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

from contacthub.errors import FatalConnectorError

DAV = "DAV:"
CARD = "urn:ietf:params:xml:ns:carddav"
_D = "{DAV:}"
_C = "{urn:ietf:params:xml:ns:carddav}"

_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'

PROPFIND_ETAGS = (
    f'{_HEAD}<d:propfind xmlns:d="DAV:"><d:prop>'
    "<d:getetag/><d:getcontenttype/><d:resourcetype/></d:prop></d:propfind>"
)
PROPFIND_DISCOVERY = (
    f'{_HEAD}<d:propfind xmlns:d="DAV:" xmlns:c="{CARD}"><d:prop>'
    "<d:resourcetype/><d:current-user-principal/><c:addressbook-home-set/>"
    "<d:displayname/><d:supported-report-set/></d:prop></d:propfind>"
)


def sync_collection(token: str | None) -> str:
    """An RFC 6578 ``sync-collection`` asking for etags only (the cards themselves come from
    ``addressbook-multiget``, and only for the members whose etag is not the one we know)."""
    tok = f"<d:sync-token>{escape(token)}</d:sync-token>" if token else "<d:sync-token/>"
    return (
        f'{_HEAD}<d:sync-collection xmlns:d="DAV:">{tok}<d:sync-level>1</d:sync-level>'
        "<d:prop><d:getetag/></d:prop></d:sync-collection>"
    )


def multiget(hrefs: Iterable[str]) -> str:
    """An RFC 6352 ``addressbook-multiget`` of the given (already quoted) hrefs."""
    refs = "".join(f"<d:href>{escape(h)}</d:href>" for h in hrefs)
    return (
        f'{_HEAD}<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="{CARD}">'
        f"<d:prop><d:getetag/><d:getlastmodified/><c:address-data/></d:prop>{refs}"
        "</c:addressbook-multiget>"
    )


def query_email(address: str) -> str:
    """An RFC 6352 ``addressbook-query`` for cards with an EMAIL equal to ``address``."""
    return (
        f'{_HEAD}<c:addressbook-query xmlns:d="DAV:" xmlns:c="{CARD}">'
        "<d:prop><d:getetag/><c:address-data/></d:prop>"
        '<c:filter><c:prop-filter name="EMAIL">'
        f'<c:text-match collation="i;unicode-casemap" match-type="equals">{escape(address)}'
        "</c:text-match></c:prop-filter></c:filter></c:addressbook-query>"
    )


def mkcol_addressbook(name: str) -> str:
    """An extended MKCOL (RFC 5689) making an address book called ``name``."""
    return (
        f'{_HEAD}<d:mkcol xmlns:d="DAV:" xmlns:c="{CARD}"><d:set><d:prop>'
        "<d:resourcetype><d:collection/><c:addressbook/></d:resourcetype>"
        f"<d:displayname>{escape(name)}</d:displayname></d:prop></d:set></d:mkcol>"
    )


@dataclass(slots=True)
class Member:
    """One ``response`` of a multistatus: its href (the path, percent-decoded), the HTTP
    status of the properties found (or of the resource itself, e.g. 404 for a member gone
    from a sync-collection), and the properties we read."""

    href: str
    status: int = 200
    etag: str | None = None
    content_type: str | None = None
    collection: bool = False
    addressbook: bool = False
    data: str | None = None
    last_modified: str | None = None
    displayname: str | None = None
    principal: str | None = None
    home: str | None = None
    reports: set[str] = field(default_factory=set)


@dataclass(slots=True)
class MultiStatus:
    members: list[Member]
    sync_token: str | None = None
    truncated: bool = False  # a 507 on the request URI: more changes remain (RFC 6578 3.6)


def href_path(href: str) -> str:
    """The percent-decoded path of an href, absolute or relative to the server (the
    common case, a path, without a URL parser: this runs once per member)."""
    href = href.strip()
    if href.startswith("/") and not href.startswith("//"):
        path = href.partition("?")[0].partition("#")[0]
    else:
        path = urlsplit(href).path
    return unquote(path) if "%" in path else path


def path_of(url: str) -> str:
    """The (quoted) path of a URL given as text."""
    return urlsplit(url).path


def quote_path(path: str) -> str:
    """A decoded path in the form sent on the wire (the inverse of ``href_path``)."""
    return quote(path, safe="/@:+=,;~!$&'()*")


def _status(element: ET.Element | None) -> int | None:
    if element is None or not element.text:
        return None
    parts = element.text.split()
    try:
        return int(parts[1]) if len(parts) > 1 else None
    except ValueError:
        return None


def _href_of(element: ET.Element | None) -> str | None:
    if element is None:
        return None
    href = element.find(f"{_D}href")
    return href_path(href.text) if href is not None and href.text else None


def parse_multistatus(body: bytes, where: str, connector: str, request_path: str = "") -> MultiStatus:
    """Read a ``207 Multi-Status`` body; ``FatalConnectorError`` if it is not one. A 507 on
    ``request_path`` itself (a truncated sync-collection) sets ``truncated``."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise FatalConnectorError(
            f"{where} answered with XML that cannot be read ({exc})", connector
        ) from None
    if root.tag != f"{_D}multistatus":
        raise FatalConnectorError(f"{where} did not answer with a WebDAV multistatus", connector)
    out = MultiStatus([])
    token = root.find(f"{_D}sync-token")
    if token is not None and token.text:
        out.sync_token = token.text.strip()
    for response in root.iter(f"{_D}response"):
        href = response.find(f"{_D}href")
        if href is None or not href.text:
            continue
        member = Member(href_path(href.text))
        own = _status(response.find(f"{_D}status"))
        if own is not None:
            member.status = own
            if own == 507 and request_path and member.href.rstrip("/") == request_path.rstrip("/"):
                out.truncated = True
                continue
        found = False
        for propstat in response.findall(f"{_D}propstat"):
            status = _status(propstat.find(f"{_D}status")) or 200
            prop = propstat.find(f"{_D}prop")
            if prop is None or not 200 <= status < 300:
                continue
            found = True
            _read_props(prop, member)
        if own is None and not found and response.findall(f"{_D}propstat"):
            member.status = 404  # every property missing: the resource is not there (multiget)
        out.members.append(member)
    return out


def _read_props(prop: ET.Element, member: Member) -> None:
    for child in prop:
        tag = child.tag
        if tag == f"{_D}getetag":
            member.etag = (child.text or "").strip() or None
        elif tag == f"{_C}address-data":
            member.data = child.text or ""
        elif tag == f"{_D}getlastmodified":
            member.last_modified = (child.text or "").strip() or None
        elif tag == f"{_D}getcontenttype":
            member.content_type = (child.text or "").strip() or None
        elif tag == f"{_D}resourcetype":
            member.collection = child.find(f"{_D}collection") is not None
            member.addressbook = child.find(f"{_C}addressbook") is not None
        elif tag == f"{_D}displayname":
            member.displayname = (child.text or "").strip() or None
        elif tag == f"{_D}current-user-principal":
            member.principal = _href_of(child)
        elif tag == f"{_C}addressbook-home-set":
            member.home = _href_of(child)
        elif tag == f"{_D}supported-report-set":
            for report in child.iter(f"{_D}report"):
                member.reports.update(e.tag for e in report)


SYNC_REPORT = f"{_D}sync-collection"
MULTIGET_REPORT = f"{_C}addressbook-multiget"
