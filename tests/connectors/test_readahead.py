"""The read-ahead worker: same results, same order, whatever happens to the worker."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from contacthub.connectors import readahead
from contacthub.connectors.base import ConnectorConfig, Record
from contacthub.connectors.readahead import can_fork, read_ahead
from contacthub.connectors.vcard_dir import VCardDirConnector
from contacthub.errors import RecordError

needs_fork = pytest.mark.skipif(not can_fork(), reason="no second core or no fork here")

PARENT = os.getpid()


def square_with_pid(batch: list[int]) -> list[tuple[int, int]]:
    return [(n * n, os.getpid()) for n in batch]


@needs_fork
def test_results_come_in_order_from_a_worker() -> None:
    out = list(read_ahead(square_with_pid, range(1000), batch=7, depth=3, minimum=0))
    assert [v for v, _ in out] == [n * n for n in range(1000)]
    assert {pid for _, pid in out} - {PARENT}, "nothing was computed in the worker"
    assert not multiprocessing.active_children()


def slow_in_the_worker(batch: list[int]) -> list[tuple[int, int]]:
    if os.getpid() != PARENT:
        time.sleep(0.02)
    return square_with_pid(batch)


@needs_fork
def test_this_process_reads_batches_too_when_the_worker_is_behind() -> None:
    out = list(read_ahead(slow_in_the_worker, range(600), batch=10, depth=3, minimum=0))
    assert [v for v, _ in out] == [n * n for n in range(600)]
    pids = [pid for _, pid in out]
    assert PARENT in pids and set(pids) - {PARENT}, "both sides should have read"
    assert not multiprocessing.active_children()


def test_a_short_read_stays_in_process() -> None:
    out = list(read_ahead(square_with_pid, range(50), batch=7, minimum=100))
    assert out == [(n * n, PARENT) for n in range(50)]


def test_no_fork_while_other_threads_run() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not can_fork()
        out = list(read_ahead(square_with_pid, range(300), batch=10, minimum=0))
    finally:
        stop.set()
        thread.join()
    assert {pid for _, pid in out} == {PARENT}


def die_on_batch_five(batch: list[int]) -> list[int]:
    if os.getpid() != PARENT and 50 in batch:
        os._exit(9)  # the worker dies as if killed
    return [n + 1 for n in batch]


@needs_fork
def test_a_dead_worker_loses_nothing_and_repeats_nothing() -> None:
    out = list(read_ahead(die_on_batch_five, range(200), batch=10, depth=2, minimum=0))
    assert out == [n + 1 for n in range(200)]


def unpicklable(batch: list[int]) -> list[object]:
    if os.getpid() != PARENT:
        return [lambda n=n: n for n in batch]  # cannot be sent back
    return list(batch)


@needs_fork
def test_results_that_cannot_be_sent_back_are_made_in_process() -> None:
    assert list(read_ahead(unpicklable, range(40), batch=10, minimum=0)) == list(range(40))


@needs_fork
def test_stopping_early_leaves_no_worker_behind() -> None:
    gen = read_ahead(square_with_pid, range(10_000), batch=10, depth=3, minimum=0)
    assert next(gen)[0] == 0
    gen.close()
    assert not multiprocessing.active_children()


@needs_fork
def test_a_vcard_folder_reads_the_same_through_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(120):
        (tmp_path / f"c{n:03}.vcf").write_text(
            f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u{n}\r\nFN:Person {n}\r\n"
            f"EMAIL:p{n}@example.com\r\nEND:VCARD\r\n",
            encoding="utf-8",
        )
    (tmp_path / "bad.vcf").write_bytes(b"not a card at all")
    connector = VCardDirConnector(ConnectorConfig("folder", {"path": str(tmp_path)}))

    def pull() -> list[Record | RecordError]:
        return list(connector.pull(None, {}).records)

    monkeypatch.setattr(readahead, "MINIMUM", 10**9)
    alone = pull()
    monkeypatch.setattr(readahead, "MINIMUM", 0)
    ahead = pull()
    assert [r.native_id for r in alone if isinstance(r, Record)] == [
        r.native_id for r in ahead if isinstance(r, Record)
    ]
    assert [r.fields for r in alone if isinstance(r, Record)] == [
        r.fields for r in ahead if isinstance(r, Record)
    ]
    errors = [r for r in ahead if isinstance(r, RecordError)]
    assert len(errors) == 1
    assert errors[0].record.endswith("bad.vcf") and errors[0].connector == "folder"
    assert len([r for r in ahead if isinstance(r, Record)]) == 120
