"""Two hubs in one store, each synced for the first time: the second hub's first sync is
the one whose queries meet the rows of its own open transaction, which PostgreSQL's
statistics have never seen (``hub_id = 2`` estimated at one row while it has thousands).

Hub 1 has three vCard folders made with ``gen_contacts.py``: ``a`` with N cards, ``b``
with the same people under an edited title (so a merge edits every contact), ``c`` with
the full cards of 200 twin people whose card in ``a`` holds only their email and in ``b``
only their phone. Hub 2 is built the same way from half of hub 1's people and as many of
its own. Each database gets ``apply`` and ``sync`` of hub 1, then of hub 2, in this process
(``config.apply``, ``service.sync``); printed per sync: wall seconds, the seconds spent in
``Store.sharing_keys`` (the twins' query) and ``Store.match_lookup`` (inbound matching)
with their call counts, and what the run did (hub changes, conflicts, twin groups), which
must be the same on both databases and before and after a change of these queries.

    python bench/two_hubs.py                        # 5,000 cards, SQLite and PostgreSQL
    python bench/two_hubs.py --count 12200 --databases postgres
    python bench/two_hubs.py --database-url postgresql+psycopg://u@127.0.0.1/x   # a server of yours

PostgreSQL is a throwaway server started here (Debian's binaries, 127.0.0.1, fsync off,
as the tests start theirs) unless ``--database-url`` names one; folders and the SQLite
file go to ``--workdir`` (default ``/dev/shm``). Nothing about time is asserted.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gen_contacts as gen  # noqa: E402
from servers import postgres  # noqa: E402
from tests.conftest import _fresh_postgres_database  # noqa: E402
from vs_vdirsyncer import prop_name  # noqa: E402

from contacthub import config, service  # noqa: E402
from contacthub.store.db import close_databases, open_database  # noqa: E402
from contacthub.store.repo import Store  # noqa: E402

TWINS = 200


def _write(folder: Path, card: gen.Card) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / card.filename()
    path.write_bytes(card.text().encode("utf-8"))
    os.utime(path, (card.mtime, card.mtime))


def _variant(
    card: gen.Card, suffix: str, drop: tuple[str, ...] = (), title: str = "", later: float = 0
) -> gen.Card:
    """The card under UID ``card.uid + suffix``, without the properties ``drop`` names,
    with ``title`` as its title if given, ``later`` seconds newer."""
    lines = []
    for line in card.lines:
        name = prop_name(line)
        if name in drop:
            continue
        if name == "TITLE" and title:
            line = "TITLE:" + title
        elif name == "UID":
            line += suffix
        lines.append(line)
    return gen.Card(card.uid + suffix, card.mtime + later, lines)


def make_hub(root: Path, name: str, people: list[gen.Card], twins: list[gen.Card]) -> Path:
    """The folders a, b, c of one hub and its hub file; returns the file."""
    base = root / name
    for card in people:
        _write(base / "a", card)
        _write(base / "b", _variant(card, "-b", title="Chief " + name, later=86400))
    for card in twins:
        _write(base / "a", _variant(card, "-ta", drop=("TEL", "N", "ORG", "TITLE", "ADR")))
        _write(base / "b", _variant(card, "-tb", drop=("EMAIL", "IMPP", "URL", "X-SOCIALPROFILE")))
        _write(base / "c", _variant(card, "-tc"))
    (base / "c").mkdir(parents=True, exist_ok=True)
    body = f'[hubs.{name}]\nconflict = "newest"\ndelete_threshold = "100%"\ninterval = "off"\n'
    for folder in "abc":
        body += (
            f'\n[[hubs.{name}.connectors]]\nname = {json.dumps(folder)}\ntype = "vcard-dir"\n'
            f"path = {json.dumps(str(base / folder))}\n"
        )
    path = root / f"{name}.toml"
    path.write_text(body, encoding="utf-8")
    return path


class Spent:
    """Seconds and calls in the wrapped ``Store`` methods since the last ``take``."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.seconds = dict.fromkeys(names, 0.0)
        self.calls = dict.fromkeys(names, 0)
        self.groups = 0
        self._inside = False

    def wrap(self) -> Callable[[], None]:
        """Wrap the methods on the ``Store`` mixin that defines each; returns what puts
        them back."""
        originals: dict[str, tuple[type, Any]] = {}
        for name in self.names:
            owner = next(k for k in Store.__mro__ if name in vars(k))
            originals[name] = (owner, vars(owner)[name])
        for name, (owner, original) in originals.items():
            setattr(owner, name, self._timed(name, original))

        def restore() -> None:
            for name, (owner, original) in originals.items():
                setattr(owner, name, original)

        return restore

    def _timed(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._inside:  # a store method calling another: counted once, in the outer
                return original(*args, **kwargs)
            self._inside = True
            started = time.perf_counter()
            try:
                out = original(*args, **kwargs)
            finally:
                self._inside = False
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1
            if name == "sharing_keys":
                self.groups += len(out)
            return out

        return timed

    def take(self) -> tuple[dict[str, float], dict[str, int], int]:
        out = (dict(self.seconds), dict(self.calls), self.groups)
        self.seconds, self.calls, self.groups = (
            dict.fromkeys(self.names, 0.0),
            dict.fromkeys(self.names, 0),
            0,
        )
        return out


def store_methods() -> tuple[str, ...]:
    """Every public method of ``Store`` (for ``--top``)."""
    names = {
        name
        for klass in Store.__mro__
        if klass.__module__.startswith("contacthub.")
        for name, value in vars(klass).items()
        if callable(value) and not name.startswith("_")
    }
    return tuple(sorted(names | {"sharing_keys", "match_lookup"}))


def run_database(label: str, url: str, hub_files: list[Path], top: int = 0) -> list[dict[str, Any]]:
    """Apply and sync each hub file in turn on the database at ``url``; one row per sync.
    With ``top``, also print the ``top`` store methods by seconds spent in each sync."""
    engine = open_database(url)
    spent = Spent(store_methods() if top else ("sharing_keys", "match_lookup"))
    restore = spent.wrap()
    rows: list[dict[str, Any]] = []
    try:
        for path in hub_files:
            config.apply(engine, config.load(path))
            hub = path.stem
            spent.take()
            started = time.perf_counter()
            report = service.sync(engine, hub)
            wall = time.perf_counter() - started
            seconds, calls, groups = spent.take()
            hub_changes = report.changes.get("hub", {})
            rows.append(
                {
                    "database": label,
                    "hub": hub,
                    "status": report.status,
                    "wall": wall,
                    "sharing_keys": seconds["sharing_keys"],
                    "sharing_calls": calls["sharing_keys"],
                    "match_lookup": seconds["match_lookup"],
                    "match_calls": calls["match_lookup"],
                    "groups": groups,
                    "created": hub_changes.get("create", 0),
                    "updated": hub_changes.get("update", 0),
                    "conflicts": report.conflicts,
                }
            )
            row = rows[-1]
            print(
                f"{label:10} {hub}: {row['status']}, wall {wall:7.2f} s,"
                f" sharing_keys {row['sharing_keys']:6.2f} s ({row['sharing_calls']} calls,"
                f" {groups} twin groups), match_lookup {row['match_lookup']:6.2f} s"
                f" ({row['match_calls']} calls); hub created {row['created']}, updated {row['updated']},"
                f" {row['conflicts']} conflicts",
                flush=True,
            )
            for name in sorted(seconds, key=lambda n: -seconds[n])[:top]:
                print(f"{'':10}   {name:28} {seconds[name]:7.2f} s  {calls[name]:6} calls", flush=True)
    finally:
        restore()
        close_databases()
        engine.dispose()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="people of hub 1 (the QA case: 12200)")
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument(
        "--database-url", help="a PostgreSQL server of yours (a fresh database is made in it)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    )
    parser.add_argument(
        "--top", type=int, default=0, help="also print the N store methods most seconds went to"
    )
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    count = args.count
    rows: list[dict[str, Any]] = []
    for database in databases:
        if database not in ("sqlite", "postgres"):
            parser.error(f"unknown database {database!r}")
        root = Path(tempfile.mkdtemp(prefix="two-hubs-", dir=args.workdir))
        try:
            started = time.perf_counter()
            one = list(gen.generate(count + TWINS, seed=1))
            two = list(gen.generate(count // 2 + TWINS, seed=2))
            files = [
                make_hub(root, "h1", one[:count], one[count:]),
                # half of hub 1's people, as many of its own, its own twins
                make_hub(root, "h2", one[: count // 2] + two[: count // 2], two[count // 2 :]),
            ]
            took = time.perf_counter() - started
            print(f"{database}: folders of {count} + {TWINS} twins per hub made in {took:.1f} s")
            if database == "sqlite":
                rows += run_database(database, f"sqlite:///{root}/hub.db", files, args.top)
            else:
                with postgres(args.database_url) as server, _fresh_postgres_database(server) as url:
                    rows += run_database(database, url, files, args.top)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
