"""The Pipedrive emulator's OAuth endpoints (``/oauth/authorize``, ``/oauth/token``) and its
API v1 routes for older clients (``/v1/persons``, ``/v1/personFields``, ``/v1/users/me``, also
under ``/api/v1``), kept apart from the v2 routes of ``emulators.pipedrive``."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from contacthub.emulators.pipedrive_data import COMPANY_ID, OWNER, Company, Invalid, v1time
from contacthub.emulators.pipedrive_wire import (
    ACCESS_TTL,
    MAX_LIMIT,
    REFRESH_TTL,
    State,
    envelope,
    limit_of,
    not_found,
    v1_body,
)


def add_oauth(app: FastAPI, state: State) -> None:
    """Authorization (consent given at once) and the token endpoint."""

    @app.get("/oauth/authorize")
    def authorize(request: Request) -> Response:
        params = request.query_params
        if params.get("client_id") != state.settings.client_id or not params.get("redirect_uri"):
            return JSONResponse({"success": False, "message": "Invalid client: client is invalid"}, 400)
        code = secrets.token_urlsafe(18)
        with state.lock:
            state.codes[code] = (params["redirect_uri"], time.time() + 300)
        query = {"code": code}
        if params.get("state"):
            query["state"] = params["state"]
        uri = params["redirect_uri"]
        return RedirectResponse(uri + ("&" if "?" in uri else "?") + urlencode(query), 302)

    async def token(request: Request) -> JSONResponse:
        def refuse(message: str, status: int = 400) -> JSONResponse:
            return JSONResponse({"success": False, "message": message, "error": message}, status)

        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return refuse("Invalid request: content must be application/x-www-form-urlencoded")
        form = dict((await request.form()).items())
        client = (str(form.get("client_id", "")), str(form.get("client_secret", "")))
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                pair = base64.b64decode(basic[6:]).decode()
            except ValueError:
                pair = ":"
            client = tuple(pair.split(":", 1)) if ":" in pair else ("", "")  # type: ignore[assignment]
        if client != (state.settings.client_id, state.settings.client_secret):
            return refuse("Invalid client: client is invalid")
        grant = form.get("grant_type")
        now = time.time()
        with state.lock:
            if grant == "authorization_code":
                found = state.codes.pop(str(form.get("code", "")), None)
                if found is None or found[1] < now:
                    return refuse("Invalid grant: authorization_code has expired")
                if found[0] != form.get("redirect_uri"):
                    return refuse("Invalid grant: redirect_uri does not match")
                refresh = secrets.token_urlsafe(24)
            elif grant == "refresh_token":
                refresh = str(form.get("refresh_token", ""))
                if state.refresh.get(refresh, 0) < now:
                    return refuse("Invalid grant: refresh_token is invalid")
            else:
                return refuse("Invalid grant: grant_type is not supported")
            access = secrets.token_urlsafe(24)
            state.access[access] = now + ACCESS_TTL
            state.refresh[refresh] = now + REFRESH_TTL  # Pipedrive keeps it, 60 more days
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": ACCESS_TTL,
                "refresh_token": refresh,
                "scope": "base,contacts:full",
                "api_domain": str(request.base_url).rstrip("/"),
            }
        )

    app.add_api_route("/oauth/token", token, methods=["POST"])
    app.add_api_route("/oauth/token/", token, methods=["POST"])


def add_v1(app: FastAPI, state: State) -> None:
    """v1 persons, person fields and the current user."""
    data = state.company

    def person_fields(request: Request) -> JSONResponse:
        start = int(request.query_params.get("start", "0") or 0)
        limit = min(int(request.query_params.get("limit", "100") or 100), MAX_LIMIT)
        chunk = data.fields[start : start + limit]
        more = start + limit < len(data.fields)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return envelope(chunk, {"pagination": pagination})

    async def add_person_field(request: Request) -> JSONResponse:
        body = await v1_body(request)
        kind = body.get("field_type")
        if not isinstance(body.get("name"), str) or not body["name"].strip() or not isinstance(kind, str):
            raise Invalid("name and field_type are required")
        options = [str(o.get("label", "")) for o in body.get("options") or [] if isinstance(o, dict)]
        return envelope(data.add_field(body["name"].strip(), kind, options))

    def me(request: Request) -> JSONResponse:
        host = request.url.hostname or "127.0.0.1"
        return envelope({"id": 12001, "name": "Alex Seller", "company_id": 7001, "company_domain": host})

    def v1_list(request: Request) -> JSONResponse:
        start = int(request.query_params.get("start", "0") or 0)
        limit = limit_of(request)
        with data.lock:
            items = sorted((p for p in data.persons.values() if not p["is_deleted"]), key=lambda p: p["id"])
        chunk = items[start : start + limit]
        more = start + limit < len(items)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return envelope([person_v1(data, p) for p in chunk], {"pagination": pagination}, related_objects={})

    def v1_get(pid: int) -> JSONResponse:
        person = data.persons.get(pid)
        if person is None:
            return not_found()
        return envelope(person_v1(data, person), {}, related_objects={})

    async def v1_create(request: Request) -> JSONResponse:
        person = data.create_person(v1_body_to_v2(data, await v1_body(request)))
        return envelope(person_v1(data, person), {}, 201, related_objects={})

    async def v1_update(pid: int, request: Request) -> JSONResponse:
        person = data.update_person(pid, v1_body_to_v2(data, await v1_body(request)))
        return not_found() if person is None else envelope(person_v1(data, person), {}, related_objects={})

    def v1_delete(pid: int) -> JSONResponse:
        return envelope({"id": pid}) if data.delete_person(pid) else not_found()

    for prefix in ("/v1", "/api/v1"):
        app.add_api_route(prefix + "/personFields", person_fields, methods=["GET"])
        app.add_api_route(prefix + "/personFields", add_person_field, methods=["POST"])
        app.add_api_route(prefix + "/users/me", me, methods=["GET"])
        app.add_api_route(prefix + "/persons", v1_list, methods=["GET"])
        app.add_api_route(prefix + "/persons", v1_create, methods=["POST"])
        app.add_api_route(prefix + "/persons/{pid}", v1_get, methods=["GET"])
        app.add_api_route(prefix + "/persons/{pid}", v1_update, methods=["PUT"])
        app.add_api_route(prefix + "/persons/{pid}", v1_delete, methods=["DELETE"])


def person_v1(company: Company, p: dict[str, Any]) -> dict[str, Any]:
    org = company.orgs.get(p["org_id"]) if p["org_id"] else None
    emails = [dict(e) for e in p["emails"]] or [{"value": "", "primary": True}]
    phones = [dict(x) for x in p["phones"]] or [{"value": "", "primary": True}]
    out: dict[str, Any] = {
        "id": p["id"],
        "company_id": COMPANY_ID,
        "owner_id": {**OWNER, "has_pic": 0, "pic_hash": None, "active_flag": True, "value": OWNER["id"]},
        "org_id": None
        if org is None
        else {
            "name": org["name"],
            "people_count": sum(1 for q in company.persons.values() if q["org_id"] == org["id"]),
            "owner_id": org["owner_id"],
            "address": (org["address"] or {}).get("value", ""),
            "cc_email": "org@pipedrivemail.com",
            "active_flag": not org["is_deleted"],
            "value": org["id"],
        },
        "name": p["name"],
        "first_name": p["first_name"],
        "last_name": p["last_name"],
        "active_flag": not p["is_deleted"],
        "phone": phones,
        "email": emails,
        "primary_email": next((e["value"] for e in p["emails"] if e["primary"]), None),
        "first_char": p["name"][:1].lower(),
        "add_time": v1time(p["add_time"]),
        "update_time": v1time(p["update_time"]),
        "visible_to": str(p["visible_to"]),
        "picture_id": None,
        "label": p["label_ids"][0] if p["label_ids"] else None,
        "label_ids": list(p["label_ids"]),
        "org_name": org["name"] if org else None,
        "owner_name": OWNER["name"],
        "cc_email": "company@pipedrivemail.com",
    }
    for f in company.custom_fields():
        value = p["custom_fields"].get(f["key"])
        if f["field_type"] == "monetary":
            out[f["key"]] = value["value"] if value else None
            out[f["key"] + "_currency"] = value.get("currency") if value else None
        elif f["field_type"] == "set":
            out[f["key"]] = ",".join(str(v) for v in value) if value else None  # v1: "123,456"
        else:
            out[f["key"]] = value
    return out


def v1_body_to_v2(company: Company, body: dict[str, Any]) -> dict[str, Any]:
    """v1 create/update (``email``/``phone`` as a string or list, custom fields as
    top-level keys, ``visible_to`` as a string) in the v2 form ``apply_body`` checks."""
    out: dict[str, Any] = {}
    custom_keys = {f["key"] for f in company.custom_fields()}
    custom: dict[str, Any] = {}
    currencies: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("email", "phone"):
            items = [{"value": value}] if isinstance(value, str) else value
            out[key + "s"] = items
        elif key == "visible_to":
            out[key] = int(value) if str(value).isdigit() else value
        elif key in ("org_id", "owner_id") and isinstance(value, str) and value.isdigit():
            out[key] = int(value)
        elif key in custom_keys:
            custom[key] = value
        elif key.endswith("_currency") and key.removesuffix("_currency") in custom_keys:
            currencies[key.removesuffix("_currency")] = value
        else:
            out[key] = value
    kinds = {f["key"]: f["field_type"] for f in company.custom_fields()}
    for key, value in list(custom.items()):
        if kinds[key] == "set" and isinstance(value, str):  # v1: "123,456"
            custom[key] = [int(v) if v.strip().isdigit() else v for v in value.split(",") if v.strip()]
        elif kinds[key] == "monetary" and value is not None:
            custom[key] = {"value": value, "currency": currencies.get(key)}
    if custom:
        out["custom_fields"] = custom
    return out
