"""Talking to a CardDAV server: requests, multistatus answers, and finding the address book.

Discovery follows RFC 6764 and RFC 6352: a URL that is an address book is used as it is;
otherwise ``/.well-known/carddav`` (redirects followed, also to another host), then the
``current-user-principal``, its ``addressbook-home-set``, and the address books in that
home, picked by path name or display name. A missing address book is made with an
extended MKCOL (RFC 5689) when the connector says ``create = true``.

Every answer is read up to a bound (``ApiClient.request``'s ``limit``): the connector's
``max_answer_mb`` unless the request names another (a card's ``GET``: ``max_card_mb``). A
server answering a listing with more than that fails the connector's run, naming the
setting, before anything is concluded from a listing it did not finish.
"""

from __future__ import annotations

import httpx

from contacthub.connectors import carddav_xml as dav
from contacthub.connectors.http import ApiClient, error_for
from contacthub.errors import AnswerTooLargeError, FatalConnectorError
from contacthub.redact import hide_url_secrets

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class DavSession:
    """One server's requests, through the project's ``ApiClient`` (retries, Retry-After)."""

    def __init__(
        self, client: ApiClient, url: httpx.URL, username: str, connector: str, max_answer: int
    ) -> None:
        self.client = client
        #: the largest answer read, in bytes, when a request names no other bound
        self.max_answer = max_answer
        self.url = url
        #: the URL as said in errors: its query (a token) masked (``redact.hide_url_secrets``)
        self.shown = hide_url_secrets(str(url))
        self.origin = url.copy_with(path="/", query=None, fragment=None)
        #: the query of the URL given (``?token=...``: some servers let in by it), added to
        #: every request to its host (``request``), never to another host a redirect leads
        #: to; kept out of the URLs the connector builds, which name records in what is said
        self.query = url.query or None
        self.username = username
        self.name = connector

    def request(
        self, method: str, url: httpx.URL | str, body: str | bytes | None = None, **headers: str
    ) -> httpx.Response:
        """One request, its answer read up to ``max_answer``; see ``send``."""
        return self.send(method, url, body, headers)

    def send(
        self,
        method: str,
        url: httpx.URL | str,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        limit: int | None = None,
    ) -> httpx.Response:
        """One request; a refused login becomes one clear fatal error (no credential in it).
        Its answer is read up to ``limit`` bytes (``max_answer`` when None): past it, an
        ``AnswerTooLargeError`` naming the setting (the caller of an explicit ``limit``
        says its own)."""
        headers = dict(headers or {})
        if isinstance(body, str):
            headers.setdefault("Content-Type", "application/xml; charset=utf-8")
            body = body.encode("utf-8")
        if self.query is not None:
            url = self._with_query(httpx.URL(str(url)))
        try:
            return self.client.request(
                method, str(url), content=body, headers=headers, limit=limit or self.max_answer
            )
        except AnswerTooLargeError as exc:
            if limit is not None:
                raise
            raise AnswerTooLargeError(
                f"the CardDAV server {self.origin}: {exc.message}; if the address book is that "
                "big, raise the connector's max_answer_mb setting",
                self.name,
                exc.limit,
            ) from None
        except FatalConnectorError as exc:  # ApiClient.request raises it for a 401 only
            who = f"user {self.username!r}" if self.username else "the credentials"
            raise FatalConnectorError(
                f"the CardDAV server {self.origin} refused {who} (401): check 'username' and "
                "'password' (or 'token') in the hub file, or give the password again with "
                "`contacthub connect`",
                self.name,
            ) from exc

    def _with_query(self, url: httpx.URL) -> httpx.URL:
        """``url`` with the query of the URL given, when it goes to that host and has none."""
        same = (url.scheme, url.host, url.port) == (self.origin.scheme, self.origin.host, self.origin.port)
        return url.copy_with(query=self.query) if same and not url.query else url

    def multistatus(
        self, method: str, url: httpx.URL, body: str, depth: str, limit: int | None = None
    ) -> tuple[httpx.Response, dav.MultiStatus | None]:
        """The answer, and its multistatus when it is a 207 (``None`` otherwise)."""
        response = self.send(method, url, body, {"Depth": depth}, limit)
        if response.status_code != 207:
            return response, None
        return response, dav.parse_multistatus(response.content, str(url), self.name, url.path)

    def at(self, path: str) -> httpx.URL:
        """The URL of a decoded path on the server."""
        return self.origin.copy_with(path=dav.quote_path(path))

    # --- discovery ------------------------------------------------------------------------

    def propfind0(self, path: str) -> tuple[str, dav.Member | None]:
        """PROPFIND Depth 0 of ``path``, following redirects: the final path and what is
        there (``None`` when nothing is)."""
        for _hop in range(6):
            url = self.at(path)
            response, status = self.multistatus("PROPFIND", url, dav.PROPFIND_DISCOVERY, "0")
            if response.status_code in _REDIRECTS and response.headers.get("Location"):
                target = url.join(response.headers["Location"])
                origin = target.copy_with(path="/", query=None, fragment=None)
                if origin != self.origin:
                    self.query = None  # the token is for the host it was given for
                self.origin = origin
                path = target.path or "/"
                continue
            missing = response.status_code in (404, 405, 410)
            if missing or (response.status_code == 403 and path.startswith("/.well-known/")):
                return path, None
            if status is None:
                raise error_for(response, self.name, what=str(url))
            return path, status.members[0] if status.members else None
        raise FatalConnectorError(f"{self.shown} redirects too often", self.name)

    def discover(self, wanted: str | None, create: bool) -> httpx.URL:
        """The address book's URL (with a trailing slash); see the module docstring."""
        path = self.url.path or "/"
        if path == "/":
            found, member = self.propfind0("/.well-known/carddav")
            if member is None:
                found, member = self.propfind0("/")
        else:
            found, member = self.propfind0(path)
        if member is None:
            if path != "/" and create:
                return self.mkcol(_slash(path))
            raise FatalConnectorError(
                f"nothing was found at {self.shown}: check 'url', or set create = true to make "
                "the address book there",
                self.name,
            )
        if member.addressbook and not wanted:
            return self.at(_slash(found))
        home = member.home
        if home is None and member.principal:
            _, principal = self.propfind0(member.principal)
            home = principal.home if principal else None
        home = _slash(home or found)
        _, listing = self.multistatus("PROPFIND", self.at(home), dav.PROPFIND_DISCOVERY, "1")
        members = listing.members if listing else []
        books = sorted((m for m in members if m.addressbook and _slash(m.href) != home), key=lambda m: m.href)
        if wanted:
            books = [m for m in books if _last(m.href) == wanted or m.displayname == wanted]
        if books:
            return self.at(_slash(books[0].href))
        if create:
            return self.mkcol(f"{home}{wanted or 'contacts'}/")
        named = f"no address book {wanted!r}" if wanted else "no address book"
        raise FatalConnectorError(
            f"{named} was found under {self.at(home)}: set 'addressbook', give the address "
            "book's URL as 'url', or set create = true",
            self.name,
        )

    def mkcol(self, path: str) -> httpx.URL:
        url = self.at(path)
        response = self.request("MKCOL", url, dav.mkcol_addressbook(_last(path)))
        if response.status_code not in (200, 201, 204):
            raise error_for(response, self.name, what=f"creating the address book {url}")
        return url


def _slash(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def _last(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]
