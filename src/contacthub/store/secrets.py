"""Connector credentials, encrypted at rest with Fernet (``cryptography``).

The key is ``CONTACTHUB_SECRET_KEY`` (a Fernet key, or any passphrase, stretched with
SHA-256); without it, a key file is created once in the data directory, readable only by its
owner. Secrets are decrypted only to build a connector and never written to logs, errors or
output: ``redact`` is what every listing shows instead.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from typing import Any
from urllib.parse import SplitResult, urlsplit

import orjson

from contacthub.errors import ConfigError

REDACTED = "********"


def _key() -> bytes:
    """The Fernet key (URL-safe base64 of 32 bytes); see the module docstring."""
    from cryptography.fernet import Fernet

    raw = os.environ.get("CONTACTHUB_SECRET_KEY")
    if raw:
        try:
            Fernet(raw.encode())
            return raw.encode()
        except ValueError:
            return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest())
    from contacthub.store.db import make_data_dir

    path = make_data_dir() / "secret.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
    return path.read_bytes().strip()


def _fernet() -> Any:
    from cryptography.fernet import Fernet

    return Fernet(_key())


def derive(purpose: str) -> str:
    """A secret for one purpose (e.g. the token in a connector's webhook URL), derived from
    the secret key with HMAC-SHA256: stable across processes and restarts, nothing to store,
    reveals nothing of the key, and changes when the key does. URL-safe, 32 characters."""
    import hmac

    digest = hmac.new(_key(), f"contacthub:{purpose}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def encrypt(values: dict[str, Any]) -> str | None:
    if not values:
        return None
    token: bytes = _fernet().encrypt(orjson.dumps(values))
    return token.decode()


def decrypt(token: str | None, where: str = "connector") -> dict[str, Any]:
    if not token:
        return {}
    from cryptography.fernet import InvalidToken

    try:
        data: dict[str, Any] = orjson.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ConfigError(
            "stored credentials cannot be decrypted: CONTACTHUB_SECRET_KEY differs from the key "
            "they were saved with; set it back, or apply the hub file again with the credentials",
            where,
        ) from None
    return data


def redact(settings: dict[str, Any], secret_keys: frozenset[str]) -> dict[str, Any]:
    return {k: (REDACTED if k in secret_keys else v) for k, v in settings.items()}


def hide_url_secrets(value: Any) -> Any:
    """A URL setting as shown and as stored in the clear settings (``split_settings``): a
    password in it (``https://user:pw@host/``) masked, and every value of its query
    (``?token=********``; ``redact.hide_url_secrets``)."""
    from contacthub.redact import hide_url_secrets as hide_query

    if not isinstance(value, str) or "://" not in value:
        return value
    if split_url(value) is None:  # no URL to take apart: its secrets masked as they look
        return shown_url(value)
    parts = _with_password(value)
    if parts is not None:
        value = parts._replace(netloc=f"{parts.username}:{REDACTED}@{_host(parts)}").geturl()
    return hide_query(value)


def shown_url(value: str) -> str:
    """``value``, meant as a URL, as an error may quote it: its password and its query
    values masked (``hide_url_secrets``) also when it is no URL (``http:/alice:pw@host``,
    ``alice:pw@host``, ``host/?token=...``, ``http://alice:pw@[::1``), which was quoted whole
    by the error that refused it. Unparseable, the password is taken to be what follows the
    first ``:`` of the text before the last ``@`` (after a ``scheme:/`` or ``scheme//``) and
    is masked up to that ``@``."""
    from contacthub.redact import hide_url_secrets as hide_query
    from contacthub.redact import redact

    if "://" in value and split_url(value) is not None:
        return str(hide_url_secrets(value))
    cut = min((i for i in (value.find("?"), value.find("#")) if i >= 0), default=len(value))
    head, rest = value[:cut], hide_query(value[cut:]) if value[cut:].startswith("?") else value[cut:]
    at = head.rfind("@")
    if at >= 0:
        scheme = _SCHEME.match(head[:at])
        start = scheme.end() if scheme else 0
        user, colon, _password = head[start:at].partition(":")
        if colon:
            head = f"{head[:start]}{user}:{REDACTED}{head[at:]}"
    return redact(head + rest)


#: a scheme and the slashes after it, as typed (``http:/``, ``https//``, ``http://``)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*(?::/+|/+)")


def check_urls(settings: dict[str, Any], where: str) -> None:
    """Refuse a setting that looks like a URL (``scheme://``) but cannot be taken apart as
    one (``http://u:pw@[::1``: a ``[`` not closed, ``[zz]`` no IPv6 address), naming it,
    before ``url_credentials`` looks for a password in it: ``urlsplit``'s ``ValueError``
    went up as a 500 (its connection reset) where a URL without a password was a 400."""
    for key, value in settings.items():
        if isinstance(value, str) and "://" in value and split_url(value) is None:
            raise ConfigError(f"{key!r} is not a URL ({_why_not(value)}): {shown_url(value)!r}", where)


def _why_not(value: str) -> str:
    """Why ``urlsplit`` refuses ``value``, in words that quote none of it (its message for a
    host with odd characters quotes the user and password)."""
    try:
        urlsplit(value)
    except ValueError as exc:
        said = str(exc)
        if "Invalid IPv6 URL" in said:
            return "a '[' or ']' of its host is not closed"
        if "IPv4 or IPv6" in said:
            return "its host in [brackets] is not an IPv6 address"
        if "NFKC" in said:
            return "its host or user holds characters that Unicode normalization changes"
    return "it cannot be taken apart as a URL"


def split_url(value: str) -> SplitResult | None:
    """``value`` split as a URL; None when ``urlsplit`` cannot (``ValueError``: a ``[`` not
    closed, a host in brackets that is not an IPv6 address)."""
    try:
        return urlsplit(value)
    except ValueError:
        return None


def split_settings(
    settings: dict[str, Any], secret_keys: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A connector's settings as stored: (clear, encrypted). The ``secret_keys`` go to the
    encrypted part; so does every URL setting whose query holds a value, whole, while the
    clear part keeps it with those values masked (``?token=********``). A token in a URL's
    query is a credential (servers let in by it), and was stored and shown in clear. The
    connector is built from both parts, the encrypted one last (``engine.run.connector_for``),
    so it gets the URL as written."""
    clear: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for key, value in settings.items():
        if key in secret_keys:
            secret[key] = value
            continue
        shown = _query_masked(value)
        if shown != value:
            secret[key] = value
        clear[key] = shown
    return clear, secret


def clear_url_secrets(settings: dict[str, Any]) -> dict[str, Any]:
    """The URL settings stored with their query values in clear (by contacthub before they
    were kept encrypted): ``apply`` moves them into the secrets (``config``)."""
    return {k: v for k, v in settings.items() if _query_masked(v) != v}


def masked(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with the query values of their URLs masked, as ``split_settings``
    stores them: to compare settings stored before it with those stored after."""
    return {k: _query_masked(v) for k, v in settings.items()}


def _query_masked(value: Any) -> Any:
    from contacthub.redact import hide_url_secrets as hide_query

    if not isinstance(value, str) or "://" not in value or "?" not in value:
        return value
    return hide_query(value)


def unhide_url_secrets(value: Any, stored: Any) -> Any:
    """A URL setting sent back as shown (the dashboard's form, a client that PATCHes what it
    GETs): its masked query values are those of the ``stored`` URL. Taken as given, the
    mask was written into the URL the connector uses. With another host, a masked query
    value or password (``user:********@``) is refused."""
    from contacthub.redact import unhide_url_secrets as unhide_query

    if not isinstance(value, str) or not isinstance(stored, str):
        return value
    masked = f"={REDACTED}" in value or f":{REDACTED}@" in value
    if masked and _origin(value) != _origin(stored):
        # the stored token was given for that host: sent on to another one, a person who
        # may edit the URL but never sees the token could have it sent to their server
        raise ConfigError(
            "the URL's host changed, and it still says ******** for a secret: give the "
            "password or token for the new host"
        )
    unhidden = unhide_query(value, stored)
    if f"={REDACTED}" in unhidden:
        # a mask for a field the stored URL has no value of: taken as given, the mask itself
        # was sent to the server as the value (QA), and the person thought it was kept
        raise ConfigError("the URL says ******** for a query value it never had: give the value itself")
    return unhidden


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = split_url(url)
    if parts is None:  # no URL: no host the stored secret could go to, and refused later
        return "", url, None
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def url_credentials(settings: dict[str, Any], where: str) -> dict[str, Any]:
    """Settings with a password written into a URL moved out of it into ``username`` and
    ``password`` (which a connector keeps encrypted): the URL is stored without it. A
    setting that looks like a URL but is none is refused (``check_urls``)."""
    from urllib.parse import unquote

    check_urls(settings, where)
    out = dict(settings)
    for key, value in settings.items():
        parts = _with_password(value)
        if parts is None:
            continue
        out[key] = parts._replace(netloc=_host(parts)).geturl()
        out.setdefault("username", unquote(parts.username or ""))
        out.setdefault("password", unquote(parts.password or ""))
    return out


def settings_credentials(settings: dict[str, Any], secret_keys: frozenset[str], where: str) -> dict[str, Any]:
    """Settings as stored, for a connector type whose secret settings are ``secret_keys``:
    a password written into a URL moved out of it (``url_credentials``) where the type
    signs in with one; refused (``ConfigError``) where it does not. A Pipedrive
    ``base_url`` of ``https://user:pw@...`` was stored in clear, and its password printed
    in every error that named the address."""
    if "password" in secret_keys:
        return url_credentials(settings, where)
    check_urls(settings, where)
    for key, value in settings.items():
        if _with_password(value) is not None:
            raise ConfigError(
                f"{key} holds a password (user:password@...), which this connector type does not "
                "sign in with; remove it from the address",
                where,
            )
    return dict(settings)


def _with_password(value: Any) -> SplitResult | None:
    """``value`` split as a URL, if it is one with a password in it (not when it cannot be
    split: ``check_urls`` refuses those)."""
    if not isinstance(value, str) or "://" not in value or "@" not in value:
        return None
    parts = split_url(value)
    return parts if parts is not None and parts.password is not None else None


def _host(parts: SplitResult) -> str:
    return parts.netloc.rsplit("@", 1)[1]
