"""The run page shows a page of the run's journal, with Next and Previous by change id: a
first sync's page held all 40,000 changes (8.5 MB, the server 150 MB bigger)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.web.conftest import Person, make_hub


def rows(page: str) -> list[str]:
    """The changes a run page lists, by the contact or record each row links or names."""
    return re.findall(r'<tr><td class="op-[a-z]+">', page)


def test_the_run_page_pages_its_journal(
    alice: Person, folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from contacthub.web import pages_runs

    monkeypatch.setattr(pages_runs, "PAGE", 6, raising=False)
    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders, name="t")
    run = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()["run"]
    ids = [ch["id"] for ch in c.get(f"/api/v1/runs/{run}", headers=auth).json()["journal"]]
    assert len(ids) == 20  # 10 hub creates, 10 copies

    first = c.get(f"/runs/{run}").text
    assert len(rows(first)) == 6 and "Changes 1–6 of 20" in first
    assert f'href="/runs/{run}?after={ids[5]}"' in first and 'id="previous-page"' not in first
    assert "<td>10</td>" in first  # the run's counts stay those of the whole run

    second = c.get(f"/runs/{run}?after={ids[5]}").text
    assert len(rows(second)) == 6 and "Changes 7–12 of 20" in second
    assert f'href="/runs/{run}?before={ids[6]}"' in second
    assert f'href="/runs/{run}?after={ids[11]}"' in second

    back = c.get(f"/runs/{run}?before={ids[6]}").text
    assert "Changes 1–6 of 20" in back and 'id="previous-page"' not in back
    assert rows(back) == rows(first)

    last = c.get(f"/runs/{run}?after={ids[17]}").text
    assert len(rows(last)) == 2 and "Changes 19–20 of 20" in last
    assert 'id="next-page"' not in last and f'href="/runs/{run}?before={ids[18]}"' in last


def test_a_pruned_runs_page_says_so_and_offers_no_undo(
    alice: Person, folders: tuple[Path, Path], engine: Engine
) -> None:
    """QA: a pruned run's page showed its counts and an "Undo this run" button, no changes
    and no word of the prune; the button then answered 400."""
    from contacthub import service

    c, auth = alice.client, alice.auth
    hub = make_hub(alice, folders, name="t")
    first = c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth).json()["run"]
    assert 'id="undo"' in c.get(f"/runs/{first}").text
    card = next(folders[0].glob("*.vcf"))
    card.write_text(card.read_text().replace("END:VCARD", "TITLE:X\r\nEND:VCARD"))
    c.post(f"/api/v1/hubs/{hub['id']}/runs", json={}, headers=auth)
    assert service.prune(engine, "t", before=first + 1)["runs"] == [first]
    page = c.get(f"/runs/{first}").text
    assert 'id="pruned"' in page and "its changes were pruned on" in page.lower()
    assert 'id="undo"' not in page
