"""Tests of the test infrastructure itself: the database fixtures of conftest.py."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL_ENV


def _scalar(url: str, sql: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_database_url_select_1(database_url: str) -> None:
    assert _scalar(database_url, "select 1") == 1


def test_database_url_is_empty_and_writable(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(sa.text("create table t (x integer)"))
            conn.execute(sa.text("insert into t values (42)"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("select x from t")).scalar_one() == 42
    finally:
        engine.dispose()


def test_database_url_backends(database_url: str, request: pytest.FixtureRequest) -> None:
    backend = make_url(database_url).get_backend_name()
    assert backend == request.node.callspec.params["database_url"].replace("postgres", "postgresql")


def test_sqlite_url(sqlite_url: str, tmp_path: Path) -> None:
    assert sqlite_url.startswith("sqlite:///")
    assert _scalar(sqlite_url, "select 1") == 1
    assert Path(make_url(sqlite_url).database or "").parent == tmp_path


@pytest.mark.postgres
def test_postgres_select_1(postgres_url: str) -> None:
    assert make_url(postgres_url).drivername == "postgresql+psycopg"
    assert _scalar(postgres_url, "select 1") == 1


@pytest.mark.postgres
def test_postgres_version_at_least_13(postgres_url: str) -> None:
    version = _scalar(postgres_url, "select current_setting('server_version_num')::int")
    assert isinstance(version, int)
    assert version >= 130000, version


skip_external = pytest.mark.skipif(
    bool(os.environ.get(POSTGRES_URL_ENV)), reason=f"{POSTGRES_URL_ENV} names an external server"
)


@pytest.mark.postgres
@skip_external
def test_postgres_listens_on_loopback_only(postgres_url: str) -> None:
    url = make_url(postgres_url)
    assert url.host == "127.0.0.1"
    assert _scalar(postgres_url, "select current_setting('listen_addresses')") == "127.0.0.1"
    assert _scalar(postgres_url, "select current_setting('port')::int") == url.port
    assert _scalar(postgres_url, "select host(inet_server_addr())") == "127.0.0.1"


def _non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine other than loopback, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        except OSError:
            return None
        address: str = sock.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@pytest.mark.postgres
@skip_external
def test_postgres_not_reachable_on_other_addresses(postgres_url: str) -> None:
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with (
        pytest.raises(OSError),
        socket.create_connection((address, make_url(postgres_url).port or 5432), timeout=5),
    ):
        pass


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgres_databases_are_fresh_per_test(postgres_url: str, database_url: str) -> None:
    name = make_url(database_url).database or ""
    assert name.startswith("contacthub_t_")
    assert name != make_url(postgres_url).database
    assert _scalar(database_url, "select current_database()") == name
