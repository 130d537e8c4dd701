"""The ``user`` and ``token`` command groups: the people who sign in to the dashboard and the
API tokens they use. Separate because they manage accounts, not hubs."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated

import typer

from contacthub.cli.common import IdCommand, TokenId, _guard, app, db, fail

user_app = typer.Typer(help="Dashboard and API users.", no_args_is_help=True)
app.add_typer(user_app, name="user")
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@user_app.command("add")
@_guard
def user_add(
    email: str,
    admin: Annotated[bool, typer.Option("--admin", help="An admin sees and changes every hub.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user who signs in to the dashboard (the password is asked for, never an argument)."""
    from contacthub.web import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    user = accounts.add_user(db(), email, password, admin=admin)
    typer.echo(f"user {user.email} added{' (admin)' if user.is_admin else ''}")


@token_app.command("create")
@_guard
def token_create(
    user: Annotated[
        str | None, typer.Option("--user", help="Whose token (needed when there are several users).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A label to recognise it by.")] = "api",
    expires_days: Annotated[
        int | None,
        typer.Option(
            "--expires-days",
            min=1,
            max=36500,  # accounts.MAX_TOKEN_DAYS (the web modules are imported only when run)
            help="Refuse the token from this many days on (default: it never expires).",
        ),
    ] = None,
) -> None:
    """Create an API token (Authorization: Bearer TOKEN). It is printed once and kept only hashed."""
    from contacthub.errors import UserError
    from contacthub.web import accounts

    engine = db()
    if user:
        owner = accounts.find_user(engine, user)
        if owner is None:
            raise UserError(f"no user {user}: add one with 'contacthub user add EMAIL'")
    else:
        everyone = accounts.users(engine)
        if len(everyone) != 1:
            raise UserError(
                "say whose token with --user EMAIL"
                if everyone
                else "no user yet: add one with 'contacthub user add EMAIL'"
            )
        owner = everyone[0]
    typer.echo(accounts.create_token(engine, owner, name, expires_days))
    days = "1 day" if expires_days == 1 else f"{expires_days} days"
    until = f"; it expires in {days}" if expires_days else ""
    typer.echo(f"token for {owner.email}: shown this once, keep it safe{until}", err=True)


@user_app.command("password")
@_guard
def user_password(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from standard input.")
    ] = False,
) -> None:
    """Give a user a new password (asked for, never an argument); their dashboard sessions
    end. Their API tokens are credentials of their own and stay valid (``token revoke``):
    the message says so, as "signed out everywhere" had a leaked token taken for revoked."""
    from contacthub.web import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    if not accounts.set_password(db(), email, password):
        fail(f"no user {email}")
    user = accounts.email_key(email)
    typer.echo(
        f"user {user}: new password set; their dashboard sessions are signed out; their API "
        f"tokens stay valid (see them with: contacthub token list --user {user}; revoke one with: "
        "contacthub token revoke ID)"
    )


@user_app.command("list")
@_guard
def user_list() -> None:
    """The users, admins marked."""
    from contacthub.web import accounts

    for user in accounts.users(db(create=False)):
        typer.echo(f"{user.email}{' (admin)' if user.is_admin else ''}")


@user_app.command("remove")
@_guard
def user_remove(email: str) -> None:
    """Remove a user: signed out everywhere, their API tokens revoked; their hubs stay, for
    admins to see."""
    from contacthub.errors import UserError
    from contacthub.web import accounts

    if not accounts.remove_user(db(create=False), email):
        raise UserError(f"no user {email}")
    typer.echo(f"user {email} removed, with their sessions and API tokens")


@token_app.command("list")
@_guard
def token_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """The API tokens: id, whose, label, made, last used, expiry (the tokens themselves are
    never kept). Times are UTC."""
    from contacthub.errors import UserError
    from contacthub.web import accounts

    engine = db(create=False)
    owner = None
    if user:
        owner = accounts.find_user(engine, user)
        if owner is None:
            raise UserError(f"no user {user}")
    rows = accounts.tokens(engine, owner)
    if as_json:
        items = [
            {
                **row,
                **{k: _when(row[k]) for k in ("created_at", "last_used_at", "expires_at")},
            }
            for row in rows
        ]
        typer.echo(json.dumps(items, ensure_ascii=False))
        return
    for row in rows:
        used = _when(row["last_used_at"]) or "never used"
        expiry = (
            "never expires"
            if row["expires_at"] is None
            else f"{'expired' if row['expired'] else 'expires'} {_when(row['expires_at'])}"
        )
        typer.echo(
            f"{row['id']}\t{row['email']}\t{row['name']}\tmade {_when(row['created_at'])}\t{used}\t{expiry}"
        )


def _when(moment: datetime | None) -> str | None:
    """A time of ``token list``, in UTC to the second (``2025-01-31T09:00:00+00:00``)."""
    return None if moment is None else moment.isoformat(timespec="seconds")


@token_app.command("revoke", cls=IdCommand)
@_guard
def token_revoke(token_id: TokenId) -> None:
    """Revoke an API token by its id (see 'token list'): it stops working at once."""
    from contacthub.errors import UserError
    from contacthub.web import accounts

    if not accounts.revoke_token(db(create=False), token_id):
        raise UserError(f"no API token {token_id}: see 'contacthub token list'")
    typer.echo(f"token {token_id} revoked")
