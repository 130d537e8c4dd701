"""Micro-benchmark of the vCard hot path, in µs per card.

    .venv/bin/python bench/vcard_codec.py [--count N] [--repeat R]

Generates N cards with ``gen_contacts.py`` into a temporary folder on /dev/shm and times, per
card (best of R): ``read`` (open + read the file), ``parse`` (bytes -> canonical fields, what a
pull does per changed file), ``connector read`` (``VCardDirConnector`` records, all of it),
``create`` (fields -> bytes + the fields a write reports; ``create, general path`` is the same
through ``new_card`` + ``serialize_card`` + ``card_fields``) and ``connector create`` (a folder
written by ``VCardDirConnector.write``, file system included).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from contacthub.connectors.base import ConnectorConfig, WriteOp
from contacthub.connectors.vcard_dir import VCardDirConnector
from contacthub.formats import vcard_map
from contacthub.formats.vcard import VCardCodec, serialize_card


def best(repeat: int, func: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="vcard-codec-", dir=base))
    try:
        src = root / "a"
        gen = Path(__file__).with_name("gen_contacts.py")
        subprocess.run(
            [sys.executable, str(gen), str(src), "--count", str(args.count)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        paths = sorted(src.glob("*.vcf"))
        n = len(paths)
        codec = VCardCodec()
        blobs = [p.read_bytes() for p in paths]
        fields = [codec.parse(b)[0].fields for b in blobs]
        figures: dict[str, float] = {}

        def read_files() -> None:
            for p in paths:
                with open(p, "rb") as handle:
                    handle.read()

        figures["read files"] = best(args.repeat, read_files)
        figures["parse (bytes -> fields)"] = best(
            args.repeat, lambda: [codec.read(b) if hasattr(codec, "read") else codec.parse(b) for b in blobs]
        )

        def connector_read() -> None:
            conn = VCardDirConnector(ConnectorConfig("a", {"path": str(src)}))
            pull = conn.pull(None, {})
            for _ in pull.records:
                pass

        figures["connector read (all)"] = best(args.repeat, connector_read)
        figures["create (fields -> bytes)"] = best(
            args.repeat, lambda: [codec.create(f, f"id{i}") for i, f in enumerate(fields)]
        )
        if hasattr(vcard_map, "build_card"):  # the general path build_card replaces, for comparison
            figures["create, general path"] = best(
                args.repeat,
                lambda: [
                    (
                        serialize_card(c := vcard_map.new_card(f, codec.fmap, f"id{i}")),
                        vcard_map.card_fields(c, codec.fmap),
                    )
                    for i, f in enumerate(fields)
                ],
            )
        ops = [WriteOp("create", f"hub{i:06d}", f) for i, f in enumerate(fields)]

        def connector_create() -> None:
            out = root / "b"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            conn = VCardDirConnector(ConnectorConfig("b", {"path": str(out)}))
            for start in range(0, n, 500):
                for result in conn.write(ops[start : start + 500]):
                    assert result.error is None, result.error

        figures["connector create (all)"] = best(args.repeat, connector_create)
        print(f"{n} cards, best of {args.repeat}, python {sys.version.split()[0]}, pid {os.getpid()}")
        for name, seconds in figures.items():
            print(f"  {name:28s} {seconds * 1e6 / n:8.1f} µs/card  {seconds:7.3f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
