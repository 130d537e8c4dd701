"""The WebDAV XML reader on answers shaped as in RFC 6578 and RFC 6352 (servers other than
Radicale send properties Radicale does not, and may truncate a sync-collection)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from contacthub.connectors import carddav_xml as dav
from contacthub.errors import FatalConnectorError

SYNC_ANSWER = b"""<?xml version="1.0" encoding="utf-8" ?>
<D:multistatus xmlns:D="DAV:">
  <D:response>
    <D:href>http://example.com/home/cyrus/book/new%20one.vcf</D:href>
    <D:propstat>
      <D:prop><D:getetag>"33441-34321"</D:getetag>
        <D:getlastmodified>Tue, 15 Nov 1994 12:45:26 GMT</D:getlastmodified></D:prop>
      <D:status>HTTP/1.1 200 OK</D:status>
    </D:propstat>
  </D:response>
  <D:response>
    <D:href>/home/cyrus/book/gone.vcf</D:href>
    <D:status>HTTP/1.1 404 Not Found</D:status>
  </D:response>
  <D:response>
    <D:href>/home/cyrus/book/</D:href>
    <D:status>HTTP/1.1 507 Insufficient Storage</D:status>
    <D:error><D:number-of-matches-within-limits/></D:error>
  </D:response>
  <D:sync-token>http://example.com/ns/sync/1238</D:sync-token>
</D:multistatus>
"""


def test_sync_answer() -> None:
    status = dav.parse_multistatus(SYNC_ANSWER, "book", "dav", "/home/cyrus/book/")
    assert status.sync_token == "http://example.com/ns/sync/1238"
    assert status.truncated
    new, gone = status.members
    assert (new.href, new.status, new.etag) == ("/home/cyrus/book/new one.vcf", 200, '"33441-34321"')
    assert new.last_modified == "Tue, 15 Nov 1994 12:45:26 GMT"
    assert (gone.href, gone.status, gone.etag) == ("/home/cyrus/book/gone.vcf", 404, None)


def test_multiget_answer_with_a_missing_member() -> None:
    body = b"""<?xml version="1.0"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
 <response><href>/b/a.vcf</href><propstat><prop><getetag>"1"</getetag>
  <C:address-data>BEGIN:VCARD&#13;
VERSION:3.0&#13;
END:VCARD&#13;
</C:address-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
 <response><href>/b/x.vcf</href><propstat><prop><getetag/><C:address-data/></prop>
  <status>HTTP/1.1 404 Not Found</status></propstat></response>
</multistatus>"""
    found, missing = dav.parse_multistatus(body, "b", "dav").members
    assert found.data == "BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n"
    assert missing.status == 404 and missing.data is None


def test_discovery_properties() -> None:
    body = b"""<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:response>
<d:href>/</d:href><d:propstat><d:prop>
<d:resourcetype><d:collection/></d:resourcetype>
<d:current-user-principal><d:href>/principals/alice/</d:href></d:current-user-principal>
<c:addressbook-home-set><d:href>/dav/alice/</d:href></c:addressbook-home-set>
</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
<d:propstat><d:prop><d:displayname/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>
</d:response></d:multistatus>"""
    [root] = dav.parse_multistatus(body, "/", "dav").members
    assert root.collection and not root.addressbook
    assert (root.principal, root.home, root.displayname) == ("/principals/alice/", "/dav/alice/", None)


@pytest.mark.parametrize("body", [b"<html>nope</html>", b"not xml at all", b"<a><b></a>"])
def test_not_a_multistatus_is_fatal(body: bytes) -> None:
    with pytest.raises(FatalConnectorError):
        dav.parse_multistatus(body, "http://h/b/", "dav")


def test_entity_expansion_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">' % ((i,) + (i - 1,) * 10)
            for i in range(98, 108)
        )
        + b']><d:multistatus xmlns:d="DAV:">&k;</d:multistatus>'
    )
    with pytest.raises(FatalConnectorError):
        dav.parse_multistatus(bomb, "http://h/b/", "dav")


def test_request_bodies_are_well_formed_and_escaped() -> None:
    sync = ET.fromstring(dav.sync_collection("http://x/sync?a=1&b=<2>"))
    assert sync.findtext("{DAV:}sync-token") == "http://x/sync?a=1&b=<2>"
    get = ET.fromstring(dav.multiget(["/b/a%20b.vcf", "/b/&.vcf"]))
    assert [h.text for h in get.iter("{DAV:}href")] == ["/b/a%20b.vcf", "/b/&.vcf"]
    query = ET.fromstring(dav.query_email("o'<x>@example.com"))
    assert "o'<x>@example.com" in "".join(query.itertext())
    assert dav.href_path(dav.quote_path("/b/a b%c@d.vcf")) == "/b/a b%c@d.vcf"
