"""Pruning a hub's history (``contacthub prune``): what it would delete, deleting it, and the
database housekeeping after (``VACUUM``, ``ANALYZE``). Which runs and rows go is the store's
rule (``store.history``); this says it in plain data and does it in one transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, text

from contacthub.errors import UserError
from contacthub.store import history
from contacthub.store.repo import Store, now


def prune(
    engine: Engine,
    hub: str,
    *,
    keep_days: int | None = None,
    before: int | None = None,
    dry_run: bool = False,
    vacuum: bool = False,
) -> dict[str, Any]:
    """Delete the journal of the hub's runs older than ``keep_days`` days (by when they
    started) or than run ``before`` (both: runs older than both), keeping the runs' rows
    marked pruned (``store.history``). ``dry_run``: only what it would delete. ``vacuum``:
    then give the space back and refresh the planner's statistics."""
    if keep_days is None and before is None:
        raise UserError("say which runs to prune: --keep-days D or --before RUN")
    if keep_days is not None and keep_days < 0:
        raise UserError("--keep-days takes a number of days, 0 or more")
    when = now()
    cutoff = when - timedelta(days=keep_days) if keep_days is not None else None
    with engine.begin() as conn:
        hub_row = Store(conn).hub(hub)
        if before is not None and not history.is_run_of(conn, hub_row.id, before):
            raise UserError(f"run {before} is not a run of hub {hub!r}")
        runs, newest_applied = history.prunable_runs(conn, hub_row.id, before=before, started_before=cutoff)
        deleted = 0
        if not dry_run:
            for run in runs:
                deleted += history.prune_run(conn, run, when)
        else:
            deleted = sum(r.rows - r.kept for r in runs)
    out: dict[str, Any] = {
        "hub": hub,
        "dry_run": dry_run,
        "runs": [r.id for r in runs],
        "changes": deleted,
        "kept": sum(r.kept for r in runs),
        "protected_from": newest_applied,
        "vacuumed": False,
    }
    if vacuum and not dry_run:
        housekeeping(engine)
        out["vacuumed"] = True
    return out


def housekeeping(engine: Engine) -> None:
    """Give the deleted rows' space back to the disk and refresh the query planner's
    statistics: ``VACUUM`` and ``ANALYZE`` on SQLite, ``VACUUM ANALYZE`` on PostgreSQL.
    Outside a transaction, as both databases want it; SQLite's ``VACUUM`` rewrites the
    whole file and needs as much free disk again while it runs."""
    statements = ["VACUUM ANALYZE"] if engine.dialect.name == "postgresql" else ["VACUUM", "ANALYZE"]
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for statement in statements:
            conn.execute(text(statement))
