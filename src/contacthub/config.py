"""The hub file: TOML declaring hubs and their connectors, validated, then applied to the store.

    [hubs.team]
    conflict = "newest"          # newest | priority | manual
    delete_threshold = "10%"     # or a count
    phone_region = "US"          # for numbers written without a country code
    interval = "15m"             # or cron = "*/5 * * * *"; interval = "off": manual only

    [[hubs.team.connectors]]
    name = "phones"
    type = "vcard-dir"
    path = "/srv/contacts/phones"
    direction = "two-way"        # two-way | to-hub | from-hub
    operations = ["create", "update", "delete"]
    on_delete = "delete"         # delete | ignore | deactivate
    filter = {all = [{field = "email", op = "ends_with", value = "@example.com"}]}
    mapping = {"custom.trade" = "X-TRADE"}

Every other key of a connector is a setting of its type, which must be one the type
declares (``Connector.known_settings``): a misspelt key is refused, not stored unread.
``apply`` is declarative: the hub ends up exactly as the file says, connectors the file no
longer names are removed, and it reports each change. Connector order in the file is their priority.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
import tomllib
import types
import typing
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import Engine, bindparam, delete, insert, select, update

from contacthub import names
from contacthub.connectors.registry import connector_class
from contacthub.engine.run import check_threshold
from contacthub.errors import ConfigError
from contacthub.filters import compile_filter
from contacthub.model import DEFAULT_REGION, is_known_field
from contacthub.store import secrets
from contacthub.store import tables as t
from contacthub.store.repo import Store, dumps, loads, now
from contacthub.store.rows import baseline_text, split_baseline

Operation = Literal["create", "update", "delete"]


def _all_operations() -> list[Operation]:
    return ["create", "update", "delete"]


#: the longest hub or connector name, counted as stored: in NFC, a hub's without its
#: surrounding blanks (``hub_name``, ``ConnectorSpec``; the dashboard and the API count
#: the same way: a name typed decomposed, or with blanks around it, was refused by them
#: as too long and created by ``apply``)
NAME_MAX = 200


class ConnectorSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    type: str
    direction: Literal["two-way", "to-hub", "from-hub"] = "two-way"
    operations: list[Operation] = Field(default_factory=_all_operations)
    on_delete: Literal["delete", "ignore", "deactivate"] = "delete"
    filter: dict[str, Any] | None = None
    mapping: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _not_hub(cls, value: str) -> str:
        # the journal and the run reports call the hub's own changes "hub"
        if value.strip().casefold() == "hub":
            raise ValueError("'hub' names the hub's own changes in the journal; choose another name")
        length = len(names.nfc(value))
        if length > NAME_MAX:
            raise ValueError(f"a connector's name is at most {NAME_MAX} characters; this one has {length}")
        return check_name(value)

    @field_validator("mapping")
    @classmethod
    def _mapping_seen(cls, value: dict[str, str]) -> dict[str, str]:
        return check_mapping(value)

    @field_validator("operations")
    @classmethod
    def _once_each(cls, value: list[Operation]) -> list[Operation]:
        # refused, not collapsed: ["create", "create"] was stored as given, and is more likely
        # a slip for another operation than a wish to say it twice
        twice = sorted({op for op in value if value.count(op) > 1})
        if twice:
            raise ValueError(f"operations names {twice[0]!r} twice")
        return value

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class HubSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conflict: Literal["newest", "priority", "manual"] = "newest"
    delete_threshold: str | int = "10%"
    phone_region: str = "US"
    interval: str | None = None  # default 15 minutes (scheduler.schedule)
    cron: str | None = None
    connectors: list[ConnectorSpec] = Field(default_factory=list)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        from contacthub.scheduler.schedule import parse_interval

        if value is None:
            return None
        try:
            return value if parse_interval(value) is not None else "off"
        except ConfigError as exc:
            raise ValueError(exc.message) from None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        from contacthub.scheduler.schedule import check_cron

        try:
            return None if value is None else check_cron(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None

    @model_validator(mode="after")
    def _one_schedule(self) -> HubSpec:
        if self.interval is not None and self.cron is not None:
            raise ValueError("give either interval or cron, not both")
        return self

    @property
    def settings(self) -> dict[str, Any]:
        """What the store keeps in ``hubs.settings`` (schedule keys only when given)."""
        out: dict[str, Any] = {"phone_region": self.phone_region}
        if self.interval is not None:
            out["interval"] = self.interval
        if self.cron is not None:
            out["cron"] = self.cron
        return out

    @field_validator("delete_threshold")
    @classmethod
    def _threshold(cls, value: str | int) -> str:
        try:
            return check_threshold(str(value))
        except ConfigError as exc:  # a ValueError lets pydantic say where (hubs.NAME.delete_threshold)
            raise ValueError(exc.message) from None

    @field_validator("phone_region")
    @classmethod
    def _region(cls, value: str) -> str:
        """A region phonenumbers knows (``gb`` is read as ``GB``), or "" for none: with an
        unknown one every number written without a country code silently stayed as typed."""
        import phonenumbers

        region = value.strip().upper()
        if region and region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"phone_region must be a country code such as US, GB or DE, not {value!r}")
        return region


class HubFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hubs: dict[str, HubSpec]
    #: the folder of the file it was read from (``load``): relative paths are read from it
    _base: Path | None = PrivateAttr(default=None)

    @property
    def base(self) -> Path | None:
        return self._base

    @field_validator("hubs")
    @classmethod
    def _hub_names(cls, value: dict[str, HubSpec]) -> dict[str, HubSpec]:
        """The names as ``hub_name`` makes them: the dashboard's and the API's rule. Taken
        as written, ``[hubs.""]``, ``[hubs." "]`` or a name of 1,000 characters made hubs
        the dashboard showed as empty links nobody could click, or never let a user make."""
        out: dict[str, HubSpec] = {}
        for written, hub in value.items():
            try:
                name = hub_name(written)
            except ValueError as exc:
                raise ValueError(f"hub {_short(written)}: {exc}") from None
            if name in out:
                raise ValueError(f"hubs {_short(written)} and {_short(name)} are one name: {name!r}")
            out[name] = hub
        return out


def hub_name(name: str) -> str:
    """A hub's name as stored, wherever it comes from (a hub file, the dashboard, the API):
    without surrounding blanks, 1 to ``NAME_MAX`` characters, and passing ``check_name``."""
    name = names.nfc(name).strip()
    if not name or len(name) > NAME_MAX:
        raise ValueError(f"a hub needs a name of 1 to {NAME_MAX} characters (this one has {len(name)})")
    return check_name(name)


def check_name(name: str) -> str:
    """A hub's or connector's name, in NFC (``names``): no control characters (a line
    break printed broken lines in every listing, and the name could not be typed back to
    ``sync``), no invisible character (``names.invisible``: a name that reads as another)."""
    unseen = unseen_character(name)
    if unseen:
        raise ValueError(f"the name {name!r} holds {unseen}")
    return names.nfc(name)


def unseen_character(text: str) -> str | None:
    """What ``text`` holds that no name may (``check_name``), said for an error message: a
    control character or an invisible one; None when it holds neither."""
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text):
        return "a control character (a line break, a tab...)"
    hidden = names.invisible(text)
    if hidden:
        return f"an invisible character ({hidden}: a bidi mark, a zero-width or another format character)"
    return None


def check_mapping(mapping: dict[str, str]) -> dict[str, str]:
    """A connector's ``mapping`` held to ``check_name``'s rule, field names (``custom.*``)
    and the column or property names they map to alike: ``"custom.a\\nb" = "Col\\r\\nRow"``
    put a line break into a CSV header (a row of its own to every other reader) and into
    every listing of the field, and a bidi override (U+202E) made a name read as another."""
    for field, native in mapping.items():
        for what, text in (("field", field), ("column or property", native)):
            unseen = unseen_character(text)
            if unseen:
                raise ValueError(f"the mapping {field!r} = {native!r}: its {what} name holds {unseen}")
    return mapping


def load(path: Path) -> HubFile:
    """Read and validate a hub file; every problem is a ``ConfigError`` saying where."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("file not found", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", str(path)) from None
    except RecursionError:
        # tomllib parses nested tables and arrays recursively: a few hundred levels (a
        # filter's groups) exhaust Python's stack, a traceback without a file name
        raise ConfigError("invalid TOML: tables or arrays nested too deep to read", str(path)) from None
    try:
        spec = HubFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{first['msg']} (at {where})", str(path)) from None
    except ConfigError as exc:
        raise ConfigError(exc.message, str(path)) from None
    base = path.parent.absolute()
    spec._base = base
    for hub_name, hub in spec.hubs.items():
        for i, conn in enumerate(hub.connectors):
            try:
                cls = connector_class(conn.type)
            except ConfigError:
                continue  # an unknown type: said below, where it is
            where = f"{path}: hubs.{hub_name}.connectors[{i}] ({conn.name})"
            absolute_paths(cls, conn.model_extra or {}, base, where)
        names = [c.name for c in hub.connectors]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"hub {hub_name!r} names the connector {twice[0]!r} twice", str(path))
        check_locations(hub_name, [(c.name, c.settings) for c in hub.connectors], str(path))
        for i, conn in enumerate(hub.connectors):
            where = f"{path}: hubs.{hub_name}.connectors[{i}] ({conn.name})"
            cls = connector_class_or_error(conn.type, where)
            compile_filter(conn.filter, f"{where} filter", strict=True)
            for field in conn.mapping:
                if not is_known_field(field):
                    raise ConfigError(f"mapping names unknown field {field!r}", where)
            if conn.on_delete == "deactivate" and not cls.capabilities.deactivate:
                raise ConfigError(
                    f"{conn.type} connectors cannot deactivate records; use delete or ignore", where
                )
            _check_settings(cls, conn, hub_name, where)
    return spec


def absolute_paths(cls: Any, settings: dict[str, Any], base: Path | None, where: str) -> None:
    """Make the type's ``path_settings`` absolute, in place (a spec's ``model_extra``):
    ``~`` expanded, a relative path taken from ``base`` (the hub file's folder). Stored as
    typed, ``contacts`` and ``~/contacts`` were looked up again by every run in whatever
    folder and home it ran with: a run from cron or ``serve`` failed with "the vCard
    folder ... does not exist", or read another folder (QA). Without a ``base`` (the web)
    a relative path is refused, and so is a NUL character, which no file name holds (every
    look at the path raised "embedded null byte", a traceback from ``apply``)."""
    for key in sorted(cls.path_settings):
        value = settings.get(key)
        if not isinstance(value, str) or not value:
            continue
        if "\0" in value:
            raise ConfigError(
                f"{key} holds a NUL character (\\u0000), which no file name can: {value!r}",
                where,
            )
        path = os.path.expanduser(value)
        if not os.path.isabs(path):
            if base is None:
                raise ConfigError(f"{key} must be an absolute path (or start with ~/), not {value!r}", where)
            path = os.path.join(base, path)
        settings[key] = os.path.normpath(path)


def connector_class_or_error(type_name: str, where: str) -> Any:
    try:
        return connector_class(type_name)
    except ConfigError as exc:
        raise ConfigError(exc.message, where) from None


def apply(engine: Engine, spec: HubFile, on_wait: Callable[[str], None] | None = None) -> list[str]:
    """Make the store match the file; returns one line per change made. Waits for a run
    of a hub it names to end (``on_wait(hub)`` is told): a connector removed or changed
    under a running run failed the run half-way with a foreign-key traceback, and left it
    "applying" (QA)."""
    from contacthub.scheduler.lock import hub_locks

    with hub_locks(engine, spec.hubs, on_wait):
        return _apply(engine, spec)


def _apply(engine: Engine, spec: HubFile) -> list[str]:
    lines: list[str] = []
    with engine.begin() as conn:
        _refuse_owned(conn, spec.hubs)
        for hub_name, hub in spec.hubs.items():
            values = {
                "conflict": hub.conflict,
                "delete_threshold": str(hub.delete_threshold),
                "settings": dumps(hub.settings),
            }
            # one stored in NFD by an older version is found (``Store.hub_row``) and keeps
            # that spelling, not renamed to NFC: the webhook receivers' URL tokens, basic
            # passwords, clientStates and bearers are derived from the stored hub and
            # connector names (``webhooks.tokens``), and a rename changed every one of
            # them, so the webhooks vendors had been given answered 404 (QA)
            row = Store(conn).hub_row(hub_name)
            if row is None:
                hub_id = conn.execute(
                    insert(t.hubs).values(name=hub_name, created_at=now(), updated_at=now(), **values)
                ).inserted_primary_key[0]  # type: ignore[index]
                lines.append(f"hub {hub_name}: created")
            else:
                hub_id = row.id
                diff = [
                    f"{k} {getattr(row, k)!r} -> {v!r}" for k, v in values.items() if getattr(row, k) != v
                ]
                if diff:
                    conn.execute(
                        update(t.hubs).where(t.hubs.c.id == hub_id).values(updated_at=now(), **values)
                    )
                    lines.append(f"hub {hub_name}: " + ", ".join(diff))
                    reread_for_region(conn, hub_id, loads(row.settings) or {}, hub.settings)
            lines += _apply_connectors(conn, hub_id, hub_name, hub.connectors, spec.base)
    return lines


def _refuse_owned(conn: Any, hubs: Mapping[str, Any]) -> None:
    """Refuse, before anything is changed, a hub file naming a hub a dashboard or API user
    made (one with an owner): found by name alone, it was taken over: its connectors
    replaced by the file's (a server folder's path the user may not set), its own removed
    as "no longer named", and the user, still its owner, read the folder's contacts (QA).
    Hubs a file makes have no owner; a user's hub is theirs to change."""
    if not hubs:
        return
    spelt = [form for name in hubs for form in names.spellings(name)]
    query = (
        select(t.hubs.c.name, t.users.c.email)
        .join(t.users, t.users.c.id == t.hubs.c.owner_id, isouter=True)
        .where(t.hubs.c.name.in_(spelt), t.hubs.c.owner_id.is_not(None))
        .order_by(t.hubs.c.name)
    )
    row = conn.execute(query).first()
    if row is not None:
        whose = f"the user {row.email}" if row.email else "a dashboard user (since removed)"
        raise ConfigError(
            f"hub {row.name!r} was made by {whose} on the dashboard or API: a hub file cannot"
            " change it (nothing was applied); give the file's hub another name"
        )


def _apply_connectors(
    conn: Any, hub_id: int, hub_name: str, specs: list[ConnectorSpec], base: Path | None = None
) -> list[str]:
    """Create, change and remove the hub's connectors as ``specs`` say; ``base``: the hub
    file's folder (``HubFile.base``), where a relative path stored before was read from."""
    lines: list[str] = []
    for spec in specs:  # a hub file's are absolute already (``load``); a spec made in code
        absolute_paths(
            connector_class(spec.type),
            spec.model_extra or {},
            base or Path.cwd(),
            f"hubs.{hub_name}, connector {spec.name!r}",
        )
    check_locations(hub_name, [(s.name, s.settings) for s in specs], f"hubs.{hub_name}")
    existing = {r.name: r for r in conn.execute(select(t.connectors).where(t.connectors.c.hub_id == hub_id))}
    renamed = _renamed(existing, specs)
    for position, spec in enumerate(specs):
        cls = connector_class(spec.type)
        where = f"hubs.{hub_name}, connector {spec.name!r}"
        # a password in a URL is a secret too
        settings = secrets.settings_credentials(spec.settings, cls.secret_settings, where)
        _check_settings(cls, spec, hub_name, where)
        # a URL's query values (a token) are kept encrypted with the secret settings
        plain, secret = secrets.split_settings(settings, cls.secret_settings)
        values = {
            "position": position,
            "type": spec.type,
            "direction": spec.direction,
            "operations": dumps(spec.operations),
            "on_delete": spec.on_delete,
            "filter": dumps(spec.filter),
            "mapping": dumps(spec.mapping),
            "settings": dumps(plain),
        }
        # one stored in NFD before is the same connector, its spelling kept (as a hub's)
        stored = names.pick(existing, spec.name)
        row = (existing.pop(stored) if stored is not None else None) or renamed.get(spec.name)
        label = f"connector {hub_name}/{spec.name}"
        if row is not None and names.nfc(row.name) != names.nfc(spec.name):
            values["name"] = spec.name
            Store(conn).rename_in_conflicts(hub_id, row.name, spec.name)
            lines.append(f"{label}: renamed from {row.name!r}")
        if row is None:
            conn.execute(
                insert(t.connectors).values(
                    hub_id=hub_id,
                    name=spec.name,
                    secrets=secrets.encrypt(secret),
                    created_at=now(),
                    updated_at=now(),
                    **values,
                )
            )
            lines.append(f"{label}: created ({spec.type}, {spec.direction})")
            continue
        if row.type != spec.type:
            raise ConfigError(
                f"cannot change the type of connector {spec.name!r} from {row.type} to {spec.type}; "
                "give the new connector another name",
                f"hubs.{hub_name}",
            )
        diff = [k for k, v in values.items() if k != "name" and _differs(getattr(row, k), v)]
        old_plain = loads(row.settings) or {}
        legacy = secrets.clear_url_secrets(old_plain)
        if (
            legacy
            and "settings" in diff
            and not _differs(dumps(secrets.masked(old_plain)), values["settings"])
        ):
            # stored before a URL's query values were kept encrypted: they move there now
            diff.remove("settings")
            lines.append(f"{label}: its URL's query values are now kept encrypted")
        respelt = "settings" in diff and _only_respelt(cls, old_plain, plain, base)
        if respelt:
            # a path an older contacthub stored as typed, now stored absolute: the same
            # place, nothing to read again ("changed settings" alarmed every upgrade, QA)
            diff.remove("settings")
            lines.append(f"{label}: its paths are now stored absolute")
        if _new_secrets(cls, row, secret, legacy, label, values):
            diff.append("credentials")
        if diff or "name" in values or "secrets" in values or legacy or respelt:
            conn.execute(
                update(t.connectors).where(t.connectors.c.id == row.id).values(updated_at=now(), **values)
            )
        if diff:
            lines.append(f"{label}: changed " + ", ".join(diff))
            if {"filter", "mapping", "direction", "operations", "on_delete", "settings"} & set(diff):
                _reconsider_change(conn, row, values, base)
    for name, row in existing.items():
        conn.execute(delete(t.connectors).where(t.connectors.c.id == row.id))
        lines.append(
            f"connector {hub_name}/{name}: removed (its links are forgotten; records stay in the system)"
        )
    return lines


def _new_secrets(
    cls: Any, row: Any, secret: dict[str, Any], legacy: dict[str, Any], label: str, values: dict[str, Any]
) -> bool:
    """Put the connector's encrypted settings into ``values`` if they change; whether they
    changed in a way to report ("credentials"). Secret settings the file gives replace the
    stored ones, those it leaves out are kept (a password once given); the URLs with a
    query (``secrets.split_settings``) are exactly the file's, so a query the file no longer
    has is not sent on. ``legacy``: URLs stored in clear, moved in without a report."""
    try:
        stored: dict[str, Any] | None = secrets.decrypt(row.secrets, label) if row.secrets else {}
    except ConfigError:
        stored = None  # saved under another key: the file's credentials replace them
    named = {k: v for k, v in secret.items() if k in cls.secret_settings}
    urls = {k: v for k, v in secret.items() if k not in cls.secret_settings}
    if stored is None:
        if not secret:
            return False
        values["secrets"] = secrets.encrypt(secret)
        return True
    old_named = {k: v for k, v in stored.items() if k in cls.secret_settings}
    old_urls = {k: v for k, v in stored.items() if k not in cls.secret_settings} | legacy
    kept = (named or old_named) | urls
    if kept != stored:
        values["secrets"] = secrets.encrypt(kept)
    return bool(named and named != old_named) or urls != old_urls


def _renamed(existing: dict[str, Any], specs: list[ConnectorSpec]) -> dict[str, Any]:
    """new name -> stored row, for each connector the file names anew whose type and place
    (``_place``) are those of a stored connector it no longer names, with no credential
    that differs: a rename, which keeps its links, history and credentials. Taken for a
    removal and a new connector, the records were linked again without a write, but an
    undo of an older run no longer knew which of them it had written (it deleted people
    everywhere, or left copies behind), and a CRM's record deleted or detached meanwhile
    was taken in again. Only a place one old and one new connector share is a rename.
    ``existing`` loses the rows taken."""
    named = {names.nfc(spec.name) for spec in specs}  # (a name stored in NFD is the NFC one's)
    gone = {
        name: _place(row.type, loads(row.settings) or {})
        for name, row in existing.items()
        if names.nfc(name) not in named
    }
    new = {
        spec.name: (spec, _place(spec.type, spec.settings))
        for spec in specs
        if names.pick(existing, spec.name) is None
    }
    out: dict[str, Any] = {}
    for spec, place in new.values():
        rivals = sum(1 for _, other in new.values() if other == place)
        old = [name for name, at in gone.items() if at == place and _same_secrets(spec, existing[name])]
        if rivals == 1 and len(old) == 1:  # one old and one new connector at the place
            out[spec.name] = existing.pop(old[0])
    return out


def _place(kind: str, settings: dict[str, Any]) -> tuple[Any, ...]:
    """Where a connector's records live, to tell a rename: its folder, file or address book
    (``location_of``), else the settings that name its account (a CRM's base URL, a
    company or tenant id; a URL with or without its last slash)."""
    place = location_of(settings)
    if place is not None:
        return (kind, *place)
    settings = secrets.masked(settings)  # as stored: a URL's query values masked
    values = (settings.get(k) for k in LOCATION_SETTINGS)
    return (kind, *(v.rstrip("/") if isinstance(v, str) else str(v) for v in values))


def _same_secrets(spec: ConnectorSpec, row: Any) -> bool:
    """No credential the file gives differs from the one stored: another API token on the
    same URL is another company's account, not a rename."""
    cls = connector_class(spec.type)
    given = secrets.split_settings(spec.settings, cls.secret_settings)[1]
    if not given:
        return True
    try:
        stored = secrets.decrypt(row.secrets, f"connector {row.name!r}")
    except ConfigError:
        return False
    stored = {**secrets.clear_url_secrets(loads(row.settings) or {}), **stored}
    return all(stored.get(k) in (None, v) for k, v in given.items())


def _check_settings(
    cls: Any, spec: ConnectorSpec, hub_name: str, where: str, settings: dict[str, Any] | None = None
) -> None:
    """Build the connector once, without reaching its system, so that a bad setting (a
    missing path, a delimiter of two characters, ``create = "yes"``, a folder that is not
    there: ``Connector.check_location``) is refused by ``apply`` (and by the web's
    ``service.editing``, with the ``settings`` it stores), not found by the first sync."""
    from contacthub.connectors.base import ConnectorConfig

    given = dict(spec.settings if settings is None else settings)
    _check_keys(cls, given, spec.name, hub_name, where)
    _check_types(cls, given, spec.name, hub_name, where)
    secrets.check_urls(given, where)  # as the API says it, before the connector does
    _check_urls(given, where)
    try:
        connector = cls(ConnectorConfig(spec.name, given, dict(spec.mapping), hub=hub_name))
        try:
            connector.check_location()
        finally:
            connector.close()
    except ConfigError as exc:
        raise ConfigError(exc.message, where) from exc


def _check_keys(cls: Any, given: dict[str, Any], name: str, hub_name: str, where: str) -> None:
    """Refuse a key the type does not read (``Connector.known_settings``): every key of a
    connector that is not one of ``ConnectorSpec``'s is taken as a setting, so a misspelt
    ``fliter`` would otherwise be stored, never read, and the connector run unfiltered."""
    taken = cls.known_settings | cls.secret_settings
    for key in sorted(set(given) - taken):
        close = difflib.get_close_matches(key, sorted(taken | ConnectorSpec.model_fields.keys()), 1, 0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"its settings are {', '.join(sorted(taken))}"
        raise ConfigError(
            f"unknown setting {key!r} in connector {name!r} ({cls.type}) of hub {hub_name!r}; {hint}", where
        )


#: settings that are the address of a server (a CardDAV ``url`` is checked by its connector)
URL_SETTINGS = frozenset(
    {
        "base_url", "login_url", "oauth_url", "authority_url", "graph_url", "exchange_url",
        "notify_url", "redirect_uri",
    }
)  # fmt: skip


def _check_urls(given: dict[str, Any], where: str) -> None:
    """Refuse a server address (``URL_SETTINGS``) that is not an http:// or https:// URL with
    a host, quoted with its password and query masked (``secrets.shown_url``): a Pipedrive
    ``base_url`` of ``http:/alice:pw@host`` (one slash) was stored and shown in clear, its
    password with it, as no password was found in what is no URL, and failed every run."""
    for key, value in given.items():
        if key not in URL_SETTINGS or not isinstance(value, str):
            continue
        parts = secrets.split_url(value.strip())
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{key!r} must be an http:// or https:// URL with a host, not {secrets.shown_url(value)!r}",
                where,
            )


def _check_types(cls: Any, given: dict[str, Any], name: str, hub_name: str, where: str) -> None:
    """Refuse a setting whose value is not of the JSON type its connector type declares
    (``Connector.setting_types``), in one place for every type: each connector read its
    settings with ``str()`` and ``int()``, so ``api_token = 12345`` or ``{x = "..."}`` was
    stored and every run then failed with "refused the credentials", and ``page_size =
    true`` was read as 1. A secret's value is not repeated in the message."""
    for key, value in given.items():
        declared = cls.setting_types.get(key)
        if declared is None:
            continue
        if _fits(value, declared):
            fault = _number_fault(value, cls.setting_maxima.get(key), cls.setting_minima.get(key))
            if fault:
                raise ConfigError(
                    f"the setting {key!r} of connector {name!r} ({cls.type}) of hub {hub_name!r} {fault}",
                    where,
                )
            continue
        secret = key in cls.secret_settings
        what = _said(value, secret)
        lists = [d for d in _options(declared) if typing.get_origin(d) is list]
        if lists and isinstance(value, list):
            odd = [v for v in value if not any(_fits([v], d) for d in lists)]
            if odd:  # the item that is wrong ("not a list" said nothing)
                what = f"a list holding {_said(odd[0], secret)}"
        raise ConfigError(
            f"the setting {key!r} of connector {name!r} ({cls.type}) of hub {hub_name!r} must be "
            f"{_kind(declared)}, not {what}",
            where,
        )


#: the range of a whole number a setting may hold: a signed 64-bit one (the store's JSON
#: writer refuses a bigger one, and no setting needs one)
_INT_RANGE = (-(2**63), 2**63 - 1)


def _number_fault(value: Any, maximum: float | None, minimum: float | None = None) -> str | None:
    """What is wrong with a number setting (or a number in a list), in words, else None.
    JSON has no infinity nor NaN: ``trash_days = inf`` (or 1e999 sent to the API) was
    stored as null, and every run and every later change of the connector refused it; a
    whole number beyond 64 bits failed the store's writer (a 500); ``max_card_mb = inf``
    failed the conversion to bytes. One rule here, for the hub file, the API and the
    dashboard, so that what passes is stored as the connector reads it."""
    if isinstance(value, list):
        return next((f for f in (_number_fault(v, maximum, minimum) for v in value) if f), None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, not {value!r}"
    if isinstance(value, int) and not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
        return f"must be a whole number that fits in 64 bits, not {_short(value)}"
    # the value as given: rounded (``:g``), 36500.01 was "at most 36500, not 36500"
    if maximum is not None and value > maximum:
        return f"must be at most {maximum:g}, not {value!r}"
    if minimum is not None and value < minimum:
        return f"must be at least {minimum:g}, not {value!r}"
    return None


def _said(value: Any, secret: bool) -> str:
    """A wrong value in words, with the value itself unless it is a secret's ("text")."""
    shown = "" if secret or value is None else f" ({_short(value)})"
    return f"{_json_kind(value)}{shown}"


def _options(declared: Any) -> tuple[Any, ...]:
    """The alternatives of a union type expression (``list[str] | str``), else itself."""
    return typing.get_args(declared) if isinstance(declared, types.UnionType) else (declared,)


def _fits(value: Any, declared: Any) -> bool:
    """Whether ``value`` (as JSON or TOML gives it) is of the type expression ``declared``:
    ``bool`` is no number here, and ``float`` takes any number."""
    if isinstance(declared, types.UnionType):
        return any(_fits(value, option) for option in _options(declared))
    if typing.get_origin(declared) is list:
        (item,) = typing.get_args(declared)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if declared is bool:
        return isinstance(value, bool)
    if declared in (int, float):
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (declared is float or isinstance(value, int))
        )
    return isinstance(value, declared)


def _kind(declared: Any, plural: bool = False) -> str:
    """A type expression of ``Connector.setting_types`` in words ("a list of text")."""
    if isinstance(declared, types.UnionType):
        return " or ".join(_kind(option, plural) for option in _options(declared))
    if typing.get_origin(declared) is list:
        return f"a list of {_kind(typing.get_args(declared)[0], plural=True)}"
    words = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
    many = {str: "text", int: "whole numbers", float: "numbers", bool: "trues or falses"}
    return (many if plural else words)[declared]


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object (a table)" if isinstance(value, dict) else type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def location_of(settings: dict[str, Any]) -> tuple[str, ...] | None:
    """Where a connector's records live, comparable between connectors: the resolved
    ``path`` of a folder or file (``cards`` and ``cards/``, a symlink and its target are
    one), or a CardDAV ``url`` (scheme, host, port and path, no user) with its
    ``addressbook``. None for the others (their accounts are not told apart here)."""
    path = settings.get("path")
    if isinstance(path, str) and path:
        return ("path", _real(path))  # (a symlink loop: RuntimeError from Path.resolve)
    url = settings.get("url")
    if isinstance(url, str) and url:
        import httpx

        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            return None  # refused by the connector itself
        book = str(settings.get("addressbook") or "").strip("/")
        port = f":{parsed.port}" if parsed.port else ""  # no user: a URL may carry a password
        return ("url", f"{parsed.scheme}://{parsed.host}{port}{parsed.path.rstrip('/')}", book)
    return None


def check_locations(hub_name: str, connectors: list[tuple[str, dict[str, Any]]], where: str) -> None:
    """Refuse two connectors of one hub on the same folder, file or address book: each run
    read the cards the other had written as new people, and wrote them back again (a
    copy more each run, then an IntegrityError)."""
    seen: dict[tuple[str, ...], tuple[str, str]] = {}  # place -> connector, how it was named
    for name, settings in connectors:
        place = location_of(settings)
        if place is None:
            continue
        what = place[1] + (f" (address book {place[2]!r})" if place[0] == "url" and place[2] else "")
        same = [place]
        if place[0] == "path":
            with contextlib.suppress(OSError, ValueError):  # a hard link: the same file by another name
                st = os.stat(place[1])
                same.append(("inode", str(st.st_dev), str(st.st_ino)))
        for key in same:
            if key in seen:
                other, named = seen[key]
                raise ConfigError(
                    f"connectors {other!r} and {name!r} of hub {hub_name!r} both use "
                    f"{what if named == what else f'{named} (as {what})'}: "
                    "each would take the other's records for new people; give each its own",
                    where,
                )
        for key in same:
            seen[key] = (name, what)


#: settings that say which address book a connector is: another value is another book
LOCATION_SETTINGS = ("path", "url", "addressbook", "base_url", "company_id", "tenant_id", "format")


def _same_book(old: dict[str, Any], new: dict[str, Any], base: Path | None = None) -> bool:
    """Whether two connectors' ``LOCATION_SETTINGS`` name one address book. A ``path`` is
    one place however it is spelt: a symlink to its folder, and a relative path an older
    contacthub stored as typed (``cards``, ``../cards``), which ``apply`` now stores
    absolute: taken for another book, the links went, and a card deleted meanwhile came
    back instead of going. Such a path is the same folder only when read from this
    process's folder (where its runs read it) and from the hub file's folder (``base``)
    alike: the same file applied again from its folder. Read either way alone, another
    folder of the same name was taken for it (QA: a hub file elsewhere with its own
    ``cards``), links kept, and the next run deleted every person that folder did not
    hold. When the readings differ it is another book: its links go and its records are
    matched again (a deletion made meanwhile may come back; nobody is deleted)."""
    for key in LOCATION_SETTINGS:
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        if key != "path" or not isinstance(was, str) or not isinstance(now, str) or not was or not now:
            return False
        if os.path.isabs(os.path.expanduser(was)):
            if _real(was) != _real(now):
                return False
        elif any(_real(os.path.join(at, was)) != _real(now) for at in {Path.cwd(), base or Path.cwd()}):
            return False
    return True


def _only_respelt(cls: Any, old: dict[str, Any], new: dict[str, Any], base: Path | None) -> bool:
    """Whether two settings differ only in how their ``path_settings`` spell one place."""
    keys = {k for k in {*old, *new} if old.get(k) != new.get(k)}
    if not keys or not keys <= set(cls.path_settings):
        return False
    return all(_same_book({"path": old.get(k)}, {"path": new.get(k)}, base) for k in keys)


def _real(path: str) -> str:
    """``path`` with ``~`` expanded and its links resolved (a loop left as it is)."""
    try:
        return os.path.realpath(os.path.expanduser(path), strict=False)
    except (OSError, RuntimeError, ValueError):
        return os.path.abspath(os.path.expanduser(path))


class Forgotten(NamedTuple):
    """What a change of a connector's mapping makes its links forget (``_forgotten``)."""

    #: the fields whose baselines go, marked remapped (``LinkRow.remapped``): those whose
    #: place changed, and those a place they left or took holds natively
    fields: frozenset[str]
    #: of the latter, each one read from a place a field left -> that field (Outlook's
    #: ``custom.user1`` -> ``custom.trade`` moved from "User 1" to "User 2"): what the
    #: place still holds of it is a leftover, not a value of its own (``LinkRow.vacated``)
    vacated: Mapping[str, str]


#: nothing to forget (a filter or a direction changed)
NOTHING = Forgotten(frozenset(), {})


def _forgotten(row: Any, values: dict[str, Any], base: Path | None = None) -> Forgotten | None:
    """The fields whose baselines a change makes meaningless (``None``: all of them)."""
    # compared as stored now (a URL's query values masked): a URL stored before with its
    # token in clear is no other address book, nor is another token
    old_settings, new_settings = loads(row.settings) or {}, loads(values["settings"]) or {}
    if not _same_book(secrets.masked(old_settings), secrets.masked(new_settings), base):
        return None
    old_map, new_map = loads(row.mapping) or {}, loads(values["mapping"]) or {}
    moved = {k for k in {*old_map, *new_map} if old_map.get(k) != new_map.get(k)}
    try:
        cls = connector_class(row.type)
    except ConfigError:
        return Forgotten(frozenset(moved), {})
    # the places those fields left or took change meaning for the fields that hold them
    # natively: a removed ``job_title = "Notes"`` gives Outlook's Notes back to ``notes``,
    # and what it holds there (the job title) is no edit of the notes
    default = cls.default_mapping
    left = {k: old_map.get(k, default.get(k)) for k in moved}
    places = frozenset(p for k in moved for p in (left[k], new_map.get(k, default.get(k))) if p)
    native = cls.native_fields(new_settings, places) if places else frozenset()
    steady = {k for k in native if k in old_map and old_map.get(k) == new_map.get(k)}
    forget = frozenset(moved | (native - steady))
    # and a place a field left still holds its value: read as the field that holds the
    # place natively, it was a new field (``custom.user1``) beside the one that moved
    vacated: dict[str, str] = {}
    for k in sorted(moved):
        place = left[k]
        if place and place != new_map.get(k, default.get(k)):
            for f in sorted(cls.native_fields(new_settings, frozenset({place}))):
                if f in forget and f not in moved:
                    vacated.setdefault(f, k)
    return Forgotten(forget, vacated)


def _settings_changed(row: Any, values: dict[str, Any], base: Path | None = None) -> bool:
    """Whether a change gives the connector other ``scope_settings`` (which of the address
    book's records it lists), in the same address book (one of ``LOCATION_SETTINGS``
    changed starts afresh: ``_forgotten``). A page size or a full-read interval changed
    lists the same records: a user deactivated just then is still a deletion."""
    old_settings = secrets.masked(loads(row.settings) or {})
    new_settings = secrets.masked(loads(values["settings"]) or {})
    try:
        scope = connector_class(row.type).scope_settings
    except ConfigError:
        return False
    return any(old_settings.get(k) != new_settings.get(k) for k in scope) and _same_book(
        old_settings, new_settings, base
    )


def _reconsider_change(conn: Any, row: Any, values: dict[str, Any], base: Path | None = None) -> None:
    """``_reconsider`` the connector of ``row`` after a change to ``values`` (``apply``, the
    web's edit): what its links forget, and whether its scope settings changed."""
    _reconsider(conn, row.id, _forgotten(row, values, base), _settings_changed(row, values, base))


def _reconsider(
    conn: Any, connector_id: int, forget: Forgotten | None = NOTHING, settings_changed: bool = False
) -> None:
    """After a change of how a connector syncs, the next run looks at every record again:
    versions and the cursor are forgotten so each record is re-read (a new mapping brings
    new fields in), links are marked behind so each is re-planned (a new filter lets people
    in or out), and 'excluded' markers go so excluded people are considered again.

    Baselines of the fields in ``forget`` go too (``None``: the links themselves, for
    another address book): a field mapped to another column reads empty until it is
    written there, which against the old baseline was a removal to spread everywhere. And
    the fields are marked remapped in each link (``LinkRow.remapped``): what the new place
    holds is no edit of the field (another field's column, or a stale value the property
    kept from an older mapping), so the first read takes the hub's value where it has one
    and the plan writes it there; taken as a first sighting, it rivalled the hub's value
    and won under ``newest`` ("Met at expo" for the trade). Where the hub has none, what
    the place holds is taken. And the records of a book the connector no longer points at
    are not deletions at all. A field read from a place another field's mapping left is
    marked vacated too (``Forgotten.vacated``, ``LinkRow.vacated``): the value the field
    that moved away left there is no value of its own (``inbound._remapped_base``).

    With ``settings_changed`` (its own settings, not its address book), the connector is
    marked until its next applied run (``connectors.settings_changed``), which lets go of
    the records it no longer lists (``Inbound.deletions``): a GAL given ``member_of`` or
    ``user_types`` lists fewer users, and each one left out was taken for a deletion, held,
    and one approve deleted those people in every other connector."""
    links = t.links.c
    conn.execute(delete(t.cursors).where(t.cursors.c.connector_id == connector_id))
    conn.execute(delete(t.plan_marks).where(t.plan_marks.c.connector_id == connector_id))
    if forget is None:
        # another address book: none of its links holds, and a book that lists nothing yet
        # is no "emptied" connector to hold; its records are matched afresh, the hub's
        # people written into it, and the book it left keeps its own
        conn.execute(delete(t.links).where(links.connector_id == connector_id))
        return
    if settings_changed:
        conn.execute(
            update(t.connectors).where(t.connectors.c.id == connector_id).values(settings_changed=True)
        )
    # behind: ``-synced_rev`` is below every rev, so each link is planned again, and it still
    # says which rev the connector last agreed with (``Inbound.deletions`` needs that: a
    # record deleted just then is not taken for one the hub edited since)
    conn.execute(
        update(t.links)
        .where(links.connector_id == connector_id, links.synced_rev > 0)
        .values(synced_rev=-links.synced_rev)
    )
    conn.execute(update(t.links).where(links.connector_id == connector_id).values(version=""))
    conn.execute(delete(t.links).where(links.connector_id == connector_id, links.state == "excluded"))
    if not forget.fields:
        return
    query = select(links.id, links.baseline).where(
        links.connector_id == connector_id, links.baseline.is_not(None)
    )
    changed = []
    for link_id, text in conn.execute(query).all():
        baseline, remapped, vacated = split_baseline(text)
        kept = {k: v for k, v in (baseline or {}).items() if k not in forget.fields}
        # a field remapped again before a read: its latest move says what its place holds
        marks = {k: v for k, v in (vacated or {}).items() if k not in forget.fields} | dict(forget.vacated)
        changed.append({"b_id": link_id, "b_baseline": baseline_text(kept, remapped | forget.fields, marks)})
    if changed:
        conn.execute(
            update(t.links).where(links.id == bindparam("b_id")).values(baseline=bindparam("b_baseline")),
            changed,
        )


def reread_for_region(conn: Any, hub_id: int, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """After a hub's ``phone_region`` changed, have every connector of the hub read each of
    its records again (``_reconsider``, as a changed mapping does); whether it changed. A
    number written without a country code is read under the region, and the records read
    before kept the old reading ("020 7946 0958" as typed under US, never +44 under GB)
    until each one happened to be edited (QA)."""
    if old.get("phone_region", DEFAULT_REGION) == new.get("phone_region", DEFAULT_REGION):  # ("": none)
        return False
    query = select(t.connectors.c.id).where(t.connectors.c.hub_id == hub_id)
    for connector_id in conn.execute(query).scalars().all():
        _reconsider(conn, connector_id)
    return True


def _differs(old: Any, new: Any) -> bool:
    if isinstance(new, str) and isinstance(old, str) and new[:1] in "[{n":
        try:
            return bool(loads(old) != loads(new))
        except ValueError:
            return old != new
    return bool(old != new)
