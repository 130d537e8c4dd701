"""A CardDAV address book (RFC 6352): Radicale, Nextcloud, Baïkal, iCloud, Fastmail...

Discovery (RFC 6764): ``url`` may be the address book itself, or a server whose
``/.well-known/carddav``, ``current-user-principal`` and ``addressbook-home-set`` lead to
the user's address books; ``addressbook`` picks one by name, ``create = true`` makes it
(extended MKCOL, RFC 5689) when it is missing.

This module is the connector class (the entry point ``registry.py`` names): its settings,
sign-in (basic or bearer, ``connect`` keeps the password), discovery of the address book,
and the addressing of members (native id <-> URL) that reading and writing share. Reading
(sync-collection, PROPFIND fallback, multiget, ``get``, ``find``) is in
``carddav_read.py``, writing (conditional PUT and DELETE, 412s) in ``carddav_write.py``;
the HTTP session with discovery in ``carddav_session.py``, the XML in ``carddav_xml.py``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import httpx

from contacthub.connectors import carddav_read, carddav_write
from contacthub.connectors import carddav_xml as dav
from contacthub.connectors.base import (
    MAX_CARD_MB,
    MAX_CARD_MB_LIMIT,
    Capabilities,
    Connector,
    ConnectorConfig,
    ConnectUI,
    Pull,
    Record,
    WriteOp,
    WriteResult,
    flag_setting,
    size_setting,
)
from contacthub.connectors.card_source import CardSource
from contacthub.connectors.carddav_session import DavSession
from contacthub.connectors.http import ApiClient, Auth, HeaderAuth, NoAuth, Transport
from contacthub.connectors.vcard_dir import VCardDirConnector
from contacthub.connectors.vcard_trash import MAX_TRASH_DAYS, Trash
from contacthub.errors import ConfigError, ConnectorError, RecordError
from contacthub.formats.vcard import VCardCodec
from contacthub.model import Fields
from contacthub.store.secrets import shown_url

#: the most of one answer (a listing, a multiget of a batch) read by default, in MB
#: (``max_answer_mb``): a sync-collection listing of 100,000 cards is about 40 MB, a batch
#: of 500 cards with photos a few tens; the XML parser then needs several times it
MAX_ANSWER_MB = 100


class CardDavConnector(Connector):
    """Settings: ``url`` (server or address book), ``username`` + ``password`` (basic auth;
    the password may also be given once with ``contacthub connect``) or ``token`` (bearer),
    ``addressbook`` (which one, by path name or display name), ``create`` (make it when
    missing), ``version`` (3.0 or 4.0 for new cards), ``batch`` (cards per multiget),
    ``verify`` (false, or a CA bundle path, for self-signed servers), ``timeout``,
    ``trash_days`` (how long a card the hub deleted is kept for an undo; 30, 0: not kept),
    ``max_card_mb`` (20: a bigger card the server sends is an error of its record, unread
    past that), ``max_answer_mb`` (100: the most of one listing or multiget answer read; a
    listing over it fails the run, a multiget over it is asked again in smaller parts)."""

    type: ClassVar[str] = "carddav"
    capabilities: ClassVar[Capabilities] = Capabilities(
        create=True, update=True, delete=True, deactivate=False, delta=True, batch_size=100
    )
    secret_settings: ClassVar[frozenset[str]] = frozenset({"password", "token"})
    connect_replaces: ClassVar[frozenset[str]] = secret_settings
    setting_types: ClassVar[Mapping[str, Any]] = {
        "url": str, "username": str, "addressbook": str, "create": bool, "version": str | float,
        "batch": int, "verify": bool | str, "timeout": float, "attempts": int, "trash_days": float,
        "max_card_mb": float, "max_answer_mb": float,
        "password": str, "token": str,
    }  # fmt: skip
    setting_maxima: ClassVar[Mapping[str, float]] = {
        "trash_days": MAX_TRASH_DAYS,
        "max_card_mb": MAX_CARD_MB_LIMIT,
        "max_answer_mb": MAX_CARD_MB_LIMIT,
        "timeout": 3600,  # seconds for one request: an hour is already no answer
        "attempts": 100,
        "batch": 10_000,
    }
    setting_minima: ClassVar[Mapping[str, float]] = {"timeout": 0.1, "attempts": 1, "batch": 1}
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
            # its password and query (a token) masked, also when it is no URL (``http:/u:pw@h``)
            shown = shown_url(raw)
            raise ConfigError(f"'url' must be an http:// or https:// URL, not {shown!r}", self.name)
        self.url = url
        version = settings.get("version")
        if version is not None and str(version) not in ("3.0", "4.0"):
            raise ConfigError(f"version must be 3.0 or 4.0, not {version!r}", self.name)
        self.addressbook = str(settings.get("addressbook") or "").strip("/") or None
        self.create_missing = flag_setting(config, "create", False)
        self.batch = max(1, int(settings.get("batch", 500)))
        self.max_card = size_setting(config, "max_card_mb", MAX_CARD_MB)
        self.max_answer = size_setting(config, "max_answer_mb", MAX_ANSWER_MB)
        self.username = str(settings.get("username") or "")
        self.codec = VCardCodec(config.mapping, config.region, str(version) if version else None)
        # cards the hub deletes are kept on this machine, so that an undo puts them back
        # whole (``carddav_write``; the server keeps nothing once a card is deleted)
        trash_dir = config.local_dir / "trash" if config.local_dir is not None else None
        self.trash = Trash.at(trash_dir, settings.get("trash_days", 30), self.name)
        transport = Transport(verify=_verify_setting(settings.get("verify", True), self.name))
        self.client = ApiClient(
            str(url.copy_with(path="/", query=None, fragment=None)),
            connector=self.name,
            auth=self._auth(),
            timeout=float(settings.get("timeout", 60)),
            transport=transport,
            max_attempts=int(settings.get("attempts", 6)),
        )
        self.dav = DavSession(self.client, url, self.username, self.name, self.max_answer)
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

    def read_back(self, fields: Fields) -> Fields:
        return self.codec.read_back(fields)

    @property
    def keeps_deleted_cards(self) -> bool:
        return self.trash.present()

    def kept_cards(self, hub_ids: Sequence[str]) -> set[str]:
        return self.trash.holding(hub_ids)

    @property
    def card_settings(self) -> tuple[Any, ...] | None:
        return self.codec.settings

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

    # --- reading (carddav_read.py) and writing (carddav_write.py) ----------------------

    def pull(self, cursor: str | None, known: Mapping[str, str]) -> Pull:
        return carddav_read.pull(self, cursor, known)

    def get(self, native_id: str) -> Record:
        return carddav_read.get(self, native_id)

    def find(self, keys: Sequence[str]) -> Record | None:
        """Email keys are looked up on the server (``addressbook-query``); the others
        (phone + name), or all of them on a server without queries, with a listing."""
        return carddav_read.find(self, keys)

    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        return carddav_write.write(self, ops)

    def card_sources(self, wanted: Sequence[tuple[str, str, bool]]) -> dict[str, CardSource]:
        """The cards themselves, one multiget per ``batch``, for the connector writing the
        new cards (maybe in another process) to start from; a card whose etag moved on
        since the hub agreed on it is left out. A server that fails here fails nothing:
        the new cards are then built from the hub's fields."""
        want = {nid: (version, exact) for nid, version, exact in wanted if self._is_member(nid)}
        names = list(want)
        out: dict[str, CardSource] = {}
        for start in range(0, len(names), self.batch):
            try:
                found = carddav_read.cards(self, names[start : start + self.batch])
            except ConnectorError:
                return out
            for nid, got in found.items():
                if isinstance(got, tuple) and got[1] == want[nid][0]:
                    data = got[0]
                    if b"\r\n" not in data:  # XML parsing made the card's CRLF line ends LF
                        data = data.replace(b"\n", b"\r\n")
                    out[nid] = CardSource(self._member_url(nid), got[1], want[nid][1], data, self.codec.fmap)
        return out

    # --- signing in -----------------------------------------------------------------------

    @classmethod
    def connect(cls, config: ConnectorConfig, ui: ConnectUI, *, invite: bool = False) -> None:
        """Ask for the password once and keep it, encrypted, in the store (so the hub file
        need not hold it); checked against the server before it is saved. It replaces a
        password or token kept from an earlier hub file (``connect_replaces``)."""
        if invite:
            raise ConfigError("CardDAV connectors have no invitation flow", config.name)
        password = ui.ask(
            f"password for {config.settings.get('username') or 'the CardDAV server'}", secret=True
        )
        # the password alone is checked (a stored bearer token would be sent instead of it)
        given = {k: v for k, v in config.settings.items() if k != "token"}
        probe = cls(ConnectorConfig(config.name, {**given, "password": password}, config.mapping))
        try:
            probe._book()
        finally:
            probe.close()
        config.credentials.save({"password": password})
        ui.echo("the server accepted the password")


def _verify_setting(value: object, connector: str) -> str | bool:
    """``verify``: true, false, or the path of a CA bundle. ``"false"`` in quotes (a common
    slip in TOML) was taken for a path, and every run then failed with a traceback about a
    missing file; a path that is not there is said at ``apply``, naming the setting."""
    if isinstance(value, bool):
        return value
    text = str(value)
    if text.strip().lower() in ("true", "false", "yes", "no", "on", "off", "0", "1"):
        raise ConfigError(
            f"verify must be true or false without quotes, or the path of a CA bundle, not {text!r}",
            connector,
        )
    if not Path(text).expanduser().is_file():
        raise ConfigError(f"verify: the CA bundle {text!r} is not a file", connector)
    return str(Path(text).expanduser())
