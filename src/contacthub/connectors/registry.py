"""Connector types by name. Modules are imported only when a type is used, so start-up stays
lean and a broken optional dependency of one system never stops the others."""

from __future__ import annotations

from importlib import import_module

from contacthub.connectors.base import Connector, ConnectorConfig
from contacthub.errors import ConfigError

TYPES: dict[str, str] = {
    "vcard-dir": "contacthub.connectors.vcard_dir:VCardDirConnector",
    "csv": "contacthub.connectors.csv_file:CsvConnector",
    "pipedrive": "contacthub.connectors.pipedrive:PipedriveConnector",
    "carddav": "contacthub.connectors.carddav:CardDavConnector",
    "m365-gal": "contacthub.connectors.m365:M365GalConnector",
    "procore": "contacthub.connectors.procore:ProcoreConnector",
}


def connector_class(type_name: str) -> type[Connector]:
    """The class for a type name; ``ConfigError`` naming the known types otherwise."""
    try:
        target = TYPES[type_name]
    except KeyError:
        known = ", ".join(sorted(TYPES))
        raise ConfigError(f"unknown connector type {type_name!r} (known: {known})") from None
    module, _, attr = target.partition(":")
    cls: type[Connector] = getattr(import_module(module), attr)
    return cls


def build(type_name: str, config: ConnectorConfig) -> Connector:
    return connector_class(type_name)(config)
