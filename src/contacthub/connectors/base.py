"""The connector interface: the only way the engine reaches a system.

A connector is one address book in one system. It reads with ``pull`` (changes since a
cursor, or a listing compared with the versions the hub already knows), writes with
``write`` (a batch of creates, updates and deletes, so bulk APIs can be used), reads one
record with ``get``, finds one by match key with ``find``, and says what it can do in
``capabilities``. Records cross this boundary already mapped to the canonical flat fields
of ``contacthub.model``; native formats never leak into the engine.

Capabilities are enforced in one place, ``check_ops`` below, which the engine calls before
every write: a connector never sees an operation it said it cannot do.

Adding a system means one module that subclasses ``Connector`` and registers its type in
``contacthub.connectors.registry``; nothing else changes.
"""

from __future__ import annotations

import codecs
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from contacthub.connectors.card_source import CardSource
from contacthub.errors import ConfigError, RecordError
from contacthub.model import DEFAULT_REGION, Fields

OpKind = Literal["create", "update", "delete", "deactivate"]


@dataclass(slots=True)
class Record:
    """A contact as a connector holds it, already mapped to canonical fields.

    ``version`` changes whenever the native record changes (etag, updated_at, mtime+size).
    ``hub_id`` is the hub contact id the record carries, when the system can store ours
    (a vCard UID we wrote, Procore's ``origin_id``): it finds again a record whose create
    was not recorded because a run was killed. ``where`` tells a person where it lives.
    """

    native_id: str
    version: str
    fields: Fields
    modified: datetime | None = None
    hub_id: str | None = None
    where: str = ""


@dataclass(slots=True)
class Unchanged:
    """A record read again that holds byte for byte what it held at ``was``, the version the
    hub knows: only its version moved, to ``version`` (a touched file, one copied back from
    a backup). A connector may say this instead of the ``Record`` when ``known`` gave it
    ``was``; the engine then moves the link to ``version`` without merging anything, as if
    the record had not been read at all, or asks ``get`` for the whole record where the
    link is no longer as plain as that (``Inbound._unchanged``)."""

    native_id: str
    version: str
    was: str


@dataclass(slots=True)
class Pull:
    """What a pull found.

    ``records`` yields new and changed records lazily (the engine consumes it in chunks so a
    large address book never sits in memory twice); a record that cannot be read is yielded
    as a ``RecordError`` and skipped. ``deleted`` holds native ids the hub knew that are gone.
    Only a ``complete`` listing may report deletions by absence; ``listed`` is then the number
    of records it saw, which lets the engine refuse to take an empty listing as "delete all".
    ``cursor`` is read after ``records`` is exhausted and saved only once the run is applied.
    """

    records: Iterator[Record | Unchanged | RecordError]
    deleted: set[str] = field(default_factory=set)
    complete: bool = True
    listed: int = 0
    cursor: str | None = None


@dataclass(slots=True)
class WriteOp:
    """One write. ``fields`` is the whole desired record (projected on the fields the
    connector holds); ``version`` is the version the hub last saw, or ``None`` to write
    without a version check; ``hub_id`` is ours, for systems that can keep it. A create may
    carry ``source``: the same person's card in another connector of the hub, for a new
    vCard to start from (``connectors.card_source``)."""

    kind: OpKind
    hub_id: str
    fields: Fields = field(default_factory=dict)
    native_id: str | None = None
    version: str | None = None
    source: CardSource | None = None


@dataclass(slots=True)
class WriteResult:
    """The outcome of one ``WriteOp``: the record as it now reads back, or an error."""

    op: WriteOp
    native_id: str | None = None
    version: str | None = None
    fields: Fields | None = None
    error: RecordError | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a connector type can do; ``batch_size`` is the largest batch ``write`` takes."""

    create: bool = True
    update: bool = True
    delete: bool = True
    deactivate: bool = False
    delta: bool = False
    batch_size: int = 500
    #: a record's modification time moves with every change of anything it holds (a file's
    #: mtime): only then is a record older than a hub value one that cannot hold an edit
    #: made since (``merge._older``, a folder restored from a backup). Not so a Procore
    #: user, whose organization is its vendor's name: a vendor renamed moves no user's
    #: ``updated_at``, and the rename was taken for an old value put back, undone, and a
    #: vendor of the old name made again
    dated_whole: bool = False


class Credentials(Protocol):
    """What a connector obtained by signing in (tokens, a tenant id), kept encrypted by the
    store (``store.credentials``). ``save`` returns only once the values are durable: a
    rotated refresh token is saved before it is used."""

    def load(self) -> dict[str, Any]: ...

    def save(self, values: dict[str, Any]) -> None: ...

    def flush(self) -> None:
        """Make durable in the store what ``save`` had to put aside while a run held it."""


class MemoryCredentials:
    """Credentials held in memory: for tests and connectors built outside a hub."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values = dict(values or {})
        self.saves = 0

    def load(self) -> dict[str, Any]:
        return dict(self.values)

    def save(self, values: dict[str, Any]) -> None:
        self.values = dict(values)
        self.saves += 1

    def flush(self) -> None:
        return None


class ConnectUI(Protocol):
    """How ``Connector.connect`` talks to the person signing in (the CLI, or the dashboard)."""

    def echo(self, text: str) -> None: ...

    def ask(self, prompt: str, *, secret: bool = False) -> str: ...

    def open_link(self, url: str) -> None:
        """Show a sign-in or consent link (and open a browser where there is one)."""

    def wait_for_redirect(self, redirect_uri: str, state: str, timeout: float = 600) -> dict[str, str]:
        """Listen at ``redirect_uri`` until a request carrying ``state`` arrives; its query
        parameters. A request with another state is refused (``UserError``)."""
        ...


@dataclass(slots=True)
class ConnectorConfig:
    """Everything a connector is built from: its settings from the hub file (secrets already
    decrypted), the user's field mapping, the hub's default phone region, and where the
    tokens it obtains by signing in are kept."""

    name: str
    settings: dict[str, Any]
    mapping: dict[str, str] = field(default_factory=dict)
    region: str = DEFAULT_REGION
    credentials: Credentials = field(default_factory=MemoryCredentials)
    #: the hub's name, for what a connector registers elsewhere (a webhook receiver URL)
    hub: str = ""
    #: this connector's own directory in the hub's data directory, for what it keeps on
    #: this machine (the cards a CardDAV book deleted, for an undo); ``None`` outside a hub
    local_dir: Path | None = None


class Connector(ABC):
    """One address book in one system. Subclasses set ``type`` and ``capabilities``."""

    type: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: settings keys that are credentials: stored encrypted, never shown
    secret_settings: ClassVar[frozenset[str]] = frozenset()
    #: the ``secret_settings`` a successful ``connect`` replaces (a password it asked for
    #: and checked): their stored values, kept from an earlier hub file, are then dropped,
    #: so that the word given last is the one used (``service.actions.connect``)
    connect_replaces: ClassVar[frozenset[str]] = frozenset()
    #: every settings key this type reads (``secret_settings`` are added to it): the hub
    #: file and the web refuse any other key (``config._check_settings``), so a misspelt
    #: ``fliter`` or ``delimeter`` is an error instead of a setting nothing ever reads
    known_settings: ClassVar[frozenset[str]] = frozenset()
    #: the JSON type of every setting of this type, ``secret_settings`` included, as a type
    #: expression: ``str``, ``int`` (a whole number, not ``true``), ``float`` (any number),
    #: ``bool``, ``list[str]``, or a union of these (``str | float`` for ``version``, given
    #: as "4.0" or 4.0). A type that declares it has its ``known_settings`` made of its keys,
    #: and the hub file and the web refuse a value of another type with one message
    #: (``config._check_types``): ``api_token = 12345`` was stored, then every run failed
    #: with "refused the credentials"; ``page_size = true`` was read as 1
    setting_types: ClassVar[Mapping[str, Any]] = {}
    #: the largest value a number setting may have, where one makes sense (a trash kept
    #: for a century, a card of 4 GB). Every number is also refused unless finite and,
    #: when whole, within 64 bits (``config._check_types``): ``trash_days = inf`` was stored
    #: as null (JSON has no infinity), and every run after refused it
    setting_maxima: ClassVar[Mapping[str, float]] = {}
    #: the smallest, where a value below it is no setting at all: a CardDAV ``timeout`` of
    #: -1 (or ``attempts`` of 1e300 above) passed, and every run then ended in a traceback
    setting_minima: ClassVar[Mapping[str, float]] = {}
    #: the settings that say which of the address book's records the connector lists (a
    #: GAL's ``member_of``, Procore's ``projects``): after a change of one, the records the
    #: next read no longer lists are let go, not deleted (``connectors.settings_changed``).
    #: Other settings (a page size, how often to read everything) list the same records,
    #: and a record gone after a change of one of them is a deletion as at any other time
    scope_settings: ClassVar[frozenset[str]] = frozenset()
    #: the settings that name a file or folder on this machine: ``apply`` stores them
    #: absolute (``~`` expanded, a relative one taken from the hub file's folder), so that
    #: a run from cron, ``serve`` or a worker, in another folder or as another user, finds
    #: the place the person meant (``config.absolute_paths``)
    path_settings: ClassVar[frozenset[str]] = frozenset()
    #: the default mapping (canonical field -> native field) users override per connector
    default_mapping: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def native_fields(cls, settings: Mapping[str, Any], places: frozenset[str]) -> frozenset[str]:
        """The fields this type reads from ``places`` (columns, properties, native fields)
        when no mapping names them: a mapping that moves a field onto such a place, or off
        it, changes what the place means for those fields too (``config._forgotten``). Too
        many is safe (a field marked remapped once only lets the hub's value win); too few
        let Outlook's "Notes", given back by a removed ``job_title`` mapping, read as an
        edit of the notes that replaced them everywhere. By default: the default mapping's."""
        wanted = {p.strip().casefold() for p in places}
        return frozenset(f for f, p in cls.default_mapping.items() if p.strip().casefold() in wanted)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "setting_types" in vars(cls):  # one declaration: the keys are the settings read
            cls.known_settings = frozenset(cls.setting_types) - cls.secret_settings

    def __init__(self, config: ConnectorConfig) -> None:
        self.config = config
        self.name = config.name

    @property
    def fields(self) -> frozenset[str] | None:
        """The canonical fields this connector holds (``custom.*`` meaning any custom field);
        ``None`` means all. The engine compares and writes only these, so a system that has
        no room for a field never looks changed because of it."""
        return None

    def held_fields(self, cursor: str | None) -> frozenset[str] | None:
        """The fields held in a run whose ``pull`` gets ``cursor`` (the one the hub saved when
        it last applied a run; ``fields`` by default). The hub's baselines of this connector
        were read or written as that run saw the system: a connector whose fields follow its
        data (a CSV file's header) leaves out a field that lost a place since then, whose
        records would otherwise read as its values removed, which the hub removed everywhere.
        It is asked once a run, before ``pull``, with the cursor the pull will get."""
        return self.fields

    def read_back(self, fields: Fields) -> Fields:
        """What a record written with ``fields`` reads as (the default: the same fields). A
        system that cannot hold all of a value says so here: an Outlook file has no email
        types, so a row the hub reads agrees with a hub contact whose emails are typed when
        it holds everything else (``Inbound._merge``). Compared as they were, such a row was
        written again, unchanged, after every run that read it."""
        return fields

    @property
    def card_settings(self) -> tuple[Any, ...] | None:
        """For connectors whose records are vCards: the settings that decide how a card reads
        (mapping, phone region, fallback encoding...), so that two connectors with equal
        settings read the same bytes as the same fields. Such a connector starts a new card
        from a ``WriteOp.source`` when it has one. ``None`` (the default): not vCards."""
        return None

    @property
    def keeps_deleted_cards(self) -> bool:
        """Whether this connector may hold cards it deleted, which a create for the same
        person brings back whole (``connectors.vcard_trash``). A run writes to such
        connectors first, so that the other connectors' new copies of a restored person
        start from the card put back, with its photo, instead of the hub's fields alone."""
        return False

    def kept_cards(self, hub_ids: Sequence[str]) -> set[str]:
        """Which of these hub ids a create would put back whole from this connector's kept
        cards (``keeps_deleted_cards``); none by default. When two connectors keep cards,
        no order of connectors lets each start its new copies from the other's card put
        back, so a run first writes these creates alone (``outbound.restore_pages``)."""
        return set()

    def card_sources(self, wanted: Sequence[tuple[str, str, bool]]) -> dict[str, CardSource]:
        """For (native id, version, exact) of some of this connector's records: where another
        connector can read each as a vCard at that version, to start a new card from
        (``connectors.card_source``), by native id; records that cannot be are left out
        (all of them by default: records that are not vCards)."""
        return {}

    def undeletable(self, native_id: str) -> str | None:
        """Why this system never deletes (nor deactivates) the record, or None (the default:
        it deletes what it is asked to). A GAL keeps its directory users whatever the hub
        does, so the hub keeps the person too, and decides that when it reads a deletion
        elsewhere, before any connector writes (``Inbound.deletions``): found out only when
        the write was refused, the connectors before it had deleted their copies already,
        and got them back next run rebuilt from the hub's fields (without their photos)."""
        return None

    def refusal(self, op: WriteOp) -> RecordError | None:
        """The error ``write`` would answer ``op`` with, where the op alone tells it (a GAL
        contact without an email, a Pipedrive option the field does not have), or None
        (the default: nothing is refused without asking the system). Pure: no call, no
        file, only the op and what the connector already holds in memory this run.

        A dry run (and a held run's plan) asks it of every planned write (``run._plan_only``)
        and reports a refused one among the run's errors instead of counting it: counted, a
        dry run showed a GAL create the real run then refused. A real run does not ask it:
        ``write`` refuses the same op with the same error, in its own order of checks, and
        at no extra cost. So the error must be the one ``write`` gives (its message, record
        and class); a connector builds both from one place."""
        return None

    @abstractmethod
    def pull(self, cursor: str | None, known: Mapping[str, str]) -> Pull:
        """New and changed records since ``cursor``, or since the ``known`` versions
        (native id -> version) for systems that list instead of keeping a change feed."""

    def applied_cursor(self, cursor: str | None) -> str | None:
        """The cursor the hub saves once the run is applied, given the one its ``pull``
        returned (the default: that one). Asked after the run's writes: a connector whose
        own writes move what its cursor stands for (a file's stat key and hash) gives the
        cursor of what it wrote, so the next run does not read its own writes back."""
        return cursor

    @abstractmethod
    def get(self, native_id: str) -> Record:
        """One record; ``RecordNotFoundError`` when there is none."""

    def get_deactivated(self, native_id: str) -> Record:
        """One record ``on_delete = "deactivate"`` deactivated, as it is now, inactive or not
        (for ``engine.leftovers``: a person added again takes it up, and its write
        reactivates it). The default is ``get``: a hidden GAL contact is read so anyway. A
        system whose ``get`` calls an inactive record not found (a Procore user: no one to
        sync with) reads it here."""
        return self.get(native_id)

    @abstractmethod
    def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply a batch; one result per op, in order. A refused record is a result with an
        ``error``, not an exception: the rest of the batch goes on."""

    def write_behind(self, ops: Sequence[WriteOp]) -> Callable[[], list[WriteResult]] | None:
        """Start ``write(ops)`` in the background and return what waits for its results, or
        None: then the engine calls ``write`` itself (the default, and right for most).

        For connectors whose writes cost CPU in this process (building and writing vCard
        files): the engine plans and records the pages around one being written behind.
        ``ops`` is at most a page. Pages are started in order and their results taken in
        order; the next page is started before the results of the one before are taken, so
        two can be in flight (a single worker writes them one after the other)."""
        return None

    def find(self, keys: Sequence[str]) -> Record | None:
        """A record carrying one of the match keys (``model.match_keys``), or None.

        The default lists everything; systems with a search API do better."""
        wanted = set(keys)
        from contacthub.model import match_keys

        for item in self.pull(None, {}).records:
            if isinstance(item, Record) and wanted.intersection(match_keys(item.fields)):
                return item
        return None

    def secret_values(self) -> list[str]:
        """The values of this connector's secret settings (decrypted), and those of its URLs'
        query fields (``?token=``: kept encrypted, the connector gets the URL as written;
        ``redact.url_secrets``): masked in every error said of a run (``Report.unsaid``) and in a
        connection test's answer."""
        from contacthub.redact import url_secrets

        settings = self.config.settings
        out = [str(v) for k, v in settings.items() if k in self.secret_settings and v]
        urls = [v for v in settings.values() if isinstance(v, str) and "://" in v]
        return out + [value for url in urls for value in url_secrets(url)]

    def check(self) -> None:
        """Raise ``FatalConnectorError`` with a remedy when the connector cannot work.

        Called before a run's transaction opens: connectors that sign in refresh their
        tokens here, so a mid-run refresh is the exception."""
        return None

    @classmethod
    def connect(cls, config: ConnectorConfig, ui: ConnectUI, *, invite: bool = False) -> None:
        """Sign in interactively (``contacthub connect``) and ``config.credentials.save`` the
        result; ``invite`` asks another organisation's admin instead (a partner tenant's
        consent). Connectors whose settings are complete in the hub file need no sign-in."""
        raise ConfigError(f"{cls.type} connectors need no sign-in: their settings are in the hub file")

    def check_location(self) -> None:
        """Raise ``ConfigError`` when the settings name a local file or folder that is not
        there (and that the connector is not told to create): called by ``apply`` and the
        web before a connector is stored, so a mistyped path is refused at once rather than
        by the first run. Systems reached over the network have nothing to check here."""
        return None

    def api_calls(self) -> dict[str, int]:
        """Calls made to the system's API so far, by HTTP method (empty for local files):
        reported by runs and benchmarks."""
        return {}

    def close(self) -> None:
        """Release connections and files."""
        return None


def path_setting(config: ConnectorConfig, what: str) -> str:
    """A required path setting, as text (``path = 5`` in a hub file is a mistake, not "5")."""
    value = config.settings.get("path")
    if not value or not isinstance(value, str):
        raise ConfigError(f"the setting 'path' ({what}) is required, as text", config.name)
    return value


def flag_setting(config: ConnectorConfig, key: str, default: bool) -> bool:
    """A true/false setting (``create = "yes"`` is a mistake, not true)."""
    value = config.settings.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"the setting {key!r} must be true or false, not {value!r}", config.name)
    return value


#: the largest card a connector reads by default (``max_card_mb``), in MB: a card with
#: several photos is a few MB; a bigger ``.vcf`` is a stray download or disk image, or a
#: card no program uses, which read whole cost its size several times over in memory (a
#: 300 MB file took 1 GB, every run) and stored, as much again in the hub's database
MAX_CARD_MB = 20
#: the largest ``max_card_mb`` (``Connector.setting_maxima``): 4 GB, far above any card
MAX_CARD_MB_LIMIT = 4096


def size_setting(config: ConnectorConfig, key: str, default: float) -> int:
    """A size setting in MB (a positive number), in bytes."""
    value = config.settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"the setting {key!r} must be a number of MB above 0, not {value!r}", config.name)
    return int(value * 2**20)


def encoding_setting(config: ConnectorConfig, default: str) -> str:
    """The ``encoding`` setting, refused unless it is a text encoding: ``codecs.lookup``
    also knows ``rot13``, ``base64`` and ``zlib``, which would turn every card or row into
    something no program reads (or fail on every file with a message about bytes)."""
    name = str(config.settings.get("encoding", default))
    if name == "auto":
        return name
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ConfigError(f"unknown encoding {name!r}", config.name) from None
    if not getattr(info, "_is_text_encoding", True):
        raise ConfigError(f"{name!r} is not a text encoding", config.name)
    return name


def check_ops(connector: Connector, ops: Sequence[WriteOp]) -> None:
    """The one place capabilities are enforced: refuse an op the connector cannot do."""
    caps = connector.capabilities
    for op in ops:
        if not getattr(caps, op.kind):
            raise ConfigError(f"{connector.type} connectors cannot {op.kind} records", connector.name)
        if op.kind != "create" and not op.native_id:
            raise ValueError(f"{op.kind} without a native id")
