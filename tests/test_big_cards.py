"""Cards over a connector's ``max_card_mb``: never read, an error of their record, and
never a deletion of the person they hold (QA: a 300 MB ``.vcf`` took 1 GB and 10 s on
every run, and a 300 MB card grew the database by 1.8 GB, then crashed the process)."""

from __future__ import annotations

from pathlib import Path

from tests.sheets import person_card, site


def test_a_linked_card_grown_past_the_limit_is_an_error_and_its_person_stays(tmp_path: Path) -> None:
    hub = site(tmp_path, cards_settings="max_card_mb = 0.01", people=3)  # 10485 bytes
    hub.sync()
    assert "p2@example.com" in hub.sheet.read_text(encoding="utf-8-sig")
    card = hub.folder / "p2.vcf"
    grown = person_card(2, NOTE="y" * 20000, TITLE="Grown").encode()
    card.write_bytes(grown)
    (hub.folder / "junk.vcf").write_bytes(b"\0" * 50000)
    for _run in range(2):  # the next run alike: nothing of it read, nothing deleted
        report = hub.sync()
        errors = {Path(e["record"]).name: e["message"] for e in report["errors"]}
        assert sorted(errors) == ["junk.vcf", "p2.vcf"]
        assert "over the limit of 10485 bytes" in errors["p2.vcf"]
        assert "50000 bytes" in errors["junk.vcf"]
        assert report["changes"] == {}
        sheet = hub.sheet.read_text(encoding="utf-8-sig")
        assert "p2@example.com" in sheet and "Grown" not in sheet
        assert card.read_bytes() == grown
    # back under the limit: read again, its edit arrives
    card.write_text(person_card(2, TITLE="Shrunk"))
    (hub.folder / "junk.vcf").unlink()
    report = hub.sync()
    assert report["errors"] == []
    assert "Shrunk" in hub.sheet.read_text(encoding="utf-8-sig")
