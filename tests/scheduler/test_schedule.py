"""Schedules in the hub file, and which hubs are due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from contacthub import config
from contacthub.engine.run import run_hub
from contacthub.errors import ConfigError
from contacthub.scheduler.schedule import Schedule, due_hubs, parse_interval
from contacthub.store import tables as t
from contacthub.store.db import open_database
from contacthub.store.repo import loads
from tests.scheduler.fleet import make_hubs


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15m", 900),
        ("1h30m", 5400),
        ("90s", 90),
        ("2d", 172800),
        ("45", 45),
        ("1.5h", 5400),
        ("1h 30m", 5400),
    ],
)
def test_intervals(text: str, seconds: int) -> None:
    assert parse_interval(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15x", "m15", "0s", "0.5s", "15m garbage", "-5m"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_interval(text)


def test_off_means_manual_only() -> None:
    assert parse_interval("off") is None
    assert Schedule.of({"interval": "off"}).next_after(datetime.now(UTC)) is None


def test_default_is_fifteen_minutes_and_cron_fires_on_its_minutes() -> None:
    last = datetime(2026, 1, 1, 10, 7, tzinfo=UTC)
    assert Schedule.of({}).next_after(last) == last + timedelta(minutes=15)
    assert Schedule.of({}).due_after(last) == last + timedelta(minutes=15) - timedelta(seconds=1)
    assert Schedule.of({"cron": "*/10 * * * *"}).next_after(last) == datetime(2026, 1, 1, 10, 10, tzinfo=UTC)


def _hub_file(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "hub.toml"
    folder = tmp_path / "a"
    folder.mkdir(exist_ok=True)
    path.write_text(
        f'[hubs.team]\n{extra}\n[[hubs.team.connectors]]\nname = "a"\ntype = "vcard-dir"\npath = "{folder}"\n'
    )
    return path


def test_hub_file_schedule_is_validated_and_stored(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_database(sqlite_url)
    with pytest.raises(ConfigError, match="interval"):
        config.load(_hub_file(tmp_path, 'interval = "soon"'))
    with pytest.raises(ConfigError, match="cron"):
        config.load(_hub_file(tmp_path, 'cron = "every day"'))
    with pytest.raises(ConfigError, match="either interval or cron"):
        config.load(_hub_file(tmp_path, 'interval = "5m"\ncron = "* * * * *"'))
    config.apply(engine, config.load(_hub_file(tmp_path, 'cron = "*/5 * * * *"')))
    with engine.connect() as conn:
        settings = loads(conn.execute(t.hubs.select()).one().settings)
    assert settings == {"phone_region": "US", "cron": "*/5 * * * *"}
    lines = config.apply(engine, config.load(_hub_file(tmp_path, "")))
    assert any("settings" in line for line in lines)  # back to the default, reported
    with engine.connect() as conn:
        assert loads(conn.execute(t.hubs.select()).one().settings) == {"phone_region": "US"}


def test_due_hubs_follow_the_runs_table(database_url: str, tmp_path: Path) -> None:
    engine = open_database(database_url)
    make_hubs(engine, tmp_path, 3, 1, interval="10m")
    assert due_hubs(engine) == ["hub000", "hub001", "hub002"]  # never ran: due at once
    for hub in ("hub000", "hub001"):
        run_hub(engine, hub)
    run_hub(engine, "hub002")
    assert due_hubs(engine) == []
    later = datetime.now(UTC) + timedelta(minutes=11)
    assert due_hubs(engine, later) == ["hub000", "hub001", "hub002"]
    with engine.begin() as conn:  # hub001's last run was long ago
        conn.execute(
            update(t.runs)
            .where(t.runs.c.hub_id == select_hub_id(conn, "hub001"))
            .values(started_at=datetime.now(UTC) - timedelta(hours=1))
        )
    assert due_hubs(engine) == ["hub001"]


def test_an_interval_is_due_at_the_tick_a_moment_short_of_it_but_not_sooner_and_a_cron_never_early(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A run starts a moment after the tick that found its hub due; one interval later, at
    the next tick, the hub was that moment short of due and ran a tick late (QA:
    ``interval = "5s"`` on the 5 s tick ran every 10 s). It is due up to a second (a tenth
    of a short interval) sooner, whatever the tick: half of Celery beat's tick, which the
    worker does not know, let a 5 s hub run every 3 s on a 1 s tick (QA). A cron is due at
    its minutes, never sooner: its run would find its own minute due again."""
    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path / "i", 1, 1, interval="5s")
    make_hubs(engine, tmp_path / "c", 1, 1, prefix="cron")
    for hub in ("hub000", "cron000"):
        run_hub(engine, hub)
    with engine.begin() as conn:
        conn.execute(
            update(t.hubs).where(t.hubs.c.name == "cron000").values(settings='{"cron": "* * * * *"}')
        )
        started = datetime(2026, 1, 1, 10, 0, 0, 5000, tzinfo=UTC)  # 5 ms after the tick
        conn.execute(update(t.runs).values(started_at=started))
    assert due_hubs(engine, datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC)) == ["hub000"]  # the next 5 s tick
    assert due_hubs(engine, datetime(2026, 1, 1, 10, 0, 4, tzinfo=UTC)) == []  # a 1 s tick: not yet
    assert due_hubs(engine, datetime(2026, 1, 1, 10, 0, 59, 900000, tzinfo=UTC)) == ["hub000"]
    assert due_hubs(engine, datetime(2026, 1, 1, 10, 1, 0, tzinfo=UTC)) == ["cron000", "hub000"]
    # the dashboard shows the interval's own time: the sooner one, cut to the minute there,
    # showed a minute early (QA)
    from contacthub.scheduler.schedule import next_run

    hub_id = select_hub_id_of(engine, "hub000")
    assert next_run(engine, hub_id, datetime(2026, 1, 1, 10, 0, 1, tzinfo=UTC)) == started + timedelta(
        seconds=5
    )


def select_hub_id(conn: object, name: str) -> int:
    from sqlalchemy import select

    value: int = conn.execute(select(t.hubs.c.id).where(t.hubs.c.name == name)).scalar_one()  # type: ignore[attr-defined]
    return value


def test_next_run_for_the_dashboard(sqlite_url: str, tmp_path: Path) -> None:
    from contacthub.scheduler.schedule import next_run

    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path / "on", 1, 1, interval="10m")
    make_hubs(engine, tmp_path / "off", 1, 1, interval="off", prefix="manual")
    ids = {h: select_hub_id_of(engine, h) for h in ("hub000", "manual000")}
    now = datetime.now(UTC)
    assert next_run(engine, ids["hub000"], now) == now  # never ran: due now
    assert next_run(engine, ids["manual000"], now) is None
    report = run_hub(engine, "hub000")
    assert report.status == "applied"
    upcoming = next_run(engine, ids["hub000"])
    assert upcoming is not None
    assert timedelta(minutes=9) < upcoming - datetime.now(UTC) <= timedelta(minutes=10)
    assert next_run(engine, 999) is None


def select_hub_id_of(engine: object, name: str) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return select_hub_id(conn, name)


def test_a_cron_that_never_fires_is_refused_and_stops_no_other_hub(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``cron = "0 0 31 2 *"`` (31 February) passed croniter's syntax check; from its first
    run on, working out its next date raised at every tick, and the whole tick failed with
    it: every other hub's schedule stopped too, and the log named neither (QA)."""
    hub_file = tmp_path / "hubs.toml"
    hub_file.write_text('[hubs.feb]\ncron = "0 0 31 2 *"\n')
    with pytest.raises(ConfigError, match=r"'0 0 31 2 \*' never fires"):
        config.load(hub_file)
    assert config.HubSpec.model_validate({"cron": "0 0 29 2 *"}).cron == "0 0 29 2 *"  # leap years
    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 2, 1, interval="10m")
    for hub in ("hub000", "hub001"):
        run_hub(engine, hub)
    with engine.begin() as conn:  # one stored before the refusal: its schedule says so
        conn.execute(
            update(t.hubs).where(t.hubs.c.name == "hub000").values(settings='{"cron": "0 0 31 2 *"}')
        )
    later = datetime.now(UTC) + timedelta(minutes=11)
    with caplog.at_level("WARNING"):
        assert due_hubs(engine, later) == ["hub001"]
    assert "hub hub000 is not run on a schedule: cron '0 0 31 2 *' never fires" in caplog.text


def test_an_interval_past_the_bound_is_refused_and_a_stored_one_stops_no_other_hub(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``interval = "4000000d"`` was taken; once the hub had run, its next date lay past the
    year 9999 and ``due_hubs`` raised OverflowError at every tick: no hub ran on its schedule
    any more, and the dashboard's list of hubs (``next_run``) failed too. "99999999999d" ended
    ``apply`` in a traceback (QA)."""
    from contacthub.scheduler.schedule import next_run

    assert parse_interval("366d") == timedelta(days=366)
    for text in ("367d", "4000000d", "99999999999d", "9" * 400):
        with pytest.raises(ConfigError, match=r"longer than 366 days"):
            parse_interval(text)
    with pytest.raises(ConfigError, match=r"'4000000d' is longer than 366 days.*at hubs\.team\.interval"):
        config.load(_hub_file(tmp_path, 'interval = "4000000d"'))
    with pytest.raises(ConfigError, match=r"at hubs\.team\.interval"):
        config.load(_hub_file(tmp_path, 'interval = "99999999999d"'))

    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 3, 1, interval="10m")
    for hub in ("hub000", "hub001", "hub002"):
        run_hub(engine, hub)
    with engine.begin() as conn:  # stored before the bound, and one that overflows anyway
        conn.execute(
            update(t.hubs).where(t.hubs.c.name == "hub000").values(settings='{"interval": "4000000d"}')
        )
        conn.execute(update(t.hubs).where(t.hubs.c.name == "hub002").values(settings='{"interval": "366d"}'))
        conn.execute(
            update(t.runs)
            .where(t.runs.c.hub_id == select_hub_id(conn, "hub002"))
            .values(started_at=datetime(9999, 6, 1, tzinfo=UTC))
        )
    later = datetime.now(UTC) + timedelta(minutes=11)
    with caplog.at_level("WARNING"):
        assert due_hubs(engine, later) == ["hub001"]
        assert due_hubs(engine, later) == ["hub001"]
        assert next_run(engine, select_hub_id_of(engine, "hub000")) is None
        assert next_run(engine, select_hub_id_of(engine, "hub002")) is None
        upcoming = next_run(engine, select_hub_id_of(engine, "hub001"))
    assert upcoming is not None and upcoming - datetime.now(UTC) <= timedelta(minutes=10)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert (
        warned.count(
            "hub hub000 is not run on a schedule: interval '4000000d' is longer than 366 days "
            "(use 'off' for manual runs only)"
        )
        == 1
    )  # once, not at every tick
    assert sum(m.startswith("hub hub002 is not run on a schedule: every 366 days") for m in warned) == 1


@pytest.mark.parametrize("expression", ["* * * * * *", "0 */5 * * * *", "0 0 12 * * ? 2030", "* * * *"])
def test_a_cron_of_other_than_five_fields_is_refused_and_a_stored_one_never_runs(
    expression: str, sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """croniter reads a sixth field as seconds: ``cron = "* * * * * *"`` was taken and ran
    its hub back to back, at every tick; a Quartz-style ``"0 */5 * * * *"`` meant every
    second of minute 0 of hours 0, 5, 10... (QA). The README says five fields."""
    fields = len(expression.split())
    with pytest.raises(
        ConfigError,
        match=rf"has {fields} fields: five are expected \(minute hour day month weekday.*at hubs\.team\.cron",
    ):
        config.load(_hub_file(tmp_path, f'cron = "{expression}"'))
    engine = open_database(sqlite_url)
    make_hubs(engine, tmp_path, 2, 1, interval="10m")
    for hub in ("hub000", "hub001"):
        run_hub(engine, hub)
    with engine.begin() as conn:  # one stored before the refusal: not run every second
        conn.execute(
            update(t.hubs).where(t.hubs.c.name == "hub000").values(settings=f'{{"cron": "{expression}"}}')
        )
    later = datetime.now(UTC) + timedelta(minutes=11)
    with caplog.at_level("WARNING"):
        assert due_hubs(engine, later) == ["hub001"]
    assert (
        f"hub hub000 is not run on a schedule: cron expression {expression!r} has {fields} fields"
        in caplog.text
    )


@pytest.mark.parametrize("macro", ["@hourly", "@daily", "@weekly", "@monthly", "@yearly"])
def test_cron_macros_stay_accepted(macro: str) -> None:
    assert config.HubSpec.model_validate({"cron": macro}).cron == macro
    assert Schedule.of({"cron": macro}).next_after(datetime(2026, 1, 1, 10, 7, tzinfo=UTC)) is not None
