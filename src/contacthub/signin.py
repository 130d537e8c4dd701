"""Signing a connector in from the terminal: ``contacthub connect HUB CONNECTOR``.

The connector drives its own flow (``Connector.connect``); this module is the terminal's side
of ``ConnectUI``: print the link (and open a browser where there is one), and listen on the
redirect URI's port on this machine for the one request that carries our ``state``. A request
with another state is answered with an error page and refused: it did not come from the
sign-in we started.
"""

from __future__ import annotations

import contextlib
import getpass
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import typer

from contacthub.errors import UserError

DONE_PAGE = b"<!doctype html><title>contacthub</title><p>Signed in. You can close this window."
FAIL_PAGE = b"<!doctype html><title>contacthub</title><p>This sign-in was not started here: state mismatch."


class TerminalUI:
    """``ConnectUI`` for the command line. ``browser=False`` only prints links."""

    def __init__(self, browser: bool = True) -> None:
        self.browser = browser

    def echo(self, text: str) -> None:
        typer.echo(text, err=True)

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        return getpass.getpass(f"{prompt}: ") if secret else input(f"{prompt}: ")

    def open_link(self, url: str) -> None:
        typer.echo(f"Open this link to sign in:\n\n  {url}\n", err=True)
        if self.browser:
            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(url)

    def wait_for_redirect(self, redirect_uri: str, state: str, timeout: float = 600) -> dict[str, str]:
        return wait_for_redirect(redirect_uri, state, timeout)


def wait_for_redirect(redirect_uri: str, state: str, timeout: float = 600) -> dict[str, str]:
    """Serve ``redirect_uri`` (an http://127.0.0.1 or localhost address) until the redirect
    with ``state`` arrives; its query parameters."""
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
        raise UserError(
            f"redirect_uri {redirect_uri!r} must be http://127.0.0.1:PORT/... for a sign-in from "
            "the terminal (or sign in from the dashboard)"
        )
    result: dict[str, Any] = {}
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != (parts.path or "/"):
                self.send_error(404)
                return
            params = dict(parse_qsl(url.query))
            ok = params.get("state") == state
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(DONE_PAGE if ok else FAIL_PAGE)
            result["params" if ok else "mismatch"] = params
            done.set()

        def log_message(self, format: str, *args: Any) -> None:
            return  # the query carries a code: never log it

    try:
        server = HTTPServer(("127.0.0.1", parts.port), Handler)
    except OSError as exc:
        raise UserError(f"cannot listen on {redirect_uri}: {exc.strerror}") from None
    server.timeout = 0.5
    try:
        waited = 0.0
        while not done.is_set() and waited < timeout:
            server.handle_request()
            waited += server.timeout
    finally:
        server.server_close()
    if "params" in result:
        params: dict[str, str] = result["params"]
        return params
    if "mismatch" in result:
        raise UserError("the sign-in redirect carried another state: it was not started here; try again")
    raise UserError(f"no sign-in arrived at {redirect_uri} within {int(timeout)} s")
