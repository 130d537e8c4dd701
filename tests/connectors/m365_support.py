"""Helpers for the Microsoft 365 tests: an emulator served over TLS in this process, and
connectors pointed at it (the real msal and httpx code paths, trusting its certificate)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from contacthub.connectors.base import ConnectorConfig, MemoryCredentials
from contacthub.connectors.m365 import M365GalConnector
from contacthub.emulators.m365 import Emulator, running
from contacthub.emulators.m365_tls import ClientCert, client_cert

_CERT: list[ClientCert] = []


def app_cert() -> ClientCert:
    """One app certificate for the whole session (RSA key generation is slow)."""
    if not _CERT:
        _CERT.append(client_cert())
    return _CERT[0]


def emulator(**options: Any) -> Emulator:
    options.setdefault("cert", app_cert())
    return Emulator(**options)


def settings(info: dict[str, Any], tenant: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "tenant_id": info["tenants"][tenant]["tenant_id"],
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "authority_url": info["authority_url"],
        "graph_url": info["graph_url"],
        "exchange_url": info["exchange_url"],
        "ca_file": info["ca_file"],
        **extra,
    }


def connector(info: dict[str, Any], tenant: int = 0, name: str = "gal", **extra: Any) -> M365GalConnector:
    config = ConnectorConfig(name, settings(info, tenant, **extra), credentials=MemoryCredentials())
    return M365GalConnector(config)


@contextmanager
def served(emu: Emulator) -> Iterator[dict[str, Any]]:
    with running(emu) as info:
        yield info
