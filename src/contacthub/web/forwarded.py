"""Whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` the web server believes.

uvicorn believes them from 127.0.0.1 unless told otherwise (``proxy_headers`` on, its
``--forwarded-allow-ips`` default), and ``contacthub serve`` left it so: any local process,
or a request through a local proxy that does not set the header, named the address it
came from, and the sign-in throttle counts failures per address (``accounts.Throttle``), so
a guesser sending a new ``X-Forwarded-For`` with each attempt was never throttled by
address. Nobody is believed unless named: the address the throttle sees is the socket's
peer, and ``--forwarded-allow-ips`` (``CONTACTHUB_FORWARDED_ALLOW_IPS``) names the reverse
proxies whose headers give the client's address and scheme instead. (A proxy on this
machine is 127.0.0.1, as every local process is: naming it trusts them all; a proxy on
another address, a container's network, keeps them apart.)
"""

from __future__ import annotations

import ipaddress
from typing import Any

from contacthub.errors import ConfigError


def trusted_proxies(value: str | None) -> list[str]:
    """The addresses or networks of ``--forwarded-allow-ips`` (comma-separated; ``*``
    alone: every peer), written as uvicorn reads them. uvicorn reads a network with
    ``ip_network``'s strict parsing and trusts ``*`` only as the whole value; anything it
    cannot read it keeps as a literal name no peer has, trusting nobody, silently. So a
    network with host bits set (``10.0.0.5/24``, ``127.0.0.1/8``) is passed on as the
    network it is in (``10.0.0.0/24``), and what uvicorn would not read is refused at
    start, naming it: a name (``proxy.lan``), or ``*`` among addresses."""
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    if "*" in items:
        if len(items) > 1:
            raise ConfigError(
                "--forwarded-allow-ips: '*' trusts every peer and goes alone, not among "
                f"addresses ({value!r}); name the proxies, or give * by itself"
            )
        return items
    return [_written(item) for item in items]


def _written(item: str) -> str:
    """One address or network as uvicorn parses it (``ip_address``, or ``ip_network`` with
    ``strict``): the same one, its host bits cleared."""
    try:
        if "/" in item:
            return str(ipaddress.ip_network(item, strict=False))
        return str(ipaddress.ip_address(item))
    except ValueError:
        raise ConfigError(
            f"--forwarded-allow-ips: {item!r} is not an IP address or network (e.g. "
            "127.0.0.1, 10.0.0.0/8, or * for every peer)"
        ) from None


def uvicorn_options(value: str | None) -> dict[str, Any]:
    """uvicorn's settings for the proxies ``value`` names: none, by default (the client's
    address is the socket's peer; forwarded headers are ignored, whoever sends them)."""
    items = trusted_proxies(value)
    if not items:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(items)}
