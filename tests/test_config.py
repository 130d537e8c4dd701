"""Unit tests for config.py: loading and validating hub files, applying them, secrets."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from sqlalchemy import Engine, select

from contacthub import config
from contacthub.connectors import registry
from contacthub.connectors.base import ConnectorConfig
from contacthub.engine.context import Options
from contacthub.engine.run import connector_for, run_hub
from contacthub.errors import ConfigError
from contacthub.store import secrets
from contacthub.store import tables as t
from contacthub.store.db import open_database
from contacthub.store.repo import Store, dumps, loads
from tests.memory_connector import MemoryConnector, register

TOKEN = "tok-3f9a-very-secret"


class SecretMemoryConnector(MemoryConnector):
    """A memory connector whose ``token`` setting is a credential."""

    type = "memory-secret"
    secret_settings: ClassVar[frozenset[str]] = frozenset({"token"})
    seen: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        SecretMemoryConnector.seen.append(dict(config.settings))


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    register()
    monkeypatch.setitem(registry.TYPES, "memory-secret", f"{__name__}:SecretMemoryConnector")
    monkeypatch.setenv("CONTACTHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONTACTHUB_SECRET_KEY", "first passphrase")
    monkeypatch.delenv("CONTACTHUB_DATABASE_URL", raising=False)
    SecretMemoryConnector.seen.clear()
    yield


def write(tmp_path: Path, text: str, name: str = "hubs.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.load(path)
    err = info.value
    assert str(path) in str(err), "the error names the file"
    return err


MINIMAL = """
[hubs.team]

[[hubs.team.connectors]]
name = "a"
type = "memory"
book = "book-a"
"""


# --- loading ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [150, 1000])
def test_a_filter_nested_too_deep_is_one_error(tmp_path: Path, depth: int) -> None:
    """150 groups deep passed and failed to be stored (orjson's recursion limit); 1000
    exhausted Python's stack in tomllib: each a traceback with no file name."""
    groups = "{all = [" * depth + '{field = "email", op = "is_not_empty"}' + "]}" * depth
    err = load_error(write(tmp_path, MINIMAL + f"filter = {groups}\n"))
    if depth == 150:
        assert "hubs.team.connectors[0] (a) filter" in str(err) and "nest more than 32 deep" in str(err)
    else:
        assert "nested too deep to read" in str(err)


def test_defaults(tmp_path: Path) -> None:
    spec = config.load(write(tmp_path, MINIMAL))
    hub = spec.hubs["team"]
    assert hub.conflict == "newest"
    assert hub.delete_threshold == "10%"
    assert hub.phone_region == "US"
    [conn] = hub.connectors
    assert conn.direction == "two-way"
    assert conn.operations == ["create", "update", "delete"]
    assert conn.on_delete == "delete"
    assert conn.filter is None and conn.mapping == {}
    assert conn.settings == {"book": "book-a"}


def test_full_file(tmp_path: Path) -> None:
    text = """
[hubs.team]
conflict = "priority"
delete_threshold = 50
phone_region = "GB"

[[hubs.team.connectors]]
name = "a"
type = "memory"
book = "x"
direction = "to-hub"
operations = ["create"]
on_delete = "deactivate"
filter = {all = [{field = "email", op = "ends_with", value = "@example.com"}]}
mapping = {"custom.trade" = "X-TRADE"}
"""
    hub = config.load(write(tmp_path, text)).hubs["team"]
    assert (hub.conflict, hub.delete_threshold, hub.phone_region) == ("priority", "50", "GB")
    conn = hub.connectors[0]
    assert conn.direction == "to-hub" and conn.operations == ["create"]
    assert conn.on_delete == "deactivate" and conn.mapping == {"custom.trade": "X-TRADE"}


def test_missing_file(tmp_path: Path) -> None:
    err = load_error(tmp_path / "nope.toml")
    assert "not found" in err.message


def test_unreadable_path(tmp_path: Path) -> None:
    (tmp_path / "dir.toml").mkdir()
    err = load_error(tmp_path / "dir.toml")
    assert "cannot read" in err.message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes("[hubs.caf\xe9]\n".encode("latin-1"))
    err = load_error(path)
    assert "cannot read" in err.message


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, "[hubs.team]\nconflict = \n"))
    assert "invalid TOML" in err.message and "line 2" in err.message


@pytest.mark.parametrize(
    "text,location",
    [
        ("[hub.team]\n", "hubs"),  # a typo in the top-level key
        ("hubs = 3\n", "hubs"),
        ("[hubs.team]\nconflict = 'oldest'\n", "hubs.team.conflict"),
        ("[hubs.team]\ncolour = 'red'\n", "hubs.team.colour"),
        ("[hubs.team]\nphone_region = 1\n", "hubs.team.phone_region"),
        ("[hubs.team]\nphone_region = 'XX'\n", "hubs.team.phone_region"),
        ("[hubs.team]\nphone_region = 'USA'\n", "hubs.team.phone_region"),
        (MINIMAL + "direction = 'sideways'\n", "hubs.team.connectors.0.direction"),
        (MINIMAL + "operations = ['create', 'explode']\n", "hubs.team.connectors.0.operations.1"),
        (MINIMAL + "on_delete = 'shred'\n", "hubs.team.connectors.0.on_delete"),
        (MINIMAL + "mapping = {notes = 3}\n", "hubs.team.connectors.0.mapping.notes"),
        (MINIMAL + "filter = 'email'\n", "hubs.team.connectors.0.filter"),
        ("[[hubs.team.connectors]]\ntype = 'memory'\n", "hubs.team.connectors.0.name"),
        ("[[hubs.team.connectors]]\nname = 'a'\n", "hubs.team.connectors.0.type"),
        ("[[hubs.team.connectors]]\nname = ''\ntype = 'memory'\n", "hubs.team.connectors.0.name"),
    ],
)
def test_schema_errors_name_the_location(tmp_path: Path, text: str, location: str) -> None:
    err = load_error(write(tmp_path, text))
    assert f"(at {location})" in err.message


@pytest.mark.parametrize("value", ["'ten'", "'-5'", "'%'", "-3", "'150%'", "'-1%'", "'nan%'", "'inf%'"])
def test_bad_delete_threshold_names_the_location(tmp_path: Path, value: str) -> None:
    err = load_error(write(tmp_path, f"[hubs.team]\ndelete_threshold = {value}\n"))
    assert "delete_threshold" in err.message
    assert "hubs.team" in str(err), "says which hub"


def test_connector_named_twice(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, MINIMAL + MINIMAL.replace("[hubs.team]\n", "")))
    assert "'team'" in err.message and "twice" in err.message


def test_a_nul_in_a_path_is_one_error_naming_the_connector(tmp_path: Path) -> None:
    """``path = "p\\u0000.csv"`` crashed ``apply`` with "embedded null byte" (a traceback,
    from the check that two connectors share no file): one error naming the connector."""
    text = '[[hubs.team.connectors]]\nname = "c"\ntype = "csv"\npath = "p\\u0000.csv"\n'
    err = load_error(write(tmp_path, text))
    assert "path holds a NUL character" in err.message
    assert "hubs.team.connectors[0] (c)" in str(err)


def test_unknown_connector_type(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, MINIMAL.replace('"memory"', '"carrier-pigeon"')))
    assert "unknown connector type 'carrier-pigeon'" in err.message and "vcard-dir" in err.message
    assert "hubs.team.connectors[0] (a)" in str(err)


def test_invalid_filter_names_the_connector_and_condition(tmp_path: Path) -> None:
    text = MINIMAL + "filter = {any = [{field = 'notes', op = 'matches', value = '(['}]}\n"
    err = load_error(write(tmp_path, text))
    assert "invalid regular expression" in err.message
    assert "hubs.team.connectors[0] (a) filter.any[0]" in str(err)


def test_unknown_field_in_filter(tmp_path: Path) -> None:
    text = MINIMAL + "filter = {field = 'shoe_size', op = 'equals', value = '9'}\n"
    err = load_error(write(tmp_path, text))
    assert "shoe_size" in err.message and "connectors[0] (a) filter" in str(err)


def test_unknown_field_in_mapping(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, MINIMAL + "mapping = {shoe_size = 'X-SHOE'}\n"))
    assert "mapping names unknown field 'shoe_size'" in err.message
    assert "connectors[0] (a)" in str(err)


def test_deactivate_where_the_type_cannot(tmp_path: Path) -> None:
    text = f"""
[[hubs.team.connectors]]
name = "export"
type = "csv"
path = "{tmp_path / "x.csv"}"
on_delete = "deactivate"
"""
    err = load_error(write(tmp_path, text))
    assert "cannot deactivate" in err.message and "connectors[0] (export)" in str(err)


@pytest.mark.parametrize(
    "line,key,hint",
    [
        ('fliter = {field = "email", op = "ends_with", value = "@example.com"}', "fliter", "'filter'"),
        ('opertions = ["update"]', "opertions", "'operations'"),
        ('delimeter = ";"', "delimeter", "'delimiter'"),
        ("encodng = 'utf-8'", "encodng", "'encoding'"),
        (
            "colour = 'red'",
            "colour",
            "its settings are create, date_order, delimiter, encoding, format, path",
        ),
    ],
)
def test_a_misspelt_connector_key_is_refused(tmp_path: Path, line: str, key: str, hint: str) -> None:
    """Every key that is not one of a connector's own (name, filter...) is a setting of its
    type: one the type does not read was stored unread, and the export got everyone."""
    text = f'[[hubs.team.connectors]]\nname = "export"\ntype = "csv"\npath = "{tmp_path / "x.csv"}"\n{line}\n'
    err = load_error(write(tmp_path, text))
    assert f"unknown setting {key!r} in connector 'export' (csv) of hub 'team'" in err.message
    assert hint in err.message
    with pytest.raises(ConfigError, match=f"unknown setting {key!r}"):  # apply checks it too
        config.apply(open_database("sqlite://"), config.HubFile.model_validate(_toml(text)))


def _toml(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)


@pytest.mark.parametrize(
    "kind,base,line,message",
    [
        ("pipedrive", "", 'api_token = {x = "RIGHTTOKEN"}', "'api_token' of connector 'c' (pipedrive) of hub "
         "'team' must be text, not an object (a table)"),
        ("pipedrive", "", 'api_token = ["RIGHTTOKEN"]', "'api_token' of connector 'c' (pipedrive) of hub "
         "'team' must be text, not a list"),
        ("pipedrive", "", "api_token = 12345", "'api_token' of connector 'c' (pipedrive) of hub 'team' must "
         "be text, not a number"),
        ("pipedrive", 'api_token = "t"\n', "page_size = true", "'page_size' of connector 'c' (pipedrive) of "
         "hub 'team' must be a whole number, not true or false (True)"),
        ("pipedrive", 'api_token = "t"\n', "page_size = 2.5", "must be a whole number, not a number (2.5)"),
        ("pipedrive", 'api_token = "t"\n', "create_organizations = 1", "'create_organizations' of connector "
         "'c' (pipedrive) of hub 'team' must be true or false, not a number (1)"),
        ("procore", "company_id = 1\n", 'objects = "users"', "'objects' of connector 'c' (procore) of hub "
         "'team' must be a list of text, not text ('users')"),
        ("procore", "company_id = 1\n", "projects = [1, true]",
         "must be a list of whole numbers or text, not a list holding true or false (True)"),
        ("m365-gal", "", "write_users = 'yes'", "'write_users' of connector 'c' (m365-gal) of hub 'team' "
         "must be true or false, not text ('yes')"),
        ("carddav", 'url = "https://dav.example.com/"\n', "password = 1234", "'password' of connector 'c' "
         "(carddav) of hub 'team' must be text, not a number"),
        ("carddav", 'url = "https://dav.example.com/"\n', "timeout = '60'", "must be a number, not text"),
        ("csv", "", "delimiter = 59", "'delimiter' of connector 'c' (csv) of hub 'team' must be text"),
        ("vcard-dir", "", "extension = ['vcf']", "'extension' of connector 'c' (vcard-dir) of hub 'team' "
         "must be text, not a list"),
    ],
)  # fmt: skip
def test_a_setting_of_the_wrong_type_is_refused(
    tmp_path: Path, kind: str, base: str, line: str, message: str
) -> None:
    """Every type's settings are checked against the JSON types it declares, by ``load``
    and by ``apply``: an API token given as a table or a number was stored, and every run
    then failed with "refused the credentials"; ``page_size = true`` was read as 1. A
    secret's value is not repeated in the message."""
    (tmp_path / "cards").mkdir()
    path = tmp_path / ("x.csv" if kind == "csv" else "cards")
    located = f'path = "{path}"\ncreate = true\n' if kind in ("csv", "vcard-dir") else ""
    text = f'[[hubs.team.connectors]]\nname = "c"\ntype = "{kind}"\n{located}{base}{line}\n'
    err = load_error(write(tmp_path, text))
    assert message in err.message and "connectors[0] (c)" in str(err)
    assert not any(secret in err.message for secret in ("RIGHTTOKEN", "1234"))
    engine = open_database("sqlite://")
    with pytest.raises(ConfigError, match="must be "):  # apply checks it too, before storing
        config.apply(engine, config.HubFile.model_validate(_toml(text)))
    with engine.connect() as conn:
        assert conn.execute(select(t.connectors)).first() is None


@pytest.mark.parametrize(
    "kind,line,message",
    [
        ("vcard-dir", "trash_days = inf", "'trash_days' of connector 'c' (vcard-dir) of hub 'team' must be a "
         "finite number, not inf"),
        ("vcard-dir", "trash_days = nan", "'trash_days' of connector 'c' (vcard-dir) of hub 'team' must be a "
         "finite number, not nan"),
        ("vcard-dir", "max_card_mb = inf", "'max_card_mb' of connector 'c' (vcard-dir) of hub 'team' must be "
         "a finite number, not inf"),
        ("vcard-dir", "max_card_mb = -inf", "must be a finite number, not -inf"),
        ("vcard-dir", "trash_days = 100000000000000000000", "'trash_days' of connector 'c' (vcard-dir) of "
         "hub 'team' must be a whole number that fits in 64 bits, not 100000000000000000000"),
        ("vcard-dir", "trash_days = 36501", "'trash_days' of connector 'c' (vcard-dir) of hub 'team' must be "
         "at most 36500, not 36501"),
        ("vcard-dir", "max_card_mb = 4097", "'max_card_mb' of connector 'c' (vcard-dir) of hub 'team' must "
         "be at most 4096, not 4097"),
        ("carddav", "trash_days = 1e300", "'trash_days' of connector 'c' (carddav) of hub 'team' must be at "
         "most 36500, not 1e+300"),
        ("vcard-dir", "trash_days = 36500.01", "must be at most 36500, not 36500.01"),
        ("carddav", "timeout = 1e300", "'timeout' of connector 'c' (carddav) of hub 'team' must be at most "
         "3600, not 1e+300"),
        ("carddav", "timeout = -1", "'timeout' of connector 'c' (carddav) of hub 'team' must be at least "
         "0.1, not -1"),
        ("carddav", "attempts = 9223372036854775807", "'attempts' of connector 'c' (carddav) of hub 'team' "
         "must be at most 100, not 9223372036854775807"),
        ("carddav", "batch = 0", "'batch' of connector 'c' (carddav) of hub 'team' must be at least 1, "
         "not 0"),
        ("carddav", "timeout = inf", "'timeout' of connector 'c' (carddav) of hub 'team' must be a finite "
         "number, not inf"),
        ("procore", "projects = [1, 100000000000000000000]", "'projects' of connector 'c' (procore) of hub "
         "'team' must be a whole number that fits in 64 bits"),
    ],
)  # fmt: skip
def test_a_number_setting_json_cannot_hold_or_too_big_is_refused(
    tmp_path: Path, kind: str, line: str, message: str
) -> None:
    """JSON has no infinity nor NaN, and the store's writer no whole number beyond 64 bits:
    ``trash_days = inf`` was stored as null, and every run after failed on it; ``max_card_mb
    = inf`` and a 21-digit number ended ``apply`` in a traceback. They are refused with one
    message, by ``load`` and ``apply``, as are a trash kept longer than a century and a
    card limit above 4 GB; the largest allowed values are taken."""
    (tmp_path / "cards").mkdir()
    located = {
        "vcard-dir": f'path = "{tmp_path / "cards"}"\n',
        "carddav": 'url = "https://dav.example.com/"\n',
        "procore": "company_id = 1\n",
    }[kind]
    text = f'[[hubs.team.connectors]]\nname = "c"\ntype = "{kind}"\n{located}{line}\n'
    err = load_error(write(tmp_path, text))
    assert message in err.message and "connectors[0] (c)" in str(err)
    engine = open_database("sqlite://")
    with pytest.raises(ConfigError, match="must be "):  # apply checks it too, before storing
        config.apply(engine, config.HubFile.model_validate(_toml(text)))
    with engine.connect() as conn:
        assert conn.execute(select(t.connectors)).first() is None
    if kind == "vcard-dir":
        most = f"{text.split(line)[0]}trash_days = 36500\nmax_card_mb = 4096\n"
        config.apply(engine, config.HubFile.model_validate(_toml(most)))
        with engine.connect() as conn:
            stored = loads(conn.execute(select(t.connectors.c.settings)).scalar_one())
        assert stored["trash_days"] == 36500 and stored["max_card_mb"] == 4096


def test_settings_of_the_declared_types_are_taken(tmp_path: Path) -> None:
    """What each type reads in either form stays taken: a version as text or a number, a
    company id as a number or digits, a single name for a list of m365 names."""
    (tmp_path / "cards").mkdir()
    text = f"""
[[hubs.team.connectors]]
name = "cards"
type = "vcard-dir"
path = "{tmp_path / "cards"}"
version = 4.0
trash_days = 0.5
[[hubs.team.connectors]]
name = "pc"
type = "procore"
company_id = "17"
projects = [1, "2"]
full_every = 12
[[hubs.team.connectors]]
name = "gal"
type = "m365-gal"
user_types = "Member"
verify_nothing_here = 1
"""
    err = load_error(write(tmp_path, text))  # only the unknown key of the last one
    assert "unknown setting 'verify_nothing_here'" in err.message
    config.load(write(tmp_path, text.replace("verify_nothing_here = 1\n", "")))


def test_every_declared_setting_type_is_one_the_check_knows() -> None:
    """A type expression ``config._fits`` cannot read would fail at the first check of it."""
    for name in set(registry.TYPES) - {"memory", "memory-secret"}:
        cls = registry.connector_class(name)
        assert set(cls.setting_types) == cls.known_settings | cls.secret_settings, name
        for key, declared in cls.setting_types.items():
            assert config._kind(declared), (name, key)
            config._fits("x", declared)


def test_an_operation_named_twice_is_refused(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, MINIMAL + 'operations = ["create", "create"]\n'))
    assert "operations names 'create' twice" in err.message and "operations" in str(err)


def test_every_setting_the_readme_names_is_taken() -> None:
    """The README's table of connector types lists each type's settings: none is refused."""
    import re

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([\w-]+)` \|.*\| (.*) \|$", readme, re.M)
    assert {name for name, _ in rows} == set(registry.TYPES) - {"memory", "memory-secret"}
    for name, column in rows:
        cls = registry.connector_class(name)
        named = set(re.findall(r"`([a-z_]+)", column))
        # values of settings and commands the column also names
        words = {"auto", "plain", "outlook", "google", "thunderbird", "users", "vendors", "people"}
        words |= {"dmy", "mdy", "ymd"}
        refused = named - words - {"contacthub", "connect"} - cls.known_settings - cls.secret_settings
        assert not refused, f"{name}: the README names {sorted(refused)}"
    assert "certificate_key_file" in registry.connector_class("m365-gal").known_settings


def test_hub_values_at_the_edges(tmp_path: Path) -> None:
    """100% is the most a threshold can say; a region is read as phonenumbers spells it."""
    hub = config.load(write(tmp_path, "[hubs.team]\ndelete_threshold = '100%'\nphone_region = 'gb'\n"))
    assert (hub.hubs["team"].delete_threshold, hub.hubs["team"].phone_region) == ("100%", "GB")


@pytest.mark.parametrize("kind", ["vcard-dir", "csv"])
def test_an_unknown_encoding_is_refused(tmp_path: Path, kind: str) -> None:
    (tmp_path / "cards").mkdir()
    path = tmp_path / ("cards" if kind == "vcard-dir" else "x.csv")
    text = f'[[hubs.team.connectors]]\nname = "c"\ntype = "{kind}"\npath = "{path}"\ncreate = true\n'
    config.load(write(tmp_path, text + 'encoding = "utf-8"\n'))
    err = load_error(write(tmp_path, text + 'encoding = "klingon"\n'))
    assert "unknown encoding 'klingon'" in err.message and "connectors[0] (c)" in str(err)
    # codecs knows these too, but they turn text into something no program reads
    for name in ("rot13", "base64", "zlib"):
        err = load_error(write(tmp_path, text + f'encoding = "{name}"\n'))
        assert f"{name!r} is not a text encoding" in err.message


def test_a_folder_or_file_that_is_not_there_is_refused(tmp_path: Path) -> None:
    """What the first run would refuse for want of its folder or file, apply refuses; with
    create = true the run makes it, so apply takes it (and makes nothing itself)."""

    def block(kind: str, path: Path, extra: str = "") -> str:
        return f'[[hubs.team.connectors]]\nname = "c"\ntype = "{kind}"\npath = "{path}"\n{extra}'

    err = load_error(write(tmp_path, block("vcard-dir", tmp_path / "nope")))
    assert f"the vCard folder {tmp_path / 'nope'} does not exist" in err.message
    assert "create = true" in err.message and "connectors[0] (c)" in str(err)
    err = load_error(write(tmp_path, block("csv", tmp_path / "nope.csv")))
    assert f"the CSV file {tmp_path / 'nope.csv'} does not exist" in err.message
    (tmp_path / "file").write_text("x")
    err = load_error(write(tmp_path, block("vcard-dir", tmp_path / "file", "create = true\n")))
    assert "is not a folder" in err.message
    err = load_error(write(tmp_path, block("csv", tmp_path, "create = true\n")))
    assert "is a folder" in err.message
    config.load(write(tmp_path, block("vcard-dir", tmp_path / "new", "create = true\n")))
    config.load(write(tmp_path, block("csv", tmp_path / "new.csv", "create = true\n")))
    assert not (tmp_path / "new").exists() and not (tmp_path / "new.csv").exists()
    engine = open_database("sqlite://")
    with pytest.raises(ConfigError, match="does not exist"):  # apply checks it too
        config.apply(engine, spec_of([{"name": "c", "type": "vcard-dir", "path": str(tmp_path / "nope")}]))


@pytest.mark.parametrize("create", ["", "create = true\n"])
def test_a_folder_name_too_long_for_the_disk_is_refused_naming_the_setting(
    tmp_path: Path, create: str
) -> None:
    """QA: a vCard folder's name over 255 characters was a traceback from apply ("File
    name too long" from ``is_dir``), and a 500 from the web API: now refused as a missing
    folder is, saying why, as the CSV connector's "cannot read" does."""
    long = tmp_path / ("a" * 300)
    text = f'[[hubs.team.connectors]]\nname = "c"\ntype = "vcard-dir"\npath = "{long}"\n{create}'
    err = load_error(write(tmp_path, text))
    assert f"cannot use {long} as the vCard folder: file name too long" in err.message
    assert "'path' setting" in err.message and "connectors[0] (c)" in str(err)
    engine = open_database("sqlite://")
    with pytest.raises(ConfigError, match="file name too long"):  # apply checks it too
        config.apply(engine, spec_of([{"name": "c", "type": "vcard-dir", "path": str(long)}]))


@pytest.mark.parametrize("under", ["sub", "sub/deeper"])
def test_a_folder_under_a_file_is_refused_naming_the_file(tmp_path: Path, under: str) -> None:
    """QA: a vCard folder ``afile/sub`` where ``afile`` is a file passed apply with
    ``create = true`` (taken for a folder not there yet) and failed only at the first run;
    the CSV connector refuses the same up front. Now so does the folder, naming the file."""
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "afile" / under
    text = f'[[hubs.team.connectors]]\nname = "c"\ntype = "vcard-dir"\npath = "{path}"\ncreate = true\n'
    err = load_error(write(tmp_path, text))
    assert f"{path} cannot be a folder: {tmp_path / 'afile'} is a file" in err.message, err.message
    assert "'path' setting" in err.message and "connectors[0] (c)" in str(err)


def test_two_connectors_of_a_hub_on_one_place_are_refused(tmp_path: Path) -> None:
    """Each would read the cards the other wrote as new people: a copy more every run."""
    (tmp_path / "cards").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "cards")

    def hub(*blocks: str, name: str = "team") -> str:
        return "".join(f'[[hubs.{name}.connectors]]\nname = "c{i}"\n{b}\n' for i, b in enumerate(blocks))

    folder = f'type = "vcard-dir"\npath = "{tmp_path / "cards"}"'
    for same in (f"{tmp_path / 'cards'}/", f"{tmp_path / 'link'}", f"{tmp_path}/x/../cards"):
        err = load_error(write(tmp_path, hub(folder, f'type = "vcard-dir"\npath = "{same}"')))
        assert f"connectors 'c0' and 'c1' of hub 'team' both use {tmp_path / 'cards'}" in err.message
    sheet = f'type = "csv"\npath = "{tmp_path / "x.csv"}"\ncreate = true'
    err = load_error(write(tmp_path, hub(sheet, folder, sheet.replace("x.csv", "./x.csv"))))
    assert f"connectors 'c0' and 'c2' of hub 'team' both use {tmp_path / 'x.csv'}" in err.message
    (tmp_path / "x.csv").write_text("given_name\nAnn\n")
    os.link(tmp_path / "x.csv", tmp_path / "hard.csv")  # the same file by another name
    err = load_error(write(tmp_path, hub(sheet, sheet.replace("x.csv", "hard.csv"))))
    assert f"both use {tmp_path / 'x.csv'} (as {tmp_path / 'hard.csv'})" in err.message
    dav = 'type = "carddav"\nurl = "https://dav.example.com/books"\naddressbook = "team"'
    other = 'type = "carddav"\nurl = "https://ann:pw@DAV.example.com/books/"\naddressbook = "team/"'
    err = load_error(write(tmp_path, hub(dav, other)))
    assert "both use https://dav.example.com/books (address book 'team')" in err.message
    assert "pw" not in str(err), "a password in a URL is never shown"
    # other places, or the same folder in two hubs (tests/test_cli.py shares one so)
    config.load(write(tmp_path, hub(dav, other.replace('"team/"', '"private"'), folder, sheet)))
    config.load(write(tmp_path, hub(folder) + hub(folder, name="other")))
    with pytest.raises(ConfigError, match="both use"):  # apply checks it too
        config.apply(open_database("sqlite://"), config.HubFile.model_validate(_toml(hub(folder, folder))))


def test_second_hub_errors_name_that_hub(tmp_path: Path) -> None:
    text = MINIMAL + "\n[[hubs.other.connectors]]\nname = 'b'\ntype = 'nope'\n"
    err = load_error(write(tmp_path, text))
    assert "hubs.other.connectors[0] (b)" in str(err)


# --- apply ------------------------------------------------------------------------------------


def spec_of(connectors: list[dict[str, Any]], **hub: Any) -> config.HubFile:
    return config.HubFile.model_validate({"hubs": {"team": {**hub, "connectors": connectors}}})


def memory(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "memory", "book": f"book-{name}", **extra}


def rows(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        hub = Store(conn).hub("team")
        return {"hub": hub, **{c.name: c for c in Store(conn).connectors(hub.id)}}


def test_apply_creates_updates_removes(database_url: str) -> None:
    engine = open_database(database_url)
    lines = config.apply(engine, spec_of([memory("a"), memory("b", direction="from-hub")]))
    assert lines == [
        "hub team: created",
        "connector team/a: created (memory, two-way)",
        "connector team/b: created (memory, from-hub)",
    ]
    stored = rows(engine)
    a, b = stored["a"], stored["b"]
    assert (a.position, a.direction, a.operations, a.on_delete) == (
        0,
        "two-way",
        ["create", "update", "delete"],
        "delete",
    )
    assert a.filter is None and a.mapping == {} and a.settings == {"book": "book-a"}
    assert a.secrets is None
    assert (b.position, b.direction) == (1, "from-hub")
    assert stored["hub"].conflict == "newest" and stored["hub"].delete_threshold == "10%"

    # applying the same file again changes nothing
    assert config.apply(engine, spec_of([memory("a"), memory("b", direction="from-hub")])) == []

    # update the hub and one connector, drop the other
    flt = {"all": [{"field": "email", "op": "ends_with", "value": "@x.org"}]}
    lines = config.apply(
        engine,
        spec_of(
            [memory("a", direction="to-hub", filter=flt, mapping={"notes": "NOTE"})],
            conflict="manual",
            delete_threshold=20,
        ),
    )
    assert lines[0] == "hub team: conflict 'newest' -> 'manual', delete_threshold '10%' -> '20'"
    assert lines[1] == "connector team/a: changed direction, filter, mapping"
    assert lines[2].startswith("connector team/b: removed")
    assert len(lines) == 3
    stored = rows(engine)
    assert "b" not in stored
    assert stored["a"].direction == "to-hub" and stored["a"].filter == flt
    assert stored["a"].mapping == {"notes": "NOTE"}
    assert stored["hub"].conflict == "manual" and stored["hub"].delete_threshold == "20"


def test_apply_reorders_priority(database_url: str) -> None:
    engine = open_database(database_url)
    config.apply(engine, spec_of([memory("a"), memory("b")]))
    lines = config.apply(engine, spec_of([memory("b"), memory("a")]))
    assert sorted(lines) == ["connector team/a: changed position", "connector team/b: changed position"]
    stored = rows(engine)
    assert (stored["b"].position, stored["a"].position) == (0, 1)


def test_apply_settings_change(database_url: str) -> None:
    engine = open_database(database_url)
    config.apply(engine, spec_of([memory("a")]))
    assert config.apply(engine, spec_of([memory("a", book="elsewhere")])) == [
        "connector team/a: changed settings"
    ]
    assert rows(engine)["a"].settings == {"book": "elsewhere"}


def test_a_change_of_settings_marks_the_connector_for_its_next_run(database_url: str) -> None:
    """Its own settings changed, not its address book (which starts afresh): the next
    applied run lets go of what the connector no longer lists (``Inbound.deletions``); a
    change of filter or mapping, or a save of the same settings from the web, does not."""
    from contacthub.service.editing import update_connector

    engine = open_database(database_url)
    config.apply(engine, spec_of([memory("a"), memory("b")]))
    config.apply(engine, spec_of([memory("a", filter={"field": "email", "op": "is_not_empty"}), memory("b")]))
    assert not rows(engine)["a"].settings_changed
    config.apply(engine, spec_of([memory("a", hidden=["x"]), memory("b")]))
    marked = rows(engine)
    assert marked["a"].settings_changed and not marked["b"].settings_changed
    # only the settings that say which records are listed (``scope_settings``): a page size
    # or a full-read interval changed lists the same records, and a deletion then is one
    old = SimpleNamespace(
        type="m365-gal", settings='{"tenant_id": "t", "member_of": ["A"], "write_budget": 5}'
    )
    assert config._settings_changed(
        old, {"settings": '{"tenant_id": "t", "member_of": ["B"], "write_budget": 5}'}
    )
    assert not config._settings_changed(
        old, {"settings": '{"tenant_id": "t", "member_of": ["A"], "write_budget": 9}'}
    )
    assert not config._settings_changed(
        old, {"settings": '{"tenant_id": "u", "member_of": ["B"], "write_budget": 5}'}
    )
    procore = SimpleNamespace(type="procore", settings='{"company_id": 1, "per_page": 100}')
    assert not config._settings_changed(procore, {"settings": '{"company_id": 1, "per_page": 50}'})
    assert config._settings_changed(
        procore, {"settings": '{"company_id": 1, "per_page": 100, "projects": [7]}'}
    )
    with engine.begin() as conn:
        Store(conn).settings_applied(marked["a"].id)
    update_connector(engine, marked["a"].id, {"name": "a2"}, {"hidden": ["x"]})
    assert not rows(engine)["a2"].settings_changed
    update_connector(engine, marked["a"].id, {}, {"hidden": []})
    assert rows(engine)["a2"].settings_changed


def test_a_connector_with_a_filter_stored_before_the_check_can_still_be_edited(database_url: str) -> None:
    """QA: a filter an older version stored (``in [..., ""]``, refused where a filter is set
    since) kept every other edit of its connector from the API and the dashboard (a
    direction, a rename): only a filter being set is checked so; one left as it is stored
    is read as runs read it."""
    from sqlalchemy import update

    from contacthub.errors import UserError
    from contacthub.service.editing import update_connector

    engine = open_database(database_url)
    config.apply(engine, spec_of([memory("a"), memory("b")]))
    old = {"field": "display_name", "op": "in", "value": ["Ann Lee", ""]}
    with engine.begin() as conn:  # as an older version stored it
        conn.execute(update(t.connectors).where(t.connectors.c.name == "b").values(filter=dumps(old)))
    b = rows(engine)["b"]
    update_connector(engine, b.id, {"direction": "from-hub"})
    assert rows(engine)["b"].direction == "from-hub" and rows(engine)["b"].filter == old
    with pytest.raises(UserError, match="empty text"):  # set anew: refused
        update_connector(engine, b.id, {"filter": {"field": "email", "op": "equals", "value": ""}})


def test_apply_refuses_a_type_change(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    config.apply(engine, spec_of([memory("a")]))
    changed = spec_of([{"name": "a", "type": "csv", "path": str(tmp_path / "a.csv"), "create": True}])
    with pytest.raises(ConfigError) as info:
        config.apply(engine, changed)
    assert "cannot change the type of connector 'a'" in info.value.message
    assert rows(engine)["a"].type == "memory"  # nothing half-applied


def test_apply_is_one_transaction(sqlite_url: str, tmp_path: Path) -> None:
    """A failure in the second hub leaves the first one as it was."""
    engine = open_database(sqlite_url)
    config.apply(engine, spec_of([memory("a")]))
    spec = config.HubFile.model_validate(
        {
            "hubs": {
                "new": {"connectors": [memory("n")]},
                "team": {"connectors": [{"name": "a", "type": "csv", "path": str(tmp_path / "x")}]},
            }
        }
    )
    with pytest.raises(ConfigError):
        config.apply(engine, spec)
    with engine.connect() as conn:
        assert [h.name for h in Store(conn).hubs()] == ["team"]


def test_loaded_file_applies(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    lines = config.apply(engine, config.load(write(tmp_path, MINIMAL)))
    assert lines == ["hub team: created", "connector team/a: created (memory, two-way)"]


# --- secrets ----------------------------------------------------------------------------------


def secret_connector(token: str = TOKEN, **extra: Any) -> dict[str, Any]:
    return {"name": "s", "type": "memory-secret", "book": "book-s", "token": token, **extra}


def raw_connector(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(t.connectors).where(t.connectors.c.name == "s")).one()


def test_secret_is_encrypted_at_rest_and_given_to_the_connector(database_url: str) -> None:
    engine = open_database(database_url)
    config.apply(engine, spec_of([secret_connector()]))
    raw = raw_connector(engine)
    assert TOKEN not in raw.settings and "token" not in raw.settings
    assert raw.secrets and TOKEN not in raw.secrets
    for column in raw._mapping.values():
        assert TOKEN not in str(column)
    assert secrets.decrypt(raw.secrets) == {"token": TOKEN}

    stored = rows(engine)
    connector = connector_for(stored["s"], stored["hub"])
    assert connector.config.settings == {"book": "book-s", "token": TOKEN}

    # a run builds the connector with the decrypted token
    report = run_hub(engine, "team", options=Options())
    assert report.status == "applied", report
    assert SecretMemoryConnector.seen[-1]["token"] == TOKEN

    # listings show that there is a credential, never what it is
    from contacthub import service

    listed = service.hubs(engine)
    assert TOKEN not in str(listed) and TOKEN not in str(report.as_json())
    [hub] = listed
    assert hub["connectors"][0]["settings"]["token"] == secrets.REDACTED


def test_same_secret_again_changes_nothing_new_secret_is_reported(database_url: str) -> None:
    engine = open_database(database_url)
    config.apply(engine, spec_of([secret_connector()]))
    before = raw_connector(engine).secrets
    assert config.apply(engine, spec_of([secret_connector()])) == []
    assert raw_connector(engine).secrets == before
    lines = config.apply(engine, spec_of([secret_connector("new-token-value")]))
    assert lines == ["connector team/s: changed credentials"]
    assert all("new-token-value" not in line for line in lines)
    assert secrets.decrypt(raw_connector(engine).secrets) == {"token": "new-token-value"}


def test_wrong_secret_key_is_a_clear_error(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_database(sqlite_url)
    config.apply(engine, spec_of([secret_connector()]))
    monkeypatch.setenv("CONTACTHUB_SECRET_KEY", "another passphrase")
    stored = rows(engine)
    with pytest.raises(ConfigError) as info:
        connector_for(stored["s"], stored["hub"])
    assert "CONTACTHUB_SECRET_KEY" in info.value.message
    assert "'s'" in str(info.value)
    assert TOKEN not in str(info.value)
    report = run_hub(engine, "team", options=Options())
    assert report.status == "failed" and "CONTACTHUB_SECRET_KEY" in (report.message or "")


def test_reapplying_credentials_under_a_new_key_recovers(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wrong-key message says 'apply the hub file again with the credentials': that must work."""
    engine = open_database(sqlite_url)
    config.apply(engine, spec_of([secret_connector()]))
    monkeypatch.setenv("CONTACTHUB_SECRET_KEY", "another passphrase")
    lines = config.apply(engine, spec_of([secret_connector()]))
    assert lines == ["connector team/s: changed credentials"]
    assert secrets.decrypt(raw_connector(engine).secrets) == {"token": TOKEN}


def test_a_fernet_key_is_used_as_is(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key()
    monkeypatch.setenv("CONTACTHUB_SECRET_KEY", key.decode())
    engine = open_database(sqlite_url)
    config.apply(engine, spec_of([secret_connector()]))
    token = raw_connector(engine).secrets
    assert Fernet(key).decrypt(token.encode()) == b'{"token":"' + TOKEN.encode() + b'"}'


def test_without_a_key_a_private_key_file_is_made(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CONTACTHUB_SECRET_KEY")
    engine = open_database(sqlite_url)
    config.apply(engine, spec_of([secret_connector()]))
    key_file = tmp_path / "home" / "secret.key"
    assert key_file.exists()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert secrets.decrypt(raw_connector(engine).secrets) == {"token": TOKEN}


def test_redact() -> None:
    shown = secrets.redact({"book": "b", "token": TOKEN}, frozenset({"token"}))
    assert shown == {"book": "b", "token": secrets.REDACTED}
    assert secrets.encrypt({}) is None and secrets.decrypt(None) == {}


def test_two_fields_on_one_csv_column_are_refused(tmp_path: Path) -> None:
    """Both fields were read from the column and each write overwrote the other; a field
    mapped onto a column the format reads itself (Outlook's ``User 1``) is taken."""
    path = tmp_path / "c.csv"
    path.write_text("First Name,User 1\r\nAnn,plumber\r\n")

    def block(mapping: str) -> str:
        head = '[hubs.team]\n[[hubs.team.connectors]]\nname = "c"\ntype = "csv"\n'
        return f'{head}path = "{path}"\nmapping = {mapping}\n'

    err = load_error(write(tmp_path, block('{"custom.a" = "User 1", "custom.b" = "User 1"}')))
    assert "connectors[0] (c)" in str(err)
    assert "'custom.a' and 'custom.b' in the same CSV column 'User 1'" in err.message
    config.load(write(tmp_path, block('{"custom.trade" = "User 1"}')))
    err = load_error(write(tmp_path, block('{"custom.code" = "id"}')))  # a plain file's record ids
    assert "'custom.code' in the column 'id'" in err.message
    engine = open_database("sqlite://")
    twice = {"custom.a": "Trade", "custom.b": "Trade"}
    with pytest.raises(ConfigError, match="same CSV column 'Trade'"):  # apply checks it too
        config.apply(engine, spec_of([{"name": "c", "type": "csv", "path": str(path), "mapping": twice}]))


@pytest.mark.parametrize("column", ["=cmd|x!A1", "+1", "-x", "@SUM(A1)"])  # (tab, CR: control)
def test_a_csv_column_name_that_reads_as_a_formula_is_refused(tmp_path: Path, column: str) -> None:
    """A mapped column's name is written into the header as it is (values get the formula
    guard's ``'``, headers did not): ``=cmd|x!A1`` was a formula run by the spreadsheet
    program that opened the file. ``apply`` refuses it, naming the mapping entry."""
    path = tmp_path / "c.csv"
    path.write_text("First Name,E-mail Address\r\nAnn,ann@a.com\r\n")
    engine = open_database("sqlite://")
    mapping = {"job_title": column}
    with pytest.raises(ConfigError) as info:
        config.apply(engine, spec_of([{"name": "c", "type": "csv", "path": str(path), "mapping": mapping}]))
    assert f"'job_title' in the CSV column {column!r}" in info.value.message
    assert "spreadsheet formula" in info.value.message
    config.apply(
        engine, spec_of([{"name": "c", "type": "csv", "path": str(path), "mapping": {"job_title": "a=b"}}])
    )


@pytest.mark.parametrize(
    ("field", "native", "says"),
    [
        ("custom.a\nb", "Trade", "its field name holds a control character"),
        ("custom.trade", "Col\r\nInjected,Row", "its column or property name holds a control character"),
        ("custom.a\u202eb", "Trade", "its field name holds an invisible character (U+202E"),
        ("custom.trade", "Tr\u200bade", "its column or property name holds an invisible character (U+200B"),
        ("custom.trade", "Tr\u2028ade", "control character"),
        ("custom.trade", "\tTrade", "control character"),
    ],
)
def test_a_mapping_with_control_or_invisible_characters_is_refused(
    tmp_path: Path, field: str, native: str, says: str
) -> None:
    """``"custom.a\\nb" = "Col\\r\\nInjected,Row"`` was taken: the line break went into the
    CSV header (a row of its own to other readers) and every listing; a right-to-left
    override made ``custom.a\u202eb`` read as another name. Mapping names are held to the
    rule of hub and connector names, in the hub file as through the API."""
    path = tmp_path / "c.csv"
    path.write_text("First Name,Trade\r\nAnn,plumber\r\n")
    mapping = "{" + json.dumps(field) + " = " + json.dumps(native) + "}"
    text = f'[[hubs.team.connectors]]\nname = "c"\ntype = "csv"\npath = "{path}"\nmapping = {mapping}\n'
    err = load_error(write(tmp_path, text))
    assert f"the mapping {field!r} = {native!r}: " in err.message and says in err.message
    config.load(
        write(
            tmp_path, text.replace(json.dumps(field), '"custom.trade"').replace(json.dumps(native), '"Trade"')
        )
    )


def test_an_unknown_csv_date_order_is_refused(tmp_path: Path) -> None:
    """A misspelt order read every slashed date month first, as if it were not there."""
    path = tmp_path / "c.csv"
    path.write_text("First Name,Birthday\r\nAnn,25/12/1980\r\n")
    head = f'[hubs.team]\n[[hubs.team.connectors]]\nname = "c"\ntype = "csv"\npath = "{path}"\n'
    err = load_error(write(tmp_path, head + 'date_order = "uk"\n'))
    assert "connectors[0] (c)" in str(err)
    assert err.message == "unknown csv date_order 'uk' (known: auto, mdy, dmy, ymd)"
    config.load(write(tmp_path, head + 'date_order = "dmy"\n'))
    engine = open_database("sqlite://")
    with pytest.raises(
        ConfigError,
        match=r"'date_order' of connector 'c' \(csv\) of hub 'team' must be text, not a number",
    ):  # apply checks it too
        config.apply(engine, spec_of([{"name": "c", "type": "csv", "path": str(path), "date_order": 5}]))


def test_a_connector_cannot_be_named_hub(tmp_path: Path) -> None:
    """The journal and the run reports call the hub's own changes "hub"."""
    (tmp_path / "cards").mkdir()
    err = load_error(
        write(
            tmp_path,
            f'[[hubs.team.connectors]]\nname = "Hub"\ntype = "vcard-dir"\npath = "{tmp_path / "cards"}"\n',
        )
    )
    assert "'hub' names the hub's own changes" in str(err)
    for name in (r"a\nb", r"a\u0085b", r"a\u2028b"):  # TOML escapes of line breaks, Unicode's too
        err = load_error(write(tmp_path, f'[[hubs.team.connectors]]\nname = "{name}"\ntype = "csv"\n'))
        assert "control character" in str(err)


def test_paths_are_stored_absolute_from_the_hub_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``path = "cards"`` and ``path = "~/cards"`` were stored as typed: a later run from
    cron or ``serve``, in another folder or with another home, failed with "the vCard
    folder cards does not exist" or read another folder (QA)."""
    home, where, elsewhere = tmp_path / "home", tmp_path / "conf", tmp_path / "elsewhere"
    for folder in (home / "mine", where / "cards", elsewhere):
        folder.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(elsewhere)  # applied from another folder than the hub file's
    hub_file = where / "hub.toml"
    hub_file.write_text(
        "[hubs.team]\n"
        '[[hubs.team.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "cards"\n'
        '[[hubs.team.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "~/mine/"\n'
        '[[hubs.team.connectors]]\nname = "c"\ntype = "csv"\npath = "../conf/./out.csv"\ncreate = true\n'
    )
    engine = open_database(f"sqlite:///{tmp_path / 'hub.db'}")
    config.apply(engine, config.load(hub_file))
    with engine.connect() as conn:
        stored = {c.name: c.settings["path"] for c in Store(conn).connectors(Store(conn).hub("team").id)}
    assert stored == {"a": str(where / "cards"), "b": str(home / "mine"), "c": str(where / "out.csv")}


@pytest.mark.parametrize("stored", ["relative", "symlink"])
def test_a_path_spelt_another_way_is_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored: str
) -> None:
    """A store from before paths were stored absolute holds ``cards``; applying the same
    hub file again stores ``/.../cards``, and a folder reached through a symlink is spelt
    another way. Taken for another address book, the links went, and a card deleted in the
    other folder meanwhile was written back instead of deleted everywhere (QA)."""
    conf, other = tmp_path / "conf", tmp_path / "conf" / "other"
    (conf / "cards").mkdir(parents=True)
    other.mkdir()
    for i in range(3):
        (conf / "cards" / f"p{i}.vcf").write_text(
            f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p{i}\r\nFN:Person {i}\r\nEMAIL:p{i}@x.test\r\nEND:VCARD\r\n"
        )
    (tmp_path / "link").symlink_to(conf)
    monkeypatch.chdir(conf)
    text = (
        '[hubs.m]\ndelete_threshold = "100%"\n'
        '[[hubs.m.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "cards"\n'
        '[[hubs.m.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "other"\n'
    )
    engine = open_database(f"sqlite:///{tmp_path / 'hub.db'}")
    config.apply(engine, config.load(write(conf, text)))
    assert run_hub(engine, "m").status == "applied" and len(list(other.glob("*.vcf"))) == 3

    def link_ids() -> list[int]:
        with engine.connect() as conn:
            return sorted(conn.execute(select(t.links.c.id)).scalars())

    before = link_ids()
    if stored == "relative":  # as an older contacthub stored it
        with engine.begin() as conn:
            conn.execute(
                t.connectors.update().where(t.connectors.c.name == "a").values(settings='{"path": "cards"}')
            )
        said = config.apply(engine, config.load(conf / "hubs.toml"))
        assert said == ["connector m/a: its paths are now stored absolute"]  # not "changed settings"
    else:
        config.apply(engine, config.load(write(tmp_path / "link", text)))
    assert link_ids() == before  # one folder: its links hold
    (other / "p1.vcf").unlink()
    report = run_hub(engine, "m")
    assert report.status == "applied" and report.changes["a"]["delete"] == 1
    assert sorted(p.name for p in (conf / "cards").glob("*.vcf")) == ["p0.vcf", "p2.vcf"]


def test_an_older_stores_relative_path_is_the_same_folder_only_when_read_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path an older contacthub stored (``../cards``) is the folder its runs
    read from their own folder. Applied again from the hub file's folder, both readings
    agree: one folder, links kept. Read from the hub file's folder alone, another hub file
    elsewhere with its own ``cards`` was taken for it, links kept, and the next run deleted
    everyone that folder did not hold (QA); by its last name alone, any ``/x/cards`` was.
    Whenever the readings differ it is another book: links go, records matched again."""
    from sqlalchemy import update

    from contacthub.store.repo import ContactRow, LinkRow, dumps

    conf, other = tmp_path / "conf", tmp_path / "other"
    for folder in (conf, tmp_path / "cards", other / "cards", tmp_path / "elsewhere" / "deeper"):
        folder.mkdir(parents=True, exist_ok=True)

    def links_kept(hub_dir: Path, path: str, stored: str, applied_from: Path, name: str) -> bool:
        monkeypatch.chdir(hub_dir)
        engine = open_database(f"sqlite:///{tmp_path / name}")
        head = '[hubs.m]\n[[hubs.m.connectors]]\nname = "a"\ntype = "vcard-dir"\n'
        hub_file = write(hub_dir, head + f'path = "{path}"\n')
        config.apply(engine, config.load(hub_file))
        with engine.begin() as conn:
            store = Store(conn)
            hub_id = store.hub("m").id
            [row] = store.connectors(hub_id)
            store.insert_contacts(hub_id, [ContactRow("p1", {"display_name": "P"}, {}, 1, False)])
            store.insert_links([LinkRow(0, row.id, "p1", "p1.vcf", "v1", {"display_name": "P"}, 1, "active")])
            # as an older contacthub stored it, its runs reading it from ``conf``
            conn.execute(update(t.connectors).values(settings=dumps({"path": stored})))
        monkeypatch.chdir(applied_from)
        config.apply(engine, config.load(hub_file))
        with engine.connect() as conn:
            kept = bool(list(conn.execute(select(t.links.c.id)).scalars()))
        engine.dispose()
        return kept

    assert links_kept(conf, "../cards", "../cards", conf, "one.db")  # the same file, from its folder
    assert not links_kept(conf, "../cards", "../cards", tmp_path / "elsewhere" / "deeper", "two.db")  # unsure
    assert not links_kept(other, "cards", "cards", conf, "three.db")  # a hub file elsewhere, its own cards
    assert not links_kept(conf, str(other / "cards"), "cards", conf, "four.db")  # another folder called cards


@pytest.mark.parametrize("name", ["", " ", "\t ", "x" * 201, "x" * 1000])
def test_a_hub_name_is_1_to_200_characters_as_on_the_dashboard(tmp_path: Path, name: str) -> None:
    """``[hubs.""]``, ``[hubs." "]`` and a name of 1,000 characters made hubs the dashboard
    refuses to make and showed as empty links nobody could click (QA)."""
    err = load_error(write(tmp_path, f'[hubs."{name}"]\n'))
    assert "a hub needs a name of 1 to 200 characters" in str(err)
    assert len(str(err)) < 400, "a long name is not printed whole"


def test_a_hub_name_is_kept_without_surrounding_blanks(tmp_path: Path) -> None:
    spec = config.load(write(tmp_path, '[hubs."  team "]\n'))
    assert list(spec.hubs) == ["team"]
    assert list(config.load(write(tmp_path, f'[hubs."{"y" * 200}"]\n')).hubs) == ["y" * 200]
    err = load_error(write(tmp_path, '[hubs.team]\n[hubs." team"]\n'))
    assert "are one name: 'team'" in str(err)


def _region_hub(where: Path, region: str) -> str:
    return (
        f'[hubs.m]\nphone_region = "{region}"\n'
        f'[[hubs.m.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{where / "a"}"\n'
        f'[[hubs.m.connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{where / "b"}"\n'
    )


def _phones(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.contacts.c.data)).scalars().all()
    return sorted(p["value"] for data in rows for p in (loads(data) or {}).get("phones", []))


@pytest.mark.parametrize("how", ["hub file", "dashboard"])
def test_a_changed_phone_region_reads_every_record_again(tmp_path: Path, how: str) -> None:
    """A number written without a country code is read under the hub's ``phone_region``.
    Changed (US to GB), the records already read stayed as the old region read them:
    nothing told the connectors to read them again, as a changed mapping does (QA)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "p.vcf").write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:p\r\nFN:Pat\r\nTEL;TYPE=WORK:020 7946 0958\r\nEND:VCARD\r\n"
    )
    engine = open_database(f"sqlite:///{tmp_path / 'hub.db'}")
    config.apply(engine, config.load(write(tmp_path, _region_hub(tmp_path, "US"))))
    assert run_hub(engine, "m").status == "applied"
    assert _phones(engine) == ["020 7946 0958"]  # no US number: kept as typed
    if how == "hub file":
        said = config.apply(engine, config.load(write(tmp_path, _region_hub(tmp_path, "GB"))))
        assert any("phone_region" in line for line in said)
    else:
        from contacthub.service.editing import update_hub

        update_hub(engine, "m", {"phone_region": "GB"})
    assert run_hub(engine, "m").status == "applied"
    assert _phones(engine) == ["+442079460958"]
    # each folder's card is the same number under GB: left as typed, nothing written
    assert "020 7946 0958" in (tmp_path / "b" / "p.vcf").read_text()


def test_a_filter_in_an_empty_text_is_refused_naming_the_connector(tmp_path: Path) -> None:
    """``{field = "email", op = "in", value = [""]}`` never matches (a field with no value
    has no text): it was taken without a word, and the connector let nobody in (QA)."""
    text = MINIMAL + "filter = {field = 'email', op = 'in', value = ['']}\n"
    err = load_error(write(tmp_path, text))
    assert "hubs.team.connectors[0] (a) filter" in str(err) and "is_empty" in err.message


def test_a_filter_with_a_blank_text_is_refused_naming_the_connector(tmp_path: Path) -> None:
    """QA: ``equals " "`` (blank once trimmed, as every value is) let nobody in, as ``""`` did."""
    text = MINIMAL + "filter = {field = 'job_title', op = 'starts_with', value = '\u00a0'}\n"
    err = load_error(write(tmp_path, text))
    assert "hubs.team.connectors[0] (a) filter" in str(err) and "is_not_empty" in err.message
