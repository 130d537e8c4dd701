"""Hubs of vCard folders for scheduler tests and the scale benchmark, and a throwaway
Redis server (Debian's ``redis-server``) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from contacthub import config
from tests.net import free_port


def card(uid: str, n: int, note: str = "") -> str:
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"UID:{uid}",
        f"FN:Person {n}",
        f"N:{n};Person;;;",
        f"EMAIL;TYPE=work:person{n}@example.com",
        f"TEL;TYPE=work:+1 415 555 {n % 10000:04d}",
        *([f"NOTE:{note}"] if note else []),
        "END:VCARD",
        "",
    ]
    return "\r\n".join(lines)


def write_people(folder: Path, prefix: str, count: int, start: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(start, start + count):
        (folder / f"{prefix}-{n}.vcf").write_text(card(f"{prefix}-{n}", n), encoding="utf-8")


def connector_block(hub: str, name: str, type: str, settings: dict[str, Any]) -> str:
    """One ``[[hubs.HUB.connectors]]`` table of a hub file (``make_hubs``'s ``extra``)."""
    lines = [f"[[hubs.{hub}.connectors]]", f'name = "{name}"', f'type = "{type}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def make_hubs(
    engine: Engine,
    root: Path,
    count: int,
    contacts: int,
    *,
    interval: str = "15m",
    prefix: str = "hub",
    extra: dict[str, str] | None = None,
) -> dict[str, tuple[Path, Path]]:
    """``count`` hubs, each a folder ``a`` of ``contacts`` people synced two-way with an
    empty folder ``b``; returns hub name -> (a, b). ``extra``: hub name -> more connector
    tables for that hub (``connector_block``), e.g. the Procore company a webhook test
    notifies for (a receiver takes only the token of a connector of its vendor)."""
    folders: dict[str, tuple[Path, Path]] = {}
    blocks = []
    for i in range(count):
        name = f"{prefix}{i:03d}"
        a, b = root / name / "a", root / name / "b"
        write_people(a, name, contacts)
        b.mkdir(parents=True, exist_ok=True)
        folders[name] = (a, b)
        blocks.append(
            f'[hubs."{name}"]\ninterval = "{interval}"\ndelete_threshold = "100%"\n'
            f'[[hubs."{name}".connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{a}"\n'
            f'[[hubs."{name}".connectors]]\nname = "b"\ntype = "vcard-dir"\npath = "{b}"\n'
            + (extra or {}).get(name, "")
        )
    hub_file = root / "hubs.toml"
    hub_file.write_text("\n".join(blocks), encoding="utf-8")
    config.apply(engine, config.load(hub_file))
    return folders


def uids(folder: Path) -> list[str]:
    """The UID of every card in a folder (read plainly, not with contacthub's parser)."""
    out = []
    for path in folder.glob("*.vcf"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("UID:"):
                out.append(line[4:])
    return out


def redis_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


@contextlib.contextmanager
def redis_server(binary: str) -> Iterator[str]:
    """A Redis server on 127.0.0.1 with a temporary directory; yields its URL."""
    import redis

    root = Path(tempfile.mkdtemp(prefix="contacthub-redis-"))
    proc = None
    try:
        for _attempt in range(5):
            port = free_port()
            proc = subprocess.Popen(
                [
                    binary,
                    "--bind", "127.0.0.1",
                    "--port", str(port),
                    "--dir", str(root),
                    "--save", "",
                    "--appendonly", "no",
                    "--protected-mode", "yes",
                    "--logfile", str(root / "redis.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            url = f"redis://127.0.0.1:{port}/0"
            client = redis.Redis.from_url(url)
            for _ in range(100):
                if proc.poll() is not None:
                    break
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            if proc.poll() is None:
                client.close()
                yield url
                return
        raise RuntimeError("redis-server did not start: " + (root / "redis.log").read_text(errors="replace"))
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)
