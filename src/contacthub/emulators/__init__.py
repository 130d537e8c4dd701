"""Emulators of the hosted APIs we connect to (Procore, Pipedrive, Microsoft 365), for tests,
benchmarks and the demo. Each speaks its vendor's documented wire format: when an emulator
and a connector disagree, the vendor's documentation decides.

``contacthub emulate SYSTEM [OPTIONS]`` runs one; each module here has a Typer app ``cli``
whose options it documents itself (``contacthub emulate SYSTEM --help``)."""

from __future__ import annotations

from importlib import import_module

from contacthub.errors import UserError

SYSTEMS: dict[str, str] = {
    "procore": "contacthub.emulators.procore",
    "pipedrive": "contacthub.emulators.pipedrive",
    "m365": "contacthub.emulators.m365",
}


def main(system: str, args: list[str]) -> None:
    """Run ``contacthub emulate SYSTEM ARGS``."""
    module = SYSTEMS.get(system)
    if module is None:
        raise UserError(f"unknown system {system!r} (known: {', '.join(sorted(SYSTEMS))})")
    try:
        cli = import_module(module).cli
    except ModuleNotFoundError as exc:
        if exc.name == module:
            raise UserError(f"the {system} emulator is not part of this version yet") from None
        raise
    cli(args=args, prog_name=f"contacthub emulate {system}")
