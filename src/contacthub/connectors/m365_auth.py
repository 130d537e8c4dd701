"""Signing in to a Microsoft 365 tenant: msal's confidential client, client credentials.

One ``msal.ConfidentialClientApplication`` per connector (its authority names the tenant),
with a client secret or a certificate (a private key and its SHA-1 thumbprint). Tokens for
Graph and for Exchange are asked for separately (one resource per token, as Entra requires)
and msal keeps them in its in-memory cache until they are about to expire. ``TokenAuth`` is
the ``http.Auth`` an ``ApiClient`` uses: a 401 drops the cached token and asks again once.

Hosts are settings: an authority that is not Microsoft's (a national cloud listed by msal
needs nothing; the emulator does) is used with ``instance_discovery=False``, which only skips
the question to login.microsoftonline.com whether the host is a known one. ``ca_file`` trusts
an extra certificate authority (a TLS-inspecting proxy, or the emulator's certificate).
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

from contacthub.errors import ConfigError, FatalConnectorError, RetriableError

MICROSOFT_HOSTS = frozenset(
    {"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn", "login.microsoft.com"}
)


def client_credential(settings: dict[str, Any], where: str) -> str | dict[str, str]:
    """A certificate (``certificate_key_file`` or ``certificate_key`` PEM text, with
    ``certificate_thumbprint``), else a client secret.

    The certificate comes first, and a key file before a key text: the store keeps a
    secret setting (``client_secret``, ``certificate_key``) that a later hub file no longer
    names, while plain settings (the key file, the thumbprint) are always the file's own.
    A hub file that switched from a secret to a certificate file must sign in with the
    certificate, not with the secret it left behind.

    The key is read here (``private_key``), not left to msal: msal hands the text to PyJWT
    when it signs its first request, and a key that was no key (the certificate pasted
    instead, an encrypted key) ended the sync in a traceback from deep inside it."""
    given: tuple[str, str] | None = None  # (the setting it came from, its text)
    if settings.get("certificate_key_file"):
        path = Path(str(settings["certificate_key_file"])).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read certificate_key_file {path}: {exc.strerror}", where) from None
        try:
            given = (f"certificate_key_file {path}", data.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(
                f"certificate_key_file {path}: not a PEM private key but a binary file (a .pfx or DER "
                "key? convert it to PEM: openssl pkcs12 -in APP.pfx -nocerts -nodes -out APP.key)",
                where,
            ) from None
    elif settings.get("certificate_key"):
        given = ("certificate_key", str(settings["certificate_key"]))
    thumbprint = str(settings.get("certificate_thumbprint") or "").replace(":", "").strip()
    if given and (thumbprint or not settings.get("client_secret")):
        if not thumbprint:
            raise ConfigError("certificate_thumbprint is needed with a certificate key", where)
        return {"private_key": private_key(*given, where), "thumbprint": thumbprint}
    if settings.get("client_secret"):
        return str(settings["client_secret"])
    raise ConfigError("give client_secret, or certificate_key(_file) and certificate_thumbprint", where)


def private_key(setting: str, text: str, where: str) -> str:
    """``text`` when it holds an unencrypted RSA private key in PEM (what msal signs with;
    a certificate beside it in the same text is fine), else a ``ConfigError`` naming
    ``setting`` and saying what the text is instead. The key's text is never part of it."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(text.encode("utf-8"), password=None)
    except TypeError:  # encrypted, and no password given
        problem = (
            "an encrypted private key: give it without its password "
            "(openssl pkey -in APP.key -out APP-plain.key)"
        )
    except (ValueError, UnsupportedAlgorithm):
        if "PRIVATE KEY-----" in text:
            problem = "a PEM private key that cannot be read (cut short or damaged?)"
        elif "-----BEGIN CERTIFICATE-----" in text:
            problem = "not a PEM private key (a certificate? the key file is the one with PRIVATE KEY)"
        else:
            problem = "not a PEM private key (one begins with -----BEGIN PRIVATE KEY-----)"
    else:
        if isinstance(key, rsa.RSAPrivateKey):
            return text
        problem = "not an RSA private key (Microsoft sign-in takes RSA certificates only)"
    raise ConfigError(f"{setting}: {problem}", where)


class TenantSignIn:
    """The msal app of one connector (built on first use: msal fetches the tenant's OpenID
    configuration when it is created)."""

    def __init__(
        self,
        *,
        authority_url: str,
        tenant_id: str,
        client_id: str,
        credential: str | dict[str, str],
        ca_file: str | None,
        connector: str,
        timeout: float = 30.0,
    ) -> None:
        self.authority = f"{authority_url.rstrip('/')}/{tenant_id}"
        self.host = authority_url.split("//", 1)[-1].split("/", 1)[0].lower()
        self.client_id = client_id
        self.credential = credential
        self.verify: str | bool = ca_file or True
        self.connector = connector
        self.timeout = timeout
        self._app: Any = None
        self._session: Any = None
        self._lock = threading.Lock()
        self.requests = 0

    def app(self) -> Any:
        with self._lock:
            if self._app is None:
                import msal  # type: ignore[import-untyped]
                import requests

                known = self.host in MICROSOFT_HOSTS
                session = self._session = requests.Session()
                # per request: requests lets REQUESTS_CA_BUNDLE override a session's verify
                session.request = functools.partial(  # type: ignore[method-assign]
                    session.request, verify=self.verify, timeout=self.timeout
                )
                try:
                    self._app = msal.ConfidentialClientApplication(
                        self.client_id,
                        client_credential=self.credential,
                        authority=self.authority,
                        instance_discovery=None if known else False,
                        http_client=session,
                    )
                except requests.RequestException as exc:
                    raise RetriableError(
                        f"the sign-in server {self.host} cannot be reached ({type(exc).__name__})",
                        self.connector,
                    ) from None
                except ValueError as exc:
                    raise FatalConnectorError(
                        f"the sign-in server refused the tenant ({_short(str(exc))}); check tenant_id and "
                        "authority_url",
                        self.connector,
                    ) from None
            return self._app

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def token(self, scope: str, fresh: bool = False) -> str:
        import requests

        app = self.app()
        try:
            if fresh:
                app.remove_tokens_for_client()
            answer = app.acquire_token_for_client(scopes=[scope])
        except requests.RequestException as exc:
            raise RetriableError(
                f"the sign-in server {self.host} cannot be reached ({type(exc).__name__})", self.connector
            ) from None
        if "access_token" in answer:
            if answer.get("token_source") == "identity_provider":
                self.requests += 1
            return str(answer["access_token"])
        code = str(answer.get("error") or "error")
        text = _short(str(answer.get("error_description") or code))
        if code in ("temporarily_unavailable",):
            raise RetriableError(f"the sign-in server is unavailable ({text})", self.connector)
        if "AADSTS700016" in text:
            remedy = (
                "the tenant's admin has not consented yet: run `contacthub connect HUB CONNECTOR --invite`"
            )
        elif isinstance(self.credential, dict):
            remedy = (
                "check client_id, certificate_thumbprint and that this certificate is uploaded to the app"
            )
        else:
            remedy = "check client_id and client_secret"
        raise FatalConnectorError(f"sign-in refused ({code}: {text}); {remedy}", self.connector)


def _short(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else text
    return first[:300]


class TokenAuth:
    """``http.Auth`` with a bearer token for one resource (Graph or Exchange)."""

    def __init__(self, signin: TenantSignIn, scope: str) -> None:
        self.signin = signin
        self.scope = scope

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signin.token(self.scope)}"}

    def refresh(self) -> bool:
        self.signin.token(self.scope, fresh=True)
        return True
