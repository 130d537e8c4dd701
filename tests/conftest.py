"""Shared fixtures: the test corpus, database URLs, and a private PostgreSQL server.

Database fixtures
-----------------
``database_url``
    Parametrized over ``sqlite`` and ``postgres``: a test that takes it runs once per
    backend. The SQLite URL is a fresh file under ``tmp_path``; the PostgreSQL URL names a
    fresh database (created for the test, dropped after). The ``postgres`` case carries the
    ``postgres`` marker, so ``-m "not postgres"`` runs SQLite only and starts no server.
``sqlite_url``
    A fresh SQLite file URL, for tests that need only SQLite.
``postgres_url``
    Session scope: the SQLAlchemy URL of the database ``contacthub_test`` on a throwaway
    server started for this test session (one per xdist worker) from the Debian packages'
    binaries under ``/usr/lib/postgresql/*/bin``. If ``CONTACTHUB_TEST_POSTGRES_URL`` is set,
    that URL is used instead and no server is started. Without binaries the tests that need
    it fail when ``CI`` is set, and are skipped otherwise.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url

from tests.net import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# no property test fails for taking long: a time is a benchmark's business, and an example
# that took over Hypothesis's 200 ms on a loaded machine failed the run as "flaky"
hypothesis_settings.register_profile("contacthub", deadline=None)
hypothesis_settings.load_profile("contacthub")

# the tests never touch the user's data directory (secret key, pending credentials)
os.environ.setdefault("CONTACTHUB_HOME", tempfile.mkdtemp(prefix="contacthub-home-"))
TEST_DATABASE = "contacthub_test"
POSTGRES_URL_ENV = "CONTACTHUB_TEST_POSTGRES_URL"
PG_USER = "postgres"


# --------------------------------------------------------------------------- corpus


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared test corpus (``../shared/corpus`` next to the project); skip if absent."""
    path = (PROJECT_ROOT.parent / "shared" / "corpus").resolve()
    if not path.is_dir():
        pytest.skip(f"test corpus not found at {path}")
    return path


# --------------------------------------------------------------------------- PostgreSQL


def _version_key(bindir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name)) or (0,)


def find_postgres_bindir() -> Path | None:
    """The ``bin`` directory of the highest PostgreSQL version installed, or ``None``."""
    candidates = [
        path.parent
        for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")
        if (path.parent / "pg_ctl").exists() and (path.parent / "postgres").exists()
    ]
    return max(candidates, key=_version_key) if candidates else None


def _missing_postgres(reason: str) -> None:
    """Fail under CI (the test script is meant to provide the server), skip elsewhere."""
    message = (
        f"PostgreSQL tests need a server: {reason}. Run scripts/test.sh (it installs the "
        f"Debian 'postgresql' package), or set {POSTGRES_URL_ENV} to a server's URL."
    )
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class _PostgresServer:
    bindir: Path
    root: Path
    run_as: str | None  # user the server runs as when we are root, else None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def sockdir(self) -> Path:
        return self.root / "sock"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited with {result.returncode}\n"
                f"{result.stdout}{result.stderr}{self.log_tail()}"
            )
        return result

    def log_tail(self) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\nserver log:\n" + "\n".join(lines[-30:])

    def initdb(self) -> None:
        self.run(
            "initdb",
            "-D", str(self.datadir),
            "-U", PG_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )  # fmt: skip
        # Only TCP on 127.0.0.1 (and the private socket directory) is trusted.
        (self.datadir / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")

    def start(self, port: int) -> None:
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {port}",
                f"-k {self.sockdir}",
                # Throwaway data: durability off for speed.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self.run(
            "pg_ctl", "start", "-w", "-t", "60",
            "-D", str(self.datadir),
            "-l", str(self.logfile),
            "-o", options,
        )  # fmt: skip

    def stop(self) -> None:
        self.run("pg_ctl", "stop", "-m", "immediate", "-D", str(self.datadir), check=False)

    def watchdog(self) -> subprocess.Popen[bytes]:
        """A detached process that stops the server and removes its files if this test
        process dies without running its teardown (SIGKILL, timeout, ...)."""
        stop = [str(self.bindir / "pg_ctl"), "stop", "-m", "immediate", "-D", str(self.datadir)]
        if self.run_as is not None:
            stop = ["runuser", "-u", self.run_as, "--", *stop]
        script = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
            f"{shlex.join(stop)}; rm -rf {shlex.quote(str(self.root))}"
        )
        return subprocess.Popen(
            ["sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


def _chown_for(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def _throwaway_server(bindir: Path) -> Iterator[str]:
    run_as: str | None = None
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the Debian package's system user.
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            _missing_postgres(f"running as root and there is no '{PG_USER}' system user")
        if shutil.which("runuser") is None:
            _missing_postgres("running as root and 'runuser' is not installed")
        run_as = PG_USER
    # Not under pytest's basetemp: /tmp/pytest-of-root is mode 0700, unreachable by postgres.
    root = Path(tempfile.mkdtemp(prefix="contacthub-pg-"))
    server = _PostgresServer(bindir, root, run_as)
    started = False
    watchdog = server.watchdog()
    try:
        server.sockdir.mkdir()
        if run_as is not None:
            _chown_for(root, run_as)
            _chown_for(server.sockdir, run_as)
        server.initdb()
        attempts = 5  # the free port may be taken between probe and bind
        for attempt in range(attempts):
            port = free_port()
            try:
                server.start(port)
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
            else:
                started = True
                break
        server.run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, TEST_DATABASE)
        yield f"postgresql+psycopg://{PG_USER}@127.0.0.1:{port}/{TEST_DATABASE}"
    finally:
        watchdog.kill()
        watchdog.wait()
        if started:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL database for this session (see the module docstring)."""
    external = os.environ.get(POSTGRES_URL_ENV)
    if external:
        yield external
        return
    bindir = find_postgres_bindir()
    if bindir is None:
        _missing_postgres("no initdb/pg_ctl under /usr/lib/postgresql/*/bin")
        return  # unreachable: _missing_postgres raises
    with _throwaway_server(bindir) as url:
        yield url


def _admin_connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """A psycopg autocommit connection to the database named in a SQLAlchemy URL."""
    parsed = make_url(url)
    params: dict[str, Any] = {"dbname": parsed.database or "postgres"}
    for key, value in (
        ("host", parsed.host),
        ("port", parsed.port),
        ("user", parsed.username),
        ("password", parsed.password),
    ):
        if value is not None:
            params[key] = value
    return psycopg.connect(autocommit=True, connect_timeout=30, **params)


@contextlib.contextmanager
def _fresh_postgres_database(server_url: str) -> Iterator[str]:
    name = f"contacthub_t_{uuid.uuid4().hex[:16]}"
    with _admin_connect(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin_connect(server_url) as conn:
            # FORCE (PostgreSQL >= 13): a test that left an engine open must not block the drop.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file URL."""
    return f"sqlite:///{tmp_path}/hub.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend: SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/hub.db"
        return
    server_url: str = request.getfixturevalue("postgres_url")
    with _fresh_postgres_database(server_url) as url:
        yield url
