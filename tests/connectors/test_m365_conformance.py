"""The GAL connector passes the connector conformance suite against the emulator: what it
writes are Exchange mail contacts, read back through Graph and Exchange."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from contacthub.connectors.m365 import M365GalConnector
from contacthub.errors import FatalConnectorError
from tests.connectors.conformance import ConnectorConformance, all_records, create, sample
from tests.connectors.m365_support import connector, emulator, served


class TestM365GalConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self) -> Iterator[M365GalConnector]:
        emu = emulator(tenants=1, users=0, contacts=0)
        with served(emu) as info:
            made = connector(info)
            yield made
            made.close()


def test_certificate_sign_in_reads_and_writes() -> None:
    """A certificate instead of a client secret: msal signs a client assertion (RS256, x5t)
    that the emulator's token endpoint verifies against the registered certificate."""
    emu = emulator(tenants=1, users=3, contacts=0)
    with served(emu) as info:
        extra: dict[str, Any] = {
            "client_secret": "",
            "certificate_key": emu.cert.private_key_pem,
            "certificate_thumbprint": emu.cert.thumbprint,
        }
        made = connector(info, **extra)
        try:
            made.check()
            assert len(all_records(made)) == 3
            create(made, sample(1))
        finally:
            made.close()
        wrong = connector(info, **{**extra, "certificate_thumbprint": "00" * 20})
        with pytest.raises(FatalConnectorError, match="AADSTS700027"):
            wrong.check()
        wrong.close()
