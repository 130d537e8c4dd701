"""New contacts' ids sort in the order they were made (``engine.contact_ids``), so a run
that folds twins or picks between contacts equally alike by that order does the same on
the same input, however many contacts one millisecond made."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from contacthub.engine import contact_ids
from contacthub.engine.contact_ids import new_contact_id
from tests.engine.harness import Hub

FROZEN = 1_790_000_000_123_456_789  # a time in nanoseconds, for a clock that stands still


@pytest.fixture(autouse=True)
def _fresh_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """No id made yet (the process made some at the real time, later than ``FROZEN``);
    the last made is put back after the test, so later tests go on from the real time."""
    monkeypatch.setattr(contact_ids, "_last_millis", 0)
    monkeypatch.setattr(contact_ids, "_last_count", 0)


def test_ids_of_one_millisecond_increase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: FROZEN)
    ids = [new_contact_id() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for made in (ids[0], ids[-1]):
        parsed = uuid.UUID(made)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert str(parsed) == made
        assert parsed.int >> 80 == FROZEN // 1_000_000


def test_ids_increase_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: FROZEN)
    before = new_contact_id()
    monkeypatch.setattr(time, "time_ns", lambda: FROZEN - 5_000_000_000)
    assert new_contact_id() > before


def _people(tmp_path: Path, n: int) -> int:
    """People of a hub whose twins' folding turns on which of two contacts of one
    folder was made first: in a and b, Linda Paul Clark; in a also an email-only card of
    another Linda Clark with the same address, in b that Linda Clark's phone alone; in c
    her full card, read last, which makes her phone's contact share the address with
    both. Folded into the oldest of the three only: Linda Paul, when she was made first
    (she has a record in b, so no fold), the email-only one otherwise."""
    hub = Hub(f"sqlite:///{tmp_path}/hub{n}.db", ["a", "b", "c"], threshold="100%")
    email = [{"value": "lclark@mail.example", "type": "home"}]
    phone = [{"value": "+49 30 46909550", "type": "cell"}]
    name = {"display_name": "Linda Clark", "given_name": "Linda", "family_name": "Clark"}
    paul = {
        "display_name": "Linda Paul Clark",
        "given_name": "Linda",
        "middle_name": "Paul",
        "family_name": "Clark",
        "organization": "Tyrell Systems",
        "emails": email,
    }
    hub.book("a").put("paul", paul)
    hub.book("b").put("paul", {**paul, "job_title": "CTO"})
    hub.book("a").put("linda-email", {"display_name": "Linda Clark", "emails": email})
    hub.book("b").put("linda-phone", {**name, "organization": "Stark Industries", "phones": phone})
    hub.book("c").put("linda", {**name, "organization": "Stark Industries", "emails": email, "phones": phone})
    assert hub.sync().status == "applied"
    return len(hub.book("c").items)


def test_one_input_makes_the_same_people_every_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Contacts made in one millisecond took random bits for their order: the older of
    the two Lindas of folder a was either, and the phone's contact was folded into the
    email-only one in about half the runs (``bench/two_hubs.py`` created 5,200 contacts
    in one run and 5,201 in the next, from identical copies of one tree)."""
    monkeypatch.setattr(time, "time_ns", lambda: FROZEN)
    counts = [_people(tmp_path, n) for n in range(12)]
    assert len(set(counts)) == 1, counts
