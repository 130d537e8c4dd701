"""Benchmark: contacthub against vdirsyncer, vCard folder to vCard folder.

For each N, generates N realistic vCard 3.0 contacts (bench/gen_contacts.py), then times
both tools on identical copies of the data, with the working folders on a RAM-backed tmpfs:

  1. initial: sync of folder A (N contacts) into the empty folder B;
  2. no-op:   a sync with no change;
  3. changes: a sync after 1% of A's contacts were edited and 0.1% deleted;
  4. touched: a sync after every file of A was touched (a newer mtime, the same bytes),
     as a backup restored or a folder copied again leaves it: every card is read again
     and nothing is to be written (not one of issue 2's phases; reported beside them).

Each command runs as a subprocess; its wall time and peak RSS (``os.wait4`` rusage) are
recorded. B is checked after every phase. The figures are printed as a table and written to
``bench/out/vs_vdirsyncer-<N>.json``. Nothing here asserts on timings.

    .venv/bin/python bench/vs_vdirsyncer.py [--counts 10000,50000] [--repeat 3]
                                            [--tool both|contacthub|vdirsyncer] [--keep]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_contacts

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
VDIRSYNCER_VENV = BENCH_DIR / ".venv-vdirsyncer"
PHASES = ("initial", "no-op", "changes", "touched")
TOOLS = ("contacthub", "vdirsyncer")
HUB = "bench"
OUTPUT_TAIL = 4000


class BenchError(Exception):
    """A tool could not be set up or one of its commands failed."""


# --------------------------------------------------------------------------- measurement


@dataclass
class Measure:
    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str


# Linux carries a process's peak RSS across fork and exec: a child's ``ru_maxrss`` is at least
# the RSS of the process that forked it. This script holds thousands of cards in memory, so
# each command is started by a small launcher (a fresh ``python -I -S``, about 10 MB) that
# forks the command, waits for it with ``os.wait4`` and writes its wall time and rusage.
LAUNCHER = """
import os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
try:
    pid = os.posix_spawn(cmd[0], cmd, os.environ)
except OSError as exc:
    print(f"cannot run {cmd[0]}: {exc}", file=sys.stderr)
    sys.exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(out, "w") as f:
    f.write(f"{seconds!r} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> Measure:
    """Run ``cmd``; return its wall time and its peak RSS (``ru_maxrss`` from ``os.wait4``)."""
    exe = shutil.which(cmd[0]) if os.sep not in cmd[0] else cmd[0]
    if exe is None or not os.access(exe, os.X_OK):
        raise BenchError(f"cannot run {cmd[0]}: no such executable")
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".rusage") as rusage,
    ):
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, rusage.name, exe, *cmd[1:]]
        proc = subprocess.run(launcher, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        fields = rusage.read().split()
        if proc.returncode != 0 or len(fields) != 3:
            raise BenchError(f"cannot run {' '.join(cmd)}:\n{tail(stderr)}")
        return Measure(
            seconds=float(fields[0]),
            peak_mb=int(fields[1]) / 1024,  # KiB on Linux
            returncode=int(fields[2]),
            stdout=stdout,
            stderr=stderr,
        )


def tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= OUTPUT_TAIL else "...\n" + text[-OUTPUT_TAIL:]


def check_ok(m: Measure, cmd: list[str], what: str) -> None:
    if m.returncode != 0:
        raise BenchError(
            f"{what} failed (exit code {m.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{tail(m.stdout)}\n--- stderr ---\n{tail(m.stderr)}"
        )


# --------------------------------------------------------------------------- the tools


def vdirsyncer_bin() -> Path:
    return VDIRSYNCER_VENV / "bin" / "vdirsyncer"


def ensure_vdirsyncer(spec: str) -> str:
    """Create bench/.venv-vdirsyncer with vdirsyncer from PyPI if missing; return its version."""
    exe = vdirsyncer_bin()
    if not exe.exists():
        print(f"installing {spec} into {VDIRSYNCER_VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VDIRSYNCER_VENV)
        pip = [str(VDIRSYNCER_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        result = subprocess.run([*pip, spec], capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchError(f"pip install {spec} failed:\n{tail(result.stderr)}")
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(f"{exe} --version failed:\n{tail(result.stderr)}")
    return result.stdout.strip().split()[-1]


def compile_sources() -> None:
    """Compile contacthub's modules to bytecode once, as pip does for an installed package
    (and did for vdirsyncer). An editable install, or ``PYTHONDONTWRITEBYTECODE`` (set on
    some machines), would otherwise leave every command compiling them again: 0.1 s each."""
    compileall.compile_dir(str(REPO_DIR / "src"), quiet=1)


def contacthub_command(explicit: str | None) -> list[str]:
    """The command that runs contacthub: the console script next to sys.executable first."""
    if explicit:
        return [explicit]
    candidates = [
        Path(sys.executable).parent / "contacthub",
        REPO_DIR / ".venv" / "bin" / "contacthub",
    ]
    for candidate in candidates:
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which("contacthub")
    if found:
        return [found]
    return [sys.executable, "-m", "contacthub"]


def contacthub_version(cmd: list[str]) -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        rev = ""
    return f"{' '.join(cmd)} (git {rev or 'unknown'})"


class Tool:
    """One tool's working folders and commands, for one repetition."""

    name: str

    def __init__(self, root: Path) -> None:
        self.root = root
        self.a = root / "a"
        self.b = root / "b"

    def prepare(self, master: Path) -> None:
        """Fresh copies: A is the generated data, B is empty; no state from a previous run."""
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        shutil.copytree(master, self.a)
        self.b.mkdir()
        self.setup()

    def setup(self) -> None:
        raise NotImplementedError

    def sync_cmd(self) -> list[str]:
        raise NotImplementedError

    def sync(self) -> Measure:
        cmd = self.sync_cmd()
        m = run_measured(cmd, cwd=self.root)
        check_ok(m, cmd, f"{self.name} sync")
        return m


class Vdirsyncer(Tool):
    name = "vdirsyncer"

    def setup(self) -> None:
        self.conf = self.root / "vdirsyncer.conf"
        status = self.root / "status"
        status.mkdir()
        self.conf.write_text(
            "[general]\n"
            f'status_path = "{status}/"\n'
            "\n"
            "[pair bench]\n"
            'a = "bench_a"\n'
            'b = "bench_b"\n'
            "collections = null\n"
            'conflict_resolution = "a wins"\n'
            "\n"
            "[storage bench_a]\n"
            'type = "filesystem"\n'
            f'path = "{self.a}/"\n'
            'fileext = ".vcf"\n'
            "\n"
            "[storage bench_b]\n"
            'type = "filesystem"\n'
            f'path = "{self.b}/"\n'
            'fileext = ".vcf"\n',
            encoding="utf-8",
        )
        cmd = [str(vdirsyncer_bin()), "-c", str(self.conf), "discover"]
        check_ok(run_measured(cmd, cwd=self.root), cmd, "vdirsyncer discover")

    def sync_cmd(self) -> list[str]:
        return [str(vdirsyncer_bin()), "-c", str(self.conf), "sync"]


class Contacthub(Tool):
    name = "contacthub"

    def __init__(self, root: Path, command: list[str]) -> None:
        super().__init__(root)
        self.command = command

    def setup(self) -> None:
        self.hub_toml = self.root / "hub.toml"
        self.database = f"sqlite:///{self.root / 'hub.db'}"
        self.hub_toml.write_text(
            f"[hubs.{HUB}]\n"
            'conflict = "newest"\n'
            'delete_threshold = "10%"\n'
            "\n"
            f"[[hubs.{HUB}.connectors]]\n"
            'name = "a"\n'
            'type = "vcard-dir"\n'
            f"path = {json.dumps(str(self.a))}\n"
            "\n"
            f"[[hubs.{HUB}.connectors]]\n"
            'name = "b"\n'
            'type = "vcard-dir"\n'
            f"path = {json.dumps(str(self.b))}\n",
            encoding="utf-8",
        )
        cmd = [*self.command, "--database", self.database, "apply", str(self.hub_toml)]
        check_ok(run_measured(cmd, cwd=self.root), cmd, "contacthub apply")

    def sync_cmd(self) -> list[str]:
        return [*self.command, "--database", self.database, "sync", HUB]


# --------------------------------------------------------------------------- edits and checks


@dataclass
class Edit:
    uid: str
    key: str  # name and emails: finds the contact in B when B's UIDs are not A's
    kind: str  # "phone" | "title"
    old: str
    new: str


@dataclass
class ChangeSet:
    edits: list[Edit] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)  # UIDs
    deleted_keys: list[str] = field(default_factory=list)


def unfold(text: str) -> list[str]:
    return re.sub(r"\r?\n[ \t]", "", text).splitlines()


def prop_name(line: str) -> str:
    head = re.split(r"[;:]", line, maxsplit=1)[0]
    return head.rsplit(".", 1)[-1].upper()


def prop_value(line: str) -> str:
    # The value follows the first ':' outside a quoted parameter value.
    in_quotes = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == ":" and not in_quotes:
            return line[i + 1 :]
    return ""


def unescape(value: str) -> str:
    return re.sub(r"\\([\\,;nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def plan_changes(uids: list[str], master: Path, seed: int) -> ChangeSet:
    """Pick 1% of the contacts to edit (a phone or the title) and 0.1% to delete."""
    rng = random.Random(seed * 7919 + len(uids))
    n_edit = max(1, len(uids) // 100)
    n_delete = max(1, len(uids) // 1000)
    chosen = rng.sample(sorted(uids), n_edit + n_delete)
    deletions = chosen[n_edit:]
    changes = ChangeSet(
        deletions=deletions,
        deleted_keys=[
            content_key(unfold((master / f"{uid}.vcf").read_text(encoding="utf-8"))) for uid in deletions
        ],
    )
    for i, uid in enumerate(chosen[:n_edit]):
        lines = unfold((master / f"{uid}.vcf").read_text(encoding="utf-8"))
        kind = "phone" if i % 2 == 0 else "title"
        target = "TEL" if kind == "phone" else "TITLE"
        old = next(prop_value(line) for line in lines if prop_name(line) == target)
        new = gen_contacts.new_phone(rng) if kind == "phone" else gen_contacts.new_title(rng, i)
        changes.edits.append(Edit(uid, content_key(lines), kind, old, new))
    return changes


def apply_changes(folder: Path, changes: ChangeSet) -> None:
    """Edit and delete files of ``folder`` in place; edited files get a newer mtime."""
    now = time.time()
    for edit in changes.edits:
        path = folder / f"{edit.uid}.vcf"
        text = path.read_text(encoding="utf-8")
        target = "TEL" if edit.kind == "phone" else "TITLE"
        lines = unfold(text)
        for i, line in enumerate(lines):
            if prop_name(line) == target:
                lines[i] = line[: len(line) - len(edit.old)] + gen_contacts.escape(edit.new)
                break
        path.write_text("".join(gen_contacts.fold(line) for line in lines), encoding="utf-8", newline="")
        mtime = max(now, path.stat().st_mtime) + 1
        os.utime(path, (mtime, mtime))
    for uid in changes.deletions:
        (folder / f"{uid}.vcf").unlink()


def touch_all(folder: Path) -> None:
    """Give every file of ``folder`` a newer mtime, its bytes unchanged."""
    mtime = time.time() + 2
    for path in folder.glob("*.vcf"):
        os.utime(path, (mtime, mtime))


def content_key(lines: list[str]) -> str:
    """A contact's identity without its UID: formatted name and e-mail addresses."""
    fn = next((unescape(prop_value(ln)) for ln in lines if prop_name(ln) == "FN"), "")
    emails = sorted(prop_value(ln).strip().lower() for ln in lines if prop_name(ln) == "EMAIL")
    return "\x1f".join([fn.strip(), *emails])


def read_cards(folder: Path) -> dict[str, list[str]]:
    """UID -> unfolded content lines, for every .vcf file of ``folder``."""
    cards: dict[str, list[str]] = {}
    for path in folder.glob("*.vcf"):
        lines = unfold(path.read_text(encoding="utf-8", errors="replace"))
        uid = next((prop_value(ln) for ln in lines if prop_name(ln) == "UID"), path.stem)
        cards[uid] = lines
    return cards


def digits(text: str) -> str:
    return re.sub(r"\D", "", text.split("ext")[0])


def has_edit(lines: list[str], edit: Edit) -> bool:
    if edit.kind == "title":
        return edit.new in [unescape(prop_value(ln)) for ln in lines if prop_name(ln) == "TITLE"]
    want = digits(edit.new)
    have = [digits(prop_value(ln)) for ln in lines if prop_name(ln) == "TEL"]
    return any(len(h) >= 7 and (want.endswith(h) or h.endswith(want)) for h in have)


def check_folders(tool: Tool, phase: str, changes: ChangeSet) -> tuple[list[str], list[str]]:
    """Problems found in B after ``phase`` (empty when B is right), and notes.

    Contacts are matched by UID when B's UIDs are A's (vdirsyncer keeps them), otherwise
    by formatted name and e-mail addresses, with a note saying so.
    """
    problems: list[str] = []
    notes: list[str] = []
    files_a = sum(1 for _ in tool.a.glob("*.vcf"))
    files_b = sum(1 for _ in tool.b.glob("*.vcf"))
    if files_a != files_b:
        problems.append(f"A has {files_a} .vcf files, B has {files_b}")
    cards_a = read_cards(tool.a)
    cards_b = read_cards(tool.b)
    common = len(set(cards_a) & set(cards_b))
    by_uid = common * 2 >= len(cards_a)
    if by_uid:
        keys_a = Counter(cards_a.keys())
        index_b = {uid: [lines] for uid, lines in cards_b.items()}
    else:
        notes.append(f"B keeps {common} of A's {len(cards_a)} UIDs: contacts matched by name and emails")
        keys_a = Counter(content_key(lines) for lines in cards_a.values())
        index_b = {}
        for lines in cards_b.values():
            index_b.setdefault(content_key(lines), []).append(lines)
    keys_b = Counter({key: len(cards) for key, cards in index_b.items()})
    missing = keys_a - keys_b
    extra = keys_b - keys_a
    what = "UIDs" if by_uid else "contacts (name + emails)"
    if missing:
        example = sorted(missing)[0].replace("\x1f", " ")
        problems.append(f"{missing.total()} {what} of A are not in B (e.g. {example})")
    if extra:
        example = sorted(extra)[0].replace("\x1f", " ")
        problems.append(f"{extra.total()} {what} in B are not in A (e.g. {example})")
    if by_uid and phase == "initial":
        whole = sum(1 for uid, lines in cards_a.items() if cards_b.get(uid) == lines)
        notes.append(f"{whole} of {len(cards_a)} cards of B are A's card line for line")
    if phase != "changes":
        return problems, notes
    deleted = changes.deletions if by_uid else changes.deleted_keys
    still = [key for key in deleted if key in index_b and key not in keys_a]
    if still:
        problems.append(f"{len(still)} of {len(deleted)} deleted contacts still in B")
    wrong = [
        edit
        for edit in changes.edits
        if not any(has_edit(lines, edit) for lines in index_b.get(edit.uid if by_uid else edit.key, []))
    ]
    if wrong:
        problems.append(
            f"{len(wrong)} of {len(changes.edits)} edits not in B "
            f"(e.g. {wrong[0].uid}: {wrong[0].kind} {wrong[0].new!r})"
        )
    return problems, notes


# --------------------------------------------------------------------------- the run


@dataclass
class ToolResult:
    samples: dict[str, list[dict[str, float]]] = field(default_factory=lambda: {p: [] for p in PHASES})
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def median(self, phase: str, key: str) -> float | None:
        values = [s[key] for s in self.samples[phase]]
        return statistics.median(values) if values else None


def tmp_root(explicit: Path | None) -> tuple[Path, str]:
    if explicit:
        return explicit, f"{explicit} (given with --workdir)"
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm, "/dev/shm (RAM-backed tmpfs)"
    tmp = Path(tempfile.gettempdir())
    return tmp, f"{tmp} (/dev/shm is missing: NOT a RAM-backed tmpfs, expect disk noise)"


def bench_count(
    n: int, args: argparse.Namespace, tools: list[str], root: Path, versions: dict[str, str]
) -> tuple[dict[str, ToolResult], dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix=f"contacthub-bench-{n}-", dir=root))
    print(f"\n== N = {n:,}: working folder {work}", flush=True)
    master = work / "master"
    started = time.perf_counter()
    uids = gen_contacts.write_cards(master, n, args.seed)
    size = sum(p.stat().st_size for p in master.iterdir())
    print(
        f"generated {n:,} contacts ({size / n:.0f} bytes per card on average) "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    changes = plan_changes(uids, master, args.seed)
    results = {t: ToolResult() for t in tools}
    try:
        for rep in range(args.repeat):
            for name in tools:
                result = results[name]
                if result.error:
                    continue
                tool: Tool
                if name == "contacthub":
                    tool = Contacthub(work / name, args.contacthub_cmd)
                else:
                    tool = Vdirsyncer(work / name)
                try:
                    run_phases(tool, master, changes, result, rep)
                except BenchError as exc:
                    result.error = str(exc)
                    sys.stdout.flush()
                    print(f"\nERROR: {name}: {exc}\n", file=sys.stderr, flush=True)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    meta = {
        "count": n,
        "bytes_per_card": round(size / n),
        "edited": len(changes.edits),
        "deleted": len(changes.deletions),
        "workdir": str(work),
    }
    return results, meta


def run_phases(tool: Tool, master: Path, changes: ChangeSet, result: ToolResult, rep: int) -> None:
    tool.prepare(master)
    before: dict[str, list[str]] = {}
    for phase in PHASES:
        if phase == "changes":
            apply_changes(tool.a, changes)
        elif phase == "touched":
            before = read_cards(tool.b)
            touch_all(tool.a)
        m = tool.sync()
        result.samples[phase].append({"seconds": m.seconds, "peak_mb": m.peak_mb})
        problems, notes = check_folders(tool, phase, changes)
        if phase == "touched" and read_cards(tool.b) != before:
            problems.append("B changed, though no card of A did")
        status = "ok" if not problems else "WRONG: " + "; ".join(problems)
        if notes:
            status += " (" + "; ".join(notes) + ")"
            for note in notes:
                if note not in result.notes:
                    result.notes.append(note)
        print(
            f"  {tool.name:<10} rep {rep + 1} {phase:<8} {m.seconds:7.2f} s "
            f"{m.peak_mb:7.1f} MB  check {status}",
            flush=True,
        )
        result.problems.extend(f"rep {rep + 1} {phase}: {p}" for p in problems)


def fmt(value: float | None, width: int, decimals: int) -> str:
    """``value`` right-aligned in ``width`` columns, or a dash for a missing value."""
    return "-".rjust(width) if value is None else f"{value:{width}.{decimals}f}"


def report(n: int, results: dict[str, ToolResult]) -> list[dict[str, Any]]:
    ours = results.get("contacthub")
    theirs = results.get("vdirsyncer")
    rows: list[dict[str, Any]] = []
    header = (
        f"{'phase':<8} {'N':>7} {'contacthub s':>12} {'vdirsyncer s':>12} {'ratio':>6} "
        f"{'contacthub MB':>13} {'vdirsyncer MB':>13}  target"
    )
    print("\n" + header)
    print("-" * len(header))
    for phase in PHASES:
        o_s = ours.median(phase, "seconds") if ours else None
        t_s = theirs.median(phase, "seconds") if theirs else None
        o_mb = ours.median(phase, "peak_mb") if ours else None
        t_mb = theirs.median(phase, "peak_mb") if theirs else None
        ratio = o_s / t_s if o_s is not None and t_s else None
        met: bool | None = None
        if ratio is not None and o_mb is not None and t_mb is not None:
            met = ratio <= 0.5 and o_mb <= t_mb
        verdict = {None: "-", True: "met", False: "MISSED"}[met]
        print(
            f"{phase:<8} {n:>7} {fmt(o_s, 12, 2)} {fmt(t_s, 12, 2)} {fmt(ratio, 6, 2)} "
            f"{fmt(o_mb, 13, 1)} {fmt(t_mb, 13, 1)}  {verdict}"
        )
        rows.append(
            {
                "phase": phase,
                "n": n,
                "contacthub_s": o_s,
                "vdirsyncer_s": t_s,
                "ratio": ratio,
                "contacthub_peak_mb": o_mb,
                "vdirsyncer_peak_mb": t_mb,
                "target_met": met,
            }
        )
    print("target: contacthub <= 0.5 x vdirsyncer's time on every phase, and memory <= its own")
    for name, result in results.items():
        if result.error:
            print(f"{name}: FAILED (see the error above)")
        elif result.problems:
            print(f"{name}: WRONG RESULTS: " + "; ".join(result.problems[:5]))
        else:
            print(f"{name}: B was right after every phase")
        for note in result.notes:
            print(f"{name}: note: {note}")
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time contacthub against vdirsyncer, vCard folder to vCard folder."
    )
    parser.add_argument("--count", type=int, help="number of contacts (default 10000)")
    parser.add_argument("--counts", help="several counts in one invocation, e.g. 10000,50000")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions; the median is kept")
    parser.add_argument("--tool", choices=["both", *TOOLS], default="both")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the working folders")
    parser.add_argument("--workdir", type=Path, help="where to work (default /dev/shm)")
    parser.add_argument("--contacthub", help="contacthub executable (default: next to python)")
    parser.add_argument("--vdirsyncer-spec", default="vdirsyncer", help="pip requirement")
    args = parser.parse_args(argv)
    if args.counts:
        try:
            args.count_list = [int(c.replace("_", "")) for c in args.counts.split(",") if c]
        except ValueError:
            parser.error(f"--counts: not a list of integers: {args.counts!r}")
    else:
        args.count_list = [args.count or 10_000]
    if args.repeat < 1 or any(c < 100 for c in args.count_list):
        parser.error("--repeat must be >= 1 and every count >= 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = list(TOOLS) if args.tool == "both" else [args.tool]
    root, root_desc = tmp_root(args.workdir)
    print(f"working folders on {root_desc}")
    versions: dict[str, str] = {}
    if "vdirsyncer" in tools:
        try:
            versions["vdirsyncer"] = ensure_vdirsyncer(args.vdirsyncer_spec)
        except BenchError as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 1
        print(f"vdirsyncer {versions['vdirsyncer']}: {vdirsyncer_bin()}")
    if "contacthub" in tools:
        compile_sources()
        args.contacthub_cmd = contacthub_command(args.contacthub)
        versions["contacthub"] = contacthub_version(args.contacthub_cmd)
        print(f"contacthub: {versions['contacthub']}")
    failed = False
    for n in args.count_list:
        results, meta = bench_count(n, args, tools, root, versions)
        rows = report(n, results)
        failed |= any(r.error or r.problems for r in results.values())
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        out = OUT_DIR / f"vs_vdirsyncer-{n}.json"
        doc = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "workdir": root_desc,
            "repeat": args.repeat,
            "seed": args.seed,
            "versions": versions,
            **meta,
            "phases": rows,
            "tools": {name: asdict(r) for name, r in results.items()},
        }
        out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
