"""The web dashboard and REST API (``contacthub serve``)."""

from __future__ import annotations

from contacthub.web.app import create_app

__all__ = ["create_app"]
