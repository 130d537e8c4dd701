"""The write-behind worker: the same writes and results as in process, whatever happens to
the worker; and a first sync into a vCard folder that ends the same with it as without."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from contacthub import config
from contacthub.connectors import writebehind
from contacthub.connectors.base import ConnectorConfig, WriteOp, WriteResult
from contacthub.connectors.vcard_dir import VCardDirConnector
from contacthub.connectors.writebehind import WriteBehind
from contacthub.engine.context import Report
from contacthub.engine.run import run_hub
from contacthub.errors import ConfigError, RecordError, StaleVersionError
from contacthub.store.db import open_database
from tests.connectors.test_readahead import PARENT, needs_fork, square_with_pid, unpicklable


@needs_fork
def test_pages_are_done_in_the_worker_in_order() -> None:
    behind = WriteBehind(square_with_pid, minimum=0)
    try:
        waiters = [behind.submit(list(range(i, i + 10))) for i in range(0, 50, 10)]
        out = [item for waiter in waiters if waiter is not None for item in waiter()]
    finally:
        behind.close()
    assert len(out) == 50
    assert [v for v, _ in out] == [n * n for n in range(50)]
    assert {pid for _, pid in out} - {PARENT}, "nothing was done in the worker"
    assert not multiprocessing.active_children()


def slow_in_the_worker(page: list[int]) -> list[tuple[int, int]]:
    if os.getpid() != PARENT:
        time.sleep(0.002 * len(page))
    return square_with_pid(page)


def slow_here(page: list[int]) -> list[tuple[int, int]]:
    if os.getpid() == PARENT:
        time.sleep(0.002 * len(page))
    return square_with_pid(page)


@needs_fork
@pytest.mark.parametrize(("task", "moves"), [(slow_in_the_worker, "here"), (slow_here, "there")])
def test_the_page_is_shared_towards_the_faster_side(task: object, moves: str) -> None:
    behind = WriteBehind(task, minimum=0)  # type: ignore[arg-type]
    out: list[tuple[int, int]] = []
    try:
        for i in range(0, 400, 40):
            waiter = behind.submit(list(range(i, i + 40)))
            assert waiter is not None
            out += waiter()
    finally:
        behind.close()
    assert [v for v, _ in out] == [n * n for n in range(400)]
    here = sum(1 for _, pid in out[-40:] if pid == PARENT)
    if moves == "here":
        assert behind._share > writebehind.FIRST_SHARE and here > 10
    else:
        assert behind._share < writebehind.FIRST_SHARE and here < 10


def test_a_short_page_is_left_to_the_caller() -> None:
    behind = WriteBehind(square_with_pid, minimum=100)
    assert behind.submit(list(range(99))) is None
    behind.close()


def test_no_fork_while_other_threads_run() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    behind = WriteBehind(square_with_pid, minimum=0)
    try:
        assert behind.submit([1, 2, 3]) is None
    finally:
        stop.set()
        thread.join()
        behind.close()
    assert not multiprocessing.active_children()


def die_on_page_three(page: list[int]) -> list[tuple[int, int]]:
    if os.getpid() != PARENT and 30 in page:
        os._exit(9)  # the worker dies as if killed
    return square_with_pid(page)


@needs_fork
def test_a_dead_worker_loses_no_page_and_the_rest_is_done_in_process() -> None:
    behind = WriteBehind(die_on_page_three, minimum=0)
    try:
        out: list[tuple[int, int]] = []
        for i in range(0, 60, 10):
            page = list(range(i, i + 10))
            waiter = behind.submit(page)
            out += waiter() if waiter is not None else die_on_page_three(page)
    finally:
        behind.close()
    assert [v for v, _ in out] == [n * n for n in range(60)]
    pids = [pid for _, pid in out]
    assert set(pids[:30]) - {PARENT} and set(pids[30:]) == {PARENT}


@needs_fork
def test_results_that_cannot_be_sent_back_are_made_in_process() -> None:
    behind = WriteBehind(unpicklable, minimum=0)
    try:
        waiter = behind.submit([1, 2, 3])
        assert waiter is not None
        assert waiter() == [1, 2, 3]
        assert behind.submit([4]) is None  # no worker for the rest of the run
    finally:
        behind.close()


def test_errors_cross_a_process_boundary_whole() -> None:
    for error in (
        RecordError("bad card", "/x/a.vcf", "folder"),
        StaleVersionError("changed", "a.vcf"),
        ConfigError("wrong", "hub.toml"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert copy.__dict__ == error.__dict__ and str(copy) == str(error)


# --- the vCard folder ------------------------------------------------------------------


def _ops(count: int) -> list[WriteOp]:
    return [
        WriteOp(
            "create",
            f"hub-{n:04}" if n % 7 else f"odd/id {n}",  # some ids cannot be file names
            {
                "display_name": f"Person {n}",
                "given_name": "Person",
                "family_name": str(n),
                "emails": [{"value": f"p{n}@example.com", "type": "work", "primary": True}],
                **({"notes": "line one\nline two\x07"} if n % 5 == 0 else {}),
            },
        )
        for n in range(count)
    ]


def _folder(path: Path) -> VCardDirConnector:
    path.mkdir()
    return VCardDirConnector(ConnectorConfig("folder", {"path": str(path)}))


def _summary(results: list[WriteResult], root: Path) -> list[tuple[object, ...]]:
    """What a result says, with random file names replaced by the UID inside the file."""
    out = []
    for r in results:
        assert r.native_id is not None and r.error is None
        data = (root / r.native_id).read_bytes()
        name = r.native_id if r.native_id.startswith("hub-") else "(random)"
        out.append((r.op.hub_id, name, r.version is not None, r.fields, data))
    return out


@needs_fork
def test_a_vcard_folder_writes_the_same_behind(tmp_path: Path) -> None:
    here, behind = _folder(tmp_path / "here"), _folder(tmp_path / "behind")
    ops = _ops(60)
    in_process = here.write(ops)
    assert behind.write_behind(ops) is None  # (a page under MINIMUM)
    behind._behind = WriteBehind(behind._create_page, minimum=0)
    waiter = behind.write_behind(ops)
    assert waiter is not None
    results = waiter()
    behind.close()
    assert _summary(results, tmp_path / "behind") == _summary(in_process, tmp_path / "here")
    assert len(os.listdir(tmp_path / "behind")) == 60
    for result in results:
        assert behind.get(result.native_id or "").version == result.version


@needs_fork
def test_a_refused_card_comes_back_from_the_worker_as_its_error(tmp_path: Path) -> None:
    here, behind = _folder(tmp_path / "here"), _folder(tmp_path / "behind")
    for folder in ("here", "behind"):
        (tmp_path / folder / "hub-0003.vcf").mkdir()  # the card's file name is taken by a folder
    ops = _ops(20)
    in_process = here.write(ops)
    behind._behind = WriteBehind(behind._create_page, minimum=0)
    waiter = behind.write_behind(ops)
    assert waiter is not None
    results = waiter()
    behind.close()
    failed = [r for r in results if r.error is not None]
    assert [r.op.hub_id for r in failed] == ["hub-0003"]
    error = failed[0].error
    assert isinstance(error, RecordError) and error.connector == "folder"
    expected = next(r.error for r in in_process if r.error is not None)
    assert str(error).replace("/behind/", "/here/") == str(expected)
    assert len(os.listdir(tmp_path / "behind")) == 20  # 19 cards and the folder in the way


def test_only_a_page_of_creates_goes_behind(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "f")
    folder._behind = WriteBehind(folder._create_page, minimum=0)
    [created] = folder.write(_ops(1))
    update = WriteOp("update", created.op.hub_id, {"display_name": "X"}, created.native_id, created.version)
    assert folder.write_behind([*_ops(3), update]) is None
    assert folder.write_behind([]) is None
    folder.close()


@needs_fork
def test_a_worker_killed_mid_page_leaves_each_card_once(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "f")
    ops = _ops(40)
    real = folder._create_page

    def dies_halfway(named: list[tuple[WriteOp, str]]) -> list[object]:
        if os.getpid() != PARENT:
            real(named[:20])  # half the page is on disk when the worker is killed
            os._exit(9)
        return real(named)  # type: ignore[return-value]

    folder._behind = WriteBehind(dies_halfway, minimum=0)  # type: ignore[arg-type]
    waiter = folder.write_behind(ops)
    assert waiter is not None
    results = waiter()
    folder.close()
    assert [r.error for r in results] == [None] * 40
    files = os.listdir(tmp_path / "f")
    assert len(files) == 40, "a card was written twice or lost"
    assert sorted(r.native_id or "" for r in results) == sorted(files)
    uids = {folder.get(name).hub_id for name in files}
    assert uids == {op.hub_id for op in ops}


# --- the worker and its parent ----------------------------------------------------------

PARENT_SCRIPT = """
import os, sys, time
from contacthub.connectors.writebehind import WriteBehind

def slow(page):
    time.sleep(60)
    return page

behind = WriteBehind(slow, minimum=0)
behind.submit([1])
time.sleep(0.5)
print(behind._pool._processes and next(iter(behind._pool._processes)), flush=True)
sys.stdin.read()
"""


@needs_fork
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_the_worker_dies_with_a_killed_parent() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    os.kill(worker, 0)  # it runs
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        stat = Path(f"/proc/{worker}/stat")
        if stat.exists() and ") Z " in stat.read_text():
            return  # a zombie: dead, waiting to be reaped
        time.sleep(0.05)
    os.kill(worker, 9)
    raise AssertionError("the write-behind worker outlived its killed parent")


# --- a first sync ----------------------------------------------------------------------


def _first_copy(where: Path, count: int) -> tuple[Report, Report, list[bytes]]:
    a, b = where / "a", where / "b"
    a.mkdir(parents=True)
    b.mkdir()
    for n in range(count):
        (a / f"c{n:04}.vcf").write_text(
            f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u{n:04}\r\nFN:Person {n}\r\n"
            f"N:{n};Person;;;\r\nEMAIL:p{n}@example.com\r\nEND:VCARD\r\n",
            encoding="utf-8",
        )
    engine = open_database(f"sqlite:///{where / 'hub.db'}")
    spec = config.HubFile.model_validate(
        {
            "hubs": {
                "h": {
                    "connectors": [
                        {"name": "a", "type": "vcard-dir", "path": str(a)},
                        {"name": "b", "type": "vcard-dir", "path": str(b)},
                    ]
                }
            }
        }
    )
    config.apply(engine, spec)
    pages: list[int] = []
    first = run_hub(engine, "h", progress=lambda phase, n, _: pages.append(n) if "writing" in phase else None)
    again = run_hub(engine, "h")
    engine.dispose()
    assert sum(pages) == count
    return first, again, sorted(p.read_bytes() for p in b.glob("*.vcf"))


@needs_fork
def test_a_first_sync_ends_the_same_with_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writebehind, "MINIMUM", 10**9)
    alone = _first_copy(tmp_path / "alone", 1100)
    monkeypatch.setattr(writebehind, "MINIMUM", 0)
    submit = WriteBehind.submit
    started: list[bool] = []

    def counted(self: WriteBehind[object, object], page: list[object]) -> object:
        waiter = submit(self, page)
        started.append(waiter is not None)
        return waiter

    monkeypatch.setattr(WriteBehind, "submit", counted)
    behind = _first_copy(tmp_path / "behind", 1100)
    assert started == [True, True, True], "the pages were not written behind"
    for first, again, _ in (alone, behind):
        assert first.status == "applied" and not first.errors
        assert first.changes["b"] == {"create": 1100, "update": 0, "delete": 0}
        assert again.status == "applied" and not again.changes and not again.errors
    assert alone[2] == behind[2]
    assert not multiprocessing.active_children()
