"""Exchange Online's admin REST endpoint as the emulator serves it:
``POST /adminapi/beta/{tenant}/InvokeCommand`` with ``{"CmdletInput": {"CmdletName": ...,
"Parameters": {...}}}``, for the mail-contact cmdlets (``New-MailContact``, ``Set-Contact``,
``Set-MailContact``, ``Get-MailContact``, ``Get-Contact``, ``Remove-MailContact``).

This is the endpoint Exchange Online PowerShell itself calls; Microsoft does not document it,
so the shapes follow captured traffic (see /work/shared/reference/gal.md §8.2): results in
``value`` with ``@odata.type`` annotations beside collections and dates, warnings in
``@adminapi.warnings``, paging through ``@odata.nextLink`` (POST the same body again), and
cmdlet errors as ``{"error": {"code", "message": "Error executing cmdlet", "details":
[{"message": "<JSON with Message and TypeName>"}]}}``.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import quote

from contacthub.emulators.m365_data import CONTACT_PROPS, Obj, Tenant
from contacthub.emulators.m365_wire import Reply, decode_token, encode_token

SET_CONTACT = frozenset(
    {
        "FirstName",
        "LastName",
        "Initials",
        "DisplayName",
        "Name",
        "Title",
        "Department",
        "Company",
        "Office",
        "StreetAddress",
        "City",
        "StateOrProvince",
        "PostalCode",
        "CountryOrRegion",
        "Phone",
        "MobilePhone",
        "Fax",
        "Notes",
        "WebPage",
    }
)
SET_MAIL_CONTACT = frozenset(
    {
        "Alias",
        "DisplayName",
        "Name",
        "ExternalEmailAddress",
        "HiddenFromAddressListsEnabled",
        "EmailAddresses",
        "PrimarySmtpAddress",
        "MailTip",
        *(f"CustomAttribute{i}" for i in range(1, 16)),
    }
)
NEW_MAIL_CONTACT = frozenset(
    {"Name", "ExternalEmailAddress", "DisplayName", "FirstName", "LastName", "Initials", "Alias"}
)
COMMON = frozenset({"Identity", "Confirm", "ErrorAction", "WarningAction"})
_CLAUSE = re.compile(r"\s*\(?\s*(\w+)\s+-(eq|ne|like)\s+'((?:[^']|'')*)'\s*\)?\s*", re.I)


def cmdlet_error(status: int, code: str, message: str, type_name: str) -> Reply:
    detail = json.dumps({"Message": message, "TypeName": type_name, "StackTrace": None, "InnerError": None})
    body = {
        "error": {
            "code": code,
            "message": "Error executing cmdlet",
            "details": [{"code": "Context", "target": "", "message": detail}],
            "innererror": {"message": "Error executing cmdlet", "type": "ODataServiceException"},
        }
    }
    return Reply(status, body, {"request-id": str(uuid.uuid4())})


def _dn(tenant: Tenant, name: str) -> str:
    return f"CN={name},OU={tenant.domain},OU=Microsoft Exchange Hosted Organizations,DC=EMUPR01A001,DC=PROD"


def _plain(value: str | None) -> str:
    return value[5:] if value and value.lower().startswith("smtp:") else (value or "")


def mail_contact_view(tenant: Tenant, obj: Obj) -> dict[str, Any]:
    p = obj.props
    mail = _plain(p.get("ExternalEmailAddress"))
    out: dict[str, Any] = {
        "Identity": p.get("Name"),
        "Id": p.get("Name"),
        "Name": p.get("Name"),
        "Alias": p.get("Alias"),
        "DisplayName": p.get("DisplayName"),
        "ExternalEmailAddress": f"SMTP:{mail}" if mail else None,
        "PrimarySmtpAddress": mail or None,
        "EmailAddresses@odata.type": "#Collection(String)",
        "EmailAddresses": [f"SMTP:{mail}"] if mail else [],
        "HiddenFromAddressListsEnabled": bool(p.get("HiddenFromAddressListsEnabled")),
        "RecipientType": "MailContact",
        "RecipientTypeDetails": "MailContact",
        "ExternalDirectoryObjectId": obj.id,
        "Guid@data.type": "System.Guid",
        "Guid": str(uuid.uuid5(uuid.NAMESPACE_OID, obj.id)),
        "DistinguishedName": _dn(tenant, str(p.get("Name"))),
        "WhenChanged@data.type": "System.DateTime",
        "WhenChanged": obj.changed,
        "WhenCreated@data.type": "System.DateTime",
        "WhenCreated": obj.created,
    }
    for i in range(1, 16):
        out[f"CustomAttribute{i}"] = p.get(f"CustomAttribute{i}") or ""
    return out


def contact_view(tenant: Tenant, obj: Obj) -> dict[str, Any]:
    p = obj.props
    out = {name: p.get(name) or "" for name in sorted(SET_CONTACT)}
    out.update(
        {
            "Identity": p.get("Name"),
            "Id": p.get("Name"),
            "WindowsEmailAddress": _plain(p.get("ExternalEmailAddress")),
            "RecipientType": "MailContact",
            "ExternalDirectoryObjectId": obj.id,
            "Guid@data.type": "System.Guid",
            "Guid": str(uuid.uuid5(uuid.NAMESPACE_OID, obj.id)),
            "WhenChanged@data.type": "System.DateTime",
            "WhenChanged": obj.changed,
        }
    )
    return out


class ExchangeApi:
    """The cmdlets of the module docstring for one emulator."""

    def __init__(self, page_size: int = 1000) -> None:
        self.page_size = page_size
        self.calls = 0

    def invoke(self, tenant: Tenant, base: str, body: Any, skiptoken: str | None, prefer: str) -> Reply:
        self.calls += 1
        cmd = body.get("CmdletInput") if isinstance(body, dict) else None
        if not isinstance(cmd, dict) or not isinstance(cmd.get("CmdletName"), str):
            return Reply(
                400,
                {
                    "error": {
                        "code": "BadRequest",
                        "message": "Invalid Operation",
                        "innererror": {
                            "message": "Invalid Operation",
                            "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                        },
                    }
                },
            )
        name = cmd["CmdletName"]
        params = cmd.get("Parameters") or {}
        if not isinstance(params, dict):
            return cmdlet_error(
                400, "BadRequest", "Parameters must be an object.", "System.ArgumentException"
            )
        handler = {
            "New-MailContact": self._new,
            "Set-Contact": self._set_contact,
            "Set-MailContact": self._set_mail_contact,
            "Get-MailContact": self._get_mail,
            "Get-Contact": self._get_contact,
            "Remove-MailContact": self._remove,
        }.get(name)
        if handler is None:
            return cmdlet_error(
                400,
                "BadRequest",
                f"The term '{name}' is not recognized as a name of a cmdlet, function, script file, "
                "or executable program.",
                "System.Management.Automation.CommandNotFoundException",
            )
        with tenant.lock:
            reply = handler(tenant, params)
        if reply.status != 200 or not isinstance(reply.body, list):
            return reply
        return self._page(tenant, base, reply.body, skiptoken, prefer)

    def _page(self, tenant: Tenant, base: str, rows: list[Any], skiptoken: str | None, prefer: str) -> Reply:
        size = self.page_size
        match = re.search(r"odata\.maxpagesize=(\d+)", prefer or "")
        if match:
            size = max(1, min(size, int(match.group(1))))
        start = int((decode_token(skiptoken) or {}).get("o", 0)) if skiptoken else 0
        body: dict[str, Any] = {
            "@odata.context": (
                f"{base}/adminapi/beta/{tenant.domain}/$metadata#Collection(Exchange.GenericHashTable)"
            ),
            "adminapi.warnings@odata.type": "#Collection(String)",
            "@adminapi.warnings": [],
            "value": rows[start : start + size],
        }
        if start + size < len(rows):
            token = quote(encode_token({"o": start + size}))
            body["@odata.nextLink"] = f"{base}/adminapi/beta/{tenant.id}/InvokeCommand?$skiptoken={token}"
        return Reply(200, body)

    # --- helpers ------------------------------------------------------------------------

    def _find(self, tenant: Tenant, identity: Any) -> Obj | Reply:
        text = str(identity or "")
        low = text.lower()
        for obj in tenant.live_contacts():
            p = obj.props
            keys = {
                obj.id.lower(),
                str(uuid.uuid5(uuid.NAMESPACE_OID, obj.id)),
                str(p.get("Name") or "").lower(),
                str(p.get("Alias") or "").lower(),
                _plain(p.get("ExternalEmailAddress")).lower(),
            }
            if low and low in keys:
                return obj
        return cmdlet_error(
            404,
            "NotFound",
            f"The operation couldn't be performed because object '{text}' couldn't be found on "
            "'EMUPR01A001DC01.EMUPR01A001.PROD.OUTLOOK.COM'.",
            "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
        )

    @staticmethod
    def _unknown(params: dict[str, Any], allowed: frozenset[str]) -> Reply | None:
        for name in params:
            if name not in allowed and name not in COMMON:
                return cmdlet_error(
                    400,
                    "BadRequest",
                    f"A parameter cannot be found that matches parameter name '{name}'.",
                    "System.Management.Automation.ParameterBindingException",
                )
        return None

    def _clash(self, tenant: Tenant, name: str | None, mail: str | None, skip: str | None) -> Reply | None:
        for other in tenant.live_contacts():
            if other.id == skip:
                continue
            if name and str(other.props.get("Name") or "").lower() == name.lower():
                return cmdlet_error(
                    400,
                    "BadRequest",
                    f"The object '{_dn(tenant, name)}' already exists.",
                    "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException",
                )
            if mail and _plain(other.props.get("ExternalEmailAddress")).lower() == _plain(mail).lower():
                return cmdlet_error(
                    400,
                    "BadRequest",
                    f'The proxy address "SMTP:{_plain(mail)}" is already being used by the proxy addresses '
                    f'or LegacyExchangeDN of "{other.props.get("Name")}". '
                    "Please choose another proxy address.",
                    "Microsoft.Exchange.Data.Directory.ProxyAddressExistsException",
                )
        return None

    # --- cmdlets ------------------------------------------------------------------------

    def _new(self, tenant: Tenant, params: dict[str, Any]) -> Reply:
        bad = self._unknown(params, NEW_MAIL_CONTACT)
        if bad:
            return bad
        for required in ("Name", "ExternalEmailAddress"):
            if not params.get(required):
                return cmdlet_error(
                    400,
                    "BadRequest",
                    f"Cannot bind argument to parameter '{required}' because it is an empty string.",
                    "System.Management.Automation.ParameterBindingValidationException",
                )
        name, mail = str(params["Name"]), str(params["ExternalEmailAddress"])
        if len(name) > 64:
            return cmdlet_error(
                400,
                "BadRequest",
                "The length of the property is too long. The maximum length is 64 and the length of "
                f"the value "
                f"provided is {len(name)}.",
                "Microsoft.Exchange.Data.DataValidationException",
            )
        clash = self._clash(tenant, name, mail, None)
        if clash:
            return clash
        alias = (
            params.get("Alias") or re.sub(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]", "", name)[:64] or "contact"
        )
        props = {k: params.get(k) for k in NEW_MAIL_CONTACT if params.get(k) is not None}
        props.update(Alias=alias, DisplayName=params.get("DisplayName") or name)
        props["ExternalEmailAddress"] = f"SMTP:{_plain(mail)}"
        obj = tenant.add_contact(props)
        return Reply(200, [mail_contact_view(tenant, obj)])

    def _apply(self, tenant: Tenant, params: dict[str, Any], allowed: frozenset[str]) -> Reply:
        bad = self._unknown(params, allowed)
        if bad:
            return bad
        found = self._find(tenant, params.get("Identity"))
        if isinstance(found, Reply):
            return found
        changes = {k: v for k, v in params.items() if k in allowed}
        for key in ("HiddenFromAddressListsEnabled",):
            if key in changes and not isinstance(changes[key], bool):
                changes[key] = str(changes[key]).lower() in ("true", "$true", "1")
        if changes.get("ExternalEmailAddress"):
            changes["ExternalEmailAddress"] = f"SMTP:{_plain(str(changes['ExternalEmailAddress']))}"
        clash = self._clash(tenant, changes.get("Name"), changes.get("ExternalEmailAddress"), found.id)
        if clash:
            return clash
        for name, value in changes.items():
            if name in CONTACT_PROPS and isinstance(value, str) and len(value) > 1024:
                return cmdlet_error(
                    400,
                    "BadRequest",
                    f"The length of the property {name} is too long.",
                    "Microsoft.Exchange.Data.DataValidationException",
                )
        tenant.update_contact(found.id, {k: (v if v != "" else None) for k, v in changes.items()})
        return Reply(200, [])

    def _set_contact(self, tenant: Tenant, params: dict[str, Any]) -> Reply:
        return self._apply(tenant, params, SET_CONTACT)

    def _set_mail_contact(self, tenant: Tenant, params: dict[str, Any]) -> Reply:
        return self._apply(tenant, params, SET_MAIL_CONTACT)

    def _select(self, tenant: Tenant, params: dict[str, Any]) -> list[Obj] | Reply:
        if params.get("Identity"):
            found = self._find(tenant, params["Identity"])
            return found if isinstance(found, Reply) else [found]
        rows = sorted(tenant.live_contacts(), key=lambda o: str(o.props.get("Name")).lower())
        text = str(params.get("Filter") or "").strip()
        if text:
            clauses = [c for c in re.split(r"\s+-and\s+", text, flags=re.I)]
            tests = []
            for clause in clauses:
                match = _CLAUSE.fullmatch(clause)
                if match is None:
                    return cmdlet_error(
                        400,
                        "BadRequest",
                        f"Cannot bind parameter 'Filter' to the target. Invalid filter: {text}",
                        "Microsoft.Exchange.Management.Tasks.ParameterBindingException",
                    )
                tests.append((match.group(1), match.group(2).lower(), match.group(3).replace("''", "'")))
            rows = [o for o in rows if all(_test(o, *t) for t in tests)]
        size = str(params.get("ResultSize") or "")
        if size and size.lower() != "unlimited" and size.isdigit():
            rows = rows[: int(size)]
        return rows

    def _get_mail(self, tenant: Tenant, params: dict[str, Any]) -> Reply:
        bad = self._unknown(params, frozenset({"Filter", "ResultSize"}))
        if bad:
            return bad
        rows = self._select(tenant, params)
        return rows if isinstance(rows, Reply) else Reply(200, [mail_contact_view(tenant, o) for o in rows])

    def _get_contact(self, tenant: Tenant, params: dict[str, Any]) -> Reply:
        bad = self._unknown(params, frozenset({"Filter", "ResultSize", "RecipientTypeDetails"}))
        if bad:
            return bad
        rows = self._select(tenant, params)
        return rows if isinstance(rows, Reply) else Reply(200, [contact_view(tenant, o) for o in rows])

    def _remove(self, tenant: Tenant, params: dict[str, Any]) -> Reply:
        bad = self._unknown(params, frozenset())
        if bad:
            return bad
        found = self._find(tenant, params.get("Identity"))
        if isinstance(found, Reply):
            return found
        tenant.delete_contact(found.id)
        return Reply(200, [])


def _test(obj: Obj, name: str, op: str, value: str) -> bool:
    have = str(obj.props.get(name) or "")
    if name in ("ExternalDirectoryObjectId",):
        have = obj.id
    if op == "eq":
        return have.lower() == value.lower()
    if op == "ne":
        return have.lower() != value.lower()
    pattern = "^" + ".*".join(re.escape(part) for part in value.lower().split("*")) + "$"
    return re.match(pattern, have.lower()) is not None
