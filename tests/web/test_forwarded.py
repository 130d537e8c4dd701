"""``serve --forwarded-allow-ips`` as uvicorn then reads it: every value contacthub takes
must be one uvicorn trusts the named proxies for. uvicorn parses networks strictly and
trusts ``*`` only as the whole value; what it cannot read it keeps as a literal no peer
has, so ``10.0.0.5/24``, ``127.0.0.1/8`` and ``10.0.0.1, *`` were taken at start and then
trusted nobody, silently (QA). Asked of uvicorn's own trusted-hosts object, the one its
``ProxyHeadersMiddleware`` checks each peer with."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from uvicorn.middleware.proxy_headers import _TrustedHosts

from contacthub.errors import ConfigError
from contacthub.web.forwarded import uvicorn_options


@pytest.mark.parametrize(
    ("value", "trusted", "untrusted"),
    [
        ("10.0.0.0/8", ["10.1.2.3"], ["11.0.0.1", "127.0.0.1"]),
        ("10.0.0.5/24", ["10.0.0.7", "10.0.0.5"], ["10.0.1.7"]),  # host bits set
        ("127.0.0.1/8", ["127.0.0.1", "127.9.9.9"], ["10.0.0.1"]),
        (" 192.0.2.1 , 2001:db8::1/64 ", ["192.0.2.1", "2001:db8::2"], ["192.0.2.2", "2001:db9::1"]),
        ("::1", ["::1"], ["127.0.0.1"]),
        ("*", ["192.0.2.9", "::1"], []),
    ],
)
def test_what_serve_takes_uvicorn_trusts(value: str, trusted: list[str], untrusted: list[str]) -> None:
    options = uvicorn_options(value)
    assert options["proxy_headers"] is True
    hosts = _TrustedHosts(options["forwarded_allow_ips"])
    assert [peer for peer in trusted if peer not in hosts] == []
    assert [peer for peer in untrusted if peer in hosts] == []


def test_a_network_with_host_bits_goes_to_uvicorn_as_the_network() -> None:
    assert uvicorn_options("10.0.0.5/24, 127.0.0.1/8")["forwarded_allow_ips"] == "10.0.0.0/24,127.0.0.0/8"


@pytest.mark.parametrize("value", ["10.0.0.1, *", "*, ::1", "*,*"])
def test_every_peer_among_addresses_is_refused(value: str) -> None:
    """uvicorn trusts all only when ``*`` is the whole value: among addresses it trusted
    none of them, nor anyone else."""
    with pytest.raises(ConfigError, match=r"'\*' trusts every peer and goes alone"):
        uvicorn_options(value)


@pytest.mark.parametrize("value", ["proxy.lan", "10.0.0.0/33", "10", "010.0.0.1"])
def test_what_uvicorn_cannot_read_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="is not an IP address or network"):
        uvicorn_options(value)


def test_no_value_believes_no_forwarded_header() -> None:
    assert uvicorn_options("") == {"proxy_headers": False}
    assert uvicorn_options(" , ") == {"proxy_headers": False}


def test_the_uvicorn_required_reads_networks() -> None:
    """uvicorn before 0.31 matched ``forwarded_allow_ips`` as text only: ``10.0.0.0/8``
    trusted nobody."""
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    [bound] = [d for d in pyproject["project"]["dependencies"] if d.startswith("uvicorn")]
    version = tuple(int(part) for part in bound.split(">=")[1].split(",")[0].split("."))
    assert version >= (0, 31)
