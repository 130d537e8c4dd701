"""The emulator's Entra sign-in endpoints: OpenID discovery, the token endpoint (client
credentials and authorization code, with a client secret or a certificate-signed JWT),
authorize, and admin consent, answering with Entra's own ``AADSTS`` error codes.

Separate from ``emulators.m365`` (the app, its state, the Graph and Exchange routes) because
signing in is its own protocol with its own error shapes; it only issues tokens into
``Emulator.tokens``, which the Graph and Exchange routes check.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jwt
from cryptography import x509
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

if TYPE_CHECKING:
    from contacthub.emulators.m365 import Emulator

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def add_signin_routes(app: FastAPI, emu: Emulator) -> None:
    """``/{tenant}/...``: discovery, token, authorize, adminconsent."""

    @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
    def openid(tenant: str, request: Request) -> Response:
        found = emu.tenant(tenant)
        if found is None and tenant not in ("common", "organizations"):
            return _login_error(
                400,
                "invalid_tenant",
                f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct "
                "tenant ID "
                "and are signing into the correct cloud.",
                [90002],
            )
        base = _base(request)
        tid = found.id if found else "{tenantid}"
        key = tenant if found is None else found.id
        return JSONResponse(
            {
                "token_endpoint": f"{base}/{key}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/{key}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/{tid}/v2.0",
                "request_uri_parameter_supported": False,
                "authorization_endpoint": f"{base}/{key}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{key}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/{key}/oauth2/v2.0/logout",
                "tenant_region_scope": "NA",
                "cloud_instance_name": "microsoftonline.com",
            }
        )

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request) -> Response:
        emu.token_requests += 1
        form = dict((await request.form()).items())
        found = emu.tenant(tenant)
        if found is None:
            return _login_error(400, "invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.", [90002])
        grant = str(form.get("grant_type", ""))
        client_id = str(form.get("client_id", ""))
        if grant == "authorization_code":
            code_tenant = emu.codes.pop(str(form.get("code", "")), None)
            if code_tenant is None:
                return _login_error(
                    400, "invalid_grant", "AADSTS70000: The provided authorization code is invalid.", [70000]
                )
        elif grant != "client_credentials":
            return _login_error(
                400,
                "unsupported_grant_type",
                f"AADSTS70003: The app requested an unsupported grant type '{grant}'.",
                [70003],
            )
        if client_id != emu.client_id:
            return _login_error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory "
                f"'{found.domain}'.",
                [700016],
            )
        problem = _check_client(emu, form, f"{_base(request)}/{tenant}/oauth2/v2.0/token")
        if problem is not None:
            return problem
        if emu.client_id not in found.consented:
            return _login_error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory "
                f"'{found.domain}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant.",
                [700016],
            )
        scope = str(form.get("scope", ""))
        resources = [s for s in scope.split() if s.endswith("/.default")]
        if grant == "client_credentials" and len(resources) != 1:
            return _login_error(
                400,
                "invalid_scope",
                f"AADSTS1002012: The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
                [1002012],
            )
        audience = resources[0][: -len("/.default")] if resources else _base(request)
        access = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0." + secrets.token_urlsafe(40)
        emu.tokens[access] = (found.id, audience.rstrip("/"), time.time() + emu.token_lifetime)
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": emu.token_lifetime,
                "ext_expires_in": emu.token_lifetime,
                "access_token": access,
            }
        )

    @app.get("/{tenant}/oauth2/v2.0/authorize")
    def authorize(tenant: str, redirect_uri: str, state: str = "", client_id: str = "") -> Response:
        found = emu.tenant(tenant) or (emu.tenants[0] if tenant in ("common", "organizations") else None)
        if found is None or client_id != emu.client_id:
            return _login_error(
                400, "invalid_request", "AADSTS900144: The request body must contain client_id.", [900144]
            )
        code = secrets.token_urlsafe(24)
        emu.codes[code] = found.id
        return RedirectResponse(
            f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302
        )

    @app.get("/{tenant}/adminconsent")
    @app.get("/{tenant}/v2.0/adminconsent")
    def adminconsent(tenant: str, client_id: str, redirect_uri: str, state: str = "") -> Response:
        if client_id != emu.client_id:
            query = {
                "error": "unauthorized_client",
                "error_description": f"AADSTS700016: Application with identifier '{client_id}' "
                "was not found.",
                "state": state,
            }
            return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", status_code=302)
        if emu.decline_consent:
            query = {
                "error": "access_denied",
                "error_description": "The admin canceled the request",
                "state": state,
            }
            return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", status_code=302)
        found = emu.tenant(tenant)
        if found is None and tenant in ("common", "organizations"):
            found = next((t for t in emu.tenants if emu.client_id not in t.consented), emu.tenants[0])
        if found is None:
            return _login_error(400, "invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.", [90002])
        found.consented.add(emu.client_id)
        query = {"admin_consent": "True", "tenant": found.id, "state": state}
        return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", status_code=302)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _login_error(status: int, code: str, description: str, codes: list[int]) -> JSONResponse:
    body = {
        "error": code,
        "error_description": description,
        "error_codes": codes,
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }
    return JSONResponse(body, status_code=status)


def _check_client(emu: Emulator, form: dict[str, Any], audience: str) -> Response | None:
    """The app proves who it is with its secret or a JWT signed by its certificate's key."""
    if form.get("client_assertion"):
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return _login_error(
                400, "invalid_request", "AADSTS50027: Invalid client assertion type.", [50027]
            )
        assertion = str(form["client_assertion"])
        try:
            header = jwt.get_unverified_header(assertion)
            public: Any = x509.load_pem_x509_certificate(emu.cert.certificate_pem.encode()).public_key()
            claims = jwt.decode(
                assertion,
                public,
                algorithms=["RS256", "PS256"],
                audience=audience,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.PyJWTError as exc:
            return _login_error(
                401,
                "invalid_client",
                f"AADSTS700027: Client assertion failed signature validation. ({exc})",
                [700027],
            )
        thumb = header.get("x5t")
        import base64

        expected = base64.urlsafe_b64encode(bytes.fromhex(emu.cert.thumbprint)).decode().rstrip("=")
        if thumb and str(thumb).rstrip("=") != expected:
            return _login_error(
                401, "invalid_client", "AADSTS700027: The certificate is not registered.", [700027]
            )
        if claims.get("iss") != emu.client_id or claims.get("sub") != emu.client_id:
            return _login_error(
                401,
                "invalid_client",
                "AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter.",
                [700021],
            )
        return None
    if form.get("client_secret") != emu.client_secret:
        return _login_error(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request "
            "is the "
            f"client secret value, not the client secret ID, for a secret added to app '{emu.client_id}'.",
            [7000215],
        )
    return None
