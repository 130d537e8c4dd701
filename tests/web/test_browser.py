"""The whole dashboard flow in a real browser: Playwright driving Debian's Chromium (never a
downloaded browser). Sign in, create a hub, add two vCard-folder connectors, preview, sync,
see the changes, resolve a conflict, approve a held run, undo. A screenshot of each page
goes to test-output/browser/ (or $CONTACTHUB_TEST_OUTPUT/browser/)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from contacthub.emulators.base import background
from contacthub.web import accounts, create_app
from tests.web.conftest import PASSWORD, card

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str:
    found = (
        os.environ.get("CONTACTHUB_CHROMIUM")
        or next((p for p in CHROMIUM_PATHS if Path(p).exists()), None)
        or shutil.which("chromium")
    )
    if found:
        return found
    message = "Debian's chromium is not installed (scripts/test.sh installs it: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    base = Path(os.environ.get("CONTACTHUB_TEST_OUTPUT") or PROJECT_ROOT / "test-output")
    folder = base / "browser" / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def page(engine: Engine) -> Iterator[tuple[Any, str, list[str]]]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    app = create_app(engine, secure_cookies=False)  # plain HTTP on 127.0.0.1, as 'contacthub serve' there
    dialogs: list[str] = []
    with background(app) as url, sync_playwright() as pw:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            context = browser.new_context(viewport={"width": 1000, "height": 800})
            tab = context.new_page()
            tab.set_default_timeout(20_000)
            tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            yield tab, url, dialogs
        finally:
            browser.close()


def test_whole_flow_in_a_browser(
    page: tuple[Any, str, list[str]], engine: Engine, folders: tuple[Path, Path], shots: Path
) -> None:
    from playwright.sync_api import expect

    tab, url, dialogs = page
    a, b = folders
    (a / "evil.vcf").write_text(card("evil", "<script>alert(1)</script> Mallory", "mallory@example.com"))
    accounts.add_user(engine, "admin@example.com", PASSWORD, admin=True)
    n = 0
    visited: list[str] = []

    def shot(name: str) -> None:
        nonlocal n
        n += 1
        tab.screenshot(path=str(shots / f"{n:02d}-{name}.png"), full_page=True)

    # sign in
    tab.goto(url + "/")
    assert tab.url.endswith("/login")
    shot("login")
    tab.fill("#email", "admin@example.com")
    tab.fill("#password", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_selector("text=Create a hub")
    shot("hubs-empty")

    # create a hub whose conflicts wait for a person
    tab.fill("#hub-name", "team")
    tab.select_option("#hub-conflict", "manual")
    tab.click("text=Create hub")
    tab.wait_for_selector("h1:has-text('Hub team')")
    hub_url = tab.url

    # add two vCard-folder connectors, testing the first one's connection
    for name, folder in (("phones", a), ("laptop", b)):
        tab.goto(hub_url)
        tab.click("#add-connector")
        tab.click("#type-vcard-dir")
        tab.fill("#name", name)
        tab.fill("#settings", f"path = {folder}")
        if name == "phones":
            shot("add-connector")
        tab.click("#save-connector")
        tab.wait_for_selector(f"h1:has-text('Connector {name}')")
        if name == "phones":
            tab.click("#test-connection")
            result = tab.wait_for_selector("#test-result")
            assert "11 record(s)" in result.inner_text()
            shot("connector-settings")
            visited.append(tab.url)
    tab.goto(hub_url)
    assert tab.locator("text=phones").count() and tab.locator("text=laptop").count()
    shot("hub-with-connectors")

    # preview: the plan, nothing written
    tab.click("#preview")
    tab.wait_for_selector("h1:has-text('Preview')")
    assert tab.locator("h2:text-is('laptop') + section td.op-create").count() == 11
    assert list(b.glob("*.vcf")) == []
    shot("preview")
    visited.append(tab.url)

    # sync, and see the changes
    tab.click("#sync-now")
    tab.wait_for_selector("#run-status:has-text('applied')")
    assert len(list(b.glob("*.vcf"))) == 11
    assert tab.locator("h2:text-is('laptop') + section", has_text="Person3 Family3").count() == 1
    shot("run-changes")

    # a conflict: the same field edited differently on both sides, settled by a person
    (a / "p2.vcf").write_text(card("p2", "Person2 Family2", "p2@example.com", "TITLE:Foreman\r\n"))
    [other] = [p for p in b.glob("*.vcf") if "Person2" in p.read_text()]
    other.write_text(other.read_text().replace("END:VCARD", "TITLE:Site manager\r\nEND:VCARD"))
    tab.goto(hub_url)
    tab.click("#sync-now")
    tab.wait_for_selector("#run-status")
    tab.goto(hub_url + "#conflicts")
    conflict = tab.locator("section.conflict")
    assert conflict.count() == 2  # one per side, the hub keeping its value
    assert all("job_title" in text for text in conflict.all_inner_texts())
    shot("conflict")
    conflict.locator(".side", has_text="laptop").locator("button").click()
    tab.wait_for_selector("text=Nothing to settle.")
    tab.click("#sync-now")
    tab.wait_for_selector("#run-status:has-text('applied')")
    assert "TITLE:Site manager" in (a / "p2.vcf").read_text()

    # a held run: half the people vanish from one folder
    for path in sorted(a.glob("p*.vcf"))[:6]:
        path.unlink()
    tab.goto(hub_url)
    tab.click("#sync-now")
    tab.wait_for_selector("#run-status:has-text('held')")
    assert len(list(b.glob("*.vcf"))) == 11
    shot("held-run")
    tab.click("#approve")
    tab.wait_for_selector("#run-status:has-text('applied')")
    assert len(list(b.glob("*.vcf"))) == 5
    shot("approved")

    # undo the approved run: the deleted people come back
    tab.click("#undo")
    tab.wait_for_selector("h1:has-text('(undo)')")
    assert tab.locator("#run-status").inner_text() == "applied"
    assert len(list(b.glob("*.vcf"))) == 11
    shot("undone")

    # history, chart, contacts; markup in a name stays text
    tab.goto(hub_url)
    assert tab.locator("svg.chart rect").count() > 0
    assert tab.locator("#runs tr").count() >= 7
    shot("hub-history")
    tab.click("text=Contacts")
    tab.fill("input[name=q]", "mallory")
    expect(tab.locator("#contacts tr")).to_have_count(2)  # the header and Mallory, live (htmx)
    shot("contact-search")
    tab.click("#contacts a")
    tab.wait_for_selector("#provenance")
    assert tab.inner_text("#contact-name") == "<script>alert(1)</script> Mallory"
    assert "phones" in tab.inner_text("#provenance")
    shot("contact")
    visited.append(tab.url)
    assert dialogs == []

    # narrow screens: no page is wider than a phone's window
    tab.set_viewport_size({"width": 380, "height": 800})
    for where, name in zip(
        (url + "/", hub_url, *visited), ("hubs", "hub", "connector", "preview", "contact"), strict=True
    ):
        tab.goto(where)
        assert tab.evaluate("document.documentElement.scrollWidth") <= 380, where
        shot("narrow-" + name)


def test_a_bad_regex_comes_back_on_the_connector_form(
    page: tuple[Any, str, list[str]], engine: Engine, folders: tuple[Path, Path], shots: Path
) -> None:
    """A refused save is the connector's form again, with the message beside it and what was
    typed still there (it was a separate message page; only Back brought the values back)."""
    from playwright.sync_api import expect

    from contacthub import service

    tab, url, dialogs = page
    accounts.add_user(engine, "admin@example.com", PASSWORD, admin=True)
    service.create_hub(engine, "team")
    connector_id = service.add_connector(
        engine, "team", {"name": "phones", "type": "vcard-dir"}, {"path": str(folders[0])}
    )
    tab.goto(url + "/login")
    tab.fill("#email", "admin@example.com")
    tab.fill("#password", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_selector("text=Create a hub")
    tab.goto(f"{url}/connectors/{connector_id}")
    row = tab.locator(".filter-row").last
    row.locator("input[name=f_field]").fill("email")
    row.locator("select[name=f_op]").select_option("matches")
    row.locator("input[name=f_value]").fill("([")
    tab.select_option("#direction", "to-hub")
    tab.fill("#settings", f"path = {folders[0]}\n# <script>alert(1)</script>")
    tab.click("#save")
    problem = tab.locator("#form-error")
    expect(problem).to_contain_text("Filter, row 1 (email matches): invalid regular expression '(['")
    shot = shots / "bad-regex.png"
    tab.screenshot(path=str(shot), full_page=True)
    assert tab.url == f"{url}/connectors/{connector_id}"
    kept = tab.locator(".filter-row").first
    assert kept.locator("input[name=f_field]").input_value() == "email"
    assert kept.locator("select[name=f_op]").input_value() == "matches"
    assert kept.locator("input[name=f_value]").input_value() == "(["
    assert tab.locator("#direction").input_value() == "to-hub"
    assert tab.locator("#settings").input_value() == f"path = {folders[0]}\n# <script>alert(1)</script>"
    assert dialogs == []  # the typed markup stayed text
    # corrected on the page shown again (its CSRF token works): saved
    kept.locator("input[name=f_value]").fill("@example")
    tab.click("#save")
    tab.wait_for_selector("#saved")
    [hub] = service.hubs(engine)
    [stored] = hub["connectors"]
    assert stored["direction"] == "to-hub"
    assert stored["filter"] == {"all": [{"field": "email", "op": "matches", "value": "@example"}]}


def test_the_message_pages_back_link_goes_back(page: tuple[Any, str, list[str]], engine: Engine) -> None:
    """Its ``javascript:history.back()`` was blocked by the page's Content-Security-Policy:
    clicking Back did nothing."""
    tab, url, _ = page
    accounts.add_user(engine, "admin@example.com", PASSWORD, admin=True)
    tab.goto(url + "/login")
    tab.fill("#email", "admin@example.com")
    tab.fill("#password", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_selector("text=Create a hub")
    tab.goto(url + "/hubs/999")
    assert tab.locator("#message").count() == 1
    tab.click("a:text-is('Back')")
    tab.wait_for_url(url + "/", timeout=5_000)
