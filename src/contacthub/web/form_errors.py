"""A dashboard form the service refused, shown again: what went wrong in plain words, and what
the person typed, minus any secret.

The forms went to a separate message page, which lost what was typed and showed validation
internals (``body.delete_threshold: Field required``, ``delete_threshold: Value error, ...``);
a hub name too long or empty got FastAPI's own 422. The page handlers now catch the refusal
(``is_form_error``), say it with ``plain`` and render their form again with the values sent.
A refusal that is not about the form (a hub not found, a run in progress) keeps its own page
and status. Secrets are never echoed: ``refill_settings`` leaves out of the settings box the
lines that hold one, and the templates leave password fields empty and say so."""

from __future__ import annotations

import re
from typing import Any

from contacthub import names
from contacthub.config import NAME_MAX
from contacthub.errors import NotFoundError, UserError

#: a form field's name as the page labels it
LABELS = {
    "name": "Name",
    "type": "Type",
    "conflict": "Conflicts",
    "delete_threshold": "Deletion threshold",
    "phone_region": "Phone region",
    "direction": "Direction",
    "operations": "Allowed operations",
    "on_delete": "When a contact is deleted in the hub",
    "settings": "Settings",
    "filter": "Filter",
    "mapping": "Field mapping",
    "email": "Email",
    "password": "Password",
    "take": "Side to keep",
}
NAME_LIMIT = NAME_MAX
#: longest text a short form field takes (a threshold such as "10%", a policy, a region)
SHORT_LIMIT = 20

_LOC = re.compile(r"^(?:body\.)?([a-z_]+)(?:[.\[][^:]*)?: (.*)$", re.S)


def is_form_error(exc: Exception) -> bool:
    """Whether ``exc`` is the form's to show: a ``UserError`` about what was typed, not a
    missing hub or connector (404) or a run in progress (409), which keep their pages."""
    from contacthub.scheduler.lock import HubBusy
    from contacthub.web.app import Busy

    return isinstance(exc, UserError) and not isinstance(exc, NotFoundError | Busy | HubBusy)


def problem(field: str | None, text: str) -> str:
    """``text`` about ``field`` as a person reads it: the field's label, not its key, and
    none of pydantic's wording ("Value error, ", "Field required", the key said twice)."""
    text = text.removeprefix("Value error, ").strip()
    if field:
        text = text.removeprefix(f"{field} ").strip()
    if text == "Field required":
        text = "this is required"
    if not field:
        return text
    if text[:1].isupper() and text[1:2].islower():
        text = text[0].lower() + text[1:]
    return f"{LABELS.get(field, field.replace('_', ' ').capitalize())}: {text}"


def plain(exc: UserError) -> str:
    """A refusal by the service in plain words, as a sentence: it ends with a full stop
    where it has none, as the connector forms go on with "Nothing was saved" (a message
    ending in a list of settings read "username, verify, version Nothing was saved")."""
    text = _words(exc)
    return text if text.endswith((".", "!", "?")) else text + "."


def _words(exc: UserError) -> str:
    """``plain``'s words. Its ``where`` names the connector whose form this is (left out) or
    its filter; its message may be pydantic's ``key: message``."""
    where = exc.where or ""
    match = _LOC.match(exc.message)
    if match and match.group(1) in LABELS:
        return problem(match.group(1), match.group(2))
    if re.search(r" filter(?:[.\[]|$)", where):
        return problem("filter", exc.message)
    if where and not where.startswith("connector "):
        return str(exc)
    return problem(None, exc.message)


def check_name(name: str) -> None:
    """A hub's or connector's name as the forms take it (the service checks the rest),
    counted as stored (``config.NAME_MAX``): in NFC, without surrounding blanks. Counted as
    typed, a name in NFD (``ü`` as two code points) or with blanks around it was refused
    here and created by ``apply``."""
    stored = names.nfc(name).strip()
    if not stored:
        raise UserError(problem("name", f"this is required (1 to {NAME_LIMIT} characters)"))
    if len(stored) > NAME_LIMIT:
        raise UserError(problem("name", f"at most {NAME_LIMIT} characters; this one has {len(stored)}"))


def check_short(field: str, value: str) -> None:
    if len(value) > SHORT_LIMIT:
        raise UserError(problem(field, f"at most {SHORT_LIMIT} characters"))


def refill_settings(text: str, secret_keys: frozenset[str]) -> tuple[str, list[str]]:
    """The settings box as typed, for the form shown again, without the lines that hold a
    secret: a secret setting typed there, or an address with a password or a token in it
    (the page shows those masked, ``secrets.hide_url_secrets``; ``secrets.shown_url`` finds
    them also in an address that is no URL; a line sent back masked, as the page showed it,
    holds none and stays). Also the names of the lines left out."""
    from contacthub.store.secrets import REDACTED, shown_url

    kept: list[str] = []
    dropped: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip().strip("\"'")
        # ``shown_url``: also an address that is none, the reason the form is refused
        # (``http:/alice:pw@host``, ``host/?token=...``): the page quoted it back whole
        if sep and (key in secret_keys or (REDACTED not in value and shown_url(value) != value)):
            dropped.append(key)
            continue
        kept.append(line)
    return "\n".join(kept), dropped


def secrets_typed(form: Any) -> list[str]:
    """The password fields (``secret_NAME``) the person filled in: not shown again."""
    return [
        str(k).removeprefix("secret_") for k, v in form.multi_items() if k.startswith("secret_") and str(v)
    ]
