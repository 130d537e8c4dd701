"""Shared by the Procore emulator's records: field lists as Procore spells them, its time
formats, and the refusal every write rule raises."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ACCESS_LIFETIME = 5400

USER_TEXT = (
    "first_name", "last_name", "job_title", "address", "city", "zip", "business_phone",
    "mobile_phone", "fax_number", "email_address", "email_signature", "employee_id", "notes",
    "country_code", "state_code", "initials", "origin_id", "origin_data",
)  # fmt: skip
USER_WRITABLE = frozenset(
    (
        *USER_TEXT,
        "business_phone_extension", "is_active", "is_employee", "vendor_id",
        "default_permission_template_id", "company_permission_template_id",
        "work_classification_id", "add_to_new_projects", "id",
    )
)  # fmt: skip
VENDOR_TEXT = (
    "name", "abbreviated_name", "address", "city", "state_code", "zip", "country_code",
    "business_phone", "mobile_phone", "fax_number", "email_address", "website", "notes",
    "origin_id", "origin_data", "origin_code", "trade_name", "legal_name", "license_number",
    "labor_union",
)  # fmt: skip
PERSON_TEXT = ("first_name", "last_name", "employee_id", "origin_id", "job_title", "email_address")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, end: bool = False) -> float:
    """One side of a Procore date range: a date, or a date-time with ``Z`` or an offset."""
    text = text.strip().strip('"').strip("'")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return day.timestamp() + (86399 if end else 0)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_range(text: str) -> tuple[float, float]:
    """``START...END`` (three dots, optionally quoted); ``ValueError`` when malformed."""
    text = text.strip().strip('"')
    start, sep, end = text.partition("...")
    if not sep:
        raise ValueError(text)
    return parse_time(start), parse_time(end, end=True)


class Refused(Exception):
    """A write Procore refuses: ``status`` and the ``errors`` object of its body."""

    def __init__(self, status: int, errors: dict[str, list[str]] | str) -> None:
        super().__init__(str(errors))
        self.status = status
        self.errors = errors


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)
