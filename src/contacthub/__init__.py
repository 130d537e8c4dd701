"""contacthub: keep the same people in sync across address books, directories and CRMs."""

import sys

__version__ = "0.1.0"

# httpx imports its own command-line client on import whenever click, rich and pygments are
# installed, as they are here (typer, uvicorn): 0.1 s on every command that talks HTTP, for
# a tool contacthub never runs. Without the module, httpx puts a stub in its place.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
