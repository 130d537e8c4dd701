"""HTTP plumbing of the Procore emulator: error answers, request bodies in the three
encodings Procore accepts, paging with its headers, and list filters."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from fastapi import Request, Response

from contacthub.emulators.procore_state import ProcoreState, Refused, parse_range

VERSIONS = ("v1.0", "v1.1", "v1.2", "v1.3")


class ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def not_found() -> ApiError:
    return ApiError(404, {"errors": "Not Found"})


def check_company(state: ProcoreState, cid: int) -> None:
    if cid != state.company_id:
        raise ApiError(404, {"errors": f"Company {cid} not found"})


def check_version(v: str) -> None:
    if v not in VERSIONS:
        raise not_found()


def required(body: dict[str, Any], key: str, kind: type = dict) -> Any:
    """``body[key]`` when it is a ``kind``; otherwise Procore's answer to a missing param."""
    value = body.get(key)
    if not isinstance(value, kind):
        raise ApiError(400, {"errors": f"param is missing or the value is empty: {key}"})
    return value


def present(attrs: dict[str, Any], *names: str) -> None:
    """Procore's OpenAPI marks ``names`` required in its PATCH bodies too (``vendor.name``,
    ``person.last_name``): a body without one is a 400 "missing required field", even when
    it changes only the active flag. Not a company user's: Procore documents PATCH as a
    partial update, deactivation as ``{"user": {"is_active": false}}``, and an update that
    includes ``email_address`` as refused without Directory Admin permission, so the
    OpenAPI's ``required: [email_address, last_name]`` there is create's, copied (a blank
    one sent is still refused: ``validate_user``)."""
    missing = [name for name in names if name not in attrs]
    if missing:
        raise ApiError(400, {"errors": {name: ["can't be blank"] for name in missing}})


def refused(exc: Refused) -> ApiError:
    return ApiError(exc.status, {"errors": exc.errors})


async def read_body(request: Request) -> dict[str, Any]:
    """A JSON, urlencoded or multipart body as a dict; ``a[b]`` form keys become nesting."""
    kind = request.headers.get("content-type", "")
    if "json" in kind or not kind:
        raw = await request.body()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise ApiError(400, {"errors": "Malformed JSON"}) from None
        if not isinstance(data, dict):
            raise ApiError(400, {"errors": "Malformed JSON"})
        return data
    form = await request.form()
    return nest((key, value) for key, value in form.multi_items() if isinstance(value, str))


def nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Rails-style form keys (``user[first_name]``, ``updates[0][id]``, ``updates[][id]``)
    as nested dicts and lists."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = [p.rstrip("]") for p in key.split("[")]
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                # "[]": a new element when the current one already has this sub-key
                if part == "" or part.isdigit():
                    index = int(part) if part.isdigit() else None
                    sub = parts[i + 1] if not last else None
                    if index is not None:
                        while len(node) <= index:
                            node.append({})
                        target = node[index]
                    elif not node or (sub is not None and sub in node[-1]):
                        node.append({})
                        target = node[-1]
                    else:
                        target = node[-1]
                    if last:
                        node[-1 if index is None else index] = value
                    node = target
                continue
            if last:
                node[part] = value
            else:
                following = parts[i + 1]
                node = node.setdefault(part, [] if following == "" or following.isdigit() else {})
    return out


def page_of(
    request: Request, items: list[Any], serialize: Callable[[Any], Any], max_per_page: int
) -> Response:
    """One page with Procore's ``Link``, ``Total`` and ``Per-Page`` headers."""
    query = request.query_params
    try:
        page = max(1, int(query.get("page", "1")))
        per_page = max(1, min(int(query.get("per_page", "100")), max_per_page))
    except ValueError:
        raise ApiError(400, {"errors": "page and per_page must be integers"}) from None
    total = len(items)
    last = max(1, math.ceil(total / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def link(n: int) -> str:
        return str(request.url.include_query_params(page=n, per_page=per_page))

    links = []
    if page >= 2:
        links.append(f'<{link(1)}>; rel="first"')
    if page >= 3:
        links.append(f'<{link(page - 1)}>; rel="prev"')
    if page < last:
        links.append(f'<{link(page + 1)}>; rel="next"')
        links.append(f'<{link(last)}>; rel="last"')
    headers = {"Total": str(total), "Per-Page": str(per_page)}
    if links:
        headers["Link"] = ", ".join(links)
    return json_response([serialize(item) for item in chunk], headers=headers)


ALL_FILTERS = frozenset({"updated_at", "created_at", "search", "origin_id", "vendor_id", "id"})


def filtered(
    rows: Iterable[dict[str, Any]],
    request: Request,
    text: Callable[[dict[str, Any]], str],
    documented: frozenset[str] = ALL_FILTERS,
) -> list[dict[str, Any]]:
    """``filters[updated_at]``, ``filters[created_at]``, ``filters[search]``,
    ``filters[origin_id]``, ``filters[vendor_id]``, ``filters[id]``, in id order; only the
    ``documented`` ones of the listing: Procore ignores a filter a listing does not take."""
    query = request.query_params
    out = list(rows)
    for name in ("updated_at", "created_at"):
        value = query.get(f"filters[{name}]") if name in documented else None
        if value:
            try:
                start, end = parse_range(value)
            except ValueError:
                raise ApiError(400, {"errors": f"filters[{name}] must be a range START...END"}) from None
            out = [r for r in out if start <= r[name] <= end]
    search = query.get("filters[search]") if "search" in documented else None
    if search:
        needle = search.casefold()
        out = [r for r in out if needle in text(r).casefold()]
    origin = query.get("filters[origin_id]") if "origin_id" in documented else None
    if origin:
        out = [r for r in out if r.get("origin_id") == origin]
    for name in ("vendor_id", "id"):
        if name not in documented:
            continue
        wanted = query.getlist(f"filters[{name}][]") + query.getlist(f"filters[{name}]")
        if wanted:
            ids = {int(v) for v in wanted if v.isdigit()}
            out = [r for r in out if r.get(name) in ids]
    return sorted(out, key=lambda r: r["id"])
