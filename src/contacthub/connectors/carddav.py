"""A CardDAV address book (RFC 6352): Radicale, Nextcloud, Baïkal, iCloud, Fastmail...

Reading. The cursor holds the address book's URL (found once by discovery) and the
server's sync-token, so a run with nothing new is one ``sync-collection`` REPORT (RFC 6578)
answering "no change". Changed members come back with their etags only; the cards whose
etag differs from the one the hub knows are fetched with ``addressbook-multiget`` in
batches. A token the server no longer accepts (expired, or the collection was recreated)
means a full listing: the same REPORT without a token, compared with the known etags, so
nothing is lost and deletions are seen by absence. Servers without sync support are
listed with a PROPFIND of etags (Depth 1).

Writing. A create is a PUT with ``If-None-Match: *`` (never replaces a card someone else
made under that name), an update a PUT with ``If-Match`` of the etag the hub last read, a
deletion a DELETE with ``If-Match``. A 412 is a ``StaleVersionError``: someone changed the
card since the hub read it, so it is left as it is and the next pull merges it. An update
rewrites the server's own card (fetched with one multiget per batch), so every property
the hub does not model (PHOTO, X-..., groups, CATEGORIES) survives, as in ``vcard_dir``.

Discovery (RFC 6764): ``url`` may be the address book itself, or a server whose
``/.well-known/carddav``, ``current-user-principal`` and ``addressbook-home-set`` lead to
the user's address books; ``addressbook`` picks one by name, ``create = true`` makes it
(extended MKCOL, RFC 5689) when it is missing.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx

from contacthub.connectors import carddav_xml as dav
from contacthub.connectors.base import (
    Capabilities,
    Connector,
    ConnectorConfig,
    ConnectUI,
    Pull,
    Record,
    WriteOp,
    WriteResult,
)
from contacthub.connectors.carddav_session import DavSession
from contacthub.connectors.http import ApiClient, Auth, HeaderAuth, NoAuth, Transport, error_for
from contacthub.connectors.vcard_dir import VCardDirConnector
from contacthub.errors import (
    ConfigError,
    FatalConnectorError,
    RecordError,
    RecordNotFoundError,
    StaleVersionError,
)
from contacthub.formats.vcard import VCardCodec

#: hub ids usable as member names as they are (others get a random name)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,150}")
_VCARD = "text/vcard; charset=utf-8"
#: answers to a sync-collection meaning "this server or collection cannot do it"
_NO_SYNC = frozenset({400, 403, 404, 405, 409, 412, 415, 422, 501})


class CardDavConnector(Connector):
    """Settings: ``url`` (server or address book), ``username`` + ``password`` (basic auth;
    the password may also be given once with ``contacthub connect``) or ``token`` (bearer),
    ``addressbook`` (which one, by path name or display name), ``create`` (make it when
    missing), ``version`` (3.0 or 4.0 for new cards), ``batch`` (cards per multiget),
    ``verify`` (false, or a CA bundle path, for self-signed servers), ``timeout``."""

    type: ClassVar[str] = "carddav"
    capabilities: ClassVar[Capabilities] = Capabilities(
        create=True, update=True, delete=True, deactivate=False, delta=True, batch_size=100
    )
    secret_settings: ClassVar[frozenset[str]] = frozenset({"password", "token"})
    default_mapping: ClassVar[Mapping[str, str]] = VCardDirConnector.default_mapping

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        settings = config.settings
        raw = str(settings.get("url") or "")
        if not raw:
            raise ConfigError("the setting 'url' (the CardDAV server or address book) is required", self.name)
        try:
            url = httpx.URL(raw)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ConfigError(f"'url' is not a URL: {exc}", self.name) from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"'url' must be an http:// or https:// URL, not {raw!r}", self.name)
        self.url = url
        version = settings.get("version")
        if version is not None and str(version) not in ("3.0", "4.0"):
            raise ConfigError(f"version must be 3.0 or 4.0, not {version!r}", self.name)
        self.addressbook = str(settings.get("addressbook") or "").strip("/") or None
        self.create_missing = bool(settings.get("create", False))
        self.batch = max(1, int(settings.get("batch", 500)))
        self.username = str(settings.get("username") or "")
        self.codec = VCardCodec(config.mapping, config.region, str(version) if version else None)
        verify = settings.get("verify", True)
        transport = Transport(verify=verify if isinstance(verify, str | bool) else True)
        self.client = ApiClient(
            str(url.copy_with(path="/", query=None, fragment=None)),
            connector=self.name,
            auth=self._auth(),
            timeout=float(settings.get("timeout", 60)),
            transport=transport,
            max_attempts=int(settings.get("attempts", 6)),
        )
        self.dav = DavSession(self.client, url, self.username, self.name)
        self.book: httpx.URL | None = None  # the address book, once known
        self._base = ""  # its URL as text, members' URLs are this + their quoted name
        self._prefix = ""  # its decoded path, members' paths are this + their name

    def _auth(self) -> Auth:
        settings = self.config.settings
        token = settings.get("token")
        if token:
            return HeaderAuth("Authorization", f"Bearer {token}")
        password = settings.get("password") or self.config.credentials.load().get("password")
        if self.username or password:
            pair = f"{self.username}:{password or ''}".encode()
            return HeaderAuth("Authorization", "Basic " + base64.b64encode(pair).decode("ascii"))
        return NoAuth()

    @property
    def fields(self) -> frozenset[str] | None:
        return self.codec.fields

    def api_calls(self) -> dict[str, int]:
        return dict(self.client.calls)

    def close(self) -> None:
        self.client.close()

    def _book(self) -> httpx.URL:
        if self.book is None:
            self._set_book(self.dav.discover(self.addressbook, self.create_missing))
        assert self.book is not None
        return self.book

    def _set_book(self, url: httpx.URL) -> None:
        self.book = url
        self._base = str(url.copy_with(query=None, fragment=None))
        self._prefix = url.path

    def _member_url(self, native_id: str) -> str:
        """A member's URL; a native id is its name in the address book, nothing else (so
        no answer of a server can make us write outside the address book). Built as text:
        an ``httpx.URL`` per card costs more than parsing the card."""
        if not native_id or native_id in (".", "..") or "/" in native_id:
            raise RecordError("not a member of the address book", native_id, self.name)
        self._book()
        return self._base + dav.quote_path(native_id)

    def _is_member(self, native_id: str) -> bool:
        try:
            self._member_url(native_id)
        except RecordError:
            return False
        return True

    def _native_id(self, path: str) -> str | None:
        """The native id of a member's decoded path: its name inside the address book
        (``None`` for anything else, which is skipped)."""
        self._book()
        prefix = self._prefix
        name = path[len(prefix) :] if path.startswith(prefix) else ""
        return name if name and "/" not in name and name not in (".", "..") else None

    # --- reading --------------------------------------------------------------------------

    def _where(self) -> str:
        """What the cursor's address book was found from: another ``url`` or ``addressbook``
        setting means discovering it again."""
        return f"{self.url}#{self.addressbook or ''}"

    def _state(self, cursor: str | None) -> dict[str, Any]:
        """The cursor's book and token, when it was made for these settings."""
        if not cursor:
            return {}
        try:
            state = json.loads(cursor)
        except ValueError:
            return {}
        if not isinstance(state, dict) or state.get("from") != self._where() or not state.get("book"):
            return {}
        return state

    def pull(self, cursor: str | None, known: Mapping[str, str]) -> Pull:
        state = self._state(cursor)
        if self.book is None and state:
            self._set_book(httpx.URL(str(state["book"])))
            try:
                return self._pull(state, known)
            except FatalConnectorError:
                # the address book the cursor names is gone (deleted, moved): find it again
                self.book = None
                state = {}
        return self._pull(state, known)

    def _pull(self, state: dict[str, Any], known: Mapping[str, str]) -> Pull:
        book = self._book()
        token = state.get("token") if isinstance(state.get("token"), str) else None
        if token and "" in known.values():
            # versions forgotten (the connector's settings changed): every record must be
            # read again, which only a full listing can tell
            token = None
        listing: dict[str, str | None] | None = None
        complete = True
        new_token: str | None = None
        if state.get("sync", True):
            if token:
                synced = self._sync(book, token)
                if synced is not None:
                    listing, new_token = synced
                    complete = False
            if listing is None:
                synced = self._sync(book, None)  # a full listing: first run, or token refused
                if synced is not None:
                    listing, new_token = synced
        sync = listing is not None
        if listing is None:
            listing = dict(self._propfind_etags(book))
        deleted = {nid for nid, etag in listing.items() if etag is None and nid in known}
        if complete:
            deleted |= {nid for nid in known if nid not in listing}
        changed = [nid for nid, etag in listing.items() if etag is not None and known.get(nid) != etag]
        listed = sum(1 for etag in listing.values() if etag is not None) if complete else 0
        cursor_out = json.dumps({"from": self._where(), "book": str(book), "token": new_token, "sync": sync})
        return Pull(self._fetch(changed, known, deleted), deleted, complete, listed, cursor_out)

    def _sync(self, book: httpx.URL, token: str | None) -> tuple[dict[str, str | None], str] | None:
        """Members changed since ``token`` (all members without one): native id -> etag,
        ``None`` for a member gone; and the new token. ``None`` when the server refuses
        (no sync support, or a token it no longer knows)."""
        changes: dict[str, str | None] = {}
        for _page in range(10_000):
            response, status = self.dav.multistatus("REPORT", book, dav.sync_collection(token), "0")
            if status is None:
                if response.status_code in _NO_SYNC:
                    return None
                raise error_for(response, self.name, what=f"the address book {book}")
            for member in status.members:
                nid = self._native_id(member.href)
                if member.collection or nid is None:
                    continue
                changes[nid] = member.etag if 200 <= member.status < 300 else None
            if status.sync_token is None:
                return None
            token = status.sync_token
            if not status.truncated:
                return changes, token
        raise FatalConnectorError(f"{book} keeps truncating its changes", self.name)

    def _propfind_etags(self, book: httpx.URL) -> Iterator[tuple[str, str | None]]:
        response, status = self.dav.multistatus("PROPFIND", book, dav.PROPFIND_ETAGS, "1")
        if status is None:
            raise error_for(response, self.name, what=f"the address book {book}")
        for member in status.members:
            nid = self._native_id(member.href)
            if member.collection or nid is None or not 200 <= member.status < 300:
                continue
            if member.content_type and "vcard" not in member.content_type.lower():
                continue
            yield nid, member.etag or ""

    def _fetch(
        self, names: list[str], known: Mapping[str, str], deleted: set[str]
    ) -> Iterator[Record | RecordError]:
        for start in range(0, len(names), self.batch):
            part = names[start : start + self.batch]
            for nid, found in self._multiget(part).items():
                if isinstance(found, RecordNotFoundError):
                    if nid in known:
                        deleted.add(nid)  # gone since the listing (read after the records)
                    continue
                yield found

    def _cards(self, names: Sequence[str]) -> dict[str, tuple[bytes, str, str | None] | None]:
        """One ``addressbook-multiget``: native id -> (card bytes, etag, last modified), None
        when missing."""
        book = self._book()
        urls = {nid: self._member_url(nid) for nid in names}
        if not urls:
            return {}
        body = dav.multiget(dav.path_of(u) for u in urls.values())
        response, status = self.dav.multistatus("REPORT", book, body, "1")
        if status is None:
            raise error_for(response, self.name, what=f"the address book {book}")
        by_id = {self._native_id(m.href): m for m in status.members}
        out: dict[str, tuple[bytes, str, str | None] | None] = {}
        for nid in urls:
            member = by_id.get(nid)
            if member is None or not 200 <= member.status < 300 or not member.data:
                out[nid] = None
                continue
            out[nid] = (member.data.encode("utf-8"), member.etag or "", member.last_modified)
        return out

    def _multiget(self, names: Sequence[str]) -> dict[str, Record | RecordError]:
        """The records of ``names``: a ``RecordNotFoundError`` for a missing one and a
        ``RecordError`` for one that cannot be read."""
        out: dict[str, Record | RecordError] = {}
        for nid, found in self._cards(names).items():
            where = self._member_url(nid)
            if found is None:
                out[nid] = RecordNotFoundError("not found", where, self.name)
                continue
            try:
                out[nid] = self._record(nid, where, *found)
            except RecordError as exc:
                out[nid] = exc
        return out

    def _record(
        self, nid: str, where: str, data: bytes, etag: str, last_modified: str | None = None
    ) -> Record:
        try:
            fields, uid, rev = self.codec.read(data, where)
        except RecordError as exc:
            raise RecordError(exc.message, where, self.name) from exc
        modified: datetime | None = rev
        if last_modified:
            try:
                stamp = parsedate_to_datetime(last_modified)
            except (TypeError, ValueError):
                stamp = None
            if stamp is not None and (modified is None or stamp > modified):
                modified = stamp
        return Record(nid, etag, fields, modified, uid, where)

    def get(self, native_id: str) -> Record:
        url = self._member_url(native_id)
        response = self.dav.request("GET", url)
        if response.status_code != 200:
            raise error_for(response, self.name, record=url)
        etag = response.headers.get("ETag")
        if etag is None:  # a server that does not give it on GET: the multiget does
            found = self._multiget([native_id])[native_id]
            if isinstance(found, RecordError):
                raise found
            return found
        return self._record(native_id, url, response.content, etag, response.headers.get("Last-Modified"))

    def find(self, keys: Sequence[str]) -> Record | None:
        """Email keys are looked up on the server (``addressbook-query``); the others
        (phone + name), or all of them on a server without queries, with a listing."""
        from contacthub.model import match_keys

        book = self._book()
        for key in (k for k in keys if k.startswith("email:")):
            _, status = self.dav.multistatus("REPORT", book, dav.query_email(key[6:]), "1")
            if status is None:
                return super().find(keys)
            for member in status.members:
                if member.data is None or not 200 <= member.status < 300:
                    continue
                nid = self._native_id(member.href)
                if nid is None:
                    continue
                try:
                    record = self._record(nid, self._member_url(nid), member.data.encode(), member.etag or "")
                except RecordError:
                    continue
                if key in match_keys(record.fields):
                    return record
        if all(k.startswith("email:") for k in keys):
            return None
        return super().find(keys)

    # --- writing --------------------------------------------------------------------------

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self._book()
        updates = [op.native_id for op in ops if op.kind == "update" and op.native_id]
        current = self._cards([nid for nid in updates if self._is_member(nid)])
        results: list[WriteResult] = []
        for op in ops:
            try:
                if op.kind == "create":
                    result = self._create(op)
                elif op.kind == "update":
                    result = self._update(op, current.get(op.native_id or ""))
                elif op.kind == "delete":
                    result = self._delete(op)
                else:
                    raise RecordError(f"CardDAV address books cannot {op.kind}", op.hub_id, self.name)
            except RecordError as exc:
                result = WriteResult(op, op.native_id, error=exc)
            results.append(result)
        self._complete(results)
        return results

    def _complete(self, results: list[WriteResult]) -> None:
        """Writes whose answer had no ETag (a server that changed the card as it stored it)
        read back the stored card with one multiget."""
        missing = [r for r in results if r.error is None and r.op.kind != "delete" and not r.version]
        if not missing:
            return
        found = self._multiget([r.native_id or "" for r in missing])
        for result in missing:
            record = found.get(result.native_id or "")
            if isinstance(record, Record):
                result.version, result.fields = record.version, record.fields
            else:
                result.error = record or RecordError(
                    "not found after writing", str(result.native_id), self.name
                )

    def _put(self, url: str, data: bytes, **headers: str) -> httpx.Response:
        return self.dav.request("PUT", url, data, **{"Content-Type": _VCARD, **headers})

    def _create(self, op: WriteOp) -> WriteResult:
        hub_id = op.hub_id
        safe = _SAFE_NAME.fullmatch(hub_id) and not hub_id.endswith(".")
        name = f"{hub_id}.vcf" if safe else f"{uuid.uuid4().hex}.vcf"
        data, fields = self.codec.create_read(op.fields, hub_id)
        for attempt in range(3):
            url = self._member_url(name)
            response = self._put(url, data, **{"If-None-Match": "*"})
            if response.status_code in (200, 201, 204):
                return WriteResult(op, name, response.headers.get("ETag"), fields)
            if response.status_code == 409 and b"uid-conflict" in response.content:
                raise RecordError(
                    f"the address book already has a card with UID {hub_id} under another name; "
                    "the next run reads it and links it",
                    url,
                    self.name,
                )
            if response.status_code != 412:
                raise error_for(response, self.name, record=url)
            if attempt == 0:
                try:
                    existing = self.get(name)
                except RecordNotFoundError:
                    existing = None
                if existing is not None and existing.hub_id == hub_id:
                    return WriteResult(op, name, existing.version, existing.fields)  # a replayed create
            name = f"{uuid.uuid4().hex}.vcf"  # someone else's card has that name
        raise RecordError("could not find a free name in the address book", url, self.name)

    def _update(self, op: WriteOp, current: tuple[bytes, str, str | None] | None) -> WriteResult:
        url = self._member_url(op.native_id or "")
        if current is None:
            raise RecordNotFoundError("not found", url, self.name)
        old, etag, _ = current
        expected = op.version or etag
        if etag != expected:
            raise StaleVersionError(
                f"changed by someone else since it was read (etag {etag}, expected {expected})",
                url,
                self.name,
            )
        cards = [parsed.card for parsed in self.codec.parse(old, url)]
        new = self.codec.update(cards, op.fields, uid=op.hub_id)
        fields = self.codec.read(new, url)[0]
        response = self._put(url, new, **{"If-Match": expected})
        if response.status_code not in (200, 201, 204):
            raise error_for(response, self.name, record=url)
        return WriteResult(op, op.native_id, response.headers.get("ETag"), fields)

    def _delete(self, op: WriteOp) -> WriteResult:
        url = self._member_url(op.native_id or "")
        headers = {"If-Match": op.version} if op.version else {}
        response = self.dav.request("DELETE", url, **headers)
        if response.status_code in (200, 204, 404, 410):
            return WriteResult(op, op.native_id)  # 404: already gone, a replayed delete is done
        raise error_for(response, self.name, record=url)

    # --- signing in -----------------------------------------------------------------------

    @classmethod
    def connect(cls, config: ConnectorConfig, ui: ConnectUI, *, invite: bool = False) -> None:
        """Ask for the password once and keep it, encrypted, in the store (so the hub file
        need not hold it); checked against the server before it is saved."""
        if invite:
            raise ConfigError("CardDAV connectors have no invitation flow", config.name)
        password = ui.ask(
            f"password for {config.settings.get('username') or 'the CardDAV server'}", secret=True
        )
        probe = cls(ConnectorConfig(config.name, {**config.settings, "password": password}, config.mapping))
        try:
            probe._book()
        finally:
            probe.close()
        config.credentials.save({"password": password})
        ui.echo("the server accepted the password")
