"""The Procore emulator's directory routes: company users (list, show, create, update,
sync, inactive), vendors, people and project directories, shaped as Procore documents them."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request, Response

from contacthub.emulators.procore_http import (
    ApiError,
    check_company,
    check_version,
    filtered,
    json_response,
    not_found,
    page_of,
    present,
    read_body,
    refused,
    required,
)
from contacthub.emulators.procore_state import ProcoreState, Refused

#: the filters each listing documents (the OAS): Procore ignores any other one it is sent
COMPANY_USER_FILTERS = frozenset({"created_at", "updated_at", "vendor_id", "origin_id", "search"})
VENDOR_FILTERS = frozenset({"created_at", "updated_at", "origin_id", "search", "id"})


def add_directory_routes(app: FastAPI, state: ProcoreState) -> None:
    def company(cid: int) -> None:
        check_company(state, cid)

    def version(v: str) -> None:
        check_version(v)

    # --- company users ------------------------------------------------------------------------

    def user_search(u: dict[str, Any]) -> str:
        """What ``filters[search]`` looks at, as Procore documents it for company users: first
        name, last name, email, job title, company name; not the full name (its people
        search does match "first, last, or full" names; this one does not)."""
        vendor = state.vendors.get(u["vendor_id"]) if u["vendor_id"] else None
        parts = [u.get(n) for n in ("first_name", "last_name", "email_address", "job_title")]
        return " | ".join(str(p) for p in (*parts, vendor["name"] if vendor else None) if p)

    def user_rows(active: bool) -> list[dict[str, Any]]:
        return [u for u in state.users.values() if u["is_active"] == active]

    def user_by_id(row: dict[str, Any]) -> dict[str, Any]:
        return state.user_json(state.users[row["id"]])

    @app.get("/rest/v1.0/companies/{cid}/users/inactive")
    async def users_inactive(cid: int, request: Request) -> Response:
        # Procore documents no filters on this listing (page, per_page, sort only): a
        # client that sends them gets every inactive user
        company(cid)
        return page_of(request, user_rows(False), user_by_id, state.max_per_page)

    @app.patch("/rest/v1.0/companies/{cid}/users/inactive/{uid}")
    async def user_reactivate(cid: int, uid: int) -> Response:
        company(cid)
        user = state.users.get(uid)
        if user is None or user["is_active"]:
            raise not_found()
        try:
            return json_response(state.user_json(state.update_user(uid, {"is_active": True}), view="show"))
        except Refused as exc:
            raise refused(exc) from None

    @app.patch("/rest/{v}/companies/{cid}/users/sync")
    async def users_sync(v: str, cid: int, request: Request) -> Response:
        version(v)
        company(cid)
        body = await read_body(request)
        updates = required(body, "updates", list)
        if len(updates) > 1000:
            raise ApiError(400, {"errors": "updates can hold at most 1000 items"})
        return json_response(state.sync_users(updates))

    @app.get("/rest/{v}/companies/{cid}/users")
    async def users_list(v: str, cid: int, request: Request) -> Response:
        version(v)
        company(cid)
        rows = filtered(user_rows(True), request, user_search, COMPANY_USER_FILTERS)
        if request.query_params.get("sort") in ("name", "full_name"):
            rows.sort(
                key=lambda r: (
                    (r.get("last_name") or "").casefold(),
                    (r.get("first_name") or "").casefold(),
                    r["id"],
                )
            )
        return page_of(request, rows, user_by_id, state.max_per_page)

    @app.get("/rest/{v}/companies/{cid}/users/{uid}")
    async def user_show(v: str, cid: int, uid: int) -> Response:
        version(v)
        company(cid)
        user = state.users.get(uid)
        if user is None:
            raise not_found()
        return json_response(state.user_json(user, view="show"))

    @app.post("/rest/{v}/companies/{cid}/users")
    async def user_create(v: str, cid: int, request: Request) -> Response:
        version(v)
        company(cid)
        body = await read_body(request)
        attrs = required(body, "user")
        try:
            return json_response(state.user_json(state.create_user(attrs), view="show"), 201)
        except Refused as exc:
            raise refused(exc) from None

    @app.patch("/rest/{v}/companies/{cid}/users/{uid}")
    async def user_update(v: str, cid: int, uid: int, request: Request) -> Response:
        version(v)
        company(cid)
        body = await read_body(request)
        attrs = required(body, "user")  # partial: see ``present``
        try:
            return json_response(state.user_json(state.update_user(uid, attrs), view="show"))
        except Refused as exc:
            raise refused(exc) from None

    # --- vendors ----------------------------------------------------------------------------

    def vendor_search(v: dict[str, Any]) -> str:
        return " | ".join(str(v.get(n)) for n in ("name", "origin_code", "trade_name") if v.get(n))

    def vendor_company(request: Request, body: dict[str, Any] | None = None) -> None:
        raw = (body or {}).get("company_id") or request.query_params.get("company_id")
        if raw is None:
            raise ApiError(400, {"errors": "param is missing or the value is empty: company_id"})
        try:
            company(int(raw))
        except ValueError:
            raise not_found() from None

    def vendor_rows(active: bool) -> list[dict[str, Any]]:
        return [v for v in state.vendors.values() if v["is_active"] == active]

    def vendor_page(request: Request, rows: list[dict[str, Any]]) -> Response:
        counts = state.contact_counts()
        return page_of(request, rows, lambda row: state.vendor_json(row, counts), state.max_per_page)

    @app.get("/rest/v1.0/vendors")
    async def vendors_list(request: Request) -> Response:
        vendor_company(request)
        rows = list(state.vendors.values()) if state.vendors_list_inactive else vendor_rows(True)
        return vendor_page(request, filtered(rows, request, vendor_search, VENDOR_FILTERS))

    @app.patch("/rest/v1.0/vendors/sync")
    async def vendors_sync(request: Request) -> Response:
        body = await read_body(request)
        vendor_company(request, body)
        updates = body.get("updates")
        if not isinstance(updates, list) or len(updates) > 1000:
            raise ApiError(400, {"errors": "updates must be a list of at most 1000 items"})
        entities, errors = [], []
        for item in updates:
            try:
                if item.get("id"):
                    vendor = state.update_vendor(
                        int(item["id"]), {k: v for k, v in item.items() if k != "id"}
                    )
                else:
                    found = next(
                        (
                            v
                            for v in state.vendors.values()
                            if item.get("origin_id") and v.get("origin_id") == str(item["origin_id"])
                        ),
                        None,
                    )
                    vendor = state.update_vendor(found["id"], item) if found else state.create_vendor(item)
                entities.append(state.vendor_json(vendor))
            except Refused as exc:
                detail = (
                    exc.errors if isinstance(exc.errors, dict) else {"id": ["Entity with this ID not found"]}
                )
                errors.append({**item, "errors": detail})
        return json_response({"entities": entities, "errors": errors})

    @app.get("/rest/v1.0/vendors/{vid}")
    async def vendor_show(vid: int, request: Request) -> Response:
        vendor_company(request)
        vendor = state.vendors.get(vid)
        if vendor is None:
            raise not_found()
        return json_response(state.vendor_json(vendor))

    @app.post("/rest/v1.0/vendors")
    async def vendor_create(request: Request) -> Response:
        body = await read_body(request)
        vendor_company(request, body)
        attrs = required(body, "vendor")
        try:
            return json_response(state.vendor_json(state.create_vendor(attrs)), 201)
        except Refused as exc:
            raise refused(exc) from None

    @app.patch("/rest/v1.0/vendors/{vid}")
    async def vendor_update(vid: int, request: Request) -> Response:
        body = await read_body(request)
        vendor_company(request, body)
        attrs = required(body, "vendor")
        present(attrs, "name")
        try:
            return json_response(state.vendor_json(state.update_vendor(vid, attrs)))
        except Refused as exc:
            raise refused(exc) from None

    @app.get("/rest/v1.0/companies/{cid}/vendors/inactive")
    async def vendors_inactive(cid: int, request: Request) -> Response:
        company(cid)
        # documented with no filters at all: every one is ignored
        return vendor_page(request, filtered(vendor_rows(False), request, vendor_search, frozenset()))

    @app.patch("/rest/v1.0/companies/{cid}/vendors/inactive/{vid}")
    async def vendor_reactivate(cid: int, vid: int) -> Response:
        company(cid)
        vendor = state.vendors.get(vid)
        if vendor is None or vendor["is_active"]:
            raise not_found()
        return json_response(state.vendor_json(state.update_vendor(vid, {"is_active": True})))

    # --- people -----------------------------------------------------------------------------

    def people_list(request: Request, active: bool, members: set[int] | None = None) -> Response:
        q = request.query_params
        rows = list(state.people_rows(active))
        if members is not None:
            rows = [r for r in rows if r.get("_user") is not None and r["_user"]["id"] in members]
        if q.get("filters[reference_users_only]") == "true":
            rows = [r for r in rows if "_user" not in r]
        if q.get("filters[without_reference_users]") == "true":
            rows = [r for r in rows if "_user" in r]
        view = q.get("view", "normal")
        search = (q.get("filters[search]") or "").casefold()
        if search:
            rows = [
                r
                for r in rows
                if search in json.dumps(state.person_json(r, "extended"), ensure_ascii=False).casefold()
            ]
        rows.sort(key=lambda r: r["id"])
        return page_of(request, rows, lambda r: state.person_json(r, view), state.max_per_page)

    @app.get("/rest/v1.0/companies/{cid}/people")
    async def people(cid: int, request: Request) -> Response:
        company(cid)
        return people_list(request, True)

    @app.get("/rest/v1.0/companies/{cid}/people/inactive")
    async def people_inactive(cid: int, request: Request) -> Response:
        company(cid)
        return people_list(request, False)

    @app.post("/rest/v1.0/companies/{cid}/people")
    async def person_create(cid: int, request: Request) -> Response:
        company(cid)
        attrs = required(await read_body(request), "person")
        try:
            return json_response(state.person_json(state.create_person(attrs), "extended"), 201)
        except Refused as exc:
            raise refused(exc) from None

    @app.patch("/rest/v1.0/companies/{cid}/people/{pid}")
    async def person_update(cid: int, pid: int, request: Request) -> Response:
        company(cid)
        attrs = required(await read_body(request), "person")
        present(attrs, "last_name")
        try:
            return json_response(state.person_json(state.update_person(pid, attrs), "extended"))
        except Refused as exc:
            raise refused(exc) from None

    # --- project directories ----------------------------------------------------------------

    def project(pid: int) -> dict[str, Any]:
        found = state.projects.get(pid)
        if found is None:
            raise ApiError(404, {"errors": f"Project {pid} not found"})
        return found

    @app.get("/rest/v1.0/projects/{pid}/users")
    async def project_users(pid: int, request: Request) -> Response:
        members = project(pid)["user_ids"]
        rows = [r for r in user_rows(True) if r["id"] in members]
        return page_of(request, filtered(rows, request, user_search), user_by_id, state.max_per_page)

    @app.get("/rest/v1.0/projects/{pid}/people")
    async def project_people(pid: int, request: Request) -> Response:
        return people_list(request, True, project(pid)["user_ids"])

    @app.get("/rest/{v}/projects/{pid}/vendors")
    async def project_vendors(v: str, pid: int, request: Request) -> Response:
        if v not in ("v1.0", "v1.1"):
            raise not_found()
        members = project(pid)["vendor_ids"]
        rows = [r for r in vendor_rows(True) if r["id"] in members]
        # documented here: filters[search] and filters[id][] (no updated_at, origin_id)
        return vendor_page(request, filtered(rows, request, vendor_search, frozenset({"search", "id"})))

    @app.post("/rest/v1.0/projects/{pid}/users/{uid}/actions/add")
    async def project_user_add(pid: int, uid: int) -> Response:
        found = project(pid)
        user = state.users.get(uid)
        if user is None:
            raise not_found()
        with state.lock:
            found["user_ids"].add(uid)
            if user["vendor_id"]:
                found["vendor_ids"].add(user["vendor_id"])
            state.save()
        return json_response(state.user_json(user, view="show"), 201)
