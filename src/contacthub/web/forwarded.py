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
    """The addresses or networks of ``--forwarded-allow-ips`` (comma-separated; ``*``:
    every peer). A value that is neither is refused at start, naming it: uvicorn would take
    it for a socket path and trust nobody, silently."""
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(
                f"--forwarded-allow-ips: {item!r} is not an IP address or network (e.g. "
                "127.0.0.1, 10.0.0.0/8, or * for every peer)"
            ) from None
    return items


def uvicorn_options(value: str | None) -> dict[str, Any]:
    """uvicorn's settings for the proxies ``value`` names: none, by default (the client's
    address is the socket's peer; forwarded headers are ignored, whoever sends them)."""
    items = trusted_proxies(value)
    if not items:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(items)}
