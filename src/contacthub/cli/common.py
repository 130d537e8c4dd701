"""What every command shares: the Typer ``app`` and its global ``--database`` option, the exit
codes, one-line failures (``fail`` and the ``_guard`` decorator) and opening the store. It is
separate so the command modules can register on ``app`` without importing one another, and it
imports nothing heavy: every command module imports it at start-up."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import click
import typer
from typer.core import TyperCommand

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(
    help="contacthub: keep contacts in sync across address books, directories and CRMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_HELD = 3
EXIT_USER = 2
#: Ctrl-C, as a shell reports a process interrupted by SIGINT (128 + 2)
EXIT_INTERRUPTED = 130


class State:
    database: str | None = None
    #: why ``--database`` cannot be used, said when a command opens the store (``db``)
    refusal: str | None = None


#: the commands that print one JSON object with ``--json`` whatever happens: a refused
#: ``--database`` is said by them (``db`` raises it), not before they start
JSON_ALWAYS = ("sync", "approve", "reject", "undo")


def fail(message: str, code: int = EXIT_USER) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def db(create: bool = True) -> Engine:
    """The store; with ``create=False``, a store file named with ``--database`` must exist
    (a mistyped path made an empty store, and the user saw "no hubs yet"). A store that
    cannot be used is a ``UserError``, not an exit here: ``sync --json`` (and the commands
    of ``JSON_ALWAYS``) still print their object for it, as for any other reason."""
    from contacthub.errors import UserError
    from contacthub.store.db import open_database, sqlite_path

    if State.refusal:
        raise UserError(State.refusal)
    url = State.database
    path = sqlite_path(url) if url and not create else None
    if path is not None and not path.exists():
        raise UserError(f"no store at {path} (mistyped? `contacthub apply` creates one)")
    return open_database(url)


#: the largest id the store holds: its ids are ``Integer``, 32 bits on PostgreSQL
ID_MAX = 2**31 - 1


def _id_argument(label: str, not_found: str, help: str) -> Any:
    """A command's id argument (a run, a conflict, a token): one below 1 is refused as no
    id at all (``label`` names it), and one above the store's integer range names no row,
    said as for any other missing id, with ``not_found`` (its ``{}`` the id), where the
    database driver raised OverflowError (SQLite) or an out-of-range error (PostgreSQL),
    and the command ended in a traceback."""

    def check(value: int | None) -> int | None:
        if value is not None and value < 1:
            fail(f"{label} must be a positive number, not {value}")
        if value is not None and value > ID_MAX:
            fail(not_found.format(value))
        return value

    return typer.Argument(callback=check, show_default=False, metavar=label, help=help)


RunId = Annotated[int, _id_argument("RUN", "no run {}", "A run's number, as 'runs' lists it.")]
ConflictId = Annotated[
    int, _id_argument("CONFLICT", "no conflict {}", "A conflict's number, as 'conflicts' lists it.")
]
TokenId = Annotated[
    int,
    _id_argument(
        "TOKEN_ID", "no API token {}: see 'contacthub token list'", "A token's number ('token list')."
    ),
]
HubName = Annotated[str, typer.Argument(help="The hub's name, as its hub file declares it.")]


class IdCommand(TyperCommand):
    """A command taking an id (``RunId``...): ``show -1`` answered "No such option '-1'",
    Click reading any word that starts with "-" as an option; said as the id's error."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # (Click's parser takes them off the list)
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            # (Click names the first letter of ``-12``, read as short options: ``-1``)
            number = next((a for a in given if re.fullmatch(r"-\d+", a)), None)
            if number is None or not re.fullmatch(r"-\d", exc.option_name):
                raise
            label = next((p.metavar for p in self.params if isinstance(p, click.Argument)), None) or "the id"
            ctx.fail(f"{label} must be a positive number, not {number}")


@app.callback()
def main_options(
    ctx: typer.Context,
    database: Annotated[
        str | None,
        typer.Option("--database", envvar="CONTACTHUB_DATABASE_URL", help="SQLAlchemy URL of the store."),
    ] = None,
) -> None:
    """``--database ""`` is refused: a script's ``--database "$DB_URL"`` with the variable
    unset ran against the default store. An empty ``CONTACTHUB_DATABASE_URL`` is taken as
    unset (as Click and ``store.db`` take it, and as most tools take an empty variable).
    The commands of ``JSON_ALWAYS`` say the refusal themselves, when they open the store:
    ``sync --json`` printed nothing on stdout for it."""
    State.database, State.refusal = database, None
    if database is not None and not database.strip():
        said = (
            '--database is empty (an unset variable in --database "$VAR"?): give the store\'s URL,'
            " or leave the option out for the default store"
        )
        if ctx.invoked_subcommand not in JSON_ALWAYS:
            fail(said)
        State.refusal = said


#: what Ctrl-C in a command says (``sync`` says its own, with the hub's name)
INTERRUPTED = (
    "interrupted: nothing more was done; a run it cut short (an undo, an approve)"
    " is finished by the next 'contacthub sync' of its hub, with nothing made twice"
)


def store_refusal(exc: Any) -> str:
    """What to say when the store itself refused (read-only, full disk, server gone): the
    driver's own words, never the statement or the URL, which may hold a password."""
    return f"the store cannot be used: {str(exc.orig).strip() or type(exc.orig).__name__}"


def _guard(func: Any) -> Any:
    """Turn our errors into one line and an exit code."""
    from functools import wraps

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError

        from contacthub.errors import ContacthubError

        try:
            return func(*args, **kwargs)
        except ContacthubError as exc:
            fail(str(exc))
        except OperationalError as exc:
            fail(store_refusal(exc))
        except KeyboardInterrupt:
            # Typer made Ctrl-C a silent exit 130: the person did not know what state the hub
            # was in (``sync`` says it with the hub's name)
            fail(INTERRUPTED, EXIT_INTERRUPTED)

    return wrapper
